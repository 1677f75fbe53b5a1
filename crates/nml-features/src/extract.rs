//! Cached feature extraction with an `nml-pretrain` checkpoint, or with
//! published weights of an architecture nml knows (MobileNetV2, the CIFAR
//! ResNets, ...) given as a plain safetensors file ([`Pretrained`]).
//!
//! The cache key is blake3 over the checkpoint's bytes, the manifest's bytes
//! and the preprocessing (input size, resizing, normalisation, splits), so a
//! second request for the same pair is a file lookup, and changing one byte
//! of either input computes afresh. Entries live in `CACHE/<key>/`
//! (`features.parquet` and `config.json`); `--out` receives a copy.
//! Memory stays bounded: images are decoded and run one batch at a time and
//! each batch's vectors go straight to the Parquet writer.
//!
//! With `views = K > 0` every image also gets K augmented views (the
//! official train transform, [`nml_models::augment`]), written as rows with
//! `view` 1..K after its eval row (`view` 0); K, the transform and its seed
//! are part of the key.

use std::path::{Path, PathBuf};

use nml_core::{FeatureBatch, FeatureSchema, FeatureWriter, KeyBuilder, Manifest};
use nml_models::{image, Augment, Net, NormalizeExt};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use nml_torch::Compute;

use crate::backbone::{Backbone, Described};
pub use crate::backbone::{Embedding, Pretrained, IMAGENET};
use crate::record::ExtractRecord;
use crate::{FeatureError, Result};

/// One extraction: which model, which data, where the cache is.
#[derive(Debug, Clone)]
pub struct ExtractRequest {
    /// `model.safetensors`, or the `nml-pretrain` output folder holding it (with `model.json`).
    pub checkpoint: PathBuf,
    pub manifest: PathBuf,
    /// Splits to extract (`None`: every row).
    pub splits: Option<Vec<String>>,
    pub batch_size: usize,
    /// Resize images whose size differs from the model's input.
    pub resize: bool,
    pub cache: PathBuf,
    /// Recompute even when the cache has the entry.
    pub force: bool,
    /// Set when `checkpoint` is a published weights file rather than an `nml-pretrain` output.
    pub pretrained: Option<Pretrained>,
    /// Which vector is the feature (`None`: the projection for contrastive backbones, else pooled).
    pub embedding: Option<Embedding>,
    /// Augmented views per image besides the eval view (0: none).
    pub views: ViewRequest,
    /// What the backbone computes in (bf16: autocast); the table is float32 either way.
    pub precision: Compute,
}

/// The augmented views to cache beside each eval row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewRequest {
    /// K: views 1..=K per image.
    pub count: u32,
    pub augment: Augment,
    /// Seed of the per-view generators.
    pub seed: u64,
    /// Only rows of this split get views (the rows heads train on); `None`: every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Only rows of this domain get views; `None`: every domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl ViewRequest {
    /// No augmented view.
    pub fn none() -> ViewRequest {
        ViewRequest {
            count: 0,
            augment: Augment::new(nml_models::AugmentKind::Rrc),
            seed: 0,
            split: None,
            domain: None,
        }
    }

    /// Whether manifest row `row` gets augmented views.
    pub fn wants(&self, manifest: &Manifest, row: usize) -> bool {
        self.count > 0
            && self
                .split
                .as_ref()
                .is_none_or(|s| manifest.split[row] == *s)
            && self
                .domain
                .as_ref()
                .is_none_or(|d| manifest.domain.as_ref().is_some_and(|dom| dom[row] == *d))
    }
}

/// What an extraction did.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractOutcome {
    /// The feature table (inside the cache).
    pub path: PathBuf,
    pub key: String,
    /// True when the cache already had the table and no model ran.
    pub cache_hit: bool,
    /// Images run through the model by this call (0 on a cache hit).
    pub images: usize,
    pub rows: usize,
    pub dim: usize,
}

/// The preprocessing that, with the two files, determines the features
/// (part of the cache key, and of the entry's [`crate::record::ExtractRecord`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// This struct's version.
    pub format: u32,
    /// The backbone's input size in pixels.
    pub input_size: u32,
    /// Images of another size were resized to it.
    pub resize: bool,
    pub normalize: image::Normalize,
    /// The splits extracted (`None`: every row).
    pub splits: Option<Vec<String>>,
    /// Absent for pooled features (the keys of older entries stay valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
    /// The cached augmented views, with their seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<ViewRequest>,
    /// Absent for float32 (the keys of older entries stay valid).
    #[serde(default, skip_serializing_if = "Compute::is_fp32")]
    pub precision: Compute,
}

/// Extracts (or finds in the cache) the features of `request.manifest`.
pub fn extract(request: &ExtractRequest, device: Device) -> Result<ExtractOutcome> {
    let info = Described::read(&request.checkpoint, request.pretrained.as_ref())?;
    let embedding = info.embedding(request.embedding)?;
    if request.views.count > 0 {
        request
            .views
            .augment
            .validate()
            .map_err(FeatureError::Invalid)?;
    }
    let weights = info.weights.clone();
    let preprocess = Preprocess {
        format: 1,
        input_size: info.input_size,
        resize: request.resize,
        normalize: info.normalize,
        splits: request.splits.clone(),
        embedding: (embedding != Embedding::Pooled).then_some(embedding),
        views: (request.views.count > 0).then(|| request.views.clone()),
        precision: request.precision,
    };
    let model_hash = nml_core::hash_file(&weights)?;
    let manifest_hash = nml_core::hash_file(&request.manifest)?;
    let key = KeyBuilder::new("nml-features/extract")
        .hash("checkpoint", model_hash)
        .hash("manifest", manifest_hash)
        .json("preprocess", &preprocess)?
        .finish();
    let entry = request.cache.join(key.short());
    let path = entry.join("features.parquet");
    if path.exists() && !request.force {
        let table = nml_core::FeatureTable::read(&path)?;
        tracing::info!(path = %path.display(), "feature cache hit; no model run");
        return Ok(ExtractOutcome {
            path,
            key: key.to_hex(),
            cache_hit: true,
            images: 0,
            rows: table.len(),
            dim: table.dim,
        });
    }

    let manifest = Manifest::read(&request.manifest)?;
    let rows = selected_rows(&manifest, request)?;
    check_view_rows(&manifest, &rows, request)?;
    nml_core::atomic::remove_dead_temporaries_under(&request.cache);
    nml_torch::configure_threads(None);
    let arch = info.arch;
    let backbone = Backbone::load(info, embedding, device)?.computing(request.precision);

    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("nml.model_hash".to_owned(), model_hash.to_hex());
    metadata.insert("nml.manifest_hash".to_owned(), manifest_hash.to_hex());
    metadata.insert("nml.arch".to_owned(), arch.to_string());
    metadata.insert("nml.embedding".to_owned(), embedding.name().to_owned());
    metadata.insert("nml.checkpoint".to_owned(), weights.display().to_string());
    metadata.insert(
        "nml.manifest".to_owned(),
        request.manifest.display().to_string(),
    );
    metadata.insert(
        "nml.preprocess".to_owned(),
        serde_json::to_string(&preprocess)?,
    );
    metadata.insert("nml.key".to_owned(), key.to_hex());
    let dim = backbone.info.dim(embedding);
    let spec = FeatureSchema {
        dim,
        has_domain: manifest.domain.is_some(),
        has_view: request.views.count > 0,
        class_names: Some(manifest.class_names.clone()),
        metadata,
    };
    let mut writer = FeatureWriter::create(&path, spec)?;
    let augmented = write_features(&backbone, &manifest, &rows, request, &mut writer)?;
    writer.finish()?;
    let record = ExtractRecord {
        checkpoint: weights.display().to_string(),
        model_hash: model_hash.to_hex(),
        manifest: request.manifest.display().to_string(),
        manifest_hash: manifest_hash.to_hex(),
        preprocess,
        arch,
        key: key.to_hex(),
        code_version: nml_spec::code_version(),
    };
    nml_core::write_json_atomic(crate::record::path_beside(&path), &record)?;
    Ok(ExtractOutcome {
        path,
        key: key.to_hex(),
        cache_hit: false,
        images: rows.len(),
        rows: rows.len() + augmented,
        dim,
    })
}

/// Refuses views asked for none of the selected rows (a `--view-split` or
/// `--view-domain` that selects nothing among them).
fn check_view_rows(manifest: &Manifest, rows: &[usize], request: &ExtractRequest) -> Result<()> {
    let views = &request.views;
    if views.count > 0 && !rows.iter().any(|&r| views.wants(manifest, r)) {
        return Err(FeatureError::Invalid(format!(
            "--view-split {} --view-domain {}: no row of {} gets views (no selected row lies in that split and domain)",
            views.split.as_deref().unwrap_or("(any)"),
            views.domain.as_deref().unwrap_or("(any)"),
            request.manifest.display()
        )));
    }
    Ok(())
}

/// The manifest rows of the requested splits (all rows when none); none is an error.
fn selected_rows(manifest: &Manifest, request: &ExtractRequest) -> Result<Vec<usize>> {
    let rows: Vec<usize> = match &request.splits {
        Some(splits) => (0..manifest.len())
            .filter(|&r| splits.contains(&manifest.split[r]))
            .collect(),
        None => (0..manifest.len()).collect(),
    };
    if rows.is_empty() {
        return Err(FeatureError::Invalid(format!(
            "{}: no rows in splits {:?}",
            request.manifest.display(),
            request.splits.as_deref().unwrap_or_default()
        )));
    }
    Ok(rows)
}

/// Runs the backbone over `rows`, batch by batch, into `writer`: the eval
/// view of each batch, then the augmented views 1..=K of its rows that get
/// views; returns the number of augmented rows written.
fn write_features(
    backbone: &Backbone,
    manifest: &Manifest,
    rows: &[usize],
    request: &ExtractRequest,
    writer: &mut FeatureWriter,
) -> Result<usize> {
    let views = &request.views;
    let mut augmented_rows = 0;
    for chunk in rows.chunks(request.batch_size.max(1)) {
        let set = image::load(
            manifest,
            chunk,
            backbone.info.input_size,
            request.resize,
            &request.manifest,
        )
        .map_err(FeatureError::Model)?;
        let eval = backbone.encode(&set.images);
        write_rows(
            writer,
            manifest,
            chunk,
            &eval,
            (views.count > 0).then_some(0),
        )?;
        let picked: Vec<i64> = (0..chunk.len() as i64)
            .filter(|&i| views.wants(manifest, chunk[i as usize]))
            .collect();
        if picked.is_empty() {
            continue;
        }
        let sub: Vec<usize> = picked.iter().map(|&i| chunk[i as usize]).collect();
        let images = set.images.index_select(0, &Tensor::from_slice(&picked));
        let ids: Vec<(&str, i64)> = sub
            .iter()
            .map(|&r| (manifest.split[r].as_str(), manifest.index[r]))
            .collect();
        for v in 1..=views.count {
            let augmented = views
                .augment
                .batch(&images, views.seed, &ids, &vec![v; sub.len()]);
            let vectors = backbone.encode(&augmented);
            write_rows(writer, manifest, &sub, &vectors, Some(v as i64))?;
            augmented_rows += sub.len();
        }
    }
    Ok(augmented_rows)
}

/// Writes the vectors of manifest rows `chunk` (with their index, split,
/// label and domain, and `view` when the table has views).
///
/// # Shapes
/// `vectors`: `[chunk.len(), D]` float on the CPU.
pub(crate) fn write_rows(
    writer: &mut FeatureWriter,
    manifest: &Manifest,
    chunk: &[usize],
    vectors: &Tensor,
    view: Option<i64>,
) -> Result<()> {
    let values: Vec<f32> = Vec::try_from(vectors.to_kind(Kind::Float).contiguous().flatten(0, -1))
        .map_err(|e| FeatureError::Invalid(format!("cannot read vectors back: {e}")))?;
    let pick = |v: &[String]| chunk.iter().map(|&r| v[r].clone()).collect::<Vec<_>>();
    let index: Vec<i64> = chunk.iter().map(|&r| manifest.index[r]).collect();
    let label: Vec<i64> = chunk.iter().map(|&r| manifest.label[r]).collect();
    let split = pick(&manifest.split);
    let domain = manifest.domain.as_deref().map(pick);
    let view_column = view.map(|v| vec![v; chunk.len()]);
    writer.write(&FeatureBatch {
        index: &index,
        split: &split,
        label: &label,
        domain: domain.as_deref(),
        view: view_column.as_deref(),
        features: &values,
    })?;
    Ok(())
}

/// Copies a cached table to `out` atomically.
pub fn copy_out(from: &Path, out: &Path) -> Result<()> {
    let bytes = std::fs::read(from)
        .map_err(|e| FeatureError::Invalid(format!("{}: {e}", from.display())))?;
    nml_core::write_atomic(out, &bytes)?;
    Ok(())
}

/// Features of a batch computed directly (for tests and checks against the cache).
///
/// # Shapes
/// `images`: `[B, 3, S, S]` u8 → `[B, D]`.
pub fn features_of(
    net: &Net,
    normalize: image::Normalize,
    images: &Tensor,
    device: Device,
) -> Tensor {
    let _guard = tch::no_grad_guard();
    let x = normalize
        .apply(&(images.to_kind(Kind::Float) / 255.0))
        .to_device(device);
    net.features(&x, false).to_device(Device::Cpu)
}
