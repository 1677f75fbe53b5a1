//! The refusal property (`nml_core::refusal`) over a table of hostile
//! requests against a folder holding a manifest and a finished noisy copy:
//! outputs that are inputs (the summary included), empty split lists, flags
//! the kind never reads, blocked outputs. A new flag joins the table.

use std::path::Path;

use nml_core::refusal::{assert_refusals, run_ok, Refusal};
use nml_core::{Manifest, Sample};

fn populated(root: &Path) {
    let samples = (0..40i64)
        .map(|i| Sample {
            index: i,
            split: if i < 30 { "train" } else { "test" }.to_owned(),
            label: i % 4,
            ..Sample::default()
        })
        .collect();
    let names = ["a", "b", "c", "d"].map(str::to_owned).to_vec();
    Manifest::from_samples(names, samples)
        .unwrap()
        .write(root.join("m.parquet"))
        .unwrap();
    std::fs::write(root.join("map.csv"), "0,1\n").unwrap();
    std::fs::write(root.join("cm.noise.json"), "0,1\n").unwrap();
    std::fs::write(
        root.join("matrix.csv"),
        "1,0,0,0\n0,1,0,0\n0,0,1,0\n0,0,0,1\n",
    )
    .unwrap();
    // A manifest named like the summary another output would get.
    std::fs::copy(root.join("m.parquet"), root.join("n.noise.json")).unwrap();
    std::fs::create_dir_all(root.join("blocked.noise.json")).unwrap();
    std::fs::write(root.join("file.txt"), b"keep").unwrap();
    run_ok(
        Path::new(env!("CARGO_BIN_EXE_nml-noise")),
        root,
        [
            "--input",
            "m.parquet",
            "--output",
            "noisy.parquet",
            "--kind",
            "symmetric",
            "--ratio",
            "0.2",
        ],
    );
}

fn table() -> Vec<Refusal> {
    let sym = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--input",
            "m.parquet",
            "--output",
            "out.parquet",
            "--kind",
            "symmetric",
            "--ratio",
            "0.2",
        ]
        .map(str::to_owned)
        .to_vec();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let with_output = |output: &str, extra: &[&str]| -> Vec<String> {
        sym(extra)
            .into_iter()
            .map(|a| {
                if a == "out.parquet" {
                    output.to_owned()
                } else {
                    a
                }
            })
            .collect()
    };
    vec![
        Refusal::new(
            "the output is the input",
            with_output("m.parquet", &[]),
            &["input"],
        ),
        Refusal::new(
            "the output is the input, spelled otherwise",
            with_output("./sub/../m.parquet", &[]),
            &["input"],
        ),
        Refusal::new(
            "the summary would overwrite an input",
            [
                "--input",
                "n.noise.json",
                "--output",
                "n.parquet",
                "--kind",
                "symmetric",
                "--ratio",
                "0.2",
            ],
            &["n.noise.json"],
        ),
        Refusal::new(
            "the summary would overwrite the class map",
            [
                "--input",
                "m.parquet",
                "--output",
                "cm.parquet",
                "--kind",
                "asymmetric",
                "--ratio",
                "0.2",
                "--class-map",
                "cm.noise.json",
            ],
            &["cm.noise.json", "--class-map"],
        ),
        Refusal::new(
            "the output overwrites the finished run's input",
            with_output("noisy.parquet", &[])
                .into_iter()
                .map(|a| {
                    if a == "m.parquet" {
                        "noisy.parquet".to_owned()
                    } else {
                        a
                    }
                })
                .collect::<Vec<_>>(),
            &["input"],
        ),
        Refusal::new("an empty --splits", sym(&["--splits", ""]), &["--splits"]),
        Refusal::new(
            "a --splits of commas",
            sym(&["--splits", ","]),
            &["--splits"],
        ),
        Refusal::new(
            "an empty name in --splits",
            sym(&["--splits", "train,"]),
            &["--splits"],
        ),
        Refusal::new(
            "--class-map with symmetric",
            sym(&["--class-map", "map.csv"]),
            &["--class-map"],
        ),
        Refusal::new(
            "--matrix with symmetric",
            sym(&["--matrix", "matrix.csv"]),
            &["--matrix"],
        ),
        Refusal::new(
            "--column with symmetric",
            sym(&["--column", "label"]),
            &["--column"],
        ),
        Refusal::new(
            "--stratify with uniform",
            [
                "--input",
                "m.parquet",
                "--output",
                "o.parquet",
                "--kind",
                "uniform",
                "--ratio",
                "0.2",
                "--stratify",
                "per-class",
            ],
            &["--stratify"],
        ),
        Refusal::new(
            "a folder where the summary goes",
            with_output("blocked.parquet", &[]),
            &["blocked.noise.json", "is a folder"],
        ),
        Refusal::new(
            "an output under a file",
            with_output("file.txt/o.parquet", &[]),
            &["is a file, not a folder"],
        ),
        Refusal::new(
            "a ratio out of range",
            [
                "--input",
                "m.parquet",
                "--output",
                "o.parquet",
                "--kind",
                "symmetric",
                "--ratio",
                "1.5",
            ],
            &["--ratio"],
        ),
        Refusal::new("an unknown flag", sym(&["--bogus"]), &["--bogus"]),
    ]
}

#[test]
fn every_refused_request_leaves_the_folder_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    assert_refusals(
        Path::new(env!("CARGO_BIN_EXE_nml-noise")),
        dir.path(),
        &table(),
    );
}
