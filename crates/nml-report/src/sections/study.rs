//! The sections of a noise-ratio study: introduction, pre-training, the
//! figures' tables, heads, ablation, real noise and the contrastive setting.

use nml_study::{Split, Variant};
use std::fmt::Write as _;

use super::{heads_sentence, views_sentence, FigureLine};
use crate::claims::Checked;
use crate::collect::Results;
use crate::inference;
use crate::markdown::{methods, ABLATION};
use crate::run::RunInfo;
use crate::stats::{self, Stat};

/// What was run: benchmark, profile, backbone, ratios, seeds and domains.
pub(super) fn introduction(s: &mut String, run: &RunInfo) {
    let seeds = run.seeds.len();
    let _ = writeln!(
        s,
        "# nml reproduction report\n\n\
         Chen et al., *Understanding and Mitigating the Label Noise in Pre-training on Downstream Tasks* (ICLR 2024), \
         re-run on the `{}` benchmark with the `{}` profile: a `{}` backbone pre-trained for {} epochs at each noise ratio \
         ({}%), {seeds} seed(s) ({}), heads trained on the `{}` domain and tested on it (ID) and on {} (OOD). \
         {}{}Every value is a mean ± standard deviation over seeds, with the number of seeds n; every number is also in `results/*.parquet`.\n",
        run.benchmark,
        run.profile,
        run.shape.arch,
        run.shape.epochs,
        run.shape.ratios.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
        run.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        run.shape.id_domain,
        run.shape.ood_domains.join(", "),
        if run.shape.id_evals.is_empty() {
            String::new()
        } else {
            format!(
                "Task(s) without domains ({}) are in-domain: heads train on their train split and are tested on their test split. ",
                run.shape.id_evals.join(", ")
            )
        },
        if run.shape.reprobe_evals.is_empty() {
            String::new()
        } else {
            format!(
                "Task(s) {} hold the pre-training images with clean labels: heads on them re-probe the pre-training data, \
                 which is not transfer, so they count neither ID nor OOD and no claim reads them (see *Re-probing the pre-training data*). ",
                run.shape.reprobe_evals.join(", ")
            )
        }
    );
}

/// Heads on the pre-training images with clean labels (split `re-probe`), apart from the transfer tasks.
pub(super) fn reprobe(s: &mut String, run: &RunInfo, results: &Results) {
    let _ = writeln!(
        s,
        "\n## Re-probing the pre-training data\n\n\
         Heads trained on the train split of {} and tested on its test split: the backbone's own pre-training images, \
         with clean labels. This measures how much of the clean labels the noisy backbone's features still separate, \
         not transfer.\n\n\
         | noise | LP | MLP | NMTune |\n|---:|---:|---:|---:|",
        run.shape.reprobe_evals.join(", ")
    );
    for &ratio in &run.shape.ratios {
        let cells: Vec<String> = methods()
            .iter()
            .map(|&(m, _)| stats::accuracy(results, ratio, m, Split::Reprobe).pct())
            .collect();
        let _ = writeln!(s, "| {ratio}% | {} |", cells.join(" | "));
    }
}

/// Pre-training accuracy per ratio: test, and training against noisy and clean labels.
pub(super) fn pretraining(s: &mut String, run: &RunInfo, results: &Results) {
    s.push_str("\n## Pre-training\n\nSymmetric label noise in the pre-training corpus, then one backbone per ratio and seed, trained on the noisy labels. \
                *train (noisy)* is agreement with the labels training saw, *train (clean)* with the true ones: their gap is memorised noise.\n\n\
                | noise | realised | test acc | train (noisy) | train (clean) |\n|---:|---:|---:|---:|---:|\n");
    for &ratio in &run.shape.ratios {
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
}

/// Figure 1/2: linear probing against pre-training noise.
pub(super) fn linear_probing(s: &mut String, run: &RunInfo, results: &Results, fig: &FigureLine) {
    s.push_str("\n## Figure 1/2 analogue: linear probing against pre-training noise\n");
    fig(s, "fig1-lp-vs-noise", "average ID and OOD linear-probing accuracy against the pre-training noise ratio, error bars one seed standard deviation");
    s.push_str("| noise | LP ID (%) | LP OOD (%) |\n|---:|---:|---:|\n");
    for &ratio in &run.shape.ratios {
        let _ = writeln!(
            s,
            "| {ratio}% | {} | {} |",
            stats::accuracy(results, ratio, Variant::Lp, Split::Id).pct(),
            stats::accuracy(results, ratio, Variant::Lp, Split::Ood).pct()
        );
    }
    let pooled = |split| stats::pooled_seed_std(results, &run.shape.ratios, Variant::Lp, split);
    if let (Some((id, df)), Some((ood, _))) = (pooled(Split::Id), pooled(Split::Ood)) {
        let _ = writeln!(
            s,
            "\nSeed standard deviation of a seed's average, pooled over the ratios ({df} degrees of freedom; \
             one ratio's ± rests on n − 1): ID {:.1}, OOD {:.1} points.",
            100.0 * id,
            100.0 * ood
        );
    }
}

/// Figure 3/5: the feature spectrum.
pub(super) fn spectrum(s: &mut String, run: &RunInfo, results: &Results, fig: &FigureLine) {
    s.push_str("\n## Figure 3/5 analogue: the feature spectrum\n\nSingular values of each backbone's features of the downstream test rows \
                (official preprocessing: L2 rows, row centring), per task and domain, averaged. SVE is the entropy of σ_i/Σσ; LSVR is σ₁/Σσ.\n");
    fig(s, "spectrum", "σ_i/Σσ against rank (log-log), ID test features of the first seed, one line per noise ratio");
    fig(
        s,
        "fig3-spectrum-vs-noise",
        "SVE of ID features and LSVR of OOD features against the noise ratio",
    );
    fig(
        s,
        "fig5-spectrum-vs-accuracy",
        "SVE against ID accuracy and LSVR against OOD accuracy, one point per backbone",
    );
    s.push_str(
        "| noise | SVE (ID) | SVE (OOD) | LSVR (ID) | LSVR (OOD) |\n|---:|---:|---:|---:|---:|\n",
    );
    for &ratio in &run.shape.ratios {
        let _ = writeln!(
            s,
            "| {ratio}% | {} | {} | {} | {} |",
            stats::spectral(results, ratio, Split::Id, stats::sve).fixed(4),
            stats::spectral(results, ratio, Split::Ood, stats::sve).fixed(4),
            stats::spectral(results, ratio, Split::Id, stats::lsvr).fixed(4),
            stats::spectral(results, ratio, Split::Ood, stats::lsvr).fixed(4)
        );
    }
}

/// LP, MLP and NMTune per ratio.
pub(super) fn heads(s: &mut String, run: &RunInfo, results: &Results, fig: &FigureLine) {
    let _ = writeln!(
        s,
        "\n## NMTune: LP vs MLP vs NMTune\n\nHeads on frozen features with the official hyper-parameters (AdamW, batch 64, 30 epochs, cosine; \
         NMTune weights 1.0 / 0.04 / 0.001, top-5). {}{}",
        views_sentence(results, run.shape.views),
        heads_sentence(results)
    );
    fig(
        s,
        "nmtune-vs-noise",
        "ID and OOD accuracy of the three heads against the noise ratio",
    );
    s.push_str("| noise | LP ID | MLP ID | NMTune ID | LP OOD | MLP OOD | NMTune OOD |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    for &ratio in &run.shape.ratios {
        let mut row = format!("| {ratio}% |");
        method_cells(&mut row, results, ratio);
        let _ = writeln!(s, "{row}");
    }
}

/// NMTune with one regulariser off, at the ablation ratio, each variant beside
/// NMTune on the same seeds' features; variants that change nothing are named.
pub(super) fn ablation(s: &mut String, run: &RunInfo, results: &Results) {
    let ratio = run.shape.ablation_ratio;
    let _ = writeln!(
        s,
        "\n## Ablation of NMTune's regularisers ({ratio}% noise)\n\n\
         Δ is the variant minus NMTune on the same seed's features (mean ± std over seeds, in points), \
         with the two-sided paired t-test's p.\n\n\
         | head | ID (%) | OOD (%) | Δ ID | Δ OOD |\n|---|---:|---:|---:|---:|"
    );
    let mut inert = Vec::new();
    for (variant, what) in ABLATION {
        let deltas = Split::TRANSFER.map(|split| against_nmtune(results, ratio, variant, split));
        let cells = deltas.each_ref().map(|d| match d {
            _ if variant == Variant::Nmtune => "–".to_owned(),
            Some(d) => d.cell(),
            None => "– (n<2)".to_owned(),
        });
        let _ = writeln!(
            s,
            "| {what} (`{variant}`) | {} | {} | {} | {} |",
            stats::accuracy(results, ratio, variant, Split::Id).pct(),
            stats::accuracy(results, ratio, variant, Split::Ood).pct(),
            cells[0],
            cells[1]
        );
        let unchanged = deltas
            .iter()
            .all(|d| d.as_ref().is_some_and(Delta::unchanged));
        if Variant::ABLATED.contains(&variant) && unchanged {
            inert.push(what.trim_start_matches("without "));
        }
    }
    if !inert.is_empty() {
        let _ = writeln!(
            s,
            "\nRemoving {} moves no seed's ID or OOD accuracy by {UNCHANGED_POINTS} points or more: \
             at its weight here that term does not act on these features, and the table cannot say whether it helps.",
            inert.join(" or ")
        );
    }
}

/// Below this many points on every seed, a variant counts as unchanged from NMTune.
const UNCHANGED_POINTS: f64 = 0.05;

/// A variant's per-seed accuracy differences from NMTune on one split.
struct Delta {
    diffs: Vec<f64>,
    /// Two-sided paired p (None where every difference is the same).
    p: Option<f64>,
}

impl Delta {
    fn cell(&self) -> String {
        let d = Stat::of(&self.diffs);
        let p = match self.p {
            None => "p –".to_owned(),
            Some(p) if p < 0.001 => "p < 0.001".to_owned(),
            Some(p) => format!("p = {p:.3}"),
        };
        format!("{:+.1} ± {:.1} ({p})", 100.0 * d.mean, 100.0 * d.std)
    }

    fn unchanged(&self) -> bool {
        self.diffs
            .iter()
            .all(|d| 100.0 * d.abs() < UNCHANGED_POINTS)
    }
}

/// `variant` against NMTune on the seeds both have, at `ratio` on `split`; None below two seeds.
fn against_nmtune(results: &Results, ratio: u32, variant: Variant, split: Split) -> Option<Delta> {
    let base = stats::accuracy_per_seed(results, ratio, Variant::Nmtune, split);
    let pairs: Vec<(f64, f64)> = stats::accuracy_per_seed(results, ratio, variant, split)
        .into_iter()
        .filter_map(|(seed, a)| Some((a, *base.get(&seed)?)))
        .collect();
    if pairs.len() < 2 {
        return None;
    }
    let test = inference::paired(&pairs, variant.name(), inference::Scale::Accuracy);
    Some(Delta {
        diffs: pairs.iter().map(|(a, b)| a - b).collect(),
        p: test.map(|t| (2.0 * t.p.min(1.0 - t.p)).min(1.0)),
    })
}

/// The heads again on noisy downstream training labels (claim 7), beside the
/// clean-label heads of the same backbones.
pub(super) fn noisy_downstream(s: &mut String, run: &RunInfo, results: &Results) {
    let noisy = results.with_noisy_downstream_labels();
    let _ = writeln!(
        s,
        "\n## Noisy downstream labels ({}% symmetric)\n\n\
         The same backbones' features, with the heads trained on downstream training labels of which {}% were moved to \
         another class (`nml-noise --kind symmetric`, one draw per seed; test labels clean). Claim 7 applies claims 1 and 2's \
         rules to the LP columns.\n",
        nml_study::types::DOWNSTREAM_NOISE,
        nml_study::types::DOWNSTREAM_NOISE
    );
    s.push_str("| noise | LP ID | MLP ID | NMTune ID | LP OOD | MLP OOD | NMTune OOD |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    for &ratio in &run.shape.ratios {
        let mut row = format!("| {ratio}% |");
        method_cells(&mut row, &noisy, ratio);
        let _ = writeln!(s, "{row}");
    }
}

/// Appends the LP, MLP and NMTune accuracy cells at `ratio`, ID then OOD.
fn method_cells(row: &mut String, results: &Results, ratio: u32) {
    for split in Split::TRANSFER {
        for (m, _) in methods() {
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
        (synthetic, run.shape.ratios.clone()),
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
            let name = if first.noise.is_real() {
                format!("`{}`", first.noise.name())
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
                stats::spectral(results, ratio, Split::Id, stats::sve).fixed(3),
                stats::spectral(results, ratio, Split::Ood, stats::lsvr).fixed(3)
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
    claims: &[Checked],
    figures: &[&str],
) -> String {
    let mut s = String::from(
        "\n## Contrastive pre-training (the paper's image–text setting)\n\n\
         The same backbone trained CLIP-style on the images' captions (bag-of-tokens text tower, symmetric InfoNCE, learnable temperature), \
         with noise injected by swapping captions between pairs: a ratio is the fraction of training image–text pairs whose caption belongs to another pair \
         (rows whose caption did not change, a swap of two equal class-name captions, are not counted as noisy). \
         The frozen image tower then goes through the same feature cache, spectrum and LP / MLP / NMTune heads; its feature is the \
         image embedding after the projection into the joint space (CLIP's `encode_image`, which the official code probes), not the pooled vector before it. \
         Supervised and contrastive columns sit side by side, as the paper's ImageNet-1K and YFCC15M panels.\n",
    );
    if figures.contains(&"settings-lp-vs-noise") {
        s.push_str("\n![linear probing against pre-training noise, supervised and contrastive](figures/settings-lp-vs-noise.png)\n\n\
                    *ID and OOD linear-probing accuracy against the noise ratio, both settings* (also `figures/settings-lp-vs-noise.svg`)\n");
    }
    s.push_str("\n| noise | zero-shot | SVE (ID) | LSVR (OOD) | LP ID sup. | LP ID con. | LP OOD sup. | LP OOD con. | NMTune ID con. | NMTune OOD con. |\n\
                |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for &ratio in &run.shape.ratios {
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
            stats::spectral(contrastive, ratio, Split::Id, stats::sve).fixed(3),
            stats::spectral(contrastive, ratio, Split::Ood, stats::lsvr).fixed(3),
            stats::accuracy(supervised, ratio, Variant::Lp, Split::Id).pct(),
            stats::accuracy(contrastive, ratio, Variant::Lp, Split::Id).pct(),
            stats::accuracy(supervised, ratio, Variant::Lp, Split::Ood).pct(),
            stats::accuracy(contrastive, ratio, Variant::Lp, Split::Ood).pct(),
            stats::accuracy(contrastive, ratio, Variant::Nmtune, Split::Id).pct(),
            stats::accuracy(contrastive, ratio, Variant::Nmtune, Split::Ood).pct()
        );
    }
    s.push_str("\nThe claims, decided by the same rules on the contrastive numbers:\n\n| # | verdict | tests (one-sided, α = 0.05) | power | evidence |\n|---|---|---|---|---|\n");
    for c in claims {
        let _ = writeln!(
            s,
            "| {} | **{}** | {} | {} | {} |",
            c.id(),
            c.verdict(),
            c.tests(),
            c.power.as_deref().unwrap_or(""),
            c.decision.evidence
        );
    }
    s
}
