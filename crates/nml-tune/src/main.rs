//! `nml-tune`: linear probing, MLP tuning or NMTune on cached features.

use std::process::ExitCode;

use anyhow::Context;
use nml_core::logging;
use nml_models::Augment;
use nml_spec::tune::{EncoderArgs, TuneArgs as Args, TuneCommand as Command};
use nml_spec::Protocol;
use nml_tune::train::load;
use nml_tune::{results, select, EvalResult, Method, TuneConfig};

mod drive;
mod evals;
mod fit;
mod predict;
mod protocols;

/// `--encoder` mode's train transform.
fn encoder_augment(e: &EncoderArgs) -> anyhow::Result<Augment> {
    match &e.augment_scale {
        Some(text) => Augment::new(e.augment)
            .parse_scale(text)
            .map_err(|err| anyhow::format_err!("--augment-scale: {err}")),
        None => Ok(Augment::new(e.augment)),
    }
}

/// `--encoder --arch`: the published weights it names.
fn encoder_pretrained(
    e: &EncoderArgs,
) -> anyhow::Result<Option<nml_features::backbone::Pretrained>> {
    e.arch
        .map(|arch| -> anyhow::Result<_> {
            Ok(nml_features::backbone::Pretrained {
                arch,
                normalize: nml_features::backbone::parse_normalize(
                    e.normalize.as_deref().unwrap_or("imagenet"),
                )?,
                input_size: e.input_size,
            })
        })
        .transpose()
}

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    match args.command {
        Some(Command::Predict(p)) => {
            logging::init(p.verbosity);
            logging::exit_code(predict::run(&p))
        }
        Some(Command::Fit(f)) => {
            logging::init(f.verbosity);
            logging::exit_code(fit::run(&f))
        }
        None => {
            logging::init(args.verbosity);
            logging::exit_code(run(args))
        }
    }
}

fn run(a: Args) -> anyhow::Result<()> {
    nml_torch::denormals::set(a.denormals);
    nml_torch::configure_threads(a.threads);
    let method = match a.method.expect("clap: --method is required") {
        Protocol::Knn => return protocols::knn(&a),
        Protocol::Auto => return protocols::auto(&a),
        Protocol::Lp => Method::Lp,
        Protocol::Mlp => Method::Mlp,
        Protocol::Nmtune => Method::Nmtune,
    };
    run_head(a, method)
}

/// One head method: trained with the flags' recipe, or chosen on validation rows.
fn run_head(a: Args, method: Method) -> anyhow::Result<()> {
    let out = a.out.clone().expect("clap: --out is required");
    if a.no_refit {
        anyhow::bail!("--no-refit: for --method auto, which refits its chosen head; a {method} head trains once");
    }
    if a.knn_k != nml_spec::KNN_KS {
        anyhow::bail!("--knn-k: for --method knn; drop it or use --method knn");
    }
    let config = config_of(&a, method)?;
    let seeds = parse_seeds(&a.seeds)?;
    let validating = a.val_split.is_some() || a.val_fraction.is_some();
    let specs = if validating && a.grids.is_empty() {
        select::default_grid(config.method)
    } else {
        a.grids.clone()
    };
    let grid = specs
        .iter()
        .map(|g| select::parse_grid(g))
        .collect::<Result<Vec<_>, _>>()?;
    if !grid.is_empty() && !validating {
        anyhow::bail!("--grid needs validation rows: add --val-split NAME or --val-fraction F");
    }
    if validating && a.encoder.is_some() {
        anyhow::bail!(
            "--val-split and --val-fraction select on cached features; use --train, not --encoder"
        );
    }
    check_splits(&a)?;
    // Every combination is checked before anything trains.
    select::combinations(&config, &grid)?;
    let eval_specs = evals::parse_evals(&a.evals)?;
    drive::io(&a, &out, &eval_specs, config.method, &seeds, validating).check()?;
    let device = nml_torch::resolve_device(a.device)?;
    let evals = evals::eval_tables(eval_specs)?;
    let (train, relabelled) = match &a.train {
        Some(path) => {
            let (table, relabelled) = train_table(&a, path)?;
            (Some(table), relabelled)
        }
        None => (None, None),
    };
    // One validation of the inputs, whichever mode trains: the training rows
    // against every eval table (classes, dimension, labels, empty tables).
    if let Some(table) = &train {
        nml_tune::train::check_inputs(&table.eval_view(), &evals)?;
    }
    if let (Some(r), Some(labels)) = (&relabelled, &a.train_labels) {
        tracing::info!(
            rows = r.rows,
            changed = r.changed,
            rate = format!("{:.4}", r.rate()),
            "training labels from {}",
            labels.display()
        );
    }
    let (config, heads, selected) = if validating {
        let table = train.as_ref().expect("checked: validation needs --train");
        let chosen = select_on_validation(&a, (&config, &grid), table, &evals, (&seeds, device))?;
        (chosen.config, chosen.heads, Some(chosen.selected))
    } else {
        let heads = drive::trained_heads(&a, &config, train.as_ref(), &evals, &seeds, device)?;
        (config.clone(), heads, None)
    };
    let all: Vec<EvalResult> = heads
        .iter()
        .flat_map(|(_, t)| t.results.iter().cloned())
        .collect();
    for r in &all {
        tracing::info!(method = config.method.name(), seed = r.seed, eval = %r.eval, accuracy = format!("{:.4}", r.accuracy), sve = format!("{:.3}", r.sve), lsvr = format!("{:.4}", r.lsvr), "evaluated");
    }
    let inputs = drive::inputs_record(&a, &seeds, &specs, selected.as_ref(), relabelled);
    drive::save_heads(
        a.train.as_deref(),
        &out,
        &config,
        train.as_ref(),
        &evals,
        &heads,
        selected.as_ref(),
    )?;
    if let Some(s) = &selected {
        drive::write_grid(&out, select::grid_frame(s)?)?;
        tracing::info!(chosen = %select::describe(&s.label), validation = format!("{:.4}", s.validation_accuracy), "selected on validation");
    }
    results::write(&out, &config, &all, inputs)?;
    let kept = drive::kept_heads(&out, config.method, &seeds);
    drive::remove_stale(&out, &kept, selected.is_some())?;
    for s in results::summarise(&all) {
        tracing::info!(eval = %s.eval, accuracy = format!("{:.4} ± {:.4}", s.accuracy_mean, s.accuracy_std), "summary");
    }
    Ok(())
}

/// The heads chosen on `--val-split` or `--val-fraction` rows from `grid`.
fn select_on_validation(
    a: &Args,
    (config, grid): (&TuneConfig, &[(select::GridKey, Vec<f64>)]),
    table: &nml_core::FeatureTable,
    evals: &[(String, std::path::PathBuf, nml_core::FeatureTable)],
    (seeds, device): (&[u64], tch::Device),
) -> anyhow::Result<drive::Chosen> {
    let validation = drive::Validation {
        train_path: a
            .train
            .as_deref()
            .expect("checked: validation needs --train"),
        train_domain: a.train_domain.as_deref(),
        val_split: a.val_split.as_deref(),
        val_fraction: a.val_fraction,
    };
    let rows = drive::validation_rows(&validation, table, seeds[0])?;
    drive::selected_heads(config, grid, rows, evals, seeds, device)
}

/// Split and domain flags that cannot select what they say: validation rows
/// inside the training rows, or a flag given an empty name.
fn check_splits(a: &Args) -> anyhow::Result<()> {
    for (flag, value) in [
        ("--train-split", Some(a.train_split.as_str())),
        ("--train-domain", a.train_domain.as_deref()),
        ("--val-split", a.val_split.as_deref()),
    ] {
        if value.is_some_and(|v| v.trim().is_empty()) {
            anyhow::bail!("{flag}: empty; name a split or domain");
        }
    }
    if let Some(val) = &a.val_split {
        if *val == a.train_split {
            anyhow::bail!("--val-split `{val}` is the training split");
        }
        if a.train_split == "all" {
            anyhow::bail!(
                "--val-split `{val}`: --train-split all trains on the validation rows too; name the training split"
            );
        }
    }
    Ok(())
}

/// The flags' hyper-parameters over the official defaults, validated.
fn config_of(a: &Args, method: Method) -> anyhow::Result<TuneConfig> {
    let mut config = TuneConfig::new(method);
    config.epochs = a.epochs;
    config.batch_size = a.batch_size;
    config.lr = a.lr.unwrap_or(config.lr);
    config.weight_decay = a.wd;
    config.mse_weight = a.mse_weight.unwrap_or(config.mse_weight);
    config.cov_weight = a.cov_weight.unwrap_or(config.cov_weight);
    config.svd_weight = a.svd_weight.unwrap_or(config.svd_weight);
    config.svd_topk = a.svd_topk.unwrap_or(config.svd_topk);
    config.residual = !a.no_residual;
    if method == Method::Lp
        && (config.mse_weight != 0.0
            || config.cov_weight != 0.0
            || config.svd_weight != 0.0
            || a.svd_topk.is_some())
    {
        anyhow::bail!(
            "the regularisers act on the MLP's z; use --method nmtune (or mlp) with them"
        );
    }
    if method == Method::Lp && a.no_residual {
        anyhow::bail!("--no-residual: the linear probe has no residual (z = f); drop it or use --method mlp or nmtune");
    }
    if a.svd_topk.is_some() && config.svd_weight == 0.0 {
        anyhow::bail!(
            "--svd-topk: the singular-value term is off (--svd-weight 0); it would change nothing"
        );
    }
    config.validate()?;
    config.two_view = a.two_view || a.encoder.is_some();
    if method == Method::Lp && config.two_view {
        anyhow::bail!(
            "--method lp trains on the eval view, as the official linear probe; drop --two-view and --encoder"
        );
    }
    Ok(config)
}

/// The training table's rows of the requested split and domain (every view),
/// with `--train-labels`' labels when given (and what they changed); errors name
/// an empty selection, `--two-view` without augmented views, or labels that do not fit.
fn train_table(
    a: &Args,
    path: &std::path::Path,
) -> anyhow::Result<(nml_core::FeatureTable, Option<nml_tune::labels::Relabelled>)> {
    let mut train = select_rows(
        load(path)?,
        (a.train_split != "all").then_some(a.train_split.as_str()),
        a.train_domain.as_deref(),
    );
    if train.is_empty() {
        anyhow::bail!(
            "{}: no rows in split `{}`{}",
            path.display(),
            a.train_split,
            a.train_domain
                .as_deref()
                .map_or_else(String::new, |d| format!(" and domain `{d}`"))
        );
    }
    if a.two_view && train.views_per_row() < 2 {
        anyhow::bail!(
            "{}: --two-view needs at least 2 augmented views per row; the table has {} (extract with --views K)",
            path.display(),
            train.views_per_row()
        );
    }
    let relabelled = match &a.train_labels {
        Some(labels) => Some(nml_tune::labels::relabel(&mut train, labels)?),
        None => None,
    };
    Ok((train, relabelled))
}

/// `--seeds`: distinct numbers, comma-separated.
pub(crate) fn parse_seeds(text: &str) -> anyhow::Result<Vec<u64>> {
    let mut seeds = Vec::new();
    for s in text.split(',') {
        let seed = s
            .trim()
            .parse::<u64>()
            .with_context(|| format!("--seeds: `{}` is not a number", s.trim()))?;
        if seeds.contains(&seed) {
            anyhow::bail!("--seeds: seed {seed} is listed twice");
        }
        seeds.push(seed);
    }
    Ok(seeds)
}

/// The rows of `table` in `split` (and `domain`), in order.
pub(crate) fn select_rows(
    table: nml_core::FeatureTable,
    split: Option<&str>,
    domain: Option<&str>,
) -> nml_core::FeatureTable {
    table.select(&table.rows_where(split, domain))
}
