//! Supervised pre-training: cross-entropy on the labels training sees
//! (`noisy_label` when the manifest has it, else `label`), SGD with the
//! warm-up + cosine schedule, and accuracy against the clean labels too.
//! The loop itself is [`crate::fit`]'s.

use nml_models::checkpoint;

use nml_torch::Compute;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::common::{Common, RunConfig};
use crate::data::{self, Batch, ImageSet, Normalize};
use crate::fit::{
    self, metrics_csv, test_cell, Objective, ObjectiveFields, Run, RunData, RunPaths,
};
use crate::models::Net;
use crate::optim::Sgd;
use crate::{Named, PretrainError, Result};

pub use nml_core::model::{EpochMetrics, ModelInfo, Record, TrainConfig, MODEL_FORMAT};

/// `config`'s first problem as an error.
fn validate(config: &TrainConfig) -> Result<()> {
    config
        .problem()
        .map_or(Ok(()), |p| Err(PretrainError::Config(p)))
}

/// Key namespace of supervised runs.
const NAMESPACE: &str = "nml-pretrain/train";

/// Trains (or resumes, or finds finished) the run `config` on `paths`; returns `model.json`.
pub fn train(
    config: &TrainConfig,
    paths: &RunPaths,
    device: Device,
    resume: bool,
) -> Result<ModelInfo> {
    validate(config)?;
    fit::train(config, paths, device, resume, |run, data| {
        Ok((Supervised { config, run, data }, ObjectiveFields::default()))
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

    fn arch(&self) -> crate::Arch {
        self.arch
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

    fn forward(&self, net: &Net, batch: &Batch, compute: Compute) -> (Tensor, Tensor) {
        let logits =
            nml_torch::autocast_on(batch.x.device(), compute, || net.logits(&batch.x, true));
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
            arch: config.arch,
            classes: manifest.num_classes(),
            class_names: manifest.class_names.clone(),
            input_size: config.common.input_size,
            feature_dim: config.arch.feature_dim(),
            normalize: self.data.normalize,
            seed: config.common.seed,
            train_manifest: paths.train.display().to_string(),
            train_manifest_hash: self.run.train_hash.to_hex(),
            noise: self.data.noise.clone(),
            key,
            record: Record::Supervised {
                config: config.clone(),
                metrics,
            },
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
