//! The noise samplers, on plain label slices.
//!
//! Each takes the clean labels of the rows in scope and returns their noisy
//! labels; none changes the length or leaves `0..classes`.
//! All draw from the caller's RNG, so one seed fixes every choice.

use rand::seq::index;
use rand::Rng;

/// Number of rows a ratio selects: round(R·N), ties away from zero.
pub fn count(ratio: f64, n: usize) -> usize {
    ((ratio * n as f64).round() as usize).min(n)
}

/// Exactly round(R·N) rows (or round(R·N_c) per class) move to a uniformly chosen other class.
pub fn symmetric(
    labels: &[i64],
    classes: usize,
    ratio: f64,
    per_class: bool,
    rng: &mut impl Rng,
) -> Vec<i64> {
    let mut noisy = labels.to_vec();
    if classes < 2 {
        return noisy;
    }
    for row in chosen_rows(labels, classes, ratio, per_class, rng) {
        let shift = rng.random_range(1..classes as i64);
        noisy[row] = (labels[row] + shift) % classes as i64;
    }
    noisy
}

/// Each row is resampled uniformly over all classes with probability R.
pub fn uniform(labels: &[i64], classes: usize, ratio: f64, rng: &mut impl Rng) -> Vec<i64> {
    labels
        .iter()
        .map(|&l| {
            if rng.random::<f64>() < ratio {
                rng.random_range(0..classes as i64)
            } else {
                l
            }
        })
        .collect()
}

/// round(R·N) rows (or round(R·N_c) per class) move to `map[label]`.
/// Rows of classes that map to themselves keep their label.
pub fn asymmetric(
    labels: &[i64],
    classes: usize,
    ratio: f64,
    per_class: bool,
    map: &[usize],
    rng: &mut impl Rng,
) -> Vec<i64> {
    let mut noisy = labels.to_vec();
    for row in chosen_rows(labels, classes, ratio, per_class, rng) {
        noisy[row] = map[labels[row] as usize] as i64;
    }
    noisy
}

/// The default asymmetric map: c → (c + 1) mod C.
pub fn pair_flip_map(classes: usize) -> Vec<usize> {
    (0..classes).map(|c| (c + 1) % classes).collect()
}

/// Each row's noisy label is drawn from row `label` of `matrix`.
pub fn transition(labels: &[i64], matrix: &[Vec<f64>], rng: &mut impl Rng) -> Vec<i64> {
    let cumulative: Vec<Vec<f64>> = matrix
        .iter()
        .map(|row| {
            row.iter()
                .scan(0.0, |acc, p| {
                    *acc += p;
                    Some(*acc)
                })
                .collect()
        })
        .collect();
    labels
        .iter()
        .map(|&l| {
            let cum = &cumulative[l as usize];
            let u = rng.random::<f64>() * cum[cum.len() - 1];
            // The last class absorbs rounding, so a draw always lands somewhere.
            cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1) as i64
        })
        .collect()
}

/// The official script's swaps: ⌊R·N⌋ of them, each of two distinct rows
/// drawn uniformly (`random.sample(pool, 2)`), rows reused across swaps;
/// applied in order.
pub fn official_swaps(n: usize, ratio: f64, rng: &mut impl Rng) -> Vec<(usize, usize)> {
    if n < 2 {
        return Vec::new();
    }
    let swaps = (ratio * n as f64).floor() as usize;
    (0..swaps)
        .map(|_| {
            let pair = index::sample(rng, n, 2).into_vec();
            (pair[0], pair[1])
        })
        .collect()
}

/// round(R·N/2) disjoint pairs of distinct rows, for caption swaps.
pub fn caption_pairs(n: usize, ratio: f64, rng: &mut impl Rng) -> Vec<(usize, usize)> {
    let pairs = ((ratio * n as f64 / 2.0).round() as usize).min(n / 2);
    let rows = index::sample(rng, n, 2 * pairs).into_vec();
    rows.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// Checks that `matrix` is square, non-negative and row-stochastic (rows sum to 1 ± 1e-6).
pub fn check_matrix(matrix: &[Vec<f64>]) -> Result<(), String> {
    let c = matrix.len();
    if c == 0 {
        return Err("transition matrix is empty".to_owned());
    }
    for (i, row) in matrix.iter().enumerate() {
        if row.len() != c {
            return Err(format!(
                "transition matrix row {i} has {} entries, expected {c}",
                row.len()
            ));
        }
        if let Some(j) = row.iter().position(|p| !p.is_finite() || *p < 0.0) {
            return Err(format!(
                "transition matrix entry ({i}, {j}) = {} is not a probability",
                row[j]
            ));
        }
        let sum: f64 = row.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(format!(
                "transition matrix row {i} sums to {sum}, expected 1"
            ));
        }
    }
    Ok(())
}

/// The rows to corrupt: round(R·N) overall, or round(R·N_c) within each class.
fn chosen_rows(
    labels: &[i64],
    classes: usize,
    ratio: f64,
    per_class: bool,
    rng: &mut impl Rng,
) -> Vec<usize> {
    if !per_class {
        let k = count(ratio, labels.len());
        return index::sample(rng, labels.len(), k).into_vec();
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (row, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(row);
    }
    by_class
        .iter()
        .flat_map(|rows| {
            let k = count(ratio, rows.len());
            index::sample(rng, rows.len(), k)
                .into_iter()
                .map(|i| rows[i])
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn count_rounds_half_away_from_zero() {
        assert_eq!(count(0.05, 10), 1);
        assert_eq!(count(0.04, 10), 0);
        assert_eq!(count(1.0, 7), 7);
    }

    #[test]
    fn matrix_checks_name_the_row() {
        assert!(check_matrix(&[vec![1.0, 0.0], vec![0.5, 0.5]]).is_ok());
        assert!(check_matrix(&[vec![0.9, 0.0], vec![0.5, 0.5]])
            .unwrap_err()
            .contains("row 0 sums to 0.9"));
        assert!(check_matrix(&[vec![1.5, -0.5], vec![0.5, 0.5]])
            .unwrap_err()
            .contains("(0, 1)"));
        assert!(check_matrix(&[vec![1.0], vec![0.5, 0.5]])
            .unwrap_err()
            .contains("row 0 has 1 entries"));
    }

    #[test]
    fn single_class_symmetric_noise_is_a_no_op() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(
            symmetric(&[0, 0, 0], 1, 1.0, false, &mut rng),
            vec![0, 0, 0]
        );
    }
}
