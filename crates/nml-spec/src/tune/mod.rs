//! `nml-tune`: its arguments (train and evaluate, `predict`, `fit`), and the
//! head methods it trains.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::{Arch, Args, AugmentKind, Denormals, DeviceSpec, Embedding, Spec, Verbosity};

/// Which head is tuned on the frozen features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Linear probing: a linear classifier on the frozen features.
    Lp,
    /// The NMTune architecture trained with cross-entropy only.
    Mlp,
    /// MLP plus the consistency, covariance and dominant-singular-value regularisers.
    Nmtune,
}

spellings!(Method, "method", { Lp => "lp", Mlp => "mlp", Nmtune => "nmtune" });

/// How `nml-tune` evaluates frozen features: one trained head, the k-NN
/// classifier (no training), or `auto`: LP, MLP and NMTune each selected on
/// validation rows from its default grid, the best kept and refit on
/// training + validation rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Lp,
    Mlp,
    Nmtune,
    Knn,
    Auto,
}

spellings!(Protocol, "method", {
    Lp => "lp", Mlp => "mlp", Nmtune => "nmtune", Knn => "knn", Auto => "auto",
});

impl Protocol {
    /// The one head it trains, if it names one.
    pub fn head(self) -> Option<Method> {
        match self {
            Protocol::Lp => Some(Method::Lp),
            Protocol::Mlp => Some(Method::Mlp),
            Protocol::Nmtune => Some(Method::Nmtune),
            Protocol::Knn | Protocol::Auto => None,
        }
    }

    /// The name in the report's tables.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Knn => "k-NN",
            Protocol::Auto => "auto",
            head => head.head().map_or("", Method::label),
        }
    }
}

impl From<Method> for Protocol {
    fn from(method: Method) -> Protocol {
        match method {
            Method::Lp => Protocol::Lp,
            Method::Mlp => Protocol::Mlp,
            Method::Nmtune => Protocol::Nmtune,
        }
    }
}

/// The neighbour counts `--method knn` scores by default (DINOv2's 10 and 20).
pub const KNN_KS: [usize; 2] = [10, 20];

impl Method {
    /// The name in the report's tables and figures.
    pub fn label(self) -> &'static str {
        match self {
            Method::Lp => "LP",
            Method::Mlp => "MLP",
            Method::Nmtune => "NMTune",
        }
    }
}

/// Train a head on frozen features and evaluate it on named tables.
///
/// --two-view trains as the official loop does: every step, each row's two
/// distinct cached augmented views (weak, strong; `nml-features extract
/// --views K`) go through the head as one 2B-row batch. --encoder CKPT
/// --manifest M runs the backbone in the loop on fresh augmentations instead
/// (the exact method, slow). Evaluation always uses the eval view.
///
/// lp: a linear classifier (defaults lr 0.01). mlp: NMTune's MLP with the
/// residual z = s*h(f) + f, cross-entropy only. nmtune: the same plus
/// consistency (1.0), covariance (0.04) and dominant-singular-value (0.001,
/// top-5) terms. AdamW (wd 1e-4), batch 64, 30 epochs, per-step cosine decay:
/// the official README's values. Writes OUT/results.parquet (a row per seed
/// and eval set: accuracy, SVE and LSVR of z) and OUT/summary.json (mean and
/// std over seeds).
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "nml-tune",
    version,
    verbatim_doc_comment,
    allow_negative_numbers = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct TuneArgs {
    #[command(subcommand)]
    pub command: Option<TuneCommand>,
    /// Training feature table (rows of --train-split)
    #[arg(long, required_unless_present = "encoder", conflicts_with = "encoder")]
    pub train: Option<PathBuf>,
    /// Two augmented views per step from the training table's cached views (the official loop)
    #[arg(long)]
    pub two_view: bool,
    /// Run this backbone (nml-pretrain output) in the loop on fresh augmentations of --manifest
    #[arg(long, requires = "manifest")]
    pub encoder: Option<PathBuf>,
    /// With --encoder: the manifest whose images to train on
    #[arg(long, requires = "encoder")]
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub encoder_args: EncoderArgs,
    /// Split of the training table to train on (`all`: every row)
    #[arg(long, default_value = "train")]
    pub train_split: String,
    /// Only train on rows of this domain (the source domain; others are then OOD)
    #[arg(long)]
    pub train_domain: Option<String>,
    /// Train on this manifest's labels (`noisy_label`, else `label`), matched by split and index,
    /// e.g. the task manifest after nml-noise corrupted its train split; the evals keep their own
    #[arg(long, requires = "train")]
    pub train_labels: Option<PathBuf>,
    /// Evaluation tables, NAME=PATH[:SPLIT[:DOMAIN]] (default split: test), repeatable
    #[arg(long = "eval", required = true)]
    pub evals: Vec<String>,
    /// lp, mlp or nmtune (a head); knn (cosine k-NN on the training rows, DINOv2's
    /// temperature-weighted votes); auto (LP, MLP and NMTune each chosen on the
    /// validation rows from its default grid, the best refit on training + validation)
    #[arg(long, required = true)]
    pub method: Option<Protocol>,
    /// With --method knn: the neighbour counts, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "10,20")]
    pub knn_k: Vec<usize>,
    /// With --method auto: keep the heads trained without the validation rows (no refit)
    #[arg(long)]
    pub no_refit: bool,
    /// Validation rows: this split of the training table (same domain)
    #[arg(long, conflicts_with = "val_fraction")]
    pub val_split: Option<String>,
    /// Validation rows: this fraction of each class's training rows, drawn with the first seed
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// A grid KEY=V1,V2,... (lr, wd, mse-weight, cov-weight, svd-weight, svd-topk, epochs, batch-size), repeatable:
    /// every combination is trained and the best mean validation accuracy is kept (needs --val-split or --val-fraction;
    /// without --grid these search the default grid, as `fit`: LP 1e-3,1e-2,1e-1 × 0,1e-4,1e-2; MLP/NMTune 1e-4,1e-3,1e-2 × 1e-4,1e-2)
    #[arg(long = "grid")]
    pub grids: Vec<String>,
    /// Epochs
    #[arg(long, default_value_t = TuneArgs::EPOCHS)]
    pub epochs: usize,
    /// Batch size
    #[arg(long, default_value_t = TuneArgs::BATCH_SIZE)]
    pub batch_size: usize,
    /// Peak learning rate (default: 0.01 for lp, 1e-3 otherwise)
    #[arg(long)]
    pub lr: Option<f64>,
    /// AdamW weight decay
    #[arg(long, default_value_t = TuneArgs::WEIGHT_DECAY)]
    pub wd: f64,
    /// Consistency weight (nmtune default 1.0)
    #[arg(long)]
    pub mse_weight: Option<f64>,
    /// Covariance weight (nmtune default 0.04)
    #[arg(long)]
    pub cov_weight: Option<f64>,
    /// Dominant-singular-value weight (nmtune default 0.001)
    #[arg(long)]
    pub svd_weight: Option<f64>,
    /// How many top singular values the SVD term raises (default 5)
    #[arg(long)]
    pub svd_topk: Option<i64>,
    /// z = h(f) instead of z = s*h(f) + f
    #[arg(long)]
    pub no_residual: bool,
    /// Seeds, comma-separated: one head per seed, mean and std in the summary
    #[arg(long, default_value = "3907")]
    pub seeds: String,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// libtorch CPU threads (default: libtorch's choice); in a study, part of the step's key
    #[arg(long)]
    pub threads: Option<i32>,
    /// Subnormal floats in training: flush (to zero: fast on x86) or keep (IEEE, PyTorch's default)
    #[arg(long, default_value = "flush")]
    pub denormals: Denormals,
    /// Output folder: results.parquet, summary.json, and every head in heads/<method>-seed<k>/
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// How `--encoder` mode feeds the backbone.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct EncoderArgs {
    /// With --encoder: train transform, rrc (scale 0.8-1.0, flip) or rrc-noflip (0.9-1.0)
    #[arg(long, default_value = "rrc", requires = "encoder")]
    pub augment: AugmentKind,
    /// With --encoder: crop area range LO,HI
    #[arg(long, requires = "encoder")]
    pub augment_scale: Option<String>,
    /// With --encoder: resize images whose size differs from the backbone's input
    #[arg(long, requires = "encoder")]
    pub resize: bool,
    /// With --encoder: pooled or projection (default: projection for contrastive backbones)
    #[arg(long, requires = "encoder")]
    pub embedding: Option<Embedding>,
    /// With --encoder: the checkpoint is a published weights file of this architecture
    #[arg(long, requires = "encoder")]
    pub arch: Option<Arch>,
    /// With --encoder --arch: input normalisation, `imagenet` (default) or `M,M,M/S,S,S`
    #[arg(long, requires = "arch")]
    pub normalize: Option<String>,
    /// With --encoder --arch: input side in pixels (default: the architecture's native one)
    #[arg(long, requires = "arch")]
    pub input_size: Option<u32>,
}

impl Default for EncoderArgs {
    fn default() -> EncoderArgs {
        EncoderArgs {
            augment: AugmentKind::Rrc,
            augment_scale: None,
            resize: false,
            embedding: None,
            arch: None,
            normalize: None,
            input_size: None,
        }
    }
}

/// `nml-tune`'s subcommands.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum TuneCommand {
    /// Apply a saved head (OUT/heads/<method>-seed<k>) to new features
    Predict(PredictArgs),
    /// Fit a head on embeddings (.npy + labels, or a feature table), chosen on a validation fraction from a grid
    Fit(FitArgs),
}

/// Writes per row: index, split, predicted class id and name, the class
/// probabilities, and with --tuned-features the tuned embedding z.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct PredictArgs {
    /// A head folder written by nml-tune (head.json, head.safetensors)
    #[arg(long)]
    pub head: PathBuf,
    /// Features: an nml feature table (.parquet; its eval view) or an N×D float32 .npy
    #[arg(long)]
    pub features: PathBuf,
    /// Predictions table to write (.parquet)
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the tuned embedding z of each row
    #[arg(long)]
    pub tuned_features: bool,
    /// Apply the head to features of another backbone or embedding source than it was trained on (with a warning)
    #[arg(long)]
    pub allow_other_source: bool,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// Fit a head on embeddings and keep the one that scores best on held-out rows.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct FitArgs {
    /// Embeddings: an N×D float32 .npy (with --labels)
    #[arg(long, requires = "labels", conflicts_with = "features")]
    pub embeddings: Option<PathBuf>,
    /// The embeddings' labels, one per line in row order: class names or ids (a first line `label` is a header)
    #[arg(long, requires = "embeddings")]
    pub labels: Option<PathBuf>,
    /// Or an nml feature table (all its rows, eval view)
    #[arg(long, required_unless_present = "embeddings")]
    pub features: Option<PathBuf>,
    /// lp, mlp or nmtune; or auto: each of the three chosen on the validation fraction,
    /// the best kept and refit on every row with its settings
    #[arg(long, default_value = "nmtune")]
    pub method: Protocol,
    /// With --method auto: keep the heads trained without the validation rows (no refit)
    #[arg(long)]
    pub no_refit: bool,
    /// Fraction of each class held out for validation
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Grid KEY=V1,V2,... (repeatable); default: lr × wd (LP: 1e-3,1e-2,1e-1 × 0,1e-4,1e-2; MLP/NMTune: 1e-4,1e-3,1e-2 × 1e-4,1e-2)
    #[arg(long = "grid")]
    pub grids: Vec<String>,
    /// Epochs
    #[arg(long, default_value_t = TuneArgs::EPOCHS)]
    pub epochs: usize,
    /// Seeds, comma-separated (one head per seed; the choice is by mean validation accuracy)
    #[arg(long, default_value = "3907")]
    pub seeds: String,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Subnormal floats in training: flush (to zero: fast on x86) or keep (IEEE, PyTorch's default)
    #[arg(long, default_value = "flush")]
    pub denormals: Denormals,
    /// Output folder: heads/<method>-seed<k>/, grid.parquet, summary.json
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl TuneArgs {
    /// The official README's epochs, batch size and AdamW weight decay.
    pub const EPOCHS: usize = 30;
    pub const BATCH_SIZE: usize = 64;
    pub const WEIGHT_DECAY: f64 = 1e-4;

    /// A `method` head on the rows of `train`, evaluated on `evals`, written to
    /// `out`; every other flag at its default.
    pub fn new(
        train: impl Into<PathBuf>,
        method: impl Into<Protocol>,
        evals: Vec<String>,
        out: impl Into<PathBuf>,
    ) -> TuneArgs {
        TuneArgs {
            command: None,
            train: Some(train.into()),
            two_view: false,
            encoder: None,
            manifest: None,
            encoder_args: EncoderArgs::default(),
            train_split: "train".to_owned(),
            train_domain: None,
            train_labels: None,
            evals,
            method: Some(method.into()),
            knn_k: KNN_KS.to_vec(),
            no_refit: false,
            val_split: None,
            val_fraction: None,
            grids: Vec::new(),
            epochs: TuneArgs::EPOCHS,
            batch_size: TuneArgs::BATCH_SIZE,
            lr: None,
            wd: TuneArgs::WEIGHT_DECAY,
            mse_weight: None,
            cov_weight: None,
            svd_weight: None,
            svd_topk: None,
            no_residual: false,
            seeds: "3907".to_owned(),
            device: DeviceSpec::Auto,
            threads: None,
            denormals: Denormals::Flush,
            out: Some(out.into()),
            verbosity: Verbosity::default(),
        }
    }
}

impl Spec for TuneArgs {
    fn to_args(&self) -> Vec<String> {
        let args = match &self.command {
            Some(TuneCommand::Predict(p)) => Args::new()
                .word("predict")
                .value("--head", p.head.display())
                .value("--features", p.features.display())
                .value("--out", p.out.display())
                .switch("--tuned-features", p.tuned_features)
                .switch("--allow-other-source", p.allow_other_source)
                .value("--device", p.device)
                .verbosity(p.verbosity),
            Some(TuneCommand::Fit(f)) => Args::new()
                .word("fit")
                .opt("--embeddings", f.embeddings.as_ref().map(|p| p.display()))
                .opt("--labels", f.labels.as_ref().map(|p| p.display()))
                .opt("--features", f.features.as_ref().map(|p| p.display()))
                .value("--method", f.method)
                .switch("--no-refit", f.no_refit)
                .value("--val-fraction", f.val_fraction)
                .each("--grid", &f.grids)
                .value("--epochs", f.epochs)
                .value("--seeds", &f.seeds)
                .value("--device", f.device)
                .value("--denormals", f.denormals)
                .value("--out", f.out.display())
                .verbosity(f.verbosity),
            None => {
                let e = &self.encoder_args;
                let encoding = self.encoder.is_some();
                let args = Args::new()
                    .opt("--train", self.train.as_ref().map(|p| p.display()))
                    .switch("--two-view", self.two_view)
                    .opt("--encoder", self.encoder.as_ref().map(|p| p.display()))
                    .opt("--manifest", self.manifest.as_ref().map(|p| p.display()));
                // The encoder's flags require --encoder: rendered with it only.
                let args = if encoding {
                    args.value("--augment", e.augment)
                        .opt("--augment-scale", e.augment_scale.as_ref())
                        .switch("--resize", e.resize)
                        .opt("--embedding", e.embedding)
                        .opt("--arch", e.arch)
                        .opt("--normalize", e.normalize.as_ref())
                        .opt("--input-size", e.input_size)
                } else {
                    args
                };
                args.value("--train-split", &self.train_split)
                    .opt("--train-domain", self.train_domain.as_ref())
                    .opt(
                        "--train-labels",
                        self.train_labels.as_ref().map(|p| p.display()),
                    )
                    .each("--eval", &self.evals)
                    .opt("--method", self.method)
                    // Only where it says something: other methods' step keys stay as they were.
                    .opt(
                        "--knn-k",
                        (self.method == Some(Protocol::Knn) || self.knn_k != KNN_KS)
                            .then(|| join(&self.knn_k)),
                    )
                    .switch("--no-refit", self.no_refit)
                    .opt("--val-split", self.val_split.as_ref())
                    .opt("--val-fraction", self.val_fraction)
                    .each("--grid", &self.grids)
                    .value("--epochs", self.epochs)
                    .value("--batch-size", self.batch_size)
                    .opt("--lr", self.lr)
                    .value("--wd", self.wd)
                    .opt("--mse-weight", self.mse_weight)
                    .opt("--cov-weight", self.cov_weight)
                    .opt("--svd-weight", self.svd_weight)
                    .opt("--svd-topk", self.svd_topk)
                    .switch("--no-residual", self.no_residual)
                    .value("--seeds", &self.seeds)
                    .value("--device", self.device)
                    .opt("--threads", self.threads)
                    .value("--denormals", self.denormals)
                    .opt("--out", self.out.as_ref().map(|p| p.display()))
                    .verbosity(self.verbosity)
            }
        };
        args.finish()
    }
}

/// `10,20`: a list flag's one value.
fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
