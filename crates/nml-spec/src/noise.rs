//! `nml-noise`: its arguments, and the closed sets they take.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::{spelling, Args, Spec, Verbosity};

/// Inject label noise into an nml manifest.
///
/// Adds `noisy_label` (int64) and `is_noisy` (bool) and keeps every input column.
/// Only rows of --splits are corrupted (default: train), so evaluation rows stay clean.
/// Writes OUTPUT and, beside it, OUTPUT-stem.noise.json with the realised rate,
/// per-class flip counts and the empirical transition matrix.
/// The same input, options and seed give a byte-identical output.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "nml-noise", version, verbatim_doc_comment)]
pub struct NoiseArgs {
    /// Input manifest (Parquet)
    #[arg(long)]
    pub input: PathBuf,
    /// Output manifest (Parquet); must differ from the input
    #[arg(long)]
    pub output: PathBuf,
    /// Noise kind:
    ///   symmetric     exactly round(R·N) rows move to a uniformly chosen *different* class (the paper)
    ///   uniform       every row resampled with probability R over all classes, its own included
    ///                 (the official code; realised rate ≈ R·(1−1/C))
    ///   asymmetric    round(R·N_c) rows of each class c move to map(c); map: --class-map or c → c+1 mod C
    ///   transition    noisy label drawn from row `label` of the C×C row-stochastic matrix in --matrix
    ///   caption-swap  round(R·N/2) disjoint pairs swap their `text` (R: the fraction of rows that take
    ///                 another row's caption); rows whose text did not change (equal captions) are not
    ///                 counted as noisy; `clean_text` keeps the original; --swap-semantics official: the
    ///                 official script's floor(R·N) swaps with replacement (≈ N(1−e^(−2R)) rows changed)
    ///   column        an existing label column (--column, e.g. CIFAR-10N's worse_label) becomes noisy_label
    #[arg(long, value_enum, verbatim_doc_comment)]
    pub kind: NoiseKindArg,
    /// Noise ratio R in [0, 1] (symmetric, uniform, asymmetric, caption-swap)
    #[arg(long, allow_negative_numbers = true)]
    pub ratio: Option<f64>,
    /// Seed of the noise draw
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Comma-separated splits to corrupt, or `all`
    #[arg(long, default_value = "train")]
    pub splits: String,
    /// Draw round(R·N_c) per class instead of round(R·N) overall
    /// (default: global for symmetric, per-class for asymmetric)
    #[arg(long, value_enum)]
    pub stratify: Option<Stratify>,
    /// asymmetric: CSV of `from,to` lines (class ids or names); unlisted classes keep their label
    #[arg(long)]
    pub class_map: Option<PathBuf>,
    /// transition: CSV file of a C×C row-stochastic matrix, one row per line
    #[arg(long)]
    pub matrix: Option<PathBuf>,
    /// column: the label column to use as noisy labels
    #[arg(long)]
    pub column: Option<String>,
    /// caption-swap: nml (round(R·N/2) disjoint pairs) or official (floor(R·N) swaps, rows reused)
    #[arg(long, value_enum)]
    pub swap_semantics: Option<Semantics>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoiseKindArg {
    Symmetric,
    Uniform,
    Asymmetric,
    Transition,
    CaptionSwap,
    Column,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Semantics {
    Nml,
    Official,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stratify {
    Global,
    PerClass,
}

impl Spec for NoiseArgs {
    fn to_args(&self) -> Vec<String> {
        Args::new()
            .value("--input", self.input.display())
            .value("--output", self.output.display())
            .value("--kind", spelling(&self.kind))
            .opt("--ratio", self.ratio)
            .value("--seed", self.seed)
            .value("--splits", &self.splits)
            .opt("--stratify", self.stratify.as_ref().map(spelling))
            .opt("--class-map", self.class_map.as_ref().map(|p| p.display()))
            .opt("--matrix", self.matrix.as_ref().map(|p| p.display()))
            .opt("--column", self.column.as_ref())
            .opt(
                "--swap-semantics",
                self.swap_semantics.as_ref().map(spelling),
            )
            .verbosity(self.verbosity)
            .finish()
    }
}

impl NoiseArgs {
    /// `kind` noise of `input` into `output`, the other flags at their defaults.
    pub fn new(input: &str, output: &str, kind: NoiseKindArg) -> NoiseArgs {
        NoiseArgs {
            input: input.into(),
            output: output.into(),
            kind,
            ratio: None,
            seed: 0,
            splits: "train".to_owned(),
            stratify: None,
            class_map: None,
            matrix: None,
            column: None,
            swap_semantics: None,
            verbosity: Verbosity::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_round_trips() {
        let mut full = NoiseArgs::new("in.parquet", "out dir/o.parquet", NoiseKindArg::CaptionSwap);
        full.ratio = Some(0.25);
        full.seed = 7;
        full.splits = "train,dev".to_owned();
        full.stratify = Some(Stratify::PerClass);
        full.class_map = Some("map.csv".into());
        full.matrix = Some("m.csv".into());
        full.column = Some("worse_label".to_owned());
        full.swap_semantics = Some(Semantics::Official);
        full.verbosity = Verbosity::QUIET;
        for value in [NoiseArgs::new("a", "b", NoiseKindArg::Symmetric), full] {
            assert_eq!(NoiseArgs::from_args(&value.to_args()).unwrap(), value);
        }
    }
}
