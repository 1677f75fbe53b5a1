//! Pre-training image backbones on (noisy) manifests with tch.
//!
//! - [`models`]: the architectures, on VarStore paths named like their PyTorch references;
//! - [`data`]: decode once, then augmented batches from a prefetching producer thread;
//! - [`optim`]: SGD with momentum/Nesterov/weight decay and the warm-up + cosine schedule;
//! - [`checkpoint`]: safetensors read/write with strict name and shape checks;
//! - [`train`]: the supervised loop, metrics and resumable checkpoints;
//! - [`contrastive`]: CLIP-style image–text pre-training on the `text`
//!   captions (symmetric InfoNCE, learnable temperature, zero-shot eval).
//!
//! Supervised training uses `noisy_label` when the manifest has it, else
//! `label`, and always measures accuracy against the clean labels too.

pub mod checkpoint;
pub mod contrastive;
pub mod data;
pub mod models;
pub mod optim;
pub mod train;

pub use contrastive::{train_contrastive, ContrastiveConfig, ContrastiveInfo};
pub use models::{Arch, Net};
pub use train::{train, BackboneInfo, EpochMetrics, ModelInfo, RunPaths, TrainConfig};

/// Why pre-training cannot proceed.
#[derive(Debug, thiserror::Error)]
pub enum PretrainError {
    /// Reading or writing a manifest or file failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
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
