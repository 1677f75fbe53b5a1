//! The settings every objective's config shares: epochs, batches,
//! augmentation, inputs, splits, seed, precision and checkpoints.
//!
//! Each config embeds one [`Common`] flattened, so its JSON (and therefore
//! every run key, which hashes the canonical JSON) keeps the fields where
//! they were.

use serde::Serialize;

pub use nml_core::model::Common;

/// What the shared driver of [`crate::fit`] needs of an objective's config:
/// it serialises (the run key hashes it), names its key namespace and the
/// files a finished run holds besides `model.safetensors`, and holds a [`Common`].
pub(crate) trait RunConfig: Serialize {
    /// Namespace of the run key.
    const NAMESPACE: &'static str;
    /// Files of a finished run besides `model.safetensors`.
    const ALSO: &'static [&'static str];
    fn common(&self) -> &Common;
    /// The convolutional backbone being trained (its layout follows from it).
    fn arch(&self) -> crate::Arch;
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
