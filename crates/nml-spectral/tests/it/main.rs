//! Integration tests of nml-spectral: agreement with numpy, tidy tables, and
//! bad feature tables.

mod numpy; // singular values, SVE and LSVR against numpy.linalg.svd, each centring
mod refusals; // the refusal property over a table of hostile requests
mod tables; // the CLI's tables and its errors

use nml_core::FeatureTable;

/// A feature table with a few strong directions plus noise: `n` train and `n` test rows.
pub fn structured_table(n: usize, dim: usize, seed: u64) -> FeatureTable {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    let rows = 2 * n;
    let mut features = Vec::with_capacity(rows * dim);
    for _ in 0..rows {
        let (a, b) = (next(), next());
        for j in 0..dim {
            let direction = if j % 3 == 0 {
                3.0 * a
            } else if j % 3 == 1 {
                1.5 * b
            } else {
                0.0
            };
            features.push((direction + 0.2 * next() + 0.1) as f32);
        }
    }
    FeatureTable {
        index: (0..rows as i64).collect(),
        split: (0..rows)
            .map(|r| if r < n { "train" } else { "test" }.to_owned())
            .collect(),
        label: vec![0; rows],
        domain: None,
        view: None,
        dim,
        features,
        class_names: None,
        metadata: Default::default(),
    }
}
