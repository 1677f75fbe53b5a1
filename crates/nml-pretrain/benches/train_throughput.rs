//! Training throughput of ResNet-20 at batch 128 on this CPU, next to the
//! same model and batch trained by PyTorch on the same libtorch
//! (`ci/bench/pretrain_resnet20.py`, run with the project venv).
//!
//! Two rows: `model` (forward, loss, backward, SGD on a fixed batch) and
//! `pipeline` (the same fed by nml-pretrain's prefetching loader with crop and
//! flip), so a data-pipeline bottleneck shows as a gap between them.
//! Run with `cargo bench -p nml-pretrain`.

use std::process::Command;
use std::time::Instant;

use nml_pretrain::data::{epoch_loader, Augment, ImageSet, Normalize, NormalizeExt};
use nml_pretrain::optim::{Optimizer, Sgd, SgdConfig};
use nml_pretrain::{checkpoint, Arch, Net};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

const BATCH: usize = 128;
const STEPS: usize = 20;
const WARMUP: usize = 3;
const ROUNDS: usize = 2;

fn main() {
    let threads = nml_torch::configure_threads(None);
    let (mut ours, mut theirs) = ((0.0f64, 0.0f64), None::<(f64, f64)>);
    // This machine's speed drifts; alternate the two sides and keep each one's best round.
    for _ in 0..ROUNDS {
        let (model, pipeline) = measure();
        ours = (ours.0.max(model), ours.1.max(pipeline));
        if let Some((m, p)) = pytorch(threads) {
            let best = theirs.unwrap_or((0.0, 0.0));
            theirs = Some((best.0.max(m), best.1.max(p)));
        }
    }
    report(threads, ours.0, ours.1, theirs);
}

/// Images/s of one round: (model on a fixed batch, model fed by the loader).
fn measure() -> (f64, f64) {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), Arch::ResNet20, 10);
    let params = checkpoint::named_variables(&vs)
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let config = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        nesterov: true,
        weight_decay: 5e-4,
        warmup_epochs: 0.0,
    };
    let mut sgd = Sgd::new(config, params);
    let mut step = |x: &Tensor, y: &Tensor| {
        let loss = net.logits(x, true).cross_entropy_for_logits(y);
        sgd.backward_step(&loss, 0.1);
    };
    let data = ImageSet {
        images: Tensor::randint(256, [2048, 3, 32, 32], (Kind::Uint8, Device::Cpu)),
        labels: Tensor::randint(10, [2048], (Kind::Int64, Device::Cpu)),
        clean: Tensor::randint(10, [2048], (Kind::Int64, Device::Cpu)),
    };
    let normalize = Normalize {
        mean: [0.5; 3],
        std: [0.25; 3],
    };
    let augment = Augment {
        crop_padding: 4,
        flip: true,
        color_jitter: 0.0,
    };

    let x = normalize.apply(&(data.images.narrow(0, 0, BATCH as i64).to_kind(Kind::Float) / 255.0));
    let y = data.labels.narrow(0, 0, BATCH as i64);
    for _ in 0..WARMUP {
        step(&x, &y);
    }
    let start = Instant::now();
    for _ in 0..STEPS {
        step(&x, &y);
    }
    let model = (STEPS * BATCH) as f64 / start.elapsed().as_secs_f64();

    // Two epochs of 16 batches: the loader restarts as it does between epochs.
    let mut batches = (0..2).flat_map(|epoch| {
        epoch_loader(
            &data,
            epoch,
            0,
            0,
            BATCH,
            augment.clone(),
            normalize,
            Device::Cpu,
        )
    });
    for batch in batches.by_ref().take(WARMUP) {
        step(&batch.x, &batch.labels);
    }
    let start = Instant::now();
    let mut n = 0;
    for batch in batches.by_ref().take(STEPS) {
        step(&batch.x, &batch.labels);
        n += 1;
    }
    let pipeline = (n * BATCH) as f64 / start.elapsed().as_secs_f64();
    (model, pipeline)
}

/// Runs the PyTorch baseline; `None` when the project Python is unavailable.
fn pytorch(threads: i32) -> Option<(f64, f64)> {
    let python = std::env::var_os("NML_PYTHON")?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ci/bench/pretrain_resnet20.py"
    );
    let output = Command::new(python)
        .arg(script)
        .args([
            "--threads",
            &threads.to_string(),
            "--batch",
            &BATCH.to_string(),
            "--steps",
            &STEPS.to_string(),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let value = |key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    Some((
        value("model_images_per_sec=")?,
        value("pipeline_images_per_sec=")?,
    ))
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn report(threads: i32, model: f64, pipeline: f64, torch: Option<(f64, f64)>) {
    println!("ResNet-20, batch {BATCH}, 32x32, CPU, {threads} libtorch threads (images/s)");
    println!("{:<10} {:>10} {:>10} {:>8}", "", "nml", "pytorch", "ratio");
    for (name, ours, theirs) in [
        ("model", model, torch.map(|t| t.0)),
        ("pipeline", pipeline, torch.map(|t| t.1)),
    ] {
        match theirs {
            Some(t) => println!("{name:<10} {ours:>10.1} {t:>10.1} {:>8.2}", ours / t),
            None => println!("{name:<10} {ours:>10.1} {:>10} {:>8}", "n/a", "n/a"),
        }
        // For `cargo xtask bench`: stage, ours, baseline, unit, baseline's name.
        println!(
            "nml-bench\tpre-training ResNet-20 ({name})\t{ours:.1}\t{}\timages/s\tPyTorch",
            theirs.map_or_else(|| "nan".to_owned(), |t| format!("{t:.1}"))
        );
    }
    if torch.is_none() {
        println!("(PyTorch baseline skipped: run `cargo xtask setup` for the project venv)");
    }
}
