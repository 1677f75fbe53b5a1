//! Means and standard deviations over seeds, per seed and per condition: what
//! the report's tables show and what [`crate::inference`]'s tests read.

use std::collections::BTreeMap;

use nml_study::{Split, Variant};

use crate::collect::{Results, SpectralRecord};
use crate::run::RunInfo;

/// Mean and sample standard deviation over seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
    /// The variance of the mean from sampling one fixed test set (the
    /// binomial p(1 − p)/N, averaged over the split's evals); 0 where the
    /// seeds already vary everything that the claim generalises over.
    pub test_var: f64,
}

impl Stat {
    /// Of `values` (NaN mean when empty; std 0 below two values).
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        // Equal values averaged in different orders differ by rounding only:
        // that is no spread (accuracies differ by at least one test row).
        let std = if std <= 1e-9 * mean.abs() { 0.0 } else { std };
        Stat {
            mean,
            std,
            n,
            test_var: 0.0,
        }
    }

    /// As a percentage with its seeds, `85.3 ± 1.2 (n=3)` (`– (n=0)` without values).
    pub fn pct(&self) -> String {
        if self.n == 0 {
            "– (n=0)".to_owned()
        } else if self.n > 1 {
            format!(
                "{:.1} ± {:.1} (n={})",
                100.0 * self.mean,
                100.0 * self.std,
                self.n
            )
        } else {
            format!("{:.1} (n={})", 100.0 * self.mean, self.n)
        }
    }

    /// With `digits` decimals and its seeds, `2.713 ± 0.004 (n=3)`.
    pub fn fixed(&self, digits: usize) -> String {
        if self.n == 0 {
            "– (n=0)".to_owned()
        } else if self.n > 1 {
            format!(
                "{:.digits$} ± {:.digits$} (n={})",
                self.mean, self.std, self.n
            )
        } else {
            format!("{:.digits$} (n={})", self.mean, self.n)
        }
    }
}

pub(crate) fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Accuracy of `variant` at `ratio` per seed: the mean over tasks (and OOD domains) of `split`.
pub fn accuracy_per_seed(
    results: &Results,
    ratio: u32,
    variant: Variant,
    split: Split,
) -> BTreeMap<u64, f64> {
    mean_by_seed(
        results
            .tune
            .iter()
            .filter(|r| r.ratio == ratio && r.variant == variant && r.split == split)
            .map(|r| (r.seed, r.accuracy)),
    )
}

/// Mean of the values of each seed.
fn mean_by_seed(values: impl Iterator<Item = (u64, f64)>) -> BTreeMap<u64, f64> {
    let mut by_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (seed, v) in values {
        by_seed.entry(seed).or_default().push(v);
    }
    by_seed
        .into_iter()
        .filter_map(|(s, v)| Some((s, mean(v.into_iter())?)))
        .collect()
}

/// Accuracy of `variant` at `ratio` on `split` over seeds.
pub fn accuracy(results: &Results, ratio: u32, variant: Variant, split: Split) -> Stat {
    let values: Vec<f64> = accuracy_per_seed(results, ratio, variant, split)
        .into_values()
        .collect();
    Stat::of(&values)
}

/// The seed standard deviation of `variant`'s `split` average, pooled over
/// `ratios` (each ratio's variance weighted by its n − 1), with its degrees of
/// freedom; None without two seeds at any ratio. One ratio's own std rests on
/// n − 1 degrees of freedom (1 with two seeds); the pooled one on all of them.
pub fn pooled_seed_std(
    results: &Results,
    ratios: &[u32],
    variant: Variant,
    split: Split,
) -> Option<(f64, usize)> {
    let (mut sum, mut df) = (0.0, 0usize);
    for &ratio in ratios {
        let s = accuracy(results, ratio, variant, split);
        if s.n > 1 {
            sum += (s.n - 1) as f64 * s.std.powi(2);
            df += s.n - 1;
        }
    }
    (df > 0).then(|| ((sum / df as f64).sqrt(), df))
}

/// A spectral metric of the backbone at `ratio` per seed, averaged over tasks (and OOD domains).
pub fn spectral_per_seed(
    results: &Results,
    ratio: u32,
    split: Split,
    metric: fn(&SpectralRecord) -> f64,
) -> BTreeMap<u64, f64> {
    mean_by_seed(
        results
            .spectral
            .iter()
            .filter(|r| r.ratio == ratio && r.split == split)
            .map(|r| (r.seed, metric(r))),
    )
}

/// A spectral metric over seeds.
pub fn spectral(
    results: &Results,
    ratio: u32,
    split: Split,
    metric: fn(&SpectralRecord) -> f64,
) -> Stat {
    let values: Vec<f64> = spectral_per_seed(results, ratio, split, metric)
        .into_values()
        .collect();
    Stat::of(&values)
}

/// SVE of the features.
pub fn sve(r: &SpectralRecord) -> f64 {
    r.sve
}

/// LSVR of the features.
pub fn lsvr(r: &SpectralRecord) -> f64 {
    r.lsvr
}

/// (spectral metric, LP accuracy) per (ratio, seed): the scatter of Figures 3 and 5.
pub fn scatter(
    run: &RunInfo,
    results: &Results,
    split: Split,
    metric: fn(&SpectralRecord) -> f64,
) -> Vec<(u32, f64, f64)> {
    let mut points = Vec::new();
    for &ratio in &run.shape.ratios {
        let m = spectral_per_seed(results, ratio, split, metric);
        let a = accuracy_per_seed(results, ratio, Variant::Lp, split);
        for (seed, x) in &m {
            if let Some(y) = a.get(seed) {
                points.push((ratio, *x, *y));
            }
        }
    }
    points
}

/// Accuracy of `variant` on `task` and `split` over head seeds (mean over the
/// split's evals per seed), with the binomial variance of its fixed test sets:
/// (1/m²) Σ_j p_j(1 − p_j)/N_j over the split's m evals, p_j the eval's mean
/// accuracy and N_j its test rows (0 where the tables do not record them).
pub fn task_accuracy(results: &Results, task: &str, variant: Variant, split: Split) -> Stat {
    let rows: Vec<&crate::collect::TuneRecord> = results
        .tune
        .iter()
        .filter(|r| r.task == task && r.variant == variant && r.split == split)
        .collect();
    let values: Vec<f64> = mean_by_seed(rows.iter().map(|r| (r.seed, r.accuracy)))
        .into_values()
        .collect();
    let mut by_eval: BTreeMap<&str, (Vec<f64>, u64)> = BTreeMap::new();
    for r in &rows {
        let e = by_eval.entry(r.domain.as_str()).or_default();
        e.0.push(r.accuracy);
        e.1 = e.1.max(r.rows);
    }
    let m = by_eval.len() as f64;
    let test_var = by_eval
        .values()
        .filter(|(_, n)| *n > 0)
        .map(|(acc, n)| {
            let p = acc.iter().sum::<f64>() / acc.len() as f64;
            p * (1.0 - p) / *n as f64
        })
        .sum::<f64>()
        / (m * m).max(1.0);
    Stat {
        test_var,
        ..Stat::of(&values)
    }
}

/// (Sxx, Syy, Sxy) of `points` about their means.
pub(crate) fn moments(points: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    (sxx, syy, sxy)
}

/// Ranks from 1, ties sharing their mean rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Pearson's r (NaN when a side is constant or there are fewer than three points).
pub fn pearson_r(points: &[(f64, f64)]) -> f64 {
    if points.len() < 3 {
        return f64::NAN;
    }
    let (sxx, syy, sxy) = moments(points);
    sxy / (sxx * syy).sqrt()
}

/// Spearman's ρ: Pearson's r of the ranks.
pub fn spearman(points: &[(f64, f64)]) -> f64 {
    let xs = ranks(&points.iter().map(|p| p.0).collect::<Vec<_>>());
    let ys = ranks(&points.iter().map(|p| p.1).collect::<Vec<_>>());
    pearson_r(&xs.into_iter().zip(ys).collect::<Vec<_>>())
}
