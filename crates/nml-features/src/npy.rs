//! A reader for `.npy` files holding a 2-D float32 or float64 C-order array.

use std::path::Path;

use crate::{FeatureError, Result};

/// Rows, columns and the values (as f32) of a 2-D `.npy` array.
pub fn read_matrix(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let bad = |problem: String| FeatureError::Invalid(format!("{}: {problem}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file".to_owned()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .ok_or_else(|| bad("truncated header".to_owned()))?;
    let field = |key: &str| -> Option<String> {
        let at = header.find(&format!("'{key}':"))? + key.len() + 3;
        Some(header[at..].trim_start().to_owned())
    };
    let descr = field("descr").ok_or_else(|| bad("header has no descr".to_owned()))?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        return Err(bad(format!(
            "dtype {} is not little-endian float32 or float64",
            descr.split(',').next().unwrap_or("")
        )));
    };
    if field("fortran_order").is_some_and(|f| f.starts_with("True")) {
        return Err(bad(
            "Fortran-order arrays are not supported; save with np.ascontiguousarray".to_owned(),
        ));
    }
    let shape = field("shape").ok_or_else(|| bad("header has no shape".to_owned()))?;
    let dims: Vec<usize> = shape
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("unreadable shape {shape}: {e}")))?;
    let [rows, cols] = dims[..] else {
        return Err(bad(format!(
            "array has shape {dims:?}; expected 2 dimensions (rows, dim)"
        )));
    };
    let data = &bytes[start + header_len..];
    if data.len() != rows * cols * width {
        return Err(bad(format!(
            "{} data bytes for a {rows}x{cols} array of {width}-byte floats",
            data.len()
        )));
    }
    let values = if width == 4 {
        data.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect()
    };
    Ok((rows, cols, values))
}
