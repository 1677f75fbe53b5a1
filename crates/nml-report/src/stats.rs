//! Means and standard deviations over seeds, correlations, and the paper's
//! qualitative claims (PAPER.md §5) decided by stated rules from the numbers.
//!
//! "Significantly above" always means: the difference of the means is larger
//! than the larger of the two seed standard deviations, with at least two
//! seeds on each side. With one seed nothing is significant, so every claim
//! that needs a comparison is inconclusive.

use std::collections::BTreeMap;
use std::fmt;

use crate::collect::{Results, SpectralRecord};
use crate::run::RunInfo;

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

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
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
    for &ratio in &run.ratios {
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

/// The outcome of checking a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Reproduced,
    NotReproduced,
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// One claim of the paper, the rule that decides it, and the numbers it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: &'static str,
    pub claim: &'static str,
    pub rule: &'static str,
    pub verdict: Verdict,
    pub evidence: String,
}

/// Correlation threshold of the "tracks" claims.
pub const CORRELATION: f64 = 0.3;

fn by_correlation(r: f64) -> Verdict {
    if r >= CORRELATION {
        Verdict::Reproduced
    } else if r <= -CORRELATION {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    }
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

/// Claim 6 on published models used as black boxes (the `real-models` study).
pub fn claims_real(run: &RunInfo, results: &Results) -> Vec<Claim> {
    let mut ordered = true;
    let mut beats_lp = true;
    let mut reversed = false;
    let mut evidence = Vec::new();
    for task in &run.tasks {
        for split in ["ID", "OOD"] {
            let l = task_accuracy(results, task, "lp", split);
            if l.n == 0 {
                continue;
            }
            let m = task_accuracy(results, task, "mlp", split);
            let n = task_accuracy(results, task, "nmtune", split);
            ordered &= n.mean >= m.mean && m.mean >= l.mean;
            beats_lp &= n.significantly_above(&l);
            reversed |= m.significantly_above(&n) || l.significantly_above(&n);
            evidence.push(format!(
                "{task} {split}: LP {}, MLP {}, NMTune {}",
                l.pct(),
                m.pct(),
                n.pct()
            ));
        }
    }
    let verdict = if reversed {
        Verdict::NotReproduced
    } else if ordered && beats_lp {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    vec![Claim {
        id: "6",
        claim: "NMTune also helps real noisy foundation models, including an embedding-only API",
        rule: "on every model and split: reproduced if NMTune ≥ MLP ≥ LP in the means and NMTune is significantly above LP; \
               not reproduced if MLP or LP is significantly above NMTune anywhere",
        verdict,
        evidence: evidence.join("; "),
    }]
}

/// Every claim of PAPER.md §5, decided from `results`.
pub fn claims(run: &RunInfo, results: &Results) -> Vec<Claim> {
    if run.benchmark == "real-models" {
        return claims_real(run, results);
    }
    let clean_ratio = run.ratios.iter().copied().min().unwrap_or(0);
    let noisy: Vec<u32> = run
        .ratios
        .iter()
        .copied()
        .filter(|&r| r > clean_ratio)
        .collect();
    let slight: Vec<u32> = noisy.iter().copied().filter(|&r| r <= 10).collect();
    let heaviest = noisy.iter().copied().max().unwrap_or(clean_ratio);
    let lp = |ratio, split| accuracy(results, ratio, "lp", split);
    let mut out = Vec::new();

    // 1. ID: slight noise does not hurt, heavy noise does.
    let clean = lp(clean_ratio, "ID");
    let best_slight = slight
        .iter()
        .map(|&r| (r, lp(r, "ID")))
        .max_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
    let heavy = lp(heaviest, "ID");
    let verdict = match best_slight {
        Some((_, s)) if clean.significantly_above(&s) || heavy.mean >= clean.mean => {
            Verdict::NotReproduced
        }
        Some(_) if clean.significantly_above(&heavy) => Verdict::Reproduced,
        _ => Verdict::Inconclusive,
    };
    out.push(Claim {
        id: "1",
        claim: "ID: slight pre-training noise (5–10%) does not lower average ID linear-probing accuracy; heavy noise (20–30%) does",
        rule: "reproduced if the better of 5%/10% is not significantly below 0% and the heaviest ratio is significantly below 0%; \
               not reproduced if the better of 5%/10% is significantly below 0% or the heaviest ratio is not below 0% at all",
        verdict,
        evidence: format!(
            "LP ID: 0% {}; best slight {}; {heaviest}% {}",
            clean.pct(),
            best_slight.map_or_else(|| "none".to_owned(), |(r, s)| format!("{r}% {}", s.pct())),
            heavy.pct()
        ),
    });

    // 2. OOD: any noise lowers OOD accuracy, more with more noise.
    let clean = lp(clean_ratio, "OOD");
    let ood: Vec<(u32, Stat)> = noisy.iter().map(|&r| (r, lp(r, "OOD"))).collect();
    let heavy = lp(heaviest, "OOD");
    let verdict = if ood.iter().any(|(_, s)| s.significantly_above(&clean)) {
        Verdict::NotReproduced
    } else if ood.iter().all(|(_, s)| s.mean < clean.mean) && clean.significantly_above(&heavy) {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    out.push(Claim {
        id: "2",
        claim: "OOD: any pre-training noise lowers average OOD linear-probing accuracy, more so as noise grows",
        rule: "reproduced if every noisy ratio's mean is below 0% and the heaviest is significantly below 0%; \
               not reproduced if any noisy ratio is significantly above 0%",
        verdict,
        evidence: format!(
            "LP OOD: 0% {}; {}",
            clean.pct(),
            ood.iter()
                .map(|(r, s)| format!("{r}% {}", s.pct()))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    });

    // 3. SVE rises with slight noise, and tracks ID accuracy.
    let clean = spectral(results, clean_ratio, "ID", sve);
    let slight_sve: Vec<(u32, Stat)> = slight
        .iter()
        .map(|&r| (r, spectral(results, r, "ID", sve)))
        .collect();
    let verdict = if slight_sve
        .iter()
        .any(|(_, s)| s.significantly_above(&clean))
    {
        Verdict::Reproduced
    } else if !slight_sve.is_empty() && slight_sve.iter().all(|(_, s)| clean.significantly_above(s))
    {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    out.push(Claim {
        id: "3a",
        claim: "SVE of the downstream (ID) features rises with slight pre-training noise",
        rule: "reproduced if SVE at 5% or 10% is significantly above 0%; not reproduced if every slight ratio is significantly below 0%",
        verdict,
        evidence: format!(
            "SVE (ID test features): 0% {}; {}",
            clean.fixed(4),
            slight_sve
                .iter()
                .map(|(r, s)| format!("{r}% {}", s.fixed(4)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    });
    let points: Vec<(f64, f64)> = scatter(run, results, "ID", sve)
        .into_iter()
        .map(|(_, x, y)| (x, y))
        .collect();
    let r = pearson(&points);
    out.push(Claim {
        id: "3b",
        claim: "higher SVE tracks better ID accuracy",
        rule: "Pearson r of (SVE, LP ID accuracy) over every backbone: reproduced if r ≥ 0.3, not reproduced if r ≤ −0.3",
        verdict: by_correlation(r),
        evidence: format!("r = {r:.2} over {} backbones", points.len()),
    });

    // 4. LSVR falls with noise, and tracks OOD accuracy.
    let clean = spectral(results, clean_ratio, "OOD", lsvr);
    let heavy = spectral(results, heaviest, "OOD", lsvr);
    let verdict = if clean.significantly_above(&heavy) {
        Verdict::Reproduced
    } else if heavy.significantly_above(&clean) {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    out.push(Claim {
        id: "4a",
        claim: "LSVR of the downstream (OOD) features falls with pre-training noise",
        rule: "reproduced if LSVR at the heaviest ratio is significantly below 0%; not reproduced if significantly above",
        verdict,
        evidence: format!(
            "LSVR (OOD test features): 0% {}; {heaviest}% {}",
            clean.fixed(4),
            heavy.fixed(4)
        ),
    });
    let points: Vec<(f64, f64)> = scatter(run, results, "OOD", lsvr)
        .into_iter()
        .map(|(_, x, y)| (x, y))
        .collect();
    let r = pearson(&points);
    out.push(Claim {
        id: "4b",
        claim: "higher LSVR tracks better OOD accuracy",
        rule: "Pearson r of (LSVR, LP OOD accuracy) over every backbone: reproduced if r ≥ 0.3, not reproduced if r ≤ −0.3",
        verdict: by_correlation(r),
        evidence: format!("r = {r:.2} over {} backbones", points.len()),
    });

    // 5. NMTune > MLP > LP everywhere, with larger gains OOD.
    let mut all_ordered = true;
    let mut all_beat_lp = true;
    let mut any_reversed = false;
    let mut gains = (Vec::new(), Vec::new());
    for &ratio in &run.ratios {
        for split in ["ID", "OOD"] {
            let l = accuracy(results, ratio, "lp", split);
            let m = accuracy(results, ratio, "mlp", split);
            let n = accuracy(results, ratio, "nmtune", split);
            all_ordered &= n.mean >= m.mean && m.mean >= l.mean;
            all_beat_lp &= n.significantly_above(&l);
            any_reversed |= m.significantly_above(&n) || l.significantly_above(&m);
            if split == "ID" {
                &mut gains.0
            } else {
                &mut gains.1
            }
            .push(n.mean - l.mean);
        }
    }
    let verdict = if any_reversed {
        Verdict::NotReproduced
    } else if all_ordered && all_beat_lp {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    out.push(Claim {
        id: "5a",
        claim: "NMTune > MLP > LP on both ID and OOD averages at every noise ratio",
        rule: "reproduced if at every ratio and on both ID and OOD the means are ordered NMTune ≥ MLP ≥ LP and NMTune is significantly above LP; \
               not reproduced if anywhere MLP is significantly above NMTune or LP significantly above MLP",
        verdict,
        evidence: format!(
            "ordered everywhere: {all_ordered}; NMTune significantly above LP everywhere: {all_beat_lp}; a significant reversal: {any_reversed}"
        ),
    });
    let id_gain = mean(gains.0.iter().copied()).unwrap_or(f64::NAN);
    let ood_gain = mean(gains.1.iter().copied()).unwrap_or(f64::NAN);
    let verdict = if !(id_gain.is_finite() && ood_gain.is_finite()) {
        Verdict::Inconclusive
    } else if ood_gain > id_gain {
        Verdict::Reproduced
    } else {
        Verdict::NotReproduced
    };
    out.push(Claim {
        id: "5b",
        claim: "NMTune's gain over LP is larger OOD than ID",
        rule: "mean over ratios of (NMTune − LP): reproduced if the OOD gain exceeds the ID gain, else not reproduced",
        verdict,
        evidence: format!(
            "gain ID {:+.1} points, OOD {:+.1} points",
            100.0 * id_gain,
            100.0 * ood_gain
        ),
    });
    let z_sve = |variant: &str| {
        let values: Vec<f64> = run
            .seeds
            .iter()
            .filter_map(|&seed| {
                mean(
                    results
                        .tune
                        .iter()
                        .filter(|r| r.seed == seed && r.variant == variant && r.split == "ID")
                        .map(|r| r.sve),
                )
            })
            .collect();
        Stat::of(&values)
    };
    let (n, m) = (z_sve("nmtune"), z_sve("mlp"));
    let verdict = if n.significantly_above(&m) {
        Verdict::Reproduced
    } else if m.significantly_above(&n) {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    out.push(Claim {
        id: "5c",
        claim: "NMTune raises the SVE of the representation it tunes, relative to MLP tuning",
        rule: "SVE of z on ID test rows, averaged over ratios and tasks per seed: reproduced if NMTune is significantly above MLP, \
               not reproduced if significantly below",
        verdict,
        evidence: format!("SVE(z): NMTune {}, MLP {}", n.fixed(3), m.fixed(3)),
    });
    for (id, claim) in [
        (
            "6",
            "NMTune also helps real noisy foundation models, including an embedding-only API",
        ),
        (
            "7",
            "the pre-training noise effect persists when downstream labels are noisy too",
        ),
    ] {
        out.push(Claim {
            id,
            claim,
            rule: "needs a measurement this study does not make: inconclusive by construction",
            verdict: Verdict::Inconclusive,
            evidence: format!("not measured on the `{}` benchmark", run.benchmark),
        });
    }
    out
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
        RunInfo {
            format: "nml-run/1".to_owned(),
            benchmark: "synth".to_owned(),
            profile: "smoke".to_owned(),
            seed: 0,
            seeds: seeds.to_vec(),
            ratios: vec![0, 5, 10, 20, 30],
            tasks: vec!["task-0".to_owned()],
            id_domain: "photo".to_owned(),
            ood_domains: vec!["sketch".to_owned()],
            id_evals: Vec::new(),
            arch: "small".to_owned(),
            epochs: 1,
            ablation_ratio: 10,
            device: "cpu".to_owned(),
            jobs: 1,
            git_commit: String::new(),
            environment: String::new(),
            tables: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Results shaped like the paper's (sign +1) or the opposite (sign −1).
    pub(crate) fn results(run: &RunInfo, sign: f64) -> Results {
        let id = [0.80, 0.82, 0.81, 0.76, 0.70];
        let ood = [0.60, 0.57, 0.55, 0.52, 0.48];
        let mut r = Results::default();
        for (k, &ratio) in run.ratios.iter().enumerate() {
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
