//! The training loop: data, model, SGD and schedule, per-epoch metrics, and
//! checkpoints that let a killed run continue exactly where it stopped.
//!
//! Output folder:
//! - `config.json`: the run config, the input files and their hashes;
//! - `resume.safetensors`: weights, momentum buffers and the loop position
//!   (written every `checkpoint_every_steps` steps and at every epoch end);
//! - `metrics.csv`: one row per finished epoch;
//! - `model.safetensors` + `model.json`: the final weights and their description.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nml_core::{ContentHash, Manifest};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::checkpoint;
use crate::data::{self, Augment, ImageSet, Normalize};
use crate::models::{Arch, Net};
use crate::optim::{lr_at, Sgd, SgdConfig};
use crate::{PretrainError, Result};

/// Everything that determines the trained weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub arch: Arch,
    pub epochs: usize,
    pub batch_size: usize,
    pub sgd: SgdConfig,
    pub label_smoothing: f64,
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

impl TrainConfig {
    /// The paper-style defaults for `arch` (SGD 0.1, Nesterov momentum 0.9, wd 5e-4, crop + flip).
    pub fn new(arch: Arch, epochs: usize) -> TrainConfig {
        TrainConfig {
            arch,
            epochs,
            batch_size: 128,
            sgd: SgdConfig {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
                weight_decay: 5e-4,
                warmup_epochs: 1.0,
            },
            label_smoothing: 0.0,
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

    fn validate(&self) -> Result<()> {
        let problem = if self.epochs == 0 {
            Some("--epochs must be at least 1".to_owned())
        } else if self.batch_size < 2 {
            Some("--batch-size must be at least 2 (BatchNorm)".to_owned())
        } else if self.input_size < self.arch.min_input() {
            Some(format!(
                "{} needs inputs of at least {}px, got {}",
                self.arch,
                self.arch.min_input(),
                self.input_size
            ))
        } else if !(self.sgd.lr > 0.0 && self.sgd.lr.is_finite()) {
            Some(format!("--lr {} must be positive", self.sgd.lr))
        } else if !(0.0..1.0).contains(&self.label_smoothing) {
            Some(format!(
                "--label-smoothing {} is outside [0, 1)",
                self.label_smoothing
            ))
        } else {
            None
        };
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

/// Running sums of the epoch in progress (saved in mid-epoch checkpoints).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Running {
    loss_sum: f64,
    correct_noisy: i64,
    correct_clean: i64,
    seen: i64,
    seconds: f64,
}

/// Loss and hit counts accumulated on the training device.
struct DeviceSums {
    loss: Tensor,
    correct_noisy: Tensor,
    correct_clean: Tensor,
    seen: i64,
}

impl DeviceSums {
    fn new(device: Device) -> DeviceSums {
        let zero = |kind| Tensor::zeros([], (kind, device));
        DeviceSums {
            loss: zero(Kind::Double),
            correct_noisy: zero(Kind::Int64),
            correct_clean: zero(Kind::Int64),
            seen: 0,
        }
    }

    fn add(&mut self, loss: &Tensor, logits: &Tensor, labels: &Tensor, clean: &Tensor) {
        let _guard = tch::no_grad_guard();
        let n = labels.size()[0];
        let predicted = logits.argmax(-1, false);
        let _ = self
            .loss
            .g_add_(&(loss.detach().to_kind(Kind::Double) * n as f64));
        let _ = self
            .correct_noisy
            .g_add_(&predicted.eq_tensor(labels).sum(Kind::Int64));
        let _ = self
            .correct_clean
            .g_add_(&predicted.eq_tensor(clean).sum(Kind::Int64));
        self.seen += n;
    }

    /// Moves the sums into `running` (one device read) and resets them.
    fn flush_into(&mut self, running: &mut Running) {
        running.loss_sum += self.loss.double_value(&[]);
        running.correct_noisy += self.correct_noisy.int64_value(&[]);
        running.correct_clean += self.correct_clean.int64_value(&[]);
        running.seen += self.seen;
        *self = DeviceSums::new(self.loss.device());
    }
}

/// The loop's position, stored in `resume.safetensors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ResumeState {
    key: String,
    epoch: usize,
    /// Next step within `epoch`.
    step: usize,
    running: Running,
    history: Vec<EpochMetrics>,
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

/// What every `model.json` (supervised or contrastive) says about the image
/// backbone: enough to rebuild the network and feed it. Extra fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneInfo {
    pub format: String,
    pub arch: Arch,
    /// Rows of the head: classes (supervised) or the joint-space dimension (contrastive).
    pub classes: usize,
    pub input_size: u32,
    pub normalize: Normalize,
    /// `supervised` (absent in older files) or `contrastive`.
    #[serde(default = "supervised")]
    pub objective: String,
}

fn supervised() -> String {
    "supervised".to_owned()
}

/// Format tag of `model.json`.
pub const MODEL_FORMAT: &str = "nml-pretrain/1";

/// Input files and where results go.
#[derive(Debug, Clone)]
pub struct RunPaths {
    pub train: PathBuf,
    /// Test manifest; default: the train manifest's `test_split` rows.
    pub test: Option<PathBuf>,
    pub out: PathBuf,
}

/// Trains (or resumes, or finds finished) the run `config` on `paths`; returns `model.json`.
pub fn train(
    config: &TrainConfig,
    paths: &RunPaths,
    device: Device,
    resume: bool,
) -> Result<ModelInfo> {
    config.validate()?;
    nml_torch::configure_threads(None);
    let train_hash = nml_core::hash_file(&paths.train)?;
    let test_path = paths.test.clone().unwrap_or_else(|| paths.train.clone());
    let test_hash = nml_core::hash_file(&test_path)?;
    let key = run_key(config, train_hash, test_hash)?;
    let model_json = paths.out.join("model.json");
    if let Some(info) = finished_run(&paths.out, &key, |i: &ModelInfo| &i.key, &[]) {
        return Ok(info);
    }
    let resume_path = resume_path(&paths.out, resume)?;
    let RunData {
        manifest,
        train_set,
        test_set,
        normalize,
        ..
    } = load_run_data(
        paths,
        &config.train_split,
        &config.test_split,
        config.input_size,
        config.resize,
    )?;
    let classes = manifest.num_classes();

    std::fs::create_dir_all(&paths.out)
        .map_err(|e| PretrainError::Data(format!("{}: {e}", paths.out.display())))?;
    let run_record = serde_json::json!({
        "config": config,
        "train": paths.train.display().to_string(),
        "train_hash": train_hash.to_hex(),
        "test": test_path.display().to_string(),
        "test_hash": test_hash.to_hex(),
        "key": key,
    });
    nml_core::write_json_atomic(paths.out.join("config.json"), &run_record)?;

    // Weights are initialised from libtorch's generator: seed it right before building.
    let _rng = nml_torch::rng_lock();
    nml_torch::seed(config.seed);
    let vs = VarStore::new(device);
    let net = Net::new(&vs.root(), config.arch, classes as i64);
    drop(_rng);
    let trainable: Vec<(String, Tensor)> = checkpoint::named_variables(&vs)
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let mut sgd = Sgd::new(config.sgd, trainable);
    let mut state = ResumeState {
        key: key.clone(),
        epoch: 0,
        step: 0,
        running: Running::default(),
        history: Vec::new(),
    };
    if resume && resume_path.exists() {
        let (saved, weights, rest) =
            read_resume(&resume_path, &key, |s: &ResumeState| s.key.as_str())?;
        checkpoint::load_into(&vs, &weights, &resume_path)?;
        sgd.load_state(strip_prefix(rest, "momentum."))
            .map_err(|e| PretrainError::Checkpoint(format!("{}: {e}", resume_path.display())))?;
        tracing::info!(epoch = saved.epoch, step = saved.step, "resuming");
        state = saved;
    }

    let steps = data::steps_per_epoch(train_set.len(), config.batch_size);
    let total_steps = steps * config.epochs;
    let warmup = (config.sgd.warmup_epochs * steps as f64).round() as usize;
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
        // Sums stay on the device and are read at checkpoints and epoch ends only:
        // a read per step would stall a GPU on every batch.
        let mut sums = DeviceSums::new(device);
        for batch in loader {
            let global = epoch * steps + batch.step;
            lr = lr_at(config.sgd.lr, global, warmup, total_steps);
            let logits = nml_torch::autocast(config.amp && device.is_cuda(), || {
                net.logits(&batch.x, true)
            });
            let loss = logits.to_kind(Kind::Float).cross_entropy_loss::<Tensor>(
                &batch.labels,
                None,
                tch::Reduction::Mean,
                -100,
                config.label_smoothing,
            );
            sgd.backward_step(&loss, lr);
            sums.add(&loss, &logits, &batch.labels, &batch.clean);
            state.step = batch.step + 1;
            if let Some(bar) = &bar {
                bar.inc(1);
                if state.step.is_multiple_of(25) {
                    bar.set_message(format!(
                        "epoch {} loss {:.3}",
                        epoch + 1,
                        loss.double_value(&[])
                    ));
                }
            }
            let every = config.checkpoint_every_steps;
            if every > 0 && state.step.is_multiple_of(every) && state.step < steps {
                sums.flush_into(&mut state.running);
                state.running.seconds += clock.elapsed().as_secs_f64();
                clock = Instant::now();
                save_resume(&resume_path, &vs, "momentum", sgd.state(), &state)?;
            }
        }
        sums.flush_into(&mut state.running);
        state.running.seconds += clock.elapsed().as_secs_f64();
        let test_acc = (!test_set.is_empty()).then(|| accuracy(&net, &test_set, normalize, device));
        let r = std::mem::take(&mut state.running);
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            lr,
            train_loss: r.loss_sum / r.seen.max(1) as f64,
            train_acc_noisy: r.correct_noisy as f64 / r.seen.max(1) as f64,
            train_acc_clean: r.correct_clean as f64 / r.seen.max(1) as f64,
            test_acc,
            images_per_sec: r.seen as f64 / r.seconds.max(1e-9),
            seconds: r.seconds,
        };
        log_epoch(&metrics, config.epochs, bar.as_ref());
        state.history.push(metrics);
        state.epoch += 1;
        state.step = 0;
        write_metrics_csv(&paths.out.join("metrics.csv"), &state.history)?;
        save_resume(&resume_path, &vs, "momentum", sgd.state(), &state)?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let info = ModelInfo {
        format: MODEL_FORMAT.to_owned(),
        arch: config.arch,
        classes,
        class_names: manifest.class_names.clone(),
        input_size: config.input_size,
        feature_dim: config.arch.feature_dim(),
        normalize,
        config: config.clone(),
        seed: config.seed,
        train_manifest: paths.train.display().to_string(),
        train_manifest_hash: train_hash.to_hex(),
        noise: manifest
            .metadata
            .get("nml.noise")
            .and_then(|s| serde_json::from_str(s).ok()),
        key,
        metrics: state.history.clone(),
    };
    let description = serde_json::to_value(&info)?;
    checkpoint::save(
        &paths.out.join("model.safetensors"),
        &checkpoint::named_variables(&vs),
        &description,
    )?;
    nml_core::write_json_atomic(&model_json, &info)?;
    Ok(info)
}

/// Top-1 accuracy of `net` in eval mode on `set`.
pub fn accuracy(net: &Net, set: &ImageSet, normalize: Normalize, device: Device) -> f64 {
    let _guard = tch::no_grad_guard();
    let n = set.len() as i64;
    let mut correct = 0i64;
    for start in (0..n).step_by(512) {
        let len = (n - start).min(512);
        let x = set.images.narrow(0, start, len).to_kind(Kind::Float) / 255.0;
        let x = normalize.apply(&x).to_device(device);
        let predicted = net
            .logits(&x, false)
            .argmax(-1, false)
            .to_device(Device::Cpu);
        correct += predicted
            .eq_tensor(&set.clean.narrow(0, start, len))
            .sum(Kind::Int64)
            .int64_value(&[]);
    }
    correct as f64 / n.max(1) as f64
}

/// Writes a resume checkpoint: the model's variables as `model.NAME`, the
/// optimiser's buffers as `PREFIX.NAME`, and the loop state as its description
/// (read back by [`read_resume`]).
pub(crate) fn save_resume(
    path: &Path,
    vs: &VarStore,
    prefix: &str,
    optimizer: Named,
    state: &impl Serialize,
) -> Result<()> {
    let mut tensors: Named = checkpoint::named_variables(vs)
        .into_iter()
        .map(|(n, t)| (format!("model.{n}"), t))
        .collect();
    tensors.extend(
        optimizer
            .into_iter()
            .map(|(n, t)| (format!("{prefix}.{n}"), t)),
    );
    checkpoint::save(path, &tensors, &serde_json::to_value(state)?)
}

/// The `model.json` of a run already finished under `key` in `out` (with
/// `model.safetensors` and every file of `also`), if there is one.
pub(crate) fn finished_run<I: serde::de::DeserializeOwned>(
    out: &Path,
    key: &str,
    key_of: impl Fn(&I) -> &str,
    also: &[&str],
) -> Option<I> {
    let text = std::fs::read_to_string(out.join("model.json")).ok()?;
    let info: I = serde_json::from_str(&text).ok()?;
    let complete = std::iter::once("model.safetensors")
        .chain(also.iter().copied())
        .all(|f| out.join(f).exists());
    (key_of(&info) == key && complete).then(|| {
        tracing::info!(out = %out.display(), "already trained with this config and data; nothing to do");
        info
    })
}

fn write_metrics_csv(path: &Path, history: &[EpochMetrics]) -> Result<()> {
    let mut csv = String::from(
        "epoch,lr,train_loss,train_acc_noisy,train_acc_clean,test_acc,images_per_sec,seconds\n",
    );
    for m in history {
        let test = m.test_acc.map_or(String::new(), |a| format!("{a:.6}"));
        csv.push_str(&format!(
            "{},{:.6e},{:.6},{:.6},{:.6},{test},{:.1},{:.3}\n",
            m.epoch,
            m.lr,
            m.train_loss,
            m.train_acc_noisy,
            m.train_acc_clean,
            m.images_per_sec,
            m.seconds
        ));
    }
    nml_core::write_atomic(path, csv.as_bytes())?;
    Ok(())
}

pub(crate) fn progress_bar(total: usize, done: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} steps, {per_sec}, eta {eta} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(done as u64);
    Some(bar)
}

fn log_epoch(m: &EpochMetrics, epochs: usize, bar: Option<&indicatif::ProgressBar>) {
    let test = m.test_acc.map_or("-".to_owned(), |a| format!("{a:.4}"));
    let line = format!(
        "epoch {}/{epochs}: loss {:.4}, train acc (noisy) {:.4}, train acc (clean) {:.4}, test acc {test}, {:.0} img/s",
        m.epoch, m.train_loss, m.train_acc_noisy, m.train_acc_clean, m.images_per_sec
    );
    match bar {
        Some(bar) => bar.println(line),
        None => tracing::info!("{line}"),
    }
}

/// A run's images: the training manifest, its `train_split` rows and the
/// test manifest's `test_split` rows decoded, and the normalisation measured
/// on the training images.
pub(crate) struct RunData {
    pub manifest: Manifest,
    pub train_rows: Vec<usize>,
    pub train_set: ImageSet,
    pub test_set: ImageSet,
    pub normalize: Normalize,
}

/// Reads and decodes what a run trains and tests on; errors name the file.
pub(crate) fn load_run_data(
    paths: &RunPaths,
    train_split: &str,
    test_split: &str,
    input_size: u32,
    resize: bool,
) -> Result<RunData> {
    let test_path = paths.test.clone().unwrap_or_else(|| paths.train.clone());
    let manifest = Manifest::read(&paths.train)?;
    let train_rows = manifest.rows_in_split(train_split);
    if train_rows.len() < 2 {
        return Err(PretrainError::Data(format!(
            "{}: split `{train_split}` has {} rows; training needs at least 2",
            paths.train.display(),
            train_rows.len()
        )));
    }
    let test_manifest = match &paths.test {
        Some(p) => Manifest::read(p)?,
        None => manifest.clone(),
    };
    if test_manifest.class_names != manifest.class_names {
        return Err(PretrainError::Data(format!(
            "{} and {} have different class lists",
            paths.train.display(),
            test_path.display()
        )));
    }
    let test_rows = test_manifest.rows_in_split(test_split);
    let started = Instant::now();
    let train_set = data::load(&manifest, &train_rows, input_size, resize, &paths.train)?;
    let test_set = data::load(&test_manifest, &test_rows, input_size, resize, &test_path)?;
    tracing::info!(
        train = train_set.len(),
        test = test_set.len(),
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "images decoded"
    );
    let (mean, std) = data::channel_stats(&train_set.images);
    Ok(RunData {
        manifest,
        train_rows,
        train_set,
        test_set,
        normalize: Normalize { mean, std },
    })
}

/// `OUT/resume.safetensors`; refused when it exists and `resume` is off.
pub(crate) fn resume_path(out: &Path, resume: bool) -> Result<PathBuf> {
    let path = out.join("resume.safetensors");
    if path.exists() && !resume {
        return Err(PretrainError::Config(format!(
            "{} holds a checkpoint: pass --resume to continue it, or delete the folder to start over",
            out.display()
        )));
    }
    Ok(path)
}

/// Named tensors, as a checkpoint holds them.
pub(crate) type Named = Vec<(String, Tensor)>;

/// Reads a resume checkpoint made under `key`: the loop state `S` and the
/// tensors, split into the model's (`model.` stripped) and the rest.
pub(crate) fn read_resume<S: serde::de::DeserializeOwned>(
    path: &Path,
    key: &str,
    key_of: impl Fn(&S) -> &str,
) -> Result<(S, Named, Named)> {
    let (tensors, description) = checkpoint::read(path)?;
    let saved: S = serde_json::from_value(description).map_err(|e| {
        PretrainError::Checkpoint(format!("{}: no readable loop state: {e}", path.display()))
    })?;
    if key_of(&saved) != key {
        return Err(PretrainError::Checkpoint(format!(
            "{} was made with another config or other data; delete the folder or rerun the original command",
            path.display()
        )));
    }
    let (weights, rest): (Vec<_>, Vec<_>) = tensors
        .into_iter()
        .partition(|(n, _)| n.starts_with("model."));
    Ok((saved, strip_prefix(weights, "model."), rest))
}

/// The tensors whose name starts with `prefix`, with it removed.
pub(crate) fn strip_prefix(tensors: Named, prefix: &str) -> Named {
    tensors
        .into_iter()
        .filter_map(|(n, t)| Some((n.strip_prefix(prefix)?.to_owned(), t)))
        .collect()
}

/// The content hash a run is keyed by (for callers that want to find it).
pub fn run_key(
    config: &TrainConfig,
    train_hash: ContentHash,
    test_hash: ContentHash,
) -> Result<String> {
    keyed("nml-pretrain/train", config, train_hash, test_hash)
}

/// A run's key in `namespace`: its config and the hashes of its manifests.
pub(crate) fn keyed(
    namespace: &str,
    config: &impl Serialize,
    train_hash: ContentHash,
    test_hash: ContentHash,
) -> Result<String> {
    Ok(nml_core::KeyBuilder::new(namespace)
        .json("config", config)?
        .hash("train", train_hash)
        .hash("test", test_hash)
        .finish()
        .to_hex())
}
