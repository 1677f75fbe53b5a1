//! What every `model.json` says about an image backbone, supervised or
//! contrastive: enough to rebuild the network and feed it.

use serde::{Deserialize, Serialize};

use crate::image::Normalize;
use crate::models::Arch;

pub use nml_spec::Objective;

/// The part of `model.json` that extraction reads. Extra fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneInfo {
    pub format: String,
    pub arch: Arch,
    /// Rows of the head: classes (supervised) or the joint-space dimension (contrastive).
    pub classes: usize,
    pub input_size: u32,
    pub normalize: Normalize,
    #[serde(default)]
    pub objective: Objective,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objective_defaults_to_supervised_in_older_files() {
        let json = r#"{"format": "nml-pretrain/1", "arch": "small", "classes": 10, "input_size": 32,
            "normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}, "extra": 1}"#;
        let info: BackboneInfo = serde_json::from_str(json).unwrap();
        assert_eq!(info.objective, Objective::Supervised);
        let mut value = serde_json::to_value(&info).unwrap();
        assert_eq!(value["objective"], "supervised");
        value["objective"] = "contrastive".into();
        let info: BackboneInfo = serde_json::from_value(value).unwrap();
        assert_eq!(info.objective, Objective::Contrastive);
    }
}
