//! `--method knn` (the k-NN classifier, nothing trained) and `--method auto`
//! (LP, MLP and NMTune each chosen on validation rows from its default grid,
//! the best one kept and, as CLIP_benchmark's linear probe, refit on the
//! training and validation rows with its chosen settings).

use std::path::{Path, PathBuf};

use nml_core::FeatureTable;
use nml_spec::tune::FitArgs;
use nml_tune::knn::{self, KnnConfig, KnnResult};
use nml_tune::{select, Method, TuneConfig, Tuned};

use crate::{drive, evals, Args};

/// The flags a protocol without a single head's recipe cannot honour, by name.
fn refuse(flags: &[(&str, bool)], why: &str) -> anyhow::Result<()> {
    match flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => anyhow::bail!("{flag}: {why}"),
        None => Ok(()),
    }
}

/// The hyper-parameter flags of one head's recipe, and whether each was given.
fn recipe_flags(a: &Args) -> Vec<(&'static str, bool)> {
    vec![
        ("--lr", a.lr.is_some()),
        ("--wd", a.wd != Args::WEIGHT_DECAY),
        ("--mse-weight", a.mse_weight.is_some()),
        ("--cov-weight", a.cov_weight.is_some()),
        ("--svd-weight", a.svd_weight.is_some()),
        ("--svd-topk", a.svd_topk.is_some()),
        ("--no-residual", a.no_residual),
        ("--grid", !a.grids.is_empty()),
        ("--encoder", a.encoder.is_some()),
    ]
}

/// `--method knn`: every eval table scored against the training rows for each k.
pub(crate) fn knn(a: &Args) -> anyhow::Result<()> {
    let out = a.out.clone().expect("clap: --out is required");
    let mut flags = recipe_flags(a);
    flags.extend([
        ("--two-view", a.two_view),
        ("--val-split", a.val_split.is_some()),
        ("--val-fraction", a.val_fraction.is_some()),
        ("--no-refit", a.no_refit),
        ("--epochs", a.epochs != Args::EPOCHS),
        ("--batch-size", a.batch_size != Args::BATCH_SIZE),
    ]);
    refuse(
        &flags,
        "k-NN trains nothing (it votes with the training rows' labels); drop it or pick a head method",
    )?;
    if a.knn_k.is_empty() || a.knn_k.contains(&0) {
        anyhow::bail!("--knn-k: give neighbour counts of 1 or more, e.g. 10,20");
    }
    crate::check_splits(a)?;
    let eval_specs = evals::parse_evals(&a.evals)?;
    let io = nml_core::guard::Io::new()
        .inputs("--train", a.train.iter())
        .inputs("--train-labels", a.train_labels.iter())
        .inputs("--eval", eval_specs.iter().map(|e| &e.path))
        .folder("--out", &out)
        .output("--out", out.join("results.parquet"))
        .output("--out", out.join("summary.json"));
    io.check()?;
    let device = nml_torch::resolve_device(a.device)?;
    let evals = evals::eval_tables(eval_specs)?;
    let path = a.train.as_deref().expect("clap: --train or --encoder");
    let (train, relabelled) = crate::train_table(a, path)?;
    let rows = train.eval_view();
    nml_tune::train::check_inputs(&rows, &evals)?;
    if let Some(&k) = a.knn_k.iter().find(|&&k| k > rows.len()) {
        anyhow::bail!(
            "--knn-k {k}: the training rows are {} (split `{}`); k can be at most that",
            rows.len(),
            a.train_split
        );
    }
    let mut results: Vec<KnnResult> = Vec::new();
    for (name, _, table) in &evals {
        for &k in &a.knn_k {
            let r = knn::score(&rows, (name, table), KnnConfig::new(k), device)?;
            tracing::info!(eval = %r.eval, k, accuracy = format!("{:.4}", r.accuracy), balanced = format!("{:.4}", r.balanced_accuracy), "k-NN");
            results.push(r);
        }
    }
    let mut frame = knn::frame(&results)?;
    let mut file = nml_core::AtomicFile::create(out.join("results.parquet"))?;
    polars::prelude::ParquetWriter::new(&mut file).finish(&mut frame)?;
    file.commit()?;
    let summary = serde_json::json!({
        "config": {"method": "knn", "k": a.knn_k, "temperature": KnnConfig::TEMPERATURE},
        "code_version": nml_spec::code_version(),
        "inputs": drive::inputs_record(a, &[], &[], None, relabelled),
        "results": results,
    });
    nml_core::write_json_atomic(out.join("summary.json"), &summary)?;
    // A folder reused from a head run keeps no heads that this run did not train.
    drive::remove_stale(&out, &[], false)?;
    Ok(())
}

/// The three candidates of `auto`, in the order ties are broken (the simplest first).
const CANDIDATES: [Method; 3] = [Method::Lp, Method::Mlp, Method::Nmtune];

/// One candidate's selection: its method and what its grid chose.
pub(crate) struct Candidate {
    pub method: Method,
    pub selected: select::Selected,
}

/// What `auto` kept: every candidate, the index of the best, and its heads
/// (refit on every row, or the held-out ones).
pub(crate) struct Auto {
    pub candidates: Vec<Candidate>,
    pub best: usize,
    pub heads: Vec<(u64, Tuned)>,
    pub refit: bool,
}

impl Auto {
    pub(crate) fn chosen(&self) -> &Candidate {
        &self.candidates[self.best]
    }

    /// `grid.parquet`: every candidate's grid, with its method in the first column.
    pub(crate) fn grid_frame(&self) -> anyhow::Result<polars::prelude::DataFrame> {
        use polars::prelude::*;
        let mut all: Option<DataFrame> = None;
        for c in &self.candidates {
            let mut frame = select::grid_frame(&c.selected)?;
            let n = frame.height();
            frame.insert_column(0, Column::new("method".into(), vec![c.method.name(); n]))?;
            // Only the kept candidate's chosen point is `chosen`.
            if c.method != self.chosen().method {
                frame.replace("chosen", Column::new("chosen".into(), vec![false; n]))?;
            }
            all = Some(match all {
                Some(acc) => acc.vstack(&frame)?,
                None => frame,
            });
        }
        Ok(all.unwrap_or_default())
    }

    /// The choice as `summary.json` records it.
    pub(crate) fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "candidates": self.candidates.iter().map(|c| serde_json::json!({
                "method": c.method.name(),
                "chosen": select::describe(&c.selected.label),
                "validation_accuracy": c.selected.validation_accuracy,
            })).collect::<Vec<_>>(),
            "method": self.chosen().method.name(),
            "refit": self.refit,
        })
    }
}

/// The recipe `auto` starts each candidate's grid from.
pub(crate) struct AutoBase {
    pub epochs: usize,
    pub batch_size: usize,
    /// Two views for MLP and NMTune (LP always trains on the eval view).
    pub two_view: bool,
}

/// Selects each candidate on `val` (training on `fit_rows`), keeps the best
/// by mean validation accuracy (the first of [`CANDIDATES`] on ties), and
/// refits it on `refit_rows` for every seed (or keeps its held-out heads),
/// each evaluated on `evals`. The eval tables are read only by the kept heads.
pub(crate) fn choose(
    base: &AutoBase,
    (fit_rows, (path, val)): (FeatureTable, (PathBuf, FeatureTable)),
    refit_rows: Option<&FeatureTable>,
    evals: &[(String, PathBuf, FeatureTable)],
    seeds: &[u64],
    device: tch::Device,
) -> anyhow::Result<Auto> {
    let mut candidates = Vec::new();
    for method in CANDIDATES {
        let mut config = TuneConfig::new(method);
        config.epochs = base.epochs;
        config.batch_size = base.batch_size;
        config.two_view = base.two_view && method != Method::Lp;
        config.validate()?;
        let grid = select::default_grid(method)
            .iter()
            .map(|g| select::parse_grid(g))
            .collect::<Result<Vec<_>, _>>()?;
        let selected = select::select(
            &config,
            &grid,
            &fit_rows,
            (&path, &val),
            seeds,
            (device, select::GridTraining::fastest(method, device)),
        )?;
        tracing::info!(method = method.name(), chosen = %select::describe(&selected.label), validation = format!("{:.4}", selected.validation_accuracy), "auto: candidate");
        candidates.push(Candidate { method, selected });
    }
    let best = (0..candidates.len())
        .fold(None, |best: Option<usize>, i| match best {
            Some(b)
                if candidates[b].selected.validation_accuracy
                    >= candidates[i].selected.validation_accuracy =>
            {
                Some(b)
            }
            _ => Some(i),
        })
        .expect("three candidates");
    let chosen = &mut candidates[best];
    let heads = match refit_rows {
        Some(rows) => seeds
            .iter()
            .map(|&seed| {
                nml_tune::tune_head(&chosen.selected.config, rows, evals, seed, device)
                    .map(|t| (seed, t))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => {
            let mut heads = Vec::new();
            for (seed, mut tuned) in std::mem::take(&mut chosen.selected.heads) {
                tuned.results = evals
                    .iter()
                    .map(|(name, _, t)| {
                        nml_tune::train::evaluate(&tuned.head, name, t, seed, device)
                    })
                    .collect::<Result<_, _>>()?;
                heads.push((seed, tuned));
            }
            heads
        }
    };
    tracing::info!(method = chosen.method.name(), chosen = %select::describe(&chosen.selected.label), refit = refit_rows.is_some(), "auto: kept");
    Ok(Auto {
        candidates,
        best,
        heads,
        refit: refit_rows.is_some(),
    })
}

/// The training rows with the validation split's (same domain, every view),
/// as `--val-split` refits on them.
fn with_val_split(a: &Args, path: &Path, val_split: &str) -> anyhow::Result<FeatureTable> {
    let table = nml_tune::train::load(path)?;
    let rows: Vec<usize> = (0..table.len())
        .filter(|&r| table.split[r] == a.train_split || table.split[r] == val_split)
        .filter(|&r| {
            a.train_domain
                .as_deref()
                .is_none_or(|d| table.domain.as_ref().is_some_and(|dom| dom[r] == d))
        })
        .collect();
    let mut rows = table.select(&rows);
    if let Some(labels) = &a.train_labels {
        nml_tune::labels::relabel(&mut rows, labels)?;
    }
    Ok(rows)
}

/// `--method auto` with evaluation tables.
pub(crate) fn auto(a: &Args) -> anyhow::Result<()> {
    let out = a.out.clone().expect("clap: --out is required");
    refuse(
        &recipe_flags(a),
        "--method auto searches each method's default grid; name one method to set its recipe",
    )?;
    if a.val_split.is_none() && a.val_fraction.is_none() {
        anyhow::bail!(
            "--method auto chooses on validation rows: add --val-fraction F (e.g. 0.1) or --val-split NAME"
        );
    }
    if a.knn_k != nml_spec::KNN_KS {
        anyhow::bail!("--knn-k: for --method knn; auto chooses among LP, MLP and NMTune");
    }
    crate::check_splits(a)?;
    let seeds = crate::parse_seeds(&a.seeds)?;
    let eval_specs = evals::parse_evals(&a.evals)?;
    // Whichever candidate is kept, its heads' files must be writable.
    let mut io = drive::io(a, &out, &eval_specs, CANDIDATES[0], &seeds, true);
    for method in &CANDIDATES[1..] {
        let method = *method;
        io = drive::head_outputs(io, &out, method, &seeds);
    }
    io.check()?;
    let device = nml_torch::resolve_device(a.device)?;
    let evals = evals::eval_tables(eval_specs)?;
    let path = a.train.as_deref().expect("clap: --train or --encoder");
    let (train, relabelled) = crate::train_table(a, path)?;
    nml_tune::train::check_inputs(&train.eval_view(), &evals)?;
    let validation = drive::Validation {
        train_path: path,
        train_domain: a.train_domain.as_deref(),
        val_split: a.val_split.as_deref(),
        val_fraction: a.val_fraction,
    };
    let rows = drive::validation_rows(&validation, &train, seeds[0])?;
    let refit = match (&a.val_split, a.no_refit) {
        (_, true) => None,
        (Some(split), false) => Some(with_val_split(a, path, split)?),
        (None, false) => Some(train.clone()),
    };
    let base = AutoBase {
        epochs: a.epochs,
        batch_size: a.batch_size,
        two_view: a.two_view,
    };
    let auto = choose(&base, rows, refit.as_ref(), &evals, &seeds, device)?;
    let chosen = auto.chosen();
    let config = &chosen.selected.config;
    let all: Vec<nml_tune::EvalResult> = auto
        .heads
        .iter()
        .flat_map(|(_, t)| t.results.iter().cloned())
        .collect();
    drive::save_heads(
        Some(path),
        &out,
        config,
        Some(refit.as_ref().unwrap_or(&train)),
        &evals,
        &auto.heads,
        Some(&chosen.selected),
    )?;
    drive::write_grid(&out, auto.grid_frame()?)?;
    let specs = select::default_grid(chosen.method);
    let mut inputs = drive::inputs_record(a, &seeds, &specs, Some(&chosen.selected), relabelled);
    inputs["auto"] = auto.record();
    nml_tune::results::write(&out, config, &all, inputs)?;
    let kept = drive::kept_heads(&out, chosen.method, &seeds);
    drive::remove_stale(&out, &kept, true)?;
    Ok(())
}

/// `nml-tune fit --method auto`: the three candidates on the validation
/// fraction, the best kept (refit on every row unless `--no-refit`).
pub(crate) fn fit_auto(
    a: &FitArgs,
    (path, table): (PathBuf, FeatureTable),
    seeds: &[u64],
    device: tch::Device,
) -> anyhow::Result<()> {
    let rows = crate::fit::fraction_rows(a, &path, &table, seeds[0])?;
    let base = AutoBase {
        epochs: a.epochs,
        batch_size: Args::BATCH_SIZE,
        two_view: false,
    };
    let refit = (!a.no_refit).then_some(&table);
    let auto = choose(&base, rows, refit, &[], seeds, device)?;
    let chosen = auto.chosen();
    drive::save_heads(
        Some(&path),
        &a.out,
        &chosen.selected.config,
        Some(&table),
        &[],
        &auto.heads,
        Some(&chosen.selected),
    )?;
    drive::write_grid(&a.out, auto.grid_frame()?)?;
    let summary = serde_json::json!({
        "config": chosen.selected.config,
        "denormals": nml_torch::denormals::current(),
        "code_version": nml_spec::code_version(),
        "inputs": {"embeddings": a.embeddings, "labels": a.labels, "features": a.features, "seeds": seeds, "val_fraction": a.val_fraction},
        "chosen": select::describe(&chosen.selected.label),
        "validation_accuracy": chosen.selected.validation_accuracy,
        "auto": auto.record(),
    });
    nml_core::write_json_atomic(a.out.join("summary.json"), &summary)?;
    let kept = drive::kept_heads(&a.out, chosen.method, seeds);
    drive::remove_stale(&a.out, &kept, true)?;
    let head = nml_tune::saved::head_dir(&a.out, chosen.method, seeds[0]);
    #[allow(clippy::print_stdout)] // the choice is this command's answer
    {
        println!(
            "chosen {} ({}) · validation accuracy {:.4} (mean over {} seed(s)){} · head {}",
            chosen.method.label(),
            select::describe(&chosen.selected.label),
            chosen.selected.validation_accuracy,
            seeds.len(),
            if auto.refit {
                ", refit on every row"
            } else {
                ""
            },
            head.display()
        );
    }
    Ok(())
}
