//! `config.json` of a feature cache entry: what made its `features.parquet`.
//! One type per kind of entry, written by the stage and read back with the
//! same type ([`ExtractRecord::read`], [`TextRecord::read`]).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::extract::Preprocess;
use crate::{FeatureError, Result};

/// An image backbone's entry (`nml-features extract`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractRecord {
    /// The weights file as given (or found in the checkpoint folder).
    pub checkpoint: String,
    /// blake3 of the weights file.
    pub model_hash: String,
    /// The manifest as given on the command line.
    pub manifest: String,
    /// blake3 of the manifest file.
    pub manifest_hash: String,
    /// The preprocessing that, with the two files, keys the entry (views, their
    /// seed and the precision included).
    pub preprocess: Preprocess,
    /// The backbone's architecture.
    pub arch: nml_spec::Arch,
    /// The entry's cache key.
    pub key: String,
    /// The code that wrote it ([`nml_spec::code_version`]; empty in older entries).
    #[serde(default)]
    pub code_version: String,
}

/// A sentence encoder's entry (`nml-features text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextRecord {
    /// The encoder's folder (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub model: String,
    /// The manifest as given on the command line.
    pub manifest: String,
    /// Tokens per text: the encoder's window.
    pub max_length: usize,
    /// Texts embedded.
    pub rows: usize,
    /// Of those, texts longer than the window, cut to it.
    pub truncated_rows: usize,
    /// The entry's cache key.
    pub key: String,
    /// The code that wrote it ([`nml_spec::code_version`]; empty in older entries).
    #[serde(default)]
    pub code_version: String,
}

impl ExtractRecord {
    /// The record of the cache entry holding `features` (its `features.parquet`).
    pub fn read(features: &Path) -> Result<ExtractRecord> {
        read(features)
    }
}

impl TextRecord {
    /// The record of the cache entry holding `features` (its `features.parquet`).
    pub fn read(features: &Path) -> Result<TextRecord> {
        read(features)
    }
}

/// `config.json` beside `features`.
pub(crate) fn path_beside(features: &Path) -> std::path::PathBuf {
    features.with_file_name("config.json")
}

fn read<T: DeserializeOwned>(features: &Path) -> Result<T> {
    let path = path_beside(features);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| FeatureError::Invalid(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| FeatureError::Invalid(format!("{}: {e}", path.display())))
}
