//! The one validation of a head's inputs, whichever mode trains it (plain,
//! selection on validation rows, `--encoder`): the training rows, and every
//! eval table against them (classes, dimension, labels, emptiness).

use std::path::PathBuf;

use nml_core::FeatureTable;

use crate::{Result, TuneError};

/// The number of classes of `train`; errors name an empty, mis-sized or
/// mislabelled eval table, or a training table too small to tune on.
pub fn check_inputs(
    train: &FeatureTable,
    evals: &[(String, PathBuf, FeatureTable)],
) -> Result<usize> {
    let classes = train
        .class_names
        .as_ref()
        .map(Vec::len)
        .unwrap_or_else(|| train.label.iter().max().map_or(0, |m| *m as usize + 1));
    if train.dim == 0 {
        return Err(TuneError::Invalid(
            "the training features have 0 dimensions; a head needs at least 1".to_owned(),
        ));
    }
    if train.len() < 2 {
        return Err(TuneError::Invalid(format!(
            "the training table has {} rows; tuning needs at least 2",
            train.len()
        )));
    }
    let mut present: Vec<i64> = train.label.clone();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 {
        return Err(TuneError::Invalid(format!(
            "the training rows hold one class only (label {}); a classifier needs at least two",
            present.first().copied().unwrap_or(-1)
        )));
    }
    if let Some(row) = train
        .label
        .iter()
        .position(|&l| l < 0 || l as usize >= classes)
    {
        return Err(TuneError::Invalid(format!(
            "the training table, row {row}: label {} is outside its {classes} classes",
            train.label[row]
        )));
    }
    check_evals(evals, train.dim, classes)?;
    check_eval_classes(train.class_names.as_deref(), evals)?;
    Ok(classes)
}

/// Errors name an eval table whose class list is not `ours` (the training
/// rows' classes, in label order), when both tables carry one.
pub fn check_eval_classes(
    ours: Option<&[String]>,
    evals: &[(String, PathBuf, FeatureTable)],
) -> Result<()> {
    let Some(ours) = ours else {
        return Ok(());
    };
    for (name, path, table) in evals {
        let Some(theirs) = &table.class_names else {
            continue;
        };
        if ours != theirs.as_slice() {
            let first = ours
                .iter()
                .zip(theirs)
                .position(|(a, b)| a != b)
                .unwrap_or(ours.len().min(theirs.len()));
            return Err(TuneError::Invalid(format!(
                "eval set `{name}` ({}) has other classes than the training table: {} classes against {}, first difference at class {first} (`{}` against `{}`)",
                path.display(),
                theirs.len(),
                ours.len(),
                theirs.get(first).map_or("none", String::as_str),
                ours.get(first).map_or("none", String::as_str)
            )));
        }
    }
    Ok(())
}

/// Errors name an eval table that is empty, of another dimension than the
/// head's input, or labelled outside its classes.
pub fn check_evals(
    evals: &[(String, PathBuf, FeatureTable)],
    dim: usize,
    classes: usize,
) -> Result<()> {
    for (name, path, table) in evals {
        if table.is_empty() {
            return Err(TuneError::Invalid(format!(
                "eval set `{name}` ({}) is empty",
                path.display()
            )));
        }
        if table.dim != dim {
            return Err(TuneError::Invalid(format!(
                "eval set `{name}` ({}) has {}-dimensional features, the training table {dim}",
                path.display(),
                table.dim
            )));
        }
        if let Some(row) = table
            .label
            .iter()
            .position(|&l| l < 0 || l as usize >= classes)
        {
            return Err(TuneError::Invalid(format!(
                "eval set `{name}` ({}), row {row}: label {} is outside the head's {classes} classes",
                path.display(),
                table.label[row]
            )));
        }
    }
    Ok(())
}
