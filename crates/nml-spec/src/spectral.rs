//! `nml-spectral`: its arguments, and the spectrum options they take.

use std::path::PathBuf;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::{spelling, Args, Spec, Verbosity};

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
pub enum SvdMethod {
    /// Gram eigenvalues when N ≥ 4·D, else the thin SVD.
    Auto,
    /// Thin SVD of the N×D matrix.
    Svd,
    /// Square roots of the eigenvalues of the D×D Gram matrix, accumulated in f64.
    Gram,
}

/// Singular value spectrum of feature tables and its metrics: SVE (entropy of
/// σ_i/Σσ), LSVR (σ₁/Σσ) and its log, top-1/5/10 shares and effective rank.
///
/// Defaults follow the official code: the test split, rows L2-normalised, then
/// each row's own mean subtracted (--center row). --center column gives the
/// PCA convention. Several tables give one tidy table (a row per table and
/// metric) in OUT/metrics.parquet, the spectra in OUT/spectrum.parquet, a wide
/// OUT/metrics.csv (a row per table), the options in OUT/spectral.json, and
/// OUT/spectrum.svg/.png: σ_i/Σσ against rank (log-log), one line per group of
/// tables (the part of --name before `/`, e.g. `n20` in `n20/task-0`), averaged.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "nml-spectral", version, verbatim_doc_comment)]
pub struct SpectralArgs {
    /// Feature table(s) written by nml-features (or imported embeddings)
    #[arg(long = "features", required = true)]
    pub features: Vec<PathBuf>,
    /// A name per table (default: the file stem)
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// Split to analyse, or `all`
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Only rows of this domain
    #[arg(long)]
    pub domain: Option<String>,
    /// Row normalisation
    #[arg(long, value_enum, default_value = "l2")]
    pub normalize: Normalize,
    /// Centring after normalisation: row (official code), column (PCA) or none
    #[arg(long, value_enum, default_value = "row")]
    pub center: Center,
    /// auto: Gram eigenvalues when N >= 4D, else thin SVD
    #[arg(long, value_enum, default_value = "auto")]
    pub method: SvdMethod,
    /// Output folder for the Parquet tables (none: print only)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Threads of the SVD's row blocks (rayon; default: every core). Blocks
    /// follow the thread count, so the low digits can depend on it
    #[arg(long)]
    pub threads: Option<i32>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl Spec for SpectralArgs {
    fn to_args(&self) -> Vec<String> {
        Args::new()
            .each("--features", self.features.iter().map(|p| p.display()))
            .each("--name", &self.names)
            .value("--split", &self.split)
            .opt("--domain", self.domain.as_ref())
            .value("--normalize", spelling(&self.normalize))
            .value("--center", spelling(&self.center))
            .value("--method", spelling(&self.method))
            .opt("--out", self.out.as_ref().map(|p| p.display()))
            .opt("--threads", self.threads)
            .verbosity(self.verbosity)
            .finish()
    }
}

impl SpectralArgs {
    /// The official preprocessing of the test split of `features`, printed only.
    pub fn new(features: Vec<PathBuf>) -> SpectralArgs {
        SpectralArgs {
            features,
            names: Vec::new(),
            split: "test".to_owned(),
            domain: None,
            normalize: Normalize::L2,
            center: Center::Row,
            method: SvdMethod::Auto,
            out: None,
            threads: None,
            verbosity: Verbosity::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_round_trips() {
        let mut full = SpectralArgs::new(vec!["a.parquet".into(), "b.parquet".into()]);
        full.names = vec!["n00/task-0".to_owned(), "n20/task-0".to_owned()];
        full.split = "all".to_owned();
        full.domain = Some("photo".to_owned());
        full.normalize = Normalize::None;
        full.center = Center::Column;
        full.method = SvdMethod::Gram;
        full.out = Some("spectral/x".into());
        full.threads = Some(2);
        full.verbosity = Verbosity {
            verbose: 2,
            quiet: false,
        };
        for value in [SpectralArgs::new(vec!["f.parquet".into()]), full] {
            assert_eq!(SpectralArgs::from_args(&value.to_args()).unwrap(), value);
        }
    }
}
