//! The report's text: its sections, and the real-noise table's order.

use nml_report::claims::check;
use nml_report::collect::PretrainRecord;
use nml_report::sections::{real_noise_section, Report, Section};
use nml_report::Results;
use nml_study::{Noise, Setting, Variant};

use crate::fixtures::{results, run};

fn pretrain(noise: &str, ratio: u32, realised: f64) -> PretrainRecord {
    PretrainRecord {
        setting: Setting::Supervised,
        noise: Noise::from(noise.to_owned()),
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
    let run = run(&[0]);
    let mut all = results(&run, 1.0);
    for &ratio in &run.shape.ratios {
        all.pretrain
            .push(pretrain("symmetric", ratio, f64::from(ratio) / 100.0));
    }
    all.pretrain.push(pretrain("cifar10n-aggre", 9, 0.0901));
    all.pretrain.push(pretrain("cifar10n-worse", 40, 0.4021));
    let mut tune = all.tune[0].clone();
    (tune.noise, tune.ratio, tune.accuracy) = (Noise::from("cifar10n-aggre".to_owned()), 9, 0.123);
    all.tune.push(tune);

    let (synthetic, real) = all.split_real_noise();
    assert_eq!(synthetic.pretrain.len(), 5);
    assert_eq!(real.pretrain.len(), 2);
    assert_eq!(real.tune.len(), 1);
    assert!(synthetic.tune.iter().all(|r| r.noise == Noise::Symmetric));

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

#[test]
fn the_sections_follow_the_study() {
    use Section::*;
    let run = run(&[0, 1, 2]);
    let r = results(&run, 1.0);
    let claims = check(&run, &r);
    let none = Results::default();
    let mut report = Report {
        run: &run,
        results: &r,
        claims: &claims,
        real_noise: &none,
        contrastive: None,
        figures: &[],
    };
    let main = [
        Introduction,
        Claims,
        Pretraining,
        LinearProbing,
        Spectrum,
        Heads,
        Ablation,
    ];
    assert_eq!(report.sections(), [&main[..], &[Provenance]].concat());
    report.contrastive = Some((&r, &claims));
    assert_eq!(
        report.sections(),
        [&main[..], &[Contrastive, Provenance]].concat()
    );
    let mut published = run.clone();
    published.benchmark = nml_study::Benchmark::RealModels;
    report.run = &published;
    assert_eq!(
        report.sections(),
        [PublishedIntroduction, Claims, PublishedHeads, Provenance]
    );
}

/// REPORT.md of fixed results (paper-shaped, three seeds, both settings).
/// Every float in it is already rounded by the report; the fixture has no paths.
#[test]
fn the_report_of_fixed_results_is_stable() {
    let run = run(&[0, 1, 2]);
    let mut r = results(&run, 1.0);
    for &ratio in &run.shape.ratios {
        for seed in 0..3 {
            let mut p = pretrain("symmetric", ratio, f64::from(ratio) / 100.0);
            p.seed = seed;
            p.test_acc = 0.7 - 0.004 * f64::from(ratio) + 0.002 * seed as f64;
            r.pretrain.push(p);
        }
    }
    let ablated: Vec<_> = r
        .tune
        .iter()
        .filter(|t| t.variant == Variant::Nmtune && t.ratio == run.shape.ablation_ratio)
        .cloned()
        .collect();
    // Two variants below NMTune by a seed-dependent amount (so their paired tests
    // have a spread), and one identical to it, which the report must call inert.
    for (variant, offset) in [
        (Variant::NoConsistency, 0.005),
        (Variant::NoCovariance, 0.010),
        (Variant::NoSingular, 0.0),
    ] {
        r.tune.extend(ablated.iter().cloned().map(|mut t| {
            t.variant = variant;
            t.accuracy -= offset * (1.0 + 0.2 * t.seed as f64);
            t
        }));
    }
    let claims = check(&run, &r);
    let none = Results::default();
    let text = Report {
        run: &run,
        results: &r,
        claims: &claims,
        real_noise: &none,
        contrastive: Some((&r, &claims)),
        figures: &["fig1-lp-vs-noise"],
    }
    .render();
    assert!(!text.contains("NaN"), "{text}");
    insta::assert_snapshot!("report", text);
}
