//! Manifest tests: round trips, the shared real datasets, and each schema violation.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use arrow::datatypes::Field;
use nml_core::manifest::{ReadOptions, META_CLASS_NAMES};
use nml_core::{Manifest, Sample};

use crate::{check_err, write_raw};

fn classes() -> Vec<String> {
    ["cat", "dog", "fox"].map(String::from).to_vec()
}

fn sample(index: i64, label: i64) -> Sample {
    Sample {
        index,
        split: if index % 2 == 0 { "train" } else { "test" }.to_owned(),
        label,
        image: Some((vec![index as u8; 5], "png".to_owned())),
        text: Some(format!("a photo of sample {index}")),
        domain: Some("photo".to_owned()),
        noisy_label: Some((label + 1) % 3),
    }
}

#[test]
fn round_trip_keeps_every_column_and_extra_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.parquet");
    let mut m =
        Manifest::from_samples(classes(), (0..2500).map(|i| sample(i, i % 3)).collect()).unwrap();
    m.metadata.insert("nml.seed".into(), "7".into());
    let heights: ArrayRef = Arc::new(Int32Array::from_iter_values(0..2500));
    m.extra.push((
        Arc::new(Field::new("height", heights.data_type().clone(), false)),
        heights,
    ));
    m.write(&path).unwrap();
    let back = Manifest::read(&path).unwrap();
    assert_eq!(back, m);
    assert_eq!(
        back.training_labels()[4],
        2,
        "noisy labels are the training labels"
    );

    let light = Manifest::read_with(&path, ReadOptions::without_images()).unwrap();
    assert!(light.image.is_none() && light.image_format.is_none());
    assert_eq!(light.label, m.label);

    let test_rows = m.rows_in_split("test");
    let sub = m.select(&test_rows);
    assert_eq!(sub.len(), 1250);
    assert!(sub.split.iter().all(|s| s == "test"));
    assert_eq!(sub.extra[0].1.len(), 1250);
    sub.write(dir.path().join("sub.parquet")).unwrap();
}

#[test]
fn samples_must_agree_on_optional_columns() {
    let mut partial = sample(1, 0);
    partial.text = None;
    check_err(
        Manifest::from_samples(classes(), vec![sample(0, 0), partial]),
        &["column `text`", "row 1"],
    );
    check_err(
        Manifest::from_samples(classes(), vec![sample(0, 3)]),
        &["row 0", "label 3 is out of range for 3 classes"],
    );
}

/// Columns of a minimal valid manifest, to be spoiled one at a time.
fn base_columns() -> Vec<(&'static str, ArrayRef)> {
    vec![
        (
            "index",
            Arc::new(Int64Array::from(vec![0, 1, 2])) as ArrayRef,
        ),
        (
            "split",
            Arc::new(StringArray::from(vec!["train", "train", "test"])),
        ),
        ("label", Arc::new(Int64Array::from(vec![0, 1, 2]))),
        (
            "label_name",
            Arc::new(StringArray::from(vec!["cat", "dog", "fox"])),
        ),
    ]
}

fn replace(
    mut columns: Vec<(&'static str, ArrayRef)>,
    name: &str,
    array: ArrayRef,
) -> Vec<(&'static str, ArrayRef)> {
    columns.iter_mut().find(|(n, _)| *n == name).unwrap().1 = array;
    columns
}

/// Writes `columns` (with a 3-class list) and asserts the read error names the file and `expect`.
fn check_bad(columns: Vec<(&'static str, ArrayRef)>, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.parquet");
    write_raw(
        &path,
        columns,
        &[(META_CLASS_NAMES, r#"["cat","dog","fox"]"#)],
    );
    let mut expect = expect.to_vec();
    let shown = path.display().to_string();
    expect.push(&shown);
    check_err(Manifest::read(&path), &expect);
}

#[test]
fn bad_manifests_fail_with_file_column_and_row() {
    let dir = tempfile::tempdir().unwrap();
    write_raw(
        &dir.path().join("ok.parquet"),
        base_columns(),
        &[(META_CLASS_NAMES, r#"["cat","dog","fox"]"#)],
    );
    Manifest::read(dir.path().join("ok.parquet")).expect("the unspoiled columns are valid");

    let without_label: Vec<_> = base_columns()
        .into_iter()
        .filter(|(n, _)| *n != "label")
        .collect();
    check_bad(without_label, &["missing column `label`"]);
    check_bad(
        replace(
            base_columns(),
            "label",
            Arc::new(StringArray::from(vec!["0", "1", "2"])),
        ),
        &["column `label` has type Utf8, expected int64"],
    );
    check_bad(
        replace(
            base_columns(),
            "label",
            Arc::new(Int64Array::from(vec![0, 1, -1])),
        ),
        &["column `label`, row 2", "label -1 is negative"],
    );
    check_bad(
        replace(
            base_columns(),
            "label",
            Arc::new(Int64Array::from(vec![0, 3, 2])),
        ),
        &[
            "column `label`, row 1",
            "label 3 is out of range for 3 classes",
        ],
    );
    check_bad(
        replace(
            base_columns(),
            "label",
            Arc::new(Int64Array::from(vec![Some(0), None, Some(2)])),
        ),
        &["column `label`, row 1", "null value"],
    );
    check_bad(
        replace(
            base_columns(),
            "index",
            Arc::new(Int64Array::from(vec![4, 4, 4])),
        ),
        &[
            "column `index`, row 1",
            "index 4 of split `train` already used by row 0",
        ],
    );
    check_bad(
        replace(
            base_columns(),
            "label_name",
            Arc::new(StringArray::from(vec!["cat", "cow", "fox"])),
        ),
        &[
            "column `label_name`, row 1",
            "`cow` does not match the name `dog` of class 1",
        ],
    );
    let mut with_noisy = base_columns();
    with_noisy.push(("noisy_label", Arc::new(Int64Array::from(vec![0, 1, 7]))));
    check_bad(
        with_noisy,
        &["column `noisy_label`, row 2", "label 7 is out of range"],
    );
    let mut image_without_format = base_columns();
    image_without_format.push((
        "image",
        Arc::new(arrow::array::BinaryArray::from_vec(vec![b"a", b"b", b"c"])),
    ));
    check_bad(
        image_without_format,
        &["column `image` requires column `image_format`"],
    );
}

#[test]
fn class_list_is_derived_when_metadata_lacks_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.parquet");
    write_raw(&path, base_columns(), &[]);
    assert_eq!(Manifest::read(&path).unwrap().class_names, classes());
    let conflicting = replace(
        base_columns(),
        "label",
        Arc::new(Int64Array::from(vec![0, 0, 2])),
    );
    write_raw(&path, conflicting, &[]);
    check_err(
        Manifest::read(&path),
        &[
            "column `label_name`, row 1",
            "class 0 is named `dog` here but `cat` in row 0",
        ],
    );
}

#[test]
fn unreadable_files_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.parquet");
    check_err(Manifest::read(&missing), &["nope.parquet", "cannot open"]);
    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, b"this is not parquet at all").unwrap();
    check_err(Manifest::read(&garbage), &["garbage.parquet", "parquet"]);
}

#[test]
fn invalid_manifest_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.parquet");
    let mut m = Manifest::from_samples(classes(), (0..4).map(|i| sample(i, 0)).collect()).unwrap();
    m.label[3] = 9;
    check_err(
        m.write(&path),
        &["m.parquet", "row 3", "label 9 is out of range"],
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing, not even a temporary, is left"
    );
}

#[test]
fn shared_real_datasets_read_as_manifests() {
    let Some(dir) = nml_core::shared_data() else {
        eprintln!("skipped: ../shared/data is absent (set NML_SHARED_DATA)");
        return;
    };
    let pacs =
        Manifest::read_with(dir.join("pacs.parquet"), ReadOptions::without_images()).unwrap();
    assert_eq!(pacs.len(), 9991);
    assert_eq!(
        pacs.class_names,
        ["dog", "elephant", "giraffe", "guitar", "horse", "house", "person"]
    );
    assert_eq!(
        pacs.domain
            .as_ref()
            .unwrap()
            .iter()
            .filter(|d| *d == "sketch")
            .count(),
        3929
    );
    let sst2 = Manifest::read(dir.join("sst2.parquet")).unwrap();
    assert_eq!(sst2.rows_in_split("test").len(), 872);
    assert!(sst2.text.as_ref().unwrap().iter().all(|t| !t.is_empty()));
    assert!(
        sst2.extra.iter().any(|(f, _)| f.name() == "split_index"),
        "extra columns are kept"
    );
    let cifar = Manifest::read(dir.join("cifar10.parquet")).unwrap();
    assert_eq!(cifar.len(), 60_000);
    assert_eq!(cifar.num_classes(), 10);
    assert!(cifar
        .image_format
        .as_ref()
        .unwrap()
        .iter()
        .all(|f| f == "jpeg"));
}
