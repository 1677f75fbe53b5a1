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
use std::path::Path;
use std::time::Instant;

use nml_torch::Layout;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::checkpoint;
use crate::common::RunConfig;
use crate::data::{self, Batch};
pub(crate) use crate::data::{read_run_manifests, RunData};
use crate::optim::{lr_at, Optimizer};
pub use crate::run::RunPaths;
pub(crate) use crate::run::{keyed, ObjectiveFields, Run};
use crate::run::{start, Start};
use crate::{Named, PretrainError, Result};

/// What one pre-training objective adds to the shared loop of [`fit`].
pub(crate) trait Objective {
    /// The networks being trained.
    type Model;
    type Optimizer: Optimizer;
    /// One finished epoch (a row of `metrics.csv`, an entry of `model.json`).
    type Metrics: Clone + Serialize + DeserializeOwned;
    /// What `model.json` holds at the end.
    type Info: Serialize + DeserializeOwned;

    /// The objective's config.
    type Config: RunConfig;

    /// The objective's config.
    fn config(&self) -> &Self::Config;
    /// Peak learning rate and warm-up epochs (then a cosine decay to 0).
    fn peak_lr(&self) -> (f64, f64);
    /// The run being trained.
    fn run(&self) -> &Run;
    /// Its decoded images and manifest.
    fn data(&self) -> &RunData;
    /// The key a finished run's `model.json` records.
    fn key(info: &Self::Info) -> &str;
    /// Builds the networks on `vs`; libtorch's generator is seeded and locked meanwhile.
    fn build(&self, vs: &VarStore) -> Self::Model;
    /// The optimiser over the trainable variables (sorted by name).
    fn optimizer(&self, trainable: Named) -> Self::Optimizer;
    /// Loss (a float scalar) and logits of a training batch, in train mode.
    fn forward(
        &self,
        model: &Self::Model,
        batch: &Batch,
        compute: nml_torch::Compute,
    ) -> (Tensor, Tensor);
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

/// Trains (or resumes, or finds finished) a run: keys it, reads and checks
/// its manifests, decodes its data, makes the objective with `make` (which
/// also returns the objective's fields of `config.json`), writes
/// `config.json` ([`ConfigRecord`](crate::ConfigRecord)), fits, and writes `model.json`.
pub(crate) fn train<O: Objective>(
    config: &O::Config,
    paths: &RunPaths,
    device: Device,
    resume: bool,
    make: impl FnOnce(Run, RunData) -> Result<(O, ObjectiveFields)>,
) -> Result<O::Info> {
    let key_of = |i: &O::Info| O::key(i).to_owned();
    let namespace = <O::Config as RunConfig>::NAMESPACE;
    let also = <O::Config as RunConfig>::ALSO;
    let run = match start(namespace, config, paths, also, key_of, device, resume)? {
        Start::Finished(info) => return Ok(info),
        Start::Todo(run) => *run,
    };
    let c = config.common();
    let manifests = read_run_manifests(paths, &c.train_split)?;
    tracing::info!(out = %paths.out.display(), namespace, epochs = c.epochs, device = %device_name(device), "pre-training");
    let data = manifests.decode(&c.test_split, c.input_size, c.resize)?;
    let (objective, fields) = make(run, data)?;
    objective.run().write_record(config, fields)?;
    let info = fit(&objective)?;
    nml_core::write_json_atomic(paths.out.join("model.json"), &info)?;
    Ok(info)
}

/// `cpu` or `cuda:N`, as `--device` spells it.
fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".to_owned(),
    }
}

/// Trains `objective` on batches of its training images, from the resume
/// checkpoint when there is one; returns what the objective saved.
fn fit<O: Objective>(objective: &O) -> Result<O::Info> {
    let (run, common) = (objective.run(), objective.config().common());
    let (train, normalize) = (&objective.data().train_set, objective.data().normalize);
    let (peak_lr, warmup_epochs) = objective.peak_lr();
    let device = run.device;
    // `--amp` is bf16 autocast on CUDA, as before `--precision`.
    let compute = if common.amp && device.is_cuda() {
        nml_torch::Compute::Bf16
    } else {
        common.precision
    };
    let layout = crate::layout(objective.config().arch(), compute);
    let (vs, model, mut opt, mut state) = prepare(objective, run, layout)?;
    let resume_file = run.resume_file();
    let steps = data::steps_per_epoch(train.len(), common.batch_size);
    let total_steps = steps * common.epochs;
    let warmup = (warmup_epochs * steps as f64).round() as usize;
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
    let train = &data::resident(train, device);
    while state.epoch < common.epochs {
        let epoch = state.epoch;
        let loader = data::epoch_loader(
            train,
            epoch,
            state.step,
            common.seed,
            common.batch_size,
            common.augment.clone(),
            normalize,
            device,
        );
        let mut clock = Instant::now();
        let mut lr = 0.0;
        let mut sums = DeviceSums::new(device);
        for mut batch in loader {
            batch.x = layout.apply(&batch.x);
            lr = lr_at(peak_lr, epoch * steps + batch.step, warmup, total_steps);
            let (loss, logits) = objective.forward(&model, &batch, compute);
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
            let every = common.checkpoint_every_steps;
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
    layout: Layout,
) -> Result<(VarStore, O::Model, O::Optimizer, ResumeState<O::Metrics>)> {
    // Weights are initialised from libtorch's generator: seed it right before building.
    let rng = nml_torch::rng_lock();
    nml_torch::seed(objective.config().common().seed);
    let vs = VarStore::new(run.device);
    let model = objective.build(&vs);
    drop(rng);
    // Before the optimiser takes its handles (checkpoints are written contiguous whatever the layout).
    layout.apply_to_variables(&vs);
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

/// The tensors whose name starts with `prefix`, with it removed.
fn strip_prefix(tensors: Named, prefix: &str) -> Named {
    tensors
        .into_iter()
        .filter_map(|(n, t)| Some((n.strip_prefix(prefix)?.to_owned(), t)))
        .collect()
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
