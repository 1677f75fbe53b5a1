//! The configs `model.json` records (one per objective, sharing `Common`),
//! and each objective's epoch metrics: plain data, validated by `problem()`.

use serde::{Deserialize, Serialize};

use nml_spec::{Arch, Compute};

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
    /// bf16 autocast on CUDA (`--amp`, kept for its run keys; `--precision bf16` says the same).
    pub amp: bool,
    /// What the forward pass computes in (`--precision`, resolved); absent
    /// for float32, so float32 runs keep their keys.
    #[serde(default, skip_serializing_if = "Compute::is_fp32")]
    pub precision: Compute,
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
            precision: Compute::Fp32,
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
