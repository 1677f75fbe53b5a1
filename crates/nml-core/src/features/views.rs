//! The views of a feature table: the eval rows single-view consumers read,
//! and the augmented views lined up behind them for two-view tuning.

use std::collections::HashMap;
use std::path::Path;

use super::{AugmentedViews, FeatureTable};
use crate::error::{CoreError, Result};

impl FeatureTable {
    /// Augmented views per row (K; 0 without a `view` column).
    pub fn views_per_row(&self) -> usize {
        self.view
            .as_ref()
            .and_then(|v| v.iter().max())
            .map_or(0, |&m| m.max(0) as usize)
    }

    /// The eval-transform rows (view 0), in file order, without a view column.
    pub fn eval_view(&self) -> FeatureTable {
        let rows: Vec<usize> = match &self.view {
            None => (0..self.len()).collect(),
            Some(v) => (0..self.len()).filter(|&r| v[r] == 0).collect(),
        };
        let mut table = self.select(&rows);
        table.view = None;
        table
    }

    /// The augmented views 1..=K of every row of `eval` (rows of this table's
    /// view 0, matched by split and index), or `None` when the table has none.
    /// A row lacking one of the K views is an error naming it.
    pub fn augmented_views(
        &self,
        eval: &FeatureTable,
        path: &Path,
    ) -> Result<Option<AugmentedViews>> {
        let k = self.views_per_row();
        let Some(view) = self.view.as_ref().filter(|_| k > 0) else {
            return Ok(None);
        };
        let mut at: HashMap<(&str, i64, i64), usize> = Default::default();
        for (r, &v) in view.iter().enumerate() {
            at.insert((self.split[r].as_str(), self.index[r], v), r);
        }
        let mut values = Vec::with_capacity(eval.len() * k * self.dim);
        for r in 0..eval.len() {
            for v in 1..=k as i64 {
                let row = at
                    .get(&(eval.split[r].as_str(), eval.index[r], v))
                    .ok_or_else(|| {
                        CoreError::invalid(
                            path,
                            format!(
                                "index {} of split `{}` lacks view {v} of {k}",
                                eval.index[r], eval.split[r]
                            ),
                        )
                    })?;
                values.extend_from_slice(self.row(*row));
            }
        }
        Ok(Some(AugmentedViews { per_row: k, values }))
    }
}
