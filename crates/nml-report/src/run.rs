//! `run.json`: the study's config, the index of the tables each step wrote
//! (paths relative to the output folder) and each step's wall time.

use std::path::Path;

use serde::Deserialize;

use crate::{ReportError, Result};

/// The whole of `run.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct RunInfo {
    pub format: String,
    pub benchmark: String,
    pub profile: String,
    pub seed: u64,
    pub seeds: Vec<u64>,
    pub ratios: Vec<u32>,
    pub tasks: Vec<String>,
    pub id_domain: String,
    pub ood_domains: Vec<String>,
    /// Eval names that count as in-domain besides `id_domain` (tasks without domains).
    #[serde(default)]
    pub id_evals: Vec<String>,
    pub arch: String,
    pub epochs: u32,
    pub ablation_ratio: u32,
    pub device: String,
    pub jobs: usize,
    pub git_commit: String,
    pub environment: String,
    pub tables: Vec<TableEntry>,
    pub steps: Vec<StepEntry>,
}

/// Where one part of the results lives.
#[derive(Debug, Clone, Deserialize)]
pub struct TableEntry {
    /// `noise`, `pretrain`, `spectral` or `tune`.
    pub kind: String,
    /// `supervised` (class labels; absent in older indexes) or `contrastive` (image–text pairs).
    #[serde(default = "supervised")]
    pub setting: String,
    /// `symmetric` (or empty) for the study's ratios; otherwise a real noise
    /// condition (e.g. `cifar10n-worse`) whose `ratio` is its nominal rate.
    #[serde(default)]
    pub noise: String,
    pub ratio: u32,
    pub seed: u64,
    pub task: String,
    pub variant: String,
    pub domain: String,
    pub path: String,
}

/// One step and its wall time (`None`: not finished when the report was made).
#[derive(Debug, Clone, Deserialize)]
pub struct StepEntry {
    pub name: String,
    pub stage: String,
    pub key: String,
    pub seconds: Option<f64>,
}

fn supervised() -> String {
    "supervised".to_owned()
}

impl TableEntry {
    /// Whether this entry belongs to a real noise condition rather than the ratios.
    pub fn is_real_noise(&self) -> bool {
        is_real_noise(&self.noise)
    }
}

/// Whether `noise` names a real noise condition (not empty, not `symmetric`).
pub fn is_real_noise(noise: &str) -> bool {
    !noise.is_empty() && noise != "symmetric"
}

impl RunInfo {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<RunInfo> {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
            path: path.to_owned(),
            source,
        })?;
        let info: RunInfo = serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: path.to_owned(),
            source,
        })?;
        if info.format != "nml-run/1" {
            return Err(ReportError::Invalid(format!(
                "{}: format `{}`, expected nml-run/1",
                path.display(),
                info.format
            )));
        }
        if info.seeds.is_empty() || info.ratios.is_empty() || info.tasks.is_empty() {
            return Err(ReportError::Invalid(format!(
                "{}: no seeds, ratios or tasks",
                path.display()
            )));
        }
        Ok(info)
    }

    /// The tables of one kind.
    pub fn tables<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a TableEntry> + 'a {
        self.tables.iter().filter(move |t| t.kind == kind)
    }

    /// `ID` for the in-domain domain, `OOD` for the others.
    pub fn split_of(&self, domain: &str) -> &'static str {
        if domain == self.id_domain || self.id_evals.iter().any(|e| e == domain) {
            "ID"
        } else {
            "OOD"
        }
    }
}
