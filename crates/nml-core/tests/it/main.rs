//! Integration tests of nml-core: manifests and feature tables on disk,
//! bad input of every kind, and writes interrupted by a killed process.

mod features; // feature tables: round trip, streaming, non-finite values, ragged rows
mod interrupted; // a writer killed mid-file leaves no partial file
mod manifest; // manifests: round trip, shared data, every schema violation

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};
use parquet::arrow::ArrowWriter;

/// Writes `columns` to a Parquet file exactly as given, bypassing nml-core's validation.
pub fn write_raw(path: &Path, columns: Vec<(&str, ArrayRef)>, metadata: &[(&str, &str)]) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Asserts that `result` failed and that its message contains every part of `expect`.
pub fn check_err<T: std::fmt::Debug>(result: nml_core::Result<T>, expect: &[&str]) {
    let message = result.expect_err("expected an error").to_string();
    for part in expect {
        assert!(message.contains(part), "error {message:?} lacks {part:?}");
    }
}
