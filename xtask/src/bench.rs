//! `cargo xtask bench`: every stage's benchmark in one table.
//!
//! Each benchmark (built once for all, with the workspace's features) measures nml and, in the same
//! run on the same machine, the Python equivalent (PyTorch, numpy or
//! scikit-learn scripts in `ci/bench/`, run with the project venv), and
//! prints `nml-bench<TAB>stage<TAB>ours<TAB>baseline<TAB>unit<TAB>against`
//! lines; this command collects them. No timing is asserted anywhere.

use std::fmt::Write as _;

use xshell::{cmd, Shell};

use crate::{cargo, setup, Result};

/// (crate, bench target) in table order.
const BENCHES: [(&str, &str); 4] = [
    ("nml-pretrain", "train_throughput"),
    ("nml-features", "extract_throughput"),
    ("nml-spectral", "spectral_time"),
    ("nml-tune", "tune_throughput"),
];

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub stage: String,
    pub ours: f64,
    pub baseline: f64,
    pub unit: String,
    pub against: String,
}

impl Row {
    /// How many times faster nml is (>1: faster); seconds are inverted.
    pub(crate) fn speedup(&self) -> f64 {
        if self.unit == "s" {
            self.baseline / self.ours
        } else {
            self.ours / self.baseline
        }
    }
}

/// The `nml-bench` lines of a benchmark's output.
pub(crate) fn parse(output: &str) -> Vec<Row> {
    output
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.strip_prefix("nml-bench\t")?.split('\t').collect();
            let [stage, ours, baseline, unit, against] = f.as_slice() else {
                return None;
            };
            Some(Row {
                stage: (*stage).to_owned(),
                ours: ours.parse().ok()?,
                baseline: baseline.parse().unwrap_or(f64::NAN),
                unit: (*unit).to_owned(),
                against: (*against).to_owned(),
            })
        })
        .collect()
}

/// The table.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| stage | nml | baseline | unit | against | speed-up (>1: nml faster) |\n|---|---:|---:|---|---|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {:.3} | {} | {} | {} | {} |",
            r.stage,
            r.ours,
            if r.baseline.is_finite() {
                format!("{:.3}", r.baseline)
            } else {
                "not run".to_owned()
            },
            r.unit,
            r.against,
            if r.baseline.is_finite() {
                format!("{:.2}×", r.speedup())
            } else {
                "-".to_owned()
            }
        );
    }
    s
}

pub(crate) fn run(sh: &Shell) -> Result<()> {
    setup::run(sh, false)?;
    let cargo = cargo();
    // One build for every benchmark: `--workspace` resolves features for all
    // members at once, so no later `cargo bench` recompiles arrow or polars
    // with another feature set (as `-p <crate>` would, crate by crate).
    let targets: Vec<String> = BENCHES
        .iter()
        .flat_map(|(_, bench)| ["--bench".to_owned(), (*bench).to_owned()])
        .collect();
    eprintln!("xtask bench: building the {} benchmarks", BENCHES.len());
    cmd!(
        sh,
        "{cargo} bench --locked --workspace --no-run {targets...}"
    )
    .run()?;
    let mut rows = Vec::new();
    for (krate, bench) in BENCHES {
        eprintln!("xtask bench: {krate} ({bench})");
        let output = cmd!(sh, "{cargo} bench --locked --workspace --bench {bench}").read()?;
        eprintln!("{output}");
        let found = parse(&output);
        if found.is_empty() {
            return Err(format!("{krate}'s {bench} printed no nml-bench line").into());
        }
        rows.extend(found);
    }
    let machine = std::thread::available_parallelism().map_or(0, usize::from);
    #[allow(clippy::print_stdout)] // the table is this command's output
    {
        println!("\nSame machine, same run ({machine} CPUs visible); baselines through the project venv.\n");
        print!("{}", table(&rows));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_and_ratios_point_the_right_way() {
        let out = "noise\nnml-bench\tpre-training\t880.0\t800.0\timages/s\tPyTorch\n\
                   nml-bench\tspectral\t0.5\t1.5\ts\tnumpy\nnml-bench\textract\t100\tnan\timages/s\tPyTorch\nnml-bench\tbroken\n";
        let rows = parse(out);
        assert_eq!(rows.len(), 3);
        assert!((rows[0].speedup() - 1.1).abs() < 1e-12);
        assert!(
            (rows[1].speedup() - 3.0).abs() < 1e-12,
            "seconds: baseline / ours"
        );
        assert!(rows[2].baseline.is_nan());
        let t = table(&rows);
        assert!(
            t.contains("| 1.10× |") && t.contains("| 3.00× |") && t.contains("not run"),
            "{t}"
        );
    }
}
