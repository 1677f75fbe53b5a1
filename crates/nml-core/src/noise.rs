//! The noise record: what `nml-noise` was asked for ([`NoiseConfig`]) and
//! what it did ([`NoiseSummary`]). One type for its three places: the
//! `OUTPUT-stem.noise.json` beside a noisy manifest, the manifest's
//! [`META_NOISE`] metadata that `nml-pretrain` reads, and the `noise` field
//! of the `model.json` it writes; `nml-report` reads the first.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{CoreError, Manifest, Result};

/// The Parquet metadata key of a noisy manifest's [`NoiseSummary`] (JSON).
pub const META_NOISE: &str = "nml.noise";

/// Which noise to inject, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NoiseKind {
    /// Exactly round(R·N) rows, each moved to a uniformly chosen *different* class.
    Symmetric { ratio: f64, per_class: bool },
    /// Every row resampled with probability R over all classes, its own included.
    Uniform { ratio: f64 },
    /// round(R·N) rows (per class when `per_class`) moved along `class_map`
    /// (default: c → c+1 mod C).
    Asymmetric {
        ratio: f64,
        per_class: bool,
        class_map: Option<Vec<usize>>,
    },
    /// Each row's noisy label drawn from row `label` of a C×C row-stochastic matrix.
    Transition { matrix: Vec<Vec<f64>> },
    /// Captions swapped between pairs of rows (see [`SwapSemantics`]); a row
    /// counts as corrupted only when its caption text changed.
    CaptionSwap {
        ratio: f64,
        #[serde(default, skip_serializing_if = "SwapSemantics::is_nml")]
        semantics: SwapSemantics,
    },
    /// An existing label column (e.g. CIFAR-10N's `worse_label`) becomes `noisy_label`.
    Column { column: String },
}

impl NoiseKind {
    /// The requested ratio, for the kinds that take one.
    pub fn ratio(&self) -> Option<f64> {
        match self {
            NoiseKind::Symmetric { ratio, .. }
            | NoiseKind::Uniform { ratio }
            | NoiseKind::Asymmetric { ratio, .. }
            | NoiseKind::CaptionSwap { ratio, .. } => Some(*ratio),
            NoiseKind::Transition { .. } | NoiseKind::Column { .. } => None,
        }
    }

    /// The expected fraction of corrupted in-scope rows, where it is known in advance.
    pub fn expected_rate(&self, classes: usize) -> Option<f64> {
        match self {
            NoiseKind::Symmetric { ratio, .. }
            | NoiseKind::CaptionSwap {
                ratio,
                semantics: SwapSemantics::Nml,
            } => Some(*ratio),
            // ⌊R·N⌋ swaps of two rows drawn with replacement across swaps: a row
            // escapes every swap with probability (1 − 2/N)^(R·N) ≈ e^(−2R).
            NoiseKind::CaptionSwap {
                ratio,
                semantics: SwapSemantics::Official,
            } => Some(1.0 - (-2.0 * ratio).exp()),
            NoiseKind::Uniform { ratio } => Some(ratio * (1.0 - 1.0 / classes as f64)),
            NoiseKind::Asymmetric { .. }
            | NoiseKind::Transition { .. }
            | NoiseKind::Column { .. } => None,
        }
    }
}

/// How many caption swaps a ratio R means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwapSemantics {
    /// round(R·N/2) disjoint pairs swap, so R·N rows take another row's
    /// caption (R is the fraction of rows, as for label noise).
    #[default]
    Nml,
    /// The official `shuffle_data.py`: ⌊R·N⌋ swaps, each of two distinct rows
    /// drawn uniformly, rows reused across swaps; about N(1 − e^(−2R)) rows
    /// end up changed (R = 0.025, tagged "2.5", changes about 4.9 %).
    Official,
}

impl SwapSemantics {
    fn is_nml(&self) -> bool {
        *self == SwapSemantics::Nml
    }
}

/// Everything that determines a noisy manifest besides the input itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoiseConfig {
    pub kind: NoiseKind,
    pub seed: u64,
    /// Splits whose rows are corrupted; empty means every row.
    pub splits: Vec<String>,
}

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
    /// Reads an `X.noise.json`, naming `path` in errors.
    pub fn read(path: &Path) -> Result<NoiseSummary> {
        let text =
            std::fs::read_to_string(path).map_err(|e| CoreError::io(path, "cannot read", e))?;
        serde_json::from_str(&text)
            .map_err(|e| CoreError::invalid(path, format!("not an nml-noise summary: {e}")))
    }

    /// The summary `manifest` (read from `path`) carries under [`META_NOISE`],
    /// if any; metadata that is not one is refused, naming the file.
    pub fn of_manifest(manifest: &Manifest, path: &Path) -> Result<Option<NoiseSummary>> {
        let Some(text) = manifest.metadata.get(META_NOISE) else {
            return Ok(None);
        };
        serde_json::from_str(text).map(Some).map_err(|e| {
            CoreError::invalid(
                path,
                format!("metadata `{META_NOISE}` is not an nml-noise summary: {e}"),
            )
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 20 % symmetric noise on 10 rows of two classes.
    pub(crate) fn summary() -> NoiseSummary {
        NoiseSummary {
            config: NoiseConfig {
                kind: NoiseKind::Symmetric {
                    ratio: 0.2,
                    per_class: false,
                },
                seed: 7,
                splits: vec!["train".to_owned()],
            },
            input: "clean.parquet".to_owned(),
            input_hash: Some("ab".to_owned()),
            rows: 12,
            rows_in_scope: 10,
            rows_noisy: 2,
            swaps: None,
            ratio_requested: Some(0.2),
            ratio_expected: Some(0.2),
            ratio_realised: 0.2,
            classes: 2,
            per_class: (0..2)
                .map(|class| ClassStats {
                    class,
                    name: format!("c{class}"),
                    rows: 5,
                    noisy: 1,
                    rate: 0.2,
                })
                .collect(),
            counts: vec![vec![4, 1], vec![1, 4]],
            transition: vec![vec![0.8, 0.2], vec![0.2, 0.8]],
        }
    }

    fn manifest(metadata: Option<&str>) -> Manifest {
        let samples = (0..2)
            .map(|i| crate::Sample {
                index: i,
                split: "train".to_owned(),
                label: i,
                ..Default::default()
            })
            .collect();
        let mut m = Manifest::from_samples(vec!["a".into(), "b".into()], samples).unwrap();
        if let Some(text) = metadata {
            m.metadata.insert(META_NOISE.to_owned(), text.to_owned());
        }
        m
    }

    #[test]
    fn the_summary_round_trips_through_a_file_and_a_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.noise.json");
        std::fs::write(&path, serde_json::to_string_pretty(&summary()).unwrap()).unwrap();
        assert_eq!(NoiseSummary::read(&path).unwrap(), summary());
        let text = serde_json::to_string(&summary()).unwrap();
        let m = manifest(Some(&text));
        assert_eq!(
            NoiseSummary::of_manifest(&m, &path).unwrap(),
            Some(summary())
        );
        assert_eq!(
            NoiseSummary::of_manifest(&manifest(None), &path).unwrap(),
            None
        );
    }

    #[test]
    fn metadata_or_a_file_that_is_no_summary_is_refused_naming_the_file() {
        let path = Path::new("noisy.parquet");
        let err = NoiseSummary::of_manifest(&manifest(Some(r#"{"ratio": 0.2}"#)), path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("noisy.parquet") && err.contains(META_NOISE),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.noise.json");
        std::fs::write(&bad, "[1, 2]").unwrap();
        let err = NoiseSummary::read(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.noise.json") && err.contains("not an nml-noise summary"),
            "{err}"
        );
    }

    #[test]
    fn caption_swaps_keep_the_default_semantics_out_of_the_file() {
        let kind = NoiseKind::CaptionSwap {
            ratio: 0.1,
            semantics: SwapSemantics::Nml,
        };
        let json = serde_json::to_value(&kind).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "caption-swap", "ratio": 0.1})
        );
        assert_eq!(serde_json::from_value::<NoiseKind>(json).unwrap(), kind);
        let official = NoiseKind::CaptionSwap {
            ratio: 0.025,
            semantics: SwapSemantics::Official,
        };
        assert!((official.expected_rate(2).unwrap() - (1.0 - (-0.05f64).exp())).abs() < 1e-12);
    }
}
