//! The one error type of `nml-core`: every variant names the file it is about.

use std::path::PathBuf;

/// Result alias used throughout `nml-core`.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, validating or writing nml files.
///
/// Messages are lowercase, carry no trailing period and start with the path,
/// so a user can tell at a glance which file to fix.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The operating system refused an operation on `path`.
    #[error("{}: {what}: {err}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        err: std::io::Error,
    },
    /// `path` is not a Parquet file, or its Parquet structure is damaged.
    #[error("{}: parquet: {err}", path.display())]
    Parquet {
        path: PathBuf,
        err: parquet::errors::ParquetError,
    },
    /// Arrow could not decode, cast or assemble the data of `path`.
    #[error("{}: arrow: {err}", path.display())]
    Arrow {
        path: PathBuf,
        err: arrow::error::ArrowError,
    },
    /// A required column is absent.
    #[error("{}: missing column `{column}`", path.display())]
    MissingColumn { path: PathBuf, column: String },
    /// A column exists with a type the schema does not allow.
    #[error("{}: column `{column}` has type {found}, expected {expected}", path.display())]
    WrongType {
        path: PathBuf,
        column: String,
        found: String,
        expected: String,
    },
    /// One value breaks the schema's rules (null, out of range, not finite, duplicate…).
    #[error("{}: column `{column}`, row {row}: {problem}", path.display())]
    BadValue {
        path: PathBuf,
        column: String,
        row: usize,
        problem: String,
    },
    /// A whole-file rule is broken (mismatched lengths, inconsistent metadata…).
    #[error("{}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
    /// A value could not be serialised to JSON (for hashing or a config file).
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A flag's value cannot be honoured (an output that is an input, a path that cannot be written).
    #[error("{flag}: {problem}")]
    Flag { flag: String, problem: String },
}

impl CoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, what: &'static str, err: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            what,
            err,
        }
    }

    pub(crate) fn bad_value(
        path: impl Into<PathBuf>,
        column: &str,
        row: usize,
        problem: impl Into<String>,
    ) -> Self {
        CoreError::BadValue {
            path: path.into(),
            column: column.to_owned(),
            row,
            problem: problem.into(),
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        CoreError::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
