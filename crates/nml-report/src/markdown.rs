//! The report text, and the summary tables it shows (also written as Parquet).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::collect::Results;
use crate::run::RunInfo;
use crate::stats::{self, Claim, Stat};
use crate::{figures, ReportError, Result};

/// Ablation variants in table order, with what each removes.
pub const ABLATION: [(&str, &str); 6] = [
    ("nmtune", "NMTune (all three regularisers)"),
    ("no-consistency", "without the consistency term"),
    ("no-covariance", "without the covariance term"),
    ("no-singular", "without the dominant-singular-value term"),
    ("mlp", "MLP tuning (none of them)"),
    ("lp", "linear probing"),
];

const METHODS: [(&str, &str); 3] = [("lp", "LP"), ("mlp", "MLP"), ("nmtune", "NMTune")];

/// Reads `run` and the tables it lists under `dir`; writes `dir/REPORT.md`,
/// `dir/figures/*` and `dir/results/*.parquet`. Returns the claims.
pub fn write_report(run_path: &Path, dir: &Path) -> Result<Vec<Claim>> {
    let run = RunInfo::read(run_path)?;
    let all = Results::collect(&run, dir)?;
    // The claims, figures and summaries are the supervised study's ratios;
    // real noise conditions and the contrastive setting get their own sections.
    let (results, real_noise) = all.setting("supervised").split_real_noise();
    let contrastive = all.setting("contrastive");
    let claims = stats::claims(&run, &results);
    let contrastive_claims =
        (!contrastive.tune.is_empty()).then(|| stats::claims(&run, &contrastive));
    let results_dir = dir.join("results");
    let mut frames = all.frames()?;
    let mut summary = summary_frame(&run, &results, "supervised")?;
    if !contrastive.tune.is_empty() {
        summary
            .vstack_mut(&summary_frame(&run, &contrastive, "contrastive")?)
            .map_err(polars_error("results/summary.parquet"))?;
    }
    frames.push(("summary", summary));
    let real = run.benchmark == "real-models";
    if !real {
        frames.push(("ablation", ablation_frame(&run, &results)?));
    }
    let mut all_claims: Vec<(&str, &Claim)> = claims.iter().map(|c| ("supervised", c)).collect();
    if let Some(cc) = &contrastive_claims {
        all_claims.extend(cc.iter().map(|c| ("contrastive", c)));
    }
    frames.push(("claims", claims_frame(&all_claims)?));
    frames.push(("timings", timings_frame(&run)?));
    for (stem, frame) in &mut frames {
        let path = results_dir.join(format!("{stem}.parquet"));
        let mut file = nml_core::AtomicFile::create(&path)?;
        ParquetWriter::new(&mut file)
            .finish(frame)
            .map_err(|source| ReportError::Polars {
                path: path.clone(),
                source,
            })?;
        file.commit()?;
    }
    let figures_dir = dir.join("figures");
    // The figures plot against the noise ratio: the noisy-pre-training study only.
    let mut stems = if real {
        Vec::new()
    } else {
        figures::write_all(&run, &results, &figures_dir)?
    };
    if !contrastive.tune.is_empty() {
        let stem = "settings-lp-vs-noise";
        nml_spectral::plot::write_figure(
            &figures::settings(&run, &results, &contrastive),
            &figures_dir.join(stem),
        )?;
        stems.push(stem);
    }
    // The spectrum figure is nml-spectral's; copy it beside the others.
    for ext in ["png", "svg"] {
        let from = dir.join("spectral/figure/spectrum").with_extension(ext);
        if let Ok(bytes) = std::fs::read(&from) {
            nml_core::write_atomic(figures_dir.join("spectrum").with_extension(ext), &bytes)?;
        }
    }
    let mut text = render(&run, &results, &claims, &stems);
    // Extra sections go before the provenance section, which closes the report.
    let mut extra = String::new();
    if !real_noise.pretrain.is_empty() {
        extra.push_str(&real_noise_section(&run, &results, &real_noise));
    }
    if let Some(cc) = &contrastive_claims {
        extra.push_str(&contrastive_section(
            &run,
            &results,
            &contrastive,
            cc,
            &stems,
        ));
    }
    let at = text.find("\n## Provenance").unwrap_or(text.len());
    text.insert_str(at, &extra);
    nml_core::write_atomic(dir.join("REPORT.md"), text.as_bytes())?;
    Ok(claims)
}

fn polars_error(path: &str) -> impl Fn(PolarsError) -> ReportError + '_ {
    move |source| ReportError::Polars {
        path: PathBuf::from(path),
        source,
    }
}

/// `setting, ratio, variant, split, mean, std, seeds`: accuracy over seeds.
pub fn summary_frame(run: &RunInfo, results: &Results, setting: &str) -> Result<DataFrame> {
    let mut rows: Vec<(u32, String, &str, Stat)> = Vec::new();
    let variants: Vec<String> = {
        let mut v: Vec<String> = results.tune.iter().map(|r| r.variant.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    for &ratio in &run.ratios {
        for variant in &variants {
            for split in ["ID", "OOD"] {
                let s = stats::accuracy(results, ratio, variant, split);
                if s.n > 0 {
                    rows.push((ratio, variant.clone(), split, s));
                }
            }
        }
    }
    df!(
        "setting" => vec![setting; rows.len()],
        "ratio" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "variant" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        "split" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        "mean" => rows.iter().map(|r| r.3.mean).collect::<Vec<_>>(),
        "std" => rows.iter().map(|r| r.3.std).collect::<Vec<_>>(),
        "seeds" => rows.iter().map(|r| r.3.n as u32).collect::<Vec<_>>()
    )
    .map_err(polars_error("results/summary.parquet"))
}

fn ablation_frame(run: &RunInfo, results: &Results) -> Result<DataFrame> {
    let mut rows = Vec::new();
    for (variant, _) in ABLATION {
        for split in ["ID", "OOD"] {
            let s = stats::accuracy(results, run.ablation_ratio, variant, split);
            rows.push((variant, split, s));
        }
    }
    df!(
        "ratio" => vec![run.ablation_ratio; rows.len()],
        "variant" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "split" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "mean" => rows.iter().map(|r| r.2.mean).collect::<Vec<_>>(),
        "std" => rows.iter().map(|r| r.2.std).collect::<Vec<_>>(),
        "seeds" => rows.iter().map(|r| r.2.n as u32).collect::<Vec<_>>()
    )
    .map_err(polars_error("results/ablation.parquet"))
}

fn claims_frame(claims: &[(&str, &Claim)]) -> Result<DataFrame> {
    df!(
        "setting" => claims.iter().map(|c| c.0).collect::<Vec<_>>(),
        "claim_id" => claims.iter().map(|c| c.1.id).collect::<Vec<_>>(),
        "claim" => claims.iter().map(|c| c.1.claim).collect::<Vec<_>>(),
        "verdict" => claims.iter().map(|c| c.1.verdict.to_string()).collect::<Vec<_>>(),
        "rule" => claims.iter().map(|c| c.1.rule).collect::<Vec<_>>(),
        "evidence" => claims.iter().map(|c| c.1.evidence.clone()).collect::<Vec<_>>()
    )
    .map_err(polars_error("results/claims.parquet"))
}

/// Steps and wall seconds per stage.
fn stage_times(run: &RunInfo) -> Vec<(String, usize, f64)> {
    let mut by: BTreeMap<usize, (String, usize, f64)> = BTreeMap::new();
    let order = [
        "data", "corrupt", "pretrain", "features", "spectral", "tune",
    ];
    for s in &run.steps {
        let i = order
            .iter()
            .position(|o| *o == s.stage)
            .unwrap_or(order.len());
        let e = by.entry(i).or_insert_with(|| (s.stage.clone(), 0, 0.0));
        e.1 += 1;
        e.2 += s.seconds.unwrap_or(0.0);
    }
    by.into_values().collect()
}

fn timings_frame(run: &RunInfo) -> Result<DataFrame> {
    let t = stage_times(run);
    df!(
        "stage" => t.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "steps" => t.iter().map(|r| r.1 as u32).collect::<Vec<_>>(),
        "seconds" => t.iter().map(|r| r.2).collect::<Vec<_>>()
    )
    .map_err(polars_error("results/timings.parquet"))
}

/// The report of the `real-models` study: published backbones as black boxes.
pub fn render_real(run: &RunInfo, results: &Results, claims: &[Claim]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# nml report: NMTune on published noisy pre-trained models\n\n\
         Backbones pre-trained on noisy data, used as black boxes (frozen features only): {}. \
         MobileNetV2 features of PACS (96 px): heads trained on photo (train split), tested on photo (ID) and on {} (OOD). \
         all-MiniLM-L6-v2 sentence embeddings of SST-2: heads trained on the dev split, tested on the test split (ID). \
         Mean ± standard deviation over {} head seeds ({}); every number is also in `results/*.parquet`. \
         Heads use the official hyper-parameters; features are cached, so NMTune's consistency term compares z with the frozen \
         feature of the same view (the official code compares a strongly augmented view's z with a weakly augmented view's feature).\n",
        run.arch,
        run.ood_domains.join(", "),
        run.seeds.len(),
        run.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
    s.push_str(
        "## Claims checklist\n\n| # | claim | verdict | evidence | rule |\n|---|---|---|---|---|\n",
    );
    for c in claims {
        let _ = writeln!(
            s,
            "| {} | {} | **{}** | {} | {} |",
            c.id, c.claim, c.verdict, c.evidence, c.rule
        );
    }
    s.push_str("\n## LP vs MLP vs NMTune\n\n| model / task | eval | LP (%) | MLP (%) | NMTune (%) |\n|---|---|---:|---:|---:|\n");
    for task in &run.tasks {
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
    provenance(&mut s, run);
    s
}

/// The Markdown report.
pub fn render(run: &RunInfo, results: &Results, claims: &[Claim], figures: &[&str]) -> String {
    if run.benchmark == "real-models" {
        return render_real(run, results, claims);
    }
    let mut s = String::new();
    let seeds = run.seeds.len();
    let _ = writeln!(
        s,
        "# nml reproduction report\n\n\
         Chen et al., *Understanding and Mitigating the Label Noise in Pre-training on Downstream Tasks* (ICLR 2024), \
         re-run on the `{}` benchmark with the `{}` profile: a `{}` backbone pre-trained for {} epochs at each noise ratio \
         ({}%), {seeds} seed(s) ({}), heads trained on the `{}` domain and tested on it (ID) and on {} (OOD). \
         {}Every value is a mean ± standard deviation over seeds; every number is also in `results/*.parquet`.\n",
        run.benchmark,
        run.profile,
        run.arch,
        run.epochs,
        run.ratios.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
        run.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        run.id_domain,
        run.ood_domains.join(", "),
        if run.id_evals.is_empty() {
            String::new()
        } else {
            format!(
                "Task(s) without domains ({}) are in-domain: heads train on their train split and are tested on their test split. ",
                run.id_evals.join(", ")
            )
        }
    );
    // Claims first: the answer, then the evidence.
    s.push_str("## Claims checklist\n\nEach claim of the paper (PAPER.md §5) is decided by the rule beside it, from the numbers below; \
                *significantly* means by more than the larger of the two seed standard deviations, with two seeds or more.\n\n\
                | # | claim | verdict | evidence | rule |\n|---|---|---|---|---|\n");
    for c in claims {
        let _ = writeln!(
            s,
            "| {} | {} | **{}** | {} | {} |",
            c.id, c.claim, c.verdict, c.evidence, c.rule
        );
    }

    s.push_str("\n## Pre-training\n\nSymmetric label noise in the pre-training corpus, then one backbone per ratio and seed, trained on the noisy labels. \
                *train (noisy)* is agreement with the labels training saw, *train (clean)* with the true ones: their gap is memorised noise.\n\n\
                | noise | realised | test acc | train (noisy) | train (clean) |\n|---:|---:|---:|---:|---:|\n");
    for &ratio in &run.ratios {
        let of = |f: fn(&crate::collect::PretrainRecord) -> f64| {
            let v: Vec<f64> = results
                .pretrain
                .iter()
                .filter(|r| r.ratio == ratio)
                .map(f)
                .collect();
            Stat::of(&v)
        };
        let _ = writeln!(
            s,
            "| {ratio}% | {:.4} | {} | {} | {} |",
            of(|r| r.noise_realised).mean,
            of(|r| r.test_acc).pct(),
            of(|r| r.train_acc_noisy).pct(),
            of(|r| r.train_acc_clean).pct()
        );
    }

    let fig = |s: &mut String, stem: &str, caption: &str| {
        if figures.contains(&stem) || stem == "spectrum" {
            let _ = writeln!(
                s,
                "\n![{caption}](figures/{stem}.png)\n\n*{caption}* (also `figures/{stem}.svg`)\n"
            );
        }
    };
    s.push_str("\n## Figure 1/2 analogue: linear probing against pre-training noise\n");
    fig(&mut s, "fig1-lp-vs-noise", "average ID and OOD linear-probing accuracy against the pre-training noise ratio, error bars one seed standard deviation");
    s.push_str("| noise | LP ID (%) | LP OOD (%) |\n|---:|---:|---:|\n");
    for &ratio in &run.ratios {
        let _ = writeln!(
            s,
            "| {ratio}% | {} | {} |",
            stats::accuracy(results, ratio, "lp", "ID").pct(),
            stats::accuracy(results, ratio, "lp", "OOD").pct()
        );
    }

    s.push_str("\n## Figure 3/5 analogue: the feature spectrum\n\nSingular values of each backbone's features of the downstream test rows \
                (official preprocessing: L2 rows, row centring), per task and domain, averaged. SVE is the entropy of σ_i/Σσ; LSVR is σ₁/Σσ.\n");
    fig(&mut s, "spectrum", "σ_i/Σσ against rank (log-log), ID test features of the first seed, one line per noise ratio");
    fig(
        &mut s,
        "fig3-spectrum-vs-noise",
        "SVE of ID features and LSVR of OOD features against the noise ratio",
    );
    fig(
        &mut s,
        "fig5-spectrum-vs-accuracy",
        "SVE against ID accuracy and LSVR against OOD accuracy, one point per backbone",
    );
    s.push_str(
        "| noise | SVE (ID) | SVE (OOD) | LSVR (ID) | LSVR (OOD) |\n|---:|---:|---:|---:|---:|\n",
    );
    for &ratio in &run.ratios {
        let _ = writeln!(
            s,
            "| {ratio}% | {} | {} | {} | {} |",
            stats::spectral(results, ratio, "ID", stats::sve).fixed(4),
            stats::spectral(results, ratio, "OOD", stats::sve).fixed(4),
            stats::spectral(results, ratio, "ID", stats::lsvr).fixed(4),
            stats::spectral(results, ratio, "OOD", stats::lsvr).fixed(4)
        );
    }

    s.push_str("\n## NMTune: LP vs MLP vs NMTune\n\nHeads on frozen features with the official hyper-parameters (AdamW, batch 64, 30 epochs, cosine; \
                NMTune weights 1.0 / 0.04 / 0.001, top-5). Features are cached, so NMTune's consistency term compares z with the frozen feature of the same view.\n");
    fig(
        &mut s,
        "nmtune-vs-noise",
        "ID and OOD accuracy of the three heads against the noise ratio",
    );
    s.push_str("| noise | LP ID | MLP ID | NMTune ID | LP OOD | MLP OOD | NMTune OOD |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    for &ratio in &run.ratios {
        let mut row = format!("| {ratio}% |");
        method_cells(&mut row, results, ratio);
        let _ = writeln!(s, "{row}");
    }

    let _ = writeln!(
        s,
        "\n## Ablation of NMTune's regularisers ({}% noise)\n\n| head | ID (%) | OOD (%) |\n|---|---:|---:|",
        run.ablation_ratio
    );
    for (variant, what) in ABLATION {
        let _ = writeln!(
            s,
            "| {what} (`{variant}`) | {} | {} |",
            stats::accuracy(results, run.ablation_ratio, variant, "ID").pct(),
            stats::accuracy(results, run.ablation_ratio, variant, "OOD").pct()
        );
    }

    provenance(&mut s, run);
    s
}

/// Appends the LP, MLP and NMTune accuracy cells at `ratio`, ID then OOD.
fn method_cells(row: &mut String, results: &Results, ratio: u32) {
    for split in ["ID", "OOD"] {
        for (m, _) in METHODS {
            let _ = write!(
                row,
                " {} |",
                stats::accuracy(results, ratio, m, split).pct()
            );
        }
    }
}

/// Real label noise beside synthetic noise of similar rate: one row per
/// condition, ordered by realised noise rate.
pub fn real_noise_section(run: &RunInfo, synthetic: &Results, real: &Results) -> String {
    let mut s = String::from(
        "\n## Real noise beside synthetic noise\n\nThe same pipeline with the pre-training labels replaced by human noisy labels \
         (each row a noise condition; realised rate = fraction of training labels that differ from the clean ones), \
         sorted by realised rate so each real condition sits between the symmetric ratios closest to it.\n\n\
         | pre-training labels | realised | test acc | SVE (ID) | LSVR (OOD) | LP ID | MLP ID | NMTune ID | LP OOD | MLP OOD | NMTune OOD |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut rows: Vec<(f64, String)> = Vec::new();
    for (results, ratios) in [
        (synthetic, run.ratios.clone()),
        (real, {
            let mut r: Vec<u32> = real.pretrain.iter().map(|p| p.ratio).collect();
            r.sort_unstable();
            r.dedup();
            r
        }),
    ] {
        for ratio in ratios {
            let pretrain: Vec<&crate::collect::PretrainRecord> = results
                .pretrain
                .iter()
                .filter(|r| r.ratio == ratio)
                .collect();
            let Some(first) = pretrain.first() else {
                continue;
            };
            let name = if crate::run::is_real_noise(&first.noise) {
                format!("`{}`", first.noise)
            } else {
                format!("symmetric {ratio}%")
            };
            let realised = Stat::of(
                &pretrain
                    .iter()
                    .map(|r| r.noise_realised)
                    .collect::<Vec<_>>(),
            );
            let test = Stat::of(&pretrain.iter().map(|r| r.test_acc).collect::<Vec<_>>());
            let mut row = format!(
                "| {name} | {:.1}% | {} | {} | {} |",
                100.0 * realised.mean,
                test.pct(),
                stats::spectral(results, ratio, "ID", stats::sve).fixed(3),
                stats::spectral(results, ratio, "OOD", stats::lsvr).fixed(3)
            );
            method_cells(&mut row, results, ratio);
            rows.push((realised.mean, row));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, row) in rows {
        s.push_str(&row);
        s.push('\n');
    }
    s
}

/// The paper's second setting beside the first: CLIP-style pre-training with
/// swapped captions, its zero-shot accuracy, spectrum and heads, and the
/// claims decided again on its numbers.
pub fn contrastive_section(
    run: &RunInfo,
    supervised: &Results,
    contrastive: &Results,
    claims: &[Claim],
    figures: &[&str],
) -> String {
    let mut s = String::from(
        "\n## Contrastive pre-training (the paper's image–text setting)\n\n\
         The same backbone trained CLIP-style on the images' captions (bag-of-tokens text tower, symmetric InfoNCE, learnable temperature), \
         with noise injected by swapping captions between pairs: a ratio is the fraction of training image–text pairs whose caption belongs to another pair. \
         The frozen image tower then goes through the same feature cache, spectrum and LP / MLP / NMTune heads. \
         Supervised and contrastive columns sit side by side, as the paper's ImageNet-1K and YFCC15M panels.\n",
    );
    if figures.contains(&"settings-lp-vs-noise") {
        s.push_str("\n![linear probing against pre-training noise, supervised and contrastive](figures/settings-lp-vs-noise.png)\n\n\
                    *ID and OOD linear-probing accuracy against the noise ratio, both settings* (also `figures/settings-lp-vs-noise.svg`)\n");
    }
    s.push_str("\n| noise | zero-shot | SVE (ID) | LSVR (OOD) | LP ID sup. | LP ID con. | LP OOD sup. | LP OOD con. | NMTune ID con. | NMTune OOD con. |\n\
                |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for &ratio in &run.ratios {
        let zero_shot: Vec<f64> = contrastive
            .pretrain
            .iter()
            .filter(|r| r.ratio == ratio)
            .map(|r| r.test_acc)
            .collect();
        let _ = writeln!(
            s,
            "| {ratio}% | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            Stat::of(&zero_shot).pct(),
            stats::spectral(contrastive, ratio, "ID", stats::sve).fixed(3),
            stats::spectral(contrastive, ratio, "OOD", stats::lsvr).fixed(3),
            stats::accuracy(supervised, ratio, "lp", "ID").pct(),
            stats::accuracy(contrastive, ratio, "lp", "ID").pct(),
            stats::accuracy(supervised, ratio, "lp", "OOD").pct(),
            stats::accuracy(contrastive, ratio, "lp", "OOD").pct(),
            stats::accuracy(contrastive, ratio, "nmtune", "ID").pct(),
            stats::accuracy(contrastive, ratio, "nmtune", "OOD").pct()
        );
    }
    s.push_str("\nThe claims, decided by the same rules on the contrastive numbers:\n\n| # | verdict | evidence |\n|---|---|---|\n");
    for c in claims {
        let _ = writeln!(s, "| {} | **{}** | {} |", c.id, c.verdict, c.evidence);
    }
    s
}

fn provenance(s: &mut String, run: &RunInfo) {
    s.push_str("\n## Provenance\n\n");
    let _ = writeln!(
        s,
        "- git commit: `{}`\n- command: `cargo xtask reproduce --benchmark {} --profile {} --seed {} --device {}` ({} job(s))\n\
         - seeds: {}\n- results index: `run.json`; per-step logs: `logs/`; step keys: `.steps/`\n",
        run.git_commit,
        run.benchmark,
        run.profile,
        run.seed,
        run.device,
        run.jobs,
        run.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
    s.push_str("| stage | steps | wall time (s, summed over steps) |\n|---|---:|---:|\n");
    let mut total = 0.0;
    for (stage, steps, seconds) in stage_times(run) {
        total += seconds;
        let _ = writeln!(s, "| {stage} | {steps} | {seconds:.1} |");
    }
    let _ = writeln!(s, "| total | {} | {total:.1} |", run.steps.len());
    let _ = writeln!(
        s,
        "\nEnvironment (`nml-doctor`):\n\n```text\n{}\n```",
        run.environment.trim_end()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::PretrainRecord;

    fn pretrain(noise: &str, ratio: u32, realised: f64) -> PretrainRecord {
        PretrainRecord {
            setting: "supervised".to_owned(),
            noise: noise.to_owned(),
            ratio,
            seed: 0,
            noise_realised: realised,
            test_acc: 0.5,
            train_acc_noisy: 0.5,
            train_acc_clean: 0.5,
            images_per_sec: 1.0,
        }
    }

    #[test]
    fn real_noise_rows_sit_between_the_ratios_of_similar_rate() {
        let run = stats::tests::run(&[0]);
        let mut all = stats::tests::results(&run, 1.0);
        for &ratio in &run.ratios {
            all.pretrain
                .push(pretrain("symmetric", ratio, f64::from(ratio) / 100.0));
        }
        all.pretrain.push(pretrain("cifar10n-aggre", 9, 0.0901));
        all.pretrain.push(pretrain("cifar10n-worse", 40, 0.4021));
        let mut tune = all.tune[0].clone();
        (tune.noise, tune.ratio, tune.accuracy) = ("cifar10n-aggre".to_owned(), 9, 0.123);
        all.tune.push(tune);

        let (synthetic, real) = all.split_real_noise();
        assert_eq!(synthetic.pretrain.len(), 5);
        assert_eq!(real.pretrain.len(), 2);
        assert_eq!(real.tune.len(), 1);
        assert!(synthetic.tune.iter().all(|r| r.noise == "symmetric"));

        let text = real_noise_section(&run, &synthetic, &real);
        let order: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("| symmetric") || l.starts_with("| `"))
            .map(|l| l.split('|').nth(1).unwrap().trim())
            .collect();
        assert_eq!(
            order,
            [
                "symmetric 0%",
                "symmetric 5%",
                "`cifar10n-aggre`",
                "symmetric 10%",
                "symmetric 20%",
                "symmetric 30%",
                "`cifar10n-worse`"
            ]
        );
        let aggre = text.lines().find(|l| l.contains("cifar10n-aggre")).unwrap();
        assert!(
            aggre.contains("| 9.0% |") && aggre.contains("12.3"),
            "{aggre}"
        );
    }
}
