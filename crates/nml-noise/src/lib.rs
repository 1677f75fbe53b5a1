//! Label noise for nml manifests.
//!
//! [`corrupt`] takes a manifest and a [`NoiseConfig`] and returns the noisy
//! manifest (every input column kept, `noisy_label` and `is_noisy` added) and
//! a [`NoiseSummary`] with the realised rate, per-class flip counts and the
//! empirical transition matrix.
//! [`kinds`] holds the samplers on plain label slices; they are deterministic
//! for a seed (ChaCha8, portable across platforms).
//! Only rows of the configured splits (default `train`) are corrupted, so
//! test rows stay clean for evaluation.

pub mod kinds;
mod manifest;
mod summary;

use std::path::{Path, PathBuf};

pub use manifest::{
    check_paths, corrupt, read_class_map, read_transition_matrix, summary_path, write_outputs,
    CLEAN_TEXT, IS_NOISY,
};
pub use nml_core::noise::{
    ClassStats, NoiseConfig, NoiseKind, NoiseSummary, SwapSemantics, META_NOISE,
};

/// Why noise cannot be injected.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// Reading or writing a manifest failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// A parameter is out of its domain (ratio, class map, matrix…).
    #[error("{0}")]
    Invalid(String),
    /// A side file (matrix, class map) is unreadable or malformed.
    #[error("{}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
}

impl NoiseError {
    pub(crate) fn file(path: &Path, problem: impl Into<String>) -> Self {
        NoiseError::File {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = NoiseError> = std::result::Result<T, E>;

/// Checks a [`NoiseConfig`]'s parameters that do not depend on the data.
pub fn validate(config: &NoiseConfig) -> Result<()> {
    if let Some(ratio) = config.kind.ratio() {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(NoiseError::Invalid(format!(
                "ratio {ratio} is outside [0, 1]"
            )));
        }
    }
    if let NoiseKind::Transition { matrix } = &config.kind {
        kinds::check_matrix(matrix).map_err(NoiseError::Invalid)?;
    }
    Ok(())
}
