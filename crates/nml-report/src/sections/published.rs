//! The sections of the `real-models` study: published backbones as black boxes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::views_sentence;
use crate::collect::Results;
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
         Heads use the official hyper-parameters. The features are fixed, so the head seeds alone understate the uncertainty of a \
         comparison: the claim's tests add each side's test-set binomial variance p(1 − p)/N to its seed variance. {}\n",
        run.shape.arch,
        run.shape.ood_domains.join(", "),
        run.seeds.len(),
        run.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        views_sentence(results, run.shape.views)
    );
}

/// LP, MLP and NMTune per model, task and eval.
pub(super) fn heads(s: &mut String, run: &RunInfo, results: &Results) {
    s.push_str("\n## LP vs MLP vs NMTune\n\n| model / task | eval | LP (%) | MLP (%) | NMTune (%) |\n|---|---|---:|---:|---:|\n");
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
        evals.sort_by_key(|e| run.split_of(e) != "ID");
        for eval in &evals {
            let cell = |variant: &str| {
                let v: BTreeMap<u64, f64> = results
                    .tune
                    .iter()
                    .filter(|r| &r.task == task && r.variant == variant && r.domain == *eval)
                    .map(|r| (r.seed, r.accuracy))
                    .collect();
                Stat::of(&v.into_values().collect::<Vec<_>>()).pct()
            };
            let _ = writeln!(
                s,
                "| {task} | {eval} ({}) | {} | {} | {} |",
                run.split_of(eval),
                cell("lp"),
                cell("mlp"),
                cell("nmtune")
            );
        }
        for split in ["ID", "OOD"] {
            // An average is shown where a split has several evals.
            if evals.iter().filter(|e| run.split_of(e) == split).count() < 2 {
                continue;
            }
            let l = stats::task_accuracy(results, task, "lp", split);
            let _ = writeln!(
                s,
                "| {task} | **{split} average** | {} | {} | {} |",
                l.pct(),
                stats::task_accuracy(results, task, "mlp", split).pct(),
                stats::task_accuracy(results, task, "nmtune", split).pct()
            );
        }
    }
}
