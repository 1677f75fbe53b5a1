//! `REPORT.md` as a list of sections: [`Report::sections`] says which
//! sections a study gets, in order, and [`Section::write`] writes each one.
//! A new section is a variant here and a function in [`study`] or
//! [`published`]; nothing splices text into another section's output.

mod published;
mod study;

use nml_study::Variant;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::claims::Checked;
use crate::collect::Results;
use crate::markdown::stage_times;
use crate::run::RunInfo;

pub use study::{contrastive_section, real_noise_section};

/// Everything the report is written from.
pub struct Report<'a> {
    pub run: &'a RunInfo,
    /// The supervised study at its symmetric ratios (what the claims are decided on).
    pub results: &'a Results,
    pub claims: &'a [Checked],
    /// The supervised setting's real noise conditions (empty when none ran).
    pub real_noise: &'a Results,
    /// The contrastive setting and its claims, where the study ran it.
    pub contrastive: Option<(&'a Results, &'a [Checked])>,
    /// The stems of the figures drawn.
    pub figures: &'a [&'a str],
}

/// One section of `REPORT.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Introduction,
    Claims,
    Pretraining,
    LinearProbing,
    Spectrum,
    Heads,
    Reprobe,
    Ablation,
    NoisyDownstream,
    RealNoise,
    Contrastive,
    PublishedIntroduction,
    PublishedHeads,
    Provenance,
}

/// Writes a figure's image and caption, when the figure was drawn.
type FigureLine<'a> = dyn Fn(&mut String, &str, &str) + 'a;

impl Report<'_> {
    /// The sections this study's report has, in order.
    pub fn sections(&self) -> Vec<Section> {
        use Section::*;
        if self.run.benchmark == nml_study::Benchmark::RealModels {
            return vec![PublishedIntroduction, Claims, PublishedHeads, Provenance];
        }
        let mut out = vec![
            Introduction,
            Claims,
            Pretraining,
            LinearProbing,
            Spectrum,
            Heads,
        ];
        if !self.run.shape.reprobe_evals.is_empty() {
            out.push(Reprobe);
        }
        out.push(Ablation);
        if !self.results.noisy_downstream.is_empty() {
            out.push(NoisyDownstream);
        }
        if !self.real_noise.pretrain.is_empty() {
            out.push(RealNoise);
        }
        if self.contrastive.is_some() {
            out.push(Contrastive);
        }
        out.push(Provenance);
        out
    }

    /// The whole of `REPORT.md`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for section in self.sections() {
            section.write(self, &mut s);
        }
        s
    }
}

impl Section {
    /// Appends this section of `report` to `s`.
    pub fn write(self, report: &Report, s: &mut String) {
        let Report { run, results, .. } = *report;
        let fig = |s: &mut String, stem: &str, caption: &str| {
            if report.figures.contains(&stem) || stem == "spectrum" {
                let _ = writeln!(
                    s,
                    "\n![{caption}](figures/{stem}.png)\n\n*{caption}* (also `figures/{stem}.svg`)\n"
                );
            }
        };
        match self {
            Section::Introduction => study::introduction(s, run),
            Section::Claims => claims_table(s, report.claims),
            Section::Pretraining => study::pretraining(s, run, results),
            Section::LinearProbing => study::linear_probing(s, run, results, &fig),
            Section::Spectrum => study::spectrum(s, run, results, &fig),
            Section::Heads => study::heads(s, run, results, &fig),
            Section::Reprobe => study::reprobe(s, run, results),
            Section::Ablation => study::ablation(s, run, results),
            Section::NoisyDownstream => study::noisy_downstream(s, run, results),
            Section::RealNoise => s.push_str(&real_noise_section(run, results, report.real_noise)),
            Section::Contrastive => {
                if let Some((contrastive, claims)) = report.contrastive {
                    s.push_str(&contrastive_section(
                        run,
                        results,
                        contrastive,
                        claims,
                        report.figures,
                    ));
                }
            }
            Section::PublishedIntroduction => published::introduction(s, run, results),
            Section::PublishedHeads => published::heads(s, run, results, &fig),
            Section::Provenance => provenance(s, run),
        }
    }
}

/// The claims checklist: the answer first, then the tests and evidence.
fn claims_table(s: &mut String, claims: &[Checked]) {
    s.push_str(
        "## Claims checklist\n\nEach claim of the paper (PAPER.md §5) is decided by the rule beside it \
         (the rulebook: `crates/nml-report/src/claims/mod.rs`), from the numbers below, by one-sided tests at α = 0.05: \
         Welch's t across seeds between conditions, the paired t where the same seeds' features are compared, \
         Pearson's r with its t-test (n − 2 df, 8 points or more) and a least-squares slope for trends. \
         An inconclusive verdict gives the smallest difference the study could detect at 80% power with its seeds, \
         and how many seeds the observed difference would need.\n\n\
         | # | claim | verdict | tests (one-sided, α = 0.05) | power | evidence | rule |\n|---|---|---|---|---|---|---|\n",
    );
    for c in claims {
        let _ = writeln!(
            s,
            "| {} | {} | **{}** | {} | {} | {} | {} |",
            c.id(),
            c.claim.statement,
            c.verdict(),
            c.tests(),
            c.power.as_deref().unwrap_or(""),
            c.decision.evidence,
            c.claim.rule
        );
    }
}

fn provenance(s: &mut String, run: &RunInfo) {
    s.push_str("\n## Provenance\n\n");
    let _ = writeln!(
        s,
        "- git commit: `{}`\n- command: `cargo xtask reproduce --benchmark {} --profile {} --seed {} --device {} --precision {}` ({} job(s))\n\
         - seeds: {}\n- results index: `run.json`; per-step logs: `logs/`; step keys: `.steps/`\n",
        run.provenance.git_commit,
        run.benchmark,
        run.profile,
        run.seed,
        run.provenance.device,
        nml_spec::spelling(&run.provenance.precision),
        run.provenance.jobs,
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
        run.provenance.environment.trim_end()
    );
}

/// How many heads each backbone seed averages, read from the tuning tables
/// themselves (empty when each repeat is one head).
pub(crate) fn heads_sentence(results: &Results) -> String {
    let mut heads: BTreeMap<_, BTreeSet<u64>> = BTreeMap::new();
    for r in &results.tune {
        heads
            .entry((&r.setting, &r.noise, r.ratio, r.seed, &r.task, &r.variant))
            .or_default()
            .insert(r.head);
    }
    let counts: BTreeSet<usize> = heads.values().map(|h| h.len()).collect();
    match (counts.first(), counts.last()) {
        (Some(&lo), Some(&hi)) if hi > 1 => {
            let k = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}–{hi}")
            };
            format!(
                " Every backbone trains {k} heads per task and method (head seeds `s`, `s+1000`, …): a seed's accuracy \
                 is the mean over its heads, tasks and domains, and the ± and the tests count backbone seeds, not heads."
            )
        }
        _ => String::new(),
    }
}

/// How the heads met their features, read from the tuning tables themselves.
pub(crate) fn views_sentence(results: &Results, views: u32) -> String {
    let trained = |two: bool| -> BTreeSet<String> {
        results
            .tune
            .iter()
            .filter(|r| r.variant != Variant::Lp && r.two_view == two)
            .map(|r| r.task.clone())
            .collect()
    };
    let (two, single) = (trained(true), trained(false));
    let mut out = String::from(
        "LP trains on the cached eval-transform features, as the official linear probe. ",
    );
    if !two.is_empty() {
        out.push_str(&format!(
            "MLP and NMTune heads{} train as the official loop does: every step, each image's two distinct views, drawn from its {views} cached \
             augmented views (RandomResizedCrop, bicubic, flip for supervised backbones; no flip and scale 0.9–1.0 for CLIP-style ones), \
             pass through the head as one 2B-row batch (BatchNorm, covariance and SVD over both views), and the consistency term compares \
             the strong view's z with the weak view's frozen feature. ",
            if single.is_empty() { String::new() } else { format!(" of {}", two.into_iter().collect::<Vec<_>>().join(", ")) }
        ));
    }
    if !single.is_empty() {
        out.push_str(&format!(
            "MLP and NMTune heads of {} train on one vector per item (black-box embeddings, or features cached without views): \
             the consistency term then compares z with the frozen feature of the same view, unlike the official code.",
            single.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    out.trim_end().to_owned()
}
