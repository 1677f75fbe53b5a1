//! The sections of the `real-models` study: published backbones as black boxes.

use nml_study::{Split, Variant};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::views_sentence;
use crate::collect::Results;
use crate::markdown::methods;
use crate::run::RunInfo;
use crate::stats::{self, Stat};

/// What was run: the published backbones, tasks and head seeds.
pub(super) fn introduction(s: &mut String, run: &RunInfo, results: &Results) {
    let _ = writeln!(
        s,
        "# nml report: NMTune on published noisy pre-trained models\n\n\
         Backbones pre-trained on noisy data, used as black boxes (frozen features only): {}. \
         MobileNetV2 features of PACS (96 px): heads trained on photo (train split), tested on photo (ID) and on {} (OOD). \
         all-MiniLM-L6-v2 sentence embeddings of SST-2: heads trained on the dev split, tested on the test split (ID). \
         Mean ± standard deviation over {} head seeds ({}), with n; every number is also in `results/*.parquet`. \
         Heads use the official hyper-parameters{}. The features are fixed, so the head seeds alone understate the uncertainty of a \
         comparison: the claim's tests add each side's test-set binomial variance p(1 − p)/N to its seed variance. {}\n",
        run.shape.arch,
        run.shape.ood_domains.join(", "),
        run.seeds.len(),
        run.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        if results.selected.is_empty() {
            ""
        } else {
            "; each also appears *selected*, with its learning rate and weight decay chosen on a validation split (below the heads table)"
        },
        views_sentence(results, run.shape.views)
    );
}

/// LP, MLP and NMTune per model, task and eval: the fixed recipe, and beside
/// it the heads whose hyper-parameters were selected on validation.
pub(super) fn heads(s: &mut String, run: &RunInfo, results: &Results) {
    // The selected heads as results of their own, so that the same averages
    // apply and nothing pools them with the fixed recipe.
    let selected = Results {
        tune: results.selected.clone(),
        ..Results::default()
    };
    let mut columns: Vec<(Variant, String, &Results)> = Vec::new();
    for (variant, label) in methods() {
        columns.push((variant, format!("{label} (%)"), results));
        if !selected.tune.is_empty() {
            columns.push((variant, format!("{label} selected (%)"), &selected));
        }
    }
    let header: Vec<&str> = columns.iter().map(|c| c.1.as_str()).collect();
    let _ = writeln!(
        s,
        "\n## LP vs MLP vs NMTune\n\n| model / task | eval | {} |\n|---|---|{}",
        header.join(" | "),
        "---:|".repeat(columns.len())
    );
    for task in &run.shape.tasks {
        let mut evals: Vec<&str> = results
            .tune
            .iter()
            .filter(|r| &r.task == task)
            .map(|r| r.domain.as_str())
            .collect();
        evals.sort_unstable();
        evals.dedup();
        // The ID eval first, then the others.
        evals.sort_by_key(|e| run.split_of(e) != Split::Id);
        for eval in &evals {
            let cells: Vec<String> = columns
                .iter()
                .map(|(variant, _, from)| {
                    let v: BTreeMap<u64, f64> = from
                        .tune
                        .iter()
                        .filter(|r| &r.task == task && r.variant == *variant && r.domain == *eval)
                        .map(|r| (r.seed, r.accuracy))
                        .collect();
                    Stat::of(&v.into_values().collect::<Vec<_>>()).pct()
                })
                .collect();
            let _ = writeln!(
                s,
                "| {task} | {eval} ({}) | {} |",
                run.split_of(eval),
                cells.join(" | ")
            );
        }
        for split in Split::TRANSFER {
            // An average is shown where a split has several evals.
            if evals.iter().filter(|e| run.split_of(e) == split).count() < 2 {
                continue;
            }
            let cells: Vec<String> = columns
                .iter()
                .map(|&(variant, _, from)| stats::task_accuracy(from, task, variant, split).pct())
                .collect();
            let _ = writeln!(
                s,
                "| {task} | **{split} average** | {} |",
                cells.join(" | ")
            );
        }
    }
    if !selected.tune.is_empty() {
        choices(s, run, &selected);
    }
}

/// How the selected heads were chosen, and what was chosen.
fn choices(s: &mut String, run: &RunInfo, selected: &Results) {
    let mut chosen = Vec::new();
    for task in &run.shape.tasks {
        for (variant, label) in methods() {
            let mut points: Vec<String> = selected
                .tune
                .iter()
                .filter(|r| &r.task == task && r.variant == variant)
                .map(|r| format!("lr {}, wd {}", r.lr, r.weight_decay))
                .collect();
            points.sort_unstable();
            points.dedup();
            if !points.is_empty() {
                chosen.push(format!("{task} {label}: {}", points.join("; ")));
            }
        }
    }
    let _ = writeln!(
        s,
        "\n*Selected*: the learning rate and weight decay of each head chosen from nml-tune's default grid by the mean \
         validation accuracy over the head seeds, on 10 % of each class's training rows held out (stratified); the heads \
         train on the other 90 % and the test rows are not read until the choice is made. Chosen: {}. \
         The claims use the fixed recipe only.",
        chosen.join("; ")
    );
}
