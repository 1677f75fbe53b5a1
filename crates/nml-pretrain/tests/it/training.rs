//! The loop learns from the labels it is given: well above chance on clean
//! labels, and at or below chance when every label is wrong.

use nml_noise::{corrupt, write_outputs, NoiseConfig, NoiseKind};
use nml_pretrain::Arch;
use tch::Device;

use crate::{fast_config, paths, smoke_corpus};

#[test]
fn clean_labels_train_well_above_chance_and_all_wrong_labels_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let config = fast_config(Arch::Small, 8);

    let clean = nml_pretrain::train(
        &config,
        &paths(&corpus, &dir.path().join("clean")),
        Device::Cpu,
        false,
    )
    .unwrap();
    let last = clean.supervised_epochs().last().unwrap();
    assert!(
        last.test_acc.unwrap() > 0.5,
        "10 classes, chance 0.1: {last:?}"
    );
    assert_eq!(clean.supervised_epochs().len(), 8);
    assert!(
        dir.path().join("clean/metrics.csv").exists()
            && dir.path().join("clean/model.safetensors").exists()
    );

    let manifest = nml_core::Manifest::read(&corpus).unwrap();
    let noise = NoiseConfig {
        kind: NoiseKind::Symmetric {
            ratio: 1.0,
            per_class: false,
        },
        seed: 0,
        splits: vec!["train".into()],
    };
    let (noisy, summary) = corrupt(&manifest, &noise, &corpus).unwrap();
    let noisy_path = dir.path().join("noisy.parquet");
    write_outputs(&noisy, &summary, &corpus, &noisy_path).unwrap();
    let wrong = nml_pretrain::train(
        &config,
        &paths(&noisy_path, &dir.path().join("wrong")),
        Device::Cpu,
        false,
    )
    .unwrap();
    let last = wrong.supervised_epochs().last().unwrap();
    assert!(
        last.test_acc.unwrap() < 0.2,
        "every training label is wrong, so clean accuracy stays near or below chance: {last:?}"
    );
    assert!(last.train_acc_clean < 0.2, "{last:?}");
    let travelled = wrong.noise.as_ref().map(|n| (&n.counts, n.rows_noisy));
    assert_eq!(
        travelled,
        Some((&summary.counts, summary.rows_noisy)),
        "the noise summary travels into model.json"
    );
}

/// bf16 autocast on the CPU trains the same recipe about as well, and is
/// recorded: float32 configs keep their JSON (and run keys) without the field.
#[test]
fn bf16_autocast_trains_on_the_cpu_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let fp32 = fast_config(Arch::Small, 8);
    let mut bf16 = fp32.clone();
    bf16.common.precision = nml_torch::Compute::Bf16;
    let run = |config: &nml_pretrain::TrainConfig, name: &str| {
        nml_pretrain::train(
            config,
            &paths(&corpus, &dir.path().join(name)),
            Device::Cpu,
            false,
        )
        .unwrap()
    };
    let (a, b) = (run(&fp32, "fp32"), run(&bf16, "bf16"));
    let acc = |info: &nml_pretrain::ModelInfo| info.last_epoch().unwrap().test_acc.unwrap();
    assert!(acc(&b) > 0.5, "10 classes, chance 0.1: {}", acc(&b));
    assert!(
        (acc(&a) - acc(&b)).abs() < 0.15,
        "fp32 {} against bf16 {}",
        acc(&a),
        acc(&b)
    );
    assert_ne!(a.key, b.key, "the precision is part of the run key");
    let config =
        |name: &str| std::fs::read_to_string(dir.path().join(name).join("config.json")).unwrap();
    assert!(!config("fp32").contains("precision"));
    assert!(config("bf16").contains("\"precision\": \"bf16\""));
    let record = nml_pretrain::ConfigRecord::<nml_pretrain::TrainConfig>::read(
        &dir.path().join("bf16/config.json"),
    )
    .unwrap();
    assert_eq!((&record.config, &record.key), (&bf16, &b.key));
    assert!(
        record.code_version.starts_with("nml "),
        "{}",
        record.code_version
    );
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["config"]["precision"], "bf16");
}
