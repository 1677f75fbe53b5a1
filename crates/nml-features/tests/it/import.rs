//! Black-box embeddings: `.npy` and Parquet inputs are joined to the
//! manifest's labels; NaN, mismatched sizes and unknown indices are refused.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use nml_core::{FeatureTable, Manifest, Sample};

fn manifest(dir: &Path) -> std::path::PathBuf {
    let samples = (0..10i64)
        .map(|i| Sample {
            index: i,
            split: if i < 6 { "train" } else { "test" }.into(),
            label: i % 2,
            ..Sample::default()
        })
        .collect();
    let path = dir.join("m.parquet");
    Manifest::from_samples(vec!["neg".into(), "pos".into()], samples)
        .unwrap()
        .write(&path)
        .unwrap();
    path
}

fn write_npy(path: &Path, rows: usize, cols: usize, values: &[f32]) {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    for v in values {
        f.write_all(&v.to_le_bytes()).unwrap();
    }
}

fn run(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nml-features"))
        .arg("import")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn npy_and_parquet_embeddings_are_validated_and_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path());
    let out = dir.path().join("f.parquet");
    let npy = dir.path().join("e.npy");
    write_npy(&npy, 4, 3, &(0..12).map(|v| v as f32).collect::<Vec<_>>());
    let (ok, err) = run(&[
        "--embeddings".as_ref(),
        npy.as_os_str(),
        "--manifest".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--split".as_ref(),
        "test".as_ref(),
    ]);
    assert!(ok, "{err}");
    let t = FeatureTable::read(&out).unwrap();
    assert_eq!((t.len(), t.dim), (4, 3));
    assert_eq!(t.index, vec![6, 7, 8, 9]);
    assert_eq!(t.label, vec![0, 1, 0, 1]);
    assert_eq!(t.row(1), [3.0, 4.0, 5.0]);

    // Wrong row count for the split.
    let (ok, err) = run(&[
        "--embeddings".as_ref(),
        npy.as_os_str(),
        "--manifest".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        dir.path().join("x.parquet").as_os_str(),
    ]);
    assert!(
        !ok && err.contains("e.npy has 4 rows but") && err.contains("has 10 rows"),
        "{err}"
    );
    // NaN inside.
    let nan = dir.path().join("nan.npy");
    let mut values: Vec<f32> = (0..12).map(|v| v as f32).collect();
    values[7] = f32::NAN;
    write_npy(&nan, 4, 3, &values);
    let (ok, err) = run(&[
        "--embeddings".as_ref(),
        nan.as_os_str(),
        "--manifest".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        dir.path().join("x.parquet").as_os_str(),
        "--split".as_ref(),
        "test".as_ref(),
    ]);
    assert!(
        !ok && err.contains("nan.npy: row 2, value 1 is NaN"),
        "{err}"
    );
    // A 1-D array.
    let flat = dir.path().join("flat.npy");
    let mut header = String::from("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 16]);
    std::fs::write(&flat, bytes).unwrap();
    let (ok, err) = run(&[
        "--embeddings".as_ref(),
        flat.as_os_str(),
        "--manifest".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        dir.path().join("x.parquet").as_os_str(),
    ]);
    assert!(!ok && err.contains("expected 2 dimensions"), "{err}");

    // Parquet with an index that the manifest lacks.
    let foreign = FeatureTable {
        index: vec![1, 2, 42],
        split: vec!["train".into(); 3],
        label: vec![0; 3],
        domain: None,
        view: None,
        dim: 2,
        features: vec![0.5; 6],
        class_names: None,
        metadata: Default::default(),
    };
    let pq = dir.path().join("emb.parquet");
    foreign.write(&pq).unwrap();
    let (ok, err) = run(&[
        "--embeddings".as_ref(),
        pq.as_os_str(),
        "--manifest".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        dir.path().join("x.parquet").as_os_str(),
    ]);
    assert!(
        !ok && err.contains("emb.parquet: row 2: index 42 (split `train`) is not in"),
        "{err}"
    );
    let good = FeatureTable {
        index: vec![1, 2, 3],
        ..foreign
    };
    good.write(&pq).unwrap();
    let (ok, err) = run(&[
        "--embeddings".as_ref(),
        pq.as_os_str(),
        "--manifest".as_ref(),
        m.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(ok, "{err}");
    let t = FeatureTable::read(&out).unwrap();
    assert_eq!(
        t.label,
        vec![1, 0, 1],
        "labels come from the manifest, not the embeddings file"
    );
    assert_eq!(
        t.class_names.as_deref(),
        Some(&["neg".to_owned(), "pos".to_owned()][..])
    );
}

#[test]
fn a_repeated_embedding_index_names_the_embeddings_file() {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array};
    use arrow::datatypes::{DataType, Field};
    use arrow::record_batch::RecordBatch;

    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path());
    // Written by another tool, which checks nothing: index 2 twice.
    let values = Float32Array::from(vec![0.5f32; 6]);
    let vectors = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        2,
        Arc::new(values),
        None,
    );
    let batch = RecordBatch::try_from_iter([
        (
            "index",
            Arc::new(Int64Array::from(vec![1, 2, 2])) as ArrayRef,
        ),
        ("embedding", Arc::new(vectors) as ArrayRef),
    ])
    .unwrap();
    let path = dir.path().join("emb.parquet");
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let out = dir.path().join("x.parquet");
    let (ok, err) = run(&[
        "--embeddings".as_ref(),
        path.as_os_str(),
        "--manifest".as_ref(),
        m.as_os_str(),
        "--column".as_ref(),
        "embedding".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(
        !ok && err.contains("emb.parquet: rows 1 and 2 both hold index 2"),
        "{err}"
    );
    assert!(!out.exists());
}

/// Damaged embeddings (.npy and Parquet: empty, truncated, garbage, flipped
/// bytes): never a panic, a refusal is one line and writes nothing.
#[test]
fn damaged_embeddings_are_refused_or_read_never_crash() {
    use nml_core::damage::{check_run, damaged};

    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path());
    let npy = dir.path().join("good.npy");
    write_npy(&npy, 10, 3, &[0.25; 30]);
    let parquet = dir.path().join("good.parquet");
    let t = FeatureTable {
        index: (0..10).collect(),
        split: (0..10)
            .map(|i| if i < 6 { "train" } else { "test" }.to_owned())
            .collect(),
        label: vec![0; 10],
        domain: None,
        view: None,
        dim: 3,
        features: vec![0.5; 30],
        class_names: None,
        metadata: Default::default(),
    };
    t.write(&parquet).unwrap();
    let out = dir.path().join("x.parquet");
    for (good, name) in [(&npy, "in.npy"), (&parquet, "in.parquet")] {
        let input = dir.path().join(name);
        // The undamaged file is read, so the flipped-byte cases test a reader that works.
        std::fs::copy(good, &input).unwrap();
        let (ok, err) = run(&[
            "--embeddings".as_ref(),
            input.as_os_str(),
            "--manifest".as_ref(),
            m.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        assert!(ok, "{name}: {err}");
        std::fs::remove_file(&out).unwrap();
        for case in damaged(&std::fs::read(good).unwrap(), 53, 16) {
            std::fs::write(&input, &case.bytes).unwrap();
            let output = Command::new(env!("CARGO_BIN_EXE_nml-features"))
                .arg("import")
                .args([
                    "--embeddings".as_ref(),
                    input.as_os_str(),
                    "--manifest".as_ref(),
                    m.as_os_str(),
                    "--out".as_ref(),
                    out.as_os_str(),
                ])
                .output()
                .unwrap();
            if let Err(problem) = check_run(&output, &case, &[&out]) {
                panic!("{name}: {problem}");
            }
        }
    }
}
