//! The refusal property (`nml_core::refusal`) for `nml-report`: a run index
//! that cannot be read, outputs that are inputs or cannot be written. Each
//! is refused with one `error:` line and every byte unchanged.

use std::path::Path;

use nml_core::refusal::{assert_refusals, Refusal};

const BIN: &str = env!("CARGO_BIN_EXE_nml-report");

fn populated(root: &Path) {
    let run = crate::fixtures::run(&[1, 2]);
    let text = serde_json::to_string(&run).unwrap();
    std::fs::write(root.join("run.json"), &text).unwrap();
    std::fs::write(root.join("garbage.json"), b"{ not json").unwrap();
    std::fs::create_dir_all(root.join("blocked/results/claims.parquet")).unwrap();
    std::fs::create_dir_all(root.join("blocked2")).unwrap();
    std::fs::write(
        root.join("blocked2/figures"),
        b"a file where the figures go",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("dup")).unwrap();
    std::fs::write(root.join("dup/REPORT.md"), &text).unwrap();
    std::fs::write(root.join("file.txt"), b"keep").unwrap();
}

fn table() -> Vec<Refusal> {
    let r = |what: &str, args: &[&str], needles: &[&str]| Refusal::new(what, args, needles);
    vec![
        r(
            "a missing run index",
            &["--run", "nosuch.json", "--out", "o"],
            &["nosuch.json"],
        ),
        r(
            "a run index that is not JSON",
            &["--run", "garbage.json", "--out", "o"],
            &["garbage.json"],
        ),
        r(
            "the report written over its run index",
            &["--run", "dup/REPORT.md", "--out", "dup"],
            &["--out", "--run"],
        ),
        r(
            "--out naming a file",
            &["--run", "run.json", "--out", "file.txt"],
            &["--out", "not a folder"],
        ),
        r(
            "a folder where a results table goes",
            &["--run", "run.json", "--out", "blocked"],
            &["claims.parquet", "is a folder"],
        ),
        r(
            "a file where the figures go",
            &["--run", "run.json", "--out", "blocked2"],
            &["figures", "not a folder"],
        ),
        r(
            "an unknown flag",
            &["--run", "run.json", "--bogus"],
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
