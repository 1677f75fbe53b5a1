//! A grid of heads trained together: G heads of one method and one shape
//! (the same epochs and batch size), each with its own learning rate, weight
//! decay, regulariser weights, top-k and initial scale, stacked along a
//! leading dimension and trained in one pass over the features, as DINOv2's
//! linear evaluation trains its grid of classifiers.
//!
//! Every head sees the batches [`crate::fit`] would give it for the same
//! seed, in the same order, and starts from the weights `fit` would draw, so
//! head g of the grid is the head `fit` trains alone with configuration g, up
//! to the rounding of batched matrix products (tested in `tests/it/grid.rs`).
//! The heads share no parameter: one that diverges is marked and the others
//! train on. What is shared is the work: one read of each batch, one matrix
//! product for the first layer of every head (the input is the same), one
//! host synchronisation per step for every divergence check, and one
//! optimiser update per stacked tensor.

use std::collections::BTreeMap;

use tch::{nn, Device, Kind, Tensor};

use crate::losses::{self, normalize};
use crate::model::Head;
use crate::schedule::{cosine_lr, for_each_batch, Step};
use crate::source::{Batch, Source};
use crate::train::{check_views, TuneConfig};
use crate::watch;
use crate::{Result, TuneError};

/// One head of a grid after training: its variables, or why it diverged.
pub type Outcome = Result<(nn::VarStore, Head)>;

/// PyTorch's AdamW defaults (β₁, β₂, ε), as `tch::nn::AdamW`'s.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;
/// BatchNorm1d's defaults, as the heads' (`tch::nn::BatchNormConfig`).
const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;

/// The heads' variables stacked along a leading grid dimension, by name.
struct Stack {
    vars: BTreeMap<String, Tensor>,
    heads: i64,
    dim: i64,
}

impl Stack {
    fn var(&self, name: &str) -> &Tensor {
        &self.vars[name]
    }

    fn has(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// Buffers (BatchNorm's running statistics) take no gradient.
    fn trainable(name: &str) -> bool {
        !name.contains("running_")
    }

    /// The tuned features of every head, `[N, D]` → `[G, N, D]` (BN in train mode).
    fn tuned(&self, x: &Tensor) -> Tensor {
        let (g, d, n) = (self.heads, self.dim, x.size()[0]);
        if !self.has("mlp.0.weight") {
            return x.unsqueeze(0).expand([g, n, d], false);
        }
        let wide = 4 * d;
        // One product for every head's first layer: the input is shared.
        let h = x.matmul(&self.var("mlp.0.weight").reshape([g * wide, d]).tr())
            + self.var("mlp.0.bias").reshape([g * wide]);
        // BatchNorm is per feature, so the G·4D features of all heads normalise as one layer.
        let h = h
            .batch_norm(
                Some(&self.var("mlp.1.weight").reshape([g * wide])),
                Some(&self.var("mlp.1.bias").reshape([g * wide])),
                Some(&self.var("mlp.1.running_mean").view([g * wide])),
                Some(&self.var("mlp.1.running_var").view([g * wide])),
                true,
                BN_MOMENTUM,
                BN_EPS,
                true,
            )
            .relu()
            .view([n, g, wide])
            .transpose(0, 1);
        let h =
            h.bmm(&self.var("mlp.3.weight").transpose(1, 2)) + self.var("mlp.3.bias").unsqueeze(1);
        if self.has("scale") {
            self.var("scale") * h + x
        } else {
            h
        }
    }

    /// Every head's logits, `[G, N, D]` → `[G, N, C]` (`z` unused for a linear probe: its z is x).
    fn logits(&self, x: &Tensor, z: &Tensor) -> Tensor {
        let (w, b) = (self.var("classifier.weight"), self.var("classifier.bias"));
        if self.has("mlp.0.weight") {
            z.bmm(&w.transpose(1, 2)) + b.unsqueeze(1)
        } else {
            let (g, c, n) = (self.heads, w.size()[1], x.size()[0]);
            (x.matmul(&w.reshape([g * c, self.dim]).tr()) + b.reshape([g * c]))
                .view([n, g, c])
                .transpose(0, 1)
        }
    }
}

/// Per-head hyper-parameters as `[G]` tensors, and the checks' host copies.
struct Knobs {
    /// Each head's base learning rate and weight decay.
    lr_wd: Vec<(f64, f64)>,
    mse: Tensor,
    cov: Tensor,
    svd: Tensor,
    topk: Vec<i64>,
    weights: Vec<[f64; 4]>,
    /// Whether any head weighs the consistency, covariance, singular-value term.
    uses: [bool; 3],
}

impl Knobs {
    fn new(configs: &[TuneConfig], device: Device) -> Knobs {
        let column = |f: fn(&TuneConfig) -> f64| {
            Tensor::from_slice(&configs.iter().map(f).collect::<Vec<f64>>())
                .to_kind(Kind::Float)
                .to_device(device)
        };
        Knobs {
            lr_wd: configs.iter().map(|c| (c.lr, c.weight_decay)).collect(),
            mse: column(|c| c.mse_weight),
            cov: column(|c| c.cov_weight),
            svd: column(|c| c.svd_weight),
            topk: configs.iter().map(|c| c.svd_topk).collect(),
            weights: configs
                .iter()
                .map(|c| [1.0, c.mse_weight, c.cov_weight, c.svd_weight])
                .collect(),
            uses: [
                configs.iter().any(|c| c.mse_weight != 0.0),
                configs.iter().any(|c| c.cov_weight != 0.0),
                configs.iter().any(|c| c.svd_weight != 0.0),
            ],
        }
    }
}

/// The names of the terms, in the order of [`Knobs::weights`].
const TERMS: [&str; 4] = [
    "cross-entropy",
    "consistency",
    "covariance",
    "dominant singular values",
];

/// Refuses a grid whose heads cannot share a pass: another method, epochs,
/// batch size, residual or view mode than the first head's.
fn check_shared(configs: &[TuneConfig], source: &dyn Source) -> Result<()> {
    let first = configs
        .first()
        .ok_or_else(|| TuneError::Invalid("a grid of no heads".to_owned()))?;
    for c in configs {
        c.validate()?;
        if !shares_pass(first, c) {
            return Err(TuneError::Invalid(
                "heads trained together need the same method, epochs, batch size, residual flag and views".to_owned(),
            ));
        }
    }
    check_views(first.two_view, source)
}

/// The heads `fit` would start from for `seed`, one per configuration.
fn initial_heads(
    configs: &[TuneConfig],
    dim: usize,
    classes: usize,
    seed: u64,
    device: Device,
) -> Vec<(nn::VarStore, Head)> {
    configs
        .iter()
        .map(|c| {
            let _rng = nml_torch::rng_lock();
            nml_torch::seed(seed);
            let vs = nn::VarStore::new(device);
            let head = Head::new(
                &vs.root(),
                c.method,
                dim as i64,
                classes as i64,
                c.residual,
                c.scale_init,
            );
            (vs, head)
        })
        .collect()
}

/// Stacks the heads' variables by name (every head has the same names and shapes).
fn stack(heads: &[(nn::VarStore, Head)], dim: usize) -> Stack {
    let named: Vec<_> = heads.iter().map(|(vs, _)| vs.variables()).collect();
    let vars = named[0]
        .keys()
        .map(|name| {
            let parts: Vec<Tensor> = named.iter().map(|n| n[name].detach()).collect();
            let t = Tensor::stack(&parts, 0);
            let t = if Stack::trainable(name) {
                t.set_requires_grad(true)
            } else {
                t
            };
            (name.clone(), t)
        })
        .collect();
    Stack {
        vars,
        heads: heads.len() as i64,
        dim: dim as i64,
    }
}

/// AdamW (PyTorch's algorithm) over the stacked tensors, a learning rate and
/// weight decay per head: one fused libtorch step per head, on its slices.
struct AdamW {
    /// Trainable stacked tensors with their first and second moments.
    state: Vec<(Tensor, Tensor, Tensor)>,
    step: u64,
}

impl AdamW {
    fn new(stack: &Stack) -> AdamW {
        let state = stack
            .vars
            .iter()
            .filter(|(name, _)| Stack::trainable(name))
            .map(|(_, t)| (t.shallow_clone(), t.zeros_like(), t.zeros_like()))
            .collect();
        AdamW { state, step: 0 }
    }

    /// One update of head g with learning rate `lr_wd[g].0 · factor` and weight
    /// decay `lr_wd[g].1`; clears the gradients.
    fn step(&mut self, lr_wd: &[(f64, f64)], factor: f64) -> Result<()> {
        self.step += 1;
        let used: Vec<(&Tensor, Tensor, &Tensor, &Tensor)> = self
            .state
            .iter()
            .map(|(p, m, v)| (p, p.grad(), m, v))
            .filter(|(_, g, _, _)| g.defined())
            .collect();
        for (g, &(lr, wd)) in lr_wd.iter().enumerate() {
            let mut lists: [Vec<Tensor>; 4] = Default::default();
            for (p, grad, m, v) in &used {
                for (list, t) in lists.iter_mut().zip([*p, grad, *m, *v]) {
                    list.push(t.get(g as i64));
                }
            }
            let [p, grad, m, v] = &lists;
            let step = nml_torch::AdamWStep {
                lr: lr * factor,
                beta1: BETA1,
                beta2: BETA2,
                eps: EPS,
                weight_decay: wd,
            };
            nml_torch::fused_adamw_(p, grad, m, v, self.step, &step).map_err(TuneError::Invalid)?;
        }
        for (_, mut grad, _, _) in used {
            let _ = grad.zero_();
        }
        Ok(())
    }
}

/// Every head's weighted loss terms on one batch, `[4, G]` (a term no head uses is zero),
/// and the heads whose singular value decomposition failed (with libtorch's reason).
fn terms(stack: &Stack, knobs: &Knobs, batch: &Batch, y: &Tensor) -> (Tensor, Vec<Option<String>>) {
    let (g, b) = (stack.heads, batch.weak.size()[0]);
    let (input, labels) = match &batch.strong {
        None => (batch.weak.shallow_clone(), y.shallow_clone()),
        Some(strong) => (
            Tensor::cat(&[&batch.weak, strong], 0),
            Tensor::cat(&[y, y], 0),
        ),
    };
    let n = input.size()[0];
    let z = stack.tuned(&input);
    let logits = stack.logits(&input, &z);
    let ce = -logits
        .log_softmax(-1, Kind::Float)
        .gather(2, &labels.view([1, n, 1]).expand([g, n, 1], false), false)
        .squeeze_dim(-1)
        .mean_dim([1i64].as_slice(), false, Kind::Float);
    let zero = || ce.zeros_like();
    let consistency = if knobs.uses[0] {
        let z_strong = if batch.strong.is_some() {
            z.narrow(1, b, b)
        } else {
            z.shallow_clone()
        };
        (normalize(&z_strong) - normalize(&batch.weak.detach()))
            .square()
            .mean_dim([1i64, 2].as_slice(), false, Kind::Float)
            * &knobs.mse
    } else {
        zero()
    };
    let covariance = if knobs.uses[1] {
        let centred = &z - z.mean_dim([1i64].as_slice(), true, Kind::Float);
        let off = losses::off_diagonal_sq(&centred);
        off / stack.dim as f64 * &knobs.cov
    } else {
        zero()
    };
    let (sv, failed) = if knobs.uses[2] {
        let (sv, failed) = losses::dominant_sv_per_head(&z, &knobs.topk);
        (sv * &knobs.svd, failed)
    } else {
        (zero(), vec![None; g as usize])
    };
    (Tensor::stack(&[ce, consistency, covariance, sv], 0), failed)
}

/// Marks the heads whose terms on this step diverged, as `fit` would stop them.
fn check_step(
    values: &[f64],
    failed: &[Option<String>],
    knobs: &Knobs,
    classes: usize,
    at: Step,
    diverged: &mut [Option<String>],
) {
    let g = knobs.weights.len();
    let ceiling = watch::ceiling(classes);
    for (head, verdict) in diverged.iter_mut().enumerate() {
        if verdict.is_some() {
            continue;
        }
        if let Some(e) = &failed[head] {
            *verdict = Some(format!(
                "the dominant singular values term: {e}: the head diverged; training stopped (lower --lr)"
            ));
            continue;
        }
        for (t, name) in TERMS.iter().enumerate() {
            let v = values[t * g + head];
            if knobs.weights[head][t] != 0.0 && watch::fails(t, v, ceiling) {
                *verdict = Some(watch::diverged(name, v, at.epoch, at.index));
                break;
            }
        }
    }
}

/// Trains one head per configuration on batches of `source` in one pass
/// (see the module's documentation); the outcome of each, in order.
///
/// An error for the whole grid is a request no head can train with (a
/// configuration `fit` refuses, heads that cannot share a pass); a head that
/// diverges is its own outcome, [`TuneError::Diverged`].
pub fn fit_together(
    configs: &[TuneConfig],
    source: &mut dyn Source,
    labels: &[i64],
    classes: usize,
    seed: u64,
    device: Device,
) -> Result<Vec<Outcome>> {
    check_shared(configs, source)?;
    let first = &configs[0];
    let dim = source.dim();
    let labels = Tensor::from_slice(labels).to_device(device);
    let heads = initial_heads(configs, dim, classes, seed, device);
    let stack = stack(&heads, dim);
    let knobs = Knobs::new(configs, device);
    let mut opt = AdamW::new(&stack);
    let mut diverged: Vec<Option<String>> = vec![None; configs.len()];
    for_each_batch(
        source,
        &labels,
        (first.epochs, first.batch_size),
        seed,
        |features, y, at| {
            let (weighted, failed) = terms(&stack, &knobs, features, y);
            // One host read per step for every head's divergence check.
            let values: Vec<f64> =
                Vec::try_from(weighted.detach().to_kind(Kind::Double).flatten(0, -1))
                    .map_err(|e| TuneError::Invalid(format!("cannot read the loss back: {e}")))?;
            check_step(&values, &failed, &knobs, classes, at, &mut diverged);
            weighted.sum(Kind::Float).backward();
            opt.step(&knobs.lr_wd, cosine_lr(1.0, at.index, at.total))
        },
    )?;
    Ok(unstack(heads, &stack, diverged))
}

/// Copies head g's slice of every stacked tensor back into its own variables.
fn unstack(
    heads: Vec<(nn::VarStore, Head)>,
    stack: &Stack,
    diverged: Vec<Option<String>>,
) -> Vec<Outcome> {
    let _guard = tch::no_grad_guard();
    heads
        .into_iter()
        .zip(diverged)
        .enumerate()
        .map(|(g, ((vs, head), verdict))| {
            if let Some(why) = verdict {
                return Err(TuneError::Diverged(why));
            }
            let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
            variables.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, mut var) in variables {
                let slice = stack.var(&name).get(g as i64);
                if slice.isfinite().all().int64_value(&[]) == 0 {
                    return Err(TuneError::Diverged(format!(
                        "the head's `{name}` is not finite after training: the head diverged (lower --lr)"
                    )));
                }
                var.copy_(&slice);
            }
            Ok((vs, head))
        })
        .collect()
}

/// Whether `a` and `b` can be trained in one pass.
pub fn shares_pass(a: &TuneConfig, b: &TuneConfig) -> bool {
    (a.method, a.epochs, a.batch_size, a.residual, a.two_view)
        == (b.method, b.epochs, b.batch_size, b.residual, b.two_view)
}
