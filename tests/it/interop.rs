//! Files nml-core writes are read by pyarrow and pandas with the documented
//! schema, and files pandas writes are read by nml-core.

use nml_core::{FeatureTable, Manifest, Sample};
use nml_tests::{python, run_python};

#[test]
fn parquet_files_cross_to_python_and_back() {
    let Some(python) = python() else {
        eprintln!("skipped: the project Python is missing (run `cargo xtask setup`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);

    let samples = (0..50i64)
        .map(|i| Sample {
            index: i,
            split: if i < 40 { "train" } else { "test" }.to_owned(),
            label: i % 3,
            image: Some((vec![i as u8, i as u8 + 1, i as u8 + 2], "png".to_owned())),
            text: Some(format!("sample {i}")),
            domain: Some("photo".to_owned()),
            noisy_label: Some((i + 1) % 3),
        })
        .collect();
    let mut manifest =
        Manifest::from_samples(["cat", "dog", "fox"].map(String::from).to_vec(), samples).unwrap();
    manifest.metadata.insert("nml.seed".into(), "11".into());
    manifest.write(p("m.parquet")).unwrap();
    let features = FeatureTable {
        index: manifest.index.clone(),
        split: manifest.split.clone(),
        label: manifest.label.clone(),
        domain: None,
        view: None,
        dim: 4,
        features: (0..200).map(|v| v as f32 / 8.0).collect(),
        class_names: Some(manifest.class_names.clone()),
        metadata: Default::default(),
    };
    features.write(p("f.parquet")).unwrap();

    let out = run_python(
        &python,
        "interop.py",
        &[
            &p("m.parquet"),
            &p("f.parquet"),
            &p("pm.parquet"),
            &p("pf.parquet"),
        ],
    );
    assert!(out.contains("interop ok"), "{out}");

    let from_pandas = Manifest::read(p("pm.parquet")).unwrap();
    assert_eq!(from_pandas.len(), 20);
    assert_eq!(from_pandas.class_names, ["neg", "pos"]);
    assert_eq!(from_pandas.rows_in_split("test").len(), 5);
    assert_eq!(from_pandas.text.as_ref().unwrap()[19], "sentence 19");
    let emb = FeatureTable::read(p("pf.parquet")).unwrap();
    assert_eq!(emb.dim, 3);
    assert_eq!(emb.row(12), [12.0, 12.0, 12.0]);
}
