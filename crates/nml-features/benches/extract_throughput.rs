//! Feature extraction throughput on this machine: a ResNet-20 checkpoint over
//! 4,096 PNG images of 32×32 through the whole path (decode, normalise,
//! forward in eval mode, stream to Parquet), on the CPU.
//! Run with `cargo bench -p nml-features`.

use std::time::Instant;

use nml_core::{Manifest, Sample};
use nml_features::{extract, ExtractRequest};
use nml_pretrain::{checkpoint, Arch, ModelInfo, Net, TrainConfig};
use tch::nn::VarStore;
use tch::Device;

const IMAGES: usize = 4096;

fn main() {
    let dir = std::env::temp_dir().join(format!("nml-extract-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut state = 1u64;
    let samples = (0..IMAGES)
        .map(|i| {
            let pixels: Vec<u8> = (0..32 * 32 * 3)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 56) as u8
                })
                .collect();
            let png = nml_data::encode_png(&pixels, 32, 32).unwrap();
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

    // An untrained ResNet-20 checkpoint in nml-pretrain's layout: speed does not depend on the weights.
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let _net = Net::new(&vs.root(), Arch::ResNet20, 10);
    let config = TrainConfig::new(Arch::ResNet20, 1);
    let info = ModelInfo {
        arch: Arch::ResNet20,
        classes: 10,
        class_names: (0..10).map(|c| format!("c{c}")).collect(),
        input_size: 32,
        feature_dim: 64,
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
            config,
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

    let request = ExtractRequest {
        checkpoint: model,
        manifest,
        splits: None,
        batch_size: 256,
        resize: false,
        cache: dir.join("cache"),
        force: true,
        pretrained: None,
        embedding: None,
        views: nml_features::ViewRequest::none(),
        precision: nml_features::Compute::Fp32,
    };
    let threads = nml_torch::configure_threads(None);
    let _ = extract(&request, Device::Cpu).unwrap();
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let outcome = extract(&request, Device::Cpu).unwrap();
        best = best.max(outcome.images as f64 / start.elapsed().as_secs_f64());
    }
    let start = Instant::now();
    let hit = extract(
        &ExtractRequest {
            force: false,
            ..request.clone()
        },
        Device::Cpu,
    )
    .unwrap();
    let hit_ms = start.elapsed().as_secs_f64() * 1e3;
    assert!(hit.cache_hit);
    let torch = pytorch(&request.manifest, &dir.join("torch.parquet"), threads);
    report(threads, best, hit_ms, torch);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same path in Python (pyarrow, PIL, torch); `None` without the project Python.
fn pytorch(manifest: &std::path::Path, out: &std::path::Path, threads: i32) -> Option<f64> {
    let python = std::env::var_os("NML_PYTHON")?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ci/bench/extract_resnet20.py"
    );
    let output = std::process::Command::new(python)
        .arg(script)
        .arg("--manifest")
        .arg(manifest)
        .arg("--out")
        .arg(out)
        .args(["--threads", &threads.to_string()])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("images_per_sec=")?.trim().parse().ok())
}

#[allow(clippy::print_stdout)] // a benchmark reports on stdout
fn report(threads: i32, images_per_second: f64, hit_ms: f64, torch: Option<f64>) {
    println!("feature extraction, ResNet-20, 32x32 PNG, batch 256, CPU ({threads} threads)");
    println!("  decode + forward + Parquet: {images_per_second:.0} images/s (best of 3)");
    match torch {
        Some(t) => println!(
            "  PyTorch (pyarrow + PIL + torch, same path): {t:.0} images/s, ratio {:.2}",
            images_per_second / t
        ),
        None => {
            println!("  (PyTorch baseline skipped: run `cargo xtask setup` for the project venv)")
        }
    }
    println!("  cache hit for the same pair: {hit_ms:.1} ms for {IMAGES} rows");
    // For `cargo xtask bench`: stage, ours, baseline, unit, baseline's name.
    println!(
        "nml-bench\tfeature extraction (ResNet-20, decode + forward + Parquet)\t{images_per_second:.1}\t{}\timages/s\tPyTorch + PIL + pyarrow",
        torch.map_or_else(|| "nan".to_owned(), |t| format!("{t:.1}"))
    );
}
