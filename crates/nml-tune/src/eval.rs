//! Scoring a trained head on a feature table: accuracy, and the spectrum
//! (SVE, LSVR) of its tuned features z.

use nml_core::FeatureTable;
use nml_spectral::{Metrics, SpectralConfig};
use serde::{Deserialize, Serialize};
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

use crate::model::Head;
use crate::source::rows_tensor;
use crate::{Result, TuneError};

/// One evaluation table's result for one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    pub eval: String,
    pub seed: u64,
    pub rows: usize,
    pub accuracy: f64,
    /// The mean over classes of the share of their rows predicted right
    /// (absent, as 0, in files written before it).
    #[serde(default)]
    pub balanced_accuracy: f64,
    pub sve: f64,
    pub lsvr: f64,
}

/// Top-1 accuracy: the fraction of `predicted` equal to `labels`.
pub fn top1(predicted: &[i64], labels: &[i64]) -> f64 {
    let hits = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    hits as f64 / labels.len().max(1) as f64
}

/// Balanced accuracy: the mean over the classes present in `labels` of the
/// fraction of their rows predicted right (scikit-learn's `balanced_accuracy_score`).
pub fn balanced_accuracy(predicted: &[i64], labels: &[i64]) -> f64 {
    let mut per_class: std::collections::BTreeMap<i64, (usize, usize)> = Default::default();
    for (p, l) in predicted.iter().zip(labels) {
        let entry = per_class.entry(*l).or_default();
        entry.0 += usize::from(p == l);
        entry.1 += 1;
    }
    let recalls: Vec<f64> = per_class
        .values()
        .map(|&(hit, all)| hit as f64 / all as f64)
        .collect();
    recalls.iter().sum::<f64>() / recalls.len().max(1) as f64
}

/// The eval rows of `table` (itself when it has no augmented views).
fn eval_rows(table: &FeatureTable) -> std::borrow::Cow<'_, FeatureTable> {
    if table.view.is_some() {
        std::borrow::Cow::Owned(table.eval_view())
    } else {
        std::borrow::Cow::Borrowed(table)
    }
}

/// The fraction of `predicted` (a `[N]` tensor of class ids) equal to `labels`.
fn fraction_correct(predicted: &Tensor, labels: &[i64]) -> f64 {
    let correct = predicted
        .to_device(Device::Cpu)
        .eq_tensor(&Tensor::from_slice(labels))
        .sum(Kind::Int64)
        .int64_value(&[]);
    correct as f64 / labels.len() as f64
}

/// Accuracy of `head` on `table`'s eval rows, without the spectrum (model selection's score).
pub fn accuracy(head: &Head, table: &FeatureTable, device: Device) -> f64 {
    let _guard = tch::no_grad_guard();
    let table = eval_rows(table);
    let f = rows_tensor(&table.features, table.len(), table.dim, device);
    let predicted = head.forward_t(&f, false).argmax(-1, false);
    fraction_correct(&predicted, &table.label)
}

/// Accuracy of `head` on `table`'s eval rows, and the spectrum of their z.
pub fn evaluate(
    head: &Head,
    name: &str,
    table: &FeatureTable,
    seed: u64,
    device: Device,
) -> Result<EvalResult> {
    let _guard = tch::no_grad_guard();
    let table = eval_rows(table);
    let f = rows_tensor(&table.features, table.len(), table.dim, device);
    let z = head.tuned(&f, false);
    // One read of the predictions serves both scores.
    let predicted: Vec<i64> =
        Vec::try_from(head.logits(&z).argmax(-1, false).to_device(Device::Cpu))
            .map_err(|e| TuneError::Invalid(format!("cannot read predictions back: {e}")))?;
    let accuracy = top1(&predicted, &table.label);
    let balanced_accuracy = balanced_accuracy(&predicted, &table.label);
    let z: Vec<f32> = Vec::try_from(z.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
        .map_err(|e| TuneError::Invalid(format!("cannot read z back: {e}")))?;
    let sigma =
        nml_spectral::singular_values(&z, table.len(), table.dim, &SpectralConfig::default());
    let metrics = Metrics::from_singular_values(&sigma);
    Ok(EvalResult {
        eval: name.to_owned(),
        seed,
        rows: table.len(),
        accuracy,
        balanced_accuracy,
        sve: metrics.sve,
        lsvr: metrics.lsvr,
    })
}
