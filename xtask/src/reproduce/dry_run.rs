//! `reproduce --dry-run`: the plan, step by step, cached or to run, with the
//! throughput model's estimate of each step and of the whole study.

use std::fmt::Write as _;
use std::path::Path;

use nml_study::estimate::{duration, estimate, DeviceKind, Estimate, Machine, Rates};
use nml_study::{Plan, Stage};

use super::{exec, slurm};
use nml_study::DeviceSpec;

/// The machine the estimate is for: `device`'s rates (`auto`: CUDA where GPUs
/// are visible), `jobs` steps at once (per GPU on CUDA), `threads` each.
pub(super) fn machine(
    device: DeviceSpec,
    jobs: usize,
    gpus: usize,
    threads: usize,
    visible: usize,
) -> Machine {
    Machine {
        device: match device {
            DeviceSpec::Cuda(_) => DeviceKind::Cuda,
            DeviceSpec::Auto if visible > 0 => DeviceKind::Cuda,
            DeviceSpec::Auto | DeviceSpec::Cpu => DeviceKind::Cpu,
        },
        jobs,
        gpus: gpus.max(1),
        threads,
    }
}

#[allow(clippy::print_stdout)] // the plan is --dry-run's output
pub(super) fn print_plan(plan: &Plan, out: &Path, slurm: Option<&slurm::Slurm>, machine: Machine) {
    let finished: Vec<bool> = plan
        .steps
        .iter()
        .map(|s| exec::finished(out, s).is_some())
        .collect();
    let rates = Rates::measured();
    let est = estimate(plan, &rates, machine, &finished);
    let mut text = String::new();
    for &stage in Stage::ALL {
        let _ = writeln!(text, "{stage}:");
        for (i, step) in plan
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.stage == stage)
        {
            let status = if finished[i] { "cached" } else { "to run" };
            let (name, program, args) = (&step.name, step.program, step.args.join(" "));
            // Under Slurm, what each job asks for.
            let needs = slurm.map_or_else(String::new, |s| {
                format!(" [{}]", slurm::resources(s, step).join(" "))
            });
            let time = duration(est.steps[i]);
            let _ = writeln!(
                text,
                "  {name:<40} {status:<7} ~{time:<10}{needs} {program} {args}"
            );
        }
    }
    let cached = finished.iter().filter(|f| **f).count();
    let _ = writeln!(
        text,
        "{} steps: {cached} cached, {} to run",
        plan.steps.len(),
        plan.steps.len() - cached
    );
    text.push_str(&estimate_text(&est, machine));
    print!("{text}");
}

/// The estimate's summary: seconds per stage and the wall-clock total.
fn estimate_text(est: &Estimate, machine: Machine) -> String {
    let mut text = format!(
        "estimate on {} ({} job{} {}, {} thread{} per step; rates of docs/throughput.toml):\n",
        match machine.device {
            DeviceKind::Cpu => "this CPU".to_owned(),
            DeviceKind::Cuda => format!(
                "{} GPU{} (H200 rates)",
                machine.gpus,
                if machine.gpus == 1 { "" } else { "s" }
            ),
        },
        machine.jobs,
        if machine.jobs == 1 { "" } else { "s" },
        match machine.device {
            DeviceKind::Cpu => "at once",
            DeviceKind::Cuda => "per GPU",
        },
        machine.threads,
        if machine.threads == 1 { "" } else { "s" },
    );
    for (stage, seconds) in &est.stages {
        let _ = writeln!(text, "  {stage:<9} {} of step time", duration(*seconds));
    }
    let _ = writeln!(text, "  total     {} wall-clock", duration(est.wall));
    if !est.unmeasured.is_empty() {
        let _ = writeln!(
            text,
            "  rough where nothing was measured: {}",
            est.unmeasured.join("; ")
        );
    }
    text
}
