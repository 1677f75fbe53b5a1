//! Many feature tables in, one tidy table out: a row per (table, metric) and
//! a row per (table, singular value), as polars DataFrames written to Parquet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nml_core::FeatureTable;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::spectrum::{singular_values, Metrics, SpectralConfig};
use crate::{Result, SpectralError};

/// Which rows of a feature table are analysed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Only this split (`None`: every row).
    pub split: Option<String>,
    /// Only this domain (`None`: every row).
    pub domain: Option<String>,
}

/// The result for one feature table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub name: String,
    pub path: String,
    pub rows: usize,
    pub dim: usize,
    pub sigma: Vec<f64>,
    pub metrics: Metrics,
}

/// Reads `path`, selects rows and computes its spectrum.
pub fn analyse(
    name: &str,
    path: &Path,
    selection: &Selection,
    config: &SpectralConfig,
) -> Result<Analysis> {
    // The spectrum is of the eval-transform features; augmented views are for tuning.
    let table = FeatureTable::read(path)?.eval_view();
    let rows = table.rows_where(selection.split.as_deref(), selection.domain.as_deref());
    if rows.len() < 2 {
        return Err(SpectralError::Invalid(format!(
            "{}: {} rows match split `{}` and domain `{}`; a spectrum needs at least 2",
            path.display(),
            rows.len(),
            selection.split.as_deref().unwrap_or("all"),
            selection.domain.as_deref().unwrap_or("any")
        )));
    }
    let features = table.select(&rows).features;
    let sigma = singular_values(&features, rows.len(), table.dim, config);
    // The scale the preprocessed matrix would have: √N unit rows, or the raw norm.
    let scale = match config.normalize {
        crate::Normalize::L2 => (rows.len() as f64).sqrt(),
        crate::Normalize::None => features
            .iter()
            .map(|&v| f64::from(v).powi(2))
            .sum::<f64>()
            .sqrt(),
    };
    if !sigma
        .first()
        .is_some_and(|&s| s.is_finite() && s > 1e-9 * scale)
    {
        return Err(SpectralError::Invalid(format!(
            "{}: the features have no spectrum to measure: after {} normalisation and {} centring every row is zero \
             (all-zero rows, or constant rows under row centring), so SVE and LSVR are undefined",
            path.display(),
            flag_name(config.normalize),
            flag_name(config.center)
        )));
    }
    let metrics = Metrics::from_singular_values(&sigma);
    Ok(Analysis {
        name: name.to_owned(),
        path: path.display().to_string(),
        rows: rows.len(),
        dim: table.dim,
        sigma,
        metrics,
    })
}

/// The command-line spelling of a setting.
fn flag_name(value: impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

/// Mean share per rank for each group, in name order.
pub fn group_spectra(analyses: &[Analysis]) -> Vec<(String, Vec<f64>)> {
    let mut groups: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for a in analyses {
        let group = a.name.split('/').next().unwrap_or(&a.name).to_owned();
        let total: f64 = a.sigma.iter().sum();
        let shares = a
            .sigma
            .iter()
            .map(|s| if total > 0.0 { s / total } else { 0.0 })
            .collect();
        groups.entry(group).or_default().push(shares);
    }
    groups
        .into_iter()
        .map(|(name, members)| {
            let r = members.iter().map(Vec::len).min().unwrap_or(0);
            let mean = (0..r)
                .map(|i| members.iter().map(|m| m[i]).sum::<f64>() / members.len() as f64)
                .collect();
            (name, mean)
        })
        .collect()
}

/// The tidy metrics table: `table, rows, dim, metric, value`.
pub fn metrics_frame(analyses: &[Analysis]) -> Result<DataFrame> {
    let mut table = Vec::new();
    let mut rows = Vec::new();
    let mut dim = Vec::new();
    let mut metric = Vec::new();
    let mut value = Vec::new();
    for a in analyses {
        for (name, v) in a.metrics.named() {
            table.push(a.name.clone());
            rows.push(a.rows as i64);
            dim.push(a.dim as i64);
            metric.push(name.to_owned());
            value.push(v);
        }
    }
    Ok(df!("table" => table, "rows" => rows, "dim" => dim, "metric" => metric, "value" => value)?)
}

/// The spectra: `table, rank (1-based), sigma, share (σ_i / Σσ)`.
pub fn spectrum_frame(analyses: &[Analysis]) -> Result<DataFrame> {
    let mut table = Vec::new();
    let mut rank = Vec::new();
    let mut sigma = Vec::new();
    let mut share = Vec::new();
    for a in analyses {
        let total: f64 = a.sigma.iter().sum();
        for (i, s) in a.sigma.iter().enumerate() {
            table.push(a.name.clone());
            rank.push(i as i64 + 1);
            sigma.push(*s);
            share.push(if total > 0.0 { s / total } else { 0.0 });
        }
    }
    Ok(df!("table" => table, "rank" => rank, "sigma" => sigma, "share" => share)?)
}

/// The metrics with one column per metric, for printing.
pub fn wide_frame(analyses: &[Analysis]) -> Result<DataFrame> {
    let mut columns: Vec<Column> = vec![
        Column::new(
            "table".into(),
            analyses.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "rows".into(),
            analyses.iter().map(|a| a.rows as i64).collect::<Vec<_>>(),
        ),
    ];
    if let Some(first) = analyses.first() {
        for (k, (name, _)) in first.metrics.named().iter().enumerate() {
            let values: Vec<f64> = analyses.iter().map(|a| a.metrics.named()[k].1).collect();
            columns.push(Column::new((*name).into(), values));
        }
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

/// Writes `frame` as Parquet to `path` atomically.
pub fn write_parquet(frame: &mut DataFrame, path: &Path) -> Result<()> {
    let mut file = nml_core::AtomicFile::create(path)?;
    ParquetWriter::new(&mut file).finish(frame)?;
    file.commit()?;
    Ok(())
}

/// The wide metrics (a row per table, a column per metric) as CSV, for reports and shell tools.
pub fn write_wide_csv(analyses: &[Analysis], path: &Path) -> Result<()> {
    let mut csv = String::from("table,rows,dim");
    if let Some(first) = analyses.first() {
        for (name, _) in first.metrics.named() {
            csv.push(',');
            csv.push_str(name);
        }
    }
    csv.push('\n');
    for a in analyses {
        csv.push_str(&format!(
            "{},{},{}",
            a.name.replace(',', ";"),
            a.rows,
            a.dim
        ));
        for (_, v) in a.metrics.named() {
            csv.push_str(&format!(",{v}"));
        }
        csv.push('\n');
    }
    nml_core::write_atomic(path, csv.as_bytes())?;
    Ok(())
}

/// Where the outputs of one call go: tidy metrics, spectra, wide CSV, options.
pub fn output_paths(out: &Path) -> [PathBuf; 4] {
    [
        "metrics.parquet",
        "spectrum.parquet",
        "metrics.csv",
        "spectral.json",
    ]
    .map(|f| out.join(f))
}

/// `spectral.json`: the options of one call and the tables it read, written
/// by `nml-spectral --out` and read back with [`SpectralRecord::read`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectralRecord {
    pub config: SpectralConfig,
    pub selection: Selection,
    /// Each table's name, path and size (its metrics are in `metrics.parquet`).
    pub tables: Vec<TableRecord>,
    /// The code that wrote it ([`nml_spec::code_version`]; empty in older files).
    #[serde(default)]
    pub code_version: String,
}

/// One table a call read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRecord {
    pub name: String,
    pub path: String,
    pub rows: usize,
    pub dim: usize,
}

impl SpectralRecord {
    /// The record of `analyses` under `config` and `selection`, by this code.
    pub fn new(config: SpectralConfig, selection: Selection, analyses: &[Analysis]) -> Self {
        SpectralRecord {
            config,
            selection,
            tables: analyses
                .iter()
                .map(|a| TableRecord {
                    name: a.name.clone(),
                    path: a.path.clone(),
                    rows: a.rows,
                    dim: a.dim,
                })
                .collect(),
            code_version: nml_spec::code_version(),
        }
    }

    /// Reads `path` (a `spectral.json`).
    pub fn read(path: &Path) -> Result<SpectralRecord> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpectralError::Invalid(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| SpectralError::Invalid(format!("{}: {e}", path.display())))
    }
}
