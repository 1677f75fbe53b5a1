//! `nml-features`: feature tables from a frozen backbone (cached) or from a black box.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nml_core::logging::{self, Verbosity};
use nml_core::DeviceSpec;
use nml_features::extract::{copy_out, Pretrained};
use nml_features::{extract, import, Embedding, ExtractRequest, ViewRequest};
use nml_models::{Arch, Augment, AugmentKind};

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
    Extract(ExtractArgs),
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

/// `nml-features extract`.
#[derive(Debug, clap::Args)]
struct ExtractArgs {
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
    /// With --arch: input normalisation, `imagenet` (default) or `M,M,M/S,S,S`
    #[arg(long, requires = "arch")]
    normalize: Option<String>,
    /// With --arch: input side in pixels (default: the architecture's native one)
    #[arg(long, requires = "arch")]
    input_size: Option<u32>,
    #[command(flatten)]
    views: ViewArgs,
    /// Which vector is the feature: projection (a contrastive tower's
    /// image embedding, CLIP's encode_image; the default for contrastive
    /// backbones) or pooled (the vector before the head; the default otherwise)
    #[arg(long)]
    embedding: Option<Embedding>,
}

/// Augmented views cached beside the eval view, for two-view tuning.
#[derive(Debug, clap::Args)]
struct ViewArgs {
    /// Augmented views per image besides the eval view (rows with `view` 1..K)
    #[arg(long, default_value_t = 0)]
    views: u32,
    /// Train transform of the views: rrc (RandomResizedCrop 0.8-1.0, bicubic,
    /// horizontal flip; the official timm recipe) or rrc-noflip (open_clip's, scale 0.9-1.0)
    #[arg(long)]
    augment: Option<AugmentKind>,
    /// Crop area range LO,HI (default: 0.8,1.0 for rrc, 0.9,1.0 for rrc-noflip)
    #[arg(long)]
    augment_scale: Option<String>,
    /// Seed of the view generators (a view is a function of seed, image and view number)
    #[arg(long, default_value_t = 0)]
    view_seed: u64,
    /// Only rows of this split get views (the rows heads train on; default: every row)
    #[arg(long)]
    view_split: Option<String>,
    /// Only rows of this domain get views (default: every domain)
    #[arg(long)]
    view_domain: Option<String>,
}

impl ViewArgs {
    fn request(&self) -> anyhow::Result<ViewRequest> {
        let kind = self.augment.unwrap_or(AugmentKind::Rrc);
        let augment = match &self.augment_scale {
            Some(text) => Augment::new(kind)
                .parse_scale(text)
                .map_err(|e| anyhow::format_err!("--augment-scale: {e}"))?,
            None => Augment::new(kind),
        };
        for (flag, value) in [
            ("--view-split", &self.view_split),
            ("--view-domain", &self.view_domain),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                anyhow::bail!("{flag}: empty; name a split or domain, or leave the flag out");
            }
        }
        let options = self.augment.is_some()
            || self.augment_scale.is_some()
            || self.view_split.is_some()
            || self.view_domain.is_some();
        if options && self.views == 0 {
            anyhow::bail!(
                "--augment, --augment-scale, --view-split and --view-domain need --views K (K > 0)"
            );
        }
        Ok(ViewRequest {
            count: self.views,
            augment,
            seed: self.view_seed,
            split: self.view_split.clone(),
            domain: self.view_domain.clone(),
        })
    }
}

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(args.command))
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Extract(args) => extract_command(args)?,
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
            let splits = parse_splits("--splits", splits)?;
            let mut io = nml_core::guard::Io::new()
                .input("--model", &model)
                .input("--manifest", &manifest)
                .folder("--cache", &cache);
            for file in ["config.json", "tokenizer.json", "model.safetensors"] {
                io = io.input("--model", model.join(file));
            }
            io.output_opt("--out", out.as_ref()).check()?;
            let device = nml_torch::resolve_device(device)?;
            let request = nml_features::text::TextRequest {
                model,
                manifest,
                splits,
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
            if split.as_deref().is_some_and(|s| s.trim().is_empty()) {
                anyhow::bail!("--split: empty; name the manifest split the array holds");
            }
            nml_core::guard::Io::new()
                .input("--embeddings", &embeddings)
                .input("--manifest", &manifest)
                .output("--out", &out)
                .check()?;
            let table = import(&embeddings, &manifest, &column, split.as_deref())?;
            table.write(&out)?;
            tracing::info!(out = %out.display(), rows = table.len(), dim = table.dim, "embeddings imported");
        }
    }
    Ok(())
}

/// `nml-features extract`: validate the flags, extract (or hit the cache), copy out.
fn extract_command(a: ExtractArgs) -> anyhow::Result<()> {
    let ExtractArgs {
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
        views,
        embedding,
    } = a;
    let views = views.request()?;
    let pretrained = arch
        .map(|arch| -> anyhow::Result<Pretrained> {
            Ok(Pretrained {
                arch,
                normalize: nml_features::backbone::parse_normalize(
                    normalize.as_deref().unwrap_or("imagenet"),
                )?,
                input_size,
            })
        })
        .transpose()?;
    let splits = parse_splits("--splits", splits)?;
    nml_core::guard::Io::new()
        .inputs(
            "--checkpoint",
            nml_features::backbone::checkpoint_files(&checkpoint),
        )
        .input("--manifest", &manifest)
        .folder("--cache", &cache)
        .output_opt("--out", out.as_ref())
        .check()?;
    let device = nml_torch::resolve_device(device)?;
    let request = ExtractRequest {
        checkpoint,
        manifest,
        splits,
        batch_size,
        resize,
        cache,
        force,
        pretrained,
        embedding,
        views,
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
    Ok(())
}

/// `train,test` as a list of split names; an empty list or name is refused
/// (it would otherwise read as "every split").
fn parse_splits(flag: &str, text: Option<String>) -> anyhow::Result<Option<Vec<String>>> {
    let Some(text) = text else {
        return Ok(None);
    };
    let names: Vec<String> = text.split(',').map(|x| x.trim().to_owned()).collect();
    if names.iter().any(String::is_empty) {
        anyhow::bail!("{flag} `{text}`: an empty split name; list splits as train,test or leave the flag out for every row");
    }
    Ok(Some(names))
}
