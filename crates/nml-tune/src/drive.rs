//! How `nml-tune` trains its heads: one per seed with the flags' settings, or
//! chosen on validation rows from a grid; how it saves them, and what it records of its inputs.

use std::path::PathBuf;

use nml_tune::encoder::{tune_encoder_head, EncoderRequest};
use nml_tune::train::load;
use nml_tune::{saved, select, tune_head, TuneConfig, Tuned};

use crate::{select_rows, Args};

/// Where validation rows come from (`--val-split` or `--val-fraction`).
pub(crate) struct Validation<'a> {
    pub train_path: &'a std::path::Path,
    pub train_split: &'a str,
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
                    augment: a.encoder_args.augment()?,
                    embedding: a.encoder_args.embedding,
                    pretrained: a.encoder_args.pretrained()?,
                };
                tune_encoder_head(config, &request, evals, seed, device)?
            }
        };
        heads.push((seed, tuned));
    }
    Ok(heads)
}

/// Selection on validation rows: every grid point trained and scored on them
/// (the eval tables are not read), then the chosen heads evaluated on `evals`.
pub(crate) fn selected_heads(
    v: &Validation,
    config: &TuneConfig,
    grid: &[(select::GridKey, Vec<f64>)],
    table: &nml_core::FeatureTable,
    evals: &[(String, PathBuf, nml_core::FeatureTable)],
    seeds: &[u64],
    device: tch::Device,
) -> anyhow::Result<Chosen> {
    let path = v.train_path.to_owned();
    let (fit_rows, val) = match (v.val_split, v.val_fraction) {
        (Some(split), _) => {
            if split == v.train_split {
                anyhow::bail!("--val-split `{split}` is the training split");
            }
            let val = select_rows(load(&path)?, Some(split), v.train_domain).eval_view();
            if val.is_empty() {
                anyhow::bail!("{}: no rows in validation split `{split}`", path.display());
            }
            (table.clone(), val)
        }
        (None, Some(fraction)) => select::hold_out_fraction(table, fraction, seeds[0])?,
        (None, None) => unreachable!("checked: validating"),
    };
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

/// Writes every trained head (OUT/heads/<method>-seed<k>) with its record.
pub(crate) fn save_heads(
    train_path: Option<&std::path::Path>,
    out: &std::path::Path,
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
        let class_names = train
            .and_then(|t| t.class_names.clone())
            .or_else(|| evals.first().and_then(|e| e.2.class_names.clone()))
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
            code_version: env!("CARGO_PKG_VERSION").to_owned(),
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
