//! The decide functions of the heads' claims (5a–5d, 6) of [`super::CLAIMS`].

use nml_study::{Split, Variant};
use std::collections::BTreeMap;

use super::rules::{against_ratio, pairs, two_sided, TWO_SEEDS};
use super::{Context, Decision, Verdict};
use crate::inference::{paired, pooled, slope, welch, Direction, Scale, Test, Unit, MIN_POINTS};
use crate::stats::{self, Stat};
use nml_study::catalogue::real::Modality;

/// Paired tests of `better` above `worse` at each ratio on ID and OOD:
/// (ratios where it is significant on either, ratios where the reverse is, the tests, p-values).
fn per_ratio(c: &Context, better: Variant, worse: Variant) -> (usize, usize, Vec<String>) {
    let (mut wins, mut losses, mut ps) = (0, 0, Vec::new());
    for &ratio in &c.run.shape.ratios {
        let (mut win, mut loss, mut cell) = (false, false, Vec::new());
        for split in Split::TRANSFER {
            let b = stats::accuracy_per_seed(c.results, ratio, better, split);
            let w = stats::accuracy_per_seed(c.results, ratio, worse, split);
            let pairs = pairs(&b, &w);
            match paired(&pairs, "", Scale::Accuracy) {
                Some(t) => {
                    win |= t.significant();
                    loss |= t.significant_against();
                    cell.push(format!("{:.3}", t.p));
                }
                None => cell.push("–".to_owned()),
            }
        }
        wins += usize::from(win);
        losses += usize::from(loss);
        ps.push(format!("{ratio}% {}", cell.join("/")));
    }
    (wins, losses, ps)
}

/// Per seed, the mean over ratios and splits of `better − worse`.
fn pooled_pairs(c: &Context, better: Variant, worse: Variant, splits: &[Split]) -> Vec<(f64, f64)> {
    let mut by_seed: BTreeMap<u64, (f64, f64, usize)> = BTreeMap::new();
    for &ratio in &c.run.shape.ratios {
        for &split in splits {
            let b = stats::accuracy_per_seed(c.results, ratio, better, split);
            let w = stats::accuracy_per_seed(c.results, ratio, worse, split);
            for (seed, x) in &b {
                if let Some(y) = w.get(seed) {
                    let e = by_seed.entry(*seed).or_default();
                    (e.0, e.1, e.2) = (e.0 + x, e.1 + y, e.2 + 1);
                }
            }
        }
    }
    by_seed
        .into_values()
        .map(|(x, y, n)| (x / n as f64, y / n as f64))
        .collect()
}

/// 5a. NMTune > MLP > LP, by paired tests at a majority of ratios.
pub(super) fn heads_ordered(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    let ratios = c.run.shape.ratios.len();
    let majority = ratios / 2 + 1;
    let (nm_wins, nm_losses, nm_ps) = per_ratio(c, Variant::Nmtune, Variant::Mlp);
    let (ml_wins, ml_losses, ml_ps) = per_ratio(c, Variant::Mlp, Variant::Lp);
    let evidence = format!(
        "NMTune significantly above MLP at {nm_wins}/{ratios} ratios (ID or OOD), below at {nm_losses}; \
         MLP above LP at {ml_wins}/{ratios}, below at {ml_losses}; one-sided p (ID/OOD), NMTune > MLP: {}; MLP > LP: {}",
        nm_ps.join(", "),
        ml_ps.join(", ")
    );
    let both = Split::TRANSFER;
    let (Some(nm), Some(ml)) = (
        paired(
            &pooled_pairs(c, Variant::Nmtune, Variant::Mlp, &both),
            "NMTune > MLP, pooled over ratios and splits",
            Scale::Accuracy,
        ),
        paired(
            &pooled_pairs(c, Variant::Mlp, Variant::Lp, &both),
            "MLP > LP, pooled",
            Scale::Accuracy,
        ),
    ) else {
        return Some(Decision::untestable(evidence, TWO_SEEDS));
    };
    let verdict = if nm_losses >= majority || ml_losses >= majority {
        Verdict::NotReproduced
    } else if nm_wins >= majority && ml_wins >= majority && nm_losses == 0 && ml_losses == 0 {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    Some(Decision::new(verdict, evidence, vec![nm, ml]))
}

/// Per seed, NMTune − LP on `split` averaged over ratios.
fn gains(c: &Context, split: Split) -> BTreeMap<u64, f64> {
    let mut by_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for &ratio in &c.run.shape.ratios {
        let n = stats::accuracy_per_seed(c.results, ratio, Variant::Nmtune, split);
        let l = stats::accuracy_per_seed(c.results, ratio, Variant::Lp, split);
        for (seed, x) in &n {
            if let Some(y) = l.get(seed) {
                by_seed.entry(*seed).or_default().push(x - y);
            }
        }
    }
    by_seed
        .into_iter()
        .map(|(s, v)| (s, v.iter().sum::<f64>() / v.len() as f64))
        .collect()
}

/// 5b. The gain over LP is larger OOD than ID.
pub(super) fn gain_larger_ood(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    let (id, ood) = (gains(c, Split::Id), gains(c, Split::Ood));
    let evidence = format!(
        "NMTune − LP: ID {:+.1} points, OOD {:+.1} points (means over ratios and seeds)",
        100.0 * Stat::of(&id.values().copied().collect::<Vec<_>>()).mean,
        100.0 * Stat::of(&ood.values().copied().collect::<Vec<_>>()).mean
    );
    let test = paired(&pairs(&ood, &id), "OOD gain > ID gain", Scale::Accuracy);
    Some(two_sided(evidence, test, TWO_SEEDS))
}

/// 5d. The gain over LP grows with the noise ratio.
pub(super) fn gain_grows_with_noise(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    let points = against_ratio(c, |r| {
        let mut out = BTreeMap::new();
        for split in Split::TRANSFER {
            let n = stats::accuracy_per_seed(c.results, r, Variant::Nmtune, split);
            let l = stats::accuracy_per_seed(c.results, r, Variant::Lp, split);
            for (seed, x) in &n {
                if let Some(y) = l.get(seed) {
                    out.entry(*seed).or_insert_with(Vec::new).push(x - y);
                }
            }
        }
        out.into_iter()
            .map(|(s, v)| (s, v.iter().sum::<f64>() / v.len() as f64))
            .collect()
    });
    let evidence = format!(
        "NMTune − LP (mean of ID and OOD) on {} backbones",
        points.len()
    );
    let test = (points.len() >= MIN_POINTS)
        .then(|| {
            slope(
                &points,
                Direction::Positive,
                c.run.shape.ratios.len(),
                "gain against noise",
                Scale::Accuracy,
            )
        })
        .flatten();
    Some(two_sided(
        evidence,
        test,
        "fewer than 8 backbones with both heads: a slope is decided on 8 or more",
    ))
}

/// 5c. NMTune raises SVE(z) relative to MLP.
pub(super) fn nmtune_raises_sve(c: &Context) -> Option<Decision> {
    c.noisy_study()?;
    let z_sve = |variant: Variant| -> BTreeMap<u64, f64> {
        let mut by_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for r in c
            .results
            .tune
            .iter()
            .filter(|r| r.variant == variant && r.split == Split::Id)
        {
            by_seed.entry(r.seed).or_default().push(r.sve);
        }
        by_seed
            .into_iter()
            .map(|(s, v)| (s, v.iter().sum::<f64>() / v.len() as f64))
            .collect()
    };
    let (n, m) = (z_sve(Variant::Nmtune), z_sve(Variant::Mlp));
    let stat = |v: &BTreeMap<u64, f64>| Stat::of(&v.values().copied().collect::<Vec<_>>());
    let evidence = format!(
        "SVE(z): NMTune {}, MLP {}",
        stat(&n).fixed(3),
        stat(&m).fixed(3)
    );
    let test = paired(&pairs(&n, &m), "NMTune > MLP", Scale::Metric(3));
    Some(two_sided(evidence, test, TWO_SEEDS))
}

/// Claim 6's comparison units of `split` (of one modality, or all): per task
/// and eval set, `better`'s and `worse`'s accuracy on each head seed of the
/// fixed recipe, with both sides' test-set binomial variance p(1 − p)/N.
pub(crate) fn units(
    c: &Context,
    (better, worse): (Variant, Variant),
    split: Split,
    modality: Option<Modality>,
) -> Vec<(String, Unit)> {
    let mut out = Vec::new();
    for task in &c.run.shape.tasks {
        let of_task = nml_study::catalogue::real::task(task).map(|t| t.model.modality);
        if modality.is_some() && of_task != modality {
            continue;
        }
        let mut evals: Vec<&str> = c
            .results
            .tune
            .iter()
            .filter(|r| &r.task == task && r.split == split)
            .map(|r| r.domain.as_str())
            .collect();
        evals.sort_unstable();
        evals.dedup();
        for eval in evals {
            let side = |variant: Variant| -> (BTreeMap<u64, f64>, u64) {
                let rows: Vec<_> = c
                    .results
                    .tune
                    .iter()
                    .filter(|r| &r.task == task && r.domain == eval && r.variant == variant)
                    .collect();
                let n = rows.iter().map(|r| r.rows).max().unwrap_or(0);
                (rows.iter().map(|r| (r.seed, r.accuracy)).collect(), n)
            };
            let ((b, nb), (w, nw)) = (side(better), side(worse));
            let binomial = |v: &BTreeMap<u64, f64>, n: u64| {
                if n == 0 || v.is_empty() {
                    return 0.0;
                }
                let p = v.values().sum::<f64>() / v.len() as f64;
                p * (1.0 - p) / n as f64
            };
            let unit = Unit {
                pairs: pairs(&b, &w),
                known_var: binomial(&b, nb) + binomial(&w, nw),
            };
            if !unit.pairs.is_empty() {
                out.push((format!("{task} {eval}"), unit));
            }
        }
    }
    out
}

/// Claim 6: on published noisy models NMTune is above LP, pooled over every
/// task and eval set of the ID split and of the OOD split.
pub(super) fn published_models(c: &Context) -> Option<Decision> {
    if c.noisy_study().is_some() {
        return Some(Decision::untestable(
            format!("not measured on the `{}` benchmark", c.run.benchmark),
            "needs the `real-models` benchmark: inconclusive by construction",
        ));
    }
    let pair = (Variant::Nmtune, Variant::Lp);
    let pool = |split: Split, modality: Option<Modality>, label: String| {
        let units: Vec<Unit> = units(c, pair, split, modality)
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        (pooled(&units, label, Scale::Accuracy), units)
    };
    let mut evidence = Vec::new();
    let mut main = Vec::new();
    for split in Split::TRANSFER {
        let (test, units) = pool(split, None, format!("NMTune > LP, {split}, every task"));
        let above = units
            .iter()
            .filter(|u| {
                let d: f64 = u.pairs.iter().map(|(a, b)| a - b).sum();
                d > 0.0
            })
            .count();
        // Each unit on its own, as claim 6's rule read it before pooling.
        let significant = units
            .iter()
            .filter_map(pooled_single)
            .filter(Test::significant)
            .count();
        evidence.push(format!(
            "{split}: NMTune above LP in {above} of {} comparisons, significantly in {significant}{}",
            units.len(),
            test.as_ref().map_or_else(String::new, |t| format!(
                "; pooled {:+.1} points, detectable at 80% power: {:.1} points",
                100.0 * t.estimate,
                100.0 * t.detectable()
            ))
        ));
        main.push(test);
    }
    let [Some(id), Some(ood)] = [main[0].clone(), main[1].clone()] else {
        return Some(Decision::untestable(
            evidence.join("; "),
            "needs at least two head seeds and two comparisons per split",
        ));
    };
    let mut tests = vec![id.clone(), ood.clone()];
    // Vision and text apart, and NMTune against MLP pooled alike: shown, not ruled on.
    for modality in Modality::ALL {
        for split in Split::TRANSFER {
            if let (Some(t), _) = pool(
                split,
                Some(modality),
                format!("NMTune > LP, {split}, {modality}"),
            ) {
                tests.push(t);
            }
        }
    }
    for split in Split::TRANSFER {
        let units: Vec<Unit> = units(c, (Variant::Nmtune, Variant::Mlp), split, None)
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        tests.extend(pooled(
            &units,
            format!("NMTune > MLP, {split}, every task"),
            Scale::Accuracy,
        ));
    }
    let verdict = if id.significant_against() || ood.significant_against() {
        Verdict::NotReproduced
    } else if id.significant() && ood.significant() {
        Verdict::Reproduced
    } else {
        Verdict::Inconclusive
    };
    let mut d = Decision::new(verdict, evidence.join("; "), tests);
    // The power line speaks of the weaker of the two pooled tests.
    d.primary = Some(if id.p >= ood.p { 0 } else { 1 });
    Some(d)
}

/// One unit's own Welch test (both sides' seeds, its test-set variance), for
/// the count of units significant alone.
fn pooled_single(unit: &Unit) -> Option<Test> {
    let a = Stat {
        test_var: unit.known_var,
        ..Stat::of(&unit.pairs.iter().map(|p| p.0).collect::<Vec<_>>())
    };
    let b = Stat::of(&unit.pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    welch(&a, &b, "", Scale::Accuracy)
}
