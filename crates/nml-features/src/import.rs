//! Embeddings from a black box (an embedding API, another framework) joined
//! to a manifest: NMTune's premise is that the model itself may be out of reach.
//!
//! A Parquet file needs `index` (and `split`, when the manifest's indices
//! repeat across splits) and a vector column; a `.npy` N×D array gives one
//! row per manifest row of the selected split, in manifest order.
//! Dimensions must be constant and values finite; every index must exist in
//! the manifest.

use std::collections::HashMap;
use std::path::Path;

use nml_core::{Embeddings, FeatureTable, Manifest, ReadOptions};

use crate::{npy, FeatureError, Result};

/// Reads `embeddings` and labels its rows from `manifest`.
///
/// `split`: for `.npy`, the manifest split the rows correspond to (`None`: all rows).
pub fn import(
    embeddings: &Path,
    manifest_path: &Path,
    column: &str,
    split: Option<&str>,
) -> Result<FeatureTable> {
    let manifest = Manifest::read_with(
        manifest_path,
        ReadOptions {
            images: false,
            extra: false,
        },
    )?;
    let is_npy = embeddings
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (rows, dim, values) = if is_npy {
        let (n, dim, values) = npy::read_matrix(embeddings)?;
        let rows: Vec<usize> = match split {
            Some(s) => manifest.rows_in_split(s),
            None => (0..manifest.len()).collect(),
        };
        if rows.len() != n {
            return Err(FeatureError::Invalid(format!(
                "{} has {n} rows but {} has {} rows{}",
                embeddings.display(),
                manifest_path.display(),
                rows.len(),
                split.map_or(String::new(), |s| format!(" in split `{s}`"))
            )));
        }
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(FeatureError::Invalid(format!(
                "{}: row {}, value {} is {} (embeddings must be finite)",
                embeddings.display(),
                at / dim.max(1),
                at % dim.max(1),
                values[at]
            )));
        }
        (rows, dim, values)
    } else {
        let e = Embeddings::read(embeddings, column)?;
        let rows = match_rows(&e, &manifest, embeddings, manifest_path)?;
        (rows, e.dim, e.values)
    };
    if rows.is_empty() || dim == 0 {
        return Err(FeatureError::Invalid(format!(
            "{} holds no embeddings",
            embeddings.display()
        )));
    }
    let pick = |v: &[String]| rows.iter().map(|&r| v[r].clone()).collect::<Vec<_>>();
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("nml.source".to_owned(), embeddings.display().to_string());
    metadata.insert(
        "nml.source_hash".to_owned(),
        nml_core::hash_file(embeddings)?.to_hex(),
    );
    metadata.insert(
        "nml.manifest_hash".to_owned(),
        nml_core::hash_file(manifest_path)?.to_hex(),
    );
    Ok(FeatureTable {
        index: rows.iter().map(|&r| manifest.index[r]).collect(),
        split: pick(&manifest.split),
        label: rows.iter().map(|&r| manifest.label[r]).collect(),
        domain: manifest.domain.as_deref().map(pick),
        view: None,
        dim,
        features: values,
        class_names: Some(manifest.class_names.clone()),
        metadata,
    })
}

/// The manifest row of every embedding, by (split, index) or by index alone.
fn match_rows(
    e: &Embeddings,
    manifest: &Manifest,
    source: &Path,
    manifest_path: &Path,
) -> Result<Vec<usize>> {
    let by_key: HashMap<(&str, i64), usize> = (0..manifest.len())
        .map(|r| ((manifest.split[r].as_str(), manifest.index[r]), r))
        .collect();
    let mut by_index: HashMap<i64, Option<usize>> = HashMap::new();
    for r in 0..manifest.len() {
        by_index
            .entry(manifest.index[r])
            .and_modify(|slot| *slot = None)
            .or_insert(Some(r));
    }
    let rows = (0..e.index.len())
        .map(|i| {
            let index = e.index[i];
            let found = match &e.split {
                Some(split) => by_key.get(&(split[i].as_str(), index)).copied(),
                None => match by_index.get(&index) {
                    Some(Some(r)) => Some(*r),
                    Some(None) => {
                        return Err(FeatureError::Invalid(format!(
                            "{}: row {i}: index {index} occurs in several splits of {}; add a `split` column",
                            source.display(),
                            manifest_path.display()
                        )))
                    }
                    None => None,
                },
            };
            found.ok_or_else(|| {
                FeatureError::Invalid(format!(
                    "{}: row {i}: index {index}{} is not in {}",
                    source.display(),
                    e.split.as_ref().map_or(String::new(), |s| format!(" (split `{}`)", s[i])),
                    manifest_path.display()
                ))
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    // One embedding per manifest row: a repeated index names both rows of the embeddings.
    let mut first: HashMap<usize, usize> = HashMap::new();
    for (i, &r) in rows.iter().enumerate() {
        if let Some(earlier) = first.insert(r, i) {
            return Err(FeatureError::Invalid(format!(
                "{}: rows {earlier} and {i} both hold index {} (split `{}`); each item needs one embedding",
                source.display(),
                manifest.index[r],
                manifest.split[r]
            )));
        }
    }
    Ok(rows)
}
