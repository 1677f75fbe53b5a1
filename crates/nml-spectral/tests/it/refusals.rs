//! The refusal property (`nml_core::refusal`) over a table of hostile
//! requests against a folder holding feature tables and a finished analysis:
//! outputs that are inputs, blocked outputs, empty values. A new flag joins the table.

use std::path::Path;

use nml_core::refusal::{assert_refusals, run_ok, Refusal};

use crate::structured_table;

const BIN: &str = env!("CARGO_BIN_EXE_nml-spectral");

fn populated(root: &Path) {
    structured_table(40, 8, 1)
        .write(root.join("f.parquet"))
        .unwrap();
    run_ok(
        Path::new(BIN),
        root,
        ["--features", "f.parquet", "--out", "out"],
    );
    std::fs::create_dir_all(root.join("dup")).unwrap();
    std::fs::copy(root.join("f.parquet"), root.join("dup/metrics.parquet")).unwrap();
    std::fs::create_dir_all(root.join("blocked/spectral.json")).unwrap();
    std::fs::write(root.join("file.txt"), b"keep").unwrap();
}

fn table() -> Vec<Refusal> {
    let r = |what: &str, args: &[&str], needles: &[&str]| Refusal::new(what, args, needles);
    vec![
        r(
            "tables written over an input",
            &["--features", "dup/metrics.parquet", "--out", "dup"],
            &["--out", "--features"],
        ),
        r(
            "a folder where spectral.json goes",
            &["--features", "f.parquet", "--out", "blocked"],
            &["spectral.json", "is a folder"],
        ),
        r(
            "--out naming a file",
            &["--features", "f.parquet", "--out", "file.txt"],
            &["--out", "not a folder"],
        ),
        r(
            "an empty --name",
            &["--features", "f.parquet", "--name", "", "--out", "out"],
            &["--name"],
        ),
        r(
            "an empty --split",
            &["--features", "f.parquet", "--split", "", "--out", "out"],
            &["--split"],
        ),
        r(
            "names for other tables",
            &[
                "--features",
                "f.parquet",
                "--name",
                "a",
                "--name",
                "b",
                "--out",
                "out",
            ],
            &["--name"],
        ),
        r(
            "a split with no rows",
            &[
                "--features",
                "f.parquet",
                "--split",
                "nosuch",
                "--out",
                "out",
            ],
            &["nosuch"],
        ),
        r(
            "an unknown flag",
            &["--features", "f.parquet", "--bogus"],
            &["--bogus"],
        ),
    ]
}

#[test]
fn every_refused_request_leaves_the_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    assert_refusals(Path::new(BIN), dir.path(), &table());
}
