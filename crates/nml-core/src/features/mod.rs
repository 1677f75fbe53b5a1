//! Feature tables: one frozen-backbone vector per manifest row.
//!
//! | column | type | required |
//! |---|---|---|
//! | `index` | int64 | yes, unique within its split, the manifest's `index` |
//! | `split` | string | yes |
//! | `label` | int64 | yes, `>= 0` and below the class count when known |
//! | `domain` | string | no |
//! | `view` | int64 | no: 0 = the eval transform, 1..K = augmented views of the same row |
//! | `feature` | fixed_size_list<float32, D> | yes, finite |
//!
//! A row is identified by (`split`, `index`, `view`); without a `view`
//! column every row is the eval view. [`FeatureTable::eval_view`] keeps the
//! rows every single-view consumer reads, [`FeatureTable::augmented_views`]
//! lines up the others behind them.
//!
//! Metadata: `nml.feature_dim`, `nml.class_names` when the producer knows
//! the classes, plus whatever the producer records (model and dataset hashes,
//! config, seed).
//! [`FeatureWriter`] streams batches to disk so that a producer never holds
//! all features at once; readers also accept `list<float32|float64>` columns
//! of constant length, the form most Python tools write.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, SchemaRef};

use crate::error::{CoreError, Result};
use crate::manifest::{columns, META_CLASS_NAMES};
use crate::table::{schema_with_metadata, ParquetSink, Table};

mod views;

/// Name of the feature vector column.
pub const FEATURE: &str = "feature";
/// Metadata key holding the feature dimension.
pub const META_FEATURE_DIM: &str = "nml.feature_dim";
/// Name of the optional view column (0 = eval transform, 1..K augmented).
pub const VIEW: &str = "view";

/// A feature table in memory; `features` is row-major, `len() * dim` values.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    pub index: Vec<i64>,
    pub split: Vec<String>,
    pub label: Vec<i64>,
    pub domain: Option<Vec<String>>,
    /// Which view of its image each row is (`None`: every row is the eval view).
    pub view: Option<Vec<i64>>,
    pub dim: usize,
    pub features: Vec<f32>,
    pub class_names: Option<Vec<String>>,
    pub metadata: BTreeMap<String, String>,
}

/// The augmented views behind the eval rows of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentedViews {
    /// Views per row (K).
    pub per_row: usize,
    /// Row-major `[rows, K, D]`: view `v` (1-based in the file) of eval row `r`
    /// is at `(r * K + v - 1) * D`.
    pub values: Vec<f32>,
}

/// Vectors from another tool: an `index`, an optional `split`, and a vector column.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    pub index: Vec<i64>,
    pub split: Option<Vec<String>>,
    pub dim: usize,
    /// Row-major, `index.len() * dim` values, all finite.
    pub values: Vec<f32>,
}

impl Embeddings {
    /// Reads `index`, `split` (if present) and the vector column `column`
    /// (fixed-size list or list of float32/float64, constant length, finite).
    pub fn read(path: impl AsRef<Path>, column: &str) -> Result<Embeddings> {
        let path = path.as_ref();
        let table = Table::read(path, |c| {
            c == columns::INDEX || c == columns::SPLIT || c == column
        })?;
        let index = table.i64s(columns::INDEX)?;
        let split = table
            .has(columns::SPLIT)
            .then(|| table.strings(columns::SPLIT))
            .transpose()?;
        let (dim, values) = table.float_rows(column)?;
        Ok(Embeddings {
            index,
            split,
            dim,
            values,
        })
    }
}

/// A slice of rows handed to [`FeatureWriter::write`].
#[derive(Debug, Clone, Copy)]
pub struct FeatureBatch<'a> {
    pub index: &'a [i64],
    pub split: &'a [String],
    pub label: &'a [i64],
    pub domain: Option<&'a [String]>,
    pub view: Option<&'a [i64]>,
    /// Row-major, `index.len() * dim` values.
    pub features: &'a [f32],
}

/// What every batch of a feature file shares.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSchema {
    pub dim: usize,
    pub has_domain: bool,
    pub has_view: bool,
    pub class_names: Option<Vec<String>>,
    pub metadata: BTreeMap<String, String>,
}

impl FeatureTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when the table has no row.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Row numbers whose split (and domain) match; `None` matches every row.
    pub fn rows_where(&self, split: Option<&str>, domain: Option<&str>) -> Vec<usize> {
        (0..self.len())
            .filter(|&r| split.is_none_or(|s| self.split[r] == s))
            .filter(|&r| domain.is_none_or(|d| self.domain.as_ref().is_some_and(|dom| dom[r] == d)))
            .collect()
    }

    /// A new table holding `rows` (in that order), with the same classes and metadata.
    pub fn select(&self, rows: &[usize]) -> FeatureTable {
        let pick = |v: &[String]| rows.iter().map(|&r| v[r].clone()).collect::<Vec<_>>();
        FeatureTable {
            index: rows.iter().map(|&r| self.index[r]).collect(),
            split: pick(&self.split),
            label: rows.iter().map(|&r| self.label[r]).collect(),
            domain: self.domain.as_deref().map(pick),
            view: self
                .view
                .as_ref()
                .map(|v| rows.iter().map(|&r| v[r]).collect()),
            dim: self.dim,
            features: rows
                .iter()
                .flat_map(|&r| self.row(r).iter().copied())
                .collect(),
            class_names: self.class_names.clone(),
            metadata: self.metadata.clone(),
        }
    }

    /// The feature vector of row `row`.
    pub fn row(&self, row: usize) -> &[f32] {
        &self.features[row * self.dim..(row + 1) * self.dim]
    }

    /// Reads and validates a feature table.
    pub fn read(path: impl AsRef<Path>) -> Result<FeatureTable> {
        let path = path.as_ref();
        let wanted = [
            columns::INDEX,
            columns::SPLIT,
            columns::LABEL,
            columns::DOMAIN,
            VIEW,
            FEATURE,
        ];
        let table = Table::read(path, |c| wanted.contains(&c))?;
        let index = table.i64s(columns::INDEX)?;
        let split = table.strings(columns::SPLIT)?;
        let label = table.i64s(columns::LABEL)?;
        let domain = table
            .has(columns::DOMAIN)
            .then(|| table.strings(columns::DOMAIN))
            .transpose()?;
        let view = table.has(VIEW).then(|| table.i64s(VIEW)).transpose()?;
        let (dim, features) = table.float_rows(FEATURE)?;
        let mut metadata = table.metadata.clone();
        metadata.remove("ARROW:schema");
        metadata.remove(META_FEATURE_DIM);
        let class_names = metadata
            .remove(META_CLASS_NAMES)
            .map(|json| {
                serde_json::from_str::<Vec<String>>(&json).map_err(|e| {
                    CoreError::invalid(
                        path,
                        format!("metadata `{META_CLASS_NAMES}` is not a JSON list: {e}"),
                    )
                })
            })
            .transpose()?;
        let table = FeatureTable {
            index,
            split,
            label,
            domain,
            view,
            dim,
            features,
            class_names,
            metadata,
        };
        let mut checker = RowChecker::new(path, &table.schema());
        checker.check(&table.batch())?;
        Ok(table)
    }

    /// Validates and writes the table to `path` atomically.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut writer = FeatureWriter::create(path, self.schema())?;
        writer.write(&self.batch())?;
        writer.finish()
    }

    /// The shared part of this table's rows.
    pub fn schema(&self) -> FeatureSchema {
        FeatureSchema {
            dim: self.dim,
            has_domain: self.domain.is_some(),
            has_view: self.view.is_some(),
            class_names: self.class_names.clone(),
            metadata: self.metadata.clone(),
        }
    }

    fn batch(&self) -> FeatureBatch<'_> {
        FeatureBatch {
            index: &self.index,
            split: &self.split,
            label: &self.label,
            domain: self.domain.as_deref(),
            view: self.view.as_deref(),
            features: &self.features,
        }
    }
}

/// Streams feature batches into a Parquet file that appears only on [`finish`](Self::finish).
pub struct FeatureWriter {
    sink: ParquetSink,
    schema: SchemaRef,
    item: Arc<Field>,
    checker: RowChecker,
}

impl FeatureWriter {
    /// Starts writing `path`; nothing is visible there until [`finish`](Self::finish).
    pub fn create(path: impl AsRef<Path>, spec: FeatureSchema) -> Result<FeatureWriter> {
        let path = path.as_ref();
        if spec.dim == 0 || i32::try_from(spec.dim).is_err() {
            return Err(CoreError::invalid(
                path,
                format!("feature dimension {} is not usable", spec.dim),
            ));
        }
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let mut fields = vec![
            Field::new(columns::INDEX, DataType::Int64, false),
            Field::new(columns::SPLIT, DataType::Utf8, false),
            Field::new(columns::LABEL, DataType::Int64, false),
        ];
        if spec.has_domain {
            fields.push(Field::new(columns::DOMAIN, DataType::Utf8, false));
        }
        if spec.has_view {
            fields.push(Field::new(VIEW, DataType::Int64, false));
        }
        fields.push(Field::new(
            FEATURE,
            DataType::FixedSizeList(item.clone(), spec.dim as i32),
            false,
        ));
        let mut metadata = spec.metadata.clone();
        metadata.insert(META_FEATURE_DIM.to_owned(), spec.dim.to_string());
        if let Some(names) = &spec.class_names {
            metadata.insert(META_CLASS_NAMES.to_owned(), serde_json::to_string(names)?);
        }
        let schema = schema_with_metadata(fields, &metadata);
        let sink = ParquetSink::create(path, schema.clone())?;
        Ok(FeatureWriter {
            sink,
            schema,
            item,
            checker: RowChecker::new(path, &spec),
        })
    }

    /// Validates and appends rows.
    pub fn write(&mut self, batch: &FeatureBatch<'_>) -> Result<()> {
        self.checker.check(batch)?;
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(batch.index.to_vec())),
            Arc::new(StringArray::from_iter_values(batch.split)),
            Arc::new(Int64Array::from(batch.label.to_vec())),
        ];
        if let Some(domain) = batch.domain {
            arrays.push(Arc::new(StringArray::from_iter_values(domain)));
        }
        if let Some(view) = batch.view {
            arrays.push(Arc::new(Int64Array::from(view.to_vec())));
        }
        let values = Arc::new(Float32Array::from(batch.features.to_vec()));
        let list =
            FixedSizeListArray::try_new(self.item.clone(), self.checker.dim as i32, values, None)
                .map_err(|err| CoreError::Arrow {
                path: self.checker.path.clone(),
                err,
            })?;
        arrays.push(Arc::new(list));
        let record =
            RecordBatch::try_new(self.schema.clone(), arrays).map_err(|err| CoreError::Arrow {
                path: self.checker.path.clone(),
                err,
            })?;
        self.sink.write(&record)
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.checker.rows
    }

    /// Publishes the file.
    pub fn finish(self) -> Result<()> {
        self.sink.finish()
    }
}

/// The row rules of a feature file, checked across batches.
#[derive(Debug)]
struct RowChecker {
    path: PathBuf,
    dim: usize,
    has_domain: bool,
    has_view: bool,
    classes: Option<usize>,
    seen: HashSet<(String, i64, i64)>,
    rows: usize,
}

impl RowChecker {
    fn new(path: &Path, spec: &FeatureSchema) -> RowChecker {
        RowChecker {
            path: path.to_owned(),
            dim: spec.dim,
            has_domain: spec.has_domain,
            has_view: spec.has_view,
            classes: spec.class_names.as_ref().map(Vec::len),
            seen: HashSet::new(),
            rows: 0,
        }
    }

    /// Lengths of the batch's columns, and the optional columns the schema has.
    fn check_columns(&self, batch: &FeatureBatch<'_>) -> Result<()> {
        let n = batch.index.len();
        let mismatch = |what: &str, len: usize| {
            CoreError::invalid(
                &self.path,
                format!("batch has {n} indices but {len} {what}"),
            )
        };
        if batch.split.len() != n {
            return Err(mismatch("splits", batch.split.len()));
        }
        if batch.label.len() != n {
            return Err(mismatch("labels", batch.label.len()));
        }
        if batch.features.len() != n * self.dim {
            return Err(mismatch(
                &format!(
                    "feature values (expected {} = {n} x {})",
                    n * self.dim,
                    self.dim
                ),
                batch.features.len(),
            ));
        }
        match (self.has_domain, batch.domain) {
            (true, None) => {
                return Err(CoreError::invalid(
                    &self.path,
                    "batch lacks the `domain` column",
                ))
            }
            (false, Some(_)) => {
                return Err(CoreError::invalid(
                    &self.path,
                    "batch has a `domain` column the schema lacks",
                ))
            }
            (true, Some(d)) if d.len() != n => return Err(mismatch("domains", d.len())),
            _ => {}
        }
        match (self.has_view, batch.view) {
            (true, None) => {
                return Err(CoreError::invalid(
                    &self.path,
                    "batch lacks the `view` column",
                ))
            }
            (false, Some(_)) => {
                return Err(CoreError::invalid(
                    &self.path,
                    "batch has a `view` column the schema lacks",
                ))
            }
            (true, Some(v)) if v.len() != n => return Err(mismatch("views", v.len())),
            _ => {}
        }
        Ok(())
    }

    fn check(&mut self, batch: &FeatureBatch<'_>) -> Result<()> {
        self.check_columns(batch)?;
        let n = batch.index.len();
        for i in 0..n {
            let row = self.rows + i;
            let view = batch.view.map_or(0, |v| v[i]);
            if view < 0 {
                return Err(CoreError::bad_value(
                    &self.path,
                    VIEW,
                    row,
                    format!("view {view} is negative"),
                ));
            }
            if !self
                .seen
                .insert((batch.split[i].clone(), batch.index[i], view))
            {
                let which = if batch.view.is_some() {
                    format!(" view {view}")
                } else {
                    String::new()
                };
                return Err(CoreError::bad_value(
                    &self.path,
                    columns::INDEX,
                    row,
                    format!(
                        "index {} of split `{}`{which} appears twice",
                        batch.index[i], batch.split[i]
                    ),
                ));
            }
            let label = batch.label[i];
            let out_of_range = self.classes.is_some_and(|c| label >= c as i64);
            if label < 0 || out_of_range {
                let limit = self
                    .classes
                    .map_or(String::new(), |c| format!(" for {c} classes"));
                return Err(CoreError::bad_value(
                    &self.path,
                    columns::LABEL,
                    row,
                    format!("label {label} is out of range{limit}"),
                ));
            }
            let values = &batch.features[i * self.dim..(i + 1) * self.dim];
            if let Some(j) = values.iter().position(|v| !v.is_finite()) {
                return Err(CoreError::bad_value(
                    &self.path,
                    FEATURE,
                    row,
                    format!("value {j} is {} (features must be finite)", values[j]),
                ));
            }
        }
        self.rows += n;
        Ok(())
    }
}
