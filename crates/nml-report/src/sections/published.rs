//! The sections of the `real-models` study: published backbones as black
//! boxes, the catalogue's tasks (`nml_study::catalogue::real`).

use nml_study::catalogue::real;
use nml_study::{Split, Variant};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{views_sentence, FigureLine};
use crate::collect::{Results, TuneRecord};
use crate::markdown::methods;
use crate::run::RunInfo;
use crate::stats::Stat;

/// The k the report's k-NN column shows (DINOv2's headline; k = 10 is in `results/knn.parquet`).
const KNN_SHOWN: u64 = 20;

/// What was run: the published backbones, tasks and head seeds.
pub(super) fn introduction(s: &mut String, run: &RunInfo, results: &Results) {
    let tasks: Vec<String> = run
        .shape
        .tasks
        .iter()
        .map(|name| match real::task(name) {
            Some(t) => {
                let evals: Vec<String> = t
                    .evals
                    .iter()
                    .map(|e| format!("{} ({})", e.name, e.kind))
                    .collect();
                format!(
                    "{name}: heads on {}{}, tested on {}",
                    t.train_split,
                    t.train_domain
                        .map_or_else(String::new, |d| format!(" of {d}")),
                    evals.join(", ")
                )
            }
            None => name.clone(),
        })
        .collect();
    let comparisons = |split: Split| {
        let mut units: Vec<(&str, &str)> = results
            .tune
            .iter()
            .filter(|r| r.split == split)
            .map(|r| (r.task.as_str(), r.domain.as_str()))
            .collect();
        units.sort_unstable();
        units.dedup();
        units.len()
    };
    let _ = writeln!(
        s,
        "# nml report: NMTune on published noisy pre-trained models\n\n\
         Backbones pre-trained on noisy data, used as black boxes (frozen features only): {}. \
         {} tasks, {} in-domain and {} out-of-domain comparisons:\n\n{}\n\n\
         Mean ± standard deviation over {} head seeds ({}), with n; every number is also in `results/*.parquet`. \
         LP, MLP and NMTune use the official hyper-parameters. *k-NN* is the cosine k-nearest-neighbour classifier on the frozen \
         features with DINOv2's temperature-weighted votes (T = 0.07, k = {KNN_SHOWN}; k = 10 in `results/knn.parquet`); it trains nothing, \
         so it has no seed. *auto* is `nml-tune --method auto`: LP, MLP and NMTune each chosen on 10 % of the training rows held out \
         (stratified) from its default grid, the best of the three by validation accuracy kept and refit on every training row, \
         with the first head seed only (selection trains 21 heads per seed); its column names the method it kept. \
         The features are fixed, so the head seeds alone understate the uncertainty of a comparison: the claim's tests add the test \
         set's binomial variance p(1 − p)/N. {}\n",
        run.shape.arch,
        run.shape.tasks.len(),
        comparisons(Split::Id),
        comparisons(Split::Ood),
        tasks
            .iter()
            .map(|t| format!("- {t}"))
            .collect::<Vec<_>>()
            .join("\n"),
        run.seeds.len(),
        run.seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        views_sentence(results, run.shape.views)
    );
}

/// What a table shows of a head's record, and of a k-NN record.
type HeadValue = fn(&TuneRecord) -> f64;
type KnnValue = fn(&crate::collect::KnnRecord) -> f64;

/// One column of the heads table.
enum Column<'a> {
    /// A head of the fixed recipe (or of another recipe's records).
    Head(Variant, &'a [TuneRecord]),
    Knn,
    Auto,
}

/// A cell: the column's value on `task`'s `evals` (the mean over them where several).
fn cell(
    column: &Column,
    results: &Results,
    task: &str,
    evals: &[&str],
    value: HeadValue,
    knn_value: KnnValue,
) -> String {
    // Per seed (or the one k-NN score), the mean over `evals`.
    let per_seed = |records: &mut dyn Iterator<Item = (u64, &str, f64)>| -> Stat {
        let mut by: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for (seed, eval, v) in records {
            if evals.contains(&eval) {
                by.entry(seed).or_default().push(v);
            }
        }
        let values: Vec<f64> = by
            .into_values()
            .filter(|v| v.len() == evals.len())
            .map(|v| v.iter().sum::<f64>() / v.len() as f64)
            .collect();
        Stat::of(&values)
    };
    match column {
        Column::Head(variant, records) => per_seed(
            &mut records
                .iter()
                .filter(|r| r.task == task && r.variant == *variant)
                .map(|r| (r.seed, r.domain.as_str(), value(r))),
        )
        .pct(),
        Column::Knn => per_seed(
            &mut results
                .knn
                .iter()
                .filter(|r| r.task == task && r.k == KNN_SHOWN)
                .map(|r| (0, r.domain.as_str(), knn_value(r))),
        )
        .pct(),
        Column::Auto => {
            let kept: Vec<&TuneRecord> = results.auto.iter().filter(|r| r.task == task).collect();
            let stat = per_seed(&mut kept.iter().map(|r| (r.seed, r.domain.as_str(), value(r))));
            match kept.first() {
                Some(r) => format!("{} {}", stat.pct(), r.variant.method().label()),
                None => stat.pct(),
            }
        }
    }
}

/// LP, MLP, NMTune, k-NN and auto per task and eval set (with the ID and OOD
/// means of a task that has several), by top-1 and by balanced accuracy; the
/// heads selected on validation, where a study has them, beside their fixed twins.
pub(super) fn heads(s: &mut String, run: &RunInfo, results: &Results, fig: &FigureLine) {
    let mut columns: Vec<(Column, String)> = Vec::new();
    for (variant, label) in methods() {
        columns.push((Column::Head(variant, &results.tune), format!("{label} (%)")));
        if !results.selected.is_empty() {
            columns.push((
                Column::Head(variant, &results.selected),
                format!("{label} selected (%)"),
            ));
        }
    }
    if !results.knn.is_empty() {
        columns.push((Column::Knn, format!("k-NN, k = {KNN_SHOWN} (%)")));
    }
    if !results.auto.is_empty() {
        columns.push((Column::Auto, "auto (%)".to_owned()));
    }
    let tables: [(&str, HeadValue, KnnValue); 2] = [
        (
            "LP vs MLP vs NMTune, k-NN and auto: top-1 accuracy",
            |r| r.accuracy,
            |r| r.accuracy,
        ),
        (
            "Balanced accuracy (the mean of per-class recalls)",
            |r| r.balanced_accuracy,
            |r| r.balanced_accuracy,
        ),
    ];
    for (title, value, knn_value) in tables {
        let header: Vec<&str> = columns.iter().map(|c| c.1.as_str()).collect();
        let _ = writeln!(
            s,
            "\n## {title}\n\n| model / task | eval | {} |\n|---|---|{}",
            header.join(" | "),
            "---:|".repeat(columns.len())
        );
        for task in &run.shape.tasks {
            let mut evals: Vec<(&str, Split)> = results
                .tune
                .iter()
                .filter(|r| &r.task == task)
                .map(|r| (r.domain.as_str(), r.split))
                .collect();
            evals.sort_unstable();
            evals.dedup();
            // The ID eval first, then the others.
            evals.sort_by_key(|e| e.1 != Split::Id);
            let row = |s: &mut String, label: String, of: &[&str]| {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|(c, _)| cell(c, results, task, of, value, knn_value))
                    .collect();
                let _ = writeln!(s, "| {task} | {label} | {} |", cells.join(" | "));
            };
            for (eval, split) in &evals {
                row(s, format!("{eval} ({split})"), &[eval]);
            }
            for split in Split::TRANSFER {
                let of: Vec<&str> = evals.iter().filter(|e| e.1 == split).map(|e| e.0).collect();
                if of.len() >= 2 {
                    row(s, format!("**{split} mean**"), &of);
                }
            }
        }
    }
    if !results.auto.is_empty() {
        choices(s, run, results);
    }
    fig(
        s,
        "nmtune-vs-lp",
        "NMTune − LP per comparison (fixed recipe, mean over head seeds), against LP's accuracy; \
         error bars: one standard error, the head seeds' spread and both sides' test-set binomial \
         variance, as claim 6 pools them. Above the line, NMTune is ahead.",
    );
}

/// What `auto` kept per task: the method and its learning rate and weight decay.
fn choices(s: &mut String, run: &RunInfo, results: &Results) {
    let mut chosen = Vec::new();
    for task in &run.shape.tasks {
        if let Some(r) = results.auto.iter().find(|r| &r.task == task) {
            chosen.push(format!(
                "{task}: {} (lr {}, wd {})",
                r.variant.method().label(),
                r.lr,
                r.weight_decay
            ));
        }
    }
    let _ = writeln!(
        s,
        "\n*auto* kept: {}. The test rows are not read until the choice is made; the claims use the fixed recipe only.",
        chosen.join("; ")
    );
}
