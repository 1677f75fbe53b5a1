//! `nml_report::inference` against reference values.

use nml_report::inference::*;
use nml_report::stats::spearman;
use nml_report::stats::Stat;

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * b.abs().max(1e-12), "{a} vs {b}");
}

/// Reference values: scipy.stats 1.17 (`ttest_ind(equal_var=False)`, `ttest_rel`,
/// `pearsonr`, `spearmanr`, `linregress`), all one-sided `greater`.
#[test]
fn tests_match_scipy() {
    let a = Stat::of(&[0.81, 0.83, 0.80]);
    let b = Stat::of(&[0.78, 0.79, 0.795, 0.77]);
    let w = welch(&a, &b, "a > b", Scale::Accuracy).unwrap();
    close(w.statistic, 2.84, 1e-9);
    close(w.df, 3.525_655_489_868_686_5, 1e-9);
    close(w.p, 0.027_159_783_531_210_67, 1e-7);
    assert!(w.significant());
    let p = paired(
        &[(0.81, 0.80), (0.83, 0.815), (0.80, 0.79)],
        "a > b",
        Scale::Accuracy,
    )
    .unwrap();
    close(p.statistic, 7.0, 1e-9);
    close(p.p, 0.009_901_970_590_196_566, 1e-7);
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
    let y = [2.1, 1.9, 3.5, 3.0, 4.8, 4.1, 6.2, 5.9, 7.7, 6.0];
    let points: Vec<(f64, f64)> = x.iter().copied().zip(y).collect();
    let r = pearson(&points, Direction::Positive, 2, "r").unwrap();
    close(r.estimate, 0.920_731_865_577_161, 1e-12);
    close(r.p, 7.841_894_369_666_407e-5, 1e-6);
    close(r.spearman.unwrap(), 0.903_030_303_030_302_8, 1e-12);
    let against = pearson(&points, Direction::Negative, 2, "r").unwrap();
    close(against.p, 1.0 - 7.841_894_369_666_407e-5, 1e-9);
    // Ties share their mean rank.
    let tied = [1.0, 3.0, 2.0, 2.0, 5.0, 4.0, 4.0, 8.0, 7.0, 7.0];
    let tied: Vec<(f64, f64)> = x.iter().copied().zip(tied).collect();
    close(spearman(&tied), 0.880_771_012_101_088_4, 1e-12);
    let s = slope(&points, Direction::Positive, 2, "slope", Scale::Metric(3)).unwrap();
    close(s.estimate, 0.585_454_545_454_545_4, 1e-12);
    close(s.se, 0.087_719_814_410_544_66, 1e-9);
    close(s.p, 7.841_894_369_666_407e-5, 1e-6);
}

#[test]
fn degenerate_inputs_are_no_evidence() {
    let one = Stat::of(&[0.9]);
    let two = Stat::of(&[0.5, 0.6]);
    assert!(welch(&one, &two, "", Scale::Accuracy).is_none());
    // Neither side varies (the same value at every seed, up to rounding): no test.
    let c = Stat::of(&[0.5, 0.5]);
    assert_eq!(c.std, 0.0);
    assert!(welch(&c, &c, "", Scale::Accuracy).is_none());
    let rounded = Stat::of(&[0.81, (0.8 + 0.82 + 0.81) / 3.0]);
    assert_eq!(rounded.std, 0.0, "{rounded:?}");
    // One side varies: Welch's df are the other side's n − 1.
    let w = welch(&Stat::of(&[0.7, 0.72]), &c, "", Scale::Accuracy).unwrap();
    close(w.df, 1.0, 1e-12);
    // A constant paired difference, or points exactly on a line: no test.
    assert!(paired(&[(0.7, 0.6), (0.8, 0.7)], "", Scale::Accuracy).is_none());
    let line: Vec<(f64, f64)> = (0..9).map(|i| (f64::from(i), 2.0 * f64::from(i))).collect();
    assert!(slope(&line, Direction::Positive, 1, "", Scale::Accuracy).is_none());
    assert!(pearson(
        &[(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)],
        Direction::Positive,
        1,
        ""
    )
    .is_none());
    assert!(slope(
        &[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)],
        Direction::Positive,
        1,
        "",
        Scale::Accuracy
    )
    .is_none());
}

#[test]
fn power_matches_the_normal_shift_approximation() {
    // Two groups of 3 at std 0.7 points: SE = 0.7·√(2/3); df 4.
    let a = Stat::of(&[0.007, 0.0, -0.007]);
    let b = Stat::of(&[0.007, 0.0, -0.007]);
    let w = welch(&a, &b, "", Scale::Accuracy).unwrap();
    close(w.df, 4.0, 1e-12);
    let expected = (2.131_846_786_326_649_5 + 0.940_964_577_235_181_6) * w.se;
    close(w.detectable(), expected, 1e-9);
    // No difference observed: no number of seeds detects it.
    assert_eq!(w.seeds_needed(), None);
    // A difference of exactly the detectable size needs the study's 3 seeds.
    let e = expected * 1.000_001;
    let shifted = Stat::of(&[0.007 + e, e, -0.007 + e]);
    let w = welch(&shifted, &b, "", Scale::Accuracy).unwrap();
    assert_eq!(w.seeds_needed(), Some(3));
    // A quarter of it needs about 16 times as many.
    let small = Stat::of(&[
        0.007 + expected / 4.0,
        expected / 4.0,
        -0.007 + expected / 4.0,
    ]);
    let k = welch(&small, &b, "", Scale::Accuracy)
        .unwrap()
        .seeds_needed()
        .unwrap();
    assert!((25..=50).contains(&k), "{k}");
    // Correlations: r detectable with 10 points is tanh((1.645 + 0.842) / √7).
    let points: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), f64::from(i % 3))).collect();
    let r = pearson(&points, Direction::Positive, 2, "").unwrap();
    close(
        r.detectable(),
        (2.486_475_860_524_386 / 7f64.sqrt()).tanh(),
        1e-6,
    );
}

#[test]
fn pooled_comparisons_average_the_units_and_add_their_variances() {
    use nml_report::inference::{pooled, Scale, Unit};
    // Unit 1: differences 0.10, 0.12; unit 2: −0.02, 0.00; each with a known variance of 0.001.
    let units = [
        Unit {
            pairs: vec![(0.80, 0.70), (0.82, 0.70)],
            known_var: 0.001,
        },
        Unit {
            pairs: vec![(0.50, 0.52), (0.50, 0.50)],
            known_var: 0.001,
        },
    ];
    let t = pooled(&units, "a > b", Scale::Accuracy).unwrap();
    assert!((t.estimate - 0.05).abs() < 1e-12);
    // SE² = (1/4) (0.0002/2 + 0.0002/2 + 0.001 + 0.001) = 0.00055.
    assert!((t.se - 0.00055f64.sqrt()).abs() < 1e-12, "{t}");
    // Welch–Satterthwaite: the known terms add no degrees of freedom.
    let seed = 0.0001f64 / 4.0;
    let df = 0.00055f64.powi(2) / (2.0 * seed.powi(2) / 1.0);
    assert!((t.df - df).abs() < 1e-6 * df, "{} against {df}", t.df);
    assert_eq!(t.n, 2);
    assert!((t.statistic - 0.05 / 0.00055f64.sqrt()).abs() < 1e-9, "{t}");
    // t = 2.13 on 242 df: p ≈ 0.017.
    assert!(t.p > 0.01 && t.p < 0.025, "{t}");
    // A power line sized by the units' variances: more seeds shrink only the seed part.
    assert!(t.detectable() > 0.0);
    // One unit, or a unit of one seed, is refused.
    assert!(pooled(&units[..1], "", Scale::Accuracy).is_none());
    let single = Unit {
        pairs: vec![(0.5, 0.4)],
        known_var: 0.0,
    };
    assert!(pooled(&[units[0].clone(), single], "", Scale::Accuracy).is_none());
}
