//! The k-nearest-neighbour classifier on frozen features, as DINOv2's
//! evaluation (`knn.py`) and CLIP_benchmark run it: rows L2-normalised,
//! cosine similarity to every training row, the k most similar vote for
//! their labels with weight `exp(similarity / T)` (T = 0.07), the class with
//! the largest summed weight wins. No training, so no seed; and balanced
//! accuracy (the mean of per-class recalls) beside top-1.

use nml_core::FeatureTable;
use tch::{Device, Kind, Tensor};

use crate::source::rows_tensor;
use crate::{Result, TuneError};

/// How the k nearest neighbours vote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Votes {
    /// Weight `exp(similarity / T)`: DINOv2's rule.
    Weighted { temperature: f64 },
    /// One vote each (scikit-learn's `KNeighborsClassifier(weights="uniform")`).
    Uniform,
}

/// Neighbours and their votes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnConfig {
    pub k: usize,
    pub votes: Votes,
}

impl KnnConfig {
    /// DINOv2's temperature.
    pub const TEMPERATURE: f64 = 0.07;
    /// The k DINOv2 reports (10 and 20).
    pub const KS: [usize; 2] = [10, 20];

    /// DINOv2's weighted votes with its temperature.
    pub fn new(k: usize) -> KnnConfig {
        KnnConfig {
            k,
            votes: Votes::Weighted {
                temperature: KnnConfig::TEMPERATURE,
            },
        }
    }

    /// The vote temperature (NaN for uniform votes).
    pub fn temperature(&self) -> f64 {
        match self.votes {
            Votes::Weighted { temperature } => temperature,
            Votes::Uniform => f64::NAN,
        }
    }
}

/// Test rows scored against every training row at once.
const CHUNK: i64 = 256;

/// `table`'s eval rows: the table itself when it has no augmented views
/// (an eval table already is one), else a copy of its view 0.
fn eval_rows(table: &FeatureTable) -> std::borrow::Cow<'_, FeatureTable> {
    if table.view.is_none() {
        std::borrow::Cow::Borrowed(table)
    } else {
        std::borrow::Cow::Owned(table.eval_view())
    }
}

/// The predicted class of each of `test`'s eval rows from `train`'s eval rows.
pub fn knn_predict(
    train: &FeatureTable,
    test: &FeatureTable,
    config: KnnConfig,
    device: Device,
) -> Result<Vec<i64>> {
    let (train, test) = (eval_rows(train), eval_rows(test));
    if train.dim != test.dim {
        return Err(TuneError::Invalid(format!(
            "k-NN: training features have {} dimensions, test features {}",
            train.dim, test.dim
        )));
    }
    if config.k == 0 || config.k > train.len() {
        return Err(TuneError::Invalid(format!(
            "k-NN: k = {} needs between 1 and the {} training rows",
            config.k,
            train.len()
        )));
    }
    if let Votes::Weighted { temperature } = config.votes {
        if temperature.is_nan() || temperature <= 0.0 {
            return Err(TuneError::Invalid(format!(
                "k-NN: the temperature must be positive, not {temperature}"
            )));
        }
    }
    let _guard = tch::no_grad_guard();
    let classes = train
        .label
        .iter()
        .chain(&test.label)
        .copied()
        .max()
        .unwrap_or(0)
        + 1;
    let unit = |t: &FeatureTable| {
        let x = rows_tensor(&t.features, t.len(), t.dim, device).to_kind(Kind::Float);
        let norm = x
            .norm_scalaropt_dim(2, [1i64].as_slice(), true)
            .clamp_min(1e-12);
        x / norm
    };
    let (train_x, test_x) = (unit(&train), unit(&test));
    let labels = Tensor::from_slice(&train.label).to_device(device);
    let mut predicted = Vec::with_capacity(test.len());
    let n = test.len() as i64;
    let mut start = 0;
    while start < n {
        let rows = CHUNK.min(n - start);
        let sims = test_x.narrow(0, start, rows).matmul(&train_x.tr());
        let (top, index) = sims.topk(config.k as i64, 1, true, true);
        let neighbours = labels
            .index_select(0, &index.flatten(0, -1))
            .view([rows, -1]);
        let weights = match config.votes {
            Votes::Weighted { temperature } => (top / temperature).exp(),
            Votes::Uniform => top.ones_like(),
        };
        let votes = Tensor::zeros([rows, classes], (Kind::Float, device)).scatter_add(
            1,
            &neighbours,
            &weights,
        );
        let chunk: Vec<i64> = Vec::try_from(votes.argmax(1, false).to_device(Device::Cpu))
            .map_err(|e| TuneError::Invalid(format!("k-NN: cannot read predictions back: {e}")))?;
        predicted.extend(chunk);
        start += rows;
    }
    Ok(predicted)
}

pub use crate::eval::{balanced_accuracy, top1 as accuracy};

/// One eval table scored by k-NN with one k.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KnnResult {
    pub eval: String,
    pub k: usize,
    pub temperature: f64,
    pub rows: usize,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
}

/// `test`'s eval rows scored against `train`'s with `config`.
pub fn score(
    train: &FeatureTable,
    (name, test): (&str, &FeatureTable),
    config: KnnConfig,
    device: Device,
) -> Result<KnnResult> {
    let predicted = knn_predict(train, test, config, device)?;
    let labels = &eval_rows(test).label;
    Ok(KnnResult {
        eval: name.to_owned(),
        k: config.k,
        temperature: config.temperature(),
        rows: labels.len(),
        accuracy: accuracy(&predicted, labels),
        balanced_accuracy: balanced_accuracy(&predicted, labels),
    })
}

/// `results.parquet` of `--method knn`: a row per k and eval table (method
/// `knn`, k, temperature, eval, rows, accuracy, balanced accuracy; no seed:
/// k-NN trains nothing).
pub fn frame(results: &[KnnResult]) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let n = results.len();
    Ok(df!(
        "method" => vec!["knn"; n],
        "k" => results.iter().map(|r| r.k as i64).collect::<Vec<_>>(),
        "temperature" => results.iter().map(|r| r.temperature).collect::<Vec<_>>(),
        "eval" => results.iter().map(|r| r.eval.clone()).collect::<Vec<_>>(),
        "rows" => results.iter().map(|r| r.rows as i64).collect::<Vec<_>>(),
        "accuracy" => results.iter().map(|r| r.accuracy).collect::<Vec<_>>(),
        "balanced_accuracy" => results.iter().map(|r| r.balanced_accuracy).collect::<Vec<_>>()
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_accuracy_is_the_mean_of_per_class_recalls() {
        // Class 0: 3 of 4 right; class 1: 0 of 1; class 2: 1 of 1.
        let labels = [0, 0, 0, 0, 1, 2];
        let predicted = [0, 0, 0, 2, 0, 2];
        assert!((accuracy(&predicted, &labels) - 4.0 / 6.0).abs() < 1e-12);
        let expected = (0.75 + 0.0 + 1.0) / 3.0;
        assert!((balanced_accuracy(&predicted, &labels) - expected).abs() < 1e-12);
        // Balanced and top-1 agree on a balanced test set with one recall per class.
        assert_eq!(balanced_accuracy(&[0, 1], &[0, 1]), 1.0);
    }
}
