//! The train transforms of the official NMTune code, on u8 image tensors:
//! torchvision's `RandomResizedCrop` (area scale, aspect ratio 3/4–4/3
//! drawn log-uniformly, ten tries then a centre crop) resized back with
//! bicubic interpolation and rounded to u8 as PIL does, then (for `rrc`) a
//! horizontal flip with probability 1/2.
//!
//! Each view is drawn from its own generator, seeded by (seed, split, index,
//! view), so view `v` of image `i` is the same whichever batch, order or
//! process computes it: the feature cache and the encoder-in-the-loop mode
//! draw from the same distribution, and a cached view is reproducible alone.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

pub use nml_spec::AugmentKind;

/// A train transform: the crop's area scale range and whether it flips.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    pub kind: AugmentKind,
    /// Fraction of the image's area the crop covers, `(lo, hi)` with `0 < lo ≤ hi ≤ 1`.
    pub scale: (f64, f64),
}

/// Where one view's crop lies and whether it is mirrored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    pub top: i64,
    pub left: i64,
    pub height: i64,
    pub width: i64,
    pub flip: bool,
}

impl Augment {
    /// `kind` with the official code's scale: 0.8–1.0 (timm models) or 0.9–1.0 (open_clip).
    pub fn new(kind: AugmentKind) -> Augment {
        let scale = match kind {
            AugmentKind::Rrc => (0.8, 1.0),
            AugmentKind::RrcNoflip => (0.9, 1.0),
        };
        Augment { kind, scale }
    }

    /// Sets the scale from `LO,HI` text (a command-line value) and checks it.
    pub fn parse_scale(mut self, text: &str) -> Result<Augment, String> {
        let (lo, hi) = text
            .split_once(',')
            .ok_or_else(|| format!("augment scale `{text}`: expected LO,HI"))?;
        let parse = |x: &str| {
            x.trim()
                .parse::<f64>()
                .map_err(|e| format!("augment scale `{text}`: `{x}`: {e}"))
        };
        self.scale = (parse(lo)?, parse(hi)?);
        self.validate()?;
        Ok(self)
    }

    /// Checks the scale range; the message names the problem.
    pub fn validate(&self) -> Result<(), String> {
        let (lo, hi) = self.scale;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return Err(format!(
                "augment scale {lo},{hi} must satisfy 0 < lo <= hi <= 1"
            ));
        }
        Ok(())
    }

    /// torchvision's `RandomResizedCrop.get_params` on an `h`×`w` image, then the flip draw.
    pub fn crop(&self, h: i64, w: i64, rng: &mut impl Rng) -> Crop {
        let area = (h * w) as f64;
        let (log_lo, log_hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
        let mut found = None;
        for _ in 0..10 {
            let target = area * rng.random_range(self.scale.0..=self.scale.1);
            let aspect = rng.random_range(log_lo..=log_hi).exp();
            let cw = (target * aspect).sqrt().round() as i64;
            let ch = (target / aspect).sqrt().round() as i64;
            if 0 < cw && cw <= w && 0 < ch && ch <= h {
                let top = rng.random_range(0..=h - ch);
                let left = rng.random_range(0..=w - cw);
                found = Some((top, left, ch, cw));
                break;
            }
        }
        let (top, left, height, width) = found.unwrap_or_else(|| centre_crop(h, w));
        let flip = self.kind == AugmentKind::Rrc && rng.random::<bool>();
        Crop {
            top,
            left,
            height,
            width,
            flip,
        }
    }

    /// View `view` of image (`split`, `index`): crop, bicubic resize back to
    /// the input side, u8 rounding, flip.
    ///
    /// # Shapes
    /// `image`: `[3, S, S]` u8 → `[3, S, S]` u8.
    pub fn view(&self, image: &Tensor, seed: u64, split: &str, index: i64, view: u32) -> Tensor {
        let size = image.size();
        let (h, w) = (size[1], size[2]);
        let mut rng = ChaCha8Rng::seed_from_u64(view_seed(seed, split, index, view));
        let c = self.crop(h, w, &mut rng);
        let patch = image
            .narrow(1, c.top, c.height)
            .narrow(2, c.left, c.width)
            .to_kind(Kind::Float)
            .unsqueeze(0);
        let resized = if (c.height, c.width) == (h, w) {
            patch
        } else {
            patch.upsample_bicubic2d([h, w], false, None, None)
        };
        let out = resized
            .squeeze_dim(0)
            .round()
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8);
        if c.flip {
            out.flip([2i64].as_slice())
        } else {
            out
        }
    }

    /// The views of a batch of images, view number `views[i]` of image `i`.
    ///
    /// # Shapes
    /// `images`: `[B, 3, S, S]` u8 → `[B, 3, S, S]` u8.
    pub fn batch(&self, images: &Tensor, seed: u64, ids: &[(&str, i64)], views: &[u32]) -> Tensor {
        let list: Vec<Tensor> = ids
            .iter()
            .zip(views)
            .enumerate()
            .map(|(i, (&(split, index), &v))| {
                self.view(&images.get(i as i64), seed, split, index, v)
            })
            .collect();
        Tensor::stack(&list, 0)
    }
}

/// torchvision's fallback: the whole image cropped to the nearest allowed ratio.
fn centre_crop(h: i64, w: i64) -> (i64, i64, i64, i64) {
    let ratio = w as f64 / h as f64;
    let (ch, cw) = if ratio < 3.0 / 4.0 {
        ((w as f64 / (3.0 / 4.0)).round() as i64, w)
    } else if ratio > 4.0 / 3.0 {
        (h, (h as f64 * 4.0 / 3.0).round() as i64)
    } else {
        (h, w)
    };
    ((h - ch) / 2, (w - cw) / 2, ch, cw)
}

/// The generator seed of one view: FNV-1a over (seed, split, index, view), then a splitmix finaliser.
pub fn view_seed(seed: u64, split: &str, index: i64, view: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&seed.to_le_bytes());
    eat(split.as_bytes());
    eat(&[0xff]);
    eat(&index.to_le_bytes());
    eat(&view.to_le_bytes());
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image whose value at (row, col) is row * 8 + col (exact under integer crops).
    fn ramp(side: i64) -> Tensor {
        let i = Tensor::arange(side * side, (Kind::Int64, tch::Device::Cpu)).view([1, side, side]);
        let row = i.divide_scalar_mode(side, "floor");
        let col = i.remainder(side);
        (row * 8 + col)
            .clamp(0, 255)
            .to_kind(Kind::Uint8)
            .repeat([3, 1, 1])
    }

    #[test]
    fn crops_stay_inside_and_cover_the_scale_range() {
        let aug = Augment::new(AugmentKind::Rrc);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut flips = 0;
        for _ in 0..2000 {
            let c = aug.crop(32, 32, &mut rng);
            assert!(c.top >= 0 && c.left >= 0 && c.top + c.height <= 32 && c.left + c.width <= 32);
            let share = (c.height * c.width) as f64 / 1024.0;
            // Rounding of the sides widens the range slightly.
            assert!((0.74..=1.0).contains(&share), "{c:?}");
            let ratio = c.width as f64 / c.height as f64;
            assert!((0.7..=1.43).contains(&ratio), "{c:?}");
            flips += c.flip as usize;
        }
        assert!((900..1100).contains(&flips), "{flips} flips of 2000");
        let noflip = Augment::new(AugmentKind::RrcNoflip);
        assert!((0..200).all(|_| !noflip.crop(32, 32, &mut rng).flip));
    }

    #[test]
    fn a_view_is_a_function_of_seed_image_and_view_alone() {
        let aug = Augment::new(AugmentKind::Rrc);
        let img = ramp(16);
        let a = aug.view(&img, 7, "train", 3, 1);
        let b = aug.view(&img, 7, "train", 3, 1);
        assert!(a.equal(&b));
        assert_eq!(a.size(), vec![3, 16, 16]);
        assert_eq!(a.kind(), Kind::Uint8);
        let differs = (2..10).any(|v| !aug.view(&img, 7, "train", 3, v).equal(&a));
        assert!(differs, "other views differ");
        let batch = aug.batch(
            &Tensor::stack(&[&img, &img], 0),
            7,
            &[("train", 4), ("train", 3)],
            &[2, 1],
        );
        assert!(batch.get(1).equal(&a), "a batch computes each view alone");
        assert_ne!(view_seed(7, "train", 3, 1), view_seed(7, "test", 3, 1));
    }

    #[test]
    fn a_full_crop_is_the_image_or_its_mirror() {
        let aug = Augment {
            kind: AugmentKind::Rrc,
            scale: (1.0, 1.0),
        };
        let img = ramp(12);
        for v in 0..20 {
            let out = aug.view(&img, 0, "train", 0, v);
            // Full area with a non-square ratio cannot fit; the square full crop remains.
            if out.equal(&img) || out.equal(&img.flip([2i64].as_slice())) {
                continue;
            }
            // A slightly non-square crop was drawn and resized: still close to the ramp.
            let diff = (out.to_kind(Kind::Float) - img.to_kind(Kind::Float))
                .abs()
                .mean(Kind::Float);
            let mirrored = (out.to_kind(Kind::Float)
                - img.flip([2i64].as_slice()).to_kind(Kind::Float))
            .abs()
            .mean(Kind::Float);
            assert!(diff.double_value(&[]).min(mirrored.double_value(&[])) < 8.0);
        }
        assert!(Augment {
            kind: AugmentKind::Rrc,
            scale: (0.0, 1.0)
        }
        .validate()
        .is_err());
        assert!(Augment::new(AugmentKind::RrcNoflip).validate().is_ok());
    }
}
