//! The study's two records, one type each for their writer (xtask) and their
//! reader (xtask again for `reproduce.json`, `nml-report` for `run.json`).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::plan::Plan;
use crate::types::{Benchmark, Noise, Profile, Repeat, Setting, Split, Stage, TableKind, Variant};
use crate::{Result, StudyError};

/// Format tag of `reproduce.json`.
pub const IDENTITY_FORMAT: &str = "nml-reproduce/1";
/// Format tag of `run.json`.
pub const RUN_FORMAT: &str = "nml-run/1";

/// `reproduce.json`: what makes an output folder's results comparable;
/// another value is another study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub format: String,
    pub benchmark: Benchmark,
    pub profile: Profile,
    pub seed: u64,
    /// The real benchmark's data folder (empty for `synth`).
    pub data_dir: String,
}

impl Identity {
    pub fn new(benchmark: Benchmark, profile: Profile, seed: u64, data_dir: String) -> Identity {
        Identity {
            format: IDENTITY_FORMAT.to_owned(),
            benchmark,
            profile,
            seed,
            data_dir,
        }
    }
}

/// The study's shape as the report needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub tasks: Vec<String>,
    pub id_domain: String,
    pub ood_domains: Vec<String>,
    /// Eval names that count as in-domain besides `id_domain` (tasks without domains).
    #[serde(default)]
    pub id_evals: Vec<String>,
    /// Eval names of tasks that re-probe the pre-training images with clean labels
    /// (split `re-probe`: not transfer, neither ID nor OOD, read by no claim).
    #[serde(default)]
    pub reprobe_evals: Vec<String>,
    pub arch: String,
    pub epochs: u32,
    pub ratios: Vec<u32>,
    pub ablation_ratio: u32,
    /// Augmented views cached per image for two-view MLP and NMTune heads
    /// (0: every head trains on the eval view; absent in older records).
    #[serde(default)]
    pub views: u32,
}

/// Where the study ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub device: String,
    /// `--precision` as the study passed it to its steps (float32 in records made before it existed).
    #[serde(default)]
    pub precision: nml_spec::Precision,
    pub jobs: usize,
    pub git_commit: String,
    /// `nml-doctor`'s description of the machine and libtorch.
    pub environment: String,
}

/// `run.json`: the study's config, the index of the tables each step wrote
/// (paths relative to the output folder) and each step's wall time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: String,
    pub benchmark: Benchmark,
    pub profile: Profile,
    pub seed: u64,
    pub seeds: Vec<u64>,
    #[serde(flatten)]
    pub shape: Shape,
    #[serde(flatten)]
    pub provenance: Provenance,
    pub tables: Vec<TableEntry>,
    pub steps: Vec<StepEntry>,
}

/// Where one part of the results lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    pub kind: TableKind,
    #[serde(default)]
    pub setting: Setting,
    /// The ratios' noise kind, or a real noise condition (e.g. `cifar10n-worse`)
    /// whose `ratio` is its nominal rate.
    #[serde(default)]
    pub noise: Noise,
    pub ratio: u32,
    pub seed: u64,
    /// The downstream task (tune tables; empty otherwise).
    #[serde(default)]
    pub task: String,
    /// The head (tune tables only).
    #[serde(default)]
    pub variant: Option<Variant>,
    /// The analysed domain or task (spectral tables; empty otherwise).
    #[serde(default)]
    pub domain: String,
    /// What a tune table's rows repeat: each head seed, or the backbone of `seed`.
    #[serde(default)]
    pub repeat: Repeat,
    /// Where each eval of a tune table sits for its task (ID or OOD), where the
    /// study's shape cannot say (a task per source domain): eval name → split.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub splits: std::collections::BTreeMap<String, Split>,
    pub path: String,
}

/// One step and its wall time (`None`: not finished when the record was written).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEntry {
    pub name: String,
    pub stage: Stage,
    pub key: String,
    pub seconds: Option<f64>,
}

impl RunRecord {
    /// The record of `plan` with each step's seconds so far (the report step left out).
    pub fn new(
        identity: &Identity,
        shape: Shape,
        provenance: Provenance,
        plan: &Plan,
        seconds: &[Option<f64>],
    ) -> RunRecord {
        let steps = plan
            .steps
            .iter()
            .zip(seconds)
            .filter(|(step, _)| step.stage != Stage::Report)
            .map(|(step, secs)| StepEntry {
                name: step.name.clone(),
                stage: step.stage,
                key: step.key.clone(),
                // Milliseconds are enough, and a rerun rewrites nothing that did not change.
                seconds: secs.map(|v| (v * 1000.0).round() / 1000.0),
            })
            .collect();
        RunRecord {
            format: RUN_FORMAT.to_owned(),
            benchmark: identity.benchmark,
            profile: identity.profile,
            seed: identity.seed,
            seeds: plan.seeds.clone(),
            shape,
            provenance,
            tables: plan.tables.clone(),
            steps,
        }
    }

    /// Reads and checks `path`: its format, and seeds, ratios and tasks present.
    pub fn read(path: &Path) -> Result<RunRecord> {
        let run: RunRecord = read_json(path)?;
        if run.format != RUN_FORMAT {
            return Err(StudyError::Invalid(format!(
                "{}: format `{}`, expected {RUN_FORMAT}",
                path.display(),
                run.format
            )));
        }
        if run.seeds.is_empty() || run.shape.ratios.is_empty() || run.shape.tasks.is_empty() {
            return Err(StudyError::Invalid(format!(
                "{}: no seeds, ratios or tasks",
                path.display()
            )));
        }
        Ok(run)
    }

    /// The record as written: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// The tables of one kind.
    pub fn tables(&self, kind: TableKind) -> impl Iterator<Item = &TableEntry> + '_ {
        self.tables.iter().filter(move |t| t.kind == kind)
    }

    /// `ID` for the in-domain domain (and tasks without domains), `re-probe` for
    /// tasks on the pre-training images, `OOD` for the others.
    pub fn split_of(&self, domain: &str) -> Split {
        let shape = &self.shape;
        if shape.reprobe_evals.iter().any(|e| e == domain) {
            Split::Reprobe
        } else if domain == shape.id_domain || shape.id_evals.iter().any(|e| e == domain) {
            Split::Id
        } else {
            Split::Ood
        }
    }
}

/// Pretty JSON with a final newline: how every record is written.
pub fn to_json(value: &impl Serialize) -> String {
    // Records hold only strings, numbers and lists: serialisation cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads a JSON record; errors name the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| StudyError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| StudyError::Json {
        path: path.to_owned(),
        source,
    })
}
