//! The study as a list of steps: what each runs, what it reads and writes.
//!
//! Paths are relative to the output folder (steps run there), so a step's key
//! does not depend on where the folder lives.
//!
//! - [`noisy`]: the noisy pre-training study, one function per stage;
//! - [`real`]: published noisy models as black boxes.

mod noisy;
mod real;
mod spectra;

use std::fmt::Write as _;

use nml_spec::{
    DataArgs, DeviceSpec, FeaturesArgs, NoiseArgs, Precision, PretrainArgs, ReportArgs, Spec,
    SpectralArgs, TuneArgs,
};

pub use noisy::build;

/// Where and in what the torch steps (pre-training, extraction, tuning) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub device: DeviceSpec,
    /// Pre-training and image extraction; `auto` is made concrete by
    /// [`Precision::for_device`] before it reaches a step, wherever the
    /// device says what it means. Heads train in float32.
    pub precision: Precision,
    /// CPU threads of every step that computes (libtorch's, and the spectral
    /// SVD's), in its arguments and so in its key: the executor's CPUs per
    /// step, not how many steps run beside it. None: each step's default.
    pub threads: Option<i32>,
    /// Where heads train (`nml-tune`): `device` unless set apart, e.g. the
    /// CPU cores of a GPU machine, where small heads are faster than on the
    /// GPU (docs/PERFORMANCE.md) and leave it to pre-training.
    pub heads: DeviceSpec,
}

impl Placement {
    /// `device` with `precision` as [`Precision::for_device`] makes it concrete.
    pub fn new(device: DeviceSpec, precision: Precision) -> Placement {
        Placement {
            device,
            precision: precision.for_device(device),
            threads: None,
            heads: device,
        }
    }

    /// The same with heads trained on `heads`.
    pub fn with_heads(self, heads: DeviceSpec) -> Placement {
        Placement { heads, ..self }
    }

    /// The same with `threads` CPU threads per step.
    pub fn with_threads(self, threads: usize) -> Placement {
        Placement {
            threads: Some(i32::try_from(threads).unwrap_or(i32::MAX)),
            ..self
        }
    }
}

/// Float32 on `device` (the precision of every study before `--precision`).
impl From<DeviceSpec> for Placement {
    fn from(device: DeviceSpec) -> Placement {
        Placement {
            device,
            precision: Precision::Fp32,
            threads: None,
            heads: device,
        }
    }
}
pub use real::build_real;

use crate::estimate::Work;
use crate::record::TableEntry;
use crate::types::{Program, Stage};

/// One unit of work: a process, its outputs, and the steps it reads from.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub stage: Stage,
    pub program: Program,
    pub args: Vec<String>,
    pub outputs: Vec<String>,
    pub deps: Vec<usize>,
    /// The torch device the step computes on (none: a step without libtorch
    /// work); an executor places the CUDA ones on its GPUs.
    pub device: Option<DeviceSpec>,
    /// Files a run of this step leaves for its own restart (a resume checkpoint):
    /// removed when the step starts under another key than it last started with.
    pub scratch: Vec<String>,
    /// Hash of program, arguments and the dependencies' keys.
    pub key: String,
    /// What it computes, for the study's estimate (not part of the key).
    pub work: Work,
}

/// What a step runs: a stage's binary with its typed arguments (boxed: the
/// specs differ in size by hundreds of bytes).
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    Data(Box<DataArgs>),
    Noise(Box<NoiseArgs>),
    Pretrain(Box<PretrainArgs>),
    Features(Box<FeaturesArgs>),
    Spectral(Box<SpectralArgs>),
    Tune(Box<TuneArgs>),
    Report(Box<ReportArgs>),
}

impl Invocation {
    /// The binary that runs it.
    pub fn program(&self) -> Program {
        match self {
            Invocation::Data(_) => Program::NmlData,
            Invocation::Noise(_) => Program::NmlNoise,
            Invocation::Pretrain(_) => Program::NmlPretrain,
            Invocation::Features(_) => Program::NmlFeatures,
            Invocation::Spectral(_) => Program::NmlSpectral,
            Invocation::Tune(_) => Program::NmlTune,
            Invocation::Report(_) => Program::NmlReport,
        }
    }

    /// The torch device it computes on, for the steps that run libtorch.
    pub fn device(&self) -> Option<DeviceSpec> {
        match self {
            Invocation::Pretrain(a) => Some(a.device),
            Invocation::Tune(a) => Some(a.device),
            Invocation::Features(a) => match &a.command {
                nml_spec::features::FeaturesCommand::Extract(e) => Some(e.device),
                nml_spec::features::FeaturesCommand::Text(t) => Some(t.device),
                nml_spec::features::FeaturesCommand::Import(_) => None,
            },
            Invocation::Data(_)
            | Invocation::Noise(_)
            | Invocation::Spectral(_)
            | Invocation::Report(_) => None,
        }
    }

    /// Sets the CPU threads of a step that computes, where it has none yet.
    fn with_threads(mut self, threads: Option<i32>) -> Invocation {
        match &mut self {
            Invocation::Pretrain(a) => a.threads = a.threads.or(threads),
            Invocation::Tune(a) => a.threads = a.threads.or(threads),
            Invocation::Spectral(a) => a.threads = a.threads.or(threads),
            Invocation::Features(a) => match &mut a.command {
                nml_spec::features::FeaturesCommand::Extract(e) => {
                    e.threads = e.threads.or(threads)
                }
                nml_spec::features::FeaturesCommand::Text(t) => t.threads = t.threads.or(threads),
                nml_spec::features::FeaturesCommand::Import(_) => {}
            },
            Invocation::Data(_) | Invocation::Noise(_) | Invocation::Report(_) => {}
        }
        self
    }

    /// Its command line (no program name), as [`Spec::to_args`] renders it.
    pub fn to_args(&self) -> Vec<String> {
        match self {
            Invocation::Data(a) => a.to_args(),
            Invocation::Noise(a) => a.to_args(),
            Invocation::Pretrain(a) => a.to_args(),
            Invocation::Features(a) => a.to_args(),
            Invocation::Spectral(a) => a.to_args(),
            Invocation::Tune(a) => a.to_args(),
            Invocation::Report(a) => a.to_args(),
        }
    }
}

/// The whole study.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// The results index of `run.json`.
    pub tables: Vec<TableEntry>,
    pub seeds: Vec<u64>,
    /// Every computing step's CPU threads ([`Placement::threads`]).
    pub threads: Option<i32>,
}

impl Plan {
    fn new(seeds: Vec<u64>, threads: Option<i32>) -> Plan {
        Plan {
            steps: Vec::new(),
            tables: Vec::new(),
            seeds,
            threads,
        }
    }

    /// Adds a step keyed by its program, arguments and its dependencies' keys; returns its index.
    fn add(
        &mut self,
        name: String,
        stage: Stage,
        invocation: Invocation,
        outputs: Vec<String>,
        deps: Vec<usize>,
        work: Work,
    ) -> usize {
        let invocation = invocation.with_threads(self.threads);
        let (program, args, device) = (
            invocation.program(),
            invocation.to_args(),
            invocation.device(),
        );
        let mut text = format!("{program}\u{1f}{}", args.join("\u{1f}"));
        for &d in &deps {
            let _ = write!(text, "\u{1e}{}", self.steps[d].key);
        }
        let key = format!("{:016x}", fnv1a(text.as_bytes()));
        self.steps.push(Step {
            name,
            stage,
            program,
            args,
            outputs,
            deps,
            device,
            scratch: Vec::new(),
            key,
            work,
        });
        self.steps.len() - 1
    }

    /// A tuning step: `args` (training table, method, evals, weights) with the
    /// seeds, device and output folder of `tune`; its results table is indexed as `entry`.
    fn add_tune(&mut self, name: String, mut args: TuneArgs, tune: &Tune, mut entry: TableEntry) {
        args.seeds = tune.seeds.to_owned();
        args.device = tune.device;
        args.out = Some(tune.run.into());
        args.verbosity = nml_spec::Verbosity::QUIET;
        let seeds = tune.seeds.split(',').count();
        let work = Work::head(
            args.method.expect("a study's tune step names its method"),
            tune.dim,
            tune.rows,
            args.epochs,
            seeds,
            args.two_view,
        );
        let results = format!("{}/results.parquet", tune.run);
        self.add(
            name,
            Stage::Tune,
            Invocation::Tune(Box::new(args)),
            vec![results.clone()],
            tune.deps.clone(),
            work,
        );
        entry.path = results;
        self.tables.push(entry);
    }

    /// Adds the report step, which reads every other step's outputs through `run.json`.
    pub fn add_report(&mut self) {
        let deps: Vec<usize> = (0..self.steps.len()).collect();
        self.add(
            "report".to_owned(),
            Stage::Report,
            Invocation::Report(Box::new(ReportArgs {
                verbosity: nml_spec::Verbosity::QUIET,
                ..ReportArgs::here()
            })),
            vec!["REPORT.md".to_owned(), "results/claims.parquet".to_owned()],
            deps,
            Work::Fixed,
        );
    }
}

/// Where a tuning step runs: its seeds, device, output folder and the step it reads.
struct Tune<'a> {
    seeds: &'a str,
    device: DeviceSpec,
    run: &'a str,
    deps: Vec<usize>,
    /// The rows heads train on and their feature width (the estimate's work).
    rows: u64,
    dim: u32,
}

/// FNV-1a, 64 bit: a stable hash for step keys without a dependency.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod keys {
    use super::*;

    #[test]
    fn step_keys_depend_on_every_part() {
        assert_ne!(fnv1a(b"a\x1fbc"), fnv1a(b"ab\x1fc"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
