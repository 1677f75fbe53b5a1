//! The refusal property (`nml_core::refusal`) over a table of hostile
//! requests against a folder holding a corpus, a finished run and a run
//! interrupted mid-way: a resume under another config (its `config.json`
//! must stay as it was), outputs that are inputs, blocked outputs, empty
//! values, flags the objective never reads and a manifest whose noise
//! metadata is not a noise summary. A new flag joins the table.

use std::path::Path;

use nml_core::refusal::{assert_refusals, run_ok, Refusal};

use crate::smoke_corpus;

const BIN: &str = env!("CARGO_BIN_EXE_nml-pretrain");

fn train(root: &Path, out: &str, extra: &[&str]) -> Vec<String> {
    let _ = root;
    let mut v: Vec<String> = [
        "--train",
        "bench/pretrain.parquet",
        "--arch",
        "small",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--out",
        out,
    ]
    .map(str::to_owned)
    .to_vec();
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

fn populated(root: &Path) {
    smoke_corpus(&root.join("bench"));
    run_ok(Path::new(BIN), root, train(root, "run", &[]));
    // An interrupted run: its resume checkpoint and config, no model yet.
    std::fs::create_dir_all(root.join("half")).unwrap();
    for file in ["resume.safetensors", "config.json", "metrics.csv"] {
        std::fs::copy(root.join("run").join(file), root.join("half").join(file)).unwrap();
    }
    std::fs::create_dir_all(root.join("dup")).unwrap();
    std::fs::copy(
        root.join("bench/pretrain.parquet"),
        root.join("dup/metrics.csv"),
    )
    .unwrap();
    // A manifest whose noise metadata is not an nml-noise summary.
    let mut bad = nml_core::Manifest::read(root.join("bench/pretrain.parquet")).unwrap();
    bad.metadata.insert(
        nml_core::noise::META_NOISE.to_owned(),
        r#"{"ratio": 0.2}"#.to_owned(),
    );
    bad.write(root.join("bench/bad-noise.parquet")).unwrap();
    std::fs::create_dir_all(root.join("blocked/model.json")).unwrap();
    std::fs::write(root.join("file.txt"), b"keep").unwrap();
}

fn table(root: &Path) -> Vec<Refusal> {
    let t = |out: &str, extra: &[&str]| train(root, out, extra);
    vec![
        Refusal::new(
            "a resume under another config",
            [
                "--train",
                "bench/pretrain.parquet",
                "--arch",
                "small",
                "--epochs",
                "2",
                "--batch-size",
                "32",
                "--out",
                "half",
                "--resume",
            ],
            &["another config"],
        ),
        Refusal::new(
            "a resume under another seed",
            t("half", &["--resume", "--seed", "7"]),
            &["another config"],
        ),
        Refusal::new(
            "a checkpoint without --resume",
            t("half", &["--epochs", "1"])
                .into_iter()
                .take(10)
                .collect::<Vec<_>>(),
            &["--resume"],
        ),
        Refusal::new(
            "metrics written over the training manifest",
            [
                "--train",
                "dup/metrics.csv",
                "--arch",
                "small",
                "--epochs",
                "1",
                "--out",
                "dup",
            ],
            &["--out", "--train"],
        ),
        Refusal::new(
            "a folder where model.json goes",
            t("blocked", &[]),
            &["model.json", "is a folder"],
        ),
        Refusal::new(
            "--out naming a file",
            t("file.txt", &[]),
            &["--out", "not a folder"],
        ),
        Refusal::new(
            "an empty --train-split",
            t("o", &["--train-split", ""]),
            &["--train-split"],
        ),
        Refusal::new(
            "an empty prompt",
            t("o", &["--objective", "contrastive", "--prompt", ""]),
            &["--prompt"],
        ),
        Refusal::new(
            "a prompt for a supervised run",
            t("o", &["--prompt", "a photo of a {}"]),
            &["--prompt"],
        ),
        Refusal::new(
            "a text-tower width for a supervised run",
            t("o", &["--text-width", "64"]),
            &["--text-width"],
        ),
        Refusal::new(
            "momentum for a contrastive run",
            t("o", &["--objective", "contrastive", "--momentum", "0.5"]),
            &["--momentum"],
        ),
        Refusal::new(
            "autocast on the CPU",
            t("o", &["--device", "cpu", "--amp"]),
            &["--amp"],
        ),
        Refusal::new(
            "a missing training manifest",
            ["--train", "nosuch.parquet", "--out", "o"],
            &["nosuch.parquet"],
        ),
        Refusal::new(
            "noise metadata that is no noise summary",
            ["--train", "bench/bad-noise.parquet", "--out", "o"],
            &["bad-noise.parquet", "nml.noise", "not an nml-noise summary"],
        ),
        Refusal::new("an unknown flag", t("o", &["--bogus"]), &["--bogus"]),
    ]
}

#[test]
fn every_refused_request_leaves_the_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    assert_refusals(Path::new(BIN), dir.path(), &table(dir.path()));
}
