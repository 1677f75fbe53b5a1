//! `nml-tune`: linear probing, MLP tuning or NMTune on cached features.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use nml_core::logging::{self, Verbosity};
use nml_core::DeviceSpec;
use nml_tune::train::load;
use nml_tune::{results, tune, Method, TuneConfig};

/// Train a head on frozen features and evaluate it on named tables.
///
/// lp: a linear classifier (defaults lr 0.01). mlp: NMTune's MLP with the
/// residual z = s*h(f) + f, cross-entropy only. nmtune: the same plus
/// consistency (1.0), covariance (0.04) and dominant-singular-value (0.001,
/// top-5) terms. AdamW (wd 1e-4), batch 64, 30 epochs, per-step cosine decay:
/// the official README's values. Writes OUT/results.parquet (a row per seed
/// and eval set: accuracy, SVE and LSVR of z) and OUT/summary.json (mean and
/// std over seeds).
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Training feature table (rows of --train-split)
    #[arg(long)]
    train: PathBuf,
    /// Split of the training table to train on (`all`: every row)
    #[arg(long, default_value = "train")]
    train_split: String,
    /// Only train on rows of this domain (the source domain; others are then OOD)
    #[arg(long)]
    train_domain: Option<String>,
    /// Evaluation tables, NAME=PATH[:SPLIT[:DOMAIN]] (default split: test), repeatable
    #[arg(long = "eval", required = true)]
    evals: Vec<String>,
    /// lp, mlp or nmtune
    #[arg(long)]
    method: Method,
    /// Epochs
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Batch size
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate (default: 0.01 for lp, 1e-3 otherwise)
    #[arg(long)]
    lr: Option<f64>,
    /// AdamW weight decay
    #[arg(long, default_value_t = 1e-4)]
    wd: f64,
    /// Consistency weight (nmtune default 1.0)
    #[arg(long)]
    mse_weight: Option<f64>,
    /// Covariance weight (nmtune default 0.04)
    #[arg(long)]
    cov_weight: Option<f64>,
    /// Dominant-singular-value weight (nmtune default 0.001)
    #[arg(long)]
    svd_weight: Option<f64>,
    /// How many top singular values the SVD term raises
    #[arg(long, default_value_t = 5)]
    svd_topk: i64,
    /// z = h(f) instead of z = s*h(f) + f
    #[arg(long)]
    no_residual: bool,
    /// Seeds, comma-separated: one head per seed, mean and std in the summary
    #[arg(long, default_value = "3907")]
    seeds: String,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Output folder
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.verbosity);
    logging::exit_code(run(args))
}

fn run(a: Args) -> anyhow::Result<()> {
    nml_torch::configure_threads(None);
    let device = nml_torch::resolve_device(a.device)?;
    let mut config = TuneConfig::new(a.method);
    config.epochs = a.epochs;
    config.batch_size = a.batch_size;
    config.lr = a.lr.unwrap_or(config.lr);
    config.weight_decay = a.wd;
    config.mse_weight = a.mse_weight.unwrap_or(config.mse_weight);
    config.cov_weight = a.cov_weight.unwrap_or(config.cov_weight);
    config.svd_weight = a.svd_weight.unwrap_or(config.svd_weight);
    config.svd_topk = a.svd_topk;
    config.residual = !a.no_residual;
    if a.method == Method::Lp
        && (config.mse_weight != 0.0 || config.cov_weight != 0.0 || config.svd_weight != 0.0)
    {
        anyhow::bail!(
            "the regularisers act on the MLP's z; use --method nmtune (or mlp) with them"
        );
    }
    let seeds: Vec<u64> = a
        .seeds
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .with_context(|| format!("--seeds: `{s}` is not a number"))
        })
        .collect::<anyhow::Result<_>>()?;
    let train = select(
        load(&a.train)?,
        (a.train_split != "all").then_some(a.train_split.as_str()),
        a.train_domain.as_deref(),
    );
    if train.is_empty() {
        anyhow::bail!(
            "{}: no rows in split `{}`{}",
            a.train.display(),
            a.train_split,
            a.train_domain
                .as_deref()
                .map_or_else(String::new, |d| format!(" and domain `{d}`"))
        );
    }
    let mut evals = Vec::new();
    for spec in &a.evals {
        let (name, rest) = spec
            .split_once('=')
            .with_context(|| format!("--eval `{spec}`: expected NAME=PATH[:SPLIT[:DOMAIN]]"))?;
        let mut parts = rest.splitn(3, ':');
        let path = PathBuf::from(parts.next().unwrap_or_default());
        let split = parts.next().unwrap_or("test");
        let domain = parts.next();
        let table = select(load(&path)?, (split != "all").then_some(split), domain);
        evals.push((name.to_owned(), path, table));
    }
    let mut all = Vec::new();
    for &seed in &seeds {
        let results = tune(&config, &train, &evals, seed, device)?;
        for r in &results {
            tracing::info!(method = a.method.name(), seed, eval = %r.eval, accuracy = format!("{:.4}", r.accuracy), sve = format!("{:.3}", r.sve), lsvr = format!("{:.4}", r.lsvr), "evaluated");
        }
        all.extend(results);
    }
    let inputs = serde_json::json!({ "train": a.train.display().to_string(), "train_split": a.train_split, "train_domain": a.train_domain, "evals": a.evals, "seeds": seeds });
    results::write(&a.out, &config, &all, inputs)?;
    for s in results::summarise(&all) {
        tracing::info!(eval = %s.eval, accuracy = format!("{:.4} ± {:.4}", s.accuracy_mean, s.accuracy_std), "summary");
    }
    Ok(())
}

/// The rows of `table` in `split` (and `domain`), in order.
fn select(
    table: nml_core::FeatureTable,
    split: Option<&str>,
    domain: Option<&str>,
) -> nml_core::FeatureTable {
    table.select(&table.rows_where(split, domain))
}
