//! NMTune training throughput on cached features for D = 1,280 (MobileNetV2) and D = 2,048 (ResNet-50)
//! (batch 64, all three regularisers), next to the official training loop
//! re-implemented in PyTorch (`ci/bench/nmtune_official.py`, project venv) on
//! features of the same shape, in the same run, in float32 and (for the
//! record: nml's heads stay float32, see docs/PERFORMANCE.md) under PyTorch's
//! bf16 autocast.
//!
//! Then a grid of 9 heads (learning rate × weight decay, 3 × 3) for LP and
//! NMTune at D = 512 and 2048, chosen on validation rows: trained together in
//! one pass against the same grid trained one by one, alternating rounds in
//! this process (the median of 2 rounds each, with the range).
//! Last, one MLP head on features it separates, subnormal floats flushed (nml-tune's
//! default) against kept (PyTorch's), on one thread, alternating rounds.
//! Each row prints its wall time: the whole benchmark is part of `cargo xtask bench`'s
//! 15-minute budget on 2 cores.
//! Run with `cargo bench -p nml-tune`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nml_core::FeatureTable;
use nml_tune::select::{select, GridKey, GridTraining};
use nml_tune::{tune, Method, TuneConfig};
use tch::Device;

/// Training rows of the single-head measurement, both sides: 4,096 (64 steps an epoch) up to
/// D = 512, 2,048 (32 steps) above it (D = 1,280 and 2,048, whose steps take 6 and 15 times
/// longer); the batch, and so the per-sample cost, is the same.
fn rows(dim: usize) -> usize {
    if dim <= 512 {
        4096
    } else {
        2048
    }
}
const CLASSES: usize = 10;

fn table(dim: usize) -> FeatureTable {
    table_of(rows(dim), dim, 5)
}

fn table_of(rows: usize, dim: usize, seed: u64) -> FeatureTable {
    let mut state = seed;
    let features = (0..rows * dim)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    FeatureTable {
        index: (0..rows as i64).collect(),
        split: vec!["train".into(); rows],
        label: (0..rows as i64).map(|i| i % CLASSES as i64).collect(),
        domain: None,
        view: None,
        dim,
        features,
        class_names: Some((0..CLASSES).map(|c| format!("c{c}")).collect()),
        metadata: Default::default(),
    }
}

/// The official loop's samples/s in PyTorch, in float32 or under bf16 autocast.
fn pytorch(dim: usize, threads: i32, precision: &str) -> Option<f64> {
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
            &rows(dim).to_string(),
            "--threads",
            &threads.to_string(),
            "--precision",
            precision,
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("samples_per_sec=")?.trim().parse().ok())
}

/// Samples/s of NMTune training: a (1 + k)-epoch run minus a 1-epoch run, so set-up cancels;
/// k = 4 up to D = 512 (an epoch there is half a second) and 2 above it. After a
/// 1-epoch warm-up when `warm_up` (the first
/// round of each D), as the PyTorch side's.
///
/// No eval table: evaluation (accuracy and the exact spectrum of z, an SVD of rows × D)
/// is not training, and at D = 2,048 it cost more wall time than the epochs measured.
fn ours(dim: usize, warm_up: bool) -> f64 {
    let train = table(dim);
    let evals: Vec<(String, PathBuf, FeatureTable)> = Vec::new();
    let mut config = TuneConfig::new(Method::Nmtune);
    let mut time = |epochs: usize| {
        config.epochs = epochs;
        let start = Instant::now();
        let _ = tune(&config, &train, &evals, 0, Device::Cpu).unwrap();
        start.elapsed().as_secs_f64()
    };
    if warm_up {
        let _warm = time(1);
    }
    let k = if dim <= 512 { 4 } else { 2 };
    let one = time(1);
    let more = time(1 + k);
    (k * rows(dim)) as f64 / (more - one)
}

/// Seconds to choose from a 3 × 3 grid (lr × wd) of `method` heads on `dim`-dimensional
/// features, `training` together or one by one: (median, min, max) of the rounds, after a
/// warm-up round when `warm_up` (the first D of each method; the second D runs the same code).
///
/// NMTune at D = 2,048 trains on 512 rows (8 steps per head), not 1,024: its two grids took
/// 3 of the 6 minutes of this benchmark, and per-step cost does not depend on the row count.
fn grid_seconds(method: Method, dim: usize, warm_up: bool) -> [(f64, f64, f64); 2] {
    let (rows, epochs) = match (method, dim) {
        (Method::Lp, _) => (2048, 3),
        (_, 2048) => (512, 1),
        _ => (1024, 1),
    };
    let train = table_of(rows, dim, 7);
    let val = table_of(512, dim, 8);
    let base = TuneConfig {
        epochs,
        ..TuneConfig::new(method)
    };
    let lr = if method == Method::Lp {
        vec![1e-3, 1e-2, 1e-1]
    } else {
        vec![1e-4, 1e-3, 1e-2]
    };
    let grid = vec![(GridKey::Lr, lr), (GridKey::Wd, vec![0.0, 1e-4, 1e-2])];
    let time = |training| {
        let start = Instant::now();
        let chosen = select(
            &base,
            &grid,
            &train,
            (Path::new("validation"), &val),
            &[0],
            (Device::Cpu, training),
        )
        .unwrap();
        assert_eq!(chosen.grid.len(), 9);
        start.elapsed().as_secs_f64()
    };
    if warm_up {
        let _warm = time(GridTraining::Together);
    }
    let mut together = Vec::new();
    let mut alone = Vec::new();
    // Alternating, each side first once: T O O T.
    for round in 0..2 {
        if round == 0 {
            together.push(time(GridTraining::Together));
            alone.push(time(GridTraining::OneByOne));
        } else {
            alone.push(time(GridTraining::OneByOne));
            together.push(time(GridTraining::Together));
        }
    }
    [together, alone].map(|mut t| {
        t.sort_by(f64::total_cmp);
        let median = (t[0] + t[t.len() - 1]) / 2.0;
        (median, t[0], t[t.len() - 1])
    })
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn grids() {
    println!("\nA grid of 9 heads (lr × wd) chosen on validation rows, CPU, seconds (median of 2, range)");
    println!(
        "{:<8} {:<4} {:>22} {:>22} {:>8} {:>12}",
        "method", "D", "together", "one by one", "speedup", "row's wall s"
    );
    for method in [Method::Lp, Method::Nmtune] {
        for dim in [512usize, 2048] {
            let wall = Instant::now();
            let [(t, t0, t1), (o, o0, o1)] = grid_seconds(method, dim, dim == 512);
            println!(
                "{:<8} {dim:<4} {:>22} {:>22} {:>8.2} {:>12.0}",
                method.to_string(),
                format!("{t:.2} ({t0:.2}–{t1:.2})"),
                format!("{o:.2} ({o0:.2}–{o1:.2})"),
                o / t,
                wall.elapsed().as_secs_f64()
            );
            println!(
                "nml-bench\tgrid of 9 {} heads (D = {dim})\t{t:.3}\t{o:.3}\ts\tthe same grid one by one",
                method.to_string().to_uppercase()
            );
        }
    }
}

/// Features a head separates perfectly within a few epochs (each class lifts its
/// own block of dimensions by 2): once it does, the cross-entropy gradients of
/// rows it already fits, and their squares in Adam's second moments, fall below
/// float32's normal range, as on the PACS photo heads of the `real-models` study.
fn separable(rows: usize, dim: usize) -> FeatureTable {
    let mut table = table_of(rows, dim, 11);
    let block = dim / CLASSES;
    for (row, &label) in table.label.iter().enumerate() {
        let start = row * dim + label as usize * block;
        for x in &mut table.features[start..start + block] {
            *x += 2.0;
        }
    }
    table
}

/// Seconds to train one MLP head (D = 1,280, 1,024 rows, 8 epochs) on [`separable`]
/// features on one thread, subnormals kept (PyTorch's default) and flushed (nml-tune's):
/// (median, min, max) of 2 rounds each, alternating K F F K. One thread, so that every
/// product runs on this thread, whose floating-point mode `denormals::set` changes.
fn denormal_seconds(threads: i32) -> [(f64, f64, f64); 2] {
    use nml_torch::{denormals, Denormals};
    tch::set_num_threads(1);
    let train = separable(1024, 1280);
    let evals: Vec<(String, PathBuf, FeatureTable)> = Vec::new();
    let config = TuneConfig {
        epochs: 8,
        ..TuneConfig::new(Method::Mlp)
    };
    let time = |mode| {
        denormals::set(mode);
        let start = Instant::now();
        let _ = tune(&config, &train, &evals, 0, Device::Cpu).unwrap();
        start.elapsed().as_secs_f64()
    };
    let (mut keep, mut flush) = (Vec::new(), Vec::new());
    keep.push(time(Denormals::Keep));
    flush.push(time(Denormals::Flush));
    flush.push(time(Denormals::Flush));
    keep.push(time(Denormals::Keep));
    denormals::set(Denormals::Flush);
    tch::set_num_threads(threads);
    [flush, keep].map(|t| {
        let (lo, hi) = (t[0].min(t[1]), t[0].max(t[1]));
        ((lo + hi) / 2.0, lo, hi)
    })
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn denormal_row(threads: i32) {
    let wall = Instant::now();
    let [(f, f0, f1), (k, k0, k1)] = denormal_seconds(threads);
    println!(
        "\nAn MLP head on separable features (D = 1280, 1024 rows, 8 epochs, 1 thread), seconds (median of 2, range)"
    );
    println!(
        "flushed {f:.2} ({f0:.2}–{f1:.2})   kept {k:.2} ({k0:.2}–{k1:.2})   speedup {:.2}   (row's wall {:.0} s)",
        k / f,
        wall.elapsed().as_secs_f64()
    );
    println!("nml-bench\tMLP head, subnormals flushed (D = 1280)\t{f:.3}\t{k:.3}\ts\tthe same head, subnormals kept (PyTorch's default)");
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn main() {
    // As the nml-tune binary does, before libtorch starts its threads (they inherit it).
    nml_torch::denormals::set(nml_torch::Denormals::Flush);
    let threads = nml_torch::configure_threads(None);
    println!("NMTune training on cached features, batch 64, CPU ({threads} threads), samples/s");
    println!("{:<8} {:>10} {:>10} {:>8}", "D", "nml", "pytorch", "ratio");
    for dim in [1280usize, 2048] {
        let wall = Instant::now();
        // Alternating rounds (nml, PyTorch, PyTorch, nml); each side's mean of two, with its range.
        let (a, theirs_a, theirs_b, b) = (
            ours(dim, true),
            pytorch(dim, threads, "fp32"),
            pytorch(dim, threads, "fp32"),
            ours(dim, false),
        );
        // nml's heads stay float32: PyTorch's bf16 autocast of the same loop, for the record.
        let bf16 = pytorch(dim, threads, "bf16");
        let ours = (a + b) / 2.0;
        let theirs = theirs_a.zip(theirs_b).map(|(x, y)| (x + y) / 2.0);
        match theirs_a.zip(theirs_b) {
            Some((x, y)) => println!(
                "{dim:<8} {ours:>10.0} {:>10.0} {:>8.2}   (nml {:.0}–{:.0}, PyTorch {:.0}–{:.0})",
                (x + y) / 2.0,
                ours / ((x + y) / 2.0),
                a.min(b),
                a.max(b),
                x.min(y),
                x.max(y)
            ),
            None => println!("{dim:<8} {ours:>10.0} {:>10} {:>8}", "n/a", "n/a"),
        }
        println!(
            "         (D = {dim}: {:.0} s of wall time, both sides)",
            wall.elapsed().as_secs_f64()
        );
        // For `cargo xtask bench`: stage, ours, baseline, unit, baseline's name.
        println!(
            "nml-bench\tNMTune training (D = {dim})\t{ours:.1}\t{}\tsamples/s\tofficial loop in PyTorch",
            theirs.map_or_else(|| "nan".to_owned(), |t| format!("{t:.1}"))
        );
        println!(
            "nml-bench\tNMTune training (D = {dim}), nml FP32\t{ours:.1}\t{}\tsamples/s\tofficial loop in PyTorch, bf16 autocast",
            bf16.map_or_else(|| "nan".to_owned(), |t| format!("{t:.1}"))
        );
    }
    grids();
    denormal_row(threads);
}
