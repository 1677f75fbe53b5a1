//! The decide functions of claims 1–4 and 7 of [`super::CLAIMS`] (the heads'
//! claims 5–6 are in [`super::heads`]), and the helpers they share: each reads
//! the study's numbers through [`Context`], runs the tests of its rule and
//! returns a [`Decision`] (None where the study cannot speak to the claim).

use nml_study::{Split, Variant};
use std::collections::BTreeMap;

use super::{Context, Decision, Verdict};
use crate::inference::{pearson, slope, welch, Direction, Scale, Test, MIN_POINTS};
use crate::stats::{self, Stat};

pub(super) const TWO_SEEDS: &str =
    "needs at least two seeds per condition, with some spread between them (every seed gave the same value)";

fn joined<T>(items: impl IntoIterator<Item = T>, f: impl Fn(T) -> String) -> String {
    items.into_iter().map(f).collect::<Vec<_>>().join("; ")
}

/// `(a, b)` of the seeds both maps hold.
pub(super) fn pairs(a: &BTreeMap<u64, f64>, b: &BTreeMap<u64, f64>) -> Vec<(f64, f64)> {
    a.iter()
        .filter_map(|(seed, x)| Some((*x, *b.get(seed)?)))
        .collect()
}

/// (noise ratio, value) per backbone, for a slope against the ratio.
pub(super) fn against_ratio(
    c: &Context,
    value: impl Fn(u32) -> BTreeMap<u64, f64>,
) -> Vec<(f64, f64)> {
    c.run
        .shape
        .ratios
        .iter()
        .flat_map(|&r| value(r).into_values().map(move |v| (f64::from(r), v)))
        .collect()
}

/// 1. ID: slight noise does not hurt, heavy noise does.
pub(super) fn in_domain(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    let clean = c.lp(c.clean, Split::Id);
    let heaviest = *c.noisy.last()?;
    let heavy = c.lp(heaviest, Split::Id);
    let best = c
        .slight
        .iter()
        .map(|&r| (r, c.lp(r, Split::Id)))
        .max_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
    let evidence = format!(
        "LP ID: 0% {}; best slight {}; {heaviest}% {}",
        clean.pct(),
        best.map_or_else(|| "none".to_owned(), |(r, s)| format!("{r}% {}", s.pct())),
        heavy.pct()
    );
    let Some((best_ratio, best)) = best else {
        return Some(Decision::untestable(
            evidence,
            "no slight (≤ 10%) noise ratio in this study",
        ));
    };
    let Some(drop) = welch(&clean, &heavy, format!("0% > {heaviest}%"), Scale::Accuracy) else {
        return Some(Decision::untestable(evidence, TWO_SEEDS));
    };
    let hurt = welch(
        &clean,
        &best,
        format!("0% > {best_ratio}%"),
        Scale::Accuracy,
    );
    let rise = welch(&heavy, &clean, format!("{heaviest}% > 0%"), Scale::Accuracy);
    let verdict = if hurt.as_ref().is_some_and(Test::significant)
        || rise.as_ref().is_some_and(Test::significant)
    {
        Verdict::NotReproduced
    } else if best.mean >= clean.mean && drop.significant() {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    let mut tests = vec![drop];
    tests.extend(hurt);
    Some(Decision::new(verdict, evidence, tests))
}

/// 2. OOD: any noise lowers OOD accuracy, more with more noise.
pub(super) fn out_of_domain(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    let clean = c.lp(c.clean, Split::Ood);
    let heaviest = *c.noisy.last()?;
    let ood: Vec<(u32, Stat)> = c.noisy.iter().map(|&r| (r, c.lp(r, Split::Ood))).collect();
    let evidence = format!(
        "LP OOD: 0% {}; {}",
        clean.pct(),
        joined(&ood, |(r, s)| format!("{r}% {}", s.pct()))
    );
    let heavy = c.lp(heaviest, Split::Ood);
    let points = against_ratio(c, |r| {
        stats::accuracy_per_seed(c.results, r, Variant::Lp, Split::Ood)
    });
    let per_seed = c.run.shape.ratios.len();
    let drop = welch(&clean, &heavy, format!("0% > {heaviest}%"), Scale::Accuracy);
    let trend = (points.len() >= MIN_POINTS)
        .then(|| {
            slope(
                &points,
                Direction::Negative,
                per_seed,
                "OOD against noise",
                Scale::Accuracy,
            )
        })
        .flatten();
    let Some(trend) = trend else {
        return Some(Decision::untestable(
            evidence,
            "needs 8 backbones or more (two seeds or more) with some spread about the trend",
        ));
    };
    let above = ood.iter().any(|(r, s)| {
        welch(s, &clean, format!("{r}% > 0%"), Scale::Accuracy).is_some_and(|t| t.significant())
    });
    let rising = trend.significant_against();
    let verdict = if above || rising {
        Verdict::NotReproduced
    } else if ood.iter().all(|(_, s)| s.mean < clean.mean) && trend.significant() {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    // The slope decides; the heaviest ratio against clean is shown beside it.
    let mut tests = vec![trend];
    tests.extend(drop);
    Some(Decision::new(verdict, evidence, tests))
}

/// Welch both ways on a spectral metric: reproduced if `a` is significantly above `b`.
fn spectral_comparison(evidence: String, a: (u32, Stat), b: (u32, Stat)) -> Option<Decision> {
    let up = welch(&a.1, &b.1, format!("{}% > {}%", a.0, b.0), Scale::Metric(4));
    Some(two_sided(evidence, up, TWO_SEEDS))
}

/// 3a. SVE rises with slight noise (the lightest ratio, chosen in advance).
pub(super) fn sve_rises(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    let lightest = *c.noisy.first()?;
    let clean = stats::spectral(c.results, c.clean, Split::Id, stats::sve);
    let light = stats::spectral(c.results, lightest, Split::Id, stats::sve);
    let evidence = format!(
        "SVE (ID test features): 0% {}; {lightest}% {}",
        clean.fixed(4),
        light.fixed(4)
    );
    spectral_comparison(evidence, (lightest, light), (c.clean, clean))
}

/// 4a. LSVR falls with noise.
pub(super) fn lsvr_falls(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    let heaviest = *c.noisy.last()?;
    let clean = stats::spectral(c.results, c.clean, Split::Ood, stats::lsvr);
    let heavy = stats::spectral(c.results, heaviest, Split::Ood, stats::lsvr);
    let evidence = format!(
        "LSVR (OOD test features): 0% {}; {heaviest}% {}",
        clean.fixed(4),
        heavy.fixed(4)
    );
    spectral_comparison(evidence, (c.clean, clean), (heaviest, heavy))
}

/// A correlation claim over every backbone: Pearson's t-test both ways, n ≥ 8.
fn correlation(
    c: &Context,
    split: Split,
    metric: fn(&crate::collect::SpectralRecord) -> f64,
    name: &str,
) -> Option<Decision> {
    c.noisy_study()?;
    let points: Vec<(f64, f64)> = stats::scatter(c.run, c.results, split, metric)
        .into_iter()
        .map(|(_, x, y)| (x, y))
        .collect();
    let per_seed = c.run.shape.ratios.len();
    let label = format!("{name} vs LP {split}");
    let evidence = format!("{} backbones", points.len());
    let Some(up) = pearson(&points, Direction::Positive, per_seed, label) else {
        return Some(Decision::untestable(
            evidence,
            "fewer than 3 backbones, or a constant side",
        ));
    };
    if points.len() < MIN_POINTS {
        let mut d = Decision::new(Verdict::Inconclusive, evidence, vec![up]);
        d.missing = Some(format!(
            "{} (too few backbones: a correlation is decided on {MIN_POINTS} or more)",
            d.tests[0]
        ));
        d.primary = Some(0);
        return Some(d);
    }
    Some(two_sided(evidence, Some(up), ""))
}

/// 3b. SVE tracks ID accuracy.
pub(super) fn sve_tracks_id(c: &Context) -> Option<Decision> {
    correlation(c, Split::Id, stats::sve, "SVE")
}

/// 4b. LSVR tracks OOD accuracy.
pub(super) fn lsvr_tracks_ood(c: &Context) -> Option<Decision> {
    correlation(c, Split::Ood, stats::lsvr, "LSVR")
}

/// Reproduced if `up` is significant, not reproduced if its reverse is.
pub(super) fn two_sided(evidence: String, up: Option<Test>, missing: &str) -> Decision {
    let Some(up) = up else {
        return Decision::untestable(evidence, missing);
    };
    let verdict = if up.significant() {
        Verdict::Reproduced
    } else if up.significant_against() {
        Verdict::NotReproduced
    } else {
        Verdict::Inconclusive
    };
    Decision::new(verdict, evidence, vec![up])
}

/// Claim 7, noisy downstream labels: claims 1 and 2's rules on the heads trained on
/// noisy downstream labels; both must hold.
pub(super) fn noisy_downstream(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    if c.results.noisy_downstream.is_empty() {
        return Some(Decision::untestable(
            format!(
                "no heads on noisy downstream labels here (the `{}` study trains them on the supervised backbones of the symmetric ratios)",
                c.run.benchmark
            ),
            "no noisy-downstream heads in this setting: inconclusive",
        ));
    }
    let noisy = c.results.with_noisy_downstream_labels();
    let context = Context::new(c.run, &noisy);
    let parts = [in_domain(&context)?, out_of_domain(&context)?];
    let verdict = if parts.iter().any(|d| d.verdict == Verdict::NotReproduced) {
        Verdict::NotReproduced
    } else if parts.iter().all(|d| d.verdict == Verdict::Reproduced) {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    let evidence = format!(
        "downstream training labels with {}% symmetric noise: {}; {}",
        nml_study::types::DOWNSTREAM_NOISE,
        parts[0].evidence,
        parts[1].evidence
    );
    let why: Vec<&str> = parts.iter().filter_map(|d| d.missing.as_deref()).collect();
    // An inconclusive verdict reports the power of the first inconclusive part's primary test.
    let mut tests = Vec::new();
    let mut primary = None;
    for d in &parts {
        if primary.is_none() && d.verdict == Verdict::Inconclusive {
            primary = d.primary.map(|i| tests.len() + i);
        }
        tests.extend(d.tests.iter().cloned());
    }
    // Where neither part could run a test, say why instead.
    let missing = tests.is_empty().then(|| why.join("; "));
    Some(Decision {
        verdict,
        evidence,
        primary: primary.or((!tests.is_empty()).then_some(0)),
        tests,
        missing,
    })
}
