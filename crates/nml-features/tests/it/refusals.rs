//! The refusal property (`nml_core::refusal`) over a table of hostile
//! requests against a folder holding a benchmark, a trained backbone, a used
//! feature cache and copied-out tables: outputs that are inputs, empty list
//! values, view flags that cannot act, blocked outputs. A new flag or
//! subcommand joins the table. And a dead writer's temporary file in the
//! cache is removed by the next extraction that writes.

use std::path::Path;

use nml_core::refusal::{assert_refusals, run_ok, Refusal};

use crate::trained_smoke;

const BIN: &str = env!("CARGO_BIN_EXE_nml-features");

/// `nml-features` in `root`; panics unless it succeeds.
fn ok(root: &Path, args: &[&str]) {
    run_ok(Path::new(BIN), root, args);
}

fn populated(root: &Path) {
    trained_smoke(root);
    ok(
        root,
        &[
            "extract",
            "--checkpoint",
            "model",
            "--manifest",
            "bench/task-0.parquet",
            "--splits",
            "train",
            "--cache",
            "cache",
            "--out",
            "f.parquet",
        ],
    );
    std::fs::write(root.join("file.txt"), b"keep").unwrap();
    std::fs::create_dir_all(root.join("blocked.parquet")).unwrap();
    // A dead writer's temporary, which a refusal must leave alone too.
    std::fs::write(
        root.join("cache/.features.parquet.tmp-999999999-0"),
        b"half",
    )
    .unwrap();
}

fn table() -> Vec<Refusal> {
    let extract = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "extract",
            "--checkpoint",
            "model",
            "--manifest",
            "bench/task-0.parquet",
            "--cache",
            "cache",
        ]
        .map(str::to_owned)
        .to_vec();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let import = |embeddings: &str, out: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "import",
            "--embeddings",
            embeddings,
            "--manifest",
            "bench/task-0.parquet",
            "--out",
            out,
        ]
        .map(str::to_owned)
        .to_vec();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    vec![
        Refusal::new(
            "extract over its manifest",
            extract(&["--out", "bench/task-0.parquet"]),
            &["--out", "--manifest"],
        ),
        Refusal::new(
            "extract over the checkpoint's record",
            extract(&["--out", "model/model.json"]),
            &["--out", "--checkpoint"],
        ),
        Refusal::new(
            "extract with an empty --splits",
            extract(&["--splits", ""]),
            &["--splits"],
        ),
        Refusal::new(
            "extract with an empty split name",
            extract(&["--splits", "train,"]),
            &["--splits"],
        ),
        Refusal::new(
            "--augment without --views",
            extract(&["--augment", "rrc-noflip"]),
            &["--views"],
        ),
        Refusal::new(
            "--view-split without --views",
            extract(&["--view-split", "train"]),
            &["--views"],
        ),
        Refusal::new(
            "an empty --view-split",
            extract(&["--views", "2", "--view-split", ""]),
            &["--view-split"],
        ),
        Refusal::new(
            "a --view-split with no rows",
            extract(&["--views", "2", "--view-split", "nosuch"]),
            &["--view-split", "no row"],
        ),
        Refusal::new(
            "a --view-split outside --splits",
            extract(&["--splits", "train", "--views", "2", "--view-split", "test"]),
            &["--view-split"],
        ),
        Refusal::new(
            "extract --out onto a folder",
            extract(&["--out", "blocked.parquet"]),
            &["--out", "is a folder"],
        ),
        Refusal::new(
            "extract --out under a file",
            extract(&["--out", "file.txt/f.parquet"]),
            &["is a file, not a folder"],
        ),
        Refusal::new(
            "--cache naming a file",
            [
                "extract",
                "--checkpoint",
                "model",
                "--manifest",
                "bench/task-0.parquet",
                "--cache",
                "file.txt",
            ],
            &["--cache", "not a folder"],
        ),
        Refusal::new(
            "import over its embeddings",
            import("f.parquet", "f.parquet", &[]),
            &["--out", "--embeddings"],
        ),
        Refusal::new(
            "import over its manifest",
            import("f.parquet", "bench/task-0.parquet", &[]),
            &["--out", "--manifest"],
        ),
        Refusal::new(
            "import with an empty --split",
            import("f.parquet", "g.parquet", &["--split", ""]),
            &["--split"],
        ),
        Refusal::new(
            "text over its manifest",
            [
                "text",
                "--model",
                "model",
                "--manifest",
                "bench/task-0.parquet",
                "--cache",
                "cache",
                "--out",
                "bench/task-0.parquet",
            ],
            &["--out", "--manifest"],
        ),
        Refusal::new(
            "text with an empty --splits",
            [
                "text",
                "--model",
                "model",
                "--manifest",
                "bench/task-0.parquet",
                "--cache",
                "cache",
                "--splits",
                ",",
            ],
            &["--splits"],
        ),
        Refusal::new(
            "--normalize without --arch",
            extract(&["--normalize", "imagenet"]),
            &["--arch"],
        ),
        Refusal::new(
            "--input-size without --arch",
            extract(&["--input-size", "64"]),
            &["--arch"],
        ),
        Refusal::new("an unknown flag", extract(&["--bogus"]), &["--bogus"]),
    ]
}

#[test]
fn every_refused_request_leaves_the_folder_as_it_was_and_a_write_sweeps_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    populated(root);
    assert_refusals(Path::new(BIN), root, &table());
    let stale = root.join("cache/.features.parquet.tmp-999999999-0");
    assert!(stale.exists());
    ok(
        root,
        &[
            "extract",
            "--checkpoint",
            "model",
            "--manifest",
            "bench/task-0.parquet",
            "--splits",
            "test",
            "--cache",
            "cache",
        ],
    );
    assert!(
        !stale.exists(),
        "a dead writer's temporary stayed in the cache"
    );
}
