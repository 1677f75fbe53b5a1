//! Heads on frozen features, the paper's contribution and its baselines:
//! linear probing (`lp`), the NMTune MLP trained with cross-entropy only
//! (`mlp`), and NMTune (`nmtune`: MLP + consistency, covariance and
//! dominant-singular-value regularisers), each evaluated on any number of
//! named tables (in-domain and out-of-domain) by accuracy and by the
//! spectrum of the tuned features.
//!
//! - [`model`]: the heads, named like the official code's modules;
//! - [`losses`]: the three regularisers, term for term as the official code;
//! - [`source`]: where a batch's frozen features come from (eval view, cached
//!   augmented views, or [`encoder`]: the backbone in the loop);
//! - [`grid`]: a grid of heads of one shape trained together in one pass;
//! - [`train`]: the two-view (official) or single-view loss, AdamW with
//!   per-step cosine decay, evaluation, NaN guards;
//! - [`eval`]: accuracy and the spectrum of z on an eval table;
//! - [`labels`]: training labels from a manifest (`--train-labels`, noisy downstream labels);
//! - [`results`]: the tidy results table (polars, Parquet) and the JSON summary.

pub mod checks;
pub mod encoder;
pub mod eval;
pub mod grid;
pub mod knn;
pub mod labels;
pub mod losses;
pub mod model;
pub mod results;
pub mod saved;
mod schedule;
pub mod select;
pub mod source;
pub mod train;
mod watch;

pub use model::{Head, Method};
pub use train::{fit, loss_terms, tune, tune_head, EvalResult, TuneConfig, Tuned};

/// Why tuning cannot proceed.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// Reading a feature table or writing results failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// Polars could not build or write the results table.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// The backbone of `--encoder` cannot be used.
    #[error(transparent)]
    Features(#[from] nml_features::FeatureError),
    /// Inputs do not fit the head.
    #[error("{0}")]
    Invalid(String),
    /// Training diverged (a non-finite or runaway loss, a failed SVD, non-finite weights).
    #[error("{0}")]
    Diverged(String),
}

/// Result alias of this crate.
pub type Result<T, E = TuneError> = std::result::Result<T, E>;
