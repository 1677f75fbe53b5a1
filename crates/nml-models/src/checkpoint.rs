//! Checkpoints as safetensors: final weights under the reference
//! implementation's names (with a JSON description beside them), and a resume
//! file holding weights, momentum buffers and the loop's position.
//! Every write is atomic; every load checks names, shapes and architecture.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::{ModelError, Result};

/// Metadata key (in the safetensors header) holding the writer's JSON description.
pub const META_KEY: &str = "nml";

/// A tensor copied to host memory, ready for safetensors.
struct HostTensor {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &HostTensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn to_host(t: &Tensor) -> HostTensor {
    let t = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    let numel = t.numel();
    let mut bytes = vec![0u8; numel * 4];
    t.copy_data_u8(&mut bytes, numel);
    HostTensor {
        shape: t.size().iter().map(|&d| d as usize).collect(),
        bytes,
    }
}

/// Writes named tensors (as float32) and a JSON description to `path` atomically.
pub fn save(
    path: &Path,
    tensors: &[(String, Tensor)],
    description: &serde_json::Value,
) -> Result<()> {
    let host: Vec<(String, HostTensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), to_host(t)))
        .collect();
    let views: Vec<(&str, &HostTensor)> = host.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let metadata: HashMap<String, String> = [(META_KEY.to_owned(), description.to_string())].into();
    let bytes = safetensors::tensor::serialize(views, &Some(metadata)).map_err(|e| {
        ModelError::Checkpoint(format!("{}: cannot serialise: {e}", path.display()))
    })?;
    nml_core::write_atomic(path, &bytes)?;
    Ok(())
}

/// The JSON description of a safetensors file (`Null` when absent), without
/// decoding its tensors.
pub fn description(path: &Path) -> Result<serde_json::Value> {
    description_of(&read_bytes(path)?, path)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| ModelError::Checkpoint(format!("{}: cannot read: {e}", path.display())))
}

fn damaged(path: &Path, e: &dyn std::fmt::Display) -> ModelError {
    ModelError::Checkpoint(format!(
        "{}: not a valid safetensors file (truncated or damaged?): {e}",
        path.display()
    ))
}

/// The description in the header of `bytes` (read from `path`).
fn description_of(bytes: &[u8], path: &Path) -> Result<serde_json::Value> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| damaged(path, &e))?;
    header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .map(|s| serde_json::from_str(s))
        .transpose()
        .map_err(|e| damaged(path, &e))
        .map(|d| d.unwrap_or(serde_json::Value::Null))
}

/// The tensors and JSON description of a safetensors file (description `Null` when absent).
pub fn read(path: &Path) -> Result<(Vec<(String, Tensor)>, serde_json::Value)> {
    let bytes = read_bytes(path)?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| damaged(path, &e))?;
    let description = description_of(&bytes, path)?;
    let mut tensors = Vec::new();
    for (name, view) in st.tensors() {
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F64 => Kind::Double,
            Dtype::F16 => Kind::Half,
            Dtype::BF16 => Kind::BFloat16,
            Dtype::I64 => Kind::Int64,
            Dtype::U8 => Kind::Uint8,
            other => {
                return Err(ModelError::Checkpoint(format!(
                    "{}: tensor `{name}` has unsupported dtype {other:?}",
                    path.display()
                )))
            }
        };
        tensors.push((name, Tensor::from_data_size(view.data(), &shape, kind)));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((tensors, description))
}

/// Copies `tensors` into the variables of `vs`, requiring an exact match of
/// names and shapes (BatchNorm's `num_batches_tracked`, which tch does not
/// keep, is ignored).
pub fn load_into(vs: &VarStore, tensors: &[(String, Tensor)], source: &Path) -> Result<()> {
    let variables = vs.variables();
    let given: HashMap<&str, &Tensor> = tensors
        .iter()
        .filter(|(n, _)| !n.ends_with("num_batches_tracked"))
        .map(|(n, t)| (n.as_str(), t))
        .collect();
    let mut missing: Vec<&str> = variables
        .keys()
        .map(String::as_str)
        .filter(|n| !given.contains_key(n))
        .collect();
    let mut unexpected: Vec<&str> = given
        .keys()
        .copied()
        .filter(|n| !variables.contains_key(*n))
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        missing.sort_unstable();
        unexpected.sort_unstable();
        let show = |v: &[&str]| {
            if v.len() > 6 {
                format!("{} … ({} in all)", v[..6].join(", "), v.len())
            } else {
                v.join(", ")
            }
        };
        return Err(ModelError::Checkpoint(format!(
            "{}: does not fit this architecture: missing [{}], unexpected [{}]",
            source.display(),
            show(&missing),
            show(&unexpected)
        )));
    }
    tch::no_grad(|| {
        let mut sorted: Vec<(&String, &Tensor)> = variables.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (name, var) in sorted {
            let src = given[name.as_str()];
            if src.size() != var.size() {
                return Err(ModelError::Checkpoint(format!(
                    "{}: tensor `{name}` has shape {:?}, the model expects {:?}",
                    source.display(),
                    src.size(),
                    var.size()
                )));
            }
            let mut var = var.shallow_clone();
            var.f_copy_(&src.to_kind(var.kind())).map_err(|e| {
                ModelError::Checkpoint(format!("{}: `{name}`: {e}", source.display()))
            })?;
        }
        Ok(())
    })
}

/// Loads a model checkpoint into `vs`, first checking the architecture its
/// description records (files without a description are checked by names and shapes only).
pub fn load_model(vs: &VarStore, path: &Path, arch: crate::Arch) -> Result<serde_json::Value> {
    let (tensors, description) = read(path)?;
    if let Some(recorded) = description.get("arch").and_then(|a| a.as_str()) {
        if recorded != arch.name() {
            return Err(ModelError::Checkpoint(format!(
                "{}: holds a `{recorded}` model, not a `{arch}`",
                path.display()
            )));
        }
    }
    load_into(vs, &tensors, path)?;
    Ok(description)
}

/// The variables of `vs` by name, sorted (deterministic file layout).
pub fn named_variables(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}
