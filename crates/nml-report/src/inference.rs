//! The hypothesis tests that decide the claims, each one-sided in the
//! direction a claim states, at α = 0.05, with the power it had.
//!
//! - [`welch`]: two conditions over seeds (Welch's t, Welch–Satterthwaite
//!   degrees of freedom). Where both sides are measured on one fixed test set
//!   with fixed features (only the head seed varies), each side's test-set
//!   binomial variance is added to its seed variance:
//!   SE² = s_a²/n_a + s_b²/n_b + v_a + v_b, v = (1/m²) Σ_j p_j(1 − p_j)/N_j over
//!   the m evals a split averages; the v terms count as known (infinite degrees
//!   of freedom) in the Welch–Satterthwaite formula.
//! - [`paired`]: two heads on the same seeds and features (the one-sample t of
//!   the per-seed differences, n − 1 degrees of freedom).
//! - [`pearson`]: Pearson's r with its t-test (n − 2 degrees of freedom),
//!   Spearman's ρ beside it; [`slope`]: an ordinary least-squares slope.
//!
//! Power is the normal-shift approximation of the noncentral t: the smallest
//! difference detectable at 80 % power is (t₁₋α + t₀.₈)·SE at the study's
//! degrees of freedom, and the seeds needed for the observed difference are the
//! fewest for which that bound falls below it (correlations: Fisher's z).

use std::fmt;

use crate::dist::{normal_quantile, t_quantile, t_sf};

mod pooled;
use crate::stats::{moments, pearson_r, spearman, Stat};
pub use pooled::{pooled, Unit};

/// The significance level of every test (one-sided).
pub const ALPHA: f64 = 0.05;
/// The power the detectable differences are quoted at.
pub const POWER: f64 = 0.8;
/// The fewest points a correlation or slope claim is decided on.
pub const MIN_POINTS: usize = 8;
/// The most seeds a power line will suggest.
const MAX_SEEDS: usize = 10_000;

/// Which test was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKind {
    Welch,
    Paired,
    /// Paired differences pooled over comparison units (tasks × evals).
    Pooled,
    Pearson,
    Slope,
}

/// The alternative hypothesis of a correlation or slope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Positive,
    Negative,
}

impl Direction {
    fn sign(self) -> f64 {
        match self {
            Direction::Positive => 1.0,
            Direction::Negative => -1.0,
        }
    }
}

/// How a test's estimate is printed: accuracy (as points), a metric, a correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Accuracy,
    Metric(usize),
    Correlation,
}

impl Scale {
    pub fn show(self, v: f64) -> String {
        match self {
            Scale::Accuracy => format!("{:.1} points", 100.0 * v),
            Scale::Metric(digits) => format!("{v:.digits$}"),
            Scale::Correlation => format!("{v:.2}"),
        }
    }
}

/// The variance terms a test's power is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spread {
    /// Two independent groups: per-seed variance (the mean of both sides'),
    /// and the known test-set variance of the difference.
    Groups { seed_var: f64, known_var: f64 },
    /// Per-seed differences: their variance.
    Pairs { diff_var: f64 },
    /// A correlation over points, `per_seed` points for each seed.
    Correlation { per_seed: usize },
    /// A slope over points: its standard error at `n` points.
    Slope { per_seed: usize },
    /// Units pooled: (1/U²) Σ s_u² (the seed part, over k seeds each) and
    /// (1/U²) Σ v_u (the known test-set part), over `units` units.
    Pooled {
        seed_var: f64,
        known_var: f64,
        units: usize,
    },
}

/// One one-sided test: is `estimate` above zero in the claimed direction?
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub kind: TestKind,
    /// What was compared, e.g. `0% > 30%`.
    pub label: String,
    /// Difference of means (a − b), mean paired difference, r, or the slope.
    pub estimate: f64,
    pub statistic: f64,
    pub df: f64,
    /// One-sided p-value of the claimed direction.
    pub p: f64,
    /// Seeds per side, pairs, or points.
    pub n: usize,
    /// The standard error of the estimate (NaN for correlations).
    pub se: f64,
    pub scale: Scale,
    /// Spearman's ρ, beside Pearson's r.
    pub spearman: Option<f64>,
    /// The claimed direction (Welch and paired tests: a above b).
    pub direction: Direction,
    spread: Spread,
}

impl Test {
    /// Significant at α in the claimed direction.
    pub fn significant(&self) -> bool {
        self.p < ALPHA
    }

    /// Significant at α in the direction opposite to the claimed one (the
    /// one-sided tests are symmetric: that p-value is 1 − p).
    pub fn significant_against(&self) -> bool {
        self.p > 1.0 - ALPHA
    }

    /// The smallest estimate detectable at 80 % power with this study's seeds
    /// (NaN where the spread is unknown).
    pub fn detectable(&self) -> f64 {
        let z = |df: f64| t_quantile(1.0 - ALPHA, df) + t_quantile(POWER, df);
        match self.spread {
            Spread::Correlation { .. } => {
                let n = self.n as f64;
                if n <= 3.0 {
                    return f64::NAN;
                }
                ((normal_quantile(1.0 - ALPHA) + normal_quantile(POWER)) / (n - 3.0).sqrt()).tanh()
            }
            _ => z(self.df) * self.se,
        }
    }

    /// The fewest seeds that would detect the observed estimate at 80 % power
    /// (None where no number of seeds would: an estimate of the other sign, no
    /// spread, or a test-set variance alone larger than the estimate).
    pub fn seeds_needed(&self) -> Option<usize> {
        let d = self.estimate * self.direction_sign();
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let z = |df: f64| t_quantile(1.0 - ALPHA, df) + t_quantile(POWER, df);
        let detects = |k: usize| -> bool {
            let k = k as f64;
            match self.spread {
                Spread::Groups {
                    seed_var,
                    known_var,
                } => z(2.0 * k - 2.0) * (2.0 * seed_var / k + known_var).sqrt() <= d,
                Spread::Pairs { diff_var } => z(k - 1.0) * (diff_var / k).sqrt() <= d,
                Spread::Correlation { per_seed } => {
                    let n = k * per_seed as f64;
                    n > 3.0
                        && (normal_quantile(1.0 - ALPHA) + normal_quantile(POWER))
                            / (n - 3.0).sqrt()
                            <= d.min(0.999_999).atanh()
                }
                Spread::Pooled {
                    seed_var,
                    known_var,
                    units,
                } => z(units as f64 * (k - 1.0)) * (seed_var / k + known_var).sqrt() <= d,
                // The slope's standard error shrinks as 1/√n.
                Spread::Slope { per_seed } => {
                    let n = k * per_seed as f64;
                    n > 2.0 && z(n - 2.0) * self.se * (self.n as f64 / n).sqrt() <= d
                }
            }
        };
        if !self.se.is_finite() && !matches!(self.spread, Spread::Correlation { .. }) {
            return None;
        }
        // Doubling, then bisection: `detects` is monotone in k.
        let (mut lo, mut hi) = (1, 2);
        while !detects(hi) {
            if hi >= MAX_SEEDS {
                return None;
            }
            lo = hi;
            hi = (hi * 2).min(MAX_SEEDS);
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if detects(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi.max(2))
    }

    /// A value of the estimate's kind as printed (slopes per 10% of noise).
    fn shown(&self, v: f64) -> String {
        if self.kind == TestKind::Slope {
            format!("{} per 10% noise", self.scale.show(10.0 * v))
        } else {
            self.scale.show(v)
        }
    }

    fn direction_sign(&self) -> f64 {
        self.direction.sign()
    }

    /// `detectable at 80% power with 3 seeds: 1.9 points; the observed 0.6 points needs 17 seeds`.
    pub fn power_line(&self, seeds: usize) -> String {
        let detectable = self.detectable();
        let mut s = if detectable.is_finite() {
            format!(
                "{}: detectable at 80% power with {seeds} seed(s): {}",
                self.label,
                self.shown(detectable)
            )
        } else {
            format!(
                "{}: no seed variance to size the test with at {seeds} seed(s)",
                self.label
            )
        };
        match self.seeds_needed() {
            Some(k) => s.push_str(&format!(
                "; the observed {} needs {k} seeds",
                self.shown(self.estimate.abs())
            )),
            None if self.estimate == 0.0 => s.push_str("; no difference was observed"),
            None if self.estimate * self.direction_sign() < 0.0 => {
                s.push_str("; the observed difference has the other sign")
            }
            None => s.push_str(&format!(
                "; the observed {} needs more than {MAX_SEEDS} seeds or a larger test set",
                self.shown(self.estimate.abs())
            )),
        }
        s
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = if self.p < 0.001 {
            "p < 0.001".to_owned()
        } else {
            format!("p = {:.3}", self.p)
        };
        let df = if self.df.is_infinite() {
            "∞".to_owned()
        } else if self.df.fract() == 0.0 {
            format!("{}", self.df)
        } else {
            format!("{:.1}", self.df)
        };
        match self.kind {
            TestKind::Welch | TestKind::Paired => write!(
                f,
                "{}: {} {}, {} t = {:.2} (df {df}), {p}",
                self.label,
                if self.kind == TestKind::Welch {
                    "difference"
                } else {
                    "mean paired difference"
                },
                signed(self.scale, self.estimate),
                if self.kind == TestKind::Welch {
                    "Welch"
                } else {
                    "paired"
                },
                self.statistic
            ),
            TestKind::Pooled => write!(
                f,
                "{}: mean paired difference {} over {} comparisons, pooled t = {:.2} (df {df}), {p}",
                self.label,
                signed(self.scale, self.estimate),
                self.n,
                self.statistic
            ),
            TestKind::Pearson => write!(
                f,
                "{}: Pearson r = {:.2} (t = {:.2}, df {df}), {p}; Spearman ρ = {:.2}; n = {}",
                self.label,
                self.estimate,
                self.statistic,
                self.spearman.unwrap_or(f64::NAN),
                self.n
            ),
            TestKind::Slope => write!(
                f,
                "{}: slope {} (t = {:.2}, df {df}), {p}; n = {}",
                self.label,
                if self.estimate >= 0.0 {
                    format!("+{}", self.shown(self.estimate))
                } else {
                    self.shown(self.estimate)
                },
                self.statistic,
                self.n
            ),
        }
    }
}

fn signed(scale: Scale, v: f64) -> String {
    let s = scale.show(v);
    if v >= 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

/// The one-sided p-value of `t` (H1: the statistic is positive).
fn upper(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        1.0
    } else {
        t_sf(t, df)
    }
}

/// t = d / se, with 0/0 read as no evidence and d/0 as certainty.
fn ratio(d: f64, se: f64) -> f64 {
    if se > 0.0 {
        d / se
    } else if d > 0.0 {
        f64::INFINITY
    } else if d < 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    }
}

/// Welch's test of "a above b" over seeds; None below two seeds on a side, or
/// where neither side varies (every seed gave the same value: no spread to test against).
pub fn welch(a: &Stat, b: &Stat, label: impl Into<String>, scale: Scale) -> Option<Test> {
    if a.n < 2 || b.n < 2 || !a.mean.is_finite() || !b.mean.is_finite() {
        return None;
    }
    let (na, nb) = (a.n as f64, b.n as f64);
    let (va, vb) = (a.std.powi(2) / na, b.std.powi(2) / nb);
    let known = a.test_var + b.test_var;
    if va + vb + known == 0.0 {
        return None;
    }
    let se = (va + vb + known).sqrt();
    let seed_df = va.powi(2) / (na - 1.0) + vb.powi(2) / (nb - 1.0);
    let df = if seed_df > 0.0 {
        (va + vb + known).powi(2) / seed_df
    } else {
        f64::INFINITY
    };
    let d = a.mean - b.mean;
    let t = ratio(d, se);
    Some(Test {
        kind: TestKind::Welch,
        label: label.into(),
        estimate: d,
        statistic: t,
        df,
        p: upper(t, df),
        n: a.n.min(b.n),
        se,
        scale,
        spearman: None,
        direction: Direction::Positive,
        spread: Spread::Groups {
            seed_var: 0.5 * (a.std.powi(2) + b.std.powi(2)),
            known_var: known,
        },
    })
}

/// The paired test of "a above b" on `(a, b)` pairs (same seed); None below
/// two pairs or where every pair differs by the same amount.
pub fn paired(pairs: &[(f64, f64)], label: impl Into<String>, scale: Scale) -> Option<Test> {
    let diffs: Vec<f64> = pairs.iter().map(|(a, b)| a - b).collect();
    let d = Stat::of(&diffs);
    if d.n < 2 || !d.mean.is_finite() || d.std == 0.0 {
        return None;
    }
    let se = d.std / (d.n as f64).sqrt();
    let df = (d.n - 1) as f64;
    let t = ratio(d.mean, se);
    Some(Test {
        kind: TestKind::Paired,
        label: label.into(),
        estimate: d.mean,
        statistic: t,
        df,
        p: upper(t, df),
        n: d.n,
        se,
        scale,
        spearman: None,
        direction: Direction::Positive,
        spread: Spread::Pairs {
            diff_var: d.std.powi(2),
        },
    })
}

/// The t-test of Pearson's r in `direction`; None below three points or on a constant side.
pub fn pearson(
    points: &[(f64, f64)],
    direction: Direction,
    per_seed: usize,
    label: impl Into<String>,
) -> Option<Test> {
    let r = pearson_r(points);
    if !r.is_finite() {
        return None;
    }
    let df = (points.len() - 2) as f64;
    let t = direction.sign() * r * (df / (1.0 - r * r).max(0.0)).sqrt();
    Some(Test {
        kind: TestKind::Pearson,
        label: label.into(),
        estimate: r,
        statistic: t,
        df,
        p: upper(t, df),
        n: points.len(),
        se: f64::NAN,
        scale: Scale::Correlation,
        spearman: Some(spearman(points)),
        direction,
        spread: Spread::Correlation {
            per_seed: per_seed.max(1),
        },
    })
}

/// The t-test of an ordinary least-squares slope in `direction`; None below three points.
pub fn slope(
    points: &[(f64, f64)],
    direction: Direction,
    per_seed: usize,
    label: impl Into<String>,
    scale: Scale,
) -> Option<Test> {
    if points.len() < 3 {
        return None;
    }
    let (sxx, syy, sxy) = moments(points);
    if sxx.is_nan() || sxx <= 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let df = (points.len() - 2) as f64;
    let residual = (syy - b * sxy).max(0.0) / df;
    let se = (residual / sxx).sqrt();
    // Points exactly on a line (to rounding): no residual spread to test against.
    if se <= 1e-12 * b.abs().max(f64::MIN_POSITIVE) || (syy == 0.0) {
        return None;
    }
    let t = ratio(direction.sign() * b, se);
    Some(Test {
        kind: TestKind::Slope,
        label: label.into(),
        estimate: b,
        statistic: t,
        df,
        p: upper(t, df),
        n: points.len(),
        se,
        scale,
        spearman: None,
        direction,
        spread: Spread::Slope {
            per_seed: per_seed.max(1),
        },
    })
}
