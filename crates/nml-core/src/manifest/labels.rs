//! Label checks of a manifest being read: labels inside the class list,
//! and the class list itself from metadata or the `label_name` column.

use std::collections::BTreeMap;
use std::path::Path;

use super::{columns, META_CLASS_NAMES, META_CLASS_NAMES_CSV};
use crate::error::{CoreError, Result};

pub(super) fn label_error(
    path: &Path,
    column: &str,
    row: usize,
    label: i64,
    classes: usize,
) -> CoreError {
    let problem = if label < 0 {
        format!("label {label} is negative")
    } else {
        format!(
            "label {label} is out of range for {classes} classes (valid: 0..={})",
            classes.saturating_sub(1)
        )
    };
    CoreError::bad_value(path, column, row, problem)
}

pub(super) fn checked_label(
    path: &Path,
    column: &str,
    row: usize,
    label: i64,
    classes: usize,
) -> Result<usize> {
    usize::try_from(label)
        .ok()
        .filter(|&l| l < classes)
        .ok_or_else(|| label_error(path, column, row, label, classes))
}

/// The class list from the metadata, or derived from (`label`, `label_name`) pairs.
pub(super) fn resolve_class_names(
    path: &Path,
    metadata: &mut BTreeMap<String, String>,
    label: &[i64],
    label_name: &[String],
) -> Result<Vec<String>> {
    if let Some(json) = metadata.remove(META_CLASS_NAMES) {
        metadata.remove(META_CLASS_NAMES_CSV);
        return serde_json::from_str(&json).map_err(|e| {
            CoreError::invalid(
                path,
                format!("metadata `{META_CLASS_NAMES}` is not a JSON list of strings: {e}"),
            )
        });
    }
    if let Some(csv) = metadata.remove(META_CLASS_NAMES_CSV) {
        return Ok(csv.split(',').map(str::to_owned).collect());
    }
    let mut names: Vec<Option<(String, usize)>> = Vec::new();
    for (row, (&l, name)) in label.iter().zip(label_name).enumerate() {
        // Negative labels are reported by `validate` with the full message.
        let Ok(class) = usize::try_from(l) else {
            continue;
        };
        if class >= names.len() {
            names.resize(class + 1, None);
        }
        match &names[class] {
            None => names[class] = Some((name.clone(), row)),
            Some((first, first_row)) if first != name => {
                return Err(CoreError::bad_value(
                    path,
                    columns::LABEL_NAME,
                    row,
                    format!("class {l} is named `{name}` here but `{first}` in row {first_row}"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, n)| n.map_or_else(|| format!("class_{i}"), |(name, _)| name))
        .collect())
}
