//! Shared core of nml: the files stages exchange and the plumbing to write them safely.
//!
//! - [`manifest`]: the per-sample manifest schema, typed Parquet read/write and validation.
//! - [`features`]: feature tables (one vector per sample), streamed to disk.
//! - [`atomic`]: temp-file-and-rename writes, so no reader ever sees half a file.
//! - [`hash`]: blake3 content hashes of files and canonical JSON configs (cache keys).
//! - [`device`]: the `--device` choice, parsed without linking libtorch.
//! - [`guard`]: every output checked against every input, and for writability, before any work.
//! - [`model`]: `model.json`, what a pre-training run records beside its weights (both objectives).
//! - [`noise`]: what `nml-noise` did (`X.noise.json`, a noisy manifest's metadata, `model.json`'s `noise`).
//! - [`logging`]: the `-v`/`-q` flags and tracing subscriber of every binary.
//!
//! This crate does not link libtorch, so everything built on it alone builds
//! and tests without a PyTorch install.

pub mod atomic;
pub mod damage;
pub mod device;
mod error;
pub mod features;
pub mod guard;
pub mod hash;
pub mod logging;
pub mod manifest;
pub mod model;
pub mod noise;
pub mod refusal;
mod table;

pub use atomic::{write_atomic, write_json_atomic, AtomicFile};
pub use device::DeviceSpec;
pub use error::{CoreError, Result};
pub use features::{
    AugmentedViews, Embeddings, FeatureBatch, FeatureSchema, FeatureTable, FeatureWriter,
};
pub use hash::{hash_bytes, hash_file, hash_json, ContentHash, KeyBuilder};
pub use manifest::{Manifest, ReadOptions, Sample};
pub use model::ModelInfo;

use std::path::PathBuf;

/// The folder of real datasets and weights (`shared/data`, see its README):
/// `NML_SHARED_DATA` when set, else `../shared/data` beside the workspace.
/// `None` when it does not exist, so callers can say why they skip real data.
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("NML_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    dir.join("README.md").exists().then_some(dir)
}
