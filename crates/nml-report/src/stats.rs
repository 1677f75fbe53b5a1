//! Means and standard deviations over seeds, correlations, and the paper's
//! qualitative claims (PAPER.md §5) decided by stated rules from the numbers.
//!
//! "Significantly above" always means: the difference of the means is larger
//! than the larger of the two seed standard deviations, with at least two
//! seeds on each side. With one seed nothing is significant, so every claim
//! that needs a comparison is inconclusive.

use std::collections::BTreeMap;

use crate::collect::{Results, SpectralRecord};
use crate::run::RunInfo;

#[cfg(test)]
use crate::claims::by_correlation;
pub use crate::claims::{claims, claims_real, Claim, Verdict, CORRELATION};

/// Mean and sample standard deviation over seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
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
        Stat { mean, std, n }
    }

    /// `a` is above `b` by more than the larger seed standard deviation (two seeds at least).
    pub fn significantly_above(&self, other: &Stat) -> bool {
        self.n >= 2 && other.n >= 2 && self.mean - other.mean > self.std.max(other.std)
    }

    /// As a percentage, `85.3 ± 1.2`.
    pub fn pct(&self) -> String {
        if self.n > 1 {
            format!("{:.1} ± {:.1}", 100.0 * self.mean, 100.0 * self.std)
        } else {
            format!("{:.1}", 100.0 * self.mean)
        }
    }

    /// With `digits` decimals, `2.713 ± 0.004`.
    pub fn fixed(&self, digits: usize) -> String {
        if self.n > 1 {
            format!("{:.digits$} ± {:.digits$}", self.mean, self.std)
        } else {
            format!("{:.digits$}", self.mean)
        }
    }
}

/// Pearson correlation (NaN when either side is constant or there are fewer than 3 points).
pub fn pearson(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 3 {
        return f64::NAN;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    sxy / (sxx * syy).sqrt()
}

pub(crate) fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Accuracy of `variant` at `ratio` per seed: the mean over tasks (and OOD domains) of `split`.
pub fn accuracy_per_seed(
    results: &Results,
    ratio: u32,
    variant: &str,
    split: &str,
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
pub fn accuracy(results: &Results, ratio: u32, variant: &str, split: &str) -> Stat {
    let values: Vec<f64> = accuracy_per_seed(results, ratio, variant, split)
        .into_values()
        .collect();
    Stat::of(&values)
}

/// A spectral metric of the backbone at `ratio` per seed, averaged over tasks (and OOD domains).
pub fn spectral_per_seed(
    results: &Results,
    ratio: u32,
    split: &str,
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
    split: &str,
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
    split: &str,
    metric: fn(&SpectralRecord) -> f64,
) -> Vec<(u32, f64, f64)> {
    let mut points = Vec::new();
    for &ratio in &run.shape.ratios {
        let m = spectral_per_seed(results, ratio, split, metric);
        let a = accuracy_per_seed(results, ratio, "lp", split);
        for (seed, x) in &m {
            if let Some(y) = a.get(seed) {
                points.push((ratio, *x, *y));
            }
        }
    }
    points
}

/// Accuracy of `variant` on `task` and `split` over head seeds (mean over the split's evals per seed).
pub fn task_accuracy(results: &Results, task: &str, variant: &str, split: &str) -> Stat {
    let values: Vec<f64> = mean_by_seed(
        results
            .tune
            .iter()
            .filter(|r| r.task == task && r.variant == variant && r.split == split)
            .map(|r| (r.seed, r.accuracy)),
    )
    .into_values()
    .collect();
    Stat::of(&values)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn stats_and_significance() {
        let a = Stat::of(&[0.8, 0.9]);
        assert!((a.mean - 0.85).abs() < 1e-12);
        assert!((a.std - 0.0707106781).abs() < 1e-9);
        let b = Stat::of(&[0.6, 0.62]);
        assert!(a.significantly_above(&b));
        assert!(!b.significantly_above(&a));
        // Within the spread: not significant either way.
        let c = Stat::of(&[0.78, 0.84]);
        assert!(!a.significantly_above(&c) && !c.significantly_above(&a));
        // One seed: never significant.
        let one = Stat::of(&[0.1]);
        assert_eq!(one.std, 0.0);
        assert!(!a.significantly_above(&one));
        assert_eq!(a.pct(), "85.0 ± 7.1");
        assert_eq!(one.pct(), "10.0");
    }

    #[test]
    fn pearson_matches_hand_values() {
        assert!((pearson(&[(1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]) + 1.0).abs() < 1e-12);
        assert!(pearson(&[(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)]).is_nan());
        assert!(pearson(&[(1.0, 1.0)]).is_nan());
        assert_eq!(by_correlation(0.5), Verdict::Reproduced);
        assert_eq!(by_correlation(-0.5), Verdict::NotReproduced);
        assert_eq!(by_correlation(f64::NAN), Verdict::Inconclusive);
    }

    use crate::collect::{SpectralRecord, TuneRecord};

    pub(crate) fn run(seeds: &[u64]) -> RunInfo {
        use nml_study::record::{Provenance, Shape};
        RunInfo {
            format: "nml-run/1".to_owned(),
            benchmark: nml_study::Benchmark::Synth,
            profile: nml_study::Profile::Smoke,
            seed: 0,
            seeds: seeds.to_vec(),
            shape: Shape {
                ratios: vec![0, 5, 10, 20, 30],
                tasks: vec!["task-0".to_owned()],
                id_domain: "photo".to_owned(),
                ood_domains: vec!["sketch".to_owned()],
                id_evals: Vec::new(),
                arch: "small".to_owned(),
                epochs: 1,
                ablation_ratio: 10,
                views: 0,
            },
            provenance: Provenance {
                device: "cpu".to_owned(),
                jobs: 1,
                git_commit: String::new(),
                environment: String::new(),
            },
            tables: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Results shaped like the paper's (sign +1) or the opposite (sign −1).
    pub(crate) fn results(run: &RunInfo, sign: f64) -> Results {
        let id = [0.80, 0.82, 0.81, 0.76, 0.70];
        let ood = [0.60, 0.57, 0.55, 0.52, 0.48];
        let mut r = Results::default();
        for (k, &ratio) in run.shape.ratios.iter().enumerate() {
            for &seed in &run.seeds {
                let jitter = 0.002 * seed as f64;
                let (a_id, a_ood) = (
                    0.75 + sign * (id[k] - 0.75) + jitter,
                    0.55 + sign * (ood[k] - 0.55) + jitter,
                );
                for (variant, gain_id, gain_ood) in [
                    ("lp", 0.0, 0.0),
                    ("mlp", 0.03, 0.05),
                    ("nmtune", 0.05, 0.09),
                ] {
                    for (domain, split, acc, gain) in [
                        ("photo", "ID", a_id, gain_id),
                        ("sketch", "OOD", a_ood, gain_ood),
                    ] {
                        r.tune.push(TuneRecord {
                            setting: "supervised".to_owned(),
                            noise: "symmetric".to_owned(),
                            ratio,
                            seed,
                            task: "task-0".to_owned(),
                            variant: variant.to_owned(),
                            domain: domain.to_owned(),
                            split,
                            accuracy: acc + sign * gain,
                            sve: 2.0 + sign * gain,
                            lsvr: 0.3,
                            two_view: variant != "lp",
                        });
                    }
                }
                // SVE rises with noise, LSVR falls (paper-shaped), or the opposite.
                for (domain, split) in [("photo", "ID"), ("sketch", "OOD")] {
                    r.spectral.push(SpectralRecord {
                        setting: "supervised".to_owned(),
                        noise: "symmetric".to_owned(),
                        ratio,
                        seed,
                        task: "task-0".to_owned(),
                        domain: domain.to_owned(),
                        split,
                        sve: 2.0 + sign * 0.01 * f64::from(ratio) + jitter,
                        lsvr: 0.3 - sign * 0.002 * f64::from(ratio) + jitter,
                        effective_rank: 10.0,
                    });
                }
            }
        }
        r
    }

    fn verdicts(claims: &[Claim]) -> Vec<(&'static str, Verdict)> {
        claims.iter().map(|c| (c.id, c.verdict)).collect()
    }

    #[test]
    fn paper_shaped_numbers_reproduce_every_measured_claim() {
        let run = run(&[0, 1, 2]);
        let claims = claims(&run, &results(&run, 1.0));
        for (id, verdict) in verdicts(&claims) {
            let expected = if ["6", "7", "3b"].contains(&id) {
                // 3b: SVE rises with every ratio while ID falls at 20-30%: no rule to hold it to.
                verdict
            } else {
                Verdict::Reproduced
            };
            assert_eq!(verdict, expected, "claim {id}: {claims:#?}");
        }
        assert!(claims
            .iter()
            .any(|c| c.id == "6" && c.verdict == Verdict::Inconclusive));
    }

    #[test]
    fn opposite_numbers_are_not_reproduced() {
        let run = run(&[0, 1, 2]);
        let claims = claims(&run, &results(&run, -1.0));
        // 4b is left out: OOD accuracy and LSVR both rising with noise still track each other.
        for id in ["1", "2", "3a", "4a", "5a", "5b", "5c"] {
            let c = claims.iter().find(|c| c.id == id).unwrap();
            assert_eq!(c.verdict, Verdict::NotReproduced, "claim {id}: {c:#?}");
        }
    }

    #[test]
    fn one_seed_leaves_comparisons_inconclusive() {
        let run = run(&[0]);
        let claims = claims(&run, &results(&run, 1.0));
        for id in ["1", "2", "3a", "4a", "5a", "5c"] {
            let c = claims.iter().find(|c| c.id == id).unwrap();
            assert_eq!(c.verdict, Verdict::Inconclusive, "claim {id}: {c:#?}");
        }
    }
}
