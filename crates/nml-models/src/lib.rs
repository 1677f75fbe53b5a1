//! The networks nml runs and the files they come in: everything feature
//! extraction needs, without the training loops.
//!
//! - [`models`]: the image architectures, on VarStore paths named like their PyTorch references;
//! - [`checkpoint`]: safetensors read/write with strict name and shape checks;
//! - [`image`]: a manifest's images decoded into a u8 tensor, and their normalisation;
//! - [`augment`]: the official train transforms (RandomResizedCrop, flip), one generator per view;
//! - [`backbone`]: the objective a backbone was pre-trained with (`model.json` is nml-core's [`ModelInfo`]);
//! - [`bert`]: a BERT sentence encoder under Hugging Face's names.

pub mod augment;
pub mod backbone;
pub mod bert;
pub mod checkpoint;
pub mod image;
pub mod models;

pub use augment::{Augment, AugmentKind};
pub use backbone::{ModelInfo, Objective};
pub use image::{ImageSet, Normalize, NormalizeExt};
pub use models::{layout, Arch, Net};

/// Named tensors, as a checkpoint holds them.
pub type Named = Vec<(String, tch::Tensor)>;

/// Why a model or its files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Reading a manifest failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// The data cannot feed the model (missing images, wrong size…).
    #[error("{0}")]
    Data(String),
    /// A checkpoint is unreadable or does not fit the model.
    #[error("{0}")]
    Checkpoint(String),
    /// A model's description or configuration is unusable.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
