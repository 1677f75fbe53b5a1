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

/// Adds a `text` caption to every row: `template` with `{}` replaced by the
/// row's class name (as CLIP's class-name prompts). Refuses a template
/// without `{}` and a manifest that already has captions.
pub fn caption_from_classes(manifest: &mut Manifest, template: &str) -> Result<(), String> {
    if !template.contains("{}") {
        return Err(format!(
            "--caption-template `{template}` has no `{{}}` for the class name"
        ));
    }
    if manifest.text.is_some() {
        return Err(
            "already has a `text` column; it is kept as is, drop --caption-template".to_owned(),
        );
    }
    manifest.text = Some(
        manifest
            .label_name
            .iter()
            .map(|name| template.replace("{}", name))
            .collect(),
    );
    manifest
        .metadata
        .insert("nml.caption_template".to_owned(), template.to_owned());
    Ok(())
}
