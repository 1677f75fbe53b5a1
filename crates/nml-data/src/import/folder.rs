//! ImageFolder trees: `root/<class>/<file>` or `root/<domain>/<class>/<file>`.
//!
//! The layout is detected: when every folder under `root` holds only folders,
//! the first level is the domain. Classes are the sorted union of class folder
//! names. PNG and JPEG files (by extension, checked against their magic
//! bytes) keep their original bytes; other files are skipped with a warning.
//! Rows are sorted by path. Splits: everything in one named split, or a
//! seeded, stratified test fraction per (domain, class), as PACS was split.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field};
use nml_core::{Manifest, Sample};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{DataError, Result};

/// How rows are assigned to splits.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderOptions {
    /// Split of every row when `test_fraction` is `None`.
    pub split: String,
    /// Fraction of each (domain, class) group that goes to `test` (the rest to `train`).
    pub test_fraction: Option<f64>,
    pub seed: u64,
}

struct Entry {
    domain: Option<String>,
    class: String,
    path: PathBuf,
}

/// Imports the tree under `root`.
pub fn import(root: &Path, options: &FolderOptions) -> Result<Manifest> {
    if let Some(f) = options.test_fraction {
        if !(0.0..=1.0).contains(&f) {
            return Err(DataError::Invalid(format!(
                "test fraction {f} is outside [0, 1]"
            )));
        }
    }
    let top = subdirs(root)?;
    if top.is_empty() {
        return Err(DataError::file(root, "no class folders here"));
    }
    let domain_layout = top
        .iter()
        .all(|d| subdirs(d).is_ok_and(|s| !s.is_empty()) && files(d).is_ok_and(|f| f.is_empty()));
    let mut entries = Vec::new();
    for first in &top {
        let name = file_name(first);
        if domain_layout {
            for class_dir in subdirs(first)? {
                collect(&class_dir, Some(name.clone()), &mut entries)?;
            }
        } else {
            collect(first, None, &mut entries)?;
        }
    }
    if entries.is_empty() {
        return Err(DataError::file(root, "no PNG or JPEG images found"));
    }
    let classes: Vec<String> = entries
        .iter()
        .map(|e| e.class.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut splits = vec![options.split.clone(); entries.len()];
    if let Some(fraction) = options.test_fraction {
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
        let groups: BTreeSet<(Option<&str>, &str)> = entries
            .iter()
            .map(|e| (e.domain.as_deref(), e.class.as_str()))
            .collect();
        for (domain, class) in groups {
            let mut rows: Vec<usize> = (0..entries.len())
                .filter(|&r| entries[r].domain.as_deref() == domain && entries[r].class == class)
                .collect();
            rows.shuffle(&mut rng);
            let n_test = (fraction * rows.len() as f64).round() as usize;
            for (k, &r) in rows.iter().enumerate() {
                splits[r] = if k < n_test { "test" } else { "train" }.to_owned();
            }
        }
    }
    let mut samples = Vec::with_capacity(entries.len());
    let mut sources = Vec::with_capacity(entries.len());
    for (i, (entry, split)) in entries.iter().zip(splits).enumerate() {
        let bytes = std::fs::read(&entry.path)
            .map_err(|e| DataError::file(&entry.path, format!("cannot read: {e}")))?;
        let format = match bytes.get(..4) {
            Some([0x89, b'P', b'N', b'G']) => "png",
            Some([0xFF, 0xD8, 0xFF, _]) => "jpeg",
            _ => {
                return Err(DataError::file(
                    &entry.path,
                    "not a PNG or JPEG file despite its extension",
                ))
            }
        };
        sources.push(
            entry
                .path
                .strip_prefix(root)
                .unwrap_or(&entry.path)
                .display()
                .to_string(),
        );
        samples.push(Sample {
            index: i as i64,
            split,
            label: classes
                .binary_search(&entry.class)
                .expect("class collected above") as i64,
            image: Some((bytes, format.to_owned())),
            domain: entry.domain.clone(),
            ..Sample::default()
        });
    }
    let mut manifest = Manifest::from_samples(classes, samples)?;
    let column: ArrayRef = Arc::new(StringArray::from(sources));
    manifest.extra.push((
        Arc::new(Field::new("source_path", DataType::Utf8, false)),
        column,
    ));
    manifest
        .metadata
        .insert("nml.source".to_owned(), root.display().to_string());
    Ok(manifest)
}

fn collect(class_dir: &Path, domain: Option<String>, out: &mut Vec<Entry>) -> Result<()> {
    let class = file_name(class_dir);
    for path in files(class_dir)? {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if matches!(ext.as_str(), "png" | "jpg" | "jpeg") {
            out.push(Entry {
                domain: domain.clone(),
                class: class.clone(),
                path,
            });
        } else {
            tracing::warn!(path = %path.display(), "skipping a file that is not .png, .jpg or .jpeg");
        }
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn listing(dir: &Path, want_dirs: bool) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| DataError::file(dir, format!("cannot list: {e}")))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_dir() == want_dirs)
        .collect();
    paths.sort();
    Ok(paths)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    listing(dir, true)
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    listing(dir, false)
}
