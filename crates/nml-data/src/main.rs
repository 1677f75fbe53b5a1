//! `nml-data`: generate the synthetic benchmark or import real datasets as nml manifests.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use nml_core::logging;
use nml_core::Manifest;
use nml_data::import::folder::FolderOptions;
use nml_data::synth::{self, SynthConfig};
use nml_data::{contact, import};
use nml_spec::data::{DataArgs as Args, DataCommand as Command, ImportCommand, ParquetImport};

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
        Command::Import(ImportCommand::Parquet(ParquetImport {
            input,
            out,
            max_per_class,
            caption_template,
        })) => {
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
