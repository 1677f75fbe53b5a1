//! The settings every objective's config shares: epochs, batches,
//! augmentation, inputs, splits, seed, precision and checkpoints.
//!
//! Each config embeds one [`Common`] flattened, so its JSON (and therefore
//! every run key, which hashes the canonical JSON) keeps the fields where
//! they were.

use serde::{Deserialize, Serialize};

use crate::data::Augment;
use crate::models::Arch;

/// What the shared driver of [`crate::fit`] needs of an objective's config:
/// it serialises (the run key hashes it), names its key namespace and the
/// files a finished run holds besides `model.safetensors`, and holds a [`Common`].
pub(crate) trait RunConfig: Serialize {
    /// Namespace of the run key.
    const NAMESPACE: &'static str;
    /// Files of a finished run besides `model.safetensors`.
    const ALSO: &'static [&'static str];
    fn common(&self) -> &Common;
}

/// What the shared loop of [`crate::fit`] reads from a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Common {
    pub epochs: usize,
    pub batch_size: usize,
    pub augment: Augment,
    /// Side of the (square) input images.
    pub input_size: u32,
    /// Resize images of another size instead of refusing them.
    pub resize: bool,
    pub train_split: String,
    pub test_split: String,
    pub seed: u64,
    /// bf16 autocast on CUDA.
    pub amp: bool,
    /// Also checkpoint every this many steps inside an epoch (0: at epoch ends only).
    pub checkpoint_every_steps: usize,
}

impl Common {
    /// The defaults for `arch`: batch 128, crop (padding 4) + flip, its native
    /// input size, `train`/`test` splits, seed 0, fp32, checkpoints at epoch ends.
    pub fn new(arch: Arch, epochs: usize) -> Common {
        Common {
            epochs,
            batch_size: 128,
            augment: Augment {
                crop_padding: 4,
                flip: true,
                color_jitter: 0.0,
            },
            input_size: arch.native_input(),
            resize: false,
            train_split: "train".to_owned(),
            test_split: "test".to_owned(),
            seed: 0,
            amp: false,
            checkpoint_every_steps: 0,
        }
    }

    /// The first problem of these settings for `arch` at peak learning rate
    /// `lr`; `batch_why` says why a batch needs two samples.
    pub(crate) fn problem(&self, arch: Arch, lr: f64, batch_why: &str) -> Option<String> {
        if self.epochs == 0 {
            Some("--epochs must be at least 1".to_owned())
        } else if self.batch_size < 2 {
            Some(format!("--batch-size must be at least 2 ({batch_why})"))
        } else if self.input_size < arch.min_input() {
            Some(format!(
                "{arch} needs inputs of at least {}px, got {}",
                arch.min_input(),
                self.input_size
            ))
        } else if !(lr > 0.0 && lr.is_finite()) {
            Some(format!("--lr {lr} must be positive"))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Arch, ContrastiveConfig, TrainConfig};

    /// Flattened: the configs' JSON (hence every run key) keeps the shared
    /// fields at the top level, where they were before `Common` existed.
    #[test]
    fn shared_settings_stay_top_level_in_both_configs() {
        let supervised = serde_json::to_value(TrainConfig::new(Arch::Small, 3)).unwrap();
        let contrastive = serde_json::to_value(ContrastiveConfig::new(Arch::Small, 3)).unwrap();
        for json in [&supervised, &contrastive] {
            assert!(json.get("common").is_none(), "{json}");
            assert_eq!(json["epochs"], 3);
            assert_eq!(json["batch_size"], 128);
            assert_eq!(json["train_split"], "train");
            assert_eq!(json["augment"]["crop_padding"], 4);
        }
        let back: TrainConfig = serde_json::from_value(supervised).unwrap();
        assert_eq!(back, TrainConfig::new(Arch::Small, 3));
    }
}
