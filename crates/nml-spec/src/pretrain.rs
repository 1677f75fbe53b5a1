//! `nml-pretrain`: its arguments, and the objective a backbone learns from.

use std::path::PathBuf;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::{spelling, Arch, Args, DeviceSpec, Precision, Spec, Verbosity};

/// How a backbone is (or was) pre-trained: the `--objective` of `nml-pretrain`
/// and the `objective` of every `model.json`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Cross-entropy on class labels (absent in older files).
    #[default]
    Supervised,
    /// CLIP-style InfoNCE on image–text pairs.
    Contrastive,
}

impl Objective {
    /// The name in `model.json`, run records and reports.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Supervised => "supervised",
            Objective::Contrastive => "contrastive",
        }
    }
}

/// Train an image backbone on a (noisy) manifest.
///
/// Supervised (default): trains on `noisy_label` when the manifest has it,
/// else on `label`, and reports accuracy against the clean labels too.
/// Contrastive (--objective contrastive): CLIP-style image–text training on
/// the manifest's `text` captions (noisy when caption-swapped), reporting
/// zero-shot accuracy from --prompt templates; text.safetensors holds the
/// text tower beside the image tower's model.safetensors. Writes into OUT:
/// config.json, metrics.csv (one row per epoch), resume.safetensors
/// (weights, momentum and loop position), and at the end model.safetensors
/// with model.json. A run killed at any moment continues from its last
/// checkpoint when restarted with --resume; a finished run is not redone.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "nml-pretrain", version, verbatim_doc_comment)]
pub struct PretrainArgs {
    /// Training manifest (rows of --train-split are used)
    #[arg(long)]
    pub train: PathBuf,
    /// Test manifest (rows of --test-split); default: the training manifest
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Objective: supervised (class labels) or contrastive (image–text pairs)
    #[arg(long, value_enum, default_value = "supervised")]
    pub objective: Objective,
    /// Architecture: small, resnet20, resnet32, resnet56, preact-resnet18, resnet18, resnet50
    #[arg(long, default_value = "resnet20")]
    pub arch: Arch,
    /// Number of epochs
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Output folder
    #[arg(long)]
    pub out: PathBuf,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Seed of initialisation, shuffling and augmentation
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from OUT/resume.safetensors when it exists (it must come from the same command)
    #[arg(long)]
    pub resume: bool,
    /// Batch size
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Peak learning rate (after warm-up); default 0.1 (SGD), 1e-3 (contrastive, AdamW)
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum (default 0.9)
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Use plain momentum instead of Nesterov's
    #[arg(long)]
    pub no_nesterov: bool,
    /// Weight decay; default 5e-4 on every parameter (SGD), 0.1 on matrices (contrastive, AdamW)
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Linear warm-up length in epochs, then cosine decay to 0
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    /// Label smoothing of the cross-entropy (default 0: off)
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Random-crop padding in pixels (0: no crop)
    #[arg(long, default_value_t = 4)]
    pub crop_padding: i64,
    /// Disable random horizontal flips
    #[arg(long)]
    pub no_flip: bool,
    /// Brightness/contrast/saturation jitter strength (0: off)
    #[arg(long, default_value_t = 0.0)]
    pub color_jitter: f64,
    /// Input side in pixels; default: 32 for CIFAR-style nets and small, 224 for resnet18/50
    #[arg(long)]
    pub input_size: Option<u32>,
    /// Resize images of another size (bilinear) instead of refusing them
    #[arg(long)]
    pub resize: bool,
    /// Split of the training manifest to train on
    #[arg(long, default_value = "train")]
    pub train_split: String,
    /// Split of the test manifest to evaluate on
    #[arg(long, default_value = "test")]
    pub test_split: String,
    /// bf16 autocast on CUDA (refused on the CPU); `--precision bf16` says the same on every device
    #[arg(long)]
    pub amp: bool,
    /// Compute precision: fp32, bf16 (autocast: products and convolutions in
    /// bfloat16, weights, optimiser state and loss in float32), or auto (bf16 on
    /// CUDA and on CPUs with AMX or AVX-512 BF16, fp32 elsewhere)
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: Precision,
    /// Also checkpoint every N steps inside an epoch (0: at epoch ends only)
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every_steps: usize,
    /// Contrastive: dimension of the joint image–text space (default 128)
    #[arg(long)]
    pub embed_dim: Option<i64>,
    /// Contrastive: width of the text tower (default 256)
    #[arg(long)]
    pub text_width: Option<i64>,
    /// Contrastive: tokens per caption, longer captions truncated with a warning (default 32)
    #[arg(long)]
    pub context: Option<usize>,
    /// Contrastive: initial temperature, learned (default 0.07)
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Contrastive: zero-shot prompt template with {} for the class name (repeatable)
    #[arg(long = "prompt")]
    pub prompts: Vec<String>,
    /// libtorch CPU threads (default: libtorch's choice)
    #[arg(long)]
    pub threads: Option<i32>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl Spec for PretrainArgs {
    fn to_args(&self) -> Vec<String> {
        Args::new()
            .value("--train", self.train.display())
            .opt("--test", self.test.as_ref().map(|p| p.display()))
            .value("--objective", spelling(&self.objective))
            .value("--arch", self.arch)
            .value("--epochs", self.epochs)
            .value("--out", self.out.display())
            .value("--device", self.device)
            .value("--seed", self.seed)
            .switch("--resume", self.resume)
            .value("--batch-size", self.batch_size)
            .opt("--lr", self.lr)
            .opt("--momentum", self.momentum)
            .switch("--no-nesterov", self.no_nesterov)
            .opt("--weight-decay", self.weight_decay)
            .value("--warmup-epochs", self.warmup_epochs)
            .opt("--label-smoothing", self.label_smoothing)
            .value("--crop-padding", self.crop_padding)
            .switch("--no-flip", self.no_flip)
            .value("--color-jitter", self.color_jitter)
            .opt("--input-size", self.input_size)
            .switch("--resize", self.resize)
            .value("--train-split", &self.train_split)
            .value("--test-split", &self.test_split)
            .switch("--amp", self.amp)
            .value("--precision", spelling(&self.precision))
            .value("--checkpoint-every-steps", self.checkpoint_every_steps)
            .opt("--embed-dim", self.embed_dim)
            .opt("--text-width", self.text_width)
            .opt("--context", self.context)
            .opt("--temperature", self.temperature)
            .each("--prompt", &self.prompts)
            .opt("--threads", self.threads)
            .verbosity(self.verbosity)
            .finish()
    }
}

impl PretrainArgs {
    /// `arch` trained on `train` for `epochs` into `out`, every other flag at its default.
    pub fn new(train: &str, arch: Arch, epochs: usize, out: &str) -> PretrainArgs {
        PretrainArgs {
            train: train.into(),
            test: None,
            objective: Objective::Supervised,
            arch,
            epochs,
            out: out.into(),
            device: DeviceSpec::Auto,
            seed: 0,
            resume: false,
            batch_size: 128,
            lr: None,
            momentum: None,
            no_nesterov: false,
            weight_decay: None,
            warmup_epochs: 1.0,
            label_smoothing: None,
            crop_padding: 4,
            no_flip: false,
            color_jitter: 0.0,
            input_size: None,
            resize: false,
            train_split: "train".to_owned(),
            test_split: "test".to_owned(),
            amp: false,
            precision: Precision::Fp32,
            checkpoint_every_steps: 0,
            embed_dim: None,
            text_width: None,
            context: None,
            temperature: None,
            prompts: Vec::new(),
            threads: None,
            verbosity: Verbosity::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_round_trips() {
        let mut full = PretrainArgs::new("n.parquet", Arch::PreActResNet18, 60, "pretrain/s0 x");
        full.test = Some("t.parquet".into());
        full.objective = Objective::Contrastive;
        full.device = DeviceSpec::Cuda(1);
        full.seed = 3;
        full.resume = true;
        full.batch_size = 256;
        full.lr = Some(0.05);
        full.momentum = Some(0.8);
        full.no_nesterov = true;
        full.weight_decay = Some(1e-4);
        full.warmup_epochs = 0.5;
        full.label_smoothing = Some(0.1);
        full.crop_padding = 0;
        full.no_flip = true;
        full.color_jitter = 0.4;
        full.input_size = Some(64);
        full.resize = true;
        full.train_split = "dev".to_owned();
        full.test_split = "val".to_owned();
        full.amp = true;
        full.precision = Precision::Auto;
        full.checkpoint_every_steps = 50;
        full.embed_dim = Some(64);
        full.text_width = Some(128);
        full.context = Some(16);
        full.temperature = Some(0.1);
        full.prompts = vec!["a photo of a {}".to_owned(), "a {}".to_owned()];
        full.threads = Some(2);
        full.verbosity = Verbosity::QUIET;
        for value in [PretrainArgs::new("a", Arch::Small, 1, "o"), full] {
            assert_eq!(PretrainArgs::from_args(&value.to_args()).unwrap(), value);
        }
    }
}
