//! The command line: tidy tables for several feature tables, and clear errors
//! for NaN features, ragged vectors and empty selections.

use std::process::Command;

use polars::prelude::*;

use crate::structured_table;

fn run(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nml-spectral"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn several_tables_give_one_tidy_table() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("n00.parquet"),
        dir.path().join("n20.parquet"),
    );
    structured_table(100, 16, 1).write(&a).unwrap();
    structured_table(100, 16, 2).write(&b).unwrap();
    let out = dir.path().join("spectral");
    let (ok, stdout, stderr) = run(&[
        "--features".as_ref(),
        a.as_os_str(),
        "--features".as_ref(),
        b.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("n00") && stdout.contains("effective_rank"),
        "{stdout}"
    );
    let metrics = ParquetReader::new(std::fs::File::open(out.join("metrics.parquet")).unwrap())
        .finish()
        .unwrap();
    assert_eq!(metrics.height(), 2 * 7, "a row per table and metric");
    assert_eq!(
        metrics.get_column_names(),
        ["table", "rows", "dim", "metric", "value"]
    );
    let spectrum = ParquetReader::new(std::fs::File::open(out.join("spectrum.parquet")).unwrap())
        .finish()
        .unwrap();
    assert_eq!(
        spectrum.height(),
        2 * 16,
        "min(N, D) singular values per table"
    );
    let shares = spectrum
        .column("share")
        .unwrap()
        .f64()
        .unwrap()
        .sum()
        .unwrap();
    assert!((shares - 2.0).abs() < 1e-9, "each table's shares sum to 1");
    // The options and the tables read, with the type that wrote them.
    let record = nml_spectral::SpectralRecord::read(&out.join("spectral.json")).unwrap();
    let tables: Vec<(&str, usize, usize)> = record
        .tables
        .iter()
        .map(|t| (t.name.as_str(), t.rows, t.dim))
        .collect();
    assert_eq!(tables, [("n00", 100, 16), ("n20", 100, 16)]);
    assert_eq!(
        record.selection.split.as_deref(),
        Some("test"),
        "the default split"
    );
    assert!(record.code_version.starts_with("nml "), "{record:?}");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("table,rows,dim,sve,lsvr,log_lsvr"), "{csv}");
    assert_eq!(csv.lines().count(), 3);
    let png = image::open(out.join("spectrum.png")).unwrap();
    assert_eq!((png.width(), png.height()), (800, 520));
    let svg = std::fs::read_to_string(out.join("spectrum.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("n00") && svg.contains("n20"),
        "legend names the groups"
    );
}

#[test]
fn a_spectrum_without_mass_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    structured_table(50, 8, 3).write(&good).unwrap();
    let mut zero = structured_table(50, 8, 4);
    zero.features.iter_mut().for_each(|v| *v = 0.0);
    let zero_path = dir.path().join("zero.parquet");
    zero.write(&zero_path).unwrap();
    // Constant rows: zero after the official row centring.
    let mut flat = structured_table(50, 8, 5);
    flat.features.iter_mut().for_each(|v| *v = 0.7);
    let flat_path = dir.path().join("flat.parquet");
    flat.write(&flat_path).unwrap();
    let out = dir.path().join("out");
    for bad in [&zero_path, &flat_path] {
        let (ok, _, err) = run(&[
            "--features".as_ref(),
            good.as_os_str(),
            "--features".as_ref(),
            bad.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        assert!(
            !ok && err.contains(&*bad.display().to_string())
                && err.contains("no spectrum to measure"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!out.exists(), "a refused run wrote {}", out.display());
    }
    // Without row centring a constant table has a spectrum (one direction).
    let (ok, _, err) = run(&[
        "--features".as_ref(),
        flat_path.as_os_str(),
        "--center".as_ref(),
        "none".as_ref(),
    ]);
    assert!(ok, "{err}");
}

#[test]
fn bad_feature_tables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.parquet");
    let t = structured_table(50, 8, 3);
    t.write(&path).unwrap();
    let (ok, _, err) = run(&[
        "--features".as_ref(),
        path.as_os_str(),
        "--split".as_ref(),
        "validation".as_ref(),
    ]);
    assert!(
        !ok && err.contains("f.parquet")
            && err.contains("0 rows match split `validation` and domain `any`"),
        "{err}"
    );
    let (ok, _, err) = run(&[
        "--features".as_ref(),
        path.as_os_str(),
        "--domain".as_ref(),
        "sketch".as_ref(),
    ]);
    assert!(!ok && err.contains("0 rows match"), "{err}");

    // Tables written by another tool (polars, list<f64> vectors): NaN and ragged rows.
    let foreign = |name: &str, rows: Vec<Vec<f64>>| {
        let n = rows.len() as i64;
        let vectors: Vec<Series> = rows
            .into_iter()
            .map(|r| Series::new("".into(), r))
            .collect();
        let mut frame = df!(
            "index" => (0..n).collect::<Vec<i64>>(),
            "split" => vec!["test"; n as usize],
            "label" => vec![0i64; n as usize],
            "feature" => vectors
        )
        .unwrap();
        let path = dir.path().join(name);
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut frame)
            .unwrap();
        path
    };
    let nan = foreign(
        "nan.parquet",
        vec![vec![1.0, 2.0], vec![f64::NAN, 1.0], vec![0.5, 0.5]],
    );
    let (ok, _, err) = run(&["--features".as_ref(), nan.as_os_str()]);
    assert!(
        !ok && err.contains("nan.parquet")
            && err.contains("column `feature`, row 1")
            && err.contains("NaN"),
        "{err}"
    );
    let inf = foreign(
        "inf.parquet",
        vec![vec![1.0, 2.0], vec![3.0, 1.0], vec![0.5, f64::INFINITY]],
    );
    let (ok, _, err) = run(&["--features".as_ref(), inf.as_os_str()]);
    assert!(!ok && err.contains("row 2") && err.contains("inf"), "{err}");
    let ragged = foreign(
        "ragged.parquet",
        vec![vec![1.0, 2.0], vec![3.0, 1.0, 4.0], vec![0.5, 0.5]],
    );
    let (ok, _, err) = run(&["--features".as_ref(), ragged.as_os_str()]);
    assert!(
        !ok && err.contains("row 1") && err.contains("vector has 3 values, earlier rows have 2"),
        "{err}"
    );
    let good = foreign(
        "good.parquet",
        vec![vec![1.0, 2.0], vec![3.0, 1.0], vec![0.5, 0.25]],
    );
    let (ok, stdout, err) = run(&["--features".as_ref(), good.as_os_str()]);
    assert!(ok && stdout.contains("good"), "{err}");
}

/// Damaged feature tables (empty, truncated, garbage, flipped bytes): never a
/// panic or a runaway, a refusal is one line and writes nothing.
#[test]
fn damaged_feature_tables_are_refused_or_read_never_crash() {
    use nml_core::damage::{check_run, damaged};

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    structured_table(30, 6, 7).write(&good).unwrap();
    let valid = std::fs::read(&good).unwrap();
    let input = dir.path().join("in.parquet");
    let out = dir.path().join("out");
    for case in damaged(&valid, 41, 24) {
        std::fs::write(&input, &case.bytes).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_nml-spectral"))
            .args([
                "--features".as_ref(),
                input.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
            ])
            .output()
            .unwrap();
        if let Err(problem) = check_run(&output, &case, &[&out]) {
            panic!("{problem}");
        }
    }
}
