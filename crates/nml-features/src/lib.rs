//! Feature tables of frozen backbones, computed once per (backbone, dataset).
//!
//! - [`extract`]: runs an `nml-pretrain` checkpoint in eval mode under
//!   no-grad over a manifest, batch by batch, streaming vectors to a feature
//!   table in a content-addressed cache (key: the checkpoint's bytes, the
//!   manifest's bytes and the preprocessing), so a second request for the same
//!   pair returns at once;
//! - [`backbone`]: a frozen backbone and the vector it gives (pooled, or a
//!   contrastive tower's projection), shared with `nml-tune --encoder`;
//! - [`import`]: embeddings from a black box (Parquet vector column or
//!   `.npy`), validated and joined to a manifest's labels;
//! - [`text`]: sentence embeddings of a manifest's `text` with a BERT encoder
//!   (all-MiniLM-L6-v2), cached the same way;
//! - [`record`]: each cache entry's `config.json`, one type per kind of entry.

pub mod backbone;
pub mod extract;
pub mod import;
pub mod npy;
pub mod record;
pub mod text;

pub use backbone::{Backbone, Described, Embedding};
pub use extract::{extract, ExtractOutcome, ExtractRequest, ViewRequest};
pub use import::import;
pub use nml_torch::Compute;
pub use record::{ExtractRecord, TextRecord};

/// Why features cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// Reading or writing a manifest or table failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// The checkpoint cannot be used.
    #[error(transparent)]
    Model(#[from] nml_models::ModelError),
    /// Inputs do not fit together (sizes, indices, empty selections…).
    #[error("{0}")]
    Invalid(String),
    /// A description could not be (de)serialised.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T, E = FeatureError> = std::result::Result<T, E>;
