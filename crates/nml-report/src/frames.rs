//! The records as the tidy tables of `results/*.parquet`.

use std::path::PathBuf;

use polars::prelude::*;

use crate::collect::{Results, TuneRecord};
use crate::{ReportError, Result};

/// A polars error while building a results table.
fn fail(source: PolarsError) -> ReportError {
    ReportError::Polars {
        path: PathBuf::from("results"),
        source,
    }
}

impl Results {
    /// The records as tidy polars tables, by file stem under `results/`.
    pub fn frames(&self) -> Result<Vec<(&'static str, DataFrame)>> {
        let mut frames = vec![
            ("pretrain", self.pretrain_frame()?),
            ("spectral", self.spectral_frame()?),
            ("tuning", self.tuning_frame()?),
        ];
        if !self.knn.is_empty() {
            frames.push(("knn", self.knn_frame()?));
        }
        Ok(frames)
    }

    fn pretrain_frame(&self) -> Result<DataFrame> {
        let p = &self.pretrain;
        df!(
            "setting" => p.iter().map(|r| r.setting.name()).collect::<Vec<_>>(),
            "noise" => p.iter().map(|r| r.noise.name()).collect::<Vec<_>>(),
            "ratio" => p.iter().map(|r| r.ratio).collect::<Vec<_>>(),
            "seed" => p.iter().map(|r| r.seed).collect::<Vec<_>>(),
            "noise_realised" => p.iter().map(|r| r.noise_realised).collect::<Vec<_>>(),
            "test_acc" => p.iter().map(|r| r.test_acc).collect::<Vec<_>>(),
            "train_acc_noisy" => p.iter().map(|r| r.train_acc_noisy).collect::<Vec<_>>(),
            "train_acc_clean" => p.iter().map(|r| r.train_acc_clean).collect::<Vec<_>>(),
            "images_per_sec" => p.iter().map(|r| r.images_per_sec).collect::<Vec<_>>()
        )
        .map_err(fail)
    }

    fn spectral_frame(&self) -> Result<DataFrame> {
        let s = &self.spectral;
        df!(
            "setting" => s.iter().map(|r| r.setting.name()).collect::<Vec<_>>(),
            "noise" => s.iter().map(|r| r.noise.name()).collect::<Vec<_>>(),
            "ratio" => s.iter().map(|r| r.ratio).collect::<Vec<_>>(),
            "seed" => s.iter().map(|r| r.seed).collect::<Vec<_>>(),
            "task" => s.iter().map(|r| r.task.clone()).collect::<Vec<_>>(),
            "domain" => s.iter().map(|r| r.domain.clone()).collect::<Vec<_>>(),
            "split" => s.iter().map(|r| r.split.name()).collect::<Vec<_>>(),
            "sve" => s.iter().map(|r| r.sve).collect::<Vec<_>>(),
            "lsvr" => s.iter().map(|r| r.lsvr).collect::<Vec<_>>(),
            "effective_rank" => s.iter().map(|r| r.effective_rank).collect::<Vec<_>>()
        )
        .map_err(fail)
    }

    /// Every head: the fixed recipe's, those selected on validation, the
    /// noisy-downstream arm's and those `auto` kept, told apart by `recipe` and `downstream_noise`.
    fn tuning_frame(&self) -> Result<DataFrame> {
        // The fixed recipe's heads, those selected on validation (told apart by
        // `recipe`), then the fixed recipe's on noisy downstream labels (`downstream_noise`).
        // The heads `auto` kept come last (recipe `auto`).
        let t: Vec<&TuneRecord> = self
            .tune
            .iter()
            .chain(&self.selected)
            .chain(&self.noisy_downstream)
            .chain(&self.auto)
            .collect();
        let (fixed, selected, noisy) = (
            self.tune.len(),
            self.selected.len(),
            self.noisy_downstream.len(),
        );
        let recipe = |r: usize| {
            if (fixed..fixed + selected).contains(&r) {
                "selected"
            } else if r >= fixed + selected + noisy {
                "auto"
            } else {
                "fixed"
            }
        };
        let downstream_noise = |r: usize| {
            if (fixed + selected..fixed + selected + noisy).contains(&r) {
                nml_study::types::DOWNSTREAM_NOISE
            } else {
                0
            }
        };
        df!(
            "setting" => t.iter().map(|r| r.setting.name()).collect::<Vec<_>>(),
            "noise" => t.iter().map(|r| r.noise.name()).collect::<Vec<_>>(),
            "ratio" => t.iter().map(|r| r.ratio).collect::<Vec<_>>(),
            "seed" => t.iter().map(|r| r.seed).collect::<Vec<_>>(),
            "head" => t.iter().map(|r| r.head).collect::<Vec<_>>(),
            "task" => t.iter().map(|r| r.task.clone()).collect::<Vec<_>>(),
            "variant" => t.iter().map(|r| r.variant.name()).collect::<Vec<_>>(),
            "recipe" => (0..t.len()).map(recipe).collect::<Vec<_>>(),
            "downstream_noise" => (0..t.len()).map(downstream_noise).collect::<Vec<_>>(),
            "domain" => t.iter().map(|r| r.domain.clone()).collect::<Vec<_>>(),
            "split" => t.iter().map(|r| r.split.name()).collect::<Vec<_>>(),
            "accuracy" => t.iter().map(|r| r.accuracy).collect::<Vec<_>>(),
            "z_sve" => t.iter().map(|r| r.sve).collect::<Vec<_>>(),
            "z_lsvr" => t.iter().map(|r| r.lsvr).collect::<Vec<_>>(),
            "two_view" => t.iter().map(|r| r.two_view).collect::<Vec<_>>(),
            "rows" => t.iter().map(|r| r.rows).collect::<Vec<_>>(),
            "lr" => t.iter().map(|r| r.lr).collect::<Vec<_>>(),
            "weight_decay" => t.iter().map(|r| r.weight_decay).collect::<Vec<_>>(),
            "balanced_accuracy" => t.iter().map(|r| r.balanced_accuracy).collect::<Vec<_>>()
        )
        .map_err(fail)
    }

    /// The k-NN scores (real-models).
    fn knn_frame(&self) -> Result<DataFrame> {
        let k = &self.knn;
        df!(
            "task" => k.iter().map(|r| r.task.clone()).collect::<Vec<_>>(),
            "domain" => k.iter().map(|r| r.domain.clone()).collect::<Vec<_>>(),
            "split" => k.iter().map(|r| r.split.name()).collect::<Vec<_>>(),
            "k" => k.iter().map(|r| r.k).collect::<Vec<_>>(),
            "rows" => k.iter().map(|r| r.rows).collect::<Vec<_>>(),
            "accuracy" => k.iter().map(|r| r.accuracy).collect::<Vec<_>>(),
            "balanced_accuracy" => k.iter().map(|r| r.balanced_accuracy).collect::<Vec<_>>()
        )
        .map_err(fail)
    }
}
