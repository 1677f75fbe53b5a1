//! `model.json` on disk: one field order for both objectives (supervised
//! files keep the bytes they had before the type was shared).

use serde::{Deserialize, Serialize};

use nml_spec::{Arch, Objective};

use super::{
    ContrastiveConfig, ContrastiveMetrics, EpochMetrics, ModelInfo, Normalize, Record, TrainConfig,
};

/// The file's field order: supervised files have no `objective` (older
/// readers default to supervised) and no contrastive fields.
#[derive(Serialize, Deserialize)]
struct Wire<C, M> {
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    objective: Option<Objective>,
    arch: Arch,
    classes: usize,
    class_names: Vec<String>,
    input_size: u32,
    feature_dim: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    embed_dim: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vocab_size: Option<usize>,
    normalize: Normalize,
    config: C,
    seed: u64,
    train_manifest: String,
    train_manifest_hash: String,
    noise: Option<crate::noise::NoiseSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    truncated_captions: Option<usize>,
    key: String,
    metrics: Vec<M>,
}

impl ModelInfo {
    fn wire<C: Clone, M: Clone>(
        &self,
        objective: Option<Objective>,
        config: &C,
        metrics: &[M],
        contrastive: Option<(i64, usize, usize)>,
    ) -> Wire<C, M> {
        Wire {
            format: self.format().to_owned(),
            objective,
            arch: self.arch,
            classes: self.classes,
            class_names: self.class_names.clone(),
            input_size: self.input_size,
            feature_dim: self.feature_dim,
            embed_dim: contrastive.map(|c| c.0),
            vocab_size: contrastive.map(|c| c.1),
            normalize: self.normalize,
            config: config.clone(),
            seed: self.seed,
            train_manifest: self.train_manifest.clone(),
            train_manifest_hash: self.train_manifest_hash.clone(),
            noise: self.noise.clone(),
            truncated_captions: contrastive.map(|c| c.2),
            key: self.key.clone(),
            metrics: metrics.to_vec(),
        }
    }
}

impl Serialize for ModelInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.record {
            Record::Supervised { config, metrics } => {
                self.wire(None, config, metrics, None).serialize(s)
            }
            Record::Contrastive {
                config,
                metrics,
                embed_dim,
                vocab_size,
                truncated_captions,
            } => self
                .wire(
                    Some(Objective::Contrastive),
                    config,
                    metrics,
                    Some((*embed_dim, *vocab_size, *truncated_captions)),
                )
                .serialize(s),
        }
    }
}

impl<C, M> Wire<C, M> {
    /// The fields both objectives share, with `record` built from the rest.
    fn into_info(self, record: impl FnOnce(C, Vec<M>) -> Record) -> ModelInfo {
        ModelInfo {
            arch: self.arch,
            classes: self.classes,
            class_names: self.class_names,
            input_size: self.input_size,
            feature_dim: self.feature_dim,
            normalize: self.normalize,
            seed: self.seed,
            train_manifest: self.train_manifest,
            train_manifest_hash: self.train_manifest_hash,
            noise: self.noise,
            key: self.key,
            record: record(self.config, self.metrics),
        }
    }
}

impl<'de> Deserialize<'de> for ModelInfo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ModelInfo, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        // Older supervised files carry no `objective`.
        let objective = match value.get("objective") {
            Some(o) => Objective::deserialize(o).map_err(D::Error::custom)?,
            None => Objective::Supervised,
        };
        match objective {
            Objective::Supervised => {
                let w: Wire<TrainConfig, EpochMetrics> =
                    serde_json::from_value(value).map_err(D::Error::custom)?;
                Ok(w.into_info(|config, metrics| Record::Supervised { config, metrics }))
            }
            Objective::Contrastive => {
                let w: Wire<ContrastiveConfig, ContrastiveMetrics> =
                    serde_json::from_value(value).map_err(D::Error::custom)?;
                let missing = |field: &str| {
                    D::Error::custom(format!("a contrastive model.json needs `{field}`"))
                };
                let embed_dim = w.embed_dim.ok_or_else(|| missing("embed_dim"))?;
                let vocab_size = w.vocab_size.ok_or_else(|| missing("vocab_size"))?;
                let truncated_captions = w
                    .truncated_captions
                    .ok_or_else(|| missing("truncated_captions"))?;
                Ok(w.into_info(|config, metrics| Record::Contrastive {
                    config,
                    metrics,
                    embed_dim,
                    vocab_size,
                    truncated_captions,
                }))
            }
        }
    }
}
