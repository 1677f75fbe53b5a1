//! Datasets for nml: the embedded synthetic benchmark ([`synth`]), importers
//! of real data ([`import`]) and contact sheets ([`contact`]).
//!
//! Every function returns or writes `nml-core` manifests whose images are
//! encoded bytes (`png` for generated and CIFAR images; imported JPEG and
//! PNG files keep their original bytes).

pub mod contact;
pub mod import;
pub mod synth;

use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Why a dataset cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading or writing a manifest failed.
    #[error(transparent)]
    Core(#[from] nml_core::CoreError),
    /// A parameter is out of its domain.
    #[error("{0}")]
    Invalid(String),
    /// A source file is unreadable or malformed.
    #[error("{}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
    /// A config could not be serialised.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl DataError {
    pub(crate) fn file(path: &Path, problem: impl Into<String>) -> Self {
        DataError::File {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Encodes row-major RGB pixels as PNG.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| DataError::Invalid(format!("cannot encode a {width}x{height} PNG: {e}")))?;
    Ok(out)
}

/// Decodes PNG or JPEG bytes to RGB.
pub fn decode_rgb(bytes: &[u8]) -> Result<image::RgbImage, image::ImageError> {
    Ok(image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .decode()?
        .to_rgb8())
}
