//! `nml-spectral`: singular value spectrum and its metrics for feature tables.

use std::process::ExitCode;

use nml_core::logging;
use nml_spec::SpectralArgs as Args;
use nml_spectral::tables::{
    metrics_frame, output_paths, spectrum_frame, wide_frame, write_parquet, write_wide_csv,
};
use nml_spectral::{analyse, Selection, SpectralConfig, SpectralRecord};

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(args))
}

fn run(a: Args) -> anyhow::Result<()> {
    if let Some(n) = a.threads.filter(|&n| n > 0) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build_global()
            .map_err(|e| anyhow::format_err!("--threads {n}: {e}"))?;
    }
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
        let record = SpectralRecord::new(config, selection, &analyses);
        nml_core::write_json_atomic(json, &record)?;
        tracing::info!(out = %out.display(), "spectral tables written");
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // the table is this binary's output
fn print_table(frame: &polars::prelude::DataFrame) {
    println!("{frame}");
}
