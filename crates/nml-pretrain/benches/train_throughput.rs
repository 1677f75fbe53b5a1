//! Training throughput of ResNet-20 and the `small` net at batch 128 on this
//! CPU, in FP32 and in bfloat16, next to the same models and batches trained
//! by PyTorch on the same libtorch (`ci/bench/pretrain_resnet20.py`, run with
//! the project venv) in FP32 and in PyTorch's best CPU recipe (autocast
//! bfloat16 + channels-last).
//!
//! Per architecture, two measurements: `model` (forward, loss, backward, SGD
//! on a fixed batch) and `pipeline` (the same fed by nml-pretrain's
//! prefetching loader with crop and flip), so a data-pipeline bottleneck shows
//! as a gap between them. nml's bfloat16 is measured in both layouts, which is
//! how [`nml_pretrain::layout`]'s choice was made. Rows: nml FP32 against
//! PyTorch FP32, nml bf16 against PyTorch bf16 + channels-last, and nml bf16
//! against nml FP32. Sides alternate over rounds; each keeps its best.
//! Run with `cargo bench -p nml-pretrain`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use nml_pretrain::data::{epoch_loader, Augment, ImageSet, Normalize, NormalizeExt};
use nml_pretrain::optim::{Optimizer, Sgd, SgdConfig};
use nml_pretrain::{checkpoint, layout, Arch, Net};
use nml_torch::{Compute, Layout};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

const BATCH: usize = 128;
const STEPS: usize = 20;
const WARMUP: usize = 3;
const ROUNDS: usize = 2;

/// Images/s of (model on a fixed batch, model fed by the loader).
type Rate = (f64, f64);

/// What is measured: who trains, which net, in which precision and layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Nml(Compute, bool),
    Torch(Compute),
}

fn main() {
    let threads = nml_torch::configure_threads(None);
    let mut best: BTreeMap<(&str, Side), Rate> = BTreeMap::new();
    let sides = [
        Side::Nml(Compute::Fp32, false),
        Side::Nml(Compute::Bf16, false),
        Side::Nml(Compute::Bf16, true),
        Side::Torch(Compute::Fp32),
        Side::Torch(Compute::Bf16),
    ];
    // This machine's speed drifts; alternate the sides and keep each one's best round.
    for _ in 0..ROUNDS {
        for arch in [Arch::ResNet20, Arch::Small] {
            for side in sides {
                let rate = match side {
                    Side::Nml(compute, cl) => Some(measure(arch, compute, cl)),
                    Side::Torch(compute) => pytorch(arch, compute, threads),
                };
                if let Some((m, p)) = rate {
                    let e = best.entry((arch.name(), side)).or_insert((0.0, 0.0));
                    *e = (e.0.max(m), e.1.max(p));
                }
            }
        }
    }
    report(threads, &best);
}

/// Images/s of one round.
fn measure(arch: Arch, compute: Compute, channels_last: bool) -> Rate {
    let layout = if channels_last {
        Layout::ChannelsLast
    } else {
        Layout::Contiguous
    };
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), arch, 10);
    layout.apply_to_variables(&vs);
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
        let x = layout.apply(x);
        let loss = nml_torch::autocast_on(Device::Cpu, compute, || {
            net.logits(&x, true).cross_entropy_for_logits(y)
        });
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

/// Runs the PyTorch baseline (bf16: autocast + channels-last); `None` when
/// the project Python is unavailable.
fn pytorch(arch: Arch, compute: Compute, threads: i32) -> Option<Rate> {
    let python = std::env::var_os("NML_PYTHON")?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ci/bench/pretrain_resnet20.py"
    );
    let mut cmd = Command::new(python);
    cmd.arg(script).args([
        "--threads",
        &threads.to_string(),
        "--batch",
        &BATCH.to_string(),
        "--steps",
        &STEPS.to_string(),
        "--arch",
        arch.name(),
        "--precision",
        compute.name(),
    ]);
    if compute == Compute::Bf16 {
        cmd.arg("--channels-last");
    }
    let output = cmd.output().ok()?;
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
fn report(threads: i32, best: &BTreeMap<(&str, Side), Rate>) {
    println!("batch {BATCH}, 32x32, CPU, {threads} libtorch threads (images/s, best of {ROUNDS} alternating rounds)");
    println!(
        "{:<10} {:<9} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "arch", "", "nml fp32", "nml bf16", "nml bf16 CL", "torch fp32", "torch bf16 CL"
    );
    let chosen = |arch: Arch| {
        Side::Nml(
            Compute::Bf16,
            layout(arch, Compute::Bf16) == Layout::ChannelsLast,
        )
    };
    for arch in [Arch::ResNet20, Arch::Small] {
        let get = |side: Side, i: usize| {
            best.get(&(arch.name(), side))
                .map(|r| if i == 0 { r.0 } else { r.1 })
        };
        for (i, what) in ["model", "pipeline"].into_iter().enumerate() {
            let cell = |s: Side| get(s, i).map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"));
            println!(
                "{:<10} {what:<9} {:>10} {:>10} {:>10} {:>12} {:>12}",
                arch.name(),
                cell(Side::Nml(Compute::Fp32, false)),
                cell(Side::Nml(Compute::Bf16, false)),
                cell(Side::Nml(Compute::Bf16, true)),
                cell(Side::Torch(Compute::Fp32)),
                cell(Side::Torch(Compute::Bf16)),
            );
            let rows = [
                (
                    "FP32",
                    Side::Nml(Compute::Fp32, false),
                    Side::Torch(Compute::Fp32),
                    "PyTorch FP32",
                ),
                (
                    "bf16",
                    chosen(arch),
                    Side::Torch(Compute::Bf16),
                    "PyTorch bf16+CL",
                ),
                (
                    "bf16",
                    chosen(arch),
                    Side::Nml(Compute::Fp32, false),
                    "nml FP32",
                ),
            ];
            for (precision, ours, theirs, against) in rows {
                let Some(ours) = get(ours, i) else { continue };
                // For `cargo xtask bench`: stage, ours, baseline, unit, baseline's name.
                println!(
                    "nml-bench\tpre-training {} {precision} ({what})\t{ours:.1}\t{}\timages/s\t{against}",
                    label(arch),
                    get(theirs, i).map_or_else(|| "nan".to_owned(), |t| format!("{t:.1}"))
                );
            }
        }
    }
    if !best.keys().any(|(_, s)| matches!(s, Side::Torch(_))) {
        println!("(PyTorch baseline skipped: run `cargo xtask setup` for the project venv)");
    }
}

fn label(arch: Arch) -> &'static str {
    match arch {
        Arch::ResNet20 => "ResNet-20",
        _ => arch.name(),
    }
}
