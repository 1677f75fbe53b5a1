//! NMTune training throughput on cached features for D = 512 and D = 2048
//! (batch 64, all three regularisers), next to the official training loop
//! re-implemented in PyTorch (`ci/bench/nmtune_official.py`, project venv) on
//! features of the same shape, in the same run.
//! Run with `cargo bench -p nml-tune`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use nml_core::FeatureTable;
use nml_tune::{tune, Method, TuneConfig};
use tch::Device;

const ROWS: usize = 4096;
const CLASSES: usize = 10;

fn table(dim: usize) -> FeatureTable {
    let mut state = 5u64;
    let features = (0..ROWS * dim)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    FeatureTable {
        index: (0..ROWS as i64).collect(),
        split: vec!["train".into(); ROWS],
        label: (0..ROWS as i64).map(|i| i % CLASSES as i64).collect(),
        domain: None,
        view: None,
        dim,
        features,
        class_names: Some((0..CLASSES).map(|c| format!("c{c}")).collect()),
        metadata: Default::default(),
    }
}

fn pytorch(dim: usize, threads: i32) -> Option<f64> {
    let python = std::env::var_os("NML_PYTHON")?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ci/bench/nmtune_official.py"
    );
    let out = Command::new(python)
        .arg(script)
        .args([
            "--dim",
            &dim.to_string(),
            "--rows",
            &ROWS.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("samples_per_sec=")?.trim().parse().ok())
}

/// Samples/s of NMTune training: a 2-epoch run minus a 1-epoch run, so set-up and evaluation cancel.
fn ours(dim: usize) -> f64 {
    let train = table(dim);
    let evals = vec![("train".to_owned(), PathBuf::from("train"), table(dim))];
    let mut config = TuneConfig::new(Method::Nmtune);
    let mut time = |epochs: usize| {
        config.epochs = epochs;
        let start = Instant::now();
        let _ = tune(&config, &train, &evals, 0, Device::Cpu).unwrap();
        start.elapsed().as_secs_f64()
    };
    let _warm = time(1);
    let one = time(1);
    let three = time(3);
    (2 * ROWS) as f64 / (three - one)
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn main() {
    let threads = nml_torch::configure_threads(None);
    println!("NMTune training on cached features, batch 64, CPU ({threads} threads), samples/s");
    println!("{:<8} {:>10} {:>10} {:>8}", "D", "nml", "pytorch", "ratio");
    for dim in [512usize, 2048] {
        let ours = ours(dim);
        let theirs = pytorch(dim, threads);
        match theirs {
            Some(theirs) => println!(
                "{dim:<8} {ours:>10.0} {theirs:>10.0} {:>8.2}",
                ours / theirs
            ),
            None => println!("{dim:<8} {ours:>10.0} {:>10} {:>8}", "n/a", "n/a"),
        }
        // For `cargo xtask bench`: stage, ours, baseline, unit, baseline's name.
        println!(
            "nml-bench\tNMTune training (D = {dim})\t{ours:.1}\t{}\tsamples/s\tofficial loop in PyTorch",
            theirs.map_or_else(|| "nan".to_owned(), |t| format!("{t:.1}"))
        );
    }
}
