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

use std::path::{Path, PathBuf};

use nml_core::{FeatureBatch, FeatureSchema, FeatureWriter, KeyBuilder, Manifest};
use nml_models::{checkpoint, image, Arch, BackboneInfo, Net};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

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
}

/// How to read a published weights file: the architecture whose reference
/// names its tensors follow, the input normalisation it was trained with and
/// the input side (default: the architecture's native one). The number of
/// classes is read from the classifier's weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Pretrained {
    pub arch: Arch,
    pub normalize: image::Normalize,
    pub input_size: Option<u32>,
}

/// ImageNet's channel statistics, used by torchvision and most published CIFAR weights.
pub const IMAGENET: image::Normalize = image::Normalize {
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
};

/// What extraction needs to know about a model.
struct Described {
    weights: PathBuf,
    arch: Arch,
    classes: usize,
    input_size: u32,
    normalize: image::Normalize,
}

fn describe(request: &ExtractRequest) -> Result<Described> {
    if let Some(p) = &request.pretrained {
        let weights = request.checkpoint.clone();
        let (tensors, _) = checkpoint::read(&weights)?;
        let classes = head_classes(&tensors, p.arch).ok_or_else(|| {
            FeatureError::Invalid(format!(
                "{}: no classifier weight of a `{}` (checked `{}`)",
                weights.display(),
                p.arch,
                p.arch.head_weight()
            ))
        })?;
        return Ok(Described {
            weights,
            arch: p.arch,
            classes,
            input_size: p.input_size.unwrap_or_else(|| p.arch.native_input()),
            normalize: p.normalize,
        });
    }
    let (weights, info_path) = locate(&request.checkpoint)?;
    let info: BackboneInfo =
        serde_json::from_str(&std::fs::read_to_string(&info_path).map_err(|e| {
            FeatureError::Invalid(format!("{}: cannot read: {e}", info_path.display()))
        })?)
        .map_err(|e| {
            FeatureError::Invalid(format!(
                "{}: not an nml-pretrain model.json: {e} (for published weights pass --arch)",
                info_path.display()
            ))
        })?;
    Ok(Described {
        weights,
        arch: info.arch,
        classes: info.classes,
        input_size: info.input_size,
        normalize: info.normalize,
    })
}

/// Rows of the classifier weight `[classes, D]`.
fn head_classes(tensors: &[(String, Tensor)], arch: Arch) -> Option<usize> {
    let name = arch.head_weight();
    tensors
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, t)| t.size().first().map(|&c| c as usize))
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

/// The preprocessing that, with the two files, determines the features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Preprocess {
    format: u32,
    input_size: u32,
    resize: bool,
    normalize: image::Normalize,
    splits: Option<Vec<String>>,
}

/// Extracts (or finds in the cache) the features of `request.manifest`.
pub fn extract(request: &ExtractRequest, device: Device) -> Result<ExtractOutcome> {
    let info = describe(request)?;
    let weights = info.weights.clone();
    let preprocess = Preprocess {
        format: 1,
        input_size: info.input_size,
        resize: request.resize,
        normalize: info.normalize,
        splits: request.splits.clone(),
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
    nml_torch::configure_threads(None);
    let vs = VarStore::new(device);
    let net = Net::new(&vs.root(), info.arch, info.classes as i64);
    checkpoint::load_model(&vs, &weights, info.arch)?;

    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("nml.model_hash".to_owned(), model_hash.to_hex());
    metadata.insert("nml.manifest_hash".to_owned(), manifest_hash.to_hex());
    metadata.insert("nml.arch".to_owned(), info.arch.to_string());
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
    let dim = info.arch.feature_dim() as usize;
    let spec = FeatureSchema {
        dim,
        has_domain: manifest.domain.is_some(),
        class_names: Some(manifest.class_names.clone()),
        metadata,
    };
    let mut writer = FeatureWriter::create(&path, spec)?;
    write_features(&net, &info, &manifest, &rows, request, &mut writer, device)?;
    writer.finish()?;
    nml_core::write_json_atomic(
        entry.join("config.json"),
        &serde_json::json!({
            "checkpoint": weights.display().to_string(),
            "model_hash": model_hash.to_hex(),
            "manifest": request.manifest.display().to_string(),
            "manifest_hash": manifest_hash.to_hex(),
            "preprocess": preprocess,
            "arch": info.arch,
            "key": key.to_hex(),
        }),
    )?;
    Ok(ExtractOutcome {
        path,
        key: key.to_hex(),
        cache_hit: false,
        images: rows.len(),
        rows: rows.len(),
        dim,
    })
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

/// Runs `net` in eval mode under no-grad over `rows`, batch by batch, into `writer`.
fn write_features(
    net: &Net,
    info: &Described,
    manifest: &Manifest,
    rows: &[usize],
    request: &ExtractRequest,
    writer: &mut FeatureWriter,
    device: Device,
) -> Result<()> {
    let _guard = tch::no_grad_guard();
    for chunk in rows.chunks(request.batch_size.max(1)) {
        let set = image::load(
            manifest,
            chunk,
            info.input_size,
            request.resize,
            &request.manifest,
        )
        .map_err(FeatureError::Model)?;
        let x = info
            .normalize
            .apply(&(set.images.to_kind(Kind::Float) / 255.0))
            .to_device(device);
        let features = net
            .features(&x, false)
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        write_rows(writer, manifest, chunk, &features)?;
    }
    Ok(())
}

/// Writes the vectors of manifest rows `chunk` (with their index, split, label and domain).
///
/// # Shapes
/// `vectors`: `[chunk.len(), D]` float on the CPU.
pub(crate) fn write_rows(
    writer: &mut FeatureWriter,
    manifest: &Manifest,
    chunk: &[usize],
    vectors: &Tensor,
) -> Result<()> {
    let values: Vec<f32> = Vec::try_from(vectors.to_kind(Kind::Float).contiguous().flatten(0, -1))
        .map_err(|e| FeatureError::Invalid(format!("cannot read vectors back: {e}")))?;
    let pick = |v: &[String]| chunk.iter().map(|&r| v[r].clone()).collect::<Vec<_>>();
    let index: Vec<i64> = chunk.iter().map(|&r| manifest.index[r]).collect();
    let label: Vec<i64> = chunk.iter().map(|&r| manifest.label[r]).collect();
    let split = pick(&manifest.split);
    let domain = manifest.domain.as_deref().map(pick);
    writer.write(&FeatureBatch {
        index: &index,
        split: &split,
        label: &label,
        domain: domain.as_deref(),
        features: &values,
    })?;
    Ok(())
}

/// `model.safetensors` and `model.json` from a folder or the weights file.
fn locate(checkpoint: &Path) -> Result<(PathBuf, PathBuf)> {
    let weights = if checkpoint.is_dir() {
        checkpoint.join("model.safetensors")
    } else {
        checkpoint.to_path_buf()
    };
    let info = weights.with_extension("json");
    for p in [&weights, &info] {
        if !p.exists() {
            return Err(FeatureError::Invalid(format!("{}: missing (an nml-pretrain output folder holds model.safetensors and model.json)", p.display())));
        }
    }
    Ok((weights, info))
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
