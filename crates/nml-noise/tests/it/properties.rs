//! Properties of the samplers, each over many seeded random configurations.
//! The configurations come from a fixed seed, so a failure always reproduces.

use nml_noise::kinds;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_labels(rng: &mut ChaCha8Rng, n: usize, classes: usize) -> Vec<i64> {
    (0..n)
        .map(|_| rng.random_range(0..classes as i64))
        .collect()
}

#[test]
fn symmetric_flips_exactly_round_rn_rows_and_never_to_the_clean_class() {
    let mut meta = ChaCha8Rng::seed_from_u64(2024);
    for case in 0..300 {
        let n = meta.random_range(1..3000);
        let classes = meta.random_range(2..60);
        let ratio = if case % 10 == 0 {
            [0.0, 1.0][case % 20 / 10]
        } else {
            meta.random::<f64>()
        };
        let per_class = meta.random::<bool>();
        let labels = random_labels(&mut meta, n, classes);
        let mut rng = ChaCha8Rng::seed_from_u64(case as u64);
        let noisy = kinds::symmetric(&labels, classes, ratio, per_class, &mut rng);
        let flipped = labels.iter().zip(&noisy).filter(|(a, b)| a != b).count();
        let expected = if per_class {
            (0..classes as i64)
                .map(|c| kinds::count(ratio, labels.iter().filter(|&&l| l == c).count()))
                .sum()
        } else {
            kinds::count(ratio, n)
        };
        assert_eq!(
            flipped, expected,
            "case {case}: n={n} C={classes} R={ratio} per_class={per_class}"
        );
        if !per_class {
            assert_eq!(
                flipped as f64 / n as f64,
                (ratio * n as f64).round() / n as f64
            );
        }
        assert!(noisy.iter().all(|&l| (0..classes as i64).contains(&l)));
    }
}

#[test]
fn uniform_rate_is_within_three_standard_errors_of_r_times_one_minus_one_over_c() {
    let n = 20_000;
    for (i, &ratio) in [0.05, 0.2, 0.5, 0.9].iter().enumerate() {
        for (j, &classes) in [2usize, 10, 100].iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64((10 * i + j) as u64);
            let labels = random_labels(&mut rng, n, classes);
            let noisy = kinds::uniform(&labels, classes, ratio, &mut rng);
            let rate = labels.iter().zip(&noisy).filter(|(a, b)| a != b).count() as f64 / n as f64;
            let p = ratio * (1.0 - 1.0 / classes as f64);
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!(
                (rate - p).abs() <= 3.0 * se,
                "R={ratio} C={classes}: rate {rate}, expected {p} ± {}",
                3.0 * se
            );
        }
    }
}

#[test]
fn transition_matrices_are_honoured_within_sampling_error() {
    for seed in 0..4u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(100 + seed);
        let classes = 5;
        let matrix: Vec<Vec<f64>> = (0..classes)
            .map(|_| {
                let raw: Vec<f64> = (0..classes).map(|_| rng.random::<f64>().powi(2)).collect();
                let sum: f64 = raw.iter().sum();
                raw.iter().map(|v| v / sum).collect()
            })
            .collect();
        let labels = random_labels(&mut rng, 60_000, classes);
        let noisy = kinds::transition(&labels, &matrix, &mut rng);
        for (c, row) in matrix.iter().enumerate() {
            let rows: Vec<i64> = labels
                .iter()
                .zip(&noisy)
                .filter(|(l, _)| **l == c as i64)
                .map(|(_, n)| *n)
                .collect();
            for (k, &p) in row.iter().enumerate() {
                let freq =
                    rows.iter().filter(|&&n| n == k as i64).count() as f64 / rows.len() as f64;
                // 4 standard errors: 25 entries per matrix are compared at once.
                let se = (p * (1.0 - p) / rows.len() as f64).sqrt().max(1e-9);
                assert!(
                    (freq - p).abs() <= 4.0 * se,
                    "seed {seed}: T[{c}][{k}] = {p}, observed {freq}"
                );
            }
        }
    }
}

#[test]
fn asymmetric_moves_rows_along_the_map_only() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let labels = random_labels(&mut rng, 5000, 4);
    let map = vec![1, 0, 2, 2];
    let noisy = kinds::asymmetric(&labels, 4, 0.3, true, &map, &mut rng);
    for (l, n) in labels.iter().zip(&noisy) {
        assert!(n == l || *n == map[*l as usize] as i64);
    }
    for c in [0i64, 1, 3] {
        let total = labels.iter().filter(|&&l| l == c).count();
        let moved = labels
            .iter()
            .zip(&noisy)
            .filter(|(l, n)| **l == c && n != l)
            .count();
        assert_eq!(moved, kinds::count(0.3, total));
    }
    assert!(
        labels.iter().zip(&noisy).all(|(l, n)| *l != 2 || l == n),
        "a class mapped to itself stays"
    );
}

#[test]
fn caption_swaps_never_pair_a_sample_with_itself() {
    let mut meta = ChaCha8Rng::seed_from_u64(77);
    for case in 0..300 {
        let n = meta.random_range(0..2000);
        let ratio = meta.random::<f64>();
        let mut rng = ChaCha8Rng::seed_from_u64(case);
        let pairs = kinds::caption_pairs(n, ratio, &mut rng);
        assert_eq!(
            pairs.len(),
            ((ratio * n as f64 / 2.0).round() as usize).min(n / 2)
        );
        let mut seen = vec![false; n];
        for &(a, b) in &pairs {
            assert_ne!(a, b, "case {case}: a sample paired with itself");
            for r in [a, b] {
                assert!(!seen[r], "case {case}: row {r} swapped twice");
                seen[r] = true;
            }
        }
    }
}

/// A manifest of `n` rows whose captions are the class names ("a photo of a cK"), as in the study.
fn class_name_captions(n: usize, classes: usize) -> nml_core::Manifest {
    let samples = (0..n as i64)
        .map(|i| nml_core::Sample {
            index: i,
            split: "train".to_owned(),
            label: i % classes as i64,
            text: Some(format!("a photo of a c{}", i % classes as i64)),
            ..nml_core::Sample::default()
        })
        .collect();
    nml_core::Manifest::from_samples((0..classes).map(|c| format!("c{c}")).collect(), samples)
        .unwrap()
}

#[test]
fn caption_swaps_count_only_rows_whose_caption_changed() {
    use arrow::array::AsArray;
    use nml_noise::{NoiseConfig, NoiseKind, SwapSemantics};
    let (n, classes) = (4000, 5);
    let manifest = class_name_captions(n, classes);
    let config = |ratio, semantics| NoiseConfig {
        kind: NoiseKind::CaptionSwap { ratio, semantics },
        seed: 3,
        splits: vec!["train".to_owned()],
    };
    let path = std::path::Path::new("captions.parquet");
    let (out, summary) =
        nml_noise::corrupt(&manifest, &config(0.2, SwapSemantics::Nml), path).unwrap();
    let text = out.text.as_ref().unwrap();
    let changed = (0..n)
        .filter(|&r| text[r] != manifest.text.as_ref().unwrap()[r])
        .count();
    assert_eq!(summary.swaps, Some(400), "round(0.2 * 4000 / 2) pairs");
    assert_eq!(summary.rows_noisy, changed, "noisy = changed captions");
    // About 1/C of the pairs share a caption and change nothing.
    let expected = 800.0 * (1.0 - 1.0 / classes as f64);
    assert!(
        (changed as f64 - expected).abs() < 60.0,
        "{changed} vs ~{expected}"
    );
    let flags = out
        .extra
        .iter()
        .find(|(f, _)| f.name() == "is_noisy")
        .unwrap()
        .1
        .clone();
    let flags = flags.as_boolean();
    assert!((0..n).all(|r| flags.value(r) == (text[r] != manifest.text.as_ref().unwrap()[r])));

    // The official script: floor(R·N) swaps drawn with replacement change
    // about N(1 − e^(−2R)) rows when captions are distinct.
    let distinct = {
        let mut m = manifest.clone();
        m.text = Some((0..n).map(|i| format!("caption {i}")).collect());
        m
    };
    let (_, official) =
        nml_noise::corrupt(&distinct, &config(0.025, SwapSemantics::Official), path).unwrap();
    assert_eq!(official.swaps, Some(100));
    let expected = n as f64 * (1.0 - (-0.05f64).exp());
    assert!(
        (official.rows_noisy as f64 - expected).abs() < 8.0,
        "{} vs ~{expected}",
        official.rows_noisy
    );
    assert!((official.ratio_expected.unwrap() - 0.0488).abs() < 1e-3);
}
