//! `model.json`: what a finished `nml-pretrain` run records beside its
//! weights, one type for both objectives. `nml-pretrain` writes it (and the
//! same JSON as `model.safetensors`' description), `nml-features` reads the
//! network it describes, `nml-report` the last epoch's accuracies.
//!
//! The configs it records are here too (plain data: epochs, augmentation,
//! optimiser settings), so readers need no libtorch; `nml-pretrain` gives
//! them their training behaviour.

mod config;
mod wire;

use nml_spec::{Arch, Objective};

pub use config::{
    Augment, Common, ContrastiveConfig, ContrastiveMetrics, EpochMetrics, Normalize, SgdConfig,
    TrainConfig,
};

/// Format tag of a supervised `model.json`.
pub const MODEL_FORMAT: &str = "nml-pretrain/1";
/// Format tag of a contrastive `model.json`.
pub const CONTRASTIVE_FORMAT: &str = "nml-pretrain-contrastive/1";

/// What each objective records: its config and its epochs. Written as the
/// `config` and `metrics` fields of `model.json`; which one a file holds is
/// its `objective`.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Supervised {
        config: TrainConfig,
        metrics: Vec<EpochMetrics>,
    },
    Contrastive {
        config: ContrastiveConfig,
        metrics: Vec<ContrastiveMetrics>,
        /// Dimension of the joint space (the image tower's head rows).
        embed_dim: i64,
        /// Words of the text tower's vocabulary.
        vocab_size: usize,
        /// Captions longer than the context, truncated.
        truncated_captions: usize,
    },
}

/// The last epoch's numbers, whichever objective trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LastEpoch {
    /// Clean test accuracy (supervised) or zero-shot accuracy (contrastive).
    pub test_acc: Option<f64>,
    /// Accuracy against what training saw: noisy labels, or in-batch retrieval of the captions.
    pub train_acc_seen: f64,
    /// Accuracy against the clean labels on the training rows (supervised only).
    pub train_acc_clean: Option<f64>,
    pub images_per_sec: f64,
}

/// `model.json` of a finished pre-training run, either objective.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub arch: Arch,
    /// Rows of the head: classes (supervised) or the joint-space dimension (contrastive).
    pub classes: usize,
    /// Class names of the training manifest (the zero-shot classes of contrastive runs).
    pub class_names: Vec<String>,
    pub input_size: u32,
    pub feature_dim: i64,
    pub normalize: Normalize,
    pub seed: u64,
    pub train_manifest: String,
    pub train_manifest_hash: String,
    /// The noise summary the training manifest carries (`nml.noise`), if any.
    pub noise: Option<crate::noise::NoiseSummary>,
    /// The run key (`config.json`'s hash); a resumed run must match it.
    pub key: String,
    pub record: Record,
}

impl ModelInfo {
    /// The objective that trained the backbone.
    pub fn objective(&self) -> Objective {
        match self.record {
            Record::Supervised { .. } => Objective::Supervised,
            Record::Contrastive { .. } => Objective::Contrastive,
        }
    }

    /// The format tag this objective writes.
    pub fn format(&self) -> &'static str {
        match self.record {
            Record::Supervised { .. } => MODEL_FORMAT,
            Record::Contrastive { .. } => CONTRASTIVE_FORMAT,
        }
    }

    /// The epochs of a supervised run (empty for a contrastive one).
    pub fn supervised_epochs(&self) -> &[EpochMetrics] {
        match &self.record {
            Record::Supervised { metrics, .. } => metrics,
            Record::Contrastive { .. } => &[],
        }
    }

    /// The epochs of a contrastive run (empty for a supervised one).
    pub fn contrastive_epochs(&self) -> &[ContrastiveMetrics] {
        match &self.record {
            Record::Contrastive { metrics, .. } => metrics,
            Record::Supervised { .. } => &[],
        }
    }

    /// The last epoch's accuracies and speed; `None` for a run without epochs.
    pub fn last_epoch(&self) -> Option<LastEpoch> {
        match &self.record {
            Record::Supervised { metrics, .. } => metrics.last().map(|m| LastEpoch {
                test_acc: m.test_acc,
                train_acc_seen: m.train_acc_noisy,
                train_acc_clean: Some(m.train_acc_clean),
                images_per_sec: m.images_per_sec,
            }),
            Record::Contrastive { metrics, .. } => metrics.last().map(|m| LastEpoch {
                test_acc: m.test_acc,
                train_acc_seen: m.train_retrieval_acc,
                train_acc_clean: None,
                images_per_sec: m.images_per_sec,
            }),
        }
    }

    /// Reads `model.json` (or any JSON holding it), naming `path` in errors.
    pub fn read(path: &std::path::Path) -> crate::Result<ModelInfo> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::CoreError::io(path, "cannot read", e))?;
        ModelInfo::from_json(&text).map_err(|e| {
            crate::CoreError::invalid(path, format!("not an nml-pretrain model.json: {e}"))
        })
    }

    /// Parses `model.json`'s text.
    pub fn from_json(text: &str) -> serde_json::Result<ModelInfo> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests;
