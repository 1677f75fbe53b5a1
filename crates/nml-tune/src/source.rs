//! Where a training batch's frozen features come from.
//!
//! - [`SingleView`]: the eval-transform features of a cached table (one view
//!   per image; no augmentation reaches the head);
//! - [`CachedViews`]: two distinct augmented views per row, drawn each step
//!   from the K views cached by `nml-features extract --views K`;
//! - `encoder::Encoder` (in `encoder.rs`): the frozen backbone run on fresh
//!   augmentations every step, as the official loop does.
//!
//! A two-view batch is `[weak; strong]`; how the head uses it is in
//! [`crate::train::loss_terms`].

use nml_core::{AugmentedViews, FeatureTable};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor};

use crate::{Result, TuneError};

/// The frozen features of one batch.
#[derive(Debug)]
pub struct Batch {
    /// `[B, D]`: the eval view (single view) or the weak view.
    pub weak: Tensor,
    /// `[B, D]`: the strong view of the same rows (two-view training only).
    pub strong: Option<Tensor>,
}

/// A training set the loop can draw batches from.
pub trait Source {
    /// Rows (images) of the training set.
    fn rows(&self) -> usize;
    /// Feature dimension.
    fn dim(&self) -> usize;
    /// Whether batches carry a strong view.
    fn two_view(&self) -> bool;
    /// Called at the start of each epoch with its batches of rows, in training
    /// order: a source that draws per row prepares the whole epoch here in one
    /// upload, so that its batches copy nothing from the host (on CUDA each
    /// copy of pageable memory waits for the queued kernels).
    fn start_epoch(&mut self, _batches: &[&[i64]], _epoch: usize) -> Result<()> {
        Ok(())
    }
    /// The features of the epoch's next batch: training rows `rows`, which
    /// `index` holds on the training device.
    fn batch(&mut self, rows: &[i64], index: &Tensor, epoch: usize) -> Result<Batch>;
}

/// The eval-transform features of a cached table.
pub struct SingleView {
    features: Tensor,
    dim: usize,
}

impl SingleView {
    /// `table` holds one row per image (its eval view).
    pub fn new(table: &FeatureTable, device: Device) -> SingleView {
        SingleView {
            features: rows_tensor(&table.features, table.len(), table.dim, device),
            dim: table.dim,
        }
    }
}

impl Source for SingleView {
    fn rows(&self) -> usize {
        self.features.size()[0] as usize
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn two_view(&self) -> bool {
        false
    }
    fn batch(&mut self, _rows: &[i64], index: &Tensor, _epoch: usize) -> Result<Batch> {
        Ok(Batch {
            weak: self.features.index_select(0, index),
            strong: None,
        })
    }
}

/// Two distinct cached augmented views per row, drawn afresh every step.
pub struct CachedViews {
    /// `[N·K, D]`: view v (0-based here) of row r at r·K + v.
    views: Tensor,
    per_row: i64,
    dim: usize,
    rng: ChaCha8Rng,
    /// `[2, n]` on the device: the epoch's weak and strong view ids, batch after batch.
    drawn: Option<Tensor>,
    /// Where the next batch's ids start in `drawn`.
    cursor: i64,
}

impl CachedViews {
    /// `views` lines up K ≥ 2 augmented views behind each of `rows` rows.
    pub fn new(
        views: &AugmentedViews,
        rows: usize,
        dim: usize,
        seed: u64,
        device: Device,
    ) -> Result<CachedViews> {
        if views.per_row < 2 {
            return Err(TuneError::Invalid(format!(
                "two-view training draws two distinct augmented views per row; the table has {} (extract with --views 2 or more)",
                views.per_row
            )));
        }
        Ok(CachedViews {
            views: rows_tensor(&views.values, rows * views.per_row, dim, device),
            per_row: views.per_row as i64,
            dim,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7477_6f2d_7669_6577),
            drawn: None,
            cursor: 0,
        })
    }
}

impl Source for CachedViews {
    fn rows(&self) -> usize {
        self.views.size()[0] as usize / self.per_row as usize
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn two_view(&self) -> bool {
        true
    }
    /// Draws every batch's views in batch order, as drawing them batch by batch would.
    fn start_epoch(&mut self, batches: &[&[i64]], _epoch: usize) -> Result<()> {
        let k = self.per_row;
        let n: usize = batches.iter().map(|b| b.len()).sum();
        let mut ids = vec![0i64; 2 * n];
        let (weak, strong) = ids.split_at_mut(n);
        for (i, &r) in batches.iter().flat_map(|b| b.iter()).enumerate() {
            let w = self.rng.random_range(0..k);
            let mut s = self.rng.random_range(0..k - 1);
            if s >= w {
                s += 1;
            }
            weak[i] = r * k + w;
            strong[i] = r * k + s;
        }
        self.drawn = Some(
            Tensor::from_slice(&ids)
                .view([2, n as i64])
                .to_device(self.views.device()),
        );
        self.cursor = 0;
        Ok(())
    }

    fn batch(&mut self, rows: &[i64], _index: &Tensor, _epoch: usize) -> Result<Batch> {
        let drawn = self.drawn.as_ref().ok_or_else(|| {
            TuneError::Invalid(
                "cached views: a batch asked for before its epoch started".to_owned(),
            )
        })?;
        let b = rows.len() as i64;
        if self.cursor + b > drawn.size()[1] {
            return Err(TuneError::Invalid(
                "cached views: more rows asked for than the epoch drew".to_owned(),
            ));
        }
        let ids = drawn.narrow(1, self.cursor, b);
        self.cursor += b;
        let pick = |i: i64| self.views.index_select(0, &ids.get(i));
        Ok(Batch {
            weak: pick(0),
            strong: Some(pick(1)),
        })
    }
}

/// Row-major `rows × dim` values as a `[rows, dim]` tensor on `device`.
pub(crate) fn rows_tensor(values: &[f32], rows: usize, dim: usize, device: Device) -> Tensor {
    Tensor::from_slice(values)
        .view([rows as i64, dim as i64])
        .to_device(device)
}
