//! The k-NN classifier predicts what DINOv2's weighted k-NN rule predicts
//! (`tests/python/knn.py`, the same rule in torch), row for row, and its
//! balanced accuracy is scikit-learn's; with uniform votes it predicts what
//! scikit-learn's `KNeighborsClassifier` predicts; bad requests are refused.

use std::path::Path;

use nml_core::FeatureTable;
use nml_tune::knn::{accuracy, balanced_accuracy, knn_predict, KnnConfig, Votes};
use tch::Device;

/// Clustered features: class c's rows around a centre of their own, unbalanced classes.
fn table(rows: usize, dim: usize, classes: i64) -> FeatureTable {
    let mut state = 11u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let centres: Vec<f32> = (0..classes as usize * dim).map(|_| next()).collect();
    // Class c has c + 1 shares of the rows.
    let weights: i64 = (1..=classes).sum();
    let label: Vec<i64> = (0..rows as i64)
        .map(|i| {
            let mut r = i % weights;
            (0..classes)
                .find(|&c| {
                    r -= c + 1;
                    r < 0
                })
                .unwrap()
        })
        .collect();
    let mut features = Vec::with_capacity(rows * dim);
    for &c in &label {
        for d in 0..dim {
            features.push(centres[c as usize * dim + d] + 1.5 * next());
        }
    }
    FeatureTable {
        index: (0..rows as i64).collect(),
        split: (0..rows)
            .map(|i| if i % 3 == 0 { "test" } else { "train" }.to_owned())
            .collect(),
        label,
        domain: None,
        view: None,
        dim,
        features,
        class_names: Some((0..classes).map(|c| format!("c{c}")).collect()),
        metadata: Default::default(),
    }
}

#[test]
fn knn_matches_dinov2s_rule_and_balanced_accuracy_matches_scikit_learn() {
    let Some(python) = nml_tests::python() else {
        eprintln!("skipped: the project Python is missing (run `cargo xtask setup`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let all = table(900, 32, 5);
    let path = dir.path().join("features.parquet");
    all.write(&path).unwrap();
    let split = |s: &str| all.select(&all.rows_where(Some(s), None));
    let (train, test) = (split("train"), split("test"));
    for k in KnnConfig::KS {
        let predicted = knn_predict(&train, &test, KnnConfig::new(k), Device::Cpu).unwrap();
        let printed = nml_tests::run_python(
            &python,
            "knn.py",
            &[&path, Path::new(&k.to_string()), Path::new("0.07")],
        );
        let value = |key: &str| {
            printed
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {printed}"))
                .to_owned()
        };
        let reference: Vec<i64> = value("predicted=")
            .split(',')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(predicted, reference, "k = {k}");
        let balanced: f64 = value("balanced=").parse().unwrap();
        let ours = balanced_accuracy(&predicted, &test.label);
        assert!(
            (ours - balanced).abs() < 1e-9,
            "k = {k}: {ours} against {balanced}"
        );
        let top1 = accuracy(&predicted, &test.label);
        eprintln!("k = {k}: top-1 {top1:.4}, balanced {ours:.4}");
        assert!(
            top1 > 0.5 && top1 < 1.0,
            "k = {k}: the task is neither trivial nor hopeless ({top1})"
        );
    }
    // Uniform votes: scikit-learn's KNeighborsClassifier (cosine, brute force), row for row.
    for k in [1, 10, 20] {
        let uniform = KnnConfig {
            k,
            votes: Votes::Uniform,
        };
        let predicted = knn_predict(&train, &test, uniform, Device::Cpu).unwrap();
        let printed = nml_tests::run_python(
            &python,
            "knn.py",
            &[&path, Path::new(&k.to_string()), Path::new("uniform")],
        );
        let reference: Vec<i64> = printed
            .lines()
            .find_map(|l| l.strip_prefix("predicted="))
            .unwrap_or_else(|| panic!("no predictions in {printed}"))
            .split(',')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(predicted, reference, "uniform votes, k = {k}");
    }
    // Refusals, each naming what is wrong.
    let refuse = |config: KnnConfig, test: &FeatureTable| {
        knn_predict(&train, test, config, Device::Cpu)
            .unwrap_err()
            .to_string()
    };
    assert!(refuse(KnnConfig::new(0), &test).contains("k = 0"));
    assert!(refuse(KnnConfig::new(train.len() + 1), &test).contains("training rows"));
    let cold = KnnConfig {
        k: 10,
        votes: Votes::Weighted { temperature: 0.0 },
    };
    assert!(refuse(cold, &test).contains("temperature"));
    let mut narrow = test.clone();
    narrow.dim = 16;
    narrow.features.truncate(narrow.len() * 16);
    assert!(refuse(KnnConfig::new(10), &narrow).contains("dimensions"));
}
