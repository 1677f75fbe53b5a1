//! Feature table tests: round trip, streamed batches, and rejected values.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray, StringArray};
use arrow::datatypes::{DataType, Field};
use nml_core::{FeatureBatch, FeatureTable, FeatureWriter};

use crate::{check_err, write_raw};

fn table(n: usize, dim: usize) -> FeatureTable {
    FeatureTable {
        index: (0..n as i64).collect(),
        split: (0..n)
            .map(|i| if i % 4 == 0 { "test" } else { "train" }.to_owned())
            .collect(),
        label: (0..n as i64).map(|i| i % 3).collect(),
        domain: Some(vec!["photo".to_owned(); n]),
        view: None,
        dim,
        features: (0..n * dim).map(|v| v as f32 * 0.5 - 3.0).collect(),
        class_names: Some(vec!["a".into(), "b".into(), "c".into()]),
        metadata: [("nml.model_hash".to_owned(), "abc".to_owned())].into(),
    }
}

#[test]
fn round_trip_and_streamed_batches_agree() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(100, 7);
    t.write(dir.path().join("whole.parquet")).unwrap();
    assert_eq!(
        FeatureTable::read(dir.path().join("whole.parquet")).unwrap(),
        t
    );
    assert_eq!(t.row(3), &t.features[21..28]);

    let mut writer =
        FeatureWriter::create(dir.path().join("streamed.parquet"), t.schema()).unwrap();
    for start in (0..100).step_by(30) {
        let end = (start + 30).min(100);
        writer
            .write(&FeatureBatch {
                index: &t.index[start..end],
                split: &t.split[start..end],
                label: &t.label[start..end],
                domain: t.domain.as_deref().map(|d| &d[start..end]),
                view: None,
                features: &t.features[start * 7..end * 7],
            })
            .unwrap();
    }
    assert_eq!(writer.rows(), 100);
    assert!(
        !dir.path().join("streamed.parquet").exists(),
        "invisible until finished"
    );
    writer.finish().unwrap();
    assert_eq!(
        FeatureTable::read(dir.path().join("streamed.parquet")).unwrap(),
        t
    );
}

#[test]
fn non_finite_and_inconsistent_rows_are_refused_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.parquet");
    let mut t = table(10, 4);
    t.features[4 * 6 + 2] = f32::NAN;
    check_err(
        t.write(&path),
        &["f.parquet", "column `feature`, row 6", "value 2 is NaN"],
    );
    let mut t = table(10, 4);
    t.label[5] = 3;
    check_err(
        t.write(&path),
        &[
            "column `label`, row 5",
            "label 3 is out of range for 3 classes",
        ],
    );
    let mut t = table(10, 4);
    t.features.pop();
    check_err(
        t.write(&path),
        &["batch has 10 indices but 39 feature values (expected 40 = 10 x 4)"],
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "failed writes leave nothing behind"
    );

    let t = table(10, 4);
    let mut writer = FeatureWriter::create(&path, t.schema()).unwrap();
    let batch = |r: std::ops::Range<usize>| FeatureBatch {
        index: &t.index[r.clone()],
        split: &t.split[r.clone()],
        label: &t.label[r.clone()],
        domain: t.domain.as_deref().map(|d| &d[r.clone()]),
        view: None,
        features: &t.features[r.start * 4..r.end * 4],
    };
    writer.write(&batch(0..5)).unwrap();
    check_err(
        writer.write(&batch(4..6)),
        &[
            "column `index`, row 5",
            "index 4 of split `test` appears twice",
        ],
    );
    drop(writer);
    assert!(!path.exists());
}

fn list_column(rows: Vec<Option<Vec<Option<f64>>>>) -> ArrayRef {
    Arc::new(ListArray::from_iter_primitive::<
        arrow::datatypes::Float64Type,
        _,
        _,
    >(rows))
}

fn foreign(feature: ArrayRef) -> Vec<(&'static str, ArrayRef)> {
    vec![
        (
            "index",
            Arc::new(Int64Array::from(vec![10, 11, 12])) as ArrayRef,
        ),
        (
            "split",
            Arc::new(StringArray::from(vec!["train", "train", "test"])),
        ),
        ("label", Arc::new(Int64Array::from(vec![0, 1, 1]))),
        ("feature", feature),
    ]
}

#[test]
fn python_style_list_columns_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("emb.parquet");
    let good = list_column(vec![
        Some(vec![Some(1.0), Some(2.0)]),
        Some(vec![Some(3.0), Some(4.0)]),
        Some(vec![Some(5.0), Some(6.5)]),
    ]);
    write_raw(&path, foreign(good), &[]);
    let t = FeatureTable::read(&path).unwrap();
    assert_eq!(
        (t.dim, t.features.clone()),
        (2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5])
    );
    assert!(t.class_names.is_none());

    let ragged = list_column(vec![
        Some(vec![Some(1.0), Some(2.0)]),
        Some(vec![Some(3.0)]),
        Some(vec![Some(5.0), Some(6.0)]),
    ]);
    write_raw(&path, foreign(ragged), &[]);
    check_err(
        FeatureTable::read(&path),
        &[
            "emb.parquet",
            "column `feature`, row 1",
            "vector has 1 values, earlier rows have 2",
        ],
    );

    let infinite = list_column(vec![
        Some(vec![Some(1.0), Some(2.0)]),
        Some(vec![Some(3.0), Some(4.0)]),
        Some(vec![Some(f64::INFINITY), Some(6.0)]),
    ]);
    write_raw(&path, foreign(infinite), &[]);
    check_err(
        FeatureTable::read(&path),
        &["column `feature`, row 2", "value 0 is inf"],
    );

    let scalar: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0]));
    write_raw(&path, foreign(scalar), &[]);
    check_err(
        FeatureTable::read(&path),
        &["column `feature` has type Float64"],
    );

    let strings = ListArray::new(
        Arc::new(Field::new("item", DataType::Utf8, true)),
        arrow::buffer::OffsetBuffer::from_lengths([1, 1, 1]),
        Arc::new(StringArray::from(vec!["a", "b", "c"])),
        None,
    );
    write_raw(&path, foreign(Arc::new(strings)), &[]);
    check_err(
        FeatureTable::read(&path),
        &[
            "column `feature` has type List",
            "expected fixed_size_list<float32>",
        ],
    );
}
