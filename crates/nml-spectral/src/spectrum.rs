//! Singular values of a feature matrix and the metrics built on them.
//!
//! Preprocessing follows the official code (`src/models/svd.py`) by default:
//! rows are L2-normalised, then each row's own mean over its D dimensions is
//! subtracted. Column centring (PCA-style) and no centring are options.
//! Singular values are exact: a thin SVD of the N×D matrix, or the square
//! roots of the eigenvalues of the D×D Gram matrix (in f64) when N ≫ D; the
//! latter is as accurate relative to σ₁ except for values near zero, whose
//! absolute error is about √ε·σ₁ ≈ 1e-8·σ₁ (they barely touch the metrics).

use nalgebra::{DMatrix, DMatrixView};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use nml_spec::{Center, Normalize, SvdMethod as Method};

/// Preprocessing and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpectralConfig {
    pub normalize: Normalize,
    pub center: Center,
    pub method: Method,
}

impl Default for SpectralConfig {
    fn default() -> Self {
        SpectralConfig {
            normalize: Normalize::L2,
            center: Center::Row,
            method: Method::Auto,
        }
    }
}

/// Rows per rayon task when preprocessing.
const ROWS_PER_TASK: usize = 1024;

/// Side of the Gram matrix's square blocks; blocks above the diagonal are
/// mirrored, not multiplied. matrixmultiply's f64 kernel runs at about 14, 22
/// and 27 GFLOP/s per core for blocks of 64, 128 and 256 (2-core VM).
const GRAM_BLOCK: usize = 128;

/// The preprocessed N×D matrix, row-major, in f64 (rows on all rayon threads).
fn preprocess_rows(features: &[f32], n: usize, d: usize, config: &SpectralConfig) -> Vec<f64> {
    let mut rows = vec![0f64; n * d];
    if d == 0 {
        return rows;
    }
    rows.par_chunks_mut(ROWS_PER_TASK * d)
        .zip(features.par_chunks(ROWS_PER_TASK * d))
        .for_each(|(out, src)| {
            for (row, src) in out.chunks_exact_mut(d).zip(src.chunks_exact(d)) {
                row.iter_mut()
                    .zip(src)
                    .for_each(|(o, &v)| *o = f64::from(v));
                if config.normalize == Normalize::L2 {
                    let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                    if norm > 0.0 {
                        row.iter_mut().for_each(|v| *v /= norm);
                    }
                }
                if config.center == Center::Row {
                    let mean = row.iter().sum::<f64>() / d as f64;
                    row.iter_mut().for_each(|v| *v -= mean);
                }
            }
        });
    if config.center == Center::Column && n > 0 {
        let sums = rows
            .par_chunks(ROWS_PER_TASK * d)
            .map(|chunk| {
                let mut sum = vec![0f64; d];
                for row in chunk.chunks_exact(d) {
                    sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                }
                sum
            })
            .reduce(
                || vec![0f64; d],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let means: Vec<f64> = sums.iter().map(|s| s / n as f64).collect();
        rows.par_chunks_mut(d).for_each(|row| {
            row.iter_mut().zip(&means).for_each(|(v, m)| *v -= m);
        });
    }
    rows
}

/// The preprocessed N×D matrix, in f64.
pub fn preprocess(features: &[f32], n: usize, d: usize, config: &SpectralConfig) -> DMatrix<f64> {
    DMatrix::from_row_slice(n, d, &preprocess_rows(features, n, d, config))
}

/// Xᵀ X of the row-major N×D matrix `rows`, in f64. Only the blocks on and
/// below the diagonal are multiplied (one GEMM each, split over row ranges
/// when there are fewer blocks than threads, on all rayon threads); the rest
/// is their mirror image.
fn gram(rows: &[f64], n: usize, d: usize) -> DMatrix<f64> {
    let blocks: Vec<(usize, usize)> = (0..d)
        .step_by(GRAM_BLOCK)
        .map(|s| (s, GRAM_BLOCK.min(d - s)))
        .collect();
    let pairs: Vec<(usize, usize)> = (0..blocks.len())
        .flat_map(|i| (0..=i).map(move |j| (i, j)))
        .collect();
    let parts = (2 * rayon::current_num_threads())
        .div_ceil(pairs.len().max(1))
        .clamp(1, n.max(1));
    let span = n.div_ceil(parts);
    let tasks: Vec<(usize, usize)> = (0..pairs.len())
        .flat_map(|p| (0..parts).map(move |k| (p, k)))
        .collect();
    // Read in place: the row-major N×D data is the column-major D×N matrix Xᵀ.
    let xt = DMatrixView::from_slice(rows, d, n);
    let products: Vec<(usize, DMatrix<f64>)> = tasks
        .par_iter()
        .map(|&(p, k)| {
            let ((ri, li), (rj, lj)) = (blocks[pairs[p].0], blocks[pairs[p].1]);
            let (k0, len) = (k * span, span.min(n.saturating_sub(k * span)));
            let mut c = DMatrix::zeros(li, lj);
            if len > 0 {
                let a = xt.view((ri, k0), (li, len));
                // X's rows k0.., columns rj..rj+lj, as a len×lj view (row stride D).
                let b = DMatrixView::from_slice_with_strides(&rows[k0 * d + rj..], len, lj, d, 1);
                c.gemm(1.0, &a, &b, 0.0);
            }
            (p, c)
        })
        .collect();
    let mut g = DMatrix::zeros(d, d);
    for (p, c) in &products {
        let ((ri, li), (rj, lj)) = (blocks[pairs[*p].0], blocks[pairs[*p].1]);
        let mut lower = g.view_mut((ri, rj), (li, lj));
        lower += c;
    }
    for (i, j) in pairs {
        if i != j {
            let ((ri, li), (rj, lj)) = (blocks[i], blocks[j]);
            let upper = g.view((ri, rj), (li, lj)).transpose();
            g.view_mut((rj, ri), (lj, li)).copy_from(&upper);
        }
    }
    g
}

/// The r = min(N, D) singular values in descending order.
pub fn singular_values(features: &[f32], n: usize, d: usize, config: &SpectralConfig) -> Vec<f64> {
    let rows = preprocess_rows(features, n, d, config);
    let use_gram = match config.method {
        Method::Auto => n >= 4 * d,
        Method::Svd => false,
        Method::Gram => true,
    };
    let mut sigma: Vec<f64> = if use_gram {
        gram(&rows, n, d)
            .symmetric_eigenvalues()
            .iter()
            .map(|&l| l.max(0.0).sqrt())
            .collect()
    } else {
        DMatrix::from_row_slice(n, d, &rows)
            .singular_values()
            .iter()
            .copied()
            .collect()
    };
    sigma.sort_by(|a, b| b.total_cmp(a));
    sigma.truncate(n.min(d));
    sigma
}

/// The spectral metrics of one feature matrix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Entropy (natural log) of p_i = σ_i / Σσ over all r singular values.
    pub sve: f64,
    /// p₁ = σ₁ / Σσ, the share of the dominant direction.
    pub lsvr: f64,
    /// ln p₁.
    pub log_lsvr: f64,
    pub top1: f64,
    pub top5: f64,
    pub top10: f64,
    /// exp(sve): the number of equally strong directions with the same entropy.
    pub effective_rank: f64,
}

impl Metrics {
    /// Metrics of a descending list of singular values.
    pub fn from_singular_values(sigma: &[f64]) -> Metrics {
        let total: f64 = sigma.iter().sum();
        let p: Vec<f64> = sigma
            .iter()
            .map(|s| if total > 0.0 { s / total } else { 0.0 })
            .collect();
        let sve = -p
            .iter()
            .filter(|&&x| x > 0.0)
            .map(|x| x * x.ln())
            .sum::<f64>();
        let top = |k: usize| p.iter().take(k).sum::<f64>();
        let lsvr = p.first().copied().unwrap_or(0.0);
        Metrics {
            sve,
            lsvr,
            log_lsvr: lsvr.ln(),
            top1: top(1),
            top5: top(5),
            top10: top(10),
            effective_rank: sve.exp(),
        }
    }

    /// (name, value) pairs in report order.
    pub fn named(&self) -> [(&'static str, f64); 7] {
        [
            ("sve", self.sve),
            ("lsvr", self.lsvr),
            ("log_lsvr", self.log_lsvr),
            ("top1_share", self.top1),
            ("top5_share", self.top5),
            ("top10_share", self.top10),
            ("effective_rank", self.effective_rank),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_flat_and_single_spectra() {
        let flat = Metrics::from_singular_values(&[2.0; 8]);
        assert!((flat.sve - 8f64.ln()).abs() < 1e-12);
        assert!((flat.effective_rank - 8.0).abs() < 1e-9);
        assert!((flat.lsvr - 0.125).abs() < 1e-12);
        assert!((flat.top5 - 0.625).abs() < 1e-12);
        let single = Metrics::from_singular_values(&[3.0, 0.0, 0.0]);
        assert_eq!((single.sve, single.lsvr, single.log_lsvr), (0.0, 1.0, 0.0));
    }

    #[test]
    fn gram_and_svd_agree_and_centring_does_what_it_says() {
        let (n, d) = (200, 16);
        let features: Vec<f32> = (0..n * d)
            .map(|i| (((i * 7919) % 1013) as f32 / 1013.0 - 0.3) * (1.0 + (i % d) as f32))
            .collect();
        for center in [Center::Row, Center::Column, Center::None] {
            let base = SpectralConfig {
                normalize: Normalize::L2,
                center,
                method: Method::Svd,
            };
            let svd = singular_values(&features, n, d, &base);
            let gram = singular_values(
                &features,
                n,
                d,
                &SpectralConfig {
                    method: Method::Gram,
                    ..base
                },
            );
            // Through the Gram matrix, values near zero carry an absolute error of about √ε·σ₁.
            let scale = svd[0];
            for (a, b) in svd.iter().zip(&gram) {
                assert!((a - b).abs() <= 1e-6 * scale, "{center:?}: {a} vs {b}");
            }
        }
        let m = preprocess(
            &features,
            n,
            d,
            &SpectralConfig {
                normalize: Normalize::None,
                center: Center::Column,
                method: Method::Svd,
            },
        );
        assert!(m.column_iter().all(|c| c.mean().abs() < 1e-9));
        let m = preprocess(&features, n, d, &SpectralConfig::default());
        assert!(m.row_iter().all(|r| r.mean().abs() < 1e-12));
    }
}
