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

use serde::{Deserialize, Serialize};

pub use manifest::{
    check_paths, corrupt, read_class_map, read_transition_matrix, summary_path, write_outputs,
    CLEAN_TEXT, IS_NOISY, META_NOISE,
};
pub use summary::{ClassStats, NoiseSummary};

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

/// Which noise to inject, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NoiseKind {
    /// Exactly round(R·N) rows, each moved to a uniformly chosen *different* class.
    Symmetric { ratio: f64, per_class: bool },
    /// Every row resampled with probability R over all classes, its own included.
    Uniform { ratio: f64 },
    /// round(R·N) rows (per class when `per_class`) moved along `class_map`
    /// (default: c → c+1 mod C).
    Asymmetric {
        ratio: f64,
        per_class: bool,
        class_map: Option<Vec<usize>>,
    },
    /// Each row's noisy label drawn from row `label` of a C×C row-stochastic matrix.
    Transition { matrix: Vec<Vec<f64>> },
    /// Captions swapped between pairs of rows (see [`SwapSemantics`]); a row
    /// counts as corrupted only when its caption text changed.
    CaptionSwap {
        ratio: f64,
        #[serde(default, skip_serializing_if = "SwapSemantics::is_nml")]
        semantics: SwapSemantics,
    },
    /// An existing label column (e.g. CIFAR-10N's `worse_label`) becomes `noisy_label`.
    Column { column: String },
}

impl NoiseKind {
    /// The requested ratio, for the kinds that take one.
    pub fn ratio(&self) -> Option<f64> {
        match self {
            NoiseKind::Symmetric { ratio, .. }
            | NoiseKind::Uniform { ratio }
            | NoiseKind::Asymmetric { ratio, .. }
            | NoiseKind::CaptionSwap { ratio, .. } => Some(*ratio),
            NoiseKind::Transition { .. } | NoiseKind::Column { .. } => None,
        }
    }

    /// The expected fraction of corrupted in-scope rows, where it is known in advance.
    pub fn expected_rate(&self, classes: usize) -> Option<f64> {
        match self {
            NoiseKind::Symmetric { ratio, .. }
            | NoiseKind::CaptionSwap {
                ratio,
                semantics: SwapSemantics::Nml,
            } => Some(*ratio),
            // ⌊R·N⌋ swaps of two rows drawn with replacement across swaps: a row
            // escapes every swap with probability (1 − 2/N)^(R·N) ≈ e^(−2R).
            NoiseKind::CaptionSwap {
                ratio,
                semantics: SwapSemantics::Official,
            } => Some(1.0 - (-2.0 * ratio).exp()),
            NoiseKind::Uniform { ratio } => Some(ratio * (1.0 - 1.0 / classes as f64)),
            _ => None,
        }
    }
}

/// How many caption swaps a ratio R means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwapSemantics {
    /// round(R·N/2) disjoint pairs swap, so R·N rows take another row's
    /// caption (R is the fraction of rows, as for label noise).
    #[default]
    Nml,
    /// The official `shuffle_data.py`: ⌊R·N⌋ swaps, each of two distinct rows
    /// drawn uniformly, rows reused across swaps; about N(1 − e^(−2R)) rows
    /// end up changed (R = 0.025, tagged "2.5", changes about 4.9 %).
    Official,
}

impl SwapSemantics {
    fn is_nml(&self) -> bool {
        *self == SwapSemantics::Nml
    }
}

/// Everything that determines a noisy manifest besides the input itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseConfig {
    pub kind: NoiseKind,
    pub seed: u64,
    /// Splits whose rows are corrupted; empty means every row.
    pub splits: Vec<String>,
}

impl NoiseConfig {
    /// Checks parameters that do not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if let Some(ratio) = self.kind.ratio() {
            if !(0.0..=1.0).contains(&ratio) {
                return Err(NoiseError::Invalid(format!(
                    "ratio {ratio} is outside [0, 1]"
                )));
            }
        }
        if let NoiseKind::Transition { matrix } = &self.kind {
            kinds::check_matrix(matrix).map_err(NoiseError::Invalid)?;
        }
        Ok(())
    }
}
