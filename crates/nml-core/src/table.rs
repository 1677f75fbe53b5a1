//! Parquet plumbing shared by manifests and feature tables: projected reads,
//! typed column extraction with row-precise errors, and atomic batch writes.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchReader};
use arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::atomic::AtomicFile;
use crate::error::{CoreError, Result};

/// Rows per Parquet row group: small enough that readers can stream a file.
const ROW_GROUP_ROWS: usize = 4096;

/// The decoded content of a Parquet file (or of some of its columns).
#[derive(Debug)]
pub(crate) struct Table {
    pub path: PathBuf,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub metadata: BTreeMap<String, String>,
}

impl Table {
    /// Reads `path`, keeping only the top-level columns `keep` accepts.
    pub fn read(path: &Path, keep: impl Fn(&str) -> bool) -> Result<Table> {
        let file = File::open(path).map_err(|e| CoreError::io(path, "cannot open", e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|err| CoreError::Parquet {
                path: path.to_owned(),
                err,
            })?;
        let metadata = builder
            .schema()
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let roots: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| keep(f.name()))
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|err| CoreError::Parquet {
                path: path.to_owned(),
                err,
            })?;
        let schema = reader.schema();
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| CoreError::Arrow {
                path: path.to_owned(),
                err,
            })?;
        Ok(Table {
            path: path.to_owned(),
            schema,
            batches,
            metadata,
        })
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    pub fn has(&self, column: &str) -> bool {
        self.schema.field_with_name(column).is_ok()
    }

    fn data_type(&self, column: &str) -> Result<&DataType> {
        self.schema
            .field_with_name(column)
            .map(|f| f.data_type())
            .map_err(|_| CoreError::MissingColumn {
                path: self.path.clone(),
                column: column.to_owned(),
            })
    }

    fn wrong_type(&self, column: &str, expected: &str) -> CoreError {
        CoreError::WrongType {
            path: self.path.clone(),
            column: column.to_owned(),
            found: self
                .data_type(column)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            expected: expected.to_owned(),
        }
    }

    /// Each batch's `column`, after casting it to `target` (used to accept
    /// the large and view variants of strings and binaries).
    fn chunks(&self, column: &str, target: &DataType) -> Result<Vec<ArrayRef>> {
        self.batches
            .iter()
            .map(|b| {
                let array = b
                    .column_by_name(column)
                    .expect("column checked against schema");
                if array.data_type() == target {
                    Ok(array.clone())
                } else {
                    arrow::compute::cast(array, target).map_err(|err| CoreError::Arrow {
                        path: self.path.clone(),
                        err,
                    })
                }
            })
            .collect()
    }

    /// Calls `visit(row, chunk, i)` for every row; fails on the first null.
    fn for_each_row(
        &self,
        column: &str,
        chunks: &[ArrayRef],
        mut visit: impl FnMut(usize, &ArrayRef, usize) -> Result<()>,
    ) -> Result<()> {
        let mut row = 0;
        for chunk in chunks {
            for i in 0..chunk.len() {
                if chunk.is_null(i) {
                    return Err(CoreError::bad_value(&self.path, column, row, "null value"));
                }
                visit(row, chunk, i)?;
                row += 1;
            }
        }
        Ok(())
    }

    /// A non-null int64 column.
    pub fn i64s(&self, column: &str) -> Result<Vec<i64>> {
        if self.data_type(column)? != &DataType::Int64 {
            return Err(self.wrong_type(column, "int64"));
        }
        let chunks = self.chunks(column, &DataType::Int64)?;
        let mut out = Vec::with_capacity(self.num_rows());
        self.for_each_row(column, &chunks, |_, chunk, i| {
            out.push(chunk.as_primitive::<Int64Type>().value(i));
            Ok(())
        })?;
        Ok(out)
    }

    /// A non-null string column (utf8, large_utf8 or utf8_view).
    pub fn strings(&self, column: &str) -> Result<Vec<String>> {
        match self.data_type(column)? {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {}
            _ => return Err(self.wrong_type(column, "string")),
        }
        let chunks = self.chunks(column, &DataType::Utf8)?;
        let mut out = Vec::with_capacity(self.num_rows());
        self.for_each_row(column, &chunks, |_, chunk, i| {
            out.push(chunk.as_string::<i32>().value(i).to_owned());
            Ok(())
        })?;
        Ok(out)
    }

    /// A non-null binary column (binary, large_binary or binary_view).
    pub fn binaries(&self, column: &str) -> Result<Vec<Vec<u8>>> {
        match self.data_type(column)? {
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {}
            _ => return Err(self.wrong_type(column, "binary")),
        }
        let chunks = self.chunks(column, &DataType::LargeBinary)?;
        let mut out = Vec::with_capacity(self.num_rows());
        self.for_each_row(column, &chunks, |_, chunk, i| {
            out.push(chunk.as_binary::<i64>().value(i).to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    /// A column of float vectors of one fixed length, flattened row-major.
    ///
    /// Accepts fixed-size lists and (large) lists of float32 or float64;
    /// every value must be finite and every row the same length.
    pub fn float_rows(&self, column: &str) -> Result<(usize, Vec<f32>)> {
        let expected = "fixed_size_list<float32> or list<float32|float64>";
        let inner = match self.data_type(column)? {
            DataType::FixedSizeList(f, _) | DataType::List(f) | DataType::LargeList(f) => {
                f.data_type().clone()
            }
            _ => return Err(self.wrong_type(column, expected)),
        };
        if !matches!(inner, DataType::Float32 | DataType::Float64) {
            return Err(self.wrong_type(column, expected));
        }
        let item = arrow::datatypes::Field::new("item", DataType::Float32, true);
        let target = DataType::LargeList(item.into());
        let chunks = self.chunks(column, &target)?;
        let mut dim: Option<usize> = None;
        let mut out = Vec::new();
        self.for_each_row(column, &chunks, |row, chunk, i| {
            let values = chunk.as_list::<i64>().value(i);
            let values = values.as_primitive::<arrow::datatypes::Float32Type>();
            let d = *dim.get_or_insert(values.len());
            if values.len() != d {
                return Err(CoreError::bad_value(
                    &self.path,
                    column,
                    row,
                    format!("vector has {} values, earlier rows have {d}", values.len()),
                ));
            }
            if d == 0 {
                return Err(CoreError::bad_value(
                    &self.path,
                    column,
                    row,
                    "empty vector",
                ));
            }
            if values.null_count() > 0 {
                return Err(CoreError::bad_value(
                    &self.path,
                    column,
                    row,
                    "null inside vector",
                ));
            }
            if let Some(j) = values.values().iter().position(|v| !v.is_finite()) {
                return Err(CoreError::bad_value(
                    &self.path,
                    column,
                    row,
                    format!("value {j} is {} (features must be finite)", values.value(j)),
                ));
            }
            out.extend_from_slice(values.values());
            Ok(())
        })?;
        Ok((dim.unwrap_or(0), out))
    }

    /// The whole of `column` as one array (for columns passed through untouched).
    pub fn concat(&self, column: &str) -> Result<ArrayRef> {
        let chunks: Vec<&dyn Array> = self
            .batches
            .iter()
            .map(|b| {
                b.column_by_name(column)
                    .expect("column from schema")
                    .as_ref()
            })
            .collect();
        if chunks.is_empty() {
            let dt = self.data_type(column)?;
            return Ok(arrow::array::new_empty_array(dt));
        }
        arrow::compute::concat(&chunks).map_err(|err| CoreError::Arrow {
            path: self.path.clone(),
            err,
        })
    }
}

/// Streams record batches into a Parquet file that appears only on [`finish`](Self::finish).
pub(crate) struct ParquetSink {
    path: PathBuf,
    writer: ArrowWriter<AtomicFile>,
}

impl ParquetSink {
    pub fn create(path: &Path, schema: SchemaRef) -> Result<ParquetSink> {
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid zstd level"),
            ))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let file = AtomicFile::create(path)?;
        let writer =
            ArrowWriter::try_new(file, schema, Some(props)).map_err(|err| CoreError::Parquet {
                path: path.to_owned(),
                err,
            })?;
        Ok(ParquetSink {
            path: path.to_owned(),
            writer,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(|err| CoreError::Parquet {
            path: self.path.clone(),
            err,
        })
    }

    pub fn finish(self) -> Result<()> {
        let file = self.writer.into_inner().map_err(|err| CoreError::Parquet {
            path: self.path.clone(),
            err,
        })?;
        file.commit()
    }
}

/// An Arrow schema carrying `metadata` as its key/value metadata.
pub(crate) fn schema_with_metadata(
    fields: Vec<arrow::datatypes::Field>,
    metadata: &BTreeMap<String, String>,
) -> SchemaRef {
    let metadata: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Schema::new_with_metadata(fields, metadata).into()
}
