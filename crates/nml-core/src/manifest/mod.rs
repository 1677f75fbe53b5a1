//! The manifest: one row per sample, the file every stage reads and writes.
//!
//! | column | type | required | meaning |
//! |---|---|---|---|
//! | `index` | int64 | yes | sample id, unique within its split |
//! | `split` | string | yes | `train`, `test`, `val`… |
//! | `label` | int64 | yes | clean class id, `0 <= label < class count` |
//! | `label_name` | string | yes | name of class `label` |
//! | `image` | binary | no | encoded image bytes |
//! | `image_format` | string | with `image` | `png`, `jpeg`… |
//! | `text` | string | no | caption or sentence |
//! | `domain` | string | no | `photo`, `sketch`… |
//! | `noisy_label` | int64 | no | the label training sees, same range as `label` |
//!
//! Any other column is carried through unchanged.
//! The class list lives in the file's key/value metadata as `nml.class_names`
//! (a JSON list); files from elsewhere may instead carry `class_names`
//! (comma-separated, as in `shared/data`), and failing both it is derived
//! from the (`label`, `label_name`) pairs.
//! Reading checks every rule above and reports the first violation with the
//! file, the column and the row.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, FieldRef};

use crate::error::{CoreError, Result};
use crate::table::{schema_with_metadata, ParquetSink, Table};

mod labels;

use labels::{checked_label, label_error, resolve_class_names};

/// Column names of the manifest schema.
pub mod columns {
    pub const INDEX: &str = "index";
    pub const SPLIT: &str = "split";
    pub const LABEL: &str = "label";
    pub const LABEL_NAME: &str = "label_name";
    pub const IMAGE: &str = "image";
    pub const IMAGE_FORMAT: &str = "image_format";
    pub const TEXT: &str = "text";
    pub const DOMAIN: &str = "domain";
    pub const NOISY_LABEL: &str = "noisy_label";
    /// Every column with a meaning in the schema, in file order.
    pub const KNOWN: [&str; 9] = [
        INDEX,
        SPLIT,
        LABEL,
        LABEL_NAME,
        IMAGE,
        IMAGE_FORMAT,
        TEXT,
        DOMAIN,
        NOISY_LABEL,
    ];
}

/// Metadata key holding the class names as a JSON list.
pub const META_CLASS_NAMES: &str = "nml.class_names";
/// Metadata key holding the manifest schema version.
pub const META_SCHEMA_VERSION: &str = "nml.schema_version";
/// The schema version this crate writes.
pub const SCHEMA_VERSION: &str = "1";
/// Class names as written by `shared/data` (comma-separated).
const META_CLASS_NAMES_CSV: &str = "class_names";

/// A whole manifest in memory, column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub index: Vec<i64>,
    pub split: Vec<String>,
    pub label: Vec<i64>,
    pub label_name: Vec<String>,
    pub image: Option<Vec<Vec<u8>>>,
    pub image_format: Option<Vec<String>>,
    pub text: Option<Vec<String>>,
    pub domain: Option<Vec<String>>,
    pub noisy_label: Option<Vec<i64>>,
    /// Name of each class id; its length is the class count.
    pub class_names: Vec<String>,
    /// File metadata other than the class list and schema version (source, config, seed…).
    pub metadata: BTreeMap<String, String>,
    /// Columns outside the schema, carried through reads and writes.
    pub extra: Vec<(FieldRef, ArrayRef)>,
}

/// One sample, for building a manifest row by row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub index: i64,
    pub split: String,
    pub label: i64,
    /// Encoded bytes and their format (`png`, `jpeg`…).
    pub image: Option<(Vec<u8>, String)>,
    pub text: Option<String>,
    pub domain: Option<String>,
    pub noisy_label: Option<i64>,
}

/// Which optional parts of a manifest to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Load `image` and `image_format` (the bulk of most files).
    pub images: bool,
    /// Load columns outside the schema.
    pub extra: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            images: true,
            extra: true,
        }
    }
}

impl ReadOptions {
    /// Everything but the image bytes: labels, splits, domains, text.
    pub fn without_images() -> Self {
        ReadOptions {
            images: false,
            extra: true,
        }
    }
}

impl Manifest {
    /// Builds a manifest from samples; `label_name` comes from `class_names`.
    ///
    /// An optional column exists when every sample has it; a column that only
    /// some samples have is an error, as is any rule [`validate`](Self::validate) checks.
    pub fn from_samples(class_names: Vec<String>, samples: Vec<Sample>) -> Result<Manifest> {
        let here = Path::new("<samples>");
        fn column<T>(
            samples: &[Sample],
            name: &str,
            get: impl Fn(&Sample) -> Option<T>,
        ) -> Result<Option<Vec<T>>> {
            let values: Vec<Option<T>> = samples.iter().map(get).collect();
            let present = values.iter().filter(|v| v.is_some()).count();
            if present == 0 {
                return Ok(None);
            }
            if let Some(row) = values.iter().position(Option::is_none) {
                return Err(CoreError::bad_value(
                    "<samples>",
                    name,
                    row,
                    "missing while other samples have it",
                ));
            }
            Ok(Some(
                values.into_iter().map(|v| v.expect("checked")).collect(),
            ))
        }
        let label_name = samples
            .iter()
            .enumerate()
            .map(|(row, s)| {
                usize::try_from(s.label)
                    .ok()
                    .and_then(|l| class_names.get(l))
                    .cloned()
                    .ok_or_else(|| {
                        label_error(here, columns::LABEL, row, s.label, class_names.len())
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let image = column(&samples, columns::IMAGE, |s| s.image.clone())?;
        let (image, image_format) = match image {
            Some(pairs) => {
                let (bytes, formats) = pairs.into_iter().unzip();
                (Some(bytes), Some(formats))
            }
            None => (None, None),
        };
        let manifest = Manifest {
            index: samples.iter().map(|s| s.index).collect(),
            split: samples.iter().map(|s| s.split.clone()).collect(),
            label: samples.iter().map(|s| s.label).collect(),
            label_name,
            image,
            image_format,
            text: column(&samples, columns::TEXT, |s| s.text.clone())?,
            domain: column(&samples, columns::DOMAIN, |s| s.domain.clone())?,
            noisy_label: column(&samples, columns::NOISY_LABEL, |s| s.noisy_label)?,
            class_names,
            metadata: BTreeMap::new(),
            extra: Vec::new(),
        };
        manifest.validate(here)?;
        Ok(manifest)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when the manifest has no sample.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Number of classes (the length of the class list).
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The labels training should use: `noisy_label` when present, else `label`.
    pub fn training_labels(&self) -> &[i64] {
        self.noisy_label.as_deref().unwrap_or(&self.label)
    }

    /// Row numbers whose `split` equals `split`.
    pub fn rows_in_split(&self, split: &str) -> Vec<usize> {
        (0..self.len())
            .filter(|&r| self.split[r] == split)
            .collect()
    }

    /// A new manifest holding `rows` (in that order), with the same classes and metadata.
    pub fn select(&self, rows: &[usize]) -> Manifest {
        fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&r| v[r].clone()).collect()
        }
        let take_idx = arrow::array::UInt64Array::from_iter_values(rows.iter().map(|&r| r as u64));
        Manifest {
            index: pick(&self.index, rows),
            split: pick(&self.split, rows),
            label: pick(&self.label, rows),
            label_name: pick(&self.label_name, rows),
            image: self.image.as_deref().map(|v| pick(v, rows)),
            image_format: self.image_format.as_deref().map(|v| pick(v, rows)),
            text: self.text.as_deref().map(|v| pick(v, rows)),
            domain: self.domain.as_deref().map(|v| pick(v, rows)),
            noisy_label: self.noisy_label.as_deref().map(|v| pick(v, rows)),
            class_names: self.class_names.clone(),
            metadata: self.metadata.clone(),
            extra: self
                .extra
                .iter()
                .map(|(f, a)| {
                    let taken = arrow::compute::take(a.as_ref(), &take_idx, None)
                        .expect("row numbers come from this manifest");
                    (f.clone(), taken)
                })
                .collect(),
        }
    }

    /// Reads and validates a manifest with every column.
    pub fn read(path: impl AsRef<Path>) -> Result<Manifest> {
        Self::read_with(path, ReadOptions::default())
    }

    /// Reads and validates a manifest, loading the optional parts `options` asks for.
    pub fn read_with(path: impl AsRef<Path>, options: ReadOptions) -> Result<Manifest> {
        let path = path.as_ref();
        let known = |c: &str| columns::KNOWN.contains(&c);
        let table = Table::read(path, |c| {
            if c == columns::IMAGE || c == columns::IMAGE_FORMAT {
                options.images
            } else {
                known(c) || options.extra
            }
        })?;
        let optional_i64 = |c| table.has(c).then(|| table.i64s(c)).transpose();
        let optional_str = |c| table.has(c).then(|| table.strings(c)).transpose();
        let index = table.i64s(columns::INDEX)?;
        let split = table.strings(columns::SPLIT)?;
        let label = table.i64s(columns::LABEL)?;
        let label_name = table.strings(columns::LABEL_NAME)?;
        let image = table
            .has(columns::IMAGE)
            .then(|| table.binaries(columns::IMAGE))
            .transpose()?;
        let image_format = optional_str(columns::IMAGE_FORMAT)?;
        let text = optional_str(columns::TEXT)?;
        let domain = optional_str(columns::DOMAIN)?;
        let noisy_label = optional_i64(columns::NOISY_LABEL)?;
        let mut metadata = table.metadata.clone();
        metadata.remove("ARROW:schema");
        metadata.remove(META_SCHEMA_VERSION);
        let class_names = resolve_class_names(path, &mut metadata, &label, &label_name)?;
        let extra = table
            .schema
            .fields()
            .iter()
            .filter(|f| !known(f.name()))
            .map(|f| Ok((f.clone(), table.concat(f.name())?)))
            .collect::<Result<Vec<_>>>()?;
        let manifest = Manifest {
            index,
            split,
            label,
            label_name,
            image,
            image_format,
            text,
            domain,
            noisy_label,
            class_names,
            metadata,
            extra,
        };
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Checks every schema rule; errors name `path`, the column and the row.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let n = self.len();
        let lengths = [
            (columns::SPLIT, Some(self.split.len())),
            (columns::LABEL, Some(self.label.len())),
            (columns::LABEL_NAME, Some(self.label_name.len())),
            (columns::IMAGE, self.image.as_ref().map(Vec::len)),
            (
                columns::IMAGE_FORMAT,
                self.image_format.as_ref().map(Vec::len),
            ),
            (columns::TEXT, self.text.as_ref().map(Vec::len)),
            (columns::DOMAIN, self.domain.as_ref().map(Vec::len)),
            (
                columns::NOISY_LABEL,
                self.noisy_label.as_ref().map(Vec::len),
            ),
        ];
        for (column, len) in lengths {
            if let Some(len) = len.filter(|&l| l != n) {
                return Err(CoreError::invalid(
                    path,
                    format!("column `{column}` has {len} rows but `index` has {n}"),
                ));
            }
        }
        if let Some((field, array)) = self.extra.iter().find(|(_, a)| a.len() != n) {
            return Err(CoreError::invalid(
                path,
                format!(
                    "column `{}` has {} rows but `index` has {n}",
                    field.name(),
                    array.len()
                ),
            ));
        }
        if self.image.is_some() != self.image_format.is_some() {
            let (has, lacks) = if self.image.is_some() {
                (columns::IMAGE, columns::IMAGE_FORMAT)
            } else {
                (columns::IMAGE_FORMAT, columns::IMAGE)
            };
            return Err(CoreError::invalid(
                path,
                format!("column `{has}` requires column `{lacks}`"),
            ));
        }
        let classes = self.class_names.len();
        let mut seen: HashMap<(&str, i64), usize> = HashMap::with_capacity(n);
        for row in 0..n {
            if let Some(first) = seen.insert((&self.split[row], self.index[row]), row) {
                return Err(CoreError::bad_value(
                    path,
                    columns::INDEX,
                    row,
                    format!(
                        "index {} of split `{}` already used by row {first}",
                        self.index[row], self.split[row]
                    ),
                ));
            }
            let label = self.label[row];
            let class = checked_label(path, columns::LABEL, row, label, classes)?;
            if self.label_name[row] != self.class_names[class] {
                return Err(CoreError::bad_value(
                    path,
                    columns::LABEL_NAME,
                    row,
                    format!(
                        "`{}` does not match the name `{}` of class {label}",
                        self.label_name[row], self.class_names[class]
                    ),
                ));
            }
            if let Some(noisy) = &self.noisy_label {
                checked_label(path, columns::NOISY_LABEL, row, noisy[row], classes)?;
            }
        }
        Ok(())
    }

    /// Validates and writes the manifest to `path` atomically (zstd Parquet).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.validate(path)?;
        let mut metadata = self.metadata.clone();
        metadata.remove(META_CLASS_NAMES_CSV);
        metadata.insert(
            META_CLASS_NAMES.to_owned(),
            serde_json::to_string(&self.class_names)?,
        );
        metadata.insert(META_SCHEMA_VERSION.to_owned(), SCHEMA_VERSION.to_owned());
        let fields = self.fields();
        let schema = schema_with_metadata(fields, &metadata);
        let mut sink = ParquetSink::create(path, schema.clone())?;
        // Bounded batches keep each binary array far below its 2 GiB offset limit.
        let rows_per_batch = 1024;
        let mut start = 0;
        loop {
            let end = (start + rows_per_batch).min(self.len());
            let batch =
                RecordBatch::try_new(schema.clone(), self.arrays(start, end)).map_err(|err| {
                    CoreError::Arrow {
                        path: path.to_owned(),
                        err,
                    }
                })?;
            sink.write(&batch)?;
            start = end;
            if start >= self.len() {
                break;
            }
        }
        sink.finish()
    }

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![
            Field::new(columns::INDEX, DataType::Int64, false),
            Field::new(columns::SPLIT, DataType::Utf8, false),
            Field::new(columns::LABEL, DataType::Int64, false),
            Field::new(columns::LABEL_NAME, DataType::Utf8, false),
        ];
        if self.image.is_some() {
            fields.push(Field::new(columns::IMAGE, DataType::Binary, false));
            fields.push(Field::new(columns::IMAGE_FORMAT, DataType::Utf8, false));
        }
        for (present, name) in [
            (self.text.is_some(), columns::TEXT),
            (self.domain.is_some(), columns::DOMAIN),
        ] {
            if present {
                fields.push(Field::new(name, DataType::Utf8, false));
            }
        }
        if self.noisy_label.is_some() {
            fields.push(Field::new(columns::NOISY_LABEL, DataType::Int64, false));
        }
        fields.extend(self.extra.iter().map(|(f, _)| f.as_ref().clone()));
        fields
    }

    /// Arrays for rows `start..end`, in the order of [`fields`](Self::fields).
    fn arrays(&self, start: usize, end: usize) -> Vec<ArrayRef> {
        let ints = |v: &[i64]| -> ArrayRef { Arc::new(Int64Array::from(v[start..end].to_vec())) };
        let strs = |v: &[String]| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(v[start..end].iter()))
        };
        let mut arrays = vec![
            ints(&self.index),
            strs(&self.split),
            ints(&self.label),
            strs(&self.label_name),
        ];
        if let (Some(image), Some(format)) = (&self.image, &self.image_format) {
            arrays.push(Arc::new(BinaryArray::from_iter_values(
                image[start..end].iter(),
            )));
            arrays.push(strs(format));
        }
        for column in [&self.text, &self.domain].into_iter().flatten() {
            arrays.push(strs(column));
        }
        if let Some(noisy) = &self.noisy_label {
            arrays.push(ints(noisy));
        }
        arrays.extend(self.extra.iter().map(|(_, a)| a.slice(start, end - start)));
        arrays
    }
}
