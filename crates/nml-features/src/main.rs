//! `nml-features`: feature tables from a frozen backbone (cached) or from a black box.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nml_core::logging::{self, Verbosity};
use nml_core::DeviceSpec;
use nml_features::extract::copy_out;
use nml_features::{extract, import, ExtractRequest};

/// Feature tables from a frozen backbone (cached) or from a black box.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: Verbosity,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a checkpoint over a manifest (eval mode, no grad) into a cached feature table
    Extract {
        /// nml-pretrain output folder (or its model.safetensors)
        #[arg(long)]
        checkpoint: PathBuf,
        /// Manifest whose images to encode
        #[arg(long)]
        manifest: PathBuf,
        /// Copy the feature table here too
        #[arg(long)]
        out: Option<PathBuf>,
        /// Cache folder (entries keyed by checkpoint bytes, manifest bytes and preprocessing)
        #[arg(long, default_value = "data/cache/features")]
        cache: PathBuf,
        /// Comma-separated splits to encode (default: every row)
        #[arg(long)]
        splits: Option<String>,
        /// Images per batch
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
        /// Resize images whose size differs from the model's input
        #[arg(long)]
        resize: bool,
        /// Recompute even when the cache has the entry
        #[arg(long)]
        force: bool,
        /// Device: auto, cpu, cuda or cuda:N
        #[arg(long, default_value = "auto")]
        device: DeviceSpec,
    },
    /// Validate external embeddings (Parquet vector column, or .npy) and label them from a manifest
    Import {
        /// Parquet with `index` (+ `split`) and a vector column, or an N×D .npy
        #[arg(long)]
        embeddings: PathBuf,
        /// Manifest the embeddings belong to
        #[arg(long)]
        manifest: PathBuf,
        /// Output feature table
        #[arg(long)]
        out: PathBuf,
        /// Vector column of a Parquet input
        #[arg(long, default_value = "feature")]
        column: String,
        /// For .npy: the manifest split whose rows (in order) the array holds (default: every row)
        #[arg(long)]
        split: Option<String>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.verbosity);
    logging::exit_code(run(args.command))
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Extract {
            checkpoint,
            manifest,
            out,
            cache,
            splits,
            batch_size,
            resize,
            force,
            device,
        } => {
            let device = nml_torch::resolve_device(device)?;
            let splits = splits.map(|s| {
                s.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            });
            let request = ExtractRequest {
                checkpoint,
                manifest,
                splits,
                batch_size,
                resize,
                cache,
                force,
            };
            let start = std::time::Instant::now();
            let outcome = extract(&request, device)?;
            if let Some(out) = out {
                copy_out(&outcome.path, &out)?;
            }
            let seconds = start.elapsed().as_secs_f64();
            tracing::info!(
                path = %outcome.path.display(),
                cache_hit = outcome.cache_hit,
                rows = outcome.rows,
                dim = outcome.dim,
                images_per_second = format!("{:.0}", outcome.images as f64 / seconds.max(1e-9)),
                "features ready"
            );
        }
        Command::Import {
            embeddings,
            manifest,
            out,
            column,
            split,
        } => {
            let table = import(&embeddings, &manifest, &column, split.as_deref())?;
            table.write(&out)?;
            tracing::info!(out = %out.display(), rows = table.len(), dim = table.dim, "embeddings imported");
        }
    }
    Ok(())
}
