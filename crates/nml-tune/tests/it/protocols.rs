//! `--method knn` scores what the k-NN library predicts; `--method auto`
//! chooses among LP, MLP and NMTune on validation rows only (permuted test
//! labels move nothing but the test accuracies), refits the choice on every
//! training row unless `--no-refit`, and `fit --method auto` keeps it.

use polars::prelude::{ParquetReader, SerReader};

use crate::{clusters, run};
use nml_tune::knn::{knn_predict, KnnConfig};

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn parquet(path: &std::path::Path) -> polars::prelude::DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

#[test]
fn knn_scores_every_eval_for_every_k() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let table = clusters(3, 6, 30, 4);
    table.write(p("t.parquet")).unwrap();
    let (ok, err) = run(&[
        "--train",
        &p("t.parquet"),
        "--eval",
        &format!("test={}", p("t.parquet")),
        "--eval",
        &format!("again={}:test", p("t.parquet")),
        "--method",
        "knn",
        "--knn-k",
        "1,5",
        "--seeds",
        "1,2",
        "--out",
        &p("knn"),
    ]);
    assert!(ok, "{err}");
    let frame = parquet(&dir.path().join("knn/results.parquet"));
    assert_eq!(frame.height(), 4, "{frame}");
    let ks: Vec<i64> = frame
        .column("k")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(ks, [1, 5, 1, 5]);
    let accuracy: Vec<f64> = frame
        .column("accuracy")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    let split = |s: &str| table.select(&table.rows_where(Some(s), None));
    let (train, test) = (split("train"), split("test"));
    for (i, k) in [1usize, 5].into_iter().enumerate() {
        let predicted = knn_predict(&train, &test, KnnConfig::new(k), tch::Device::Cpu).unwrap();
        let expected = nml_tune::knn::accuracy(&predicted, &test.label);
        assert!((accuracy[i] - expected).abs() < 1e-12, "k = {k}");
        assert_eq!(accuracy[i], accuracy[i + 2]);
    }
    // A head's recipe means nothing to k-NN: refused before anything is written.
    for bad in [
        &["--lr", "0.1"][..],
        &["--two-view"],
        &["--val-fraction", "0.1"],
        &["--knn-k", "0"],
        &["--knn-k", "500"],
    ] {
        let mut args = vec![
            "--train".to_owned(),
            p("t.parquet"),
            "--eval".to_owned(),
            format!("test={}", p("t.parquet")),
            "--method".to_owned(),
            "knn".to_owned(),
            "--out".to_owned(),
            p("bad"),
        ];
        args.extend(bad.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, err) = run(&args);
        assert!(!ok && err.lines().count() == 1, "{bad:?}: {err}");
        assert!(!dir.path().join("bad/results.parquet").exists());
    }
}

#[test]
fn auto_chooses_on_validation_rows_and_never_on_the_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let table = clusters(3, 6, 20, 2);
    table.write(p("train.parquet")).unwrap();
    let permuted = crate::test_labels_shifted(&table, 3);
    permuted.write(p("permuted.parquet")).unwrap();
    for (eval, out, refit) in [
        ("train.parquet", "a", true),
        ("permuted.parquet", "b", true),
        ("train.parquet", "c", false),
    ] {
        let mut args = vec![
            "--train".to_owned(),
            p("train.parquet"),
            "--eval".to_owned(),
            format!("test={}", p(eval)),
            "--method".to_owned(),
            "auto".to_owned(),
            "--epochs".to_owned(),
            "2".to_owned(),
            "--seeds".to_owned(),
            "1,2".to_owned(),
            "--val-fraction".to_owned(),
            "0.25".to_owned(),
            "--out".to_owned(),
            p(out),
        ];
        if !refit {
            args.push("--no-refit".to_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, err) = run(&args);
        assert!(ok, "{err}");
    }
    let read = |d: &str, f: &str| std::fs::read(dir.path().join(d).join(f)).unwrap();
    assert_eq!(
        read("a", "grid.parquet"),
        read("b", "grid.parquet"),
        "the test labels changed a validation score"
    );
    let (a, b, c) = (
        json(&dir.path().join("a/summary.json")),
        json(&dir.path().join("b/summary.json")),
        json(&dir.path().join("c/summary.json")),
    );
    let auto = &a["inputs"]["auto"];
    assert_eq!(auto, &b["inputs"]["auto"]);
    assert_eq!(auto["refit"], true);
    assert_eq!(c["inputs"]["auto"]["refit"], false);
    let method = auto["method"].as_str().unwrap();
    assert_eq!(a["config"]["method"], method);
    // The kept heads are the same weights whatever the test labels say.
    let head = format!("heads/{method}-seed1/head.safetensors");
    assert_eq!(read("a", &head), read("b", &head));
    // Refit on every training row: other weights than the held-out heads'.
    assert_ne!(read("a", &head), read("c", &head));
    assert_ne!(a["summary"], b["summary"]);
    // Every candidate's grid is in grid.parquet, one chosen point per seed.
    let grid = parquet(&dir.path().join("a/grid.parquet"));
    let seeds = 2;
    assert_eq!(grid.height(), (9 + 6 + 6) * seeds, "{grid}");
    let chosen = grid
        .column("chosen")
        .unwrap()
        .bool()
        .unwrap()
        .sum()
        .unwrap();
    assert_eq!(chosen as usize, seeds);
    let candidates = auto["candidates"].as_array().unwrap();
    let best = candidates
        .iter()
        .map(|c| c["validation_accuracy"].as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max);
    let kept = candidates.iter().find(|c| c["method"] == method).unwrap();
    assert_eq!(kept["validation_accuracy"].as_f64().unwrap(), best);
    // Only the kept method's heads are in the folder.
    let heads: Vec<String> = std::fs::read_dir(dir.path().join("a/heads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(heads.iter().all(|h| h.starts_with(method)), "{heads:?}");
    // auto needs validation rows and searches its own grids.
    for (bad, says) in [
        (&[][..], "--val-fraction"),
        (&["--val-fraction", "0.2", "--lr", "0.1"], "--lr"),
        (&["--val-fraction", "0.2", "--grid", "lr=0.1"], "--grid"),
    ] {
        let mut args = vec![
            "--train".to_owned(),
            p("train.parquet"),
            "--eval".to_owned(),
            format!("test={}", p("train.parquet")),
            "--method".to_owned(),
            "auto".to_owned(),
            "--out".to_owned(),
            p("bad"),
        ];
        args.extend(bad.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, err) = run(&args);
        assert!(!ok && err.contains(says), "{bad:?}: {err}");
        assert!(!dir.path().join("bad").exists());
    }
}

#[test]
fn fit_auto_keeps_the_best_method() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    clusters(3, 6, 20, 3).write(p("f.parquet")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nml-tune"))
        .args([
            "fit",
            "--features",
            &p("f.parquet"),
            "--method",
            "auto",
            "--epochs",
            "2",
            "--out",
            &p("fit"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("refit on every row"), "{stdout}");
    let summary = json(&dir.path().join("fit/summary.json"));
    let method = summary["auto"]["method"].as_str().unwrap();
    assert_eq!(summary["denormals"], "flush", "the default, recorded");
    let head = json(
        &dir.path()
            .join(format!("fit/heads/{method}-seed3907/head.json")),
    );
    assert_eq!(head["denormals"], "flush");
    let (ok, err) = run(&[
        "fit",
        "--features",
        &p("f.parquet"),
        "--method",
        "knn",
        "--out",
        &p("k"),
    ]);
    assert!(!ok && err.contains("k-NN trains none"), "{err}");
}

#[test]
fn flushing_denormals_keeps_the_heads_accuracy_and_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    clusters(3, 6, 30, 5).write(p("t.parquet")).unwrap();
    let mut accuracy = Vec::new();
    for mode in ["keep", "flush"] {
        let (ok, err) = run(&[
            "--train",
            &p("t.parquet"),
            "--eval",
            &format!("test={}:test", p("t.parquet")),
            "--method",
            "nmtune",
            "--epochs",
            "3",
            "--seeds",
            "1",
            "--threads",
            "1",
            "--denormals",
            mode,
            "--out",
            &p(mode),
        ]);
        assert!(ok, "{err}");
        let summary = json(&dir.path().join(format!("{mode}/summary.json")));
        assert_eq!(summary["denormals"], mode);
        let head = json(
            &dir.path()
                .join(format!("{mode}/heads/nmtune-seed1/head.json")),
        );
        assert_eq!(head["denormals"], mode);
        accuracy.push(summary["results"][0]["accuracy"].as_f64().unwrap());
    }
    assert_eq!(accuracy[0], accuracy[1], "only values below 1.2e-38 differ");
}
