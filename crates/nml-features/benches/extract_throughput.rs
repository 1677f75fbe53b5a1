//! Feature extraction throughput on this machine, on the CPU, as `forward`
//! (the backbone in eval mode on a decoded batch) and as `path` (decode PNG,
//! normalise, forward, stream to Parquet): ResNet-20 over 4,096 images of 32×32 and MobileNetV2 over 256 images
//! of 224×224, each in float32 and in bfloat16 (autocast, channels-last),
//! next to the same path in Python (pyarrow, PIL, torch:
//! `ci/bench/extract_resnet20.py`) in float32 and in PyTorch's best CPU
//! recipe (autocast bfloat16 + channels-last), alternating over rounds.
//! Run with `cargo bench -p nml-features`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nml_core::{Manifest, Sample};
use nml_features::{extract, Compute, ExtractRequest};
use nml_pretrain::{checkpoint, Arch, ModelInfo, Net, TrainConfig};
use tch::nn::VarStore;
use tch::Device;

const ROUNDS: usize = 2;

/// One benchmarked network: its input side and how many images it reads.
#[derive(Debug, Clone, Copy)]
struct Case {
    arch: Arch,
    label: &'static str,
    size: u32,
    images: usize,
}

const CASES: [Case; 2] = [
    Case {
        arch: Arch::ResNet20,
        label: "ResNet-20, 32 px",
        size: 32,
        images: 4096,
    },
    Case {
        arch: Arch::MobileNetV2,
        label: "MobileNetV2, 224 px",
        size: 224,
        images: 256,
    },
];

/// Who extracts, in which precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Nml(Compute),
    Torch(Compute),
}

/// The two measurements of a side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    Forward,
    Path,
}

fn main() {
    let dir = std::env::temp_dir().join(format!("nml-extract-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let threads = nml_torch::configure_threads(None);
    let mut best: BTreeMap<(usize, Side, What), f64> = BTreeMap::new();
    let requests: Vec<ExtractRequest> = CASES
        .iter()
        .enumerate()
        .map(|(i, case)| prepare(&dir.join(format!("case{i}")), *case))
        .collect();
    for round in 0..ROUNDS {
        for (i, (case, request)) in CASES.iter().zip(&requests).enumerate() {
            for compute in [Compute::Fp32, Compute::Bf16] {
                let request = ExtractRequest {
                    precision: compute,
                    ..request.clone()
                };
                if round == 0 {
                    let _ = extract(&request, Device::Cpu).unwrap(); // warm-up
                }
                let mut keep = |side: Side, what: What, rate: f64| {
                    let e = best.entry((i, side, what)).or_default();
                    *e = e.max(rate);
                };
                keep(
                    Side::Nml(compute),
                    What::Forward,
                    forward(&request, *case, compute),
                );
                let start = Instant::now();
                let outcome = extract(&request, Device::Cpu).unwrap();
                let rate = outcome.images as f64 / start.elapsed().as_secs_f64();
                keep(Side::Nml(compute), What::Path, rate);
                if let Some((f, p)) = pytorch(*case, compute, &request.manifest, &dir, threads) {
                    keep(Side::Torch(compute), What::Forward, f);
                    keep(Side::Torch(compute), What::Path, p);
                }
            }
        }
    }
    // A cache hit for the ResNet-20 pair (float32, already extracted).
    let start = Instant::now();
    let hit = extract(
        &ExtractRequest {
            force: false,
            ..requests[0].clone()
        },
        Device::Cpu,
    )
    .unwrap();
    assert!(hit.cache_hit);
    let hit_ms = start.elapsed().as_secs_f64() * 1e3;
    report(threads, &best, hit_ms);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Images/s of the backbone alone (as `extract` loads it) on one decoded
/// batch of random pixels, three batches after a warm-up one.
fn forward(request: &ExtractRequest, case: Case, compute: Compute) -> f64 {
    let info = nml_features::Described::read(&request.checkpoint, None).unwrap();
    let backbone = nml_features::Backbone::load(info, nml_features::Embedding::Pooled, Device::Cpu)
        .unwrap()
        .computing(compute);
    let side = i64::from(case.size);
    let batch = request.batch_size as i64;
    let images = tch::Tensor::randint(256, [batch, 3, side, side], (tch::Kind::Uint8, Device::Cpu));
    let _ = backbone.encode(&images);
    let start = Instant::now();
    for _ in 0..3 {
        let _ = backbone.encode(&images);
    }
    (3 * batch) as f64 / start.elapsed().as_secs_f64()
}

/// Writes `case`'s manifest of random PNGs and an untrained checkpoint in
/// nml-pretrain's layout (speed does not depend on the weights).
fn prepare(dir: &Path, case: Case) -> ExtractRequest {
    std::fs::create_dir_all(dir).unwrap();
    let side = case.size as usize;
    let mut state = 1u64;
    let samples = (0..case.images)
        .map(|i| {
            let pixels: Vec<u8> = (0..side * side * 3)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 56) as u8
                })
                .collect();
            let png = nml_data::encode_png(&pixels, case.size, case.size).unwrap();
            Sample {
                index: i as i64,
                split: "test".into(),
                label: (i % 10) as i64,
                image: Some((png, "png".into())),
                ..Sample::default()
            }
        })
        .collect();
    let manifest = dir.join("m.parquet");
    Manifest::from_samples((0..10).map(|c| format!("c{c}")).collect(), samples)
        .unwrap()
        .write(&manifest)
        .unwrap();

    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let _net = Net::new(&vs.root(), case.arch, 10);
    let info = ModelInfo {
        arch: case.arch,
        classes: 10,
        class_names: (0..10).map(|c| format!("c{c}")).collect(),
        input_size: case.size,
        feature_dim: case.arch.feature_dim(),
        normalize: nml_pretrain::data::Normalize {
            mean: [0.5; 3],
            std: [0.25; 3],
        },
        seed: 0,
        train_manifest: String::new(),
        train_manifest_hash: String::new(),
        noise: None,
        key: String::new(),
        record: nml_core::model::Record::Supervised {
            config: TrainConfig::new(case.arch, 1),
            metrics: Vec::new(),
        },
    };
    let description = serde_json::to_value(&info).unwrap();
    checkpoint::save(
        &model.join("model.safetensors"),
        &checkpoint::named_variables(&vs),
        &description,
    )
    .unwrap();
    nml_core::write_json_atomic(model.join("model.json"), &info).unwrap();
    ExtractRequest {
        checkpoint: model,
        manifest,
        splits: None,
        batch_size: if case.size > 64 { 64 } else { 256 },
        resize: false,
        cache: dir.join("cache"),
        force: true,
        pretrained: None,
        embedding: None,
        views: nml_features::ViewRequest::none(),
        precision: Compute::Fp32,
    }
}

/// The same in Python (pyarrow, PIL, torch; bf16: autocast + channels-last):
/// (forward, path) images/s; `None` without the project Python.
fn pytorch(
    case: Case,
    compute: Compute,
    manifest: &Path,
    dir: &Path,
    threads: i32,
) -> Option<(f64, f64)> {
    let python = std::env::var_os("NML_PYTHON")?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ci/bench/extract_resnet20.py"
    );
    let out: PathBuf = dir.join("torch.parquet");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script)
        .arg("--manifest")
        .arg(manifest)
        .arg("--out")
        .arg(out)
        .args(["--threads", &threads.to_string()])
        .args(["--arch", case.arch.name(), "--precision", compute.name()])
        .args(["--repeats", "1"])
        .args(["--batch", if case.size > 64 { "64" } else { "256" }]);
    if compute == Compute::Bf16 {
        cmd.arg("--channels-last");
    }
    let output = cmd.output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let value = |key: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
    };
    Some((value("forward_images_per_sec=")?, value("images_per_sec=")?))
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn report(threads: i32, best: &BTreeMap<(usize, Side, What), f64>, hit_ms: f64) {
    println!(
        "feature extraction on the CPU ({threads} threads), images/s, best of {ROUNDS} alternating rounds"
    );
    println!(
        "{:<22} {:<8} {:>10} {:>10} {:>12} {:>14}",
        "", "", "nml fp32", "nml bf16", "torch fp32", "torch bf16 CL"
    );
    let na = |v: Option<&f64>| v.map_or_else(|| "nan".to_owned(), |t| format!("{t:.1}"));
    for (i, case) in CASES.iter().enumerate() {
        for (what, name) in [(What::Forward, "forward"), (What::Path, "path")] {
            let get = |s: Side| best.get(&(i, s, what));
            println!(
                "{:<22} {name:<8} {:>10} {:>10} {:>12} {:>14}",
                case.label,
                na(get(Side::Nml(Compute::Fp32))),
                na(get(Side::Nml(Compute::Bf16))),
                na(get(Side::Torch(Compute::Fp32))),
                na(get(Side::Torch(Compute::Bf16))),
            );
            let rows = [
                (
                    "FP32",
                    Side::Nml(Compute::Fp32),
                    Side::Torch(Compute::Fp32),
                    "PyTorch FP32",
                ),
                (
                    "bf16",
                    Side::Nml(Compute::Bf16),
                    Side::Torch(Compute::Bf16),
                    "PyTorch bf16+CL",
                ),
                (
                    "bf16",
                    Side::Nml(Compute::Bf16),
                    Side::Nml(Compute::Fp32),
                    "nml FP32",
                ),
            ];
            for (precision, ours, theirs, against) in rows {
                let Some(ours) = get(ours) else { continue };
                // For `cargo xtask bench`: stage, ours, baseline, unit, baseline's name.
                println!(
                    "nml-bench\textraction {}, {precision} ({name})\t{ours:.1}\t{}\timages/s\t{against}",
                    case.label,
                    na(get(theirs))
                );
            }
        }
    }
    println!("(path: decode PNG + normalise + forward + Parquet; PyTorch's with PIL and pyarrow)");
    println!(
        "cache hit for the ResNet-20 pair: {hit_ms:.1} ms for {} rows",
        CASES[0].images
    );
}
