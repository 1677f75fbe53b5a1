//! Training a head on a cached feature table and evaluating it on named
//! tables: accuracy and the spectrum (SVE, LSVR) of the tuned features z.
//!
//! Two-view mode (`two_view`, the official loop): every step feeds
//! `[weak; strong]` (2B rows) through the head, so BatchNorm, the covariance
//! (divisor 2B − 1) and the SVD (r = min(2B, D)) see both views;
//! cross-entropy is over both views (labels duplicated) and the consistency
//! term compares the strong view's z with the weak view's frozen feature.
//! The views come from a [`Source`]: cached augmented views, or the backbone
//! itself in the loop.
//!
//! Single-view mode (black-box embeddings, one vector per item): B rows of
//! the eval view; the consistency term then compares z with the frozen
//! feature of the *same* view.

use std::path::PathBuf;

use nml_core::FeatureTable;
use nml_spec::NMTUNE_WEIGHTS;
use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Tensor};

pub use crate::eval::{accuracy, evaluate, EvalResult};
use crate::losses;
use crate::model::{Head, Method};
use crate::schedule::{cosine_lr, for_each_batch};
use crate::source::{Batch, CachedViews, SingleView, Source};
use crate::watch::Watch;
use crate::{Result, TuneError};

pub use crate::checks::{check_eval_classes, check_evals, check_inputs};

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
    /// Train on two augmented views per row (the official loop); else on the eval view.
    #[serde(default)]
    pub two_view: bool,
}

impl TuneConfig {
    /// The official README's defaults for `method`.
    pub fn new(method: Method) -> TuneConfig {
        let nmtune = method == Method::Nmtune;
        TuneConfig {
            method,
            epochs: nml_spec::TuneArgs::EPOCHS,
            batch_size: nml_spec::TuneArgs::BATCH_SIZE,
            lr: if method == Method::Lp { 0.01 } else { 1e-3 },
            weight_decay: nml_spec::TuneArgs::WEIGHT_DECAY,
            mse_weight: if nmtune {
                NMTUNE_WEIGHTS.consistency
            } else {
                0.0
            },
            cov_weight: if nmtune {
                NMTUNE_WEIGHTS.covariance
            } else {
                0.0
            },
            svd_weight: if nmtune { NMTUNE_WEIGHTS.singular } else { 0.0 },
            svd_topk: 5,
            residual: true,
            scale_init: 1.0,
            two_view: false,
        }
    }

    /// Refuses settings no head can train with, naming the flag: epochs or a
    /// batch below their minimum, a learning rate that is not a positive
    /// finite number, a negative or non-finite weight decay or regulariser weight.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, why: String| Err(TuneError::Invalid(format!("--{flag}: {why}")));
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".to_owned());
        }
        if self.batch_size < 2 {
            return bad(
                "batch-size",
                format!(
                    "must be at least 2 (BatchNorm and the covariance need two rows), got {}",
                    self.batch_size
                ),
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(
                "lr",
                format!("must be a positive finite number, got {}", self.lr),
            );
        }
        for (flag, v) in [
            ("wd", self.weight_decay),
            ("mse-weight", self.mse_weight),
            ("cov-weight", self.cov_weight),
            ("svd-weight", self.svd_weight),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(flag, format!("must be a finite number ≥ 0, got {v}"));
            }
        }
        if self.svd_topk < 1 {
            return bad(
                "svd-topk",
                format!("must be at least 1, got {}", self.svd_topk),
            );
        }
        if !(self.scale_init.is_finite()) {
            return bad(
                "scale-init",
                format!("must be finite, got {}", self.scale_init),
            );
        }
        Ok(())
    }
}

/// Loads a feature table and checks it against the head's input.
pub fn load(path: &std::path::Path) -> Result<FeatureTable> {
    Ok(FeatureTable::read(path)?)
}

/// Trains one head (one seed) on `train` and evaluates it on every `(name, table)`.
///
/// `train` may hold augmented views (a `view` column); single-view training
/// uses its eval rows, two-view training (`config.two_view`) draws from the
/// augmented ones.
pub fn tune(
    config: &TuneConfig,
    train: &FeatureTable,
    evals: &[(String, PathBuf, FeatureTable)],
    seed: u64,
    device: Device,
) -> Result<Vec<EvalResult>> {
    tune_head(config, train, evals, seed, device).map(|t| t.results)
}

/// A trained head, its variables, and its results on the eval tables.
pub struct Tuned {
    pub vs: nn::VarStore,
    pub head: Head,
    pub classes: usize,
    /// The training rows' class names in label order, when they carry them.
    pub class_names: Option<Vec<String>>,
    pub results: Vec<EvalResult>,
}

/// [`tune`], keeping the head.
pub fn tune_head(
    config: &TuneConfig,
    train: &FeatureTable,
    evals: &[(String, PathBuf, FeatureTable)],
    seed: u64,
    device: Device,
) -> Result<Tuned> {
    let rows = train.eval_view();
    let classes = check_inputs(&rows, evals)?;
    let mut source = training_source(config.two_view, train, &rows, seed, device)?;
    let (vs, head) = fit(config, source.as_mut(), &rows.label, classes, seed, device)?;
    let results = evals
        .iter()
        .map(|(name, _, table)| evaluate(&head, name, table, seed, device))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tuned {
        vs,
        head,
        classes,
        class_names: rows.class_names.clone(),
        results,
    })
}

/// The training rows' features as a batch source: the eval view of `rows`,
/// or (`two_view`) two of `train`'s cached augmented views of each, drawn by `seed`.
pub fn training_source(
    two_view: bool,
    train: &FeatureTable,
    rows: &FeatureTable,
    seed: u64,
    device: Device,
) -> Result<Box<dyn Source>> {
    if !two_view {
        return Ok(Box::new(SingleView::new(rows, device)));
    }
    let views = train
        .augmented_views(rows, std::path::Path::new("the training table"))?
        .ok_or_else(|| {
            TuneError::Invalid(
                "two-view training needs augmented views in the training table (extract with --views K)"
                    .to_owned(),
            )
        })?;
    Ok(Box::new(CachedViews::new(
        &views,
        rows.len(),
        rows.dim,
        seed,
        device,
    )?))
}

/// Trains one head on batches of `source` (labels `labels`, one per row):
/// AdamW, per-step cosine decay to 0, the official defaults.
pub fn fit(
    config: &TuneConfig,
    source: &mut dyn Source,
    labels: &[i64],
    classes: usize,
    seed: u64,
    device: Device,
) -> Result<(nn::VarStore, Head)> {
    config.validate()?;
    check_views(config.two_view, source)?;
    let dim = source.dim();
    let labels = Tensor::from_slice(labels).to_device(device);
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
    let mut opt = FusedAdamW::new(&vs, config.weight_decay);
    let mut watch = Watch::new(classes, device);
    for_each_batch(
        source,
        &labels,
        (config.epochs, config.batch_size),
        seed,
        |features, y, at| {
            // A failure the watch holds came first (an SVD of non-finite z fails after it).
            let terms = loss_terms(config, &head, features, y)?;
            let loss = watch.total(terms, at)?;
            opt.backward_step(&loss, cosine_lr(config.lr, at.index, at.total))
        },
    )
    .or_else(|e| watch.check().and(Err(e)))?;
    watch.check()?;
    // The last steps' update is checked here: a weight that left the finite range.
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some((name, _)) = variables
        .iter()
        .find(|(_, t)| t.isfinite().all().int64_value(&[]) == 0)
    {
        return Err(TuneError::Diverged(format!(
            "the head's `{name}` is not finite after training: the head diverged (lower --lr)"
        )));
    }
    Ok((vs, head))
}

/// AdamW (PyTorch's, β 0.9/0.999, ε 1e-8, decay on every variable) over the
/// trainable variables of a head, one fused libtorch step per update.
pub(crate) struct FusedAdamW {
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    steps: u64,
    weight_decay: f64,
}

impl FusedAdamW {
    pub(crate) fn new(vs: &nn::VarStore, weight_decay: f64) -> FusedAdamW {
        let params = vs.trainable_variables();
        let zeros = || params.iter().map(Tensor::zeros_like).collect();
        FusedAdamW {
            m: zeros(),
            v: zeros(),
            params,
            steps: 0,
            weight_decay,
        }
    }

    /// Back-propagates `loss` and applies one update with learning rate `lr`.
    pub(crate) fn backward_step(&mut self, loss: &Tensor, lr: f64) -> Result<()> {
        let grads = Tensor::run_backward(&[loss], &self.params, false, false);
        self.steps += 1;
        // A variable the loss does not reach has no gradient and is left alone, as in PyTorch.
        let used: Vec<usize> = (0..grads.len()).filter(|&i| grads[i].defined()).collect();
        let pick = |ts: &[Tensor]| -> Vec<Tensor> {
            used.iter().map(|&i| ts[i].shallow_clone()).collect()
        };
        nml_torch::fused_adamw_(
            &pick(&self.params),
            &pick(&grads),
            &pick(&self.m),
            &pick(&self.v),
            self.steps,
            &nml_torch::AdamWStep::new(lr, self.weight_decay),
        )
        .map_err(TuneError::Invalid)
    }
}

/// Refuses features whose view mode (one view, two views) is not the configuration's.
pub(crate) fn check_views(two_view: bool, source: &dyn Source) -> Result<()> {
    if two_view == source.two_view() {
        return Ok(());
    }
    let mode = |two: bool, a: &'static str, b: &'static str| if two { a } else { b };
    Err(TuneError::Invalid(format!(
        "the configuration asks for {} training but the features give {}",
        mode(two_view, "two-view", "single-view"),
        mode(source.two_view(), "two views", "one view")
    )))
}

/// The weighted terms of one batch's loss, in the official order.
#[derive(Debug)]
pub struct Terms {
    /// `(name, weighted value)`: cross-entropy, then the non-zero regularisers.
    pub weighted: Vec<(&'static str, Tensor)>,
}

pub use crate::watch::DIVERGED_CE;

impl Terms {
    /// The sum of the terms (the loss back-propagated). Whether they are finite,
    /// and the cross-entropy under [`DIVERGED_CE`]·max(ln C, 1), is checked by
    /// `fit`'s watch ([`crate::watch`]), on the device.
    pub fn sum(self) -> Tensor {
        self.weighted
            .into_iter()
            .map(|(_, t)| t)
            .reduce(|a, b| a + b)
            .expect("cross-entropy is always there")
    }
}

/// The loss terms of one batch, as the official loop computes them.
///
/// Two views: Z = head([f_w; f_s]) over 2B rows (BN in train mode), CE over
/// both views with labels duplicated, consistency MSE(norm(z_s), norm(f_w)),
/// covariance and top-k singular-value terms of the whole Z. One view: the
/// same on B rows with f_w = f.
pub fn loss_terms(config: &TuneConfig, head: &Head, batch: &Batch, y: &Tensor) -> Result<Terms> {
    let b = batch.weak.size()[0];
    let (input, labels) = match &batch.strong {
        None => (batch.weak.shallow_clone(), y.shallow_clone()),
        Some(strong) => (
            Tensor::cat(&[&batch.weak, strong], 0),
            Tensor::cat(&[y, y], 0),
        ),
    };
    let z = head.tuned(&input, true);
    let ce = head.logits(&z).cross_entropy_for_logits(&labels);
    let mut weighted: Vec<(&'static str, Tensor)> = vec![("cross-entropy", ce)];
    if config.mse_weight != 0.0 {
        let z_strong = if batch.strong.is_some() {
            z.narrow(0, b, b)
        } else {
            z.shallow_clone()
        };
        weighted.push((
            "consistency",
            losses::consistency(&z_strong, &batch.weak) * config.mse_weight,
        ));
    }
    if config.cov_weight != 0.0 {
        weighted.push(("covariance", losses::covariance(&z) * config.cov_weight));
    }
    if config.svd_weight != 0.0 {
        let sv = losses::dominant_sv(&z, config.svd_topk).map_err(|e| {
            TuneError::Diverged(format!(
                "the dominant singular values term: {e}: the head diverged; training stopped (lower --lr)"
            ))
        })?;
        weighted.push(("dominant singular values", sv * config.svd_weight));
    }
    Ok(Terms { weighted })
}
