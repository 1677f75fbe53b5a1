//! Saved heads: every head nml-tune trains is written with PyTorch names and
//! its record; `nml-tune predict` applies it to new features, and a ~20-line
//! PyTorch module (tests/python/head.py) gives the same probabilities and z.

use std::path::Path;

use crate::{clusters, run, write_npy};

#[test]
fn saved_heads_predict_as_the_pytorch_module_does() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    clusters(3, 6, 20, 1).write(p("train.parquet")).unwrap();
    for method in ["lp", "nmtune"] {
        let out = p(&format!("out-{method}"));
        let (ok, err) = run(&[
            "--train",
            &p("train.parquet"),
            "--eval",
            &format!("id={}", p("train.parquet")),
            "--method",
            method,
            "--epochs",
            "2",
            "--seeds",
            "1,2",
            "--out",
            &out,
        ]);
        assert!(ok, "{err}");
        for seed in [1, 2] {
            let head = dir
                .path()
                .join(format!("out-{method}/heads/{method}-seed{seed}"));
            assert!(head.join("head.safetensors").exists() && head.join("head.json").exists());
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(head.join("head.json")).unwrap())
                    .unwrap();
            assert_eq!(record["format"], "nml-head/2");
            assert_eq!(record["method"], method);
            assert_eq!(record["seed"], seed);
            assert_eq!(record["dim"], 6);
            assert_eq!(record["class_names"], serde_json::json!(["c0", "c1", "c2"]));
            assert_eq!(record["config"]["epochs"], 2);
        }
        let head = format!("{out}/heads/{method}-seed1");
        let predictions = p(&format!("pred-{method}.parquet"));
        let (ok, err) = run(&[
            "predict",
            "--head",
            &head,
            "--features",
            &p("train.parquet"),
            "--tuned-features",
            "--out",
            &predictions,
        ]);
        assert!(ok, "{err}");
        let Some(python) = nml_tests::python() else {
            eprintln!("skipped the PyTorch comparison: the project Python is missing (run `cargo xtask setup`)");
            continue;
        };
        let printed = nml_tests::run_python(
            &python,
            "head.py",
            &[
                Path::new(&head),
                &dir.path().join("train.parquet"),
                Path::new(&predictions),
            ],
        );
        let r: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
        assert!(r["probabilities"].as_f64().unwrap() < 1e-5, "{method}: {r}");
        assert!(r["z"].as_f64().unwrap() < 1e-5, "{method}: {r}");
        assert_eq!(r["predicted_agree"], true, "{method}: {r}");
    }
}

#[test]
fn predict_refuses_what_the_head_cannot_take() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    clusters(3, 6, 10, 1).write(p("train.parquet")).unwrap();
    clusters(3, 8, 10, 2).write(p("wide.parquet")).unwrap();
    let mut other = clusters(3, 6, 10, 3);
    other.class_names = Some(vec!["x".into(), "y".into(), "z".into()]);
    other.write(p("other.parquet")).unwrap();
    let mut elsewhere = clusters(3, 6, 10, 4);
    elsewhere
        .metadata
        .insert("nml.source_hash".into(), "beef".into());
    elsewhere.write(p("elsewhere.parquet")).unwrap();
    let (ok, err) = run(&[
        "--train",
        &p("train.parquet"),
        "--eval",
        &format!("id={}", p("train.parquet")),
        "--method",
        "lp",
        "--epochs",
        "1",
        "--out",
        &p("out"),
    ]);
    assert!(ok, "{err}");
    let head = p("out/heads/lp-seed3907");
    let out = dir.path().join("pred.parquet");
    let o = out.display().to_string();
    let refused = |features: &str, extra: &[&str], needle: &str| {
        let mut args = vec![
            "predict",
            "--head",
            &head,
            "--features",
            features,
            "--out",
            &o,
        ];
        args.extend(extra);
        let (ok, err) = run(&args);
        assert!(
            !ok && err.contains(needle) && err.lines().count() == 1,
            "{needle}: {err}"
        );
        assert!(!out.exists());
    };
    refused(
        &p("wide.parquet"),
        &[],
        "8-dimensional features, the head takes 6",
    );
    refused(&p("other.parquet"), &[], "are not the head's");
    // The training table has no recorded source; a table from a named source is refused only against one.
    let nan = dir.path().join("nan.npy");
    let mut values = vec![0.5f32; 12];
    values[7] = f32::NAN;
    write_npy(&nan, 2, 6, &values);
    refused(&nan.display().to_string(), &[], "must be finite");
    let wrong = dir.path().join("wrong.npy");
    write_npy(&wrong, 2, 5, &[0.5; 10]);
    refused(
        &wrong.display().to_string(),
        &[],
        "5-dimensional features, the head takes 6",
    );
    // A damaged weights file names itself.
    let weights = dir.path().join("out/heads/lp-seed3907/head.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    refused(&p("train.parquet"), &[], "head.safetensors");
    std::fs::write(&weights, &bytes).unwrap();
    // A head of one source refuses features of another, unless asked.
    let (ok, err) = run(&[
        "--train",
        &p("elsewhere.parquet"),
        "--eval",
        &format!("id={}", p("elsewhere.parquet")),
        "--method",
        "lp",
        "--epochs",
        "1",
        "--out",
        &p("out2"),
    ]);
    assert!(ok, "{err}");
    let head2 = p("out2/heads/lp-seed3907");
    let mut t = clusters(3, 6, 10, 5);
    t.metadata.insert("nml.source_hash".into(), "cafe".into());
    t.write(p("cafe.parquet")).unwrap();
    let (ok, err) = run(&[
        "predict",
        "--head",
        &head2,
        "--features",
        &p("cafe.parquet"),
        "--out",
        &o,
    ]);
    assert!(
        !ok && err.contains("another backbone or embedding source") && !out.exists(),
        "{err}"
    );
    let (ok, err) = run(&[
        "predict",
        "--head",
        &head2,
        "--features",
        &p("cafe.parquet"),
        "--allow-other-source",
        "--out",
        &o,
    ]);
    assert!(ok && out.exists(), "{err}");
}
