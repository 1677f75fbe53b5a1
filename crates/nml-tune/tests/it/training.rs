//! Training behaviour: NMTune with all weights 0 is exactly MLP; LP learns
//! separable features; inputs that do not fit are refused; a diverging term
//! stops training with its name and epoch.

use std::path::PathBuf;

use nml_tune::{tune, Method, TuneConfig};
use tch::Device;

use crate::{clusters, run};

fn split(t: &nml_core::FeatureTable, name: &str) -> nml_core::FeatureTable {
    t.select(&t.rows_where(Some(name), None))
}

#[test]
fn nmtune_without_regularisers_is_mlp_and_lp_learns() {
    let table = clusters(4, 16, 40, 1);
    let (train, test) = (split(&table, "train"), split(&table, "test"));
    let evals = vec![("id".to_owned(), PathBuf::from("test"), test)];
    let mut config = TuneConfig::new(Method::Mlp);
    config.epochs = 5;
    let mlp = tune(&config, &train, &evals, 7, Device::Cpu).unwrap();
    let mut zero = TuneConfig::new(Method::Nmtune);
    zero.epochs = 5;
    zero.mse_weight = 0.0;
    zero.cov_weight = 0.0;
    zero.svd_weight = 0.0;
    let nm = tune(&zero, &train, &evals, 7, Device::Cpu).unwrap();
    assert_eq!(mlp, nm, "same seed, no regularisers: identical heads");
    let nmtune = tune(
        &TuneConfig {
            epochs: 5,
            ..TuneConfig::new(Method::Nmtune)
        },
        &train,
        &evals,
        7,
        Device::Cpu,
    )
    .unwrap();
    assert_ne!(
        nmtune[0].sve, mlp[0].sve,
        "the regularisers change the learnt z"
    );
    assert_eq!(
        tune(&config, &train, &evals, 7, Device::Cpu).unwrap(),
        mlp,
        "deterministic by seed"
    );

    let lp = tune(
        &TuneConfig {
            epochs: 60,
            ..TuneConfig::new(Method::Lp)
        },
        &train,
        &evals,
        7,
        Device::Cpu,
    )
    .unwrap();
    assert!(lp[0].accuracy > 0.9, "4 separable clusters: {lp:?}");
    // Balanced accuracy is scored beside top-1 (equal clusters: close to it, never above 1).
    let (top1, balanced) = (lp[0].accuracy, lp[0].balanced_accuracy);
    assert!(
        balanced > 0.85 && balanced <= 1.0 && (balanced - top1).abs() < 0.1,
        "{lp:?}"
    );
}

#[test]
fn bad_inputs_and_diverging_terms_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    clusters(3, 8, 20, 2).write(p("train.parquet")).unwrap();
    clusters(3, 12, 20, 3).write(p("wide.parquet")).unwrap();
    let mut many = clusters(5, 8, 20, 4);
    many.class_names = None;
    many.write(p("many.parquet")).unwrap();
    let out = p("out");

    let (ok, err) = run(&[
        "--train",
        &p("train.parquet"),
        "--eval",
        &format!("id={}", p("train.parquet")),
        "--method",
        "nmtune",
        "--epochs",
        "2",
        "--out",
        &out,
    ]);
    assert!(ok, "{err}");
    assert!(
        dir.path().join("out/results.parquet").exists()
            && dir.path().join("out/summary.json").exists()
    );
    let summary = std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap();
    assert!(summary.contains("\"balanced_accuracy\""), "{summary}");

    let (ok, err) = run(&[
        "--train",
        &p("train.parquet"),
        "--eval",
        &format!("wide={}", p("wide.parquet")),
        "--method",
        "lp",
        "--out",
        &out,
    ]);
    assert!(
        !ok && err.contains("eval set `wide`")
            && err.contains("12-dimensional features, the training table 8"),
        "{err}"
    );
    let (ok, err) = run(&[
        "--train",
        &p("train.parquet"),
        "--eval",
        &format!("many={}", p("many.parquet")),
        "--method",
        "lp",
        "--out",
        &out,
    ]);
    assert!(
        !ok && err.contains("label 3 is outside the head's 3 classes"),
        "{err}"
    );
    let (ok, err) = run(&[
        "--train",
        &p("train.parquet"),
        "--eval",
        &format!("none={}:validation", p("train.parquet")),
        "--method",
        "lp",
        "--out",
        &out,
    ]);
    assert!(
        !ok && err.contains("eval set `none`") && err.contains("is empty"),
        "{err}"
    );

    let mut huge = clusters(3, 8, 20, 5);
    huge.features.iter_mut().for_each(|v| *v *= 1e20);
    huge.write(p("huge.parquet")).unwrap();
    let (ok, err) = run(&[
        "--train",
        &p("huge.parquet"),
        "--eval",
        &format!("id={}", p("huge.parquet")),
        "--method",
        "nmtune",
        "--epochs",
        "1",
        "--out",
        &p("diverged"),
    ]);
    assert!(
        !ok && err.contains("term became") && err.contains("in epoch 1"),
        "{err}"
    );
}
