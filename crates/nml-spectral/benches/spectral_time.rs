//! Spectral analysis time for N = 50,000 features of D = 512 (the official
//! code's preprocessing), against numpy's SVD and scikit-learn's
//! TruncatedSVD (`ci/bench/spectral.py`, run with the project venv) on the
//! same matrix in the same run. Run with `cargo bench -p nml-spectral`.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use nml_spectral::{singular_values, Center, Method, Normalize, SpectralConfig};

const N: usize = 50_000;
const D: usize = 512;
const ROUNDS: usize = 5;

fn main() {
    // Features with a decaying spectrum, as trained backbones give.
    let mut state = 42u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let features: Vec<f32> = (0..N * D)
        .map(|i| next() / (1.0 + (i % D) as f32 / 16.0) + if i % D == 0 { 0.5 } else { 0.0 })
        .collect();
    let config = SpectralConfig {
        normalize: Normalize::L2,
        center: Center::Row,
        method: Method::Gram,
    };
    // Median of ROUNDS runs, with the range; the first run also warms the thread pool.
    let mut times: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let sigma = singular_values(&features, N, D, &config);
            assert_eq!(sigma.len(), D);
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let ours = times[ROUNDS / 2];
    eprintln!(
        "nml-spectral: median {ours:.3} s of {ROUNDS} (range {:.3}–{:.3} s)",
        times[0],
        times[ROUNDS - 1]
    );

    let baseline = write_npy(&features).and_then(|path| {
        let python = std::env::var_os("NML_PYTHON")?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ci/bench/spectral.py");
        let output = Command::new(python).arg(script).arg(&path).output().ok()?;
        let _ = std::fs::remove_file(&path);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        Some((value("numpy_seconds=")?, value("sklearn_seconds=")?))
    });
    report(ours, baseline);
}

/// Writes the matrix as a float32 `.npy` for the Python side.
fn write_npy(features: &[f32]) -> Option<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!("nml-spectral-bench-{}.npy", std::process::id()));
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({N}, {D}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).ok()?);
    file.write_all(b"\x93NUMPY\x01\x00").ok()?;
    file.write_all(&(header.len() as u16).to_le_bytes()).ok()?;
    file.write_all(header.as_bytes()).ok()?;
    for v in features {
        file.write_all(&v.to_le_bytes()).ok()?;
    }
    file.flush().ok()?;
    Some(path)
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn report(ours: f64, baseline: Option<(f64, f64)>) {
    println!("spectral analysis, N = {N}, D = {D} (L2 rows, row centring), seconds");
    println!("{:<34} {:>9} {:>12}", "", "seconds", "speed-up");
    println!("{:<34} {ours:>9.3} {:>12}", "nml-spectral (Gram, f64)", "");
    match baseline {
        Some((numpy, sklearn)) => {
            println!(
                "{:<34} {numpy:>9.3} {:>11.1}x",
                "numpy linalg.svd",
                numpy / ours
            );
            println!(
                "{:<34} {sklearn:>9.3} {:>11.1}x",
                "scikit-learn TruncatedSVD (D-1)",
                sklearn / ours
            );
        }
        None => {
            println!("(Python baselines skipped: run `cargo xtask setup` for the project venv)")
        }
    }
    // For `cargo xtask bench`: stage, ours, baseline, unit, baseline's name.
    let show = |v: Option<f64>| v.map_or_else(|| "nan".to_owned(), |v| format!("{v:.4}"));
    println!(
        "nml-bench\tspectral analysis (N = {N}, D = {D})\t{ours:.4}\t{}\ts\tnumpy linalg.svd",
        show(baseline.map(|b| b.0))
    );
    println!(
        "nml-bench\tspectral analysis (N = {N}, D = {D})\t{ours:.4}\t{}\ts\tscikit-learn TruncatedSVD",
        show(baseline.map(|b| b.1))
    );
}
