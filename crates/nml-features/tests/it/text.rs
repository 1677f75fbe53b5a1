//! Sentence embeddings of a manifest's `text` (all-MiniLM-L6-v2 from the shared
//! data folder): the entry's record counts the texts cut to the window, a second
//! request is a cache hit, and another window is another entry. Skipped, with a
//! message, where the shared data folder is absent.

use nml_core::{FeatureTable, Manifest, Sample};
use nml_features::text::{embed_manifest, TextRequest};
use nml_features::TextRecord;
use tch::Device;

use crate::shared;

#[test]
fn truncated_texts_are_counted_in_the_record_and_entries_are_cached() {
    let Some(data) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let texts = [
        "a short one.",
        "ok",
        "this sentence is certainly much longer than the eight tokens of the window",
    ];
    let samples = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Sample {
            index: i as i64,
            split: "test".to_owned(),
            label: (i % 2) as i64,
            text: Some((*t).to_owned()),
            ..Sample::default()
        })
        .collect();
    let manifest = dir.path().join("texts.parquet");
    Manifest::from_samples(vec!["neg".into(), "pos".into()], samples)
        .unwrap()
        .write(&manifest)
        .unwrap();
    let request = TextRequest {
        model: data.join("models/all-minilm-l6-v2"),
        manifest,
        splits: None,
        batch_size: 2,
        max_length: 8,
        cache: dir.path().join("cache"),
        force: false,
    };
    let path = embed_manifest(&request, Device::Cpu).unwrap();
    let record = TextRecord::read(&path).unwrap();
    assert_eq!((record.rows, record.truncated_rows), (3, 1), "{record:?}");
    assert_eq!(record.max_length, 8);
    assert!(record.code_version.starts_with("nml "), "{record:?}");
    let table = FeatureTable::read(&path).unwrap();
    assert_eq!((table.len(), table.dim), (3, 384));
    assert_eq!(table.metadata["nml.key"], record.key);

    // The same request is served from the cache: the table is not rewritten.
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert_eq!(embed_manifest(&request, Device::Cpu).unwrap(), path);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        written
    );

    // The encoder's own window cuts none of them, in an entry of its own.
    let whole = TextRequest {
        max_length: 256,
        ..request
    };
    let other = embed_manifest(&whole, Device::Cpu).unwrap();
    assert_ne!(other, path);
    let record = TextRecord::read(&other).unwrap();
    assert_eq!((record.rows, record.truncated_rows), (3, 0), "{record:?}");
}
