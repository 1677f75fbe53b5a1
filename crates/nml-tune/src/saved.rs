//! Trained heads kept for later use: `OUT/heads/<method>-seed<k>/` holds
//! `head.safetensors` (float32, PyTorch's names: `mlp.0.weight`, `mlp.1.*`
//! BatchNorm with its running statistics, `mlp.3.*`, `scale`,
//! `classifier.*`) and `head.json` ([`HeadRecord`]), and [`predict`] applies
//! one to new features: class probabilities, the predicted class, and the
//! tuned embedding z.

use std::path::{Path, PathBuf};

use nml_torch::Denormals;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::model::{Head, Method};
use crate::train::TuneConfig;
use crate::{Result, TuneError};

/// The format tag of `head.json`: `nml-head/2` pins the weights' hash.
pub const FORMAT: &str = "nml-head/2";

/// The tag of records written before the weights' hash; still read, unpinned.
const FORMAT_UNPINNED: &str = "nml-head/1";

/// Everything needed to rebuild a head and to check what it may be applied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadRecord {
    pub format: String,
    pub method: Method,
    /// Every hyper-parameter it was trained with.
    pub config: TuneConfig,
    pub seed: u64,
    /// Input feature dimension.
    pub dim: usize,
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// z = s ⊙ h(f) + f (else z = h(f); LP: z = f).
    pub residual: bool,
    /// blake3 of the training feature table's file.
    pub features_hash: Option<String>,
    /// The backbone (`nml.model_hash`) or embedding source (`nml.source_hash`) of the training features.
    pub source_hash: Option<String>,
    /// Accuracy on held-out validation rows, when a validation split was used.
    pub validation_accuracy: Option<f64>,
    /// The code that wrote it: `nml VERSION, commit C` ([`nml_spec::code_version`];
    /// records from before the commit was passed hold the bare version).
    pub code_version: String,
    /// Subnormal floats during training (records from before the flag: kept).
    #[serde(default = "kept")]
    pub denormals: Denormals,
    /// blake3 of `head.safetensors` as written beside this record (set by [`save`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_hash: Option<String>,
}

fn kept() -> Denormals {
    Denormals::Keep
}

/// The source a feature table's vectors came from: its backbone or embedding file.
pub fn source_hash(table: &nml_core::FeatureTable) -> Option<String> {
    table
        .metadata
        .get("nml.model_hash")
        .or_else(|| table.metadata.get("nml.source_hash"))
        .cloned()
}

/// The folder of one head: `OUT/heads/<method>-seed<k>`.
pub fn head_dir(out: &Path, method: Method, seed: u64) -> PathBuf {
    out.join("heads")
        .join(format!("{}-seed{seed}", method.name()))
}

/// Writes `head.safetensors` and `head.json` into `dir`; the record written
/// pins the weights file's hash.
pub fn save(dir: &Path, vs: &nn::VarStore, record: &HeadRecord) -> Result<()> {
    let tensors = nml_models::checkpoint::named_variables(vs);
    let description = serde_json::to_value(record).map_err(nml_core::CoreError::from)?;
    let weights = dir.join("head.safetensors");
    nml_models::checkpoint::save(&weights, &tensors, &description)
        .map_err(|e| TuneError::Invalid(e.to_string()))?;
    let mut record = record.clone();
    record.format = FORMAT.to_owned();
    record.weights_hash = Some(nml_core::hash_file(&weights)?.to_hex());
    nml_core::write_json_atomic(dir.join("head.json"), &record)?;
    Ok(())
}

/// Reads a head folder: its record, and the head with its weights (eval mode).
pub fn load(dir: &Path, device: Device) -> Result<(HeadRecord, nn::VarStore, Head)> {
    let json = dir.join("head.json");
    let text = std::fs::read_to_string(&json)
        .map_err(|e| TuneError::Invalid(format!("{}: cannot read: {e}", json.display())))?;
    let record: HeadRecord = serde_json::from_str(&text)
        .map_err(|e| TuneError::Invalid(format!("{}: not a head record: {e}", json.display())))?;
    if record.format != FORMAT && record.format != FORMAT_UNPINNED {
        return Err(TuneError::Invalid(format!(
            "{}: format `{}`, expected {FORMAT}",
            json.display(),
            record.format
        )));
    }
    if record.class_names.len() < 2 || record.dim == 0 {
        return Err(TuneError::Invalid(format!(
            "{}: {} classes and dimension {}; a head has at least 2 classes and 1 dimension",
            json.display(),
            record.class_names.len(),
            record.dim
        )));
    }
    let mut vs = nn::VarStore::new(device);
    let head = Head::new(
        &vs.root(),
        record.method,
        record.dim as i64,
        record.class_names.len() as i64,
        record.residual,
        record.config.scale_init,
    );
    let weights = dir.join("head.safetensors");
    check_pinned(&record, &json, &weights)?;
    let (tensors, _) =
        nml_models::checkpoint::read(&weights).map_err(|e| TuneError::Invalid(e.to_string()))?;
    nml_models::checkpoint::load_into(&vs, &tensors, &weights)
        .map_err(|e| TuneError::Invalid(e.to_string()))?;
    check_weights(&tensors, &weights)?;
    vs.freeze();
    Ok((record, vs, head))
}

/// The weights file must be the one the record was written with.
fn check_pinned(record: &HeadRecord, json: &Path, weights: &Path) -> Result<()> {
    let Some(pinned) = &record.weights_hash else {
        if record.format == FORMAT {
            return Err(TuneError::Invalid(format!(
                "{}: no `weights_hash`; a {FORMAT} record pins its weights",
                json.display()
            )));
        }
        tracing::warn!(head = %json.display(), "a {FORMAT_UNPINNED} head: its weights are not pinned by a hash");
        return Ok(());
    };
    let actual = nml_core::hash_file(weights)?.to_hex();
    if actual != *pinned {
        return Err(TuneError::Invalid(format!(
            "{}: not the weights {} was written with (blake3 {} against {}); copy the head folder whole",
            weights.display(),
            json.display(),
            &actual[..12],
            &pinned[..pinned.len().min(12)]
        )));
    }
    Ok(())
}

/// Every weight finite and every BatchNorm running variance positive, or the
/// error names the tensor: such a head would predict NaN for every row.
fn check_weights(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    for (name, t) in tensors {
        if !t.is_floating_point() {
            continue;
        }
        if t.isfinite().all().int64_value(&[]) == 0 {
            return Err(TuneError::Invalid(format!(
                "{}: `{name}` holds a value that is not finite",
                path.display()
            )));
        }
        if name.ends_with("running_var") && t.le(0.0).any().int64_value(&[]) != 0 {
            return Err(TuneError::Invalid(format!(
                "{}: `{name}` holds a variance that is not positive",
                path.display()
            )));
        }
    }
    Ok(())
}

/// One head applied to `n` rows of `dim` features.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    pub predicted: Vec<i64>,
    /// Row-major `[n, classes]` softmax probabilities.
    pub probabilities: Vec<f32>,
    /// Row-major `[n, dim]` tuned features z.
    pub tuned: Vec<f32>,
}

/// The head's predictions on `features` (`[n, dim]`, row-major, finite), in eval mode.
pub fn predict(head: &Head, features: &[f32], dim: usize, device: Device) -> Result<Predictions> {
    if let Some(at) = features.iter().position(|v| !v.is_finite()) {
        return Err(TuneError::Invalid(format!(
            "row {}, value {}: {} (features must be finite)",
            at / dim,
            at % dim,
            features[at]
        )));
    }
    let _guard = tch::no_grad_guard();
    let n = features.len() / dim;
    let f = Tensor::from_slice(features)
        .reshape([n as i64, dim as i64])
        .to_device(device);
    let z = head.tuned(&f, false);
    let p = head.logits(&z).softmax(-1, Kind::Float);
    let host = |t: &Tensor| -> Vec<f32> {
        let t = t.to_device(Device::Cpu).contiguous().view([-1]);
        Vec::<f32>::try_from(&t).unwrap_or_default()
    };
    Ok(Predictions {
        predicted: Vec::<i64>::try_from(&p.argmax(-1, false).to_device(Device::Cpu))
            .unwrap_or_default(),
        probabilities: host(&p),
        tuned: host(&z),
    })
}

/// Writes `predictions` of the rows `index` (and `split`) as Parquet at `path`:
/// `index`, `split`, `predicted` (class id), `predicted_name`, `probabilities`
/// (fixed_size_list<float32, C>) and, with `tuned`, `z` (fixed_size_list<float32, D>).
pub fn write_predictions(
    path: &Path,
    index: &[i64],
    split: &[String],
    record: &HeadRecord,
    predictions: &Predictions,
    tuned: bool,
) -> Result<()> {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field};
    use arrow::record_batch::RecordBatch;

    let list = |values: &[f32], width: usize| -> ArrayRef {
        Arc::new(FixedSizeListArray::new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            width as i32,
            Arc::new(Float32Array::from(values.to_vec())),
            None,
        ))
    };
    let names: Vec<&str> = predictions
        .predicted
        .iter()
        .map(|&c| record.class_names[c as usize].as_str())
        .collect();
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("index", Arc::new(Int64Array::from(index.to_vec()))),
        ("split", Arc::new(StringArray::from_iter_values(split))),
        (
            "predicted",
            Arc::new(Int64Array::from(predictions.predicted.clone())),
        ),
        ("predicted_name", Arc::new(StringArray::from(names))),
        (
            "probabilities",
            list(&predictions.probabilities, record.class_names.len()),
        ),
    ];
    if tuned {
        columns.push(("z", list(&predictions.tuned, record.dim)));
    }
    let batch = RecordBatch::try_from_iter(columns)
        .map_err(|e| TuneError::Invalid(format!("{}: {e}", path.display())))?;
    let mut file = nml_core::AtomicFile::create(path)?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut file, batch.schema(), None)
        .map_err(|e| TuneError::Invalid(format!("{}: {e}", path.display())))?;
    writer
        .write(&batch)
        .and_then(|_| writer.close().map(|_| ()))
        .map_err(|e| TuneError::Invalid(format!("{}: {e}", path.display())))?;
    file.commit()?;
    Ok(())
}
