//! CIFAR-10 and CIFAR-100 in their official binary format.
//!
//! CIFAR-10: `data_batch_1.bin` … `data_batch_5.bin` (train) and
//! `test_batch.bin` (test); each record is 1 label byte and 3,072 pixel bytes
//! (red, green and blue 32×32 planes). Class names from `batches.meta.txt`.
//! CIFAR-100: `train.bin` and `test.bin`; each record is a coarse and a fine
//! label byte and 3,072 pixel bytes. Fine labels become `label`, coarse ones
//! the extra column `coarse_label`; names from `fine_label_names.txt`.
//! The folder may also be the parent of `cifar-10-batches-bin` or `cifar-100-binary`.
//! `index` is the record's position within its split, as in the original order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::{DataType, Field};
use nml_core::{Manifest, Sample};
use rayon::prelude::*;

use crate::{encode_png, DataError, Result};

/// The CIFAR-10 classes in label order, used when `batches.meta.txt` is absent.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
const PIXELS: usize = 3 * 32 * 32;

/// Imports the CIFAR binary files in `dir` (CIFAR-10 or CIFAR-100, detected).
pub fn import(dir: &Path) -> Result<Manifest> {
    let dir = [
        dir.join("cifar-10-batches-bin"),
        dir.join("cifar-100-binary"),
    ]
    .into_iter()
    .find(|d| d.is_dir())
    .unwrap_or_else(|| dir.to_path_buf());
    if dir.join("data_batch_1.bin").exists() {
        let train: Vec<PathBuf> = (1..=5)
            .map(|i| dir.join(format!("data_batch_{i}.bin")))
            .collect();
        let names = class_names(&dir.join("batches.meta.txt"), 10)?
            .unwrap_or_else(|| CIFAR10_CLASSES.map(String::from).to_vec());
        build(
            &dir,
            &[("train", train), ("test", vec![dir.join("test_batch.bin")])],
            names,
            None,
        )
    } else if dir.join("train.bin").exists() {
        let names = class_names(&dir.join("fine_label_names.txt"), 100)?
            .unwrap_or_else(|| (0..100).map(|i| format!("class_{i}")).collect());
        let coarse = class_names(&dir.join("coarse_label_names.txt"), 20)?;
        let splits = [
            ("train", vec![dir.join("train.bin")]),
            ("test", vec![dir.join("test.bin")]),
        ];
        build(&dir, &splits, names, Some(coarse.unwrap_or_default()))
    } else {
        Err(DataError::file(
            &dir,
            "no CIFAR binary files here (expected data_batch_1.bin or train.bin)",
        ))
    }
}

/// Class names, one per non-empty line; `None` when the file is absent.
fn class_names(path: &Path, expected: usize) -> Result<Option<Vec<String>>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| DataError::file(path, format!("cannot read: {e}")))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != expected {
        return Err(DataError::file(
            path,
            format!("{} class names, expected {expected}", names.len()),
        ));
    }
    Ok(Some(names))
}

/// `coarse`: `Some(names)` for CIFAR-100 (two label bytes per record).
fn build(
    dir: &Path,
    splits: &[(&str, Vec<PathBuf>)],
    names: Vec<String>,
    coarse: Option<Vec<String>>,
) -> Result<Manifest> {
    let label_bytes = if coarse.is_some() { 2 } else { 1 };
    let record = label_bytes + PIXELS;
    let classes = names.len();
    let mut samples = Vec::new();
    let mut coarse_labels = Vec::new();
    for (split, files) in splits {
        let mut index = 0i64;
        for file in files {
            let bytes = std::fs::read(file)
                .map_err(|e| DataError::file(file, format!("cannot read: {e}")))?;
            if bytes.is_empty() || bytes.len() % record != 0 {
                return Err(DataError::file(
                    file,
                    format!(
                        "size {} is not a positive multiple of the {record}-byte record",
                        bytes.len()
                    ),
                ));
            }
            let records: Vec<&[u8]> = bytes.chunks_exact(record).collect();
            let decoded: Vec<(i64, i64, Vec<u8>)> = records
                .par_iter()
                .enumerate()
                .map(|(r, rec)| {
                    let label = rec[label_bytes - 1] as i64;
                    if label as usize >= classes {
                        return Err(DataError::file(
                            file,
                            format!(
                                "record {r}: label {label} is out of range for {classes} classes"
                            ),
                        ));
                    }
                    let planes = &rec[label_bytes..];
                    let mut rgb = Vec::with_capacity(PIXELS);
                    for p in 0..1024 {
                        rgb.extend_from_slice(&[planes[p], planes[1024 + p], planes[2048 + p]]);
                    }
                    Ok((label, rec[0] as i64, encode_png(&rgb, 32, 32)?))
                })
                .collect::<Result<_>>()?;
            for (label, coarse_label, png) in decoded {
                samples.push(Sample {
                    index,
                    split: (*split).to_owned(),
                    label,
                    image: Some((png, "png".to_owned())),
                    ..Sample::default()
                });
                coarse_labels.push(coarse_label);
                index += 1;
            }
        }
    }
    let mut manifest = Manifest::from_samples(names, samples)?;
    if let Some(coarse_names) = coarse {
        let column: ArrayRef = Arc::new(Int64Array::from(coarse_labels));
        manifest.extra.push((
            Arc::new(Field::new("coarse_label", DataType::Int64, false)),
            column,
        ));
        manifest.metadata.insert(
            "nml.coarse_class_names".to_owned(),
            serde_json::to_string(&coarse_names)?,
        );
    }
    manifest
        .metadata
        .insert("nml.source".to_owned(), dir.display().to_string());
    Ok(manifest)
}
