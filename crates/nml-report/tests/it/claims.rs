//! The rulebook on fixed results: paper-shaped numbers reproduce, opposite
//! numbers do not, one seed decides nothing, and every verdict shows its tests.

use nml_report::claims::{check, Checked, Verdict, CLAIMS};
use nml_report::collect::TuneRecord;
use nml_report::Results;
use nml_study::{Noise, Setting, Split, Variant};

use crate::fixtures::{results, run};

fn verdict(claims: &[Checked], id: &str) -> Verdict {
    claims
        .iter()
        .find(|c| c.id() == id)
        .unwrap_or_else(|| panic!("no claim {id}"))
        .verdict()
}

#[test]
fn the_rulebook_has_unique_ids_in_order_and_a_rule_for_each() {
    let ids: Vec<&str> = CLAIMS.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        ["1", "2", "3a", "3b", "4a", "4b", "5a", "5b", "5c", "5d", "6", "7"]
    );
    assert!(CLAIMS
        .iter()
        .all(|c| !c.rule.is_empty() && !c.statement.is_empty()));
}

#[test]
fn paper_shaped_numbers_reproduce_every_measured_claim() {
    let run = run(&[0, 1, 2]);
    let claims = check(&run, &results(&run, 1.0));
    assert_eq!(claims.len(), CLAIMS.len());
    // 3b: SVE rises with every ratio while ID falls at 20–30%; 5d: the fixture's gain is constant.
    for id in ["1", "2", "3a", "4a", "4b", "5a", "5b", "5c"] {
        assert_eq!(
            verdict(&claims, id),
            Verdict::Reproduced,
            "claim {id}: {claims:#?}"
        );
    }
    assert_eq!(verdict(&claims, "3b"), Verdict::NotReproduced);
    for id in ["5d", "6", "7"] {
        assert_eq!(verdict(&claims, id), Verdict::Inconclusive, "claim {id}");
    }
    // Every decided claim prints its test statistic and p-value.
    let c1 = claims.iter().find(|c| c.id() == "1").unwrap();
    assert!(
        c1.tests().contains("0% > 30%") && c1.tests().contains("Welch t ="),
        "{}",
        c1.tests()
    );
    assert!(c1.tests().contains("p "), "{}", c1.tests());
    let c3b = claims.iter().find(|c| c.id() == "3b").unwrap();
    assert!(c3b.tests().contains("Pearson r =") && c3b.tests().contains("Spearman ρ"));
    // Decided verdicts carry no power line; inconclusive ones do.
    assert!(c1.power.is_none());
    assert!(claims
        .iter()
        .find(|c| c.id() == "5d")
        .unwrap()
        .power
        .is_some());
}

#[test]
fn opposite_numbers_are_not_reproduced() {
    let run = run(&[0, 1, 2]);
    let claims = check(&run, &results(&run, -1.0));
    // 4b is left out: OOD accuracy and LSVR both rising with noise still track each other.
    for id in ["1", "2", "3a", "4a", "5a", "5b", "5c"] {
        assert_eq!(
            verdict(&claims, id),
            Verdict::NotReproduced,
            "claim {id}: {claims:#?}"
        );
    }
}

#[test]
fn one_seed_decides_nothing_and_says_why() {
    let run = run(&[0]);
    let claims = check(&run, &results(&run, 1.0));
    for c in &claims {
        assert_eq!(c.verdict(), Verdict::Inconclusive, "claim {}", c.id());
    }
    for id in ["1", "2", "3a", "4a", "5a", "5b", "5c"] {
        let c = claims.iter().find(|c| c.id() == id).unwrap();
        assert!(c.tests().contains("two seeds"), "claim {id}: {}", c.tests());
    }
    // Correlations over 5 backbones are computed but not decided.
    let c3b = claims.iter().find(|c| c.id() == "3b").unwrap();
    assert!(c3b.tests().contains("too few backbones"), "{}", c3b.tests());
    assert!(
        c3b.power.as_deref().unwrap().contains("detectable"),
        "{:?}",
        c3b.power
    );
}

#[test]
fn an_inconclusive_difference_reports_what_the_study_could_detect() {
    // Two seeds, heaviest ratio 1 point below clean at about 1 point of seed spread: not significant.
    let run = run(&[0, 1]);
    let mut r = results(&run, 1.0);
    for t in r
        .tune
        .iter_mut()
        .filter(|t| t.variant == Variant::Lp && t.split == Split::Id)
    {
        let noise = if t.seed == 0 { -0.01 } else { 0.01 };
        t.accuracy = 0.80 + noise - if t.ratio == 30 { 0.01 } else { 0.0 };
    }
    let claims = check(&run, &r);
    let c1 = claims.iter().find(|c| c.id() == "1").unwrap();
    assert_eq!(c1.verdict(), Verdict::Inconclusive, "{c1:#?}");
    let power = c1.power.as_deref().unwrap();
    assert!(
        power.contains("0% > 30%: detectable at 80% power with 2 seed(s)")
            && power.contains("needs"),
        "{power}"
    );
}

/// The `real-models` fixture: six tasks, each with an ID and an OOD eval set of
/// `rows` test rows, NMTune above LP by `gain` (plus a small seed-dependent
/// spread), MLP halfway.
fn published(gain: f64, rows: u64) -> (nml_report::RunInfo, Results) {
    let mut run = run(&[0, 1, 2]);
    run.benchmark = nml_study::Benchmark::RealModels;
    run.shape.tasks = (0..6).map(|t| format!("t{t}")).collect();
    let mut r = Results::default();
    for (t, task) in run.shape.tasks.iter().enumerate() {
        for (domain, split) in [("id", Split::Id), ("ood", Split::Ood)] {
            for seed in 0..3u64 {
                let spread = 0.001 * ((seed * 7 + t as u64 * 3) % 5) as f64 - 0.002;
                for (variant, acc) in [
                    (Variant::Lp, 0.78),
                    (Variant::Mlp, 0.78 + gain / 2.0),
                    (Variant::Nmtune, 0.78 + gain + spread),
                ] {
                    r.tune.push(TuneRecord {
                        setting: Setting::Supervised,
                        noise: Noise::Symmetric,
                        ratio: 0,
                        seed,
                        head: seed,
                        task: task.clone(),
                        variant,
                        domain: domain.to_owned(),
                        split,
                        accuracy: acc + 0.001 * seed as f64,
                        sve: 2.0,
                        lsvr: 0.3,
                        two_view: false,
                        rows,
                        lr: 1e-3,
                        weight_decay: 1e-4,
                        balanced_accuracy: acc,
                    });
                }
            }
        }
    }
    (run, r)
}

#[test]
fn published_models_pool_the_comparisons_and_count_the_test_sets_sampling_error() {
    // Half a point over LP with a head-seed spread of 0.2 points: decisive on head seeds
    // alone, not with 1,821 test rows per eval (binomial SE ≈ 1.4 points per comparison,
    // 0.56 pooled over six).
    let (run, r) = published(0.005, 1821);
    let claims = check(&run, &r);
    assert_eq!(claims.iter().map(Checked::id).collect::<Vec<_>>(), ["6"]);
    let c = &claims[0];
    assert_eq!(c.verdict(), Verdict::Inconclusive, "{c:#?}");
    let power = c.power.as_deref().unwrap();
    assert!(
        power.contains("NMTune > LP, ") && power.contains("every task: detectable at 80% power"),
        "{power}"
    );
    assert!(
        c.decision
            .evidence
            .contains("ID: NMTune above LP in 6 of 6 comparisons"),
        "{}",
        c.decision.evidence
    );
    let pooled = &c.decision.tests[0];
    assert_eq!(pooled.n, 6);
    assert!((pooled.estimate - 0.005).abs() < 1e-3, "{pooled}");
    // SE² = (1/36) Σ (s²/3 + 2 p(1 − p)/N): the binomial part dominates.
    let binomial: f64 = 0.78 * 0.22 / 1821.0 + 0.785 * 0.215 / 1821.0;
    assert!(pooled.se > (binomial / 6.0).sqrt(), "{pooled}");
    assert!(pooled.se < 1.2 * (binomial / 6.0).sqrt(), "{pooled}");
    // Without recorded test rows the same numbers are decided on the seeds alone.
    let (run, r) = published(0.005, 0);
    assert_eq!(check(&run, &r)[0].verdict(), Verdict::Reproduced);
    // A 3-point gain survives the test-set error once pooled (one comparison alone would not).
    let (run, r) = published(0.03, 1821);
    assert_eq!(check(&run, &r)[0].verdict(), Verdict::Reproduced);
    // LP 3 points above NMTune everywhere: not reproduced.
    let (run, r) = published(-0.03, 1821);
    assert_eq!(check(&run, &r)[0].verdict(), Verdict::NotReproduced);
}

/// Heads selected on validation get their own columns and never decide claim 6.
#[test]
fn selected_heads_sit_beside_the_fixed_recipe_and_decide_nothing() {
    let (run, mut r) = published(0.005, 0);
    let fixed = check(&run, &r);
    // Selected heads far below LP: pooled with the fixed recipe they would
    // reverse claim 6; kept apart, the verdict and its tests are unchanged.
    r.selected = r
        .tune
        .iter()
        .map(|t| TuneRecord {
            accuracy: if t.variant == Variant::Nmtune {
                0.5
            } else {
                0.9
            },
            lr: 0.01,
            weight_decay: 0.0,
            ..t.clone()
        })
        .collect();
    let with_selected = check(&run, &r);
    assert_eq!(with_selected[0].verdict(), Verdict::Reproduced);
    assert_eq!(format!("{fixed:?}"), format!("{with_selected:?}"));

    let render = |results: &Results| {
        nml_report::sections::Report {
            run: &run,
            results,
            claims: &with_selected,
            real_noise: &Results::default(),
            contrastive: None,
            figures: &[],
        }
        .render()
    };
    let text = render(&r);
    let header = text
        .lines()
        .find(|l| l.starts_with("| model / task"))
        .unwrap();
    assert_eq!(
        header,
        "| model / task | eval | LP (%) | LP selected (%) | MLP (%) | MLP selected (%) | NMTune (%) | NMTune selected (%) |"
    );
    let row = text.lines().find(|l| l.starts_with("| t0 | id")).unwrap();
    let cells: Vec<&str> = row.split(" | ").collect();
    assert_eq!(cells.len(), 8, "{row}");
    assert!(
        cells[3].starts_with("90.0") && cells[7].starts_with("50.0"),
        "{row}"
    );
    // Without selected heads the table keeps its three columns.
    r.selected.clear();
    let text = render(&r);
    assert!(text.contains("| model / task | eval | LP (%) | MLP (%) | NMTune (%) |"));
    assert!(!text.contains("selected"), "{text}");
    // k-NN and auto get a column each; auto names the method it kept.
    r.knn = vec![nml_report::collect::KnnRecord {
        task: "t0".to_owned(),
        domain: "id".to_owned(),
        split: Split::Id,
        k: 20,
        rows: 100,
        accuracy: 0.81,
        balanced_accuracy: 0.8,
    }];
    r.auto = r
        .tune
        .iter()
        .filter(|t| t.variant == Variant::Mlp && t.seed == 0)
        .cloned()
        .collect();
    let text = render(&r);
    assert!(
        text.contains("| NMTune (%) | k-NN, k = 20 (%) | auto (%) |"),
        "{text}"
    );
    let row = text.lines().find(|l| l.starts_with("| t0 | id")).unwrap();
    assert!(
        row.contains("| 81.0 (n=1) |") && row.ends_with("MLP |"),
        "{row}"
    );
    assert!(text.contains("## Balanced accuracy"));
    assert!(text.contains("*auto* kept: t0: MLP"), "{text}");
}

/// Claim 7 reads the heads on noisy downstream labels alone, by claims 1 and 2's rules.
#[test]
fn claim_7_decides_on_the_noisy_downstream_heads_alone() {
    let run = run(&[0, 1, 2]);
    let clean = results(&run, 1.0);
    // Paper-shaped clean heads, and noisy-label heads 10 points lower but shaped
    // like the paper (sign +1) or the opposite (sign −1).
    let with_noisy = |sign: f64| {
        let mut r = clean.clone();
        r.noisy_downstream = results(&run, sign)
            .tune
            .into_iter()
            .map(|t| TuneRecord {
                accuracy: t.accuracy - 0.10,
                ..t
            })
            .collect();
        r
    };
    let paper = check(&run, &with_noisy(1.0));
    assert_eq!(verdict(&paper, "7"), Verdict::Reproduced, "{paper:#?}");
    let c7 = paper.iter().find(|c| c.id() == "7").unwrap();
    assert!(
        c7.decision.evidence.contains("20% symmetric noise"),
        "{}",
        c7.decision.evidence
    );
    assert!(c7.tests().contains("0% > 30%") && c7.tests().contains("OOD against noise"));
    let opposite = check(&run, &with_noisy(-1.0));
    assert_eq!(verdict(&opposite, "7"), Verdict::NotReproduced);
    // The other claims read the clean-label heads only.
    let without = check(&run, &clean);
    for (a, b) in paper.iter().zip(&without).filter(|(a, _)| a.id() != "7") {
        assert_eq!(
            format!("{:?}", a.decision),
            format!("{:?}", b.decision),
            "claim {}",
            a.id()
        );
    }
    assert_eq!(verdict(&without, "7"), Verdict::Inconclusive);
    assert!(without
        .iter()
        .find(|c| c.id() == "7")
        .unwrap()
        .tests()
        .contains("no noisy-downstream heads"));
}

#[test]
fn the_published_figure_plots_each_comparison_against_lp() {
    let (mut run, mut r) = published(0.01, 500);
    let names = ["mobilenet-v2/pacs-photo", "all-minilm-l6-v2/sst2"];
    r.tune.retain(|t| t.task == "t0" || t.task == "t1");
    for t in &mut r.tune {
        t.task = names[usize::from(t.task == "t1")].to_owned();
    }
    run.shape.tasks = names.map(String::from).to_vec();
    let panels = nml_report::figures::published(&run, &r);
    assert_eq!(panels.0.len(), 2, "ID and OOD");
    for panel in &panels.0 {
        let series: Vec<&str> = panel.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(series, ["vision", "text", "no difference"]);
        for s in &panel.series[..2] {
            let [(x, y, err)] = s.points[..] else {
                panic!("one comparison per task and split: {:?}", s.points)
            };
            // LP: 0.78 + 0.001 × seed over seeds 0, 1, 2; NMTune one point above, plus a spread under 0.3.
            assert!((x - 78.1).abs() < 1e-9, "{x}");
            assert!((y - 1.0).abs() < 0.3, "{y}");
            // One standard error: the seed spread and both binomials of 500 rows (≈ 2.6 points).
            assert!(err > 2.4 && err < 3.0, "{err}");
        }
    }
}
