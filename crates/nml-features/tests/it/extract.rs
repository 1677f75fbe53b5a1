//! Extraction writes the model's own features; a second request is served
//! from the cache without running the model, and one changed byte of the
//! checkpoint invalidates the entry.

use nml_core::{FeatureTable, Manifest};
use nml_features::{extract, ExtractRecord, ExtractRequest};
use nml_pretrain::{checkpoint, data, ModelInfo, Net};
use tch::nn::VarStore;
use tch::Device;

use crate::trained_smoke;

#[test]
fn extraction_is_exact_cached_and_invalidated_by_one_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (bench, model) = trained_smoke(dir.path());
    let manifest_path = bench.join("task-0.parquet");
    let request = ExtractRequest {
        checkpoint: model.clone(),
        manifest: manifest_path.clone(),
        splits: None,
        batch_size: 64,
        resize: false,
        cache: dir.path().join("cache"),
        force: false,
        pretrained: None,
        embedding: None,
        views: nml_features::ViewRequest::none(),
        precision: nml_features::Compute::Fp32,
    };
    let first = extract(&request, Device::Cpu).unwrap();
    assert!(!first.cache_hit);
    assert_eq!(
        (first.images, first.rows, first.dim),
        (600, 600, 128),
        "5 classes x 4 domains x 30 images"
    );
    let table = FeatureTable::read(&first.path).unwrap();
    assert_eq!(
        table
            .domain
            .as_ref()
            .unwrap()
            .iter()
            .filter(|d| *d == "sketch")
            .count(),
        150
    );
    assert_eq!(table.metadata["nml.arch"], "small");
    assert!(
        table.metadata.contains_key("nml.model_hash")
            && table.metadata.contains_key("nml.manifest_hash")
    );
    // The entry's config.json, read with the type that wrote it.
    let record = ExtractRecord::read(&first.path).unwrap();
    assert_eq!(record.key, first.key);
    assert_eq!(record.arch, nml_pretrain::Arch::Small);
    assert_eq!(
        record.manifest_hash,
        nml_core::hash_file(&manifest_path).unwrap().to_hex()
    );
    assert_eq!(record.model_hash, table.metadata["nml.model_hash"]);
    assert_eq!(
        (record.preprocess.views.clone(), record.preprocess.precision),
        (None, nml_features::Compute::Fp32)
    );
    assert!(record.code_version.starts_with("nml "), "{record:?}");

    // The stored vectors are the network's features of the same images.
    let info: ModelInfo =
        serde_json::from_str(&std::fs::read_to_string(model.join("model.json")).unwrap()).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), info.arch, info.classes as i64);
    checkpoint::load_model(&vs, &model.join("model.safetensors"), info.arch).unwrap();
    let manifest = Manifest::read(&manifest_path).unwrap();
    let set = data::load(&manifest, &[0, 1, 599], 32, false, &manifest_path).unwrap();
    let direct = extract::features_of(&net, info.normalize, &set.images, Device::Cpu);
    for (k, row) in [0usize, 1, 599].iter().enumerate() {
        let ours: Vec<f32> = Vec::try_from(direct.get(k as i64)).unwrap();
        let max = ours
            .iter()
            .zip(table.row(*row))
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-5, "row {row} differs by {max}");
    }

    let second = extract(&request, Device::Cpu).unwrap();
    assert!(second.cache_hit);
    assert_eq!(
        second.images, 0,
        "a cache hit runs no image through the model"
    );
    assert_eq!(second.path, first.path);

    // One changed byte of the weights (inside a tensor's data) is another checkpoint.
    let changed = dir.path().join("changed");
    std::fs::create_dir_all(&changed).unwrap();
    std::fs::copy(model.join("model.json"), changed.join("model.json")).unwrap();
    let mut bytes = std::fs::read(model.join("model.safetensors")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(changed.join("model.safetensors"), bytes).unwrap();
    let third = extract(
        &ExtractRequest {
            checkpoint: changed,
            ..request.clone()
        },
        Device::Cpu,
    )
    .unwrap();
    assert!(!third.cache_hit && third.images == 600 && third.key != first.key);

    let forced = extract(
        &ExtractRequest {
            force: true,
            ..request.clone()
        },
        Device::Cpu,
    )
    .unwrap();
    assert!(!forced.cache_hit && forced.images == 600);

    let empty = extract(
        &ExtractRequest {
            splits: Some(vec!["validation".into()]),
            ..request
        },
        Device::Cpu,
    );
    let err = empty.unwrap_err().to_string();
    assert!(
        err.contains("task-0.parquet") && err.contains("no rows in splits"),
        "{err}"
    );
}

/// bf16 extraction: its own cache entry, a float32 table on disk, the precision
/// in the table's metadata, and vectors within bfloat16's rounding of float32's.
#[test]
fn bf16_extraction_is_close_to_fp32_and_cached_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (bench, model) = trained_smoke(dir.path());
    let request = ExtractRequest {
        checkpoint: model,
        manifest: bench.join("task-0.parquet"),
        splits: Some(vec!["test".into()]),
        batch_size: 64,
        resize: false,
        cache: dir.path().join("cache"),
        force: false,
        pretrained: None,
        embedding: None,
        views: nml_features::ViewRequest::none(),
        precision: nml_features::Compute::Fp32,
    };
    let fp32 = extract(&request, Device::Cpu).unwrap();
    let bf16 = extract(
        &ExtractRequest {
            precision: nml_features::Compute::Bf16,
            ..request
        },
        Device::Cpu,
    )
    .unwrap();
    assert!(!bf16.cache_hit && bf16.key != fp32.key);
    let (a, b) = (
        FeatureTable::read(&fp32.path).unwrap(),
        FeatureTable::read(&bf16.path).unwrap(),
    );
    assert_eq!((a.len(), a.dim), (b.len(), b.dim));
    assert!(b.metadata["nml.preprocess"].contains("\"precision\":\"bf16\""));
    assert!(!a.metadata["nml.preprocess"].contains("precision"));
    let (mut diff, mut norm) = (0f64, 0f64);
    for (x, y) in a.features.iter().zip(&b.features) {
        diff += f64::from(x - y).powi(2);
        norm += f64::from(*x).powi(2);
    }
    let rel = (diff / norm).sqrt();
    assert!(
        rel > 0.0 && rel < 0.03,
        "bf16 features off by {rel:.2e} (relative)"
    );
}
