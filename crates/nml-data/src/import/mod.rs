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
