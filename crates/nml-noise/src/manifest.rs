//! Noise on whole manifests: scope by split, dispatch to the samplers,
//! assemble the output columns, and write manifest and summary atomically.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type};
use nml_core::{CoreError, Manifest};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{
    kinds, NoiseConfig, NoiseError, NoiseKind, NoiseSummary, Result, SwapSemantics, META_NOISE,
};

/// Extra column marking rows whose label (or caption) was corrupted.
pub const IS_NOISY: &str = "is_noisy";
/// Extra column keeping the original caption of a caption-swapped manifest.
pub const CLEAN_TEXT: &str = "clean_text";

/// Corrupts the rows of `manifest` in `config.splits`; `source` names the input in errors.
pub fn corrupt(
    manifest: &Manifest,
    config: &NoiseConfig,
    source: &Path,
) -> Result<(Manifest, NoiseSummary)> {
    crate::validate(config)?;
    let classes = manifest.num_classes();
    check_degenerate(manifest, config, source)?;
    let scope = rows_in_scope(manifest, &config.splits)?;
    let clean: Vec<i64> = scope.iter().map(|&r| manifest.label[r]).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut out = manifest.clone();
    out.extra
        .retain(|(f, _)| f.name() != IS_NOISY && f.name() != CLEAN_TEXT);
    let mut noisy_all = manifest.label.clone();
    let mut corrupted = vec![false; manifest.len()];
    let mut swaps = None;

    let scoped_noisy = match &config.kind {
        NoiseKind::Symmetric { ratio, per_class } => {
            kinds::symmetric(&clean, classes, *ratio, *per_class, &mut rng)
        }
        NoiseKind::Uniform { ratio } => kinds::uniform(&clean, classes, *ratio, &mut rng),
        NoiseKind::Asymmetric {
            ratio,
            per_class,
            class_map,
        } => {
            let map = class_map
                .clone()
                .unwrap_or_else(|| kinds::pair_flip_map(classes));
            if map.len() != classes || map.iter().any(|&t| t >= classes) {
                return Err(NoiseError::Invalid(format!(
                    "class map has {} entries (targets up to {}) but the manifest has {classes} classes",
                    map.len(),
                    map.iter().max().map_or(0, |m| *m)
                )));
            }
            kinds::asymmetric(&clean, classes, *ratio, *per_class, &map, &mut rng)
        }
        NoiseKind::Transition { matrix } => {
            if matrix.len() != classes {
                return Err(NoiseError::Invalid(format!(
                    "transition matrix is {0}x{0} but {1} has {classes} classes",
                    matrix.len(),
                    source.display()
                )));
            }
            kinds::transition(&clean, matrix, &mut rng)
        }
        NoiseKind::Column { column } => column_labels(manifest, column, &scope, source)?,
        NoiseKind::CaptionSwap { ratio, semantics } => {
            swaps = Some(swap_captions(
                manifest,
                &scope,
                (*ratio, *semantics),
                &mut rng,
                &mut out,
                &mut corrupted,
                source,
            )?);
            clean.clone()
        }
    };
    for (&row, &label) in scope.iter().zip(&scoped_noisy) {
        noisy_all[row] = label;
        if !matches!(config.kind, NoiseKind::CaptionSwap { .. }) {
            corrupted[row] = label != manifest.label[row];
        }
    }
    let scoped_corrupted: Vec<bool> = scope.iter().map(|&r| corrupted[r]).collect();
    let summary = crate::summary::tally(
        config,
        &manifest.class_names,
        manifest.len(),
        &clean,
        &scoped_noisy,
        &scoped_corrupted,
    );
    let summary = NoiseSummary { swaps, ..summary };
    if manifest.noisy_label.is_some() {
        tracing::warn!(input = %source.display(), "input already has `noisy_label`; it is replaced");
    }
    out.noisy_label = Some(noisy_all);
    let flags: ArrayRef = Arc::new(BooleanArray::from(corrupted));
    out.extra.push((
        Arc::new(Field::new(IS_NOISY, DataType::Boolean, false)),
        flags,
    ));
    Ok((out, summary))
}

/// Swaps captions between rows of `scope` into `out` (keeping `clean_text`)
/// and marks the rows whose caption text changed; returns the number of swaps.
fn swap_captions(
    manifest: &Manifest,
    scope: &[usize],
    (ratio, semantics): (f64, SwapSemantics),
    rng: &mut ChaCha8Rng,
    out: &mut Manifest,
    corrupted: &mut [bool],
    source: &Path,
) -> Result<usize> {
    let Some(text) = &manifest.text else {
        return Err(CoreError::MissingColumn {
            path: source.to_owned(),
            column: "text".to_owned(),
        }
        .into());
    };
    let pairs = match semantics {
        SwapSemantics::Nml => kinds::caption_pairs(scope.len(), ratio, rng),
        SwapSemantics::Official => kinds::official_swaps(scope.len(), ratio, rng),
    };
    let mut swapped = text.clone();
    for &(a, b) in &pairs {
        swapped.swap(scope[a], scope[b]);
    }
    // A swap of two equal captions (or one undone later) changes nothing.
    for &row in scope {
        corrupted[row] = swapped[row] != text[row];
    }
    let clean_text: ArrayRef = Arc::new(StringArray::from_iter_values(text));
    out.extra.push((
        Arc::new(Field::new(CLEAN_TEXT, DataType::Utf8, false)),
        clean_text,
    ));
    out.text = Some(swapped);
    Ok(pairs.len())
}

/// Refuses noise that cannot happen: a kind that moves labels between
/// classes on a manifest of one class, and duplicate class names (a name in a
/// class map or a report would be ambiguous).
fn check_degenerate(manifest: &Manifest, config: &NoiseConfig, source: &Path) -> Result<()> {
    let names = &manifest.class_names;
    for (i, name) in names.iter().enumerate() {
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            return Err(NoiseError::file(
                source,
                format!("class name `{name}` is used by classes {j} and {i}"),
            ));
        }
    }
    let moves_labels = matches!(
        config.kind,
        NoiseKind::Symmetric { .. } | NoiseKind::Uniform { .. } | NoiseKind::Asymmetric { .. }
    );
    let ratio = config.kind.ratio().unwrap_or(0.0);
    if moves_labels && ratio > 0.0 && manifest.num_classes() < 2 {
        return Err(NoiseError::file(
            source,
            format!(
                "has {} class(es): label noise needs at least two classes to move labels between",
                manifest.num_classes()
            ),
        ));
    }
    if let NoiseKind::Asymmetric {
        class_map: Some(map),
        ..
    } = &config.kind
    {
        if ratio > 0.0 && map.iter().enumerate().all(|(c, &t)| c == t) {
            return Err(NoiseError::Invalid(format!(
                "--class-map moves no class (every class maps to itself): --ratio {ratio} would inject no noise"
            )));
        }
    }
    Ok(())
}

/// Refuses an output that is the input file itself, or an existing folder.
pub fn check_paths(input: &Path, output: &Path) -> Result<()> {
    if output.is_dir() {
        return Err(NoiseError::file(
            output,
            "is a folder; --output names the noisy manifest file to write".to_owned(),
        ));
    }
    let canonical_output = output
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .and_then(|p| p.canonicalize().ok())
        .zip(output.file_name())
        .map(|(dir, name)| dir.join(name));
    if input
        .canonicalize()
        .ok()
        .is_some_and(|i| Some(i) == canonical_output)
        || input == output
    {
        return Err(NoiseError::Invalid(format!(
            "output {} is the input file; write the noisy manifest to a new path",
            output.display()
        )));
    }
    Ok(())
}

/// Where the summary of `output` goes: `X.parquet` → `X.noise.json`.
pub fn summary_path(output: &Path) -> PathBuf {
    output.with_extension("noise.json")
}

/// Writes the noisy manifest (with the summary in its metadata) and the summary JSON beside it.
pub fn write_outputs(
    noisy: &Manifest,
    summary: &NoiseSummary,
    input: &Path,
    output: &Path,
) -> Result<()> {
    check_paths(input, output)?;
    let mut noisy = noisy.clone();
    noisy.metadata.insert(
        META_NOISE.to_owned(),
        nml_core::hash::canonical_json(summary)?,
    );
    noisy.write(output)?;
    nml_core::write_json_atomic(summary_path(output), summary)?;
    Ok(())
}

fn rows_in_scope(manifest: &Manifest, splits: &[String]) -> Result<Vec<usize>> {
    if splits.is_empty() {
        return Ok((0..manifest.len()).collect());
    }
    let rows: Vec<usize> = (0..manifest.len())
        .filter(|&r| splits.contains(&manifest.split[r]))
        .collect();
    if rows.is_empty() && !manifest.is_empty() {
        let present: BTreeSet<&str> = manifest.split.iter().map(String::as_str).collect();
        return Err(NoiseError::Invalid(format!(
            "no row belongs to the splits {splits:?}; the manifest has {present:?} (use --splits all for every row)"
        )));
    }
    Ok(rows)
}

/// The labels of an existing column for the rows in scope, checked for nulls and range.
fn column_labels(
    manifest: &Manifest,
    column: &str,
    scope: &[usize],
    source: &Path,
) -> Result<Vec<i64>> {
    let array = if column == "noisy_label" {
        manifest
            .noisy_label
            .as_ref()
            .map(|v| Arc::new(arrow::array::Int64Array::from(v.clone())) as ArrayRef)
    } else {
        manifest
            .extra
            .iter()
            .find(|(f, _)| f.name() == column)
            .map(|(_, a)| a.clone())
    };
    if array.is_none()
        && column != nml_core::manifest::columns::NOISY_LABEL
        && nml_core::manifest::columns::KNOWN.contains(&column)
    {
        return Err(NoiseError::file(
            source,
            format!("--column `{column}` is a column of the manifest's schema, not a column of alternative labels (e.g. CIFAR-10N's `worse_label`)"),
        ));
    }
    let Some(array) = array else {
        return Err(CoreError::MissingColumn {
            path: source.to_owned(),
            column: column.to_owned(),
        }
        .into());
    };
    let bad = |row: usize, problem: String| -> NoiseError {
        CoreError::BadValue {
            path: source.to_owned(),
            column: column.to_owned(),
            row,
            problem,
        }
        .into()
    };
    if !array.data_type().is_integer() {
        return Err(CoreError::WrongType {
            path: source.to_owned(),
            column: column.to_owned(),
            found: array.data_type().to_string(),
            expected: "an integer label column".to_owned(),
        }
        .into());
    }
    let ints = arrow::compute::cast(&array, &DataType::Int64).map_err(|err| CoreError::Arrow {
        path: source.to_owned(),
        err,
    })?;
    let ints = ints.as_primitive::<Int64Type>();
    let classes = manifest.num_classes() as i64;
    scope
        .iter()
        .map(|&row| {
            if ints.is_null(row) {
                return Err(bad(
                    row,
                    "null label in a row the noise applies to".to_owned(),
                ));
            }
            let v = ints.value(row);
            if !(0..classes).contains(&v) {
                return Err(bad(
                    row,
                    format!("label {v} is out of range for {classes} classes"),
                ));
            }
            Ok(v)
        })
        .collect()
}

/// Reads a C×C row-stochastic matrix from CSV (one row per line; `#` comments allowed).
pub fn read_transition_matrix(path: &Path) -> Result<Vec<Vec<f64>>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| NoiseError::file(path, format!("cannot read: {e}")))?;
    let mut matrix = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let row = line
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| NoiseError::file(path, format!("line {}: {e}", n + 1)))?;
        matrix.push(row);
    }
    kinds::check_matrix(&matrix).map_err(|p| NoiseError::file(path, p))?;
    Ok(matrix)
}

/// Reads `from,to` lines (class ids or names) into a full map; unlisted classes map to themselves.
pub fn read_class_map(path: &Path, class_names: &[String]) -> Result<Vec<usize>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| NoiseError::file(path, format!("cannot read: {e}")))?;
    let mut map: Vec<usize> = (0..class_names.len()).collect();
    let mut set_at: Vec<Option<usize>> = vec![None; class_names.len()];
    let class = |token: &str, n: usize| -> Result<usize> {
        let token = token.trim();
        if let Some(c) = token
            .parse::<usize>()
            .ok()
            .filter(|&c| c < class_names.len())
        {
            return Ok(c);
        }
        let mut named = class_names.iter().enumerate().filter(|(_, c)| *c == token);
        match (named.next(), named.next()) {
            (Some((c, _)), None) => Ok(c),
            (Some((a, _)), Some((b, _))) => Err(NoiseError::file(
                path,
                format!("line {n}: `{token}` names classes {a} and {b}; use the class id"),
            )),
            _ => Err(NoiseError::file(
                path,
                format!("line {n}: `{token}` is not a class id or name"),
            )),
        }
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (from, to) = line
            .split_once(',')
            .ok_or_else(|| NoiseError::file(path, format!("line {}: expected `from,to`", n + 1)))?;
        let from = class(from, n + 1)?;
        if let Some(earlier) = set_at[from] {
            return Err(NoiseError::file(
                path,
                format!(
                    "line {}: class {from} is mapped again (first on line {earlier})",
                    n + 1
                ),
            ));
        }
        set_at[from] = Some(n + 1);
        map[from] = class(to, n + 1)?;
    }
    Ok(map)
}
