//! Integration tests of nml-pretrain.

mod contrastive; // image–text pre-training: zero-shot, caption swaps, resume, bad captions
mod errors; // wrong architecture, damaged checkpoints, image sizes, config changes
mod pytorch; // the checkpoint loads into the PyTorch reference module with equal outputs
mod refusals; // the refusal property over a table of hostile requests
mod resume; // a killed run resumes to the same weights as an uninterrupted one
mod training; // learning on clean labels, and on labels that are all wrong

use std::path::{Path, PathBuf};

use nml_data::synth::{self, Preset, SynthConfig};
use nml_pretrain::{Arch, RunPaths, TrainConfig};

/// Writes the smoke benchmark into `dir`; returns the pre-training manifest.
pub fn smoke_corpus(dir: &Path) -> PathBuf {
    synth::generate(&SynthConfig::preset(Preset::Smoke, 0), dir).unwrap();
    dir.join("pretrain.parquet")
}

/// A fast config for the smoke corpus: batch 32, lr 0.05.
pub fn fast_config(arch: Arch, epochs: usize) -> TrainConfig {
    let mut config = TrainConfig::new(arch, epochs);
    config.common.batch_size = 32;
    config.sgd.lr = 0.05;
    config
}

pub fn paths(train: &Path, out: &Path) -> RunPaths {
    RunPaths {
        train: train.to_owned(),
        test: None,
        out: out.to_owned(),
    }
}
