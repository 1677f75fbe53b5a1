//! Importers: real datasets in their published formats → nml manifests.
//!
//! - [`cifar`]: CIFAR-10 and CIFAR-100 in their official binary format;
//! - [`folder`]: an ImageFolder tree, `root/<class>/*` or `root/<domain>/<class>/*`;
//! - [`parquet`]: Parquet tables in the `shared/data` layout (CIFAR-10 with
//!   CIFAR-10N labels, PACS, SST-2), validated and normalised.

pub mod cifar;
pub mod folder;

use std::path::Path;

use nml_core::Manifest;

use crate::Result;

/// Reads a Parquet table in the `shared/data` layout as a validated manifest,
/// recording where it came from; extra columns (CIFAR-10N labels…) are kept.
pub fn parquet(input: &Path) -> Result<Manifest> {
    let mut manifest = Manifest::read(input)?;
    manifest
        .metadata
        .insert("nml.source".to_owned(), input.display().to_string());
    manifest.metadata.insert(
        "nml.source_hash".to_owned(),
        nml_core::hash_file(input)?.to_hex(),
    );
    Ok(manifest)
}

/// Keeps at most `n` rows of every (split, domain, class) group, the first
/// ones in table order, so a subset is stratified and the same on every run;
/// records `nml.max_per_class` in the metadata.
pub fn max_per_class(manifest: &Manifest, n: usize) -> Manifest {
    let mut seen: std::collections::HashMap<(&str, &str, i64), usize> =
        std::collections::HashMap::new();
    let rows: Vec<usize> = (0..manifest.len())
        .filter(|&r| {
            let domain = manifest.domain.as_ref().map_or("", |d| d[r].as_str());
            let count = seen
                .entry((manifest.split[r].as_str(), domain, manifest.label[r]))
                .or_default();
            *count += 1;
            *count <= n
        })
        .collect();
    let mut subset = manifest.select(&rows);
    subset
        .metadata
        .insert("nml.max_per_class".to_owned(), n.to_string());
    subset
}
