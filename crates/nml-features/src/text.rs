//! Sentence embeddings of a manifest's `text` with the BERT encoder of
//! `nml_models::bert` (all-MiniLM-L6-v2 or any BERT checkpoint in Hugging
//! Face's layout), cached like image features.

use std::path::{Path, PathBuf};

use nml_core::{FeatureSchema, FeatureWriter, KeyBuilder, Manifest};
use nml_models::bert::SentenceEncoder;
use tch::Device;

use crate::{FeatureError, Result};

fn invalid(path: &Path, what: impl std::fmt::Display) -> FeatureError {
    FeatureError::Invalid(format!("{}: {what}", path.display()))
}

/// One text embedding job.
#[derive(Debug, Clone)]
pub struct TextRequest {
    /// Folder with config.json, tokenizer.json and model.safetensors.
    pub model: PathBuf,
    pub manifest: PathBuf,
    pub splits: Option<Vec<String>>,
    pub batch_size: usize,
    /// Tokens per text (the encoder's window: [`nml_models::bert::window`]).
    pub max_length: usize,
    pub cache: PathBuf,
    pub force: bool,
}

/// Embeds the manifest's `text` (cached like image features); returns the table's path in the cache.
pub fn embed_manifest(request: &TextRequest, device: Device) -> Result<PathBuf> {
    let weights = request.model.join("model.safetensors");
    let tokenizer = request.model.join("tokenizer.json");
    let key = KeyBuilder::new("nml-features/text")
        .hash("weights", nml_core::hash_file(&weights)?)
        .hash("tokenizer", nml_core::hash_file(&tokenizer)?)
        .hash("manifest", nml_core::hash_file(&request.manifest)?)
        .json(
            "preprocess",
            &serde_json::json!({"format": 1, "max_length": request.max_length, "pooling": "mean", "normalize": "l2", "splits": request.splits}),
        )?
        .finish();
    let entry = request.cache.join(key.short());
    let path = entry.join("features.parquet");
    if path.exists() && !request.force {
        tracing::info!(path = %path.display(), "feature cache hit; no model run");
        return Ok(path);
    }
    let manifest = Manifest::read(&request.manifest)?;
    let text = manifest.text.as_ref().ok_or_else(|| {
        invalid(
            &request.manifest,
            "has no `text` column: sentence embeddings need text",
        )
    })?;
    let rows: Vec<usize> = (0..manifest.len())
        .filter(|&r| {
            request
                .splits
                .as_ref()
                .is_none_or(|s| s.contains(&manifest.split[r]))
        })
        .collect();
    if rows.is_empty() {
        return Err(invalid(
            &request.manifest,
            "no rows in the requested splits",
        ));
    }
    nml_core::atomic::remove_dead_temporaries_under(&request.cache);
    nml_torch::configure_threads(None);
    let encoder = SentenceEncoder::load(&request.model, request.max_length, device)?;
    let dim = encoder.bert.config.hidden_size as usize;
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("nml.model".to_owned(), request.model.display().to_string());
    metadata.insert(
        "nml.manifest".to_owned(),
        request.manifest.display().to_string(),
    );
    metadata.insert("nml.key".to_owned(), key.to_hex());
    let spec = FeatureSchema {
        dim,
        has_domain: manifest.domain.is_some(),
        has_view: false,
        class_names: Some(manifest.class_names.clone()),
        metadata,
    };
    let mut writer = FeatureWriter::create(&path, spec)?;
    let mut truncated = 0;
    for chunk in rows.chunks(request.batch_size.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(|&r| text[r].as_str()).collect();
        let (embeddings, cut) = encoder.embed_counting(&texts, device)?;
        truncated += cut;
        crate::extract::write_rows(&mut writer, &manifest, chunk, &embeddings, None)?;
    }
    writer.finish()?;
    if truncated > 0 {
        tracing::warn!(
            truncated,
            rows = rows.len(),
            max_tokens = request.max_length,
            "texts longer than the window were truncated"
        );
    }
    let record = crate::record::TextRecord {
        model: request.model.display().to_string(),
        manifest: request.manifest.display().to_string(),
        max_length: request.max_length,
        rows: rows.len(),
        truncated_rows: truncated,
        key: key.to_hex(),
        code_version: nml_spec::code_version(),
    };
    nml_core::write_json_atomic(crate::record::path_beside(&path), &record)?;
    Ok(path)
}
