//! The `nml-noise` binary end to end: outputs, determinism, summaries, and
//! bad input that must fail clearly and write nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Field};
use nml_core::{Manifest, Sample};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nml-noise"))
}

/// A 10-class manifest: 400 train and 100 test rows, with text, images and a `worse` label column.
fn write_input(dir: &Path, worse: Vec<Option<i64>>) -> PathBuf {
    let samples = (0..500i64)
        .map(|i| Sample {
            index: i,
            split: if i < 400 { "train" } else { "test" }.to_owned(),
            label: i % 10,
            image: Some((vec![i as u8; 3], "png".to_owned())),
            text: Some(format!("caption {i}")),
            ..Sample::default()
        })
        .collect();
    let mut m =
        Manifest::from_samples((0..10).map(|c| format!("c{c}")).collect(), samples).unwrap();
    let worse: ArrayRef = Arc::new(Int64Array::from(worse));
    m.extra
        .push((Arc::new(Field::new("worse", DataType::Int64, true)), worse));
    let path = dir.join("in.parquet");
    m.write(&path).unwrap();
    path
}

fn default_worse() -> Vec<Option<i64>> {
    (0..500i64)
        .map(|i| if i < 400 { Some((i * 7) % 10) } else { None })
        .collect()
}

fn run(args: &[&str]) -> (bool, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `X.noise.json` beside `path`, read with the type its writer uses.
fn summary(path: &Path) -> nml_noise::NoiseSummary {
    nml_noise::NoiseSummary::read(&nml_noise::summary_path(path)).unwrap()
}

#[test]
fn symmetric_noise_touches_only_train_rows_keeps_columns_and_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), default_worse());
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    for out in [&a, &b] {
        let (ok, err) = run(&[
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--kind",
            "symmetric",
            "--ratio",
            "0.2",
            "--seed",
            "3",
        ]);
        assert!(ok, "{err}");
    }
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same input and seed give the same bytes"
    );
    assert_eq!(
        std::fs::read(a.with_extension("noise.json")).unwrap(),
        std::fs::read(b.with_extension("noise.json")).unwrap()
    );

    let m = Manifest::read(&a).unwrap();
    let noisy = m.noisy_label.as_ref().unwrap();
    let flags = m
        .extra
        .iter()
        .find(|(f, _)| f.name() == "is_noisy")
        .unwrap()
        .1
        .clone();
    let flags = flags.as_boolean();
    let flipped: Vec<usize> = (0..m.len()).filter(|&r| noisy[r] != m.label[r]).collect();
    assert_eq!(flipped.len(), 80, "round(0.2 * 400) train rows");
    assert!(flipped.iter().all(|&r| m.split[r] == "train"));
    assert!((0..m.len()).all(|r| flags.value(r) == (noisy[r] != m.label[r])));
    assert!(
        m.image.is_some() && m.text.is_some() && m.extra.iter().any(|(f, _)| f.name() == "worse")
    );
    let s = summary(&a);
    assert_eq!(s.ratio_realised, 0.2);
    assert_eq!(s.rows_in_scope, 400);
    assert_eq!(s.config.seed, 3);
    let per_class_total: usize = s.per_class.iter().map(|c| c.noisy).sum();
    assert_eq!(per_class_total, 80);
    let diagonal: f64 = (0..10).map(|c| s.transition[c][c]).sum::<f64>() / 10.0;
    assert!(
        (diagonal - 0.8).abs() < 0.1,
        "empirical transition matrix diagonal {diagonal}"
    );
    assert_eq!(
        nml_noise::NoiseSummary::of_manifest(&m, &a).unwrap(),
        Some(s),
        "the summary travels in the manifest metadata"
    );

    let (ok, err) = run(&[
        "--input",
        input.to_str().unwrap(),
        "--output",
        b.to_str().unwrap(),
        "--kind",
        "symmetric",
        "--ratio",
        "0.2",
        "--seed",
        "4",
    ]);
    assert!(ok, "{err}");
    assert_ne!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "another seed draws other rows"
    );
}

#[test]
fn caption_swap_and_column_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), default_worse());
    let out = dir.path().join("swap.parquet");
    let (ok, err) = run(&[
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--kind",
        "caption-swap",
        "--ratio",
        "0.3",
    ]);
    assert!(ok, "{err}");
    let m = Manifest::read(&out).unwrap();
    let clean = m
        .extra
        .iter()
        .find(|(f, _)| f.name() == "clean_text")
        .unwrap()
        .1
        .clone();
    let clean = clean.as_string::<i32>();
    let text = m.text.as_ref().unwrap();
    let changed = (0..m.len()).filter(|&r| text[r] != clean.value(r)).count();
    assert_eq!(
        changed, 120,
        "round(0.3 * 400 / 2) = 60 pairs corrupt 120 rows"
    );
    assert_eq!(
        m.noisy_label.as_ref().unwrap(),
        &m.label,
        "caption swaps leave labels alone"
    );

    let out = dir.path().join("col.parquet");
    let (ok, err) = run(&[
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--kind",
        "column",
        "--column",
        "worse",
    ]);
    assert!(ok, "{err}");
    let m = Manifest::read(&out).unwrap();
    let noisy = m.noisy_label.unwrap();
    assert!((0..400).all(|r| noisy[r] == (r as i64 * 7) % 10));
    assert!(
        (400..500).all(|r| noisy[r] == m.label[r]),
        "null test rows keep their clean label"
    );
}

#[test]
fn bad_input_fails_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), default_worse());
    let inp = input.to_str().unwrap().to_owned();
    let out = dir.path().join("out.parquet");
    let outp = out.to_str().unwrap().to_owned();
    let bad_matrix = dir.path().join("t.csv");
    let row = |i: usize| {
        (0..10)
            .map(|j| if j == i { "1" } else { "0" })
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut rows: Vec<String> = (0..10).map(row).collect();
    rows[1] = "0.5,0.4,0,0,0,0,0,0,0,0".to_owned();
    std::fs::write(&bad_matrix, rows.join("\n")).unwrap();
    let check = |args: &[&str], expect: &[&str]| {
        let (ok, err) = run(args);
        assert!(!ok, "{args:?} must fail");
        for part in expect {
            assert!(err.contains(part), "{args:?}: {err:?} lacks {part:?}");
        }
        assert!(
            !out.exists() && !out.with_extension("noise.json").exists(),
            "{args:?} wrote output"
        );
    };
    check(
        &[
            "--input",
            &inp,
            "--output",
            &outp,
            "--kind",
            "symmetric",
            "--ratio",
            "1.5",
        ],
        &["1.5 is outside [0, 1]"],
    );
    check(
        &[
            "--input", &inp, "--output", &outp, "--kind", "uniform", "--ratio", "-0.1",
        ],
        &["outside [0, 1]"],
    );
    check(
        &["--input", &inp, "--output", &outp, "--kind", "symmetric"],
        &["needs --ratio"],
    );
    check(
        &[
            "--input",
            &inp,
            "--output",
            &outp,
            "--kind",
            "transition",
            "--matrix",
            bad_matrix.to_str().unwrap(),
        ],
        &["t.csv", "row 1 sums to 0.9"],
    );
    check(
        &[
            "--input", &inp, "--output", &outp, "--kind", "column", "--column", "nope",
        ],
        &["in.parquet", "missing column `nope`"],
    );
    check(
        &[
            "--input",
            &inp,
            "--output",
            &inp,
            "--kind",
            "symmetric",
            "--ratio",
            "0.1",
        ],
        &["is the input file"],
    );
    check(
        &[
            "--input",
            &dir.path().join("missing.parquet").to_string_lossy(),
            "--output",
            &outp,
            "--kind",
            "uniform",
            "--ratio",
            "0.1",
        ],
        &["missing.parquet", "cannot open"],
    );
    check(
        &[
            "--input",
            &inp,
            "--output",
            &outp,
            "--kind",
            "symmetric",
            "--ratio",
            "0.1",
            "--splits",
            "validation",
        ],
        &["no row belongs to the splits"],
    );

    let mut worse = default_worse();
    worse[123] = Some(10);
    let input2 = write_input(dir.path(), worse);
    check(
        &[
            "--input",
            input2.to_str().unwrap(),
            "--output",
            &outp,
            "--kind",
            "column",
            "--column",
            "worse",
        ],
        &[
            "column `worse`, row 123",
            "label 10 is out of range for 10 classes",
        ],
    );
    let mut worse = default_worse();
    worse[5] = None;
    let input3 = write_input(dir.path(), worse);
    check(
        &[
            "--input",
            input3.to_str().unwrap(),
            "--output",
            &outp,
            "--kind",
            "column",
            "--column",
            "worse",
        ],
        &["row 5", "null label"],
    );

    let no_text = dir.path().join("notext.parquet");
    let mut m = Manifest::read(&input3).unwrap();
    m.text = None;
    m.write(&no_text).unwrap();
    check(
        &[
            "--input",
            no_text.to_str().unwrap(),
            "--output",
            &outp,
            "--kind",
            "caption-swap",
            "--ratio",
            "0.1",
        ],
        &["notext.parquet", "missing column `text`"],
    );
}

#[test]
fn cifar10n_worse_label_gives_about_forty_percent_noise() {
    let Some(data) = nml_core::shared_data() else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c10n.parquet");
    let input = data.join("cifar10.parquet");
    let (ok, err) = run(&[
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--kind",
        "column",
        "--column",
        "worse_label",
    ]);
    assert!(ok, "{err}");
    let s = summary(&out);
    let rate = s.ratio_realised;
    assert_eq!(s.rows_in_scope, 50_000);
    assert!(
        (0.39..0.41).contains(&rate),
        "CIFAR-10N worse_label noise rate {rate}"
    );
    let m = Manifest::read_with(&out, nml_core::ReadOptions::without_images()).unwrap();
    let flags = m
        .extra
        .iter()
        .find(|(f, _)| f.name() == "is_noisy")
        .unwrap()
        .1
        .clone();
    assert_eq!(flags.as_boolean().true_count(), s.rows_noisy);
    assert_eq!(flags.null_count(), 0);
}
