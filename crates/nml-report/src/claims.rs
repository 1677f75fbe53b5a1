//! The paper's claims (PAPER.md §5), each decided from the results by a
//! stated rule: one function per claim, a verdict and the evidence it saw.

use std::fmt;

use crate::collect::Results;
use crate::run::RunInfo;
use crate::stats::{accuracy, lsvr, mean, pearson, scatter, spectral, sve, task_accuracy, Stat};

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

pub(crate) fn by_correlation(r: f64) -> Verdict {
    if r >= CORRELATION {
        Verdict::Reproduced
    } else if r <= -CORRELATION {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    }
}

/// Claim 6 on published models used as black boxes (the `real-models` study).
pub fn claims_real(run: &RunInfo, results: &Results) -> Vec<Claim> {
    let mut ordered = true;
    let mut beats_lp = true;
    let mut reversed = false;
    let mut evidence = Vec::new();
    for task in &run.shape.tasks {
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
    if run.benchmark == nml_study::Benchmark::RealModels {
        return claims_real(run, results);
    }
    let clean_ratio = run.shape.ratios.iter().copied().min().unwrap_or(0);
    let noisy: Vec<u32> = run
        .shape
        .ratios
        .iter()
        .copied()
        .filter(|&r| r > clean_ratio)
        .collect();
    let slight: Vec<u32> = noisy.iter().copied().filter(|&r| r <= 10).collect();
    let heaviest = noisy.iter().copied().max().unwrap_or(clean_ratio);
    let context = Context {
        run,
        results,
        clean_ratio,
        noisy,
        slight,
        heaviest,
    };
    [
        in_domain,
        out_of_domain,
        singular_value_entropy,
        largest_singular_value,
        nmtune,
        unmeasured,
    ]
    .iter()
    .flat_map(|decide| decide(&context))
    .collect()
}

/// What every claim's rule reads: the study, its results and its ratios.
struct Context<'a> {
    run: &'a RunInfo,
    results: &'a Results,
    clean_ratio: u32,
    /// The ratios above the clean one.
    noisy: Vec<u32>,
    /// The noisy ratios of at most 10%.
    slight: Vec<u32>,
    heaviest: u32,
}

/// 1. ID: slight noise does not hurt, heavy noise does.
fn in_domain(c: &Context) -> Vec<Claim> {
    let Context {
        results,
        clean_ratio,
        ref slight,
        heaviest,
        ..
    } = *c;
    let lp = |ratio, split| accuracy(results, ratio, "lp", split);
    let mut out = Vec::new();
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
    out
}

/// 2. OOD: any noise lowers OOD accuracy, more with more noise.
fn out_of_domain(c: &Context) -> Vec<Claim> {
    let Context {
        results,
        clean_ratio,
        ref noisy,
        heaviest,
        ..
    } = *c;
    let lp = |ratio, split| accuracy(results, ratio, "lp", split);
    let mut out = Vec::new();
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
    out
}

/// 3. SVE rises with slight noise, and tracks ID accuracy.
fn singular_value_entropy(c: &Context) -> Vec<Claim> {
    let Context {
        run,
        results,
        clean_ratio,
        ref slight,
        ..
    } = *c;
    let mut out = Vec::new();
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
    out
}

/// 4. LSVR falls with noise, and tracks OOD accuracy.
fn largest_singular_value(c: &Context) -> Vec<Claim> {
    let Context {
        run,
        results,
        clean_ratio,
        heaviest,
        ..
    } = *c;
    let mut out = Vec::new();
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
    out
}

/// 5. NMTune > MLP > LP everywhere, with larger gains OOD; NMTune raises SVE.
fn nmtune(c: &Context) -> Vec<Claim> {
    let Context { run, results, .. } = *c;
    let mut out = Vec::new();
    let mut all_ordered = true;
    let mut all_beat_lp = true;
    let mut any_reversed = false;
    let mut gains = (Vec::new(), Vec::new());
    for &ratio in &run.shape.ratios {
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
    out
}

/// 6 and 7: what this study does not measure.
fn unmeasured(c: &Context) -> Vec<Claim> {
    let Context { run, .. } = *c;
    let mut out = Vec::new();
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
