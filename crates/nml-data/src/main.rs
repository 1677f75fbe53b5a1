//! `nml-data`: generate the synthetic benchmark or import real datasets as nml manifests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use nml_core::logging::{self, Verbosity};
use nml_core::Manifest;
use nml_data::import::folder::FolderOptions;
use nml_data::synth::{self, Preset, SynthConfig};
use nml_data::{contact, import};

/// Generate the synthetic benchmark or import real datasets as nml manifests.
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
    /// Write the synthetic benchmark: a pre-training corpus and downstream tasks in four domains
    Synth(SynthArgs),
    /// Convert a real dataset into an nml manifest (with contact sheets beside it)
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Debug, clap::Args)]
struct SynthArgs {
    /// Size preset: smoke (seconds), quick (CPU), full (GPU)
    #[arg(long, value_enum, default_value = "quick")]
    preset: Preset,
    /// Output folder (manifests, benchmark.json, contact sheets)
    #[arg(long)]
    out: PathBuf,
    /// Seed: chooses the classes and every image
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Override the preset's image side in pixels
    #[arg(long)]
    image_size: Option<u32>,
    /// Override the preset's number of pre-training classes
    #[arg(long)]
    pretrain_classes: Option<usize>,
    /// Override the preset's pre-training images per class (train split)
    #[arg(long)]
    pretrain_train_per_class: Option<usize>,
    /// Override the preset's number of downstream tasks
    #[arg(long)]
    tasks: Option<usize>,
    /// Override the preset's classes per downstream task
    #[arg(long)]
    classes_per_task: Option<usize>,
    /// Override the preset's downstream images per class, domain and train split
    #[arg(long)]
    task_train_per_class: Option<usize>,
    /// Override the preset's downstream images per class, domain and test split
    #[arg(long)]
    task_test_per_class: Option<usize>,
    /// Override the preset's palettes per task: N palettes shared by the task's classes in turn
    #[arg(long, value_name = "N")]
    task_palettes: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// CIFAR-10 or CIFAR-100 in the official binary format (folder of .bin files)
    Cifar {
        /// Folder with data_batch_*.bin and test_batch.bin, or train.bin and test.bin
        #[arg(long)]
        dir: PathBuf,
        /// Output manifest
        #[arg(long)]
        out: PathBuf,
    },
    /// An ImageFolder tree: ROOT/<class>/*.png|jpg or ROOT/<domain>/<class>/*
    Folder {
        /// Root of the tree
        #[arg(long)]
        root: PathBuf,
        /// Output manifest
        #[arg(long)]
        out: PathBuf,
        /// Split of every row (unless --test-fraction)
        #[arg(long, default_value = "train")]
        split: String,
        /// Put this fraction of each (domain, class) group in `test`, the rest in `train`
        #[arg(long)]
        test_fraction: Option<f64>,
        /// Seed of the stratified split
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// A Parquet table in the shared/data layout (CIFAR-10 + CIFAR-10N, PACS, SST-2)
    Parquet {
        /// Input table
        #[arg(long)]
        input: PathBuf,
        /// Output manifest
        #[arg(long)]
        out: PathBuf,
        /// Keep at most N rows of each (split, domain, class), the first in table order
        #[arg(long, value_name = "N")]
        max_per_class: Option<usize>,
        /// Write a `text` caption per row from its class name, e.g. "a photo of a {}"
        /// (for contrastive pre-training; an existing `text` column is an error)
        #[arg(long, value_name = "TEMPLATE")]
        caption_template: Option<String>,
    },
}

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(args.command))
}

fn run(command: Command) -> anyhow::Result<()> {
    let start = Instant::now();
    match command {
        Command::Synth(a) => {
            let mut config = SynthConfig::preset(a.preset, a.seed);
            let overrides = [
                (a.pretrain_classes, &mut config.pretrain_classes),
                (
                    a.pretrain_train_per_class,
                    &mut config.pretrain_train_per_class,
                ),
                (a.tasks, &mut config.tasks),
                (a.classes_per_task, &mut config.classes_per_task),
                (a.task_train_per_class, &mut config.task_train_per_class),
                (a.task_test_per_class, &mut config.task_test_per_class),
            ];
            let mut changed = a.image_size.is_some() || a.task_palettes.is_some();
            if a.task_palettes.is_some() {
                config.task_palettes = a.task_palettes;
            }
            for (value, slot) in overrides {
                if let Some(v) = value {
                    *slot = v;
                    changed = true;
                }
            }
            if let Some(size) = a.image_size {
                config.image_size = size;
            }
            if changed {
                config.preset = None;
            }
            nml_core::guard::Io::new().folder("--out", &a.out).check()?;
            let info = synth::generate(&config, &a.out)?;
            let images = config.total_images();
            let seconds = start.elapsed().as_secs_f64();
            tracing::info!(
                out = %a.out.display(),
                images,
                tasks = info.tasks.len(),
                seconds = format!("{seconds:.1}"),
                images_per_second = format!("{:.0}", images as f64 / seconds),
                "synthetic benchmark written"
            );
        }
        Command::Import(ImportCommand::Cifar { dir, out }) => {
            import_io(&out).input_tree("--dir", &dir).check()?;
            finish(import::cifar::import(&dir)?, &out)?
        }
        Command::Import(ImportCommand::Folder {
            root,
            out,
            split,
            test_fraction,
            seed,
        }) => {
            import_io(&out).input_tree("--root", &root).check()?;
            finish(
                import::folder::import(
                    &root,
                    &FolderOptions {
                        split,
                        test_fraction,
                        seed,
                    },
                )?,
                &out,
            )?
        }
        Command::Import(ImportCommand::Parquet {
            input,
            out,
            max_per_class,
            caption_template,
        }) => {
            if max_per_class == Some(0) {
                anyhow::bail!("--max-per-class must be at least 1");
            }
            import_io(&out).input("--input", &input).check()?;
            let mut manifest = import::parquet(&input)?;
            if let Some(template) = &caption_template {
                import::caption_from_classes(&mut manifest, template)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
            }
            match max_per_class {
                Some(n) => finish(import::max_per_class(&manifest, n), &out)?,
                None => finish(manifest, &out)?,
            }
        }
    }
    Ok(())
}

/// What an import writes: the manifest `OUT` and its contact sheets `OUT.contact/`.
fn import_io(out: &Path) -> nml_core::guard::Io {
    nml_core::guard::Io::new()
        .output("--out", out)
        .folder("--out", out.with_extension("contact"))
}

/// Writes an imported manifest and its contact sheets (`OUT.contact/`).
fn finish(manifest: Manifest, out: &Path) -> anyhow::Result<()> {
    manifest.write(out)?;
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sheets = contact::write_sheets(&manifest, &out.with_extension("contact"), &stem)?;
    tracing::info!(out = %out.display(), rows = manifest.len(), classes = manifest.num_classes(), sheets = sheets.len(), "manifest written");
    Ok(())
}
