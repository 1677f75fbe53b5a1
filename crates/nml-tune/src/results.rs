//! The tidy results table (a row per method × seed × eval set, with the
//! hyper-parameters) and the JSON summary (mean and standard deviation over seeds).

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use crate::train::{EvalResult, TuneConfig};
use crate::Result;

/// Mean and sample standard deviation of one eval set over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub eval: String,
    pub seeds: usize,
    pub accuracy_mean: f64,
    pub accuracy_std: f64,
    pub sve_mean: f64,
    pub lsvr_mean: f64,
}

/// Per eval set, over seeds.
pub fn summarise(results: &[EvalResult]) -> Vec<Summary> {
    let mut by_eval: BTreeMap<&str, Vec<&EvalResult>> = BTreeMap::new();
    for r in results {
        by_eval.entry(&r.eval).or_default().push(r);
    }
    by_eval
        .into_iter()
        .map(|(eval, rs)| {
            let n = rs.len() as f64;
            let mean = |f: &dyn Fn(&EvalResult) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / n;
            let acc = mean(&|r| r.accuracy);
            let var = if rs.len() > 1 {
                rs.iter().map(|r| (r.accuracy - acc).powi(2)).sum::<f64>() / (n - 1.0)
            } else {
                0.0
            };
            Summary {
                eval: eval.to_owned(),
                seeds: rs.len(),
                accuracy_mean: acc,
                accuracy_std: var.sqrt(),
                sve_mean: mean(&|r| r.sve),
                lsvr_mean: mean(&|r| r.lsvr),
            }
        })
        .collect()
}

/// The tidy table: method, hyper-parameters, seed, eval set, rows, accuracy, sve, lsvr, balanced accuracy.
pub fn frame(config: &TuneConfig, results: &[EvalResult]) -> Result<DataFrame> {
    let n = results.len();
    Ok(df!(
        "method" => vec![config.method.name(); n],
        "epochs" => vec![config.epochs as i64; n],
        "batch_size" => vec![config.batch_size as i64; n],
        "lr" => vec![config.lr; n],
        "weight_decay" => vec![config.weight_decay; n],
        "mse_weight" => vec![config.mse_weight; n],
        "cov_weight" => vec![config.cov_weight; n],
        "svd_weight" => vec![config.svd_weight; n],
        "svd_topk" => vec![config.svd_topk; n],
        "two_view" => vec![config.two_view; n],
        "seed" => results.iter().map(|r| r.seed as i64).collect::<Vec<_>>(),
        "eval" => results.iter().map(|r| r.eval.clone()).collect::<Vec<_>>(),
        "rows" => results.iter().map(|r| r.rows as i64).collect::<Vec<_>>(),
        "accuracy" => results.iter().map(|r| r.accuracy).collect::<Vec<_>>(),
        "sve" => results.iter().map(|r| r.sve).collect::<Vec<_>>(),
        "lsvr" => results.iter().map(|r| r.lsvr).collect::<Vec<_>>(),
        "balanced_accuracy" => results.iter().map(|r| r.balanced_accuracy).collect::<Vec<_>>()
    )?)
}

/// Writes `results.parquet`, `results.csv` (the same rows, fewer columns) and `summary.json` into `out`.
pub fn write(
    out: &Path,
    config: &TuneConfig,
    results: &[EvalResult],
    inputs: serde_json::Value,
) -> Result<()> {
    let mut table = frame(config, results)?;
    let mut file = nml_core::AtomicFile::create(out.join("results.parquet"))?;
    ParquetWriter::new(&mut file).finish(&mut table)?;
    file.commit()?;
    let summary = serde_json::json!({ "config": config, "denormals": nml_torch::denormals::current(), "code_version": nml_spec::code_version(), "inputs": inputs, "summary": summarise(results), "results": results });
    nml_core::write_json_atomic(out.join("summary.json"), &summary)?;
    let mut csv = String::from("method,seed,eval,rows,accuracy,sve,lsvr\n");
    for r in results {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            config.method.name(),
            r.seed,
            r.eval,
            r.rows,
            r.accuracy,
            r.sve,
            r.lsvr
        ));
    }
    nml_core::write_atomic(out.join("results.csv"), csv.as_bytes())?;
    Ok(())
}
