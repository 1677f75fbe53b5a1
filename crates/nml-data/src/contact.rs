//! Contact sheets: one PNG per manifest and split, a row per class (first 10)
//! and a few samples per domain, so a person can see what the data looks like.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use image::{imageops, Rgb, RgbImage};
use nml_core::Manifest;

use crate::{decode_rgb, encode_png, DataError, Result};

const TILE: u32 = 48;
const GAP: u32 = 2;
const GROUP_GAP: u32 = 8;
const MAX_CLASSES: usize = 10;

/// Writes `dir/<stem>-<split>.png` for every split; returns the paths.
pub fn write_sheets(manifest: &Manifest, dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
    let (Some(images), Some(_)) = (&manifest.image, &manifest.image_format) else {
        return Ok(Vec::new());
    };
    let splits: BTreeSet<&str> = manifest.split.iter().map(String::as_str).collect();
    let mut domains: Vec<&str> = Vec::new();
    for d in manifest.domain.iter().flatten() {
        if !domains.contains(&d.as_str()) {
            domains.push(d);
        }
    }
    if domains.is_empty() {
        domains.push("");
    }
    let per_domain = if domains.len() > 1 { 3 } else { 8 };
    let classes = manifest.num_classes().min(MAX_CLASSES);
    let mut written = Vec::new();
    for split in splits {
        let cols = domains.len() as u32 * per_domain as u32;
        let width = cols * (TILE + GAP) + (domains.len() as u32 - 1) * GROUP_GAP + GAP;
        let height = classes as u32 * (TILE + GAP) + GAP;
        let mut sheet = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
        for class in 0..classes {
            for (g, domain) in domains.iter().enumerate() {
                let rows = (0..manifest.len()).filter(|&r| {
                    manifest.split[r] == split
                        && manifest.label[r] == class as i64
                        && manifest.domain.as_ref().is_none_or(|d| d[r] == *domain)
                });
                for (k, row) in rows.take(per_domain).enumerate() {
                    let img = decode_rgb(&images[row]).map_err(|e| {
                        DataError::Invalid(format!(
                            "{stem}: row {row} holds an undecodable image: {e}"
                        ))
                    })?;
                    let tile = imageops::resize(&img, TILE, TILE, imageops::FilterType::Triangle);
                    let x = GAP + (g * per_domain + k) as u32 * (TILE + GAP) + g as u32 * GROUP_GAP;
                    let y = GAP + class as u32 * (TILE + GAP);
                    imageops::replace(&mut sheet, &tile, x.into(), y.into());
                }
            }
        }
        let path = dir.join(format!("{stem}-{split}.png"));
        let png = encode_png(sheet.as_raw(), width, height)?;
        nml_core::write_atomic(&path, &png)?;
        written.push(path);
    }
    Ok(written)
}
