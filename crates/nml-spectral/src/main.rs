//! `nml-spectral`: singular value spectrum and its metrics for feature tables.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nml_core::logging::{self, Verbosity};
use nml_spectral::tables::{
    metrics_frame, output_paths, spectrum_frame, wide_frame, write_parquet, write_wide_csv,
};
use nml_spectral::{analyse, Center, Method, Normalize, Selection, SpectralConfig};

/// Singular value spectrum of feature tables and its metrics: SVE (entropy of
/// σ_i/Σσ), LSVR (σ₁/Σσ) and its log, top-1/5/10 shares and effective rank.
///
/// Defaults follow the official code: the test split, rows L2-normalised, then
/// each row's own mean subtracted (--center row). --center column gives the
/// PCA convention. Several tables give one tidy table (a row per table and
/// metric) in OUT/metrics.parquet, the spectra in OUT/spectrum.parquet, a wide
/// OUT/metrics.csv (a row per table), the options in OUT/spectral.json, and
/// OUT/spectrum.svg/.png: σ_i/Σσ against rank (log-log), one line per group of
/// tables (the part of --name before `/`, e.g. `n20` in `n20/task-0`), averaged.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Feature table(s) written by nml-features (or imported embeddings)
    #[arg(long = "features", required = true)]
    features: Vec<PathBuf>,
    /// A name per table (default: the file stem)
    #[arg(long = "name")]
    names: Vec<String>,
    /// Split to analyse, or `all`
    #[arg(long, default_value = "test")]
    split: String,
    /// Only rows of this domain
    #[arg(long)]
    domain: Option<String>,
    /// Row normalisation
    #[arg(long, value_enum, default_value = "l2")]
    normalize: Normalize,
    /// Centring after normalisation: row (official code), column (PCA) or none
    #[arg(long, value_enum, default_value = "row")]
    center: Center,
    /// auto: Gram eigenvalues when N >= 4D, else thin SVD
    #[arg(long, value_enum, default_value = "auto")]
    method: Method,
    /// Output folder for the Parquet tables (none: print only)
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(args))
}

fn run(a: Args) -> anyhow::Result<()> {
    if !a.names.is_empty() && a.names.len() != a.features.len() {
        anyhow::bail!(
            "{} --name values for {} --features tables",
            a.names.len(),
            a.features.len()
        );
    }
    if a.names.iter().any(|n| n.trim().is_empty()) {
        anyhow::bail!("--name: empty; give each table a name, or leave --name out");
    }
    for (flag, value) in [("--split", Some(&a.split)), ("--domain", a.domain.as_ref())] {
        if value.is_some_and(|v| v.trim().is_empty()) {
            anyhow::bail!("{flag}: empty; name a split or domain");
        }
    }
    let mut io = nml_core::guard::Io::new().inputs("--features", a.features.iter());
    if let Some(out) = &a.out {
        io = io.folder("--out", out);
        for file in output_paths(out) {
            io = io.output("--out", file);
        }
        for ext in ["png", "svg"] {
            io = io.output("--out", out.join("spectrum").with_extension(ext));
        }
    }
    io.check()?;
    let config = SpectralConfig {
        normalize: a.normalize,
        center: a.center,
        method: a.method,
    };
    let selection = Selection {
        split: (a.split != "all").then(|| a.split.clone()),
        domain: a.domain.clone(),
    };
    let mut analyses = Vec::new();
    for (i, path) in a.features.iter().enumerate() {
        let name = a.names.get(i).cloned().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        analyses.push(analyse(&name, path, &selection, &config)?);
    }
    print_table(&wide_frame(&analyses)?);
    if let Some(out) = &a.out {
        let [metrics, spectrum, csv, json] = output_paths(out);
        write_parquet(&mut metrics_frame(&analyses)?, &metrics)?;
        write_parquet(&mut spectrum_frame(&analyses)?, &spectrum)?;
        write_wide_csv(&analyses, &csv)?;
        let title =
            format!("feature spectrum ({}, {:?} centring)", a.split, a.center).to_lowercase();
        let groups = nml_spectral::group_spectra(&analyses);
        nml_plot::write_spectrum_plot(&groups, &out.join("spectrum"), &title)?;
        let record = serde_json::json!({
            "config": config,
            "selection": selection,
            "tables": analyses.iter().map(|x| serde_json::json!({"name": x.name, "path": x.path, "rows": x.rows, "dim": x.dim})).collect::<Vec<_>>(),
        });
        nml_core::write_json_atomic(json, &record)?;
        tracing::info!(out = %out.display(), "spectral tables written");
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // the table is this binary's output
fn print_table(frame: &polars::prelude::DataFrame) {
    println!("{frame}");
}
