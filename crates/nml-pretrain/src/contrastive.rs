//! Contrastive (CLIP-style) image–text pre-training on a manifest's `text`
//! captions: an image tower (any [`Arch`], its classifier head being the
//! projection to the joint space), a text tower (a word-level vocabulary
//! built from the training captions, bag-of-tokens embedding mean, layer
//! norm and a two-layer MLP), symmetric InfoNCE with a learnable
//! temperature, AdamW with warm-up and cosine decay, and zero-shot
//! classification from class-name prompts.
//!
//! Output folder, as supervised pre-training:
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

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use nml_core::{ContentHash, Manifest};
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Tensor};

use crate::checkpoint;
use crate::data::{self, Augment, ImageSet, Normalize};
use crate::models::{Arch, Net};
use crate::optim::{lr_at, AdamW, AdamWConfig};
use crate::train::{
    finished_run, keyed, load_run_data, progress_bar, read_resume, resume_path, save_resume,
    strip_prefix, RunData, RunPaths,
};
use crate::{PretrainError, Result};

/// Token id of padding.
pub const PAD: i64 = 0;
/// Token id of a word outside the vocabulary.
pub const UNK: i64 = 1;

/// Everything that determines the trained towers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContrastiveConfig {
    pub arch: Arch,
    pub epochs: usize,
    pub batch_size: usize,
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
    pub augment: Augment,
    pub input_size: u32,
    pub resize: bool,
    pub train_split: String,
    pub test_split: String,
    pub seed: u64,
    /// bf16 autocast of the image tower on CUDA.
    pub amp: bool,
    pub checkpoint_every_steps: usize,
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
            epochs,
            batch_size: 128,
            lr: 1e-3,
            weight_decay: 0.1,
            warmup_epochs: 1.0,
            embed_dim: 128,
            text_width: 256,
            context: 32,
            max_vocab: 10_000,
            init_temperature: 0.07,
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
            prompts: vec!["a photo of a {}".to_owned(), "a {}".to_owned()],
        }
    }

    fn validate(&self) -> Result<()> {
        let problem = if self.epochs == 0 {
            Some("--epochs must be at least 1".to_owned())
        } else if self.batch_size < 2 {
            Some(
                "--batch-size must be at least 2 (BatchNorm, and InfoNCE needs negatives)"
                    .to_owned(),
            )
        } else if self.input_size < self.arch.min_input() {
            Some(format!(
                "{} needs inputs of at least {}px, got {}",
                self.arch,
                self.arch.min_input(),
                self.input_size
            ))
        } else if !(self.lr > 0.0 && self.lr.is_finite()) {
            Some(format!("--lr {} must be positive", self.lr))
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
        };
        problem.map_or(Ok(()), |p| Err(PretrainError::Config(p)))
    }
}

/// Words of a caption: lower case, split at anything not alphanumeric.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A word-level vocabulary: id 0 pads, id 1 is any unknown word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    pub words: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, i64>,
}

impl Vocab {
    /// The `max` most frequent words of `captions` (ties by spelling), after `<pad>` and `<unk>`.
    pub fn build<'a>(captions: impl Iterator<Item = &'a str>, max: usize) -> Vocab {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for c in captions {
            for w in words(c) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut list = vec!["<pad>".to_owned(), "<unk>".to_owned()];
        list.extend(
            ranked
                .into_iter()
                .take(max.saturating_sub(2))
                .map(|(w, _)| w),
        );
        Vocab::from_words(list)
    }

    /// A vocabulary from its word list (as saved in `text.safetensors`).
    pub fn from_words(words: Vec<String>) -> Vocab {
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as i64))
            .collect();
        Vocab { words, index }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Token ids of `text`, padded to `context`; also whether it was truncated.
    pub fn encode(&self, text: &str, context: usize) -> (Vec<i64>, bool) {
        let mut ids: Vec<i64> = words(text)
            .map(|w| self.index.get(&w).copied().unwrap_or(UNK))
            .collect();
        let truncated = ids.len() > context;
        ids.resize(context, PAD);
        (ids, truncated)
    }
}

/// The text tower: bag-of-tokens mean, layer norm, `width → width → embed` MLP.
#[derive(Debug)]
pub struct TextTower {
    embedding: nn::Embedding,
    norm: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl TextTower {
    pub fn new(vs: &nn::Path, vocab: i64, width: i64, embed: i64) -> TextTower {
        TextTower {
            embedding: nn::embedding(
                vs / "embedding",
                vocab,
                width,
                nn::EmbeddingConfig {
                    padding_idx: PAD,
                    ..Default::default()
                },
            ),
            norm: nn::layer_norm(vs / "norm", vec![width], Default::default()),
            fc1: nn::linear(vs / "fc1", width, width, Default::default()),
            fc2: nn::linear(vs / "fc2", width, embed, Default::default()),
        }
    }

    /// # Shapes
    /// `tokens`: `[B, L]` int64 → `[B, embed]`.
    pub fn forward(&self, tokens: &Tensor) -> Tensor {
        let mask = tokens.ne(PAD).to_kind(Kind::Float).unsqueeze(-1);
        let summed =
            (self.embedding.forward(tokens) * &mask).sum_dim_intlist(1, false, Kind::Float);
        let mean = summed / mask.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
        self.norm
            .forward(&mean)
            .apply(&self.fc1)
            .gelu("none")
            .apply(&self.fc2)
    }
}

/// Rows scaled to unit L2 norm.
fn unit(x: &Tensor) -> Tensor {
    x / x
        .norm_scalaropt_dim(2, [-1i64].as_slice(), true)
        .clamp_min(1e-12)
}

/// Both towers and the temperature, on one VarStore: the image tower at the
/// root (reference names), the text tower under `text`, `logit_scale` = log 1/τ.
pub struct Clip {
    pub image: Net,
    pub text: TextTower,
    pub logit_scale: Tensor,
}

/// Largest logit scale (τ ≥ 0.01), as CLIP.
const MAX_LOGIT_SCALE: f64 = 4.605_170_185_988_092; // ln 100

impl Clip {
    pub fn new(vs: &VarStore, config: &ContrastiveConfig, vocab: i64) -> Clip {
        let root = vs.root();
        Clip {
            image: Net::new(&root, config.arch, config.embed_dim),
            text: TextTower::new(
                &(&root / "text"),
                vocab,
                config.text_width,
                config.embed_dim,
            ),
            logit_scale: root.var(
                "logit_scale",
                &[],
                nn::Init::Const((1.0 / config.init_temperature).ln()),
            ),
        }
    }

    fn scale(&self) -> Tensor {
        self.logit_scale.clamp(0.0, MAX_LOGIT_SCALE).exp()
    }

    /// Symmetric InfoNCE of a batch of pairs, and the image→text logits.
    pub fn loss(&self, images: &Tensor, tokens: &Tensor, amp: bool) -> (Tensor, Tensor) {
        let img = nml_torch::autocast(amp, || self.image.logits(images, true)).to_kind(Kind::Float);
        let txt = self.text.forward(tokens);
        let logits = unit(&img).matmul(&unit(&txt).tr()) * self.scale();
        let n = logits.size()[0];
        let targets = Tensor::arange(n, (Kind::Int64, logits.device()));
        let ce = |l: &Tensor| {
            l.cross_entropy_loss::<Tensor>(&targets, None, tch::Reduction::Mean, -100, 0.0)
        };
        let loss = (ce(&logits) + ce(&logits.tr())) / 2.0;
        (loss, logits)
    }

    /// Unit class embeddings `[C, E]` from `prompts` filled with `class_names`.
    pub fn class_embeddings(
        &self,
        vocab: &Vocab,
        class_names: &[String],
        prompts: &[String],
        context: usize,
        device: Device,
    ) -> Tensor {
        let _guard = tch::no_grad_guard();
        let mut ids = Vec::new();
        for name in class_names {
            for p in prompts {
                ids.extend(vocab.encode(&p.replace("{}", name), context).0);
            }
        }
        let (c, t) = (class_names.len() as i64, prompts.len() as i64);
        let tokens = Tensor::from_slice(&ids)
            .view([c * t, context as i64])
            .to_device(device);
        let e = unit(&self.text.forward(&tokens)).view([c, t, -1]);
        unit(&e.mean_dim([1i64].as_slice(), false, Kind::Float))
    }

    /// Zero-shot top-1 accuracy on `set` (eval mode) against its clean labels.
    pub fn zero_shot(
        &self,
        set: &ImageSet,
        classes: &Tensor,
        normalize: Normalize,
        device: Device,
    ) -> f64 {
        let _guard = tch::no_grad_guard();
        let n = set.len() as i64;
        let mut correct = 0i64;
        for start in (0..n).step_by(512) {
            let len = (n - start).min(512);
            let x = set.images.narrow(0, start, len).to_kind(Kind::Float) / 255.0;
            let x = normalize.apply(&x).to_device(device);
            let img = unit(&self.image.logits(&x, false).to_kind(Kind::Float));
            let predicted = img
                .matmul(&classes.tr())
                .argmax(-1, false)
                .to_device(Device::Cpu);
            correct += predicted
                .eq_tensor(&set.clean.narrow(0, start, len))
                .sum(Kind::Int64)
                .int64_value(&[]);
        }
        correct as f64 / n.max(1) as f64
    }
}

/// One finished epoch.
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Running {
    loss_sum: f64,
    correct: i64,
    seen: i64,
    seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ResumeState {
    key: String,
    epoch: usize,
    step: usize,
    optimizer_steps: u64,
    running: Running,
    history: Vec<ContrastiveMetrics>,
}

/// What `model.json` records about a finished contrastive run. `classes` is
/// the joint-space dimension (rows of the image tower's projection head), so
/// feature extraction builds the same network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContrastiveInfo {
    pub format: String,
    pub objective: String,
    pub arch: Arch,
    pub classes: usize,
    /// Class names of the training manifest (the zero-shot classes).
    pub class_names: Vec<String>,
    pub input_size: u32,
    pub feature_dim: i64,
    pub embed_dim: i64,
    pub vocab_size: usize,
    pub normalize: Normalize,
    pub config: ContrastiveConfig,
    pub seed: u64,
    pub train_manifest: String,
    pub train_manifest_hash: String,
    pub noise: Option<serde_json::Value>,
    /// Captions longer than the context, truncated.
    pub truncated_captions: usize,
    pub key: String,
    pub metrics: Vec<ContrastiveMetrics>,
}

/// Format tag of a contrastive `model.json`.
pub const CONTRASTIVE_FORMAT: &str = "nml-pretrain-contrastive/1";

/// Token ids `[N, context]` of the captions of `rows`; errors name the file
/// and row of a missing or empty caption; counts truncated ones.
fn tokenize_rows(
    manifest: &Manifest,
    rows: &[usize],
    vocab: &Vocab,
    context: usize,
    path: &Path,
) -> Result<(Tensor, usize)> {
    let text = manifest.text.as_ref().ok_or_else(|| {
        PretrainError::Data(format!(
            "{}: no `text` column: contrastive pre-training needs an image–text manifest \
             (nml-data synth writes captions; `nml-data import parquet --caption-template` makes them from class names)",
            path.display()
        ))
    })?;
    let mut ids = Vec::with_capacity(rows.len() * context);
    let mut truncated = 0;
    for &r in rows {
        if words(&text[r]).next().is_none() {
            return Err(PretrainError::Data(format!(
                "{}: row {r} (index {}) has an empty caption",
                path.display(),
                manifest.index[r]
            )));
        }
        let (t, cut) = vocab.encode(&text[r], context);
        truncated += usize::from(cut);
        ids.extend(t);
    }
    let tensor = Tensor::from_slice(&ids).view([rows.len() as i64, context as i64]);
    Ok((tensor, truncated))
}

/// Trains (or resumes, or finds finished) a contrastive run; returns `model.json`.
pub fn train_contrastive(
    config: &ContrastiveConfig,
    paths: &RunPaths,
    device: Device,
    resume: bool,
) -> Result<ContrastiveInfo> {
    config.validate()?;
    nml_torch::configure_threads(None);
    let train_hash = nml_core::hash_file(&paths.train)?;
    let test_path = paths.test.clone().unwrap_or_else(|| paths.train.clone());
    let test_hash = nml_core::hash_file(&test_path)?;
    let key = run_key(config, train_hash, test_hash)?;
    let model_json = paths.out.join("model.json");
    if let Some(info) = finished_run(
        &paths.out,
        &key,
        |i: &ContrastiveInfo| &i.key,
        &["text.safetensors"],
    ) {
        return Ok(info);
    }
    let resume_path = resume_path(&paths.out, resume)?;
    let RunData {
        manifest,
        train_rows,
        train_set,
        test_set,
        normalize,
    } = load_run_data(
        paths,
        &config.train_split,
        &config.test_split,
        config.input_size,
        config.resize,
    )?;
    let captions = manifest.text.as_ref().map(|t| {
        train_rows
            .iter()
            .map(|&r| t[r].as_str())
            .collect::<Vec<_>>()
    });
    let vocab = Vocab::build(captions.unwrap_or_default().into_iter(), config.max_vocab);
    let (tokens, truncated) =
        tokenize_rows(&manifest, &train_rows, &vocab, config.context, &paths.train)?;
    if truncated > 0 {
        tracing::warn!(
            train = %paths.train.display(),
            truncated,
            context = config.context,
            "captions longer than the context were truncated (raise --context to keep them whole)"
        );
    }
    std::fs::create_dir_all(&paths.out)
        .map_err(|e| PretrainError::Data(format!("{}: {e}", paths.out.display())))?;
    let run_record = serde_json::json!({
        "objective": "contrastive",
        "config": config,
        "train": paths.train.display().to_string(),
        "train_hash": train_hash.to_hex(),
        "test": test_path.display().to_string(),
        "test_hash": test_hash.to_hex(),
        "vocab_size": vocab.len(),
        "key": key,
    });
    nml_core::write_json_atomic(paths.out.join("config.json"), &run_record)?;

    let _rng = nml_torch::rng_lock();
    nml_torch::seed(config.seed);
    let vs = VarStore::new(device);
    let clip = Clip::new(&vs, config, vocab.len() as i64);
    drop(_rng);
    let trainable: Vec<(String, Tensor)> = checkpoint::named_variables(&vs)
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let mut opt = AdamW::new(
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.98,
            eps: 1e-6,
            weight_decay: config.weight_decay,
        },
        trainable,
        // Decay matrices and kernels only: not biases, norms or the temperature.
        |name, t| t.dim() >= 2 && name != "logit_scale",
    );
    let mut state = ResumeState {
        key: key.clone(),
        epoch: 0,
        step: 0,
        optimizer_steps: 0,
        running: Running::default(),
        history: Vec::new(),
    };
    if resume && resume_path.exists() {
        let (saved, weights, rest) =
            read_resume(&resume_path, &key, |s: &ResumeState| s.key.as_str())?;
        checkpoint::load_into(&vs, &weights, &resume_path)?;
        opt.load_state(strip_prefix(rest, "adamw."), saved.optimizer_steps)
            .map_err(|e| PretrainError::Checkpoint(format!("{}: {e}", resume_path.display())))?;
        tracing::info!(epoch = saved.epoch, step = saved.step, "resuming");
        state = saved;
    }

    let steps = data::steps_per_epoch(train_set.len(), config.batch_size);
    let total_steps = steps * config.epochs;
    let warmup = (config.warmup_epochs * steps as f64).round() as usize;
    let amp = config.amp && device.is_cuda();
    let bar = progress_bar(total_steps, state.epoch * steps + state.step);
    while state.epoch < config.epochs {
        let epoch = state.epoch;
        let loader = data::epoch_loader(
            &train_set,
            epoch,
            state.step,
            config.seed,
            config.batch_size,
            config.augment.clone(),
            normalize,
            device,
        );
        let mut clock = Instant::now();
        let mut lr = 0.0;
        let zero = |kind| Tensor::zeros([], (kind, device));
        let (mut loss_sum, mut correct, mut seen) = (zero(Kind::Double), zero(Kind::Int64), 0i64);
        for batch in loader {
            let global = epoch * steps + batch.step;
            lr = lr_at(config.lr, global, warmup, total_steps);
            let batch_tokens = tokens.index_select(0, &batch.rows).to_device(device);
            let (loss, logits) = clip.loss(&batch.x, &batch_tokens, amp);
            opt.backward_step(&loss, lr);
            {
                let _guard = tch::no_grad_guard();
                let n = logits.size()[0];
                let hits = logits
                    .argmax(-1, false)
                    .eq_tensor(&Tensor::arange(n, (Kind::Int64, device)))
                    .sum(Kind::Int64);
                let _ = correct.g_add_(&hits);
                let _ = loss_sum.g_add_(&(loss.detach().to_kind(Kind::Double) * n as f64));
                seen += n;
            }
            state.step = batch.step + 1;
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            let every = config.checkpoint_every_steps;
            if every > 0 && state.step.is_multiple_of(every) && state.step < steps {
                flush(&mut state.running, &mut loss_sum, &mut correct, &mut seen);
                state.running.seconds += clock.elapsed().as_secs_f64();
                clock = Instant::now();
                state.optimizer_steps = opt.steps;
                save_resume(&resume_path, &vs, "adamw", opt.state(), &state)?;
            }
        }
        flush(&mut state.running, &mut loss_sum, &mut correct, &mut seen);
        state.running.seconds += clock.elapsed().as_secs_f64();
        let test_acc = (!test_set.is_empty()).then(|| {
            let classes = clip.class_embeddings(
                &vocab,
                &manifest.class_names,
                &config.prompts,
                config.context,
                device,
            );
            clip.zero_shot(&test_set, &classes, normalize, device)
        });
        let r = std::mem::take(&mut state.running);
        let metrics = ContrastiveMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: r.loss_sum / r.seen.max(1) as f64,
            train_retrieval_acc: r.correct as f64 / r.seen.max(1) as f64,
            test_acc,
            temperature: 1.0 / clip.scale().double_value(&[]),
            images_per_sec: r.seen as f64 / r.seconds.max(1e-9),
            seconds: r.seconds,
        };
        let line = format!(
            "epoch {}/{}: loss {:.4}, in-batch retrieval {:.4}, zero-shot {}, τ {:.4}, {:.0} img/s",
            metrics.epoch,
            config.epochs,
            metrics.train_loss,
            metrics.train_retrieval_acc,
            test_acc.map_or("-".to_owned(), |a| format!("{a:.4}")),
            metrics.temperature,
            metrics.images_per_sec
        );
        match &bar {
            Some(bar) => bar.println(line),
            None => tracing::info!("{line}"),
        }
        state.history.push(metrics);
        state.epoch += 1;
        state.step = 0;
        state.optimizer_steps = opt.steps;
        write_metrics_csv(&paths.out.join("metrics.csv"), &state.history)?;
        save_resume(&resume_path, &vs, "adamw", opt.state(), &state)?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let info = ContrastiveInfo {
        format: CONTRASTIVE_FORMAT.to_owned(),
        objective: "contrastive".to_owned(),
        arch: config.arch,
        classes: config.embed_dim as usize,
        class_names: manifest.class_names.clone(),
        input_size: config.input_size,
        feature_dim: config.arch.feature_dim(),
        embed_dim: config.embed_dim,
        vocab_size: vocab.len(),
        normalize,
        config: config.clone(),
        seed: config.seed,
        train_manifest: paths.train.display().to_string(),
        train_manifest_hash: train_hash.to_hex(),
        noise: manifest
            .metadata
            .get("nml.noise")
            .and_then(|s| serde_json::from_str(s).ok()),
        truncated_captions: truncated,
        key,
        metrics: state.history.clone(),
    };
    let (text_vars, image_vars): (Vec<_>, Vec<_>) = checkpoint::named_variables(&vs)
        .into_iter()
        .partition(|(n, _)| n.starts_with("text.") || n == "logit_scale");
    checkpoint::save(
        &paths.out.join("text.safetensors"),
        &text_vars,
        &serde_json::json!({
            "vocab": vocab.words,
            "context": config.context,
            "text_width": config.text_width,
            "embed_dim": config.embed_dim,
            "prompts": config.prompts,
        }),
    )?;
    checkpoint::save(
        &paths.out.join("model.safetensors"),
        &image_vars,
        &serde_json::to_value(&info)?,
    )?;
    nml_core::write_json_atomic(&model_json, &info)?;
    Ok(info)
}

/// Moves the device-side sums into `running` (one read) and resets them.
fn flush(running: &mut Running, loss: &mut Tensor, correct: &mut Tensor, seen: &mut i64) {
    running.loss_sum += loss.double_value(&[]);
    running.correct += correct.int64_value(&[]);
    running.seen += *seen;
    *loss = loss.zeros_like();
    *correct = correct.zeros_like();
    *seen = 0;
}

fn write_metrics_csv(path: &Path, history: &[ContrastiveMetrics]) -> Result<()> {
    let mut csv = String::from(
        "epoch,lr,train_loss,train_retrieval_acc,zero_shot_acc,temperature,images_per_sec,seconds\n",
    );
    for m in history {
        let test = m.test_acc.map_or(String::new(), |a| format!("{a:.6}"));
        csv.push_str(&format!(
            "{},{:.6e},{:.6},{:.6},{test},{:.6},{:.1},{:.3}\n",
            m.epoch,
            m.lr,
            m.train_loss,
            m.train_retrieval_acc,
            m.temperature,
            m.images_per_sec,
            m.seconds
        ));
    }
    nml_core::write_atomic(path, csv.as_bytes())?;
    Ok(())
}

/// The content hash a contrastive run is keyed by.
pub fn run_key(
    config: &ContrastiveConfig,
    train_hash: ContentHash,
    test_hash: ContentHash,
) -> Result<String> {
    keyed("nml-pretrain/contrastive", config, train_hash, test_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_ranks_words_and_encodes_with_padding_and_truncation() {
        let captions = ["a Red star", "a red-yellow star", "a blue circle"];
        let vocab = Vocab::build(captions.iter().copied(), 100);
        assert_eq!(&vocab.words[..4], &["<pad>", "<unk>", "a", "red"]);
        let (ids, cut) = vocab.encode("A red zebra", 5);
        assert_eq!(ids[..3], [2, 3, UNK]);
        assert_eq!(ids[3..], [PAD, PAD]);
        assert!(!cut);
        let (ids, cut) = vocab.encode("a red star a red star", 4);
        assert_eq!(ids.len(), 4);
        assert!(cut);
        assert_eq!(Vocab::build(captions.iter().copied(), 4).len(), 4);
    }

    #[test]
    fn infonce_is_low_for_matched_pairs_and_symmetric() {
        let _rng = nml_torch::rng_lock();
        nml_torch::seed(0);
        let vs = VarStore::new(Device::Cpu);
        let config = ContrastiveConfig::new(Arch::Small, 1);
        let clip = Clip::new(&vs, &config, 10);
        drop(_rng);
        // Same image batch, captions in order vs reversed: the loss is a
        // finite scalar, and the logits are image rows × text columns.
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let tokens = Tensor::from_slice(&[2i64, 3, 4, 5, 6, 7, 8, 9]).view([4, 2]);
        let (loss, logits) = clip.loss(&x, &tokens, false);
        assert_eq!(logits.size(), [4, 4]);
        let l = loss.double_value(&[]);
        assert!(l.is_finite() && l > 0.0, "{l}");
        // At initialisation, scale = 1/0.07.
        assert!((clip.scale().double_value(&[]) - 1.0 / 0.07).abs() < 1e-3);
    }
}
