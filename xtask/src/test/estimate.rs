//! The throughput model against the smoke study `cargo xtask test` has just run.

use std::fs;

use super::smoke_plan;
use crate::Result;

/// The throughput model's CPU estimate of the smoke study (docs/throughput.toml)
/// against its run: the estimated step time, summed, must be within a factor
/// of 2 of the CPU time the run's processes used (`cpu`; each step computes on
/// one thread, and CPU time, unlike wall-clock time, does not grow when other
/// work shares the machine, as the Slurm check's does here). The wall-clock
/// estimate is printed beside the measured `wall` time.
pub(super) fn estimate_check(wall: f64, cpu: Option<f64>) -> Result<()> {
    use nml_study::estimate::{duration, estimate, DeviceKind, Machine, Rates};
    let plan = smoke_plan()?;
    let machine = Machine {
        device: DeviceKind::Cpu,
        jobs: 2,
        gpus: 0,
        threads: crate::reproduce::threads_per_step(2),
    };
    let est = estimate(
        &plan,
        &Rates::measured(),
        machine,
        &vec![false; plan.steps.len()],
    );
    let steps: f64 = est.steps.iter().sum();
    let Some(cpu) = cpu else {
        eprintln!("xtask test: no /proc/self/stat: the smoke study's estimate is not checked");
        return Ok(());
    };
    let ratio = steps / cpu;
    eprintln!(
        "xtask test: the smoke study took {} ({} of CPU), estimated {} ({} of step time: {ratio:.2}x)",
        duration(wall),
        duration(cpu),
        duration(est.wall),
        duration(steps)
    );
    if !(0.5..=2.0).contains(&ratio) {
        return Err(format!(
            "the smoke study's estimated step time ({}) is not within a factor of 2 of the CPU time \
             it used ({}): measure the rates of docs/throughput.toml again",
            duration(steps),
            duration(cpu)
        )
        .into());
    }
    Ok(())
}

/// CPU seconds (user and system) of this process's children waited for so
/// far, and of theirs: `/proc/self/stat`'s cutime and cstime, in Linux's fixed
/// 100 ticks per second. None where there is no such file.
pub(super) fn children_cpu_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command's closing parenthesis, from the third (state).
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(13)? + ticks(14)?) / 100.0)
}
