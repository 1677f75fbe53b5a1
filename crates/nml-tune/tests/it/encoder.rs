//! Augmented views through the whole path on the smoke benchmark: extraction
//! caches K views per image beside the eval view (deterministic, keyed),
//! cached two-view tuning trains on them, and `--encoder` mode runs the
//! backbone in the loop on fresh augmentations of the same transform.

use std::path::PathBuf;

use nml_data::synth::{self, Preset, SynthConfig};
use nml_features::{extract, Embedding, ExtractRequest, ViewRequest};
use nml_models::{Augment, AugmentKind};
use nml_pretrain::{Arch, RunPaths, TrainConfig};
use nml_tune::encoder::{tune_encoder, EncoderRequest};
use nml_tune::{tune, Method, TuneConfig};
use tch::Device;

#[test]
fn views_are_cached_and_tuned_on_and_the_encoder_runs_in_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let bench = dir.path().join("bench");
    synth::generate(&SynthConfig::preset(Preset::Smoke, 0), &bench).unwrap();
    let mut config = TrainConfig::new(Arch::Small, 1);
    config.common.batch_size = 32;
    let model = dir.path().join("model");
    let paths = RunPaths {
        train: bench.join("pretrain.parquet"),
        test: None,
        out: model.clone(),
    };
    nml_pretrain::train(&config, &paths, Device::Cpu, false).unwrap();
    let manifest = bench.join("task-0.parquet");
    let plain = ExtractRequest {
        checkpoint: model.clone(),
        manifest: manifest.clone(),
        splits: None,
        batch_size: 128,
        resize: false,
        cache: dir.path().join("cache"),
        force: false,
        pretrained: None,
        embedding: None,
        views: ViewRequest::none(),
        precision: nml_features::Compute::Fp32,
    };
    let views = ExtractRequest {
        views: ViewRequest {
            count: 3,
            ..ViewRequest::none()
        },
        ..plain.clone()
    };
    let eval_only = extract(&plain, Device::Cpu).unwrap();
    let viewed = extract(&views, Device::Cpu).unwrap();
    assert_ne!(eval_only.key, viewed.key, "K is part of the key");
    assert_eq!((viewed.images, viewed.rows), (600, 2400));
    let table = nml_core::FeatureTable::read(&viewed.path).unwrap();
    assert_eq!(table.views_per_row(), 3);
    let eval = table.eval_view();
    let reference = nml_core::FeatureTable::read(&eval_only.path).unwrap();
    // View 0 is the plain extraction (the metadata differ: key and preprocessing).
    assert!(
        eval.index == reference.index
            && eval.split == reference.split
            && eval.domain == reference.domain
    );
    assert!(
        eval.features == reference.features,
        "view 0 is the eval transform"
    );
    let augmented = table.augmented_views(&eval, &viewed.path).unwrap().unwrap();
    assert_ne!(&augmented.values[..128], eval.row(0), "views are augmented");
    let again = extract(
        &ExtractRequest {
            force: true,
            ..views.clone()
        },
        Device::Cpu,
    )
    .unwrap();
    let again = nml_core::FeatureTable::read(&again.path).unwrap();
    assert!(
        again.features == table.features,
        "views are a function of the seed"
    );
    let err = extract(
        &ExtractRequest {
            embedding: Some(Embedding::Projection),
            ..plain.clone()
        },
        Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("needs a contrastive backbone"), "{err}");

    let photo = |t: &nml_core::FeatureTable, split: &str| {
        t.select(&t.rows_where(Some(split), Some("photo")))
    };
    // Views for the training rows only (the rows of one split and domain).
    let scoped = extract(
        &ExtractRequest {
            views: ViewRequest {
                count: 2,
                split: Some("train".to_owned()),
                domain: Some("photo".to_owned()),
                ..ViewRequest::none()
            },
            ..plain.clone()
        },
        Device::Cpu,
    )
    .unwrap();
    let photo_train = eval.rows_where(Some("train"), Some("photo")).len();
    assert_eq!(scoped.rows, 600 + 2 * photo_train);
    let scoped = nml_core::FeatureTable::read(&scoped.path).unwrap();
    let evals = vec![(
        "photo".to_owned(),
        PathBuf::from("photo"),
        photo(&eval, "test"),
    )];
    let two_view = TuneConfig {
        epochs: 3,
        two_view: true,
        ..TuneConfig::new(Method::Nmtune)
    };
    let cached = tune(&two_view, &photo(&table, "train"), &evals, 0, Device::Cpu).unwrap();
    assert!(cached[0].accuracy > 0.2, "{cached:?}");
    tune(&two_view, &photo(&scoped, "train"), &evals, 0, Device::Cpu).unwrap();
    let sketch = scoped.select(&scoped.rows_where(Some("train"), Some("sketch")));
    let err = tune(&two_view, &sketch, &evals, 0, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("augmented views"),
        "rows without views cannot train two-view: {err}"
    );

    let request = EncoderRequest {
        checkpoint: &model,
        manifest: &manifest,
        split: Some("train"),
        domain: Some("photo"),
        resize: false,
        augment: Augment::new(AugmentKind::Rrc),
        embedding: None,
        pretrained: None,
    };
    let looped = tune_encoder(&two_view, &request, &evals, 0, Device::Cpu).unwrap();
    assert_eq!(
        looped,
        tune_encoder(&two_view, &request, &evals, 0, Device::Cpu).unwrap()
    );
    assert!(
        (looped[0].accuracy - cached[0].accuracy).abs() < 0.25,
        "{looped:?} vs {cached:?}"
    );
    let mut foreign = evals.clone();
    foreign[0]
        .2
        .metadata
        .insert("nml.model_hash".to_owned(), "0".repeat(64));
    let err = tune_encoder(&two_view, &request, &foreign, 0, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("another backbone"), "{err}");
    // An eval table of other classes is refused in encoder mode as with cached
    // features, and a head trained in the loop records the manifest's classes.
    let mut renamed = evals.clone();
    if let Some(names) = renamed[0].2.class_names.as_mut() {
        names[0] = "not-a-class".to_owned();
    }
    let err = tune_encoder(&two_view, &request, &renamed, 0, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("other classes"), "{err}");
    let tuned =
        nml_tune::encoder::tune_encoder_head(&two_view, &request, &evals, 0, Device::Cpu).unwrap();
    let names = nml_core::Manifest::read(&manifest).unwrap().class_names;
    assert_eq!(tuned.class_names, Some(names));
}
