//! `--train-labels`: the labels heads train on, from a manifest instead of the
//! feature table, e.g. the task manifest after `nml-noise` corrupted its
//! training split (the paper's noisy-downstream experiment, claim 7).
//!
//! Rows are matched by (`split`, `index`), every augmented view of a row
//! taking its row's label; the manifest's training labels (`noisy_label`
//! when present, else `label`) replace the table's. The evaluation tables
//! keep their own (clean) labels.

use std::collections::HashMap;
use std::path::Path;

use nml_core::{FeatureTable, Manifest, ReadOptions};

use crate::{Result, TuneError};

/// What relabelling changed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relabelled {
    /// Distinct training rows (views counted once).
    pub rows: usize,
    /// Of those, rows whose label changed.
    pub changed: usize,
}

impl Relabelled {
    /// The fraction of training rows whose label changed.
    pub fn rate(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.changed as f64 / self.rows as f64
        }
    }
}

/// Replaces `table`'s labels by the training labels of the manifest at `path`.
///
/// Refused, with `table` untouched: a manifest with other classes, a row the
/// manifest lacks, or a row whose clean label differs from the table's (the
/// manifest describes other images).
pub fn relabel(table: &mut FeatureTable, path: &Path) -> Result<Relabelled> {
    let manifest = Manifest::read_with(path, ReadOptions::without_images())?;
    let invalid =
        |what: String| TuneError::Invalid(format!("--train-labels {}: {what}", path.display()));
    if let Some(names) = &table.class_names {
        if names != &manifest.class_names {
            return Err(invalid(format!(
                "its {} classes are not the feature table's {}",
                manifest.class_names.len(),
                names.len()
            )));
        }
    }
    let training = manifest.training_labels();
    let at: HashMap<(&str, i64), usize> = (0..manifest.len())
        .map(|r| ((manifest.split[r].as_str(), manifest.index[r]), r))
        .collect();
    let mut labels = Vec::with_capacity(table.len());
    let mut seen = HashMap::new();
    for r in 0..table.len() {
        let (split, index) = (table.split[r].as_str(), table.index[r]);
        let Some(&m) = at.get(&(split, index)) else {
            return Err(invalid(format!(
                "no row with split `{split}` and index {index}"
            )));
        };
        if manifest.label[m] != table.label[r] {
            return Err(invalid(format!(
                "row (split `{split}`, index {index}) has label {} where the features have {}: another dataset?",
                manifest.label[m], table.label[r]
            )));
        }
        labels.push(training[m]);
        seen.insert((split, index), training[m] != table.label[r]);
    }
    let relabelled = Relabelled {
        rows: seen.len(),
        changed: seen.values().filter(|&&c| c).count(),
    };
    table.label = labels;
    Ok(relabelled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nml_core::{Manifest, Sample};

    fn sample(index: i64, split: &str, label: i64, noisy: i64) -> Sample {
        Sample {
            index,
            split: split.to_owned(),
            label,
            noisy_label: Some(noisy),
            ..Sample::default()
        }
    }

    fn table(rows: &[(i64, &str, i64)], views: usize) -> FeatureTable {
        let mut t = FeatureTable {
            index: Vec::new(),
            split: Vec::new(),
            label: Vec::new(),
            domain: None,
            view: Some(Vec::new()),
            dim: 1,
            features: Vec::new(),
            class_names: Some(vec!["a".to_owned(), "b".to_owned()]),
            metadata: Default::default(),
        };
        for &(index, split, label) in rows {
            for v in 0..views {
                t.index.push(index);
                t.split.push(split.to_owned());
                t.label.push(label);
                t.view.as_mut().unwrap().push(v as i64);
                t.features.push(0.0);
            }
        }
        t
    }

    #[test]
    fn training_labels_follow_the_manifest_and_views_their_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("noisy.parquet");
        let classes = vec!["a".to_owned(), "b".to_owned()];
        let samples = vec![
            sample(0, "train", 0, 1),
            sample(1, "train", 1, 1),
            sample(2, "train", 0, 0),
            sample(0, "test", 1, 1),
        ];
        Manifest::from_samples(classes, samples)
            .unwrap()
            .write(&path)
            .unwrap();
        let mut t = table(&[(0, "train", 0), (1, "train", 1), (2, "train", 0)], 3);
        let r = relabel(&mut t, &path).unwrap();
        assert_eq!(
            r,
            Relabelled {
                rows: 3,
                changed: 1
            }
        );
        assert!((r.rate() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(t.label, [1, 1, 1, 1, 1, 1, 0, 0, 0]);

        // Another dataset's manifest, or rows it lacks, are refused and change nothing.
        let mut other = table(&[(0, "train", 1)], 1);
        let e = relabel(&mut other, &path).unwrap_err().to_string();
        assert!(e.contains("another dataset"), "{e}");
        assert_eq!(other.label, [1]);
        let mut missing = table(&[(9, "train", 0)], 1);
        let e = relabel(&mut missing, &path).unwrap_err().to_string();
        assert!(e.contains("no row with split `train` and index 9"), "{e}");
    }
}
