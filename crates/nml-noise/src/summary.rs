//! What a noise run did: realised rates, per-class counts and the empirical
//! transition matrix, written as JSON beside the noisy manifest.

use serde::{Deserialize, Serialize};

use crate::NoiseConfig;

/// Statistics of one noise run over the rows in scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseSummary {
    pub config: NoiseConfig,
    /// The input manifest as given on the command line.
    pub input: String,
    /// blake3 of the input file, when known.
    pub input_hash: Option<String>,
    pub rows: usize,
    pub rows_in_scope: usize,
    /// Rows marked noisy: for caption swaps, rows whose caption text changed.
    pub rows_noisy: usize,
    /// Caption swaps performed (caption-swap only; a swap of equal captions changes no row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swaps: Option<usize>,
    pub ratio_requested: Option<f64>,
    /// The rate the kind implies in expectation (e.g. R·(1−1/C) for `uniform`).
    pub ratio_expected: Option<f64>,
    /// `rows_noisy / rows_in_scope`.
    pub ratio_realised: f64,
    pub classes: usize,
    pub per_class: Vec<ClassStats>,
    /// `counts[clean][noisy]` over the rows in scope.
    pub counts: Vec<Vec<u64>>,
    /// `counts` with each row divided by its sum (a zero row stays zero).
    pub transition: Vec<Vec<f64>>,
}

/// One class's share of the corruption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassStats {
    pub class: usize,
    pub name: String,
    /// Rows of this clean class in scope.
    pub rows: usize,
    /// Of those, rows marked noisy.
    pub noisy: usize,
    pub rate: f64,
}

impl NoiseSummary {
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
}

fn ratio(k: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}
