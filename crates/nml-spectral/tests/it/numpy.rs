//! nml-spectral's singular values and metrics equal numpy's to 1e-6 relative
//! error, for row, column and no centring.

use nml_spectral::{analyse, Center, Method, Normalize, Selection, SpectralConfig};

use crate::structured_table;

fn relative(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    diff / norm
}

#[test]
fn singular_values_and_metrics_match_numpy_for_every_centring() {
    let Some(python) = nml_tests::python() else {
        eprintln!("skipped: the project Python is missing (run `cargo xtask setup`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("features.parquet");
    structured_table(300, 48, 7).write(&path).unwrap();
    let printed = nml_tests::run_python(
        &python,
        "spectral.py",
        &[&path, std::path::Path::new("test")],
    );
    let selection = Selection {
        split: Some("test".into()),
        domain: None,
    };
    let mut checked = 0;
    for line in printed.lines() {
        let reference: serde_json::Value = serde_json::from_str(line).unwrap();
        let center = match reference["center"].as_str().unwrap() {
            "row" => Center::Row,
            "column" => Center::Column,
            _ => Center::None,
        };
        let sigma_np: Vec<f64> = reference["sigma"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for method in [Method::Svd, Method::Gram] {
            let config = SpectralConfig {
                normalize: Normalize::L2,
                center,
                method,
            };
            let ours = analyse("t", &path, &selection, &config).unwrap();
            assert_eq!(ours.rows, 300);
            assert!(
                relative(&ours.sigma, &sigma_np) < 1e-6,
                "{center:?} {method:?}: σ differ"
            );
            let sve = reference["sve"].as_f64().unwrap();
            let lsvr = reference["lsvr"].as_f64().unwrap();
            assert!(
                (ours.metrics.sve - sve).abs() <= 1e-6 * sve.abs(),
                "{center:?} {method:?}: sve {} vs {sve}",
                ours.metrics.sve
            );
            assert!(
                (ours.metrics.lsvr - lsvr).abs() <= 1e-6 * lsvr,
                "{center:?} {method:?}: lsvr {} vs {lsvr}",
                ours.metrics.lsvr
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6, "three centrings, two methods");
}
