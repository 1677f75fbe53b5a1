//! Singular values of a feature matrix and the metrics built on them.
//!
//! Preprocessing follows the official code (`src/models/svd.py`) by default:
//! rows are L2-normalised, then each row's own mean over its D dimensions is
//! subtracted. Column centring (PCA-style) and no centring are options.
//! Singular values are exact: a thin SVD of the N×D matrix, or the square
//! roots of the eigenvalues of the D×D Gram matrix (in f64) when N ≫ D; the
//! latter is as accurate relative to σ₁ except for values near zero, whose
//! absolute error is about √ε·σ₁ ≈ 1e-8·σ₁ (they barely touch the metrics).

use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// Row normalisation before centring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Each row divided by its L2 norm (the official code).
    L2,
    None,
}

/// What is subtracted after normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Center {
    /// Each row's own mean over its dimensions (the official code's `mean(dim=1)`).
    Row,
    /// Each column's mean over the rows (PCA-style).
    Column,
    None,
}

/// How the singular values are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Gram eigenvalues when N ≥ 4·D, else the thin SVD.
    Auto,
    /// Thin SVD of the N×D matrix.
    Svd,
    /// Square roots of the eigenvalues of the D×D Gram matrix, accumulated in f64.
    Gram,
}

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

/// The preprocessed N×D matrix, in f64.
pub fn preprocess(features: &[f32], n: usize, d: usize, config: &SpectralConfig) -> DMatrix<f64> {
    let mut rows: Vec<f64> = features.iter().map(|&v| f64::from(v)).collect();
    for row in rows.chunks_exact_mut(d) {
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
    let mut m = DMatrix::from_row_slice(n, d, &rows);
    if config.center == Center::Column {
        for mut col in m.column_iter_mut() {
            let mean = col.mean();
            col.add_scalar_mut(-mean);
        }
    }
    m
}

/// The r = min(N, D) singular values in descending order.
pub fn singular_values(features: &[f32], n: usize, d: usize, config: &SpectralConfig) -> Vec<f64> {
    let m = preprocess(features, n, d, config);
    let use_gram = match config.method {
        Method::Auto => n >= 4 * d,
        Method::Svd => false,
        Method::Gram => true,
    };
    let mut sigma: Vec<f64> = if use_gram {
        // Gram = Mᵀ M, D×D; an explicit transpose keeps the product on matrixmultiply's fast path.
        let gram = m.transpose() * &m;
        let eigen = SymmetricEigen::new(gram);
        eigen
            .eigenvalues
            .iter()
            .map(|&l| l.max(0.0).sqrt())
            .collect()
    } else {
        m.singular_values().iter().copied().collect()
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
