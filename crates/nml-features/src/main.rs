//! `nml-features`: feature tables from a frozen backbone (cached) or from a black box.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nml_core::logging::{self, Verbosity};
use nml_core::DeviceSpec;
use nml_features::extract::{copy_out, Pretrained, IMAGENET};
use nml_features::{extract, import, ExtractRequest};
use nml_models::Arch;
use nml_models::Normalize;

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
        /// The checkpoint is a published weights file of this architecture
        /// (e.g. mobilenet-v2, resnet20, resnet56), not an nml-pretrain output
        #[arg(long)]
        arch: Option<Arch>,
        /// With --arch: input normalisation, `imagenet` or `M,M,M/S,S,S`
        #[arg(long, default_value = "imagenet")]
        normalize: String,
        /// With --arch: input side in pixels (default: the architecture's native one)
        #[arg(long)]
        input_size: Option<u32>,
    },
    /// Sentence embeddings of a manifest's `text` with a BERT encoder (e.g. all-MiniLM-L6-v2), cached
    Text {
        /// Model folder: config.json, tokenizer.json, model.safetensors (Hugging Face layout)
        #[arg(long)]
        model: PathBuf,
        /// Manifest with a `text` column
        #[arg(long)]
        manifest: PathBuf,
        /// Copy the feature table here too
        #[arg(long)]
        out: Option<PathBuf>,
        /// Cache folder
        #[arg(long, default_value = "data/cache/features")]
        cache: PathBuf,
        /// Comma-separated splits to encode (default: every row)
        #[arg(long)]
        splits: Option<String>,
        /// Texts per batch
        #[arg(long, default_value_t = 128)]
        batch_size: usize,
        /// Tokens per text; longer texts are truncated with a warning (sentence-transformers: 256)
        #[arg(long, default_value_t = 256)]
        max_length: usize,
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
            arch,
            normalize,
            input_size,
        } => {
            let pretrained = arch
                .map(|arch| -> anyhow::Result<Pretrained> {
                    Ok(Pretrained {
                        arch,
                        normalize: parse_normalize(&normalize)?,
                        input_size,
                    })
                })
                .transpose()?;
            let device = nml_torch::resolve_device(device)?;
            let splits = parse_splits(splits);
            let request = ExtractRequest {
                checkpoint,
                manifest,
                splits,
                batch_size,
                resize,
                cache,
                force,
                pretrained,
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
        Command::Text {
            model,
            manifest,
            out,
            cache,
            splits,
            batch_size,
            max_length,
            force,
            device,
        } => {
            let device = nml_torch::resolve_device(device)?;
            let request = nml_features::text::TextRequest {
                model,
                manifest,
                splits: parse_splits(splits),
                batch_size,
                max_length,
                cache,
                force,
            };
            let start = std::time::Instant::now();
            let path = nml_features::text::embed_manifest(&request, device)?;
            if let Some(out) = out {
                copy_out(&path, &out)?;
            }
            tracing::info!(path = %path.display(), seconds = format!("{:.1}", start.elapsed().as_secs_f64()), "sentence embeddings ready");
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

/// `train,test` as a list of split names (empty names dropped).
fn parse_splits(text: Option<String>) -> Option<Vec<String>> {
    text.map(|s| {
        s.split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect()
    })
}

/// `imagenet`, or `M,M,M/S,S,S`.
fn parse_normalize(text: &str) -> anyhow::Result<Normalize> {
    if text == "imagenet" {
        return Ok(IMAGENET);
    }
    let parse = |part: &str| -> anyhow::Result<[f64; 3]> {
        let v: Vec<f64> = part
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::format_err!("--normalize `{text}`: {e}"))?;
        <[f64; 3]>::try_from(v)
            .map_err(|_| anyhow::format_err!("--normalize `{text}`: expected 3 means / 3 stds"))
    };
    let (mean, std) = text.split_once('/').ok_or_else(|| {
        anyhow::format_err!("--normalize `{text}`: expected imagenet or M,M,M/S,S,S")
    })?;
    let normalize = Normalize {
        mean: parse(mean)?,
        std: parse(std)?,
    };
    anyhow::ensure!(
        normalize.std.iter().all(|s| *s > 0.0),
        "--normalize `{text}`: standard deviations must be positive"
    );
    Ok(normalize)
}
