//! Images of a manifest in memory: decoded once (rayon) into a u8 tensor
//! at the model's input size, and the normalisation applied to them.

use std::path::Path;

use nml_core::Manifest;
use rayon::prelude::*;
use tch::{Kind, Tensor};

use crate::{ModelError, Result};

/// Images and labels of one split, in memory.
#[derive(Debug)]
pub struct ImageSet {
    /// `[N, 3, S, S]`, u8.
    pub images: Tensor,
    /// The labels training sees (`noisy_label` when present), `[N]`, i64.
    pub labels: Tensor,
    /// The clean labels, `[N]`, i64.
    pub clean: Tensor,
}

impl ImageSet {
    /// A second handle on the same tensors.
    pub fn shallow_clone(&self) -> ImageSet {
        ImageSet {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
            clean: self.clean.shallow_clone(),
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Decodes the images of `rows` to `size`×`size` RGB.
///
/// An image of another size is an error naming the row, unless `resize`
/// (bilinear) is set.
pub fn load(
    manifest: &Manifest,
    rows: &[usize],
    size: u32,
    resize: bool,
    source: &Path,
) -> Result<ImageSet> {
    let images = manifest.image.as_ref().ok_or_else(|| {
        ModelError::Data(format!(
            "{}: the manifest has no `image` column",
            source.display()
        ))
    })?;
    let side = size as usize;
    let pixels = side * side * 3;
    let mut buffer = vec![0u8; rows.len() * pixels];
    buffer
        .par_chunks_mut(pixels)
        .zip(rows.par_iter())
        .try_for_each(|(out, &row)| -> Result<()> {
            let img = nml_data::decode_rgb(&images[row]).map_err(|e| {
                ModelError::Data(format!(
                    "{}: row {row}: undecodable image: {e}",
                    source.display()
                ))
            })?;
            let img = if img.dimensions() == (size, size) {
                img
            } else if resize {
                image::imageops::resize(&img, size, size, image::imageops::FilterType::Triangle)
            } else {
                let (w, h) = img.dimensions();
                return Err(ModelError::Data(format!(
                    "{}: row {row}: image is {w}x{h} but the model input is {size}x{size} \
                 (pass --input-size {w} if the architecture allows it, or --resize)",
                    source.display()
                )));
            };
            out.copy_from_slice(img.as_raw());
            Ok(())
        })?;
    let n = rows.len() as i64;
    let s = size as i64;
    // [N, S, S, 3] → [N, 3, S, S]
    let images = Tensor::from_slice(&buffer)
        .view([n, s, s, 3])
        .permute([0, 3, 1, 2])
        .contiguous();
    let pick = |v: &[i64]| Tensor::from_slice(&rows.iter().map(|&r| v[r]).collect::<Vec<_>>());
    Ok(ImageSet {
        images,
        labels: pick(manifest.training_labels()),
        clean: pick(&manifest.label),
    })
}

/// Per-channel mean and standard deviation of u8 images, on the 0..1 scale.
pub fn channel_stats(images: &Tensor) -> ([f64; 3], [f64; 3]) {
    let x = images.to_kind(Kind::Float) / 255.0;
    let mean = x.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    let std = x.std_dim([0i64, 2, 3].as_slice(), false, false);
    let get = |t: &Tensor| [0, 1, 2].map(|i| t.double_value(&[i]));
    (get(&mean), get(&std).map(|s| s.max(1e-3)))
}

pub use nml_core::model::Normalize;

/// [`Normalize`] on tensors (the type is `model.json`'s, in nml-core, which has no libtorch).
pub trait NormalizeExt {
    /// # Shapes
    /// `x`: `[B, 3, H, W]` float in 0..1 → same shape.
    fn apply(&self, x: &Tensor) -> Tensor;
}

impl NormalizeExt for Normalize {
    fn apply(&self, x: &Tensor) -> Tensor {
        let device = x.device();
        let mean = Tensor::from_slice(&self.mean.map(|v| v as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        let std = Tensor::from_slice(&self.std.map(|v| v as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        (x - mean) / std
    }
}
