//! The report text, and the summary tables it shows (also written as Parquet).

use nml_study::{Setting, Split, Variant};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::claims::{self, Checked};
use crate::collect::Results;
use crate::run::RunInfo;
use crate::sections::Report;
use crate::stats::{self, Stat};
use crate::{figures, ReportError, Result};

/// Ablation variants in table order, with what each removes.
pub const ABLATION: [(Variant, &str); 6] = [
    (Variant::Nmtune, "NMTune (all three regularisers)"),
    (Variant::NoConsistency, "without the consistency term"),
    (Variant::NoCovariance, "without the covariance term"),
    (
        Variant::NoSingular,
        "without the dominant-singular-value term",
    ),
    (Variant::Mlp, "MLP tuning (none of them)"),
    (Variant::Lp, "linear probing"),
];

/// The three heads every backbone gets, with their names in tables.
pub(crate) fn methods() -> [(Variant, &'static str); 3] {
    Variant::METHODS.map(|v| (v, v.method().label()))
}

/// The tables `write_report` writes under `results/`, as `<stem>.parquet`.
pub const RESULT_TABLES: [&str; 8] = [
    "pretrain", "spectral", "tuning", "summary", "ablation", "claims", "timings", "knn",
];

/// Reads `run` and the tables it lists under `dir`; writes `dir/REPORT.md`,
/// `dir/figures/*` and `dir/results/*.parquet`. Returns the claims.
pub fn write_report(run_path: &Path, dir: &Path) -> Result<Vec<Checked>> {
    let run = RunInfo::read(run_path)?;
    let all = Results::collect(&run, dir)?;
    // The claims, figures and summaries are the supervised study's ratios;
    // real noise conditions and the contrastive setting get their own sections.
    let (results, real_noise) = all.setting(Setting::Supervised).split_real_noise();
    let contrastive = all.setting(Setting::Contrastive);
    let claims = claims::check(&run, &results);
    let contrastive_claims =
        (!contrastive.tune.is_empty()).then(|| claims::check(&run, &contrastive));
    let results_dir = dir.join("results");
    let mut frames = all.frames()?;
    let mut summary = summary_frame(&run, &results, Setting::Supervised)?;
    if !contrastive.tune.is_empty() {
        summary
            .vstack_mut(&summary_frame(&run, &contrastive, Setting::Contrastive)?)
            .map_err(polars_error("results/summary.parquet"))?;
    }
    frames.push(("summary", summary));
    let real = run.benchmark == nml_study::Benchmark::RealModels;
    if !real {
        frames.push(("ablation", ablation_frame(&run, &results)?));
    }
    let mut all_claims: Vec<(Setting, &Checked)> =
        claims.iter().map(|c| (Setting::Supervised, c)).collect();
    if let Some(cc) = &contrastive_claims {
        all_claims.extend(cc.iter().map(|c| (Setting::Contrastive, c)));
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
    // The noise-ratio figures for a noise-ratio study; one of paired differences for published models.
    let mut stems = if real {
        let stem = "nmtune-vs-lp";
        nml_plot::write_figure(&figures::published(&run, &results), &figures_dir.join(stem))?;
        vec![stem]
    } else {
        figures::write_all(&run, &results, &figures_dir)?
    };
    if !contrastive.tune.is_empty() {
        let stem = "settings-lp-vs-noise";
        nml_plot::write_figure(
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
    let text = Report {
        run: &run,
        results: &results,
        claims: &claims,
        real_noise: &real_noise,
        contrastive: contrastive_claims.as_deref().map(|cc| (&contrastive, cc)),
        figures: &stems,
    }
    .render();
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
pub fn summary_frame(run: &RunInfo, results: &Results, setting: Setting) -> Result<DataFrame> {
    let mut rows: Vec<(u32, Variant, Split, Stat)> = Vec::new();
    let variants: Vec<Variant> = {
        let mut v: Vec<Variant> = results.tune.iter().map(|r| r.variant).collect();
        v.sort();
        v.dedup();
        v
    };
    for &ratio in &run.shape.ratios {
        for &variant in &variants {
            for split in Split::TRANSFER {
                let s = stats::accuracy(results, ratio, variant, split);
                if s.n > 0 {
                    rows.push((ratio, variant, split, s));
                }
            }
        }
    }
    df!(
        "setting" => vec![setting.name(); rows.len()],
        "ratio" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "variant" => rows.iter().map(|r| r.1.name()).collect::<Vec<_>>(),
        "split" => rows.iter().map(|r| r.2.name()).collect::<Vec<_>>(),
        "mean" => rows.iter().map(|r| r.3.mean).collect::<Vec<_>>(),
        "std" => rows.iter().map(|r| r.3.std).collect::<Vec<_>>(),
        "seeds" => rows.iter().map(|r| r.3.n as u32).collect::<Vec<_>>()
    )
    .map_err(polars_error("results/summary.parquet"))
}

fn ablation_frame(run: &RunInfo, results: &Results) -> Result<DataFrame> {
    let mut rows = Vec::new();
    for (variant, _) in ABLATION {
        for split in Split::TRANSFER {
            let s = stats::accuracy(results, run.shape.ablation_ratio, variant, split);
            rows.push((variant, split, s));
        }
    }
    df!(
        "ratio" => vec![run.shape.ablation_ratio; rows.len()],
        "variant" => rows.iter().map(|r| r.0.name()).collect::<Vec<_>>(),
        "split" => rows.iter().map(|r| r.1.name()).collect::<Vec<_>>(),
        "mean" => rows.iter().map(|r| r.2.mean).collect::<Vec<_>>(),
        "std" => rows.iter().map(|r| r.2.std).collect::<Vec<_>>(),
        "seeds" => rows.iter().map(|r| r.2.n as u32).collect::<Vec<_>>()
    )
    .map_err(polars_error("results/ablation.parquet"))
}

fn claims_frame(claims: &[(Setting, &Checked)]) -> Result<DataFrame> {
    let first = |c: &Checked, f: fn(&crate::inference::Test) -> f64| {
        c.decision.tests.first().map_or(f64::NAN, f)
    };
    df!(
        "setting" => claims.iter().map(|c| c.0.name()).collect::<Vec<_>>(),
        "claim_id" => claims.iter().map(|c| c.1.id()).collect::<Vec<_>>(),
        "claim" => claims.iter().map(|c| c.1.claim.statement).collect::<Vec<_>>(),
        "verdict" => claims.iter().map(|c| c.1.verdict().to_string()).collect::<Vec<_>>(),
        "rule" => claims.iter().map(|c| c.1.claim.rule).collect::<Vec<_>>(),
        "evidence" => claims.iter().map(|c| c.1.decision.evidence.clone()).collect::<Vec<_>>(),
        "tests" => claims.iter().map(|c| c.1.tests()).collect::<Vec<_>>(),
        "statistic" => claims.iter().map(|c| first(c.1, |t| t.statistic)).collect::<Vec<_>>(),
        "p_value" => claims.iter().map(|c| first(c.1, |t| t.p)).collect::<Vec<_>>(),
        "power" => claims.iter().map(|c| c.1.power.clone().unwrap_or_default()).collect::<Vec<_>>()
    )
    .map_err(polars_error("results/claims.parquet"))
}

/// Steps and wall seconds per stage.
pub(crate) fn stage_times(run: &RunInfo) -> Vec<(String, usize, f64)> {
    let mut by: BTreeMap<nml_study::Stage, (String, usize, f64)> = BTreeMap::new();
    for s in &run.steps {
        let e = by
            .entry(s.stage)
            .or_insert_with(|| (s.stage.name().to_owned(), 0, 0.0));
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
