//! How long a study will take: each step's [`Work`] (set by the plan builder,
//! which knows the benchmark's sizes) over the measured rate of its kind of
//! work on the chosen device ([`Rates`], the table `docs/throughput.toml`),
//! plus a process start-up, scheduled as the executor runs them (`jobs` at a
//! time, CUDA steps `jobs` per GPU, each after its dependencies).
//!
//! `cargo xtask reproduce --dry-run` prints it; `cargo xtask test` holds the
//! CPU estimate of the smoke study to within a factor of 2 of its measured time.

mod rates;

use std::collections::BTreeMap;

use nml_spec::{Arch, DeviceSpec, Objective, Protocol};

use crate::plan::Plan;
use crate::types::Stage;

pub use rates::{DeviceKind, Rate, Rates, WorkKind};

/// What one step computes, in the units its rate is measured in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Work {
    /// A start-up and little else (the report).
    Fixed,
    /// Images rendered or imported and written (`nml-data`).
    Data { images: u64 },
    /// Manifest rows relabelled (`nml-noise`).
    Corrupt { rows: u64 },
    /// Training images × epochs at `px` pixels.
    Pretrain {
        arch: Arch,
        objective: Objective,
        px: u32,
        images: u64,
    },
    /// Images through a frozen backbone at `px` pixels, cached views included.
    Extract { arch: Arch, px: u32, images: u64 },
    /// Texts through a sentence encoder: its cost follows their characters
    /// (tokens), not their count (RTE's pairs are 8 times CoLA's sentences).
    Text { chars: u64 },
    /// Head training on `dim`-wide features: training rows × epochs × head
    /// seeds, twice for two-view heads (k-NN: rows × seeds).
    Head {
        protocol: Protocol,
        dim: u32,
        samples: u64,
    },
    /// Feature rows whose spectrum is taken, `dim` wide.
    Spectral { dim: u32, rows: u64 },
}

impl Work {
    /// Its kind, the key of its rate.
    pub fn kind(&self) -> WorkKind {
        match self {
            Work::Fixed => WorkKind::Fixed,
            Work::Data { .. } => WorkKind::Data,
            Work::Corrupt { .. } => WorkKind::Corrupt,
            Work::Pretrain { .. } => WorkKind::Pretrain,
            Work::Extract { .. } => WorkKind::Extract,
            Work::Text { .. } => WorkKind::Text,
            Work::Head { .. } => WorkKind::Head,
            Work::Spectral { .. } => WorkKind::Spectral,
        }
    }

    /// Head work for `rows` training rows of `dim`-wide features.
    pub fn head(
        protocol: Protocol,
        dim: u32,
        rows: u64,
        epochs: usize,
        seeds: usize,
        two_view: bool,
    ) -> Work {
        let epochs = match protocol {
            Protocol::Knn => 1,
            Protocol::Lp | Protocol::Mlp | Protocol::Nmtune | Protocol::Auto => epochs.max(1),
        };
        let views = if two_view { 2 } else { 1 };
        Work::Head {
            protocol,
            dim,
            samples: rows * epochs as u64 * seeds.max(1) as u64 * views,
        }
    }
}

/// Where the estimated study runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Machine {
    /// Whose rates apply to the torch steps on `auto` (steps on `cpu` or
    /// `cuda` take their own device's).
    pub device: DeviceKind,
    /// Steps at once: in all on the CPU, and per GPU on CUDA.
    pub jobs: usize,
    /// GPUs (CUDA only).
    pub gpus: usize,
    /// CPU threads per step.
    pub threads: usize,
}

/// The estimate of a plan on a machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Each step's seconds (start-up included), in plan order.
    pub steps: Vec<f64>,
    /// Step seconds summed per stage.
    pub stages: BTreeMap<Stage, f64>,
    /// Wall-clock seconds of the whole schedule.
    pub wall: f64,
    /// Work kinds that had no measured rate for their device and fell back
    /// (see [`Rates::seconds`]); the estimate is rougher where this is not empty.
    pub unmeasured: Vec<String>,
}

/// `plan` on `machine` at `rates`; `skip[i]` marks steps already done (zero seconds).
pub fn estimate(plan: &Plan, rates: &Rates, machine: Machine, skip: &[bool]) -> Estimate {
    let mut unmeasured = Vec::new();
    let mut stages = BTreeMap::new();
    let steps: Vec<f64> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            if skip.get(i).copied().unwrap_or(false) {
                return 0.0;
            }
            let device = device_of(step, machine);
            let (seconds, fallback) = rates.seconds(&step.work, device, machine);
            if let Some(f) = fallback {
                if !unmeasured.contains(&f) {
                    unmeasured.push(f);
                }
            }
            *stages.entry(step.stage).or_insert(0.0) += seconds;
            seconds
        })
        .collect();
    let wall = schedule(plan, &steps, machine);
    Estimate {
        steps,
        stages,
        wall,
        unmeasured,
    }
}

/// Whose rates a step runs at: its own device, `auto` being the machine's.
fn device_of(step: &crate::plan::Step, machine: Machine) -> DeviceKind {
    match step.device {
        Some(DeviceSpec::Cuda(_)) => DeviceKind::Cuda,
        Some(DeviceSpec::Auto) => machine.device,
        Some(DeviceSpec::Cpu) | None => DeviceKind::Cpu,
    }
}

/// The wall-clock time of running `plan` with these step seconds as the local
/// executor does: ready steps start in plan order while a slot is free.
fn schedule(plan: &Plan, seconds: &[f64], machine: Machine) -> f64 {
    let n = plan.steps.len();
    let on_gpu: Vec<bool> = plan
        .steps
        .iter()
        .map(|s| device_of(s, machine) == DeviceKind::Cuda)
        .collect();
    let gpu_slots = machine.jobs.max(1) * machine.gpus.max(1);
    let cpu_slots = machine.jobs.max(1);
    let mut end = vec![f64::INFINITY; n];
    // Running steps: (end time, on GPU); steps not started yet, in plan order.
    let mut running: Vec<(f64, bool)> = Vec::new();
    let mut pending: Vec<usize> = (0..n).collect();
    let mut now = 0.0_f64;
    while !pending.is_empty() || !running.is_empty() {
        pending.retain(|&i| {
            let ready = plan.steps[i].deps.iter().all(|&d| end[d] <= now);
            let busy = running.iter().filter(|r| r.1 == on_gpu[i]).count();
            let slots = if on_gpu[i] { gpu_slots } else { cpu_slots };
            if !ready || busy >= slots {
                return true;
            }
            end[i] = now + seconds[i];
            running.push((end[i], on_gpu[i]));
            false
        });
        // Advance to the next finish.
        let Some(next) = running.iter().map(|r| r.0).reduce(f64::min) else {
            assert!(pending.is_empty(), "a step depends on one that never runs");
            break;
        };
        now = next;
        running.retain(|r| r.0 > now);
    }
    now
}

/// `seconds` as `1 h 02 min`, `12 min 05 s` or `42 s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

#[cfg(test)]
mod tests;
