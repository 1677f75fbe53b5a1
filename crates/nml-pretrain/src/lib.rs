//! Pre-training image backbones on (noisy) manifests with tch.
//!
//! - [`fit`]: the one training loop (resume, checkpoints, metrics, progress)
//!   and its driver (key, data, `config.json`, `model.json`), generic over an objective;
//! - [`common`]: the settings every objective's config shares (flattened into its JSON);
//! - [`supervised`]: cross-entropy on class labels with SGD;
//! - [`contrastive`]: CLIP-style image–text pre-training on the `text`
//!   captions (vocabulary, text tower, symmetric InfoNCE with a learnable
//!   temperature, zero-shot evaluation) with AdamW;
//! - [`data`]: the epoch loader: batches gathered, cropped, flipped and normalised with tensor ops;
//! - [`optim`]: SGD and AdamW with PyTorch's semantics and the warm-up + cosine schedule.
//!
//! The networks, checkpoints and image decoding are `nml-models`'s.
//! Supervised training uses `noisy_label` when the manifest has it, else
//! `label`, and always measures accuracy against the clean labels too.

pub mod common;
pub mod contrastive;
pub mod data;
pub mod fit;
pub mod optim;
mod run;
pub mod supervised;

pub use common::Common;
pub use contrastive::{train_contrastive, ContrastiveConfig};
pub use fit::RunPaths;
pub use nml_models::{checkpoint, layout, models, Arch, Named, Net};
pub use run::ConfigRecord;
pub use supervised::{train, EpochMetrics, ModelInfo, TrainConfig, MODEL_FORMAT};

/// Why pre-training cannot proceed.
#[derive(Debug, thiserror::Error)]
pub enum PretrainError {
    /// Reading or writing a manifest or file failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// The model or one of its files cannot be used.
    #[error(transparent)]
    Model(#[from] nml_models::ModelError),
    /// The run's options are inconsistent.
    #[error("{0}")]
    Config(String),
    /// The data cannot feed the model (missing images, wrong size…).
    #[error("{0}")]
    Data(String),
    /// A checkpoint is unreadable or does not fit the model.
    #[error("{0}")]
    Checkpoint(String),
    /// A description could not be (de)serialised.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T, E = PretrainError> = std::result::Result<T, E>;
