//! `model.json`: what a finished `nml-pretrain` run records beside its
//! weights, one type for both objectives. `nml-pretrain` writes it (and the
//! same JSON as `model.safetensors`' description), `nml-features` reads the
//! network it describes, `nml-report` the last epoch's accuracies.
//!
//! The configs it records are here too (plain data: epochs, augmentation,
//! optimiser settings), so readers need no libtorch; `nml-pretrain` gives
//! them their training behaviour.

use serde::{Deserialize, Serialize};

use nml_spec::{Arch, Objective};

/// Format tag of a supervised `model.json`.
pub const MODEL_FORMAT: &str = "nml-pretrain/1";
/// Format tag of a contrastive `model.json`.
pub const CONTRASTIVE_FORMAT: &str = "nml-pretrain-contrastive/1";

/// Normalisation applied after augmentation: `(x / 255 − mean) / std`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

/// Training-time augmentation of pre-training, applied per sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Random crop after zero-padding by this many pixels (0: off).
    pub crop_padding: i64,
    /// Random horizontal flip with probability 1/2.
    pub flip: bool,
    /// Brightness, contrast and saturation jitter strength (0: off).
    pub color_jitter: f64,
}

impl Augment {
    /// No augmentation at all.
    pub fn none() -> Augment {
        Augment {
            crop_padding: 0,
            flip: false,
            color_jitter: 0.0,
        }
    }
}

/// The settings every objective's config shares: epochs, batches,
/// augmentation, inputs, splits, seed, precision and checkpoints. Each config
/// embeds one flattened, so its JSON (and therefore every run key, which
/// hashes the canonical JSON) keeps the fields at the top level.
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
    pub fn problem(&self, arch: Arch, lr: f64, batch_why: &str) -> Option<String> {
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

/// SGD with Nesterov momentum, warm-up and cosine decay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Linear warm-up from 0 to `lr` over this many epochs, then cosine decay to 0.
    pub warmup_epochs: f64,
}

/// Everything that determines supervised pre-training's weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub arch: Arch,
    /// Epochs, batches, augmentation, inputs, splits, seed, precision, checkpoints.
    #[serde(flatten)]
    pub common: Common,
    pub sgd: SgdConfig,
    pub label_smoothing: f64,
}

impl TrainConfig {
    /// The paper-style defaults for `arch` (SGD 0.1, Nesterov momentum 0.9, wd 5e-4, crop + flip).
    pub fn new(arch: Arch, epochs: usize) -> TrainConfig {
        TrainConfig {
            arch,
            common: Common::new(arch, epochs),
            sgd: SgdConfig {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
                weight_decay: 5e-4,
                warmup_epochs: 1.0,
            },
            label_smoothing: 0.0,
        }
    }

    /// The first problem of these settings, naming the flag.
    pub fn problem(&self) -> Option<String> {
        self.common
            .problem(self.arch, self.sgd.lr, "BatchNorm")
            .or_else(|| {
                (!(0.0..1.0).contains(&self.label_smoothing)).then(|| {
                    format!(
                        "--label-smoothing {} is outside [0, 1)",
                        self.label_smoothing
                    )
                })
            })
    }
}

/// Everything that determines contrastive pre-training's towers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContrastiveConfig {
    pub arch: Arch,
    /// Epochs, batches, augmentation, inputs, splits, seed, precision (bf16
    /// autocast of the image tower on CUDA), checkpoints.
    #[serde(flatten)]
    pub common: Common,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_epochs: f64,
    /// Dimension of the joint image–text space.
    pub embed_dim: i64,
    /// Width of the text tower.
    pub text_width: i64,
    /// Tokens per caption; longer captions are truncated (with a warning).
    pub context: usize,
    /// Largest vocabulary (most frequent training words first).
    pub max_vocab: usize,
    /// Initial temperature τ of the InfoNCE logits (learned as log 1/τ, capped at 100).
    pub init_temperature: f64,
    /// Zero-shot prompt templates, `{}` standing for the class name; the
    /// class embedding is the normalised mean over templates.
    pub prompts: Vec<String>,
}

impl ContrastiveConfig {
    /// Defaults for `arch`: AdamW 1e-3 (β 0.9/0.98, ε 1e-6), weight decay
    /// 0.1 on matrices only, τ₀ 0.07, a 128-d joint space, crop + flip.
    pub fn new(arch: Arch, epochs: usize) -> ContrastiveConfig {
        ContrastiveConfig {
            arch,
            common: Common::new(arch, epochs),
            lr: 1e-3,
            weight_decay: 0.1,
            warmup_epochs: 1.0,
            embed_dim: 128,
            text_width: 256,
            context: 32,
            max_vocab: 10_000,
            init_temperature: 0.07,
            prompts: vec!["a photo of a {}".to_owned(), "a {}".to_owned()],
        }
    }

    /// The first problem of these settings, naming the flag.
    pub fn problem(&self) -> Option<String> {
        let why = "BatchNorm, and InfoNCE needs negatives";
        let common = self.common.problem(self.arch, self.lr, why);
        if common.is_some() {
            common
        } else if self.embed_dim < 1 || self.text_width < 1 || self.context < 1 {
            Some("--embed-dim, --text-width and --context must be at least 1".to_owned())
        } else if !(self.init_temperature > 0.01 && self.init_temperature <= 1.0) {
            Some(format!(
                "--temperature {} is outside (0.01, 1]",
                self.init_temperature
            ))
        } else if self.max_vocab < 3 {
            Some("--max-vocab must be at least 3".to_owned())
        } else if self.prompts.is_empty() || self.prompts.iter().any(|p| !p.contains("{}")) {
            Some("every --prompt must contain `{}` (the class name)".to_owned())
        } else {
            None
        }
    }
}

/// One finished epoch of supervised pre-training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    /// Accuracy against the labels training sees (noisy when present).
    pub train_acc_noisy: f64,
    /// Accuracy against the clean labels: the gap to `train_acc_noisy` shows memorisation.
    pub train_acc_clean: f64,
    pub test_acc: Option<f64>,
    pub images_per_sec: f64,
    pub seconds: f64,
}

/// One finished epoch of contrastive pre-training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContrastiveMetrics {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    /// In-batch image→text retrieval accuracy against the captions training sees.
    pub train_retrieval_acc: f64,
    /// Zero-shot top-1 accuracy on the test split (clean labels, class-name prompts).
    pub test_acc: Option<f64>,
    pub temperature: f64,
    pub images_per_sec: f64,
    pub seconds: f64,
}

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
    pub noise: Option<serde_json::Value>,
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
    noise: Option<serde_json::Value>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn supervised() -> ModelInfo {
        ModelInfo {
            arch: Arch::Small,
            classes: 10,
            class_names: (0..10).map(|c| format!("c{c}")).collect(),
            input_size: 32,
            feature_dim: Arch::Small.feature_dim(),
            normalize: Normalize {
                mean: [0.5; 3],
                std: [0.25; 3],
            },
            seed: 3,
            train_manifest: "noisy.parquet".to_owned(),
            train_manifest_hash: "ab".to_owned(),
            noise: Some(serde_json::json!({"ratio_realised": 0.2})),
            key: "k".to_owned(),
            record: Record::Supervised {
                config: TrainConfig::new(Arch::Small, 2),
                metrics: vec![EpochMetrics {
                    epoch: 1,
                    lr: 0.1,
                    train_loss: 1.5,
                    train_acc_noisy: 0.4,
                    train_acc_clean: 0.45,
                    test_acc: Some(0.5),
                    images_per_sec: 900.0,
                    seconds: 2.0,
                }],
            },
        }
    }

    fn contrastive() -> ModelInfo {
        ModelInfo {
            classes: 128,
            noise: None,
            record: Record::Contrastive {
                config: ContrastiveConfig::new(Arch::Small, 2),
                metrics: vec![ContrastiveMetrics {
                    epoch: 1,
                    lr: 1e-3,
                    train_loss: 3.0,
                    train_retrieval_acc: 0.3,
                    test_acc: None,
                    temperature: 0.07,
                    images_per_sec: 800.0,
                    seconds: 2.5,
                }],
                embed_dim: 128,
                vocab_size: 40,
                truncated_captions: 0,
            },
            ..supervised()
        }
    }

    #[test]
    fn both_objectives_round_trip_with_their_own_fields() {
        for info in [supervised(), contrastive()] {
            let json = serde_json::to_value(&info).unwrap();
            assert_eq!(json["format"], info.format());
            assert_eq!(serde_json::from_value::<ModelInfo>(json).unwrap(), info);
        }
        let json = serde_json::to_value(supervised()).unwrap();
        assert!(json.get("objective").is_none() && json.get("embed_dim").is_none());
        assert_eq!(json["config"]["epochs"], 2);
        let json = serde_json::to_value(contrastive()).unwrap();
        assert_eq!(json["objective"], "contrastive");
        assert_eq!(json["vocab_size"], 40);
    }

    #[test]
    fn the_last_epoch_reads_either_objective() {
        let s = supervised().last_epoch().unwrap();
        assert_eq!(
            (s.test_acc, s.train_acc_seen, s.train_acc_clean),
            (Some(0.5), 0.4, Some(0.45))
        );
        let c = contrastive().last_epoch().unwrap();
        assert_eq!(
            (c.test_acc, c.train_acc_seen, c.train_acc_clean),
            (None, 0.3, None)
        );
    }

    #[test]
    fn a_contrastive_file_without_its_fields_is_refused() {
        let mut json = serde_json::to_value(contrastive()).unwrap();
        json.as_object_mut().unwrap().remove("vocab_size");
        let err = serde_json::from_value::<ModelInfo>(json).unwrap_err();
        assert!(err.to_string().contains("vocab_size"), "{err}");
    }
}
