//! `nml_report::dist` against reference values.

use nml_report::dist::*;

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * b.abs().max(1e-300), "{a} vs {b}");
}

/// Reference values: scipy.stats 1.17 (`t.sf`, `t.ppf`, `norm`, `special.betainc`).
#[test]
fn matches_scipy() {
    close(beta_inc(2.0, 3.0, 0.4), 0.5248, 1e-12);
    close(beta_inc(0.5, 7.5, 0.9), 0.999_999_993_289_710_3, 1e-12);
    close(t_sf(2.0, 3.0), 0.069_662_984_279_421_52, 1e-10);
    close(t_sf(1.5, 10.5), 0.081_534_378_959_222_26, 1e-10);
    close(t_sf(-0.7, 2.3), 0.725_996_389_467_670_9, 1e-10);
    close(t_sf(8.0, 4.0), 0.000_661_948_454_608_583_6, 1e-9);
    close(t_quantile(0.95, 4.0), 2.131_846_786_326_649_5, 1e-10);
    close(t_quantile(0.8, 4.0), 0.940_964_577_235_181_6, 1e-10);
    close(t_quantile(0.95, 1.0), 6.313_751_514_675_037, 1e-10);
    close(t_quantile(0.975, 30.0), 2.042_272_456_301_237_8, 1e-10);
    close(t_quantile(0.05, 4.0), -2.131_846_786_326_649_5, 1e-10);
    close(normal_quantile(0.95), 1.644_853_626_951_472_2, 1e-8);
    close(normal_quantile(0.8), 0.841_621_233_572_914_3, 1e-8);
    close(normal_sf(1.96), 0.024_997_895_148_220_435, 1e-6);
    close(normal_sf(-0.5), 0.691_462_461_274_013_1, 1e-6);
    close(t_sf(1.96, 1e9), 0.024_997_895_148_220_435, 1e-6);
    assert_eq!(t_sf(f64::INFINITY, 3.0), 0.0);
    assert!(t_sf(f64::NAN, 3.0).is_nan() && t_quantile(1.0, 3.0).is_nan());
}
