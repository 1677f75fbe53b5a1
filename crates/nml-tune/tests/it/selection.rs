//! Model selection: a grid trained on the training rows and scored on held-out
//! validation rows; the test tables never influence the choice.

use std::process::Command;

use crate::{clusters, run, write_npy};

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_grid_is_chosen_on_validation_rows_and_never_on_the_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let table = clusters(3, 6, 20, 1);
    table.write(p("train.parquet")).unwrap();
    // The same rows with the test labels permuted: a choice that read them would move.
    let permuted = crate::test_labels_shifted(&table, 3);
    permuted.write(p("permuted.parquet")).unwrap();
    for (eval, out) in [("train.parquet", "a"), ("permuted.parquet", "b")] {
        let (ok, err) = run(&[
            "--train",
            &p("train.parquet"),
            "--eval",
            &format!("test={}", p(eval)),
            "--method",
            "lp",
            "--epochs",
            "3",
            "--seeds",
            "1,2",
            "--val-fraction",
            "0.25",
            "--grid",
            "lr=1e-4,1e-1",
            "--grid",
            "wd=0,1e-2",
            "--out",
            &p(out),
        ]);
        assert!(ok, "{err}");
    }
    let grid_a = std::fs::read(dir.path().join("a/grid.parquet")).unwrap();
    let grid_b = std::fs::read(dir.path().join("b/grid.parquet")).unwrap();
    assert_eq!(grid_a, grid_b, "the test labels changed the grid's scores");
    let (a, b) = (
        json(&dir.path().join("a/summary.json")),
        json(&dir.path().join("b/summary.json")),
    );
    let chosen = &a["inputs"]["validation"]["chosen"];
    assert_eq!(chosen, &b["inputs"]["validation"]["chosen"]);
    // lr 1e-4 for 3 epochs barely moves a probe: 1e-1 wins on validation.
    assert!(chosen.as_str().unwrap().starts_with("lr=0.1"), "{chosen}");
    assert_eq!(a["config"]["lr"], 0.1);
    // The test accuracies differ (the permuted labels), the choice does not.
    assert_ne!(a["summary"], b["summary"]);
    let head = json(&dir.path().join("a/heads/lp-seed1/head.json"));
    assert!(
        head["validation_accuracy"].as_f64().unwrap() > 0.5,
        "{head}"
    );
    // A validation split instead of a fraction: the table's test rows stand in for it here.
    let (ok, err) = run(&[
        "--train",
        &p("train.parquet"),
        "--eval",
        &format!("id={}", p("train.parquet")),
        "--method",
        "lp",
        "--epochs",
        "2",
        "--val-split",
        "test",
        "--out",
        &p("c"),
    ]);
    assert!(ok, "{err}");
    assert!(dir.path().join("c/grid.parquet").exists());
    // Validation rows without --grid search the method's default grid, as `fit` does.
    let c = json(&dir.path().join("c/summary.json"));
    assert_eq!(
        c["inputs"]["validation"]["grid"],
        serde_json::json!(["lr=1e-3,1e-2,1e-1", "wd=0,1e-4,1e-2"])
    );
    let grid = std::fs::File::open(dir.path().join("c/grid.parquet")).unwrap();
    let grid = {
        use polars::prelude::SerReader;
        polars::prelude::ParquetReader::new(grid).finish().unwrap()
    };
    let seeds = c["inputs"]["seeds"].as_array().unwrap().len();
    assert_eq!(grid.height(), 9 * seeds);
}

#[test]
fn bad_grids_and_hold_outs_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    clusters(3, 6, 20, 1).write(p("train.parquet")).unwrap();
    clusters(3, 6, 1, 2).write(p("tiny.parquet")).unwrap();
    let out = dir.path().join("out");
    let o = out.display().to_string();
    let t = p("train.parquet");
    let eval = format!("id={t}");
    let base = [
        "--train",
        t.as_str(),
        "--eval",
        eval.as_str(),
        "--method",
        "lp",
        "--out",
        o.as_str(),
    ];
    for (extra, needle) in [
        (&["--grid", "lr=1e-3"][..], "--grid needs validation rows"),
        (
            &["--val-fraction", "0.2", "--grid", "momentum=0.9"],
            "unknown key `momentum`",
        ),
        (
            &["--val-fraction", "0.2", "--grid", "lr="],
            "an empty value",
        ),
        (
            &["--val-fraction", "0.2", "--grid", "lr=1e-3,1e-3"],
            "listed twice",
        ),
        (
            &["--val-fraction", "0.2", "--grid", "epochs=1.5"],
            "whole numbers",
        ),
        (&["--val-fraction", "0.2", "--grid", "lr=-1"], "--lr"),
        (&["--val-fraction", "1.5"], "strictly between 0 and 1"),
        (&["--val-split", "train"], "is the training split"),
        (
            &["--val-split", "validation"],
            "no rows in validation split",
        ),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra);
        let (ok, err) = run(&args);
        assert!(
            !ok && err.contains(needle) && err.lines().count() == 1,
            "{extra:?}: {err}"
        );
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }
    let tiny = p("tiny.parquet");
    let (ok, err) = run(&[
        "--train",
        &tiny,
        "--eval",
        &format!("id={tiny}"),
        "--method",
        "lp",
        "--val-fraction",
        "0.5",
        "--out",
        &o,
    ]);
    assert!(
        !ok && err.contains("leaves class `c0`") && err.contains("no training row"),
        "{err}"
    );
    assert!(!out.exists());
}

/// `nml-tune fit` on embeddings from elsewhere (.npy and a labels file), then `predict`.
#[test]
fn fit_on_black_box_embeddings_then_predict() {
    let dir = tempfile::tempdir().unwrap();
    let t = clusters(3, 5, 20, 7);
    let n = t.len();
    let x = dir.path().join("x.npy");
    write_npy(&x, n, 5, &t.features);
    let names = ["cat", "dog", "eel"];
    let labels: String = std::iter::once("label".to_owned())
        .chain(t.label.iter().map(|&l| names[l as usize].to_owned()))
        .collect::<Vec<_>>()
        .join("\n");
    let y = dir.path().join("y.csv");
    std::fs::write(&y, labels + "\n").unwrap();
    let out = dir.path().join("fitted");
    let (xs, ys, os) = (
        x.display().to_string(),
        y.display().to_string(),
        out.display().to_string(),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_nml-tune"))
        .args([
            "fit",
            "--embeddings",
            &xs,
            "--labels",
            &ys,
            "--method",
            "lp",
            "--epochs",
            "5",
            "--grid",
            "lr=1e-2,1e-1",
            "--out",
            &os,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("chosen lr=") && stdout.contains("validation accuracy"),
        "{stdout}"
    );
    let head = out.join("heads/lp-seed3907");
    let record = json(&head.join("head.json"));
    assert_eq!(record["class_names"], serde_json::json!(names));
    assert!(out.join("grid.parquet").exists() && out.join("summary.json").exists());
    let predictions = dir.path().join("p.parquet");
    let (ok, err) = run(&[
        "predict",
        "--head",
        &head.display().to_string(),
        "--features",
        &xs,
        "--out",
        &predictions.display().to_string(),
    ]);
    assert!(ok && predictions.exists(), "{err}");
    // A labels file of another length is refused before anything is written.
    std::fs::write(&y, "cat\ndog\n").unwrap();
    let again = dir.path().join("again");
    let (ok, err) = run(&[
        "fit",
        "--embeddings",
        &xs,
        "--labels",
        &ys,
        "--out",
        &again.display().to_string(),
    ]);
    assert!(
        !ok && err.contains("2 labels for 120 embeddings") && !again.exists(),
        "{err}"
    );
}
