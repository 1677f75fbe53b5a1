//! Comparisons pooled over units (claim 6: tasks × eval sets), each with its
//! own seeds and known test-set variance.

use super::{ratio, upper, Direction, Scale, Spread, Test, TestKind};
use crate::stats::Stat;

/// One comparison unit of [`pooled`]: per-seed (a, b) pairs of one task and
/// eval set, and the known (test-set binomial) variance of its difference.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub pairs: Vec<(f64, f64)>,
    pub known_var: f64,
}

/// "a above b" over comparison units: the estimate is the mean over units of
/// each unit's mean paired difference; SE² = (1/U²) Σ_u (s_u²/n_u + v_u),
/// with s_u the spread of unit u's per-seed differences and v_u its test-set
/// binomial variance (known: infinite degrees of freedom), degrees of freedom
/// by Welch–Satterthwaite over the seed terms. None below two units, or with a
/// unit of fewer than two pairs.
pub fn pooled(units: &[Unit], label: impl Into<String>, scale: Scale) -> Option<Test> {
    if units.len() < 2 || units.iter().any(|u| u.pairs.len() < 2) {
        return None;
    }
    let u = units.len() as f64;
    let (mut mean, mut seed_terms, mut seed_df, mut known, mut spread) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for unit in units {
        let diffs: Vec<f64> = unit.pairs.iter().map(|(a, b)| a - b).collect();
        let d = Stat::of(&diffs);
        let n = d.n as f64;
        let term = d.std.powi(2) / n / (u * u);
        mean += d.mean / u;
        seed_terms += term;
        seed_df += term.powi(2) / (n - 1.0);
        known += unit.known_var / (u * u);
        spread += d.std.powi(2) / (u * u);
    }
    if !mean.is_finite() || seed_terms + known == 0.0 {
        return None;
    }
    let se = (seed_terms + known).sqrt();
    let df = if seed_df > 0.0 {
        (seed_terms + known).powi(2) / seed_df
    } else {
        f64::INFINITY
    };
    let t = ratio(mean, se);
    Some(Test {
        kind: TestKind::Pooled,
        label: label.into(),
        estimate: mean,
        statistic: t,
        df,
        p: upper(t, df),
        n: units.len(),
        se,
        scale,
        spearman: None,
        direction: Direction::Positive,
        spread: Spread::Pooled {
            seed_var: spread,
            known_var: known,
            units: units.len(),
        },
    })
}
