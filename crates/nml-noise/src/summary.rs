//! What a noise run did: realised rates, per-class counts and the empirical
//! transition matrix ([`NoiseSummary`], nml-core's type), tallied here and
//! written as JSON beside the noisy manifest.

use crate::{ClassStats, NoiseConfig, NoiseSummary};

/// Tallies clean/noisy labels of the rows in scope.
pub(crate) fn tally(
    config: &NoiseConfig,
    class_names: &[String],
    rows: usize,
    clean: &[i64],
    noisy: &[i64],
    corrupted: &[bool],
) -> NoiseSummary {
    let c = class_names.len();
    let mut counts = vec![vec![0u64; c]; c];
    let mut per_class: Vec<ClassStats> = class_names
        .iter()
        .enumerate()
        .map(|(class, name)| ClassStats {
            class,
            name: name.clone(),
            rows: 0,
            noisy: 0,
            rate: 0.0,
        })
        .collect();
    for ((&l, &n), &bad) in clean.iter().zip(noisy).zip(corrupted) {
        counts[l as usize][n as usize] += 1;
        per_class[l as usize].rows += 1;
        per_class[l as usize].noisy += usize::from(bad);
    }
    for stats in &mut per_class {
        stats.rate = ratio(stats.noisy, stats.rows);
    }
    let transition = counts
        .iter()
        .map(|row| {
            let total: u64 = row.iter().sum();
            row.iter()
                .map(|&k| {
                    if total == 0 {
                        0.0
                    } else {
                        k as f64 / total as f64
                    }
                })
                .collect()
        })
        .collect();
    let rows_noisy = corrupted.iter().filter(|b| **b).count();
    NoiseSummary {
        config: config.clone(),
        input: String::new(),
        input_hash: None,
        rows,
        rows_in_scope: clean.len(),
        rows_noisy,
        swaps: None,
        ratio_requested: config.kind.ratio(),
        ratio_expected: config.kind.expected_rate(c),
        ratio_realised: ratio(rows_noisy, clean.len()),
        classes: c,
        per_class,
        counts,
        transition,
    }
}

fn ratio(k: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}
