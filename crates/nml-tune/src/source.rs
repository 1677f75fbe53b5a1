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
    /// The features of training rows `rows` in epoch `epoch`.
    fn batch(&mut self, rows: &[i64], epoch: usize) -> Result<Batch>;
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
    fn batch(&mut self, rows: &[i64], _epoch: usize) -> Result<Batch> {
        let index = Tensor::from_slice(rows).to_device(self.features.device());
        Ok(Batch {
            weak: self.features.index_select(0, &index),
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
    fn batch(&mut self, rows: &[i64], _epoch: usize) -> Result<Batch> {
        let k = self.per_row;
        let (mut weak, mut strong) = (
            Vec::with_capacity(rows.len()),
            Vec::with_capacity(rows.len()),
        );
        for &r in rows {
            let w = self.rng.random_range(0..k);
            let mut s = self.rng.random_range(0..k - 1);
            if s >= w {
                s += 1;
            }
            weak.push(r * k + w);
            strong.push(r * k + s);
        }
        let device = self.views.device();
        let pick = |ids: &[i64]| {
            self.views
                .index_select(0, &Tensor::from_slice(ids).to_device(device))
        };
        Ok(Batch {
            weak: pick(&weak),
            strong: Some(pick(&strong)),
        })
    }
}

/// Row-major `rows × dim` values as a `[rows, dim]` tensor on `device`.
pub(crate) fn rows_tensor(values: &[f32], rows: usize, dim: usize, device: Device) -> Tensor {
    Tensor::from_slice(values)
        .view([rows as i64, dim as i64])
        .to_device(device)
}
