//! A run's identity and place: its input files and output folder, its key
//! (namespace, config, manifests' hashes), whether it is finished already,
//! and its `config.json`.

use std::path::{Path, PathBuf};

use nml_core::ContentHash;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::{PretrainError, Result};

/// Input files and where results go.
#[derive(Debug, Clone)]
pub struct RunPaths {
    pub train: PathBuf,
    /// Test manifest; default: the train manifest's `test_split` rows.
    pub test: Option<PathBuf>,
    pub out: PathBuf,
}

/// A run that is not finished yet: its key, its data and where it writes.
pub(crate) struct Run {
    pub key: String,
    pub paths: RunPaths,
    pub train_hash: ContentHash,
    pub test_path: PathBuf,
    pub test_hash: ContentHash,
    pub resume: Option<PathBuf>,
    pub device: Device,
}

/// A run's starting point: finished already, or to be trained.
pub(crate) enum Start<I> {
    Finished(I),
    Todo(Box<Run>),
}

/// Keys the run (namespace, config, manifests' hashes) and finds it finished
/// when `out/model.json` has that key and `model.safetensors` and every file
/// of `also` exist; refuses a resume checkpoint when `resume` is off.
pub(crate) fn start<I: DeserializeOwned>(
    namespace: &str,
    config: &impl Serialize,
    paths: &RunPaths,
    also: &[&str],
    key_of: impl Fn(&I) -> String,
    device: Device,
    resume: bool,
) -> Result<Start<I>> {
    nml_torch::configure_threads(None);
    let train_hash = nml_core::hash_file(&paths.train)?;
    let test_path = paths.test.clone().unwrap_or_else(|| paths.train.clone());
    let test_hash = nml_core::hash_file(&test_path)?;
    let key = keyed(namespace, config, train_hash, test_hash)?;
    if let Some(info) = finished_run(&paths.out, &key, key_of, also) {
        return Ok(Start::Finished(info));
    }
    let resume_path = resume_path(&paths.out, resume)?;
    if resume && resume_path.exists() {
        check_resume_key(&resume_path, &key)?;
    }
    Ok(Start::Todo(Box::new(Run {
        key,
        paths: paths.clone(),
        train_hash,
        test_path,
        test_hash,
        resume: resume.then_some(resume_path),
        device,
    })))
}

/// `config.json` of a pre-training run, written before it trains: its
/// config (for contrastive runs also the objective and the vocabulary's
/// size) with the input files, their hashes, the run key and the code
/// version. One type for the writer and every reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord<C> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<nml_models::Objective>,
    pub config: C,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    pub train: String,
    pub train_hash: String,
    pub test: String,
    pub test_hash: String,
    pub key: String,
    pub code_version: String,
}

impl<C: DeserializeOwned> ConfigRecord<C> {
    /// Reads a run's `config.json`, naming the file in errors.
    pub fn read(path: &Path) -> Result<ConfigRecord<C>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PretrainError::Data(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            PretrainError::Data(format!(
                "{}: not an nml-pretrain config.json: {e}",
                path.display()
            ))
        })
    }
}

/// What an objective adds to its run's [`ConfigRecord`] beside the config.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ObjectiveFields {
    pub objective: Option<nml_models::Objective>,
    pub vocab_size: Option<usize>,
}

impl Run {
    /// Writes `config.json` ([`ConfigRecord`]).
    pub fn write_record<C: Serialize>(&self, config: &C, fields: ObjectiveFields) -> Result<()> {
        std::fs::create_dir_all(&self.paths.out)
            .map_err(|e| PretrainError::Data(format!("{}: {e}", self.paths.out.display())))?;
        let record = ConfigRecord {
            objective: fields.objective,
            config,
            vocab_size: fields.vocab_size,
            train: self.paths.train.display().to_string(),
            train_hash: self.train_hash.to_hex(),
            test: self.test_path.display().to_string(),
            test_hash: self.test_hash.to_hex(),
            key: self.key.clone(),
            code_version: nml_spec::code_version(),
        };
        nml_core::write_json_atomic(self.paths.out.join("config.json"), &record)?;
        Ok(())
    }

    pub(crate) fn resume_file(&self) -> PathBuf {
        self.paths.out.join("resume.safetensors")
    }
}

/// The `model.json` of a run already finished under `key` in `out` (with
/// `model.safetensors` and every file of `also`), if there is one.
fn finished_run<I: DeserializeOwned>(
    out: &Path,
    key: &str,
    key_of: impl Fn(&I) -> String,
    also: &[&str],
) -> Option<I> {
    let text = std::fs::read_to_string(out.join("model.json")).ok()?;
    let info: I = serde_json::from_str(&text).ok()?;
    let complete = std::iter::once("model.safetensors")
        .chain(also.iter().copied())
        .all(|f| out.join(f).exists());
    (key_of(&info) == key && complete).then(|| {
        tracing::info!(out = %out.display(), "already trained with this config and data; nothing to do");
        info
    })
}

/// `OUT/resume.safetensors`; refused when it exists and `resume` is off.
fn resume_path(out: &Path, resume: bool) -> Result<PathBuf> {
    let path = out.join("resume.safetensors");
    if path.exists() && !resume {
        return Err(PretrainError::Config(format!(
            "{} holds a checkpoint: pass --resume to continue it, or delete the folder to start over",
            out.display()
        )));
    }
    Ok(path)
}

/// Refuses a resume checkpoint made under another key before anything of
/// the run is written (its `config.json` included).
fn check_resume_key(path: &Path, key: &str) -> Result<()> {
    let description = nml_models::checkpoint::description(path)?;
    let saved = description.get("key").and_then(|k| k.as_str());
    if saved != Some(key) {
        return Err(PretrainError::Checkpoint(format!(
            "{} was made with another config or other data; delete the folder or rerun the original command",
            path.display()
        )));
    }
    Ok(())
}

/// A run's key in `namespace`: its config and the hashes of its manifests.
pub(crate) fn keyed(
    namespace: &str,
    config: &impl Serialize,
    train_hash: ContentHash,
    test_hash: ContentHash,
) -> Result<String> {
    Ok(nml_core::KeyBuilder::new(namespace)
        .json("config", config)?
        .hash("train", train_hash)
        .hash("test", test_hash)
        .finish()
        .to_hex())
}
