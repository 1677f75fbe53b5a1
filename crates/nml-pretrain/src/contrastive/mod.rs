//! Contrastive (CLIP-style) image–text pre-training on a manifest's `text`
//! captions: an image tower (any [`Arch`], its classifier head being the
//! projection to the joint space), a text tower (a word-level vocabulary
//! built from the training captions, bag-of-tokens embedding mean, layer
//! norm and a two-layer MLP), symmetric InfoNCE with a learnable
//! temperature, AdamW with warm-up and cosine decay, and zero-shot
//! classification from class-name prompts.
//!
//! The loop is [`crate::fit`]'s; this module is the objective. Output
//! folder, as supervised pre-training:
//! - `config.json`, `metrics.csv`, `resume.safetensors` (weights of both
//!   towers, AdamW moments and the loop position);
//! - `model.safetensors` + `model.json`: the image tower alone under the
//!   architecture's reference names (the head is the projection), so
//!   `nml-features extract` reads it like a supervised backbone;
//! - `text.safetensors`: the text tower and the temperature, with the
//!   vocabulary in its description.
//!
//! Caption noise (`nml-noise --kind caption-swap`) needs nothing special:
//! training sees the manifest's `text`; zero-shot accuracy is measured on
//! the test split against the clean labels.

mod tower;
mod vocab;

use nml_models::checkpoint;
use nml_models::Objective as Pretraining;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

pub use tower::{Clip, TextTower};
pub use vocab::{words, Vocab, PAD, UNK};

use crate::common::{Common, RunConfig};
use crate::data::Batch;
use crate::fit::{
    self, metrics_csv, test_cell, Objective, ObjectiveFields, Run, RunData, RunPaths,
};
use crate::optim::{AdamW, AdamWConfig};
use crate::{Named, PretrainError, Result};

pub use nml_core::model::{
    ContrastiveConfig, ContrastiveMetrics, ModelInfo, Record, CONTRASTIVE_FORMAT,
};

/// `config`'s first problem as an error.
fn validate(config: &ContrastiveConfig) -> Result<()> {
    config
        .problem()
        .map_or(Ok(()), |p| Err(PretrainError::Config(p)))
}

/// Key namespace of contrastive runs.
const NAMESPACE: &str = "nml-pretrain/contrastive";

/// Trains (or resumes, or finds finished) a contrastive run; returns `model.json`.
pub fn train_contrastive(
    config: &ContrastiveConfig,
    paths: &RunPaths,
    device: Device,
    resume: bool,
) -> Result<ModelInfo> {
    validate(config)?;
    fit::train(config, paths, device, resume, |run, data| {
        let captions = data.manifest.text.as_ref().map(|t| {
            data.train_rows
                .iter()
                .map(|&r| t[r].as_str())
                .collect::<Vec<_>>()
        });
        let vocab = Vocab::build(captions.unwrap_or_default().into_iter(), config.max_vocab);
        let (tokens, truncated) = vocab::tokenize_rows(
            &data.manifest,
            &data.train_rows,
            &vocab,
            config.context,
            &paths.train,
        )?;
        if truncated > 0 {
            tracing::warn!(
                train = %paths.train.display(),
                truncated,
                context = config.context,
                "captions longer than the context were truncated (raise --context to keep them whole)"
            );
        }
        let record = ObjectiveFields {
            objective: Some(Pretraining::Contrastive),
            vocab_size: Some(vocab.len()),
        };
        let objective = Contrastive {
            config,
            run,
            data,
            vocab,
            tokens,
            truncated,
        };
        Ok((objective, record))
    })
}

/// The content hash a contrastive run is keyed by.
pub fn run_key(
    config: &ContrastiveConfig,
    train_hash: nml_core::ContentHash,
    test_hash: nml_core::ContentHash,
) -> Result<String> {
    fit::keyed(NAMESPACE, config, train_hash, test_hash)
}

/// Symmetric InfoNCE on image–caption pairs, as an [`Objective`] of the shared loop.
struct Contrastive<'a> {
    config: &'a ContrastiveConfig,
    run: Run,
    data: RunData,
    vocab: Vocab,
    /// Token ids of the training rows' captions, `[N, context]`.
    tokens: Tensor,
    truncated: usize,
}

impl RunConfig for ContrastiveConfig {
    const NAMESPACE: &'static str = NAMESPACE;
    const ALSO: &'static [&'static str] = &["text.safetensors"];

    fn common(&self) -> &Common {
        &self.common
    }

    fn arch(&self) -> crate::Arch {
        self.arch
    }
}

impl Objective for Contrastive<'_> {
    type Config = ContrastiveConfig;
    type Model = Clip;
    type Optimizer = AdamW;
    type Metrics = ContrastiveMetrics;
    type Info = ModelInfo;

    fn config(&self) -> &ContrastiveConfig {
        self.config
    }

    fn peak_lr(&self) -> (f64, f64) {
        (self.config.lr, self.config.warmup_epochs)
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

    fn build(&self, vs: &VarStore) -> Clip {
        Clip::new(vs, self.config, self.vocab.len() as i64)
    }

    fn optimizer(&self, trainable: Named) -> AdamW {
        let config = AdamWConfig {
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            weight_decay: self.config.weight_decay,
        };
        // Decay matrices and kernels only: not biases, norms or the temperature.
        AdamW::new(config, trainable, |name, t| {
            t.dim() >= 2 && name != "logit_scale"
        })
    }

    fn forward(&self, clip: &Clip, batch: &Batch, compute: nml_torch::Compute) -> (Tensor, Tensor) {
        let tokens = self
            .tokens
            .index_select(0, &batch.rows)
            .to_device(self.run.device);
        clip.loss(&batch.x, &tokens, compute)
    }

    /// In-batch image→text retrieval hits: row i's caption is column i.
    fn hits(&self, _: &Batch, logits: &Tensor) -> Vec<Tensor> {
        let n = logits.size()[0];
        let targets = Tensor::arange(n, (Kind::Int64, logits.device()));
        vec![logits
            .argmax(-1, false)
            .eq_tensor(&targets)
            .sum(Kind::Int64)]
    }

    fn metrics(&self, clip: &Clip, epoch: usize, lr: f64, r: &fit::Running) -> ContrastiveMetrics {
        let (data, config, device) = (&self.data, self.config, self.run.device);
        let test_acc = (!data.test_set.is_empty()).then(|| {
            let classes = clip.class_embeddings(
                &self.vocab,
                &data.manifest.class_names,
                &config.prompts,
                config.context,
                device,
            );
            clip.zero_shot(&data.test_set, &classes, data.normalize, device)
        });
        ContrastiveMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: r.loss(),
            train_retrieval_acc: r.rate(0),
            test_acc,
            temperature: 1.0 / clip.scale().double_value(&[]),
            images_per_sec: r.images_per_sec(),
            seconds: r.seconds,
        }
    }

    fn describe(&self, m: &ContrastiveMetrics) -> String {
        format!(
            "epoch {}/{}: loss {:.4}, in-batch retrieval {:.4}, zero-shot {}, τ {:.4}, {:.0} img/s",
            m.epoch,
            self.config.common.epochs,
            m.train_loss,
            m.train_retrieval_acc,
            test_cell(m.test_acc, "-", 4),
            m.temperature,
            m.images_per_sec
        )
    }

    fn csv(&self, history: &[ContrastiveMetrics]) -> String {
        metrics_csv(
            "epoch,lr,train_loss,train_retrieval_acc,zero_shot_acc,temperature,images_per_sec,seconds",
            history,
            |m| {
                format!(
                    "{},{:.6e},{:.6},{:.6},{},{:.6},{:.1},{:.3}",
                    m.epoch,
                    m.lr,
                    m.train_loss,
                    m.train_retrieval_acc,
                    test_cell(m.test_acc, "", 6),
                    m.temperature,
                    m.images_per_sec,
                    m.seconds
                )
            },
        )
    }

    /// `text.safetensors` (text tower, temperature, vocabulary) and
    /// `model.safetensors` (the image tower alone under its reference names).
    fn save(
        &self,
        vs: &VarStore,
        key: String,
        metrics: Vec<ContrastiveMetrics>,
    ) -> Result<ModelInfo> {
        let (config, manifest, out) = (self.config, &self.data.manifest, &self.run.paths.out);
        let info = ModelInfo {
            arch: config.arch,
            classes: config.embed_dim as usize,
            class_names: manifest.class_names.clone(),
            input_size: config.common.input_size,
            feature_dim: config.arch.feature_dim(),
            normalize: self.data.normalize,
            seed: config.common.seed,
            train_manifest: self.run.paths.train.display().to_string(),
            train_manifest_hash: self.run.train_hash.to_hex(),
            noise: self.data.noise.clone(),
            key,
            record: Record::Contrastive {
                config: config.clone(),
                metrics,
                embed_dim: config.embed_dim,
                vocab_size: self.vocab.len(),
                truncated_captions: self.truncated,
            },
        };
        let (text_vars, image_vars): (Vec<_>, Vec<_>) = checkpoint::named_variables(vs)
            .into_iter()
            .partition(|(n, _)| n.starts_with("text.") || n == "logit_scale");
        checkpoint::save(
            &out.join("text.safetensors"),
            &text_vars,
            &serde_json::json!({
                "vocab": self.vocab.words,
                "context": config.context,
                "text_width": config.text_width,
                "embed_dim": config.embed_dim,
                "prompts": config.prompts,
            }),
        )?;
        checkpoint::save(
            &out.join("model.safetensors"),
            &image_vars,
            &serde_json::to_value(&info)?,
        )?;
        Ok(info)
    }
}
