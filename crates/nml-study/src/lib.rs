//! The study as data: what `cargo xtask reproduce` runs and what
//! `nml-report` reads back, shared by both so neither restates the other.
//!
//! - [`types`]: the closed sets of the study (stages, settings, noise,
//!   methods, head variants, benchmarks, profiles) as enums;
//! - [`catalogue`]: the benchmarks (synthetic, CIFAR-10 + PACS, published
//!   real models) and what each runs on;
//! - [`estimate`]: how long a plan takes on a device, from measured rates;
//! - [`plan`]: the study as steps (one process each) with content keys;
//! - [`record`]: `reproduce.json` and `run.json`, one serde type each,
//!   written by xtask and read by the report.
//!
//! This crate links no libtorch and depends on serde alone, because xtask
//! builds it before anything else on a fresh clone.

pub mod catalogue;
pub mod estimate;
pub mod plan;
pub mod record;
pub mod types;

pub use catalogue::{NoisyBenchmark, Study, Task};
/// The `--device` of `cargo xtask reproduce`, passed to every stage.
pub use nml_spec::{provenance, DeviceSpec, Precision};
pub use plan::{Placement, Plan, Step};
pub use record::{Identity, RunRecord, Shape, StepEntry, TableEntry};
pub use types::{
    Benchmark, Method, Noise, Profile, Program, Repeat, Setting, Sizes, Split, Stage, TableKind,
    Variant,
};

/// Why a study cannot be planned or its records read.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A request that names no study nml can run (flag, folder, name).
    #[error("{0}")]
    Invalid(String),
    /// A record file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A record file is not the JSON its type expects.
    #[error("{path}: {source}")]
    Json {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = StudyError> = std::result::Result<T, E>;
