//! The study's report: reads what the stages wrote (indexed by `run.json`,
//! written by `cargo xtask reproduce`), and writes `REPORT.md`, figures in
//! `figures/` (SVG and PNG) and every number in `results/*.parquet`.
//!
//! - [`run`]: the run index (`run.json`);
//! - [`collect`]: the stages' outputs as flat records;
//! - [`stats`]: means and standard deviations over seeds and conditions;
//! - [`dist`]: Student's t and the normal distribution;
//! - [`inference`]: the one-sided tests (Welch, paired, Pearson, slope) and their power;
//! - [`claims`]: the rulebook, the paper's claims each decided by a stated rule;
//! - [`figures`]: the analogues of the paper's Figures 1, 3 and 5;
//! - [`markdown`]: the report's files (REPORT.md and the summary tables);
//! - [`sections`]: the report text, a list of sections, one function each.
//!
//! This crate does not link libtorch.

pub mod claims;
pub mod collect;
pub mod dist;
pub mod figures;
mod frames;
pub mod inference;
pub mod markdown;
pub mod run;
pub mod sections;
pub mod stats;

use std::path::PathBuf;

/// Why a report cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading or writing a table.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// Polars could not build, read or write a table.
    #[error("{path}: polars: {source}")]
    Polars {
        path: PathBuf,
        source: polars::error::PolarsError,
    },
    /// A figure could not be drawn.
    #[error(transparent)]
    Plot(#[from] nml_plot::PlotError),
    /// `run.json` is unreadable or not a study index.
    #[error(transparent)]
    Study(#[from] nml_study::StudyError),
    /// The results are incomplete or inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

pub use collect::Results;
pub use run::RunInfo;
