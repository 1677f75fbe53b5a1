//! `nml-tune fit`: the common case in one command. Embeddings from anywhere
//! (an N×D .npy and a labels file, or a feature table), a stratified
//! validation fraction, a default grid per method, the best head kept.

use std::path::{Path, PathBuf};

use nml_core::FeatureTable;
use nml_spec::tune::FitArgs;
use nml_spec::Protocol;
use nml_tune::{select, Method, TuneConfig};

use crate::{drive, parse_seeds};

/// Labels from a text file: ids when every line is a non-negative integer, else names (classes sorted).
fn read_labels(path: &Path, rows: usize) -> anyhow::Result<(Vec<i64>, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::format_err!("{}: cannot read: {e}", path.display()))?;
    let mut lines: Vec<&str> = text.lines().map(str::trim).collect();
    while lines.last() == Some(&"") {
        lines.pop();
    }
    if lines
        .first()
        .is_some_and(|l| l.eq_ignore_ascii_case("label"))
    {
        lines.remove(0);
    }
    if let Some(at) = lines.iter().position(|l| l.is_empty()) {
        anyhow::bail!("{}: label {} is empty", path.display(), at + 1);
    }
    if lines.len() != rows {
        anyhow::bail!(
            "{}: {} labels for {rows} embeddings",
            path.display(),
            lines.len()
        );
    }
    let ids: Option<Vec<i64>> = lines
        .iter()
        .map(|l| l.parse::<i64>().ok().filter(|&v| v >= 0))
        .collect();
    Ok(match ids {
        Some(ids) => {
            let classes = ids.iter().max().map_or(0, |m| *m as usize + 1);
            (ids, (0..classes).map(|c| c.to_string()).collect())
        }
        None => {
            let mut names: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            names.sort();
            names.dedup();
            let ids = lines
                .iter()
                .map(|l| names.iter().position(|n| n == l).unwrap_or(0) as i64)
                .collect();
            (ids, names)
        }
    })
}

/// The training table: the embeddings with their labels, or a feature table's eval view.
fn training_table(a: &FitArgs) -> anyhow::Result<(PathBuf, FeatureTable)> {
    if let (Some(path), Some(labels)) = (&a.embeddings, &a.labels) {
        let (n, dim, values) = nml_features::npy::read_matrix(path)?;
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            anyhow::bail!(
                "{}: row {}, value {} is {} (embeddings must be finite)",
                path.display(),
                at / dim.max(1),
                at % dim.max(1),
                values[at]
            );
        }
        let (label, class_names) = read_labels(labels, n)?;
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert(
            "nml.source_hash".to_owned(),
            nml_core::hash_file(path)?.to_hex(),
        );
        let table = FeatureTable {
            index: (0..n as i64).collect(),
            split: vec!["train".to_owned(); n],
            label,
            domain: None,
            view: None,
            dim,
            features: values,
            class_names: Some(class_names),
            metadata,
        };
        return Ok((path.clone(), table));
    }
    let path = a
        .features
        .clone()
        .expect("clap: --features or --embeddings");
    let mut table = nml_tune::train::load(&path)?.eval_view();
    table.split = vec!["train".to_owned(); table.len()];
    Ok((path, table))
}

/// The training rows and `--val-fraction` of each class held out with the first seed.
pub(crate) fn fraction_rows(
    a: &FitArgs,
    path: &Path,
    table: &FeatureTable,
    first_seed: u64,
) -> anyhow::Result<(FeatureTable, (PathBuf, FeatureTable))> {
    let validation = drive::Validation {
        train_path: path,
        train_domain: None,
        val_split: None,
        val_fraction: Some(a.val_fraction),
    };
    drive::validation_rows(&validation, table, first_seed)
}

/// What `fit` reads and writes, before the heads' files.
fn fit_io(a: &FitArgs) -> nml_core::guard::Io {
    nml_core::guard::Io::new()
        .inputs("--embeddings", a.embeddings.iter())
        .inputs("--labels", a.labels.iter())
        .inputs("--features", a.features.iter())
        .folder("--out", &a.out)
        .output("--out", a.out.join("grid.parquet"))
        .output("--out", a.out.join("summary.json"))
}

/// `--method auto`: the checks of any fit, then [`crate::protocols::fit_auto`].
fn fit_auto(a: &FitArgs, seeds: &[u64]) -> anyhow::Result<()> {
    if !a.grids.is_empty() {
        anyhow::bail!("--grid: --method auto searches each method's default grid; name one method to search your own");
    }
    let mut io = fit_io(a);
    for method in [Method::Lp, Method::Mlp, Method::Nmtune] {
        io = drive::head_outputs(io, &a.out, method, seeds);
    }
    io.check()?;
    let device = nml_torch::resolve_device(a.device)?;
    crate::protocols::fit_auto(a, training_table(a)?, seeds, device)
}

pub fn run(a: &FitArgs) -> anyhow::Result<()> {
    nml_torch::denormals::set(a.denormals);
    nml_torch::configure_threads(None);
    if a.labels.is_some() && a.embeddings.is_none() {
        anyhow::bail!(
            "--labels labels the rows of --embeddings; a --features table carries its own labels"
        );
    }
    let seeds = parse_seeds(&a.seeds)?;
    let method = match a.method {
        Protocol::Knn => anyhow::bail!(
            "--method knn: fit keeps a trained head and k-NN trains none; score k-NN with `nml-tune --method knn --train T --eval NAME=T:SPLIT`"
        ),
        Protocol::Auto => return fit_auto(a, &seeds),
        Protocol::Lp => Method::Lp,
        Protocol::Mlp => Method::Mlp,
        Protocol::Nmtune => Method::Nmtune,
    };
    if a.no_refit {
        anyhow::bail!("--no-refit: for --method auto, which refits its chosen head; a {method} head is kept as selected");
    }
    let mut config = TuneConfig::new(method);
    config.epochs = a.epochs;
    config.validate()?;
    let specs: Vec<String> = if a.grids.is_empty() {
        select::default_grid(method)
    } else {
        a.grids.clone()
    };
    let grid = specs
        .iter()
        .map(|g| select::parse_grid(g))
        .collect::<Result<Vec<_>, _>>()?;
    select::combinations(&config, &grid)?;
    let io = fit_io(a);
    drive::head_outputs(io, &a.out, method, &seeds).check()?;
    let device = nml_torch::resolve_device(a.device)?;
    let (path, table) = training_table(a)?;
    let rows = fraction_rows(a, &path, &table, seeds[0])?;
    let chosen = drive::selected_heads(&config, &grid, rows, &[], &seeds, device)?;
    drive::save_heads(
        Some(&path),
        &a.out,
        &chosen.config,
        Some(&table),
        &[],
        &chosen.heads,
        Some(&chosen.selected),
    )?;
    drive::write_grid(&a.out, select::grid_frame(&chosen.selected)?)?;
    let summary = serde_json::json!({
        "config": chosen.config,
        "denormals": nml_torch::denormals::current(),
        "code_version": nml_spec::code_version(),
        "inputs": {"embeddings": a.embeddings, "labels": a.labels, "features": a.features, "seeds": seeds, "val_fraction": a.val_fraction, "grid": specs},
        "chosen": select::describe(&chosen.selected.label),
        "validation_accuracy": chosen.selected.validation_accuracy,
    });
    nml_core::write_json_atomic(a.out.join("summary.json"), &summary)?;
    let kept = drive::kept_heads(&a.out, method, &seeds);
    drive::remove_stale(&a.out, &kept, true)?;
    let head = nml_tune::saved::head_dir(&a.out, method, seeds[0]);
    #[allow(clippy::print_stdout)] // the choice is this command's answer
    {
        println!(
            "chosen {} · validation accuracy {:.4} (mean over {} seed(s)) · head {}",
            select::describe(&chosen.selected.label),
            chosen.selected.validation_accuracy,
            seeds.len(),
            head.display()
        );
    }
    Ok(())
}
