//! Every bad request is refused before anything is written, with one line
//! naming the flag or file: impossible settings, diverging heads (the linear
//! probe included), eval tables of another task, malformed `--eval` specs.

use std::path::Path;
use std::process::Command;

use crate::{clusters, run};

/// A refused run: non-zero exit, one `error:` line containing every `needle`, no panic, `out` untouched.
fn refused(args: &[&str], out: &Path, needles: &[&str]) {
    let (ok, err) = run(args);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!ok, "{args:?} succeeded");
    assert!(
        lines.len() == 1 && lines[0].starts_with("error: "),
        "{args:?}: not one error line:\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("Exception raised"),
        "{err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: `{needle}` not in: {err}");
    }
    assert!(!out.exists(), "{args:?} wrote {}", out.display());
}

#[test]
fn impossible_settings_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.parquet");
    clusters(3, 8, 10, 1).write(&train).unwrap();
    let train = train.display().to_string();
    let eval = format!("id={train}");
    let out = dir.path().join("out");
    let o = out.display().to_string();
    let base = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--train", &train, "--eval", &eval, "--method", "nmtune", "--out", &o,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    for (extra, needles) in [
        (
            &["--batch-size", "0"][..],
            &["--batch-size", "at least 2"][..],
        ),
        (&["--batch-size", "1"], &["--batch-size"]),
        (&["--epochs", "0"], &["--epochs", "at least 1"]),
        (&["--lr", "NaN"], &["--lr", "positive finite"]),
        (&["--lr", "-1"], &["--lr", "got -1"]),
        (&["--lr", "inf"], &["--lr"]),
        (&["--wd", "-0.1"], &["--wd"]),
        (&["--cov-weight", "NaN"], &["--cov-weight"]),
        (&["--svd-topk", "0"], &["--svd-topk"]),
        (&["--seeds", "1,1"], &["--seeds", "twice"]),
        (&["--seeds", "1,,2"], &["--seeds", "is not a number"]),
    ] {
        let args = base(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, &out, needles);
    }
    // --out naming an existing file is refused before training, and the file is kept.
    let file = dir.path().join("file");
    std::fs::write(&file, b"keep").unwrap();
    let f = file.display().to_string();
    let (ok, err) = run(&[
        "--train", &train, "--eval", &eval, "--method", "lp", "--out", &f,
    ]);
    assert!(
        !ok && err.contains("--out") && err.contains("not a folder"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
}

#[test]
fn malformed_eval_specs_name_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.parquet");
    clusters(3, 8, 10, 1).write(&train).unwrap();
    let t = train.display().to_string();
    let out = dir.path().join("out");
    let o = out.display().to_string();
    for (spec, needle) in [
        ("id=".to_owned(), "the path is empty"),
        (format!("id={t}:test:photo:extra"), "4 `:`-separated parts"),
        (format!("id={t}::photo"), "the split is empty"),
        (format!("id={t}:test:"), "the domain is empty"),
        (format!("={t}"), "the name is empty"),
        (t.clone(), "no `=`"),
    ] {
        refused(
            &[
                "--train", &t, "--eval", &spec, "--method", "lp", "--out", &o,
            ],
            &out,
            &["--eval", needle],
        );
    }
    refused(
        &[
            "--train",
            &t,
            "--eval",
            &format!("a={t}"),
            "--eval",
            &format!("a={t}"),
            "--method",
            "lp",
            "--out",
            &o,
        ],
        &out,
        &["`a` is used twice"],
    );
}

#[test]
fn tables_of_another_task_or_one_class_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    clusters(3, 8, 10, 1).write(p("train.parquet")).unwrap();
    let mut other = clusters(3, 8, 10, 2);
    other.class_names = Some(vec!["dog".into(), "cat".into(), "bird".into()]);
    other.write(p("other.parquet")).unwrap();
    let mut one = clusters(3, 8, 10, 3);
    one.label.iter_mut().for_each(|l| *l = 1);
    one.write(p("one.parquet")).unwrap();
    let out = dir.path().join("out");
    let o = out.display().to_string();
    refused(
        &[
            "--train",
            &p("train.parquet"),
            "--eval",
            &format!("x={}", p("other.parquet")),
            "--method",
            "lp",
            "--out",
            &o,
        ],
        &out,
        &["eval set `x`", "other classes", "`dog` against `c0`"],
    );
    refused(
        &[
            "--train",
            &p("one.parquet"),
            "--eval",
            &format!("x={}", p("one.parquet")),
            "--method",
            "lp",
            "--out",
            &o,
        ],
        &out,
        &["one class only"],
    );
}

#[test]
fn diverging_heads_stop_naming_the_term() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.parquet");
    clusters(3, 8, 40, 1).write(&train).unwrap();
    let t = train.display().to_string();
    let eval = format!("id={t}");
    let out = dir.path().join("out");
    let o = out.display().to_string();
    for (method, lr) in [("lp", "1e9"), ("nmtune", "1e30"), ("mlp", "1e30")] {
        refused(
            &[
                "--train", &t, "--eval", &eval, "--method", method, "--lr", lr, "--epochs", "3",
                "--out", &o,
            ],
            &out,
            &["diverged"],
        );
    }
}

/// Damaged training tables (empty, truncated, garbage, flipped bytes) and a
/// manifest passed as features: never a panic, a refusal is one line and
/// writes nothing.
#[test]
fn damaged_feature_tables_are_refused_or_read_never_crash() {
    use nml_core::damage::{check_run, damaged, Damaged};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = d.join("good.parquet");
    clusters(3, 4, 6, 1).write(&good).unwrap();
    let valid = std::fs::read(&good).unwrap();
    let manifest = d.join("manifest.parquet");
    nml_core::Manifest::from_samples(
        vec!["a".into(), "b".into()],
        (0..4i64)
            .map(|i| nml_core::Sample {
                index: i,
                split: "train".into(),
                label: i % 2,
                ..Default::default()
            })
            .collect(),
    )
    .unwrap()
    .write(&manifest)
    .unwrap();
    let mut cases = damaged(&valid, 29, 8);
    cases.push(Damaged {
        what: "a manifest".to_owned(),
        bytes: std::fs::read(&manifest).unwrap(),
        must_fail: true,
    });
    let input = d.join("in.parquet");
    let out = d.join("out");
    let (i, g, o) = (
        input.display().to_string(),
        good.display().to_string(),
        out.display().to_string(),
    );
    for case in &cases {
        std::fs::write(&input, &case.bytes).unwrap();
        // The damaged table as training table, then as eval table.
        for (train, eval) in [(&i, &g), (&g, &i)] {
            let output = Command::new(env!("CARGO_BIN_EXE_nml-tune"))
                .args([
                    "--train",
                    train,
                    "--eval",
                    &format!("x={eval}"),
                    "--method",
                    "lp",
                    "--epochs",
                    "1",
                    "--out",
                    &o,
                ])
                .output()
                .unwrap();
            if let Err(problem) = check_run(&output, case, &[&out]) {
                panic!("{problem}");
            }
        }
    }
}
