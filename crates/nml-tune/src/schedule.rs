//! The order of a run's batches and its learning-rate schedule, shared by
//! one head ([`crate::fit`]) and a grid trained together ([`crate::grid`]):
//! a seeded shuffle per epoch, batches of `batch_size` rows (a last one of
//! fewer than 2 skipped), per-step cosine decay to 0 without warm-up.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use crate::source::{Batch, Source};
use crate::Result;

/// Where a step is: its epoch, its number, and the run's total steps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub epoch: usize,
    pub index: usize,
    pub total: usize,
}

/// Calls `step` on every batch of `epochs` passes over `source`, in the seeded
/// order of [`epoch_order`], with the batch's labels (of `labels`, one per row);
/// a last batch of fewer than 2 rows is skipped (BatchNorm needs two).
pub(crate) fn for_each_batch(
    source: &mut dyn Source,
    labels: &Tensor,
    (epochs, batch): (usize, usize),
    seed: u64,
    mut step: impl FnMut(&Batch, &Tensor, Step) -> Result<()>,
) -> Result<()> {
    let n = source.rows();
    let total = (n.div_ceil(batch) * epochs).max(1);
    let mut index = 0usize;
    for epoch in 0..epochs {
        let order = epoch_order(n, seed, epoch);
        let batches: Vec<&[i64]> = order.chunks(batch).filter(|c| c.len() >= 2).collect();
        source.start_epoch(&batches, epoch)?;
        // The epoch's order on the device in one copy; each batch is a slice of it.
        let on_device = Tensor::from_slice(&order).to_device(labels.device());
        for (i, chunk) in batches.into_iter().enumerate() {
            let rows = on_device.narrow(0, (i * batch) as i64, chunk.len() as i64);
            let features = source.batch(chunk, &rows, epoch)?;
            let y = labels.index_select(0, &rows);
            step(
                &features,
                &y,
                Step {
                    epoch,
                    index,
                    total,
                },
            )?;
            index += 1;
        }
    }
    Ok(())
}

/// The order of the training rows in `epoch` (a seeded shuffle per epoch).
fn epoch_order(rows: usize, seed: u64, epoch: usize) -> Vec<i64> {
    let mut order: Vec<i64> = (0..rows as i64).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(
        seed ^ ((epoch as u64 + 1) << 32),
    ));
    order
}

/// The learning rate of step `step` of `total`: per-step cosine decay from `lr` to 0,
/// no warm-up (the official schedule).
pub(crate) fn cosine_lr(lr: f64, step: usize, total: usize) -> f64 {
    lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos())
}
