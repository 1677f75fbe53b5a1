//! Supervised pre-training: cross-entropy on the labels training sees
//! (`noisy_label` when the manifest has it, else `label`), SGD with the
//! warm-up + cosine schedule, and accuracy against the clean labels too.
//! The loop itself is [`crate::fit`]'s.

use nml_models::checkpoint;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::common::{Common, RunConfig};
use crate::data::{self, Batch, ImageSet, Normalize};
use crate::fit::{self, metrics_csv, test_cell, Objective, Run, RunData, RunPaths};
use crate::models::{Arch, Net};
use crate::optim::{Sgd, SgdConfig};
use crate::{Named, PretrainError, Result};

/// Everything that determines the trained weights.
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

    fn validate(&self) -> Result<()> {
        let problem = self
            .common
            .problem(self.arch, self.sgd.lr, "BatchNorm")
            .or_else(|| {
                (!(0.0..1.0).contains(&self.label_smoothing)).then(|| {
                    format!(
                        "--label-smoothing {} is outside [0, 1)",
                        self.label_smoothing
                    )
                })
            });
        problem.map_or(Ok(()), |p| Err(PretrainError::Config(p)))
    }
}

/// One finished epoch.
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

/// What `model.json` records about a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub format: String,
    pub arch: Arch,
    pub classes: usize,
    pub class_names: Vec<String>,
    pub input_size: u32,
    pub feature_dim: i64,
    pub normalize: Normalize,
    pub config: TrainConfig,
    pub seed: u64,
    pub train_manifest: String,
    pub train_manifest_hash: String,
    /// The noise summary the training manifest carries (`nml.noise`), if any.
    pub noise: Option<serde_json::Value>,
    pub key: String,
    pub metrics: Vec<EpochMetrics>,
}

/// Format tag of `model.json`.
pub const MODEL_FORMAT: &str = "nml-pretrain/1";

/// Key namespace of supervised runs.
const NAMESPACE: &str = "nml-pretrain/train";

/// Trains (or resumes, or finds finished) the run `config` on `paths`; returns `model.json`.
pub fn train(
    config: &TrainConfig,
    paths: &RunPaths,
    device: Device,
    resume: bool,
) -> Result<ModelInfo> {
    config.validate()?;
    fit::train(config, paths, device, resume, |run, data| {
        let record = serde_json::json!({ "config": config });
        Ok((Supervised { config, run, data }, record))
    })
}

/// The content hash a run is keyed by (for callers that want to find it).
pub fn run_key(
    config: &TrainConfig,
    train_hash: nml_core::ContentHash,
    test_hash: nml_core::ContentHash,
) -> Result<String> {
    fit::keyed(NAMESPACE, config, train_hash, test_hash)
}

/// Cross-entropy on class labels, as an [`Objective`] of the shared loop.
struct Supervised<'a> {
    config: &'a TrainConfig,
    run: Run,
    data: RunData,
}

impl RunConfig for TrainConfig {
    const NAMESPACE: &'static str = NAMESPACE;
    const ALSO: &'static [&'static str] = &[];

    fn common(&self) -> &Common {
        &self.common
    }
}

impl Objective for Supervised<'_> {
    type Config = TrainConfig;
    type Model = Net;
    type Optimizer = Sgd;
    type Metrics = EpochMetrics;
    type Info = ModelInfo;

    fn config(&self) -> &TrainConfig {
        self.config
    }

    fn peak_lr(&self) -> (f64, f64) {
        (self.config.sgd.lr, self.config.sgd.warmup_epochs)
    }

    fn run(&self) -> &Run {
        &self.run
    }

    fn data(&self) -> &RunData {
        &self.data
    }

    fn key(info: &ModelInfo) -> &str {
        &info.key
    }

    fn build(&self, vs: &VarStore) -> Net {
        let classes = self.data.manifest.num_classes() as i64;
        Net::new(&vs.root(), self.config.arch, classes)
    }

    fn optimizer(&self, trainable: Named) -> Sgd {
        Sgd::new(self.config.sgd, trainable)
    }

    fn forward(&self, net: &Net, batch: &Batch, amp: bool) -> (Tensor, Tensor) {
        let logits = nml_torch::autocast(amp, || net.logits(&batch.x, true));
        let loss = logits.to_kind(Kind::Float).cross_entropy_loss::<Tensor>(
            &batch.labels,
            None,
            tch::Reduction::Mean,
            -100,
            self.config.label_smoothing,
        );
        (loss, logits)
    }

    /// Hits against the labels training sees, then against the clean labels.
    fn hits(&self, batch: &Batch, logits: &Tensor) -> Vec<Tensor> {
        let predicted = logits.argmax(-1, false);
        vec![
            predicted.eq_tensor(&batch.labels).sum(Kind::Int64),
            predicted.eq_tensor(&batch.clean).sum(Kind::Int64),
        ]
    }

    fn metrics(&self, net: &Net, epoch: usize, lr: f64, r: &fit::Running) -> EpochMetrics {
        let test = &self.data.test_set;
        let test_acc =
            (!test.is_empty()).then(|| accuracy(net, test, self.data.normalize, self.run.device));
        EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: r.loss(),
            train_acc_noisy: r.rate(0),
            train_acc_clean: r.rate(1),
            test_acc,
            images_per_sec: r.images_per_sec(),
            seconds: r.seconds,
        }
    }

    fn describe(&self, m: &EpochMetrics) -> String {
        format!(
            "epoch {}/{}: loss {:.4}, train acc (noisy) {:.4}, train acc (clean) {:.4}, test acc {}, {:.0} img/s",
            m.epoch,
            self.config.common.epochs,
            m.train_loss,
            m.train_acc_noisy,
            m.train_acc_clean,
            test_cell(m.test_acc, "-", 4),
            m.images_per_sec
        )
    }

    fn csv(&self, history: &[EpochMetrics]) -> String {
        metrics_csv(
            "epoch,lr,train_loss,train_acc_noisy,train_acc_clean,test_acc,images_per_sec,seconds",
            history,
            |m| {
                format!(
                    "{},{:.6e},{:.6},{:.6},{:.6},{},{:.1},{:.3}",
                    m.epoch,
                    m.lr,
                    m.train_loss,
                    m.train_acc_noisy,
                    m.train_acc_clean,
                    test_cell(m.test_acc, "", 6),
                    m.images_per_sec,
                    m.seconds
                )
            },
        )
    }

    fn save(&self, vs: &VarStore, key: String, metrics: Vec<EpochMetrics>) -> Result<ModelInfo> {
        let (config, manifest, paths) = (self.config, &self.data.manifest, &self.run.paths);
        let info = ModelInfo {
            format: MODEL_FORMAT.to_owned(),
            arch: config.arch,
            classes: manifest.num_classes(),
            class_names: manifest.class_names.clone(),
            input_size: config.common.input_size,
            feature_dim: config.arch.feature_dim(),
            normalize: self.data.normalize,
            config: config.clone(),
            seed: config.common.seed,
            train_manifest: paths.train.display().to_string(),
            train_manifest_hash: self.run.train_hash.to_hex(),
            noise: self.data.noise(),
            key,
            metrics,
        };
        let description = serde_json::to_value(&info)?;
        checkpoint::save(
            &paths.out.join("model.safetensors"),
            &checkpoint::named_variables(vs),
            &description,
        )?;
        Ok(info)
    }
}

/// Top-1 accuracy of `net` in eval mode on `set`.
pub fn accuracy(net: &Net, set: &ImageSet, normalize: Normalize, device: Device) -> f64 {
    data::top1_accuracy(set, normalize, device, |x| {
        net.logits(x, false).argmax(-1, false)
    })
}
