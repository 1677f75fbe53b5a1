//! `nml-features`: feature tables from a frozen backbone (cached) or from a black box.

use std::process::ExitCode;

use nml_core::logging;
use nml_features::extract::{copy_out, Pretrained};
use nml_features::{extract, import, ExtractRequest, ViewRequest};
use nml_models::{Augment, AugmentKind};
use nml_spec::features::{
    ExtractArgs, FeaturesArgs as Args, FeaturesCommand as Command, ImportArgs, TextArgs, ViewArgs,
};

/// The views `--views` and its options ask for, validated.
fn view_request(views: &ViewArgs) -> anyhow::Result<ViewRequest> {
    let kind = views.augment.unwrap_or(AugmentKind::Rrc);
    let augment = match &views.augment_scale {
        Some(text) => Augment::new(kind)
            .parse_scale(text)
            .map_err(|e| anyhow::format_err!("--augment-scale: {e}"))?,
        None => Augment::new(kind),
    };
    for (flag, value) in [
        ("--view-split", &views.view_split),
        ("--view-domain", &views.view_domain),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            anyhow::bail!("{flag}: empty; name a split or domain, or leave the flag out");
        }
    }
    let options = views.augment.is_some()
        || views.augment_scale.is_some()
        || views.view_split.is_some()
        || views.view_domain.is_some();
    if options && views.views == 0 {
        anyhow::bail!(
            "--augment, --augment-scale, --view-split and --view-domain need --views K (K > 0)"
        );
    }
    Ok(ViewRequest {
        count: views.views,
        augment,
        seed: views.view_seed,
        split: views.view_split.clone(),
        domain: views.view_domain.clone(),
    })
}

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(args.command))
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Extract(args) => extract_command(args)?,
        Command::Text(TextArgs {
            model,
            manifest,
            out,
            cache,
            splits,
            batch_size,
            max_length,
            force,
            device,
            threads,
        }) => {
            nml_torch::configure_threads(threads);
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
            let max_length = match max_length {
                Some(n) => n,
                None => nml_models::bert::window(&model)?,
            };
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
        Command::Import(ImportArgs {
            embeddings,
            manifest,
            out,
            column,
            split,
        }) => {
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
        precision,
        threads,
    } = a;
    nml_torch::configure_threads(threads);
    let views = view_request(&views)?;
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
        precision: nml_torch::resolve_precision(precision, device),
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
