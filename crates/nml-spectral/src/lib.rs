//! Spectral analysis of frozen features: the paper's explanation of why
//! pre-training noise helps in-domain and hurts out-of-domain transfer rests
//! on the singular value spectrum of downstream features.
//!
//! - [`spectrum`]: preprocessing (L2 rows, row/column centring), exact
//!   singular values (thin SVD or Gram eigenvalues) and the metrics;
//! - [`tables`]: one tidy polars table for many feature tables, written as Parquet;
//!
//! This crate does not link libtorch, and its library draws nothing: the
//! binary's spectrum plot comes from `nml-plot` (feature `plot`, on by
//! default), so `nml-tune`, which uses the metrics, does not compile plotters.

pub mod spectrum;
pub mod tables;

pub use spectrum::{singular_values, Center, Method, Metrics, Normalize, SpectralConfig};
pub use tables::{analyse, group_spectra, Analysis, Selection, SpectralRecord, TableRecord};

/// Why an analysis cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SpectralError {
    /// Reading a feature table or writing results failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// Polars could not build or write a table.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// The selection is empty or otherwise unusable.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of this crate.
pub type Result<T, E = SpectralError> = std::result::Result<T, E>;
