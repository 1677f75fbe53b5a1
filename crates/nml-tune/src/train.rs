//! Training a head on a cached feature table and evaluating it on named
//! tables: accuracy and the spectrum (SVE, LSVR) of the tuned features z.
//!
//! Single-view mode: the feature cache holds one eval-transform view per
//! image, so the consistency term compares z with the frozen feature of the
//! *same* view (the official code compares a strong view's z with a weak
//! view's frozen feature) and no augmentation reaches the head.

use std::path::PathBuf;

use nml_core::FeatureTable;
use nml_spectral::{Metrics, SpectralConfig};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::losses;
use crate::model::{Head, Method};
use crate::{Result, TuneError};

/// Everything that determines a tuned head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneConfig {
    pub method: Method,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub mse_weight: f64,
    pub cov_weight: f64,
    pub svd_weight: f64,
    pub svd_topk: i64,
    pub residual: bool,
    pub scale_init: f64,
}

impl TuneConfig {
    /// The official README's defaults for `method`.
    pub fn new(method: Method) -> TuneConfig {
        let nmtune = method == Method::Nmtune;
        TuneConfig {
            method,
            epochs: 30,
            batch_size: 64,
            lr: if method == Method::Lp { 0.01 } else { 1e-3 },
            weight_decay: 1e-4,
            mse_weight: if nmtune { 1.0 } else { 0.0 },
            cov_weight: if nmtune { 0.04 } else { 0.0 },
            svd_weight: if nmtune { 0.001 } else { 0.0 },
            svd_topk: 5,
            residual: true,
            scale_init: 1.0,
        }
    }
}

/// One evaluation table's result for one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub eval: String,
    pub seed: u64,
    pub rows: usize,
    pub accuracy: f64,
    pub sve: f64,
    pub lsvr: f64,
}

/// Loads a feature table and checks it against the head's input.
pub fn load(path: &std::path::Path) -> Result<FeatureTable> {
    Ok(FeatureTable::read(path)?)
}

/// Trains one head (one seed) on `train` and evaluates it on every `(name, table)`.
pub fn tune(
    config: &TuneConfig,
    train: &FeatureTable,
    evals: &[(String, PathBuf, FeatureTable)],
    seed: u64,
    device: Device,
) -> Result<Vec<EvalResult>> {
    let dim = train.dim;
    let classes = check_inputs(train, evals)?;
    let features = Tensor::from_slice(&train.features)
        .view([train.len() as i64, dim as i64])
        .to_device(device);
    let labels = Tensor::from_slice(&train.label).to_device(device);

    let (vs, head) = {
        let _rng = nml_torch::rng_lock();
        nml_torch::seed(seed);
        let vs = nn::VarStore::new(device);
        let head = Head::new(
            &vs.root(),
            config.method,
            dim as i64,
            classes as i64,
            config.residual,
            config.scale_init,
        );
        (vs, head)
    };
    let mut opt = nn::AdamW {
        wd: config.weight_decay,
        ..Default::default()
    }
    .build(&vs, config.lr)
    .map_err(|e| TuneError::Invalid(format!("cannot build AdamW: {e}")))?;
    let n = train.len();
    let batch = config.batch_size.max(2);
    let steps_per_epoch = n.div_ceil(batch);
    let total = (steps_per_epoch * config.epochs).max(1);
    let mut step = 0usize;
    for epoch in 0..config.epochs {
        let mut order: Vec<i64> = (0..n as i64).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            seed ^ ((epoch as u64 + 1) << 32),
        ));
        for chunk in order.chunks(batch) {
            if chunk.len() < 2 {
                continue;
            }
            let index = Tensor::from_slice(chunk).to_device(device);
            let f = features.index_select(0, &index);
            let y = labels.index_select(0, &index);
            let loss = step_loss(config, &head, &f, &y, epoch, step)?;
            // Per-step cosine decay to 0, no warm-up (the official schedule).
            let lr =
                config.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos());
            opt.set_lr(lr);
            opt.backward_step(&loss);
            step += 1;
        }
    }
    evals
        .iter()
        .map(|(name, _, table)| evaluate(&head, name, table, seed, device))
        .collect()
}

/// The number of classes of `train`; errors name an empty, mis-sized or
/// mislabelled eval table, or a training table too small to tune on.
fn check_inputs(train: &FeatureTable, evals: &[(String, PathBuf, FeatureTable)]) -> Result<usize> {
    let dim = train.dim;
    let classes = train
        .class_names
        .as_ref()
        .map(Vec::len)
        .unwrap_or_else(|| train.label.iter().max().map_or(0, |m| *m as usize + 1));
    if train.len() < 2 {
        return Err(TuneError::Invalid(format!(
            "the training table has {} rows; tuning needs at least 2",
            train.len()
        )));
    }
    for (name, path, table) in evals {
        if table.is_empty() {
            return Err(TuneError::Invalid(format!(
                "eval set `{name}` ({}) is empty",
                path.display()
            )));
        }
        if table.dim != dim {
            return Err(TuneError::Invalid(format!(
                "eval set `{name}` ({}) has {}-dimensional features, the training table {dim}",
                path.display(),
                table.dim
            )));
        }
        if let Some(row) = table
            .label
            .iter()
            .position(|&l| l < 0 || l as usize >= classes)
        {
            return Err(TuneError::Invalid(format!(
                "eval set `{name}` ({}), row {row}: label {} is outside the head's {classes} classes",
                path.display(),
                table.label[row]
            )));
        }
    }
    Ok(classes)
}

/// The training loss of one batch: cross-entropy plus the weighted
/// regularisers; a term that is not finite stops training, named.
fn step_loss(
    config: &TuneConfig,
    head: &Head,
    f: &Tensor,
    y: &Tensor,
    epoch: usize,
    step: usize,
) -> Result<Tensor> {
    let z = head.tuned(f, true);
    let ce = head.logits(&z).cross_entropy_for_logits(y);
    let mut terms: Vec<(&str, Tensor)> = vec![("cross-entropy", ce)];
    if config.mse_weight != 0.0 {
        terms.push((
            "consistency",
            losses::consistency(&z, f) * config.mse_weight,
        ));
    }
    if config.cov_weight != 0.0 {
        terms.push(("covariance", losses::covariance(&z) * config.cov_weight));
    }
    if config.svd_weight != 0.0 {
        terms.push((
            "dominant singular values",
            losses::dominant_sv(&z, config.svd_topk) * config.svd_weight,
        ));
    }
    for (name, value) in &terms {
        if !value.double_value(&[]).is_finite() {
            return Err(TuneError::Invalid(format!(
                "the {name} term became {} in epoch {} (step {step}); training stopped",
                value.double_value(&[]),
                epoch + 1
            )));
        }
    }
    let loss = terms
        .into_iter()
        .map(|(_, t)| t)
        .reduce(|a, b| a + b)
        .expect("cross-entropy is always there");
    Ok(loss)
}

fn evaluate(
    head: &Head,
    name: &str,
    table: &FeatureTable,
    seed: u64,
    device: Device,
) -> Result<EvalResult> {
    let _guard = tch::no_grad_guard();
    let f = Tensor::from_slice(&table.features)
        .view([table.len() as i64, table.dim as i64])
        .to_device(device);
    let z = head.tuned(&f, false);
    let predicted = head.logits(&z).argmax(-1, false).to_device(Device::Cpu);
    let labels = Tensor::from_slice(&table.label);
    let correct = predicted
        .eq_tensor(&labels)
        .sum(Kind::Int64)
        .int64_value(&[]);
    let z: Vec<f32> = Vec::try_from(z.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
        .map_err(|e| TuneError::Invalid(format!("cannot read z back: {e}")))?;
    let sigma =
        nml_spectral::singular_values(&z, table.len(), table.dim, &SpectralConfig::default());
    let metrics = Metrics::from_singular_values(&sigma);
    Ok(EvalResult {
        eval: name.to_owned(),
        seed,
        rows: table.len(),
        accuracy: correct as f64 / table.len() as f64,
        sve: metrics.sve,
        lsvr: metrics.lsvr,
    })
}
