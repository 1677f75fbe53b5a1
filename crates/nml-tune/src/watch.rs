//! Divergence of a head's loss terms, watched on the training device.
//!
//! Reading a loss value back is a host synchronisation on CUDA: the host
//! waits for every queued kernel. Checking each term every step did that
//! once per term per step. [`Watch`] instead folds each step's terms into
//! one small device tensor (per term: the first failing step, its epoch
//! and its value) without a read, and [`Watch::check`] reads them back: every
//! step on the CPU, where a read costs nothing and training stops at once as
//! before, every [`Watch::CUDA_EVERY`] steps and at the end on CUDA. The
//! first failure is reported the same either way, with its term, epoch and step.

use tch::{Device, Kind, Tensor};

use crate::schedule::Step;
use crate::train::Terms;
use crate::{Result, TuneError};

/// How far above a uniform guess's cross-entropy (ln C) a batch's may go
/// before training counts as diverged: a finite but runaway loss (a linear
/// probe at a huge learning rate) stops as a non-finite one does.
pub const DIVERGED_CE: f64 = 1e3;

/// A run's loss terms, folded on the device step by step.
pub(crate) struct Watch {
    classes: usize,
    device: Device,
    every: usize,
    /// Set at the first step (a run's terms are the same every step).
    state: Option<State>,
}

struct State {
    names: Vec<&'static str>,
    /// `[T]` float64: the cross-entropy's ceiling, then +inf.
    ceiling: Tensor,
    /// `[3, T]` float64, per term: the first step at which it failed (or -1),
    /// that step's epoch, and the failing value; one read returns all three.
    record: Tensor,
}

/// A term's value that stops training: not finite, or (the cross-entropy)
/// above [`ceiling`]. The grid's host-side check applies the same rule.
pub(crate) fn fails(term: usize, value: f64, ceiling: f64) -> bool {
    !value.is_finite() || (term == 0 && value > ceiling)
}

/// The cross-entropy ceiling of a `classes`-way head: [`DIVERGED_CE`] × ln C.
pub(crate) fn ceiling(classes: usize) -> f64 {
    DIVERGED_CE * (classes as f64).ln().max(1.0)
}

/// The error text of a head whose `name` term became `value` at step
/// `index` of epoch `epoch` (both from 0).
pub(crate) fn diverged(name: &str, value: f64, epoch: usize, index: usize) -> String {
    format!(
        "the {name} term became {value:.4e} in epoch {} (step {index}): the head diverged; training stopped (lower --lr)",
        epoch + 1
    )
}

impl Watch {
    /// Steps between two reads on CUDA: one synchronisation per 64 steps, and at
    /// most 63 steps trained after a failure before it is reported.
    pub const CUDA_EVERY: usize = 64;

    pub(crate) fn new(classes: usize, device: Device) -> Watch {
        Watch {
            classes,
            device,
            every: if device == Device::Cpu {
                1
            } else {
                Watch::CUDA_EVERY
            },
            state: None,
        }
    }

    /// Folds one step's terms in and returns their sum; reads back (and stops
    /// training on a failure) when the step is due.
    pub(crate) fn total(&mut self, terms: Terms, at: Step) -> Result<Tensor> {
        let values: Vec<Tensor> = terms.weighted.iter().map(|(_, t)| t.detach()).collect();
        let values = Tensor::stack(&values, 0).to_kind(Kind::Double);
        let state = self.state.get_or_insert_with(|| {
            let names: Vec<&'static str> = terms.weighted.iter().map(|(n, _)| *n).collect();
            let mut top = vec![f64::INFINITY; names.len()];
            top[0] = ceiling(self.classes);
            let t = names.len() as i64;
            let opts = (Kind::Double, self.device);
            let record = Tensor::cat(
                &[
                    Tensor::full([1, t], -1.0, opts),
                    Tensor::zeros([2, t], opts),
                ],
                0,
            );
            State {
                names,
                ceiling: Tensor::from_slice(&top).to_device(self.device),
                record,
            }
        });
        let failed = values
            .isfinite()
            .logical_not()
            .logical_or(&values.gt_tensor(&state.ceiling));
        let first = failed.logical_and(&state.record.get(0).lt(0.0));
        let now = Tensor::stack(
            &[
                Tensor::full_like(&values, at.index as f64),
                Tensor::full_like(&values, at.epoch as f64),
                values,
            ],
            0,
        );
        state.record = now.where_self(&first.unsqueeze(0), &state.record);
        if (at.index + 1).is_multiple_of(self.every) {
            self.check()?;
        }
        Ok(terms.sum())
    }

    /// The first failure folded in so far, as an error naming its term, epoch and step.
    pub(crate) fn check(&self) -> Result<()> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let record = Vec::<f64>::try_from(state.record.to_device(Device::Cpu).view([-1]))
            .map_err(|e| TuneError::Invalid(e.to_string()))?;
        let t = state.names.len();
        // The earliest step; on a tie, the term first in the official order.
        let Some(k) = (0..t)
            .filter(|&k| record[k] >= 0.0)
            .min_by(|&a, &b| record[a].total_cmp(&record[b]).then(a.cmp(&b)))
        else {
            return Ok(());
        };
        let (epoch, index) = (record[t + k] as usize, record[k] as usize);
        Err(TuneError::Diverged(diverged(
            state.names[k],
            record[2 * t + k],
            epoch,
            index,
        )))
    }
}
