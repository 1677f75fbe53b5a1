//! How `nml-tune` trains its heads: one per seed with the flags' settings, or
//! chosen on validation rows from a grid; how it saves them, and what it records of its inputs.

use std::path::{Path, PathBuf};

use anyhow::Context;

use nml_tune::encoder::{tune_encoder_head, EncoderRequest};
use nml_tune::train::load;
use nml_tune::{saved, select, tune_head, TuneConfig, Tuned};

use crate::{select_rows, Args};

/// Where validation rows come from (`--val-split` or `--val-fraction`).
pub(crate) struct Validation<'a> {
    pub train_path: &'a Path,
    pub train_domain: Option<&'a str>,
    pub val_split: Option<&'a str>,
    pub val_fraction: Option<f64>,
}

/// What validation chose: the configuration, its heads (evaluated on the eval tables) and the grid.
pub(crate) struct Chosen {
    pub config: TuneConfig,
    pub heads: Vec<(u64, Tuned)>,
    pub selected: select::Selected,
}

/// One head per seed with the flags' hyper-parameters, evaluated on `evals`.
pub(crate) fn trained_heads(
    a: &Args,
    config: &TuneConfig,
    train: Option<&nml_core::FeatureTable>,
    evals: &[(String, PathBuf, nml_core::FeatureTable)],
    seeds: &[u64],
    device: tch::Device,
) -> anyhow::Result<Vec<(u64, Tuned)>> {
    let mut heads = Vec::new();
    for &seed in seeds {
        let tuned = match train {
            Some(table) => tune_head(config, table, evals, seed, device)?,
            None => {
                let request = EncoderRequest {
                    checkpoint: a.encoder.as_deref().expect("clap: --train or --encoder"),
                    manifest: a
                        .manifest
                        .as_deref()
                        .expect("clap: --encoder requires --manifest"),
                    split: (a.train_split != "all").then_some(a.train_split.as_str()),
                    domain: a.train_domain.as_deref(),
                    resize: a.encoder_args.resize,
                    augment: crate::encoder_augment(&a.encoder_args)?,
                    embedding: a.encoder_args.embedding,
                    pretrained: crate::encoder_pretrained(&a.encoder_args)?,
                };
                tune_encoder_head(config, &request, evals, seed, device)?
            }
        };
        heads.push((seed, tuned));
    }
    Ok(heads)
}

/// The rows selection trains on and the rows it scores on: `--val-split`'s
/// rows of the training table (same domain), or `--val-fraction` of each
/// class held out with the first seed; checked like any eval table against
/// the rows they validate (non-empty, same classes and dimension).
pub(crate) fn validation_rows(
    v: &Validation,
    table: &nml_core::FeatureTable,
    first_seed: u64,
) -> anyhow::Result<(nml_core::FeatureTable, (PathBuf, nml_core::FeatureTable))> {
    let path = v.train_path.to_owned();
    let (fit_rows, val) = match (v.val_split, v.val_fraction) {
        (Some(split), _) => {
            let val = select_rows(load(&path)?, Some(split), v.train_domain).eval_view();
            if val.is_empty() {
                anyhow::bail!("{}: no rows in validation split `{split}`", path.display());
            }
            (table.clone(), val)
        }
        (None, Some(fraction)) => select::hold_out_fraction(table, fraction, first_seed)?,
        (None, None) => unreachable!("checked: validating"),
    };
    let evals = [("validation".to_owned(), path.clone(), val)];
    nml_tune::train::check_inputs(&fit_rows.eval_view(), &evals)?;
    let [(_, _, val)] = evals;
    Ok((fit_rows, (path, val)))
}

/// Selection on validation rows: every grid point trained and scored on them
/// (the eval tables are not read), then the chosen heads evaluated on `evals`.
pub(crate) fn selected_heads(
    config: &TuneConfig,
    grid: &[(select::GridKey, Vec<f64>)],
    (fit_rows, (path, val)): (nml_core::FeatureTable, (PathBuf, nml_core::FeatureTable)),
    evals: &[(String, PathBuf, nml_core::FeatureTable)],
    seeds: &[u64],
    device: tch::Device,
) -> anyhow::Result<Chosen> {
    let mut selected = select::select(
        config,
        grid,
        &fit_rows,
        (&path, &val),
        seeds,
        (device, select::GridTraining::fastest(config.method, device)),
    )?;
    let mut heads = Vec::new();
    for (seed, mut tuned) in std::mem::take(&mut selected.heads) {
        tuned.results = evals
            .iter()
            .map(|(name, _, t)| nml_tune::train::evaluate(&tuned.head, name, t, seed, device))
            .collect::<Result<_, _>>()?;
        heads.push((seed, tuned));
    }
    Ok(Chosen {
        config: selected.config.clone(),
        heads,
        selected,
    })
}

/// Every file `nml-tune` reads and writes, for the check before any work.
pub(crate) fn io(
    a: &Args,
    out: &Path,
    evals: &[crate::evals::EvalSpec],
    method: nml_tune::Method,
    seeds: &[u64],
    validating: bool,
) -> nml_core::guard::Io {
    let encoder = a
        .encoder
        .as_deref()
        .map(nml_features::backbone::checkpoint_files);
    let mut io = nml_core::guard::Io::new()
        .inputs("--train", a.train.iter())
        .inputs("--train-labels", a.train_labels.iter())
        .inputs("--manifest", a.manifest.iter())
        .inputs("--eval", evals.iter().map(|e| &e.path))
        .inputs("--encoder", encoder.into_iter().flatten())
        .folder("--out", out);
    for file in ["results.parquet", "results.csv", "summary.json"] {
        io = io.output("--out", out.join(file));
    }
    if validating {
        io = io.output("--out", out.join("grid.parquet"));
    }
    head_outputs(io, out, method, seeds)
}

/// The files every head of `seeds` writes under `out`.
pub(crate) fn head_outputs(
    mut io: nml_core::guard::Io,
    out: &Path,
    method: nml_tune::Method,
    seeds: &[u64],
) -> nml_core::guard::Io {
    for &seed in seeds {
        let dir = saved::head_dir(out, method, seed);
        io = io
            .folder("--out", &dir)
            .output("--out", dir.join("head.safetensors"))
            .output("--out", dir.join("head.json"));
    }
    io
}

/// Writes `out/grid.parquet` atomically.
pub(crate) fn write_grid(out: &Path, mut frame: polars::prelude::DataFrame) -> anyhow::Result<()> {
    let mut file = nml_core::AtomicFile::create(out.join("grid.parquet"))?;
    polars::prelude::ParquetWriter::new(&mut file).finish(&mut frame)?;
    file.commit()?;
    Ok(())
}

/// The head folders of `method` for `seeds` under `out`: what a run keeps.
pub(crate) fn kept_heads(out: &Path, method: nml_tune::Method, seeds: &[u64]) -> Vec<PathBuf> {
    seeds
        .iter()
        .map(|&s| saved::head_dir(out, method, s))
        .collect()
}

/// After a run into a used `--out`: the heads of an earlier run (folders of
/// `heads/` holding a `head.json`, other than `kept`) and, when this run
/// selected nothing, an earlier `grid.parquet` are removed, so the folder
/// describes this run alone. Files nml-tune does not write are kept.
pub(crate) fn remove_stale(out: &Path, kept: &[PathBuf], selected: bool) -> anyhow::Result<()> {
    if let Ok(entries) = std::fs::read_dir(out.join("heads")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.join("head.json").is_file() && !kept.contains(&path) {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("{}: cannot remove a stale head", path.display()))?;
                tracing::info!(head = %path.display(), "removed a head of an earlier run");
            }
        }
    }
    let grid = out.join("grid.parquet");
    if !selected && grid.is_file() {
        std::fs::remove_file(&grid)
            .with_context(|| format!("{}: cannot remove a stale grid", grid.display()))?;
    }
    Ok(())
}

/// Writes every trained head (OUT/heads/<method>-seed<k>) with its record.
pub(crate) fn save_heads(
    train_path: Option<&Path>,
    out: &Path,
    config: &TuneConfig,
    train: Option<&nml_core::FeatureTable>,
    evals: &[(String, PathBuf, nml_core::FeatureTable)],
    heads: &[(u64, Tuned)],
    selected: Option<&select::Selected>,
) -> anyhow::Result<()> {
    let method = config.method;
    let features_hash = train_path
        .map(nml_core::hash_file)
        .transpose()?
        .map(|h| h.to_hex());
    let source = train
        .and_then(saved::source_hash)
        .or_else(|| evals.first().and_then(|e| saved::source_hash(&e.2)));
    for (seed, tuned) in heads {
        // The classes the head was trained on (the manifest's with --encoder), checked
        // against every eval table's; ids when the training rows carry no names.
        let class_names = tuned
            .class_names
            .clone()
            .unwrap_or_else(|| (0..tuned.classes).map(|c| c.to_string()).collect());
        let record = saved::HeadRecord {
            format: saved::FORMAT.to_owned(),
            method,
            config: config.clone(),
            seed: *seed,
            dim: train
                .map(|t| t.dim)
                .or_else(|| evals.first().map(|e| e.2.dim))
                .unwrap_or(0),
            class_names,
            residual: config.residual,
            features_hash: features_hash.clone(),
            source_hash: source.clone(),
            validation_accuracy: selected.and_then(|s| {
                s.grid
                    .iter()
                    .find(|r| r.seed == *seed && r.label == s.label)
                    .map(|r| r.validation_accuracy)
            }),
            code_version: nml_spec::code_version(),
            denormals: nml_torch::denormals::current(),
            weights_hash: None,
        };
        saved::save(&saved::head_dir(out, method, *seed), &tuned.vs, &record)?;
    }
    Ok(())
}

/// What `results.json` records of the run's inputs: tables, labels, seeds, validation.
pub(crate) fn inputs_record(
    a: &Args,
    seeds: &[u64],
    specs: &[String],
    selected: Option<&select::Selected>,
    relabelled: Option<nml_tune::labels::Relabelled>,
) -> serde_json::Value {
    serde_json::json!({
        "train": a.train.as_ref().map(|p| p.display().to_string()),
        "encoder": a.encoder.as_ref().map(|p| p.display().to_string()),
        "manifest": a.manifest.as_ref().map(|p| p.display().to_string()),
        "train_split": a.train_split,
        "train_domain": a.train_domain,
        "train_labels": a.train_labels.as_ref().map(|p| serde_json::json!({
            "path": p.display().to_string(),
            "rows": relabelled.map(|r| r.rows),
            "changed": relabelled.map(|r| r.changed),
        })),
        "evals": a.evals,
        "seeds": seeds,
        "validation": selected.map(|s| serde_json::json!({
            "val_split": a.val_split,
            "val_fraction": a.val_fraction,
            "grid": specs,
            "chosen": select::describe(&s.label),
            "validation_accuracy": s.validation_accuracy,
        })),
    })
}
