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
            // A preset with any override is no longer that preset.
            let (sizes, changed) = a.sizes();
            let config = SynthConfig::of_sizes((!changed).then_some(a.preset), a.seed, sizes);
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
