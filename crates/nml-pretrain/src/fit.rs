//! The one pre-training loop, shared by every objective: run key and
//! finished-run check, decoding the data, seeding and building the model,
//! resume, the epoch loop with its mid-epoch checkpoints, per-epoch metrics
//! (`metrics.csv`), the progress bar, and the final save.
//!
//! An [`Objective`] says only what differs: the networks, the optimiser, the
//! loss of a batch, what an epoch's metrics are and which files a finished
//! run holds. Output folder of every run:
//! - `config.json`: the run config, the input files and their hashes;
//! - `resume.safetensors`: weights (`model.*`), optimiser buffers and the
//!   loop position, written every `checkpoint_every_steps` steps and at every
//!   epoch end;
//! - `metrics.csv`: one row per finished epoch;
//! - `model.safetensors` + `model.json` (and the objective's other files).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nml_core::ContentHash;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::checkpoint;
use crate::data::{self, Augment, Batch, ImageSet, Normalize};
pub(crate) use crate::data::{load_run_data, RunData};
use crate::optim::{lr_at, Optimizer};
use crate::{Named, PretrainError, Result};

/// Input files and where results go.
#[derive(Debug, Clone)]
pub struct RunPaths {
    pub train: PathBuf,
    /// Test manifest; default: the train manifest's `test_split` rows.
    pub test: Option<PathBuf>,
    pub out: PathBuf,
}

/// The loop's settings, common to every objective's config.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate, reached after `warmup_epochs` and decayed to 0 by a cosine.
    pub lr: f64,
    pub warmup_epochs: f64,
    pub augment: Augment,
    pub seed: u64,
    /// bf16 autocast on CUDA.
    pub amp: bool,
    pub checkpoint_every_steps: usize,
}

/// What one pre-training objective adds to the shared loop of [`fit`].
pub(crate) trait Objective {
    /// The networks being trained.
    type Model;
    type Optimizer: Optimizer;
    /// One finished epoch (a row of `metrics.csv`, an entry of `model.json`).
    type Metrics: Clone + Serialize + DeserializeOwned;
    /// What `model.json` holds at the end.
    type Info;

    fn schedule(&self) -> Schedule;
    /// Builds the networks on `vs`; libtorch's generator is seeded and locked meanwhile.
    fn build(&self, vs: &VarStore) -> Self::Model;
    /// The optimiser over the trainable variables (sorted by name).
    fn optimizer(&self, trainable: Named) -> Self::Optimizer;
    /// Loss (a float scalar) and logits of a training batch, in train mode.
    fn forward(&self, model: &Self::Model, batch: &Batch, amp: bool) -> (Tensor, Tensor);
    /// The batch's hit counts (int64 scalars on the device) behind the epoch's accuracies.
    fn hits(&self, batch: &Batch, logits: &Tensor) -> Vec<Tensor>;
    /// The metrics of a finished epoch: its running sums, and the test split evaluated.
    fn metrics(&self, model: &Self::Model, epoch: usize, lr: f64, sums: &Running) -> Self::Metrics;
    /// The log line of a finished epoch.
    fn describe(&self, metrics: &Self::Metrics) -> String;
    /// `metrics.csv` of the epochs so far.
    fn csv(&self, history: &[Self::Metrics]) -> String;
    /// Writes `model.safetensors` and the objective's other files; returns `model.json`'s content.
    fn save(&self, vs: &VarStore, key: String, history: Vec<Self::Metrics>) -> Result<Self::Info>;
}

/// Running sums of the epoch in progress (saved in mid-epoch checkpoints).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Running {
    pub loss_sum: f64,
    /// One count per entry of [`Objective::hits`].
    pub hits: Vec<i64>,
    pub seen: i64,
    pub seconds: f64,
}

impl Running {
    /// Mean training loss per sample.
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    /// Hit count `i` per sample.
    pub fn rate(&self, i: usize) -> f64 {
        self.hits.get(i).copied().unwrap_or(0) as f64 / self.seen.max(1) as f64
    }

    pub fn images_per_sec(&self) -> f64 {
        self.seen as f64 / self.seconds.max(1e-9)
    }
}

/// Loss and hit counts accumulated on the training device, read at
/// checkpoints and epoch ends only: a read per step would stall a GPU on every batch.
struct DeviceSums {
    loss: Tensor,
    hits: Vec<Tensor>,
    seen: i64,
}

impl DeviceSums {
    fn new(device: Device) -> DeviceSums {
        DeviceSums {
            loss: Tensor::zeros([], (Kind::Double, device)),
            hits: Vec::new(),
            seen: 0,
        }
    }

    fn add(&mut self, loss: &Tensor, n: i64, hits: Vec<Tensor>) {
        let _guard = tch::no_grad_guard();
        let _ = self
            .loss
            .g_add_(&(loss.detach().to_kind(Kind::Double) * n as f64));
        if self.hits.is_empty() {
            self.hits = hits;
        } else {
            for (sum, h) in self.hits.iter_mut().zip(&hits) {
                let _ = sum.g_add_(h);
            }
        }
        self.seen += n;
    }

    /// Moves the sums into `running` (one device read each) and resets them.
    fn flush_into(&mut self, running: &mut Running) {
        running.loss_sum += self.loss.double_value(&[]);
        running
            .hits
            .resize(running.hits.len().max(self.hits.len()), 0);
        for (total, h) in running.hits.iter_mut().zip(&self.hits) {
            *total += h.int64_value(&[]);
        }
        running.seen += self.seen;
        *self = DeviceSums::new(self.loss.device());
    }
}

/// The loop's position, stored in `resume.safetensors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "M: Serialize + DeserializeOwned")]
struct ResumeState<M> {
    key: String,
    epoch: usize,
    /// Next step within `epoch`.
    step: usize,
    optimizer_steps: u64,
    running: Running,
    history: Vec<M>,
}

/// A run that is not finished yet: its key, its data and where it writes.
pub(crate) struct Run {
    pub key: String,
    pub paths: RunPaths,
    pub train_hash: ContentHash,
    pub test_path: PathBuf,
    pub test_hash: ContentHash,
    pub resume: Option<PathBuf>,
    pub device: Device,
}

/// A run's starting point: finished already, or to be trained.
pub(crate) enum Start<I> {
    Finished(I),
    Todo(Box<Run>),
}

/// Keys the run (namespace, config, manifests' hashes) and finds it finished
/// when `out/model.json` has that key and `model.safetensors` and every file
/// of `also` exist; refuses a resume checkpoint when `resume` is off.
pub(crate) fn start<I: DeserializeOwned>(
    namespace: &str,
    config: &impl Serialize,
    paths: &RunPaths,
    also: &[&str],
    key_of: impl Fn(&I) -> String,
    device: Device,
    resume: bool,
) -> Result<Start<I>> {
    nml_torch::configure_threads(None);
    let train_hash = nml_core::hash_file(&paths.train)?;
    let test_path = paths.test.clone().unwrap_or_else(|| paths.train.clone());
    let test_hash = nml_core::hash_file(&test_path)?;
    let key = keyed(namespace, config, train_hash, test_hash)?;
    if let Some(info) = finished_run(&paths.out, &key, key_of, also) {
        return Ok(Start::Finished(info));
    }
    let resume_path = resume_path(&paths.out, resume)?;
    Ok(Start::Todo(Box::new(Run {
        key,
        paths: paths.clone(),
        train_hash,
        test_path,
        test_hash,
        resume: resume.then_some(resume_path),
        device,
    })))
}

impl Run {
    /// Writes `config.json`: `fields` (the config and anything the objective
    /// adds) with the input files, their hashes and the key.
    pub fn write_record(&self, mut fields: serde_json::Value) -> Result<()> {
        std::fs::create_dir_all(&self.paths.out)
            .map_err(|e| PretrainError::Data(format!("{}: {e}", self.paths.out.display())))?;
        let record = serde_json::json!({
            "train": self.paths.train.display().to_string(),
            "train_hash": self.train_hash.to_hex(),
            "test": self.test_path.display().to_string(),
            "test_hash": self.test_hash.to_hex(),
            "key": self.key,
        });
        if let (Some(fields), serde_json::Value::Object(record)) = (fields.as_object_mut(), record)
        {
            fields.extend(record);
        }
        nml_core::write_json_atomic(self.paths.out.join("config.json"), &fields)?;
        Ok(())
    }

    fn resume_file(&self) -> PathBuf {
        self.paths.out.join("resume.safetensors")
    }
}

/// Trains `objective` on batches of `train` normalised by `normalize`, from
/// the resume checkpoint when there is one; returns what the objective saved.
pub(crate) fn fit<O: Objective>(
    objective: &O,
    run: &Run,
    train: &ImageSet,
    normalize: Normalize,
) -> Result<O::Info> {
    let schedule = objective.schedule();
    let device = run.device;
    let (vs, model, mut opt, mut state) = prepare(objective, run)?;
    let resume_file = run.resume_file();
    let steps = data::steps_per_epoch(train.len(), schedule.batch_size);
    let total_steps = steps * schedule.epochs;
    let warmup = (schedule.warmup_epochs * steps as f64).round() as usize;
    let amp = schedule.amp && device.is_cuda();
    let bar = progress_bar(total_steps, state.epoch * steps + state.step);
    let checkpoint = |state: &mut ResumeState<O::Metrics>, opt: &O::Optimizer| {
        state.optimizer_steps = opt.steps();
        save_resume(
            &resume_file,
            &vs,
            O::Optimizer::PREFIX,
            opt.buffers(),
            state,
        )
    };
    while state.epoch < schedule.epochs {
        let epoch = state.epoch;
        let loader = data::epoch_loader(
            train,
            epoch,
            state.step,
            schedule.seed,
            schedule.batch_size,
            schedule.augment.clone(),
            normalize,
            device,
        );
        let mut clock = Instant::now();
        let mut lr = 0.0;
        let mut sums = DeviceSums::new(device);
        for batch in loader {
            lr = lr_at(schedule.lr, epoch * steps + batch.step, warmup, total_steps);
            let (loss, logits) = objective.forward(&model, &batch, amp);
            opt.backward_step(&loss, lr);
            let hits = {
                let _guard = tch::no_grad_guard();
                objective.hits(&batch, &logits)
            };
            sums.add(&loss, logits.size()[0], hits);
            state.step = batch.step + 1;
            if let Some(bar) = &bar {
                bar.inc(1);
                if state.step.is_multiple_of(25) {
                    let loss = loss.double_value(&[]);
                    bar.set_message(format!("epoch {} loss {loss:.3}", epoch + 1));
                }
            }
            let every = schedule.checkpoint_every_steps;
            if every > 0 && state.step.is_multiple_of(every) && state.step < steps {
                sums.flush_into(&mut state.running);
                state.running.seconds += clock.elapsed().as_secs_f64();
                clock = Instant::now();
                checkpoint(&mut state, &opt)?;
            }
        }
        sums.flush_into(&mut state.running);
        state.running.seconds += clock.elapsed().as_secs_f64();
        let running = std::mem::take(&mut state.running);
        let metrics = objective.metrics(&model, epoch, lr, &running);
        let line = objective.describe(&metrics);
        match &bar {
            Some(bar) => bar.println(line),
            None => tracing::info!("{line}"),
        }
        state.history.push(metrics);
        state.epoch += 1;
        state.step = 0;
        let csv = objective.csv(&state.history);
        nml_core::write_atomic(run.paths.out.join("metrics.csv"), csv.as_bytes())?;
        checkpoint(&mut state, &opt)?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    objective.save(&vs, run.key.clone(), state.history)
}

/// The seeded networks, their optimiser and the loop state: fresh, or
/// restored from the run's resume checkpoint.
#[allow(clippy::type_complexity)] // the four things a run starts from, named at the one call
fn prepare<O: Objective>(
    objective: &O,
    run: &Run,
) -> Result<(VarStore, O::Model, O::Optimizer, ResumeState<O::Metrics>)> {
    // Weights are initialised from libtorch's generator: seed it right before building.
    let rng = nml_torch::rng_lock();
    nml_torch::seed(objective.schedule().seed);
    let vs = VarStore::new(run.device);
    let model = objective.build(&vs);
    drop(rng);
    let trainable: Named = checkpoint::named_variables(&vs)
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let mut opt = objective.optimizer(trainable);
    let mut state = ResumeState::<O::Metrics> {
        key: run.key.clone(),
        epoch: 0,
        step: 0,
        optimizer_steps: 0,
        running: Running::default(),
        history: Vec::new(),
    };
    if let Some(path) = run.resume.as_ref().filter(|p| p.exists()) {
        state = restore(path, &run.key, &vs, &mut opt)?;
    }
    Ok((vs, model, opt, state))
}

/// Reads a resume checkpoint made under `key` into `vs` and `opt`; returns the loop state.
fn restore<M: Serialize + DeserializeOwned, P: Optimizer>(
    path: &Path,
    key: &str,
    vs: &VarStore,
    opt: &mut P,
) -> Result<ResumeState<M>> {
    let (tensors, description) = checkpoint::read(path)?;
    let saved: ResumeState<M> = serde_json::from_value(description).map_err(|e| {
        PretrainError::Checkpoint(format!("{}: no readable loop state: {e}", path.display()))
    })?;
    if saved.key != key {
        return Err(PretrainError::Checkpoint(format!(
            "{} was made with another config or other data; delete the folder or rerun the original command",
            path.display()
        )));
    }
    let (weights, rest): (Vec<_>, Vec<_>) = tensors
        .into_iter()
        .partition(|(n, _)| n.starts_with("model."));
    checkpoint::load_into(vs, &strip_prefix(weights, "model."), path)?;
    let prefix = format!("{}.", P::PREFIX);
    opt.restore(strip_prefix(rest, &prefix), saved.optimizer_steps)
        .map_err(|e| PretrainError::Checkpoint(format!("{}: {e}", path.display())))?;
    tracing::info!(epoch = saved.epoch, step = saved.step, "resuming");
    Ok(saved)
}

/// Writes a resume checkpoint: the model's variables as `model.NAME`, the
/// optimiser's buffers as `PREFIX.NAME`, and the loop state as its description.
fn save_resume(
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
    checkpoint::save(path, &tensors, &serde_json::to_value(state)?)?;
    Ok(())
}

/// The `model.json` of a run already finished under `key` in `out` (with
/// `model.safetensors` and every file of `also`), if there is one.
fn finished_run<I: DeserializeOwned>(
    out: &Path,
    key: &str,
    key_of: impl Fn(&I) -> String,
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

fn progress_bar(total: usize, done: usize) -> Option<indicatif::ProgressBar> {
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

/// `OUT/resume.safetensors`; refused when it exists and `resume` is off.
fn resume_path(out: &Path, resume: bool) -> Result<PathBuf> {
    let path = out.join("resume.safetensors");
    if path.exists() && !resume {
        return Err(PretrainError::Config(format!(
            "{} holds a checkpoint: pass --resume to continue it, or delete the folder to start over",
            out.display()
        )));
    }
    Ok(path)
}

/// The tensors whose name starts with `prefix`, with it removed.
fn strip_prefix(tensors: Named, prefix: &str) -> Named {
    tensors
        .into_iter()
        .filter_map(|(n, t)| Some((n.strip_prefix(prefix)?.to_owned(), t)))
        .collect()
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

/// The metrics CSV: `header`, then one formatted row per epoch.
pub(crate) fn metrics_csv<M>(header: &str, history: &[M], row: impl Fn(&M) -> String) -> String {
    let mut csv = format!("{header}\n");
    for m in history {
        csv.push_str(&row(m));
        csv.push('\n');
    }
    csv
}

/// A test accuracy for a log line or CSV cell: `-` or empty when there is no test split.
pub(crate) fn test_cell(acc: Option<f64>, missing: &str, digits: usize) -> String {
    acc.map_or(missing.to_owned(), |a| format!("{a:.digits$}"))
}
