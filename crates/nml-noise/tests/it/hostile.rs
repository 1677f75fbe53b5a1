//! Noise that cannot happen, ambiguous class maps and outputs that cannot be
//! written are refused with one line, before anything is written.

use std::path::{Path, PathBuf};
use std::process::Command;

use nml_core::{Manifest, Sample};

/// A manifest of 40 train rows over `names` (labels cycle through them).
fn manifest(dir: &Path, file: &str, names: &[&str]) -> PathBuf {
    let samples = (0..40i64)
        .map(|i| Sample {
            index: i,
            split: "train".to_owned(),
            label: i % names.len() as i64,
            ..Sample::default()
        })
        .collect();
    let m = Manifest::from_samples(names.iter().map(|s| s.to_string()).collect(), samples).unwrap();
    let path = dir.join(file);
    m.write(&path).unwrap();
    path
}

/// Refused: non-zero exit, one `error:` line with every needle, nothing new in `dir`.
fn refused(dir: &Path, args: &[&str], needles: &[&str]) {
    let before: Vec<PathBuf> = listing(dir);
    let out = Command::new(env!("CARGO_BIN_EXE_nml-noise"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(
        lines.len() == 1 && lines[0].starts_with("error: "),
        "{args:?}:\n{err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: `{needle}` not in {err}");
    }
    assert_eq!(listing(dir), before, "{args:?} changed {}", dir.display());
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(dir);
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() {
                let mut inner = walk(&p);
                inner.push(p);
                inner
            } else {
                vec![p]
            }
        })
        .collect()
}

#[test]
fn noise_that_cannot_happen_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one = manifest(d, "one.parquet", &["only"]).display().to_string();
    let three = manifest(d, "three.parquet", &["a", "b", "c"])
        .display()
        .to_string();
    let out = d.join("o.parquet").display().to_string();
    for kind in ["symmetric", "uniform", "asymmetric"] {
        refused(
            d,
            &[
                "--input", &one, "--output", &out, "--kind", kind, "--ratio", "0.4",
            ],
            &["one.parquet", "at least two classes"],
        );
    }
    let empty = d.join("empty.map");
    std::fs::write(&empty, "# nothing moves\n").unwrap();
    let e = empty.display().to_string();
    refused(
        d,
        &[
            "--input",
            &three,
            "--output",
            &out,
            "--kind",
            "asymmetric",
            "--ratio",
            "0.4",
            "--class-map",
            &e,
        ],
        &["--class-map moves no class"],
    );
    let twice = d.join("twice.map");
    std::fs::write(&twice, "a,b\nc,a\na,c\n").unwrap();
    let t = twice.display().to_string();
    refused(
        d,
        &[
            "--input",
            &three,
            "--output",
            &out,
            "--kind",
            "asymmetric",
            "--ratio",
            "0.4",
            "--class-map",
            &t,
        ],
        &[
            "twice.map",
            "line 3: class 0 is mapped again (first on line 1)",
        ],
    );
    // Rust's debug names never reach the user.
    refused(
        d,
        &[
            "--input",
            &three,
            "--output",
            &out,
            "--kind",
            "caption-swap",
        ],
        &["--kind caption-swap needs --ratio"],
    );
    refused(
        d,
        &[
            "--input",
            &three,
            "--output",
            &out,
            "--kind",
            "column",
            "--column",
            "label_name",
        ],
        &["`label_name` is a column of the manifest's schema"],
    );
}

#[test]
fn duplicate_class_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dup = manifest(d, "dup.parquet", &["cat", "dog", "cat"])
        .display()
        .to_string();
    let out = d.join("o.parquet").display().to_string();
    refused(
        d,
        &[
            "--input",
            &dup,
            "--output",
            &out,
            "--kind",
            "symmetric",
            "--ratio",
            "0.2",
        ],
        &["dup.parquet", "class name `cat` is used by classes 0 and 2"],
    );
}

#[test]
fn an_output_that_is_a_folder_is_refused_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let three = manifest(d, "three.parquet", &["a", "b", "c"])
        .display()
        .to_string();
    std::fs::create_dir(d.join("o")).unwrap();
    refused(
        d,
        &[
            "--input",
            &three,
            "--output",
            "o",
            "--kind",
            "symmetric",
            "--ratio",
            "0.2",
        ],
        &["o: is a folder"],
    );
}

/// Damaged manifests (empty, truncated, garbage, flipped bytes) and a file of
/// another kind: never a panic, a refusal is one line and writes nothing.
#[test]
fn damaged_manifests_are_refused_or_read_never_crash() {
    use nml_core::damage::{check_run, damaged};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let valid = std::fs::read(manifest(d, "valid.parquet", &["a", "b", "c"])).unwrap();
    let input = d.join("in.parquet");
    let output = d.join("o.parquet");
    let summary = d.join("o.noise.json");
    let mut read = 0;
    let mut cases = damaged(&valid, 17, 24);
    // A feature table passed as a manifest: the right format, the wrong schema.
    let mut table = Vec::new();
    {
        let t = nml_core::FeatureTable {
            index: vec![0, 1],
            split: vec!["train".into(); 2],
            label: vec![0, 1],
            domain: None,
            view: None,
            dim: 2,
            features: vec![0.5; 4],
            class_names: None,
            metadata: Default::default(),
        };
        let p = d.join("table.parquet");
        t.write(&p).unwrap();
        table.extend(std::fs::read(&p).unwrap());
    }
    cases.push(nml_core::damage::Damaged {
        what: "a feature table".to_owned(),
        bytes: table,
        must_fail: true,
    });
    for case in &cases {
        std::fs::write(&input, &case.bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_nml-noise"))
            .args([
                "--input",
                "in.parquet",
                "--output",
                "o.parquet",
                "--kind",
                "symmetric",
                "--ratio",
                "0.3",
            ])
            .current_dir(d)
            .output()
            .unwrap();
        match check_run(&out, case, &[&output, &summary]) {
            Ok(ok) => read += usize::from(ok),
            Err(problem) => panic!("{problem}"),
        }
    }
    assert!(read < cases.len(), "every damaged manifest was accepted");
}
