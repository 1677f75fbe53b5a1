//! Integration tests of nml-features.

mod extract; // extraction equals the model's features; the cache hits and invalidates
mod import; // black-box embeddings: .npy and Parquet, and every kind of bad input
mod pretrained; // published MobileNetV2 and CIFAR ResNet weights against PyTorch reference outputs
mod refusals; // the refusal property over a table of hostile requests; writes sweep dead temporaries
mod text; // sentence embeddings: truncation counted in the entry's record, and cached

use std::path::{Path, PathBuf};

use nml_data::synth::{self, Preset, SynthConfig};
use nml_pretrain::{Arch, RunPaths, TrainConfig};
use tch::Device;

/// The shared data folder, or `None` with a message saying the test is skipped.
pub fn shared() -> Option<PathBuf> {
    let dir = nml_core::shared_data();
    if dir.is_none() {
        eprintln!("skipped: no shared data folder (set NML_SHARED_DATA)");
    }
    dir
}

/// The smoke benchmark and a 1-epoch `small` backbone trained on it: (benchmark folder, model folder).
pub fn trained_smoke(dir: &Path) -> (PathBuf, PathBuf) {
    let bench = dir.join("bench");
    synth::generate(&SynthConfig::preset(Preset::Smoke, 0), &bench).unwrap();
    let mut config = TrainConfig::new(Arch::Small, 1);
    config.common.batch_size = 32;
    let model = dir.join("model");
    let paths = RunPaths {
        train: bench.join("pretrain.parquet"),
        test: None,
        out: model.clone(),
    };
    nml_pretrain::train(&config, &paths, Device::Cpu, false).unwrap();
    (bench, model)
}
