//! The input pipeline: images decoded once (rayon) into an in-memory u8
//! tensor, then batches assembled, augmented and normalised with tensor ops,
//! on a producer thread a few batches ahead of the model when it runs on a
//! GPU.
//!
//! Shuffling and augmentation draw from a ChaCha8 stream keyed by
//! (seed, epoch, batch), never from libtorch's global generator, so a resumed
//! run sees exactly the batches an uninterrupted one would.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

pub use nml_core::model::Augment;
use nml_core::noise::NoiseSummary;
use nml_core::Manifest;
pub use nml_models::image::{channel_stats, load, ImageSet, Normalize, NormalizeExt};

use crate::fit::RunPaths;
use crate::{PretrainError, Result};

/// A run's images: the training manifest, its `train_split` rows and the
/// test manifest's `test_split` rows decoded, and the normalisation measured
/// on the training images.
pub(crate) struct RunData {
    pub manifest: Manifest,
    pub train_rows: Vec<usize>,
    pub train_set: ImageSet,
    pub test_set: ImageSet,
    pub normalize: Normalize,
    /// The noise summary the training manifest carries (`nml.noise`), if any.
    pub noise: Option<NoiseSummary>,
}

/// A run's manifests, read and checked before anything is decoded (so a bad
/// input is refused before the run says it starts).
pub(crate) struct RunManifests {
    train_path: PathBuf,
    manifest: Manifest,
    test_manifest: Manifest,
    test_path: PathBuf,
    train_rows: Vec<usize>,
    noise: Option<NoiseSummary>,
}

/// Reads what a run trains and tests on and checks it: at least 2 training
/// rows, one class list, noise metadata that is a noise summary; errors name the file.
pub(crate) fn read_run_manifests(paths: &RunPaths, train_split: &str) -> Result<RunManifests> {
    let test_path = paths.test.clone().unwrap_or_else(|| paths.train.clone());
    let manifest = Manifest::read(&paths.train)?;
    let noise = NoiseSummary::of_manifest(&manifest, &paths.train)?;
    let train_rows = manifest.rows_in_split(train_split);
    if train_rows.len() < 2 {
        return Err(PretrainError::Data(format!(
            "{}: split `{train_split}` has {} rows; training needs at least 2",
            paths.train.display(),
            train_rows.len()
        )));
    }
    let test_manifest = match &paths.test {
        Some(p) => Manifest::read(p)?,
        None => manifest.clone(),
    };
    if test_manifest.class_names != manifest.class_names {
        return Err(PretrainError::Data(format!(
            "{} and {} have different class lists",
            paths.train.display(),
            test_path.display()
        )));
    }
    Ok(RunManifests {
        train_path: paths.train.clone(),
        manifest,
        test_manifest,
        test_path,
        train_rows,
        noise,
    })
}

impl RunManifests {
    /// Decodes the training rows and the test manifest's `test_split` rows.
    pub(crate) fn decode(self, test_split: &str, input_size: u32, resize: bool) -> Result<RunData> {
        let RunManifests {
            train_path,
            manifest,
            test_manifest,
            test_path,
            train_rows,
            noise,
        } = self;
        let test_rows = test_manifest.rows_in_split(test_split);
        let started = Instant::now();
        let train_set = load(&manifest, &train_rows, input_size, resize, &train_path)?;
        let test_set = load(&test_manifest, &test_rows, input_size, resize, &test_path)?;
        tracing::info!(
            train = train_set.len(),
            test = test_set.len(),
            seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
            "images decoded"
        );
        let (mean, std) = channel_stats(&train_set.images);
        Ok(RunData {
            manifest,
            train_rows,
            train_set,
            test_set,
            normalize: Normalize { mean, std },
            noise,
        })
    }
}

/// One training batch, already on the device.
#[derive(Debug)]
pub struct Batch {
    /// Position of the batch within its epoch.
    pub step: usize,
    pub x: Tensor,
    pub labels: Tensor,
    pub clean: Tensor,
    /// Positions of the batch's samples in the [`ImageSet`] (CPU, int64).
    pub rows: Tensor,
}

/// The batches of one epoch: made on a producer thread that stays up to three
/// batches ahead when the model runs on a GPU, or in the training thread on
/// the CPU, where a producer would only compete with libtorch's own threads
/// for the same cores.
pub struct EpochLoader {
    source: Source,
}

enum Source {
    Inline {
        maker: BatchMaker,
        next: usize,
    },
    Prefetch {
        receiver: Receiver<Batch>,
        handle: Option<JoinHandle<()>>,
    },
}

impl Iterator for EpochLoader {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        match &mut self.source {
            Source::Inline { maker, next } => {
                let batch = (*next < maker.steps).then(|| maker.make(*next));
                *next += 1;
                batch
            }
            Source::Prefetch { receiver, .. } => receiver.recv().ok(),
        }
    }
}

impl Drop for EpochLoader {
    fn drop(&mut self) {
        if let Source::Prefetch { receiver, handle } = &mut self.source {
            // Unblock the producer, then wait for it so no thread outlives the epoch.
            let (_, dead) = sync_channel(0);
            *receiver = dead;
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
    }
}

/// Number of batches per epoch (a final batch of one sample is dropped: BatchNorm needs two).
pub fn steps_per_epoch(n: usize, batch: usize) -> usize {
    let full = n / batch;
    if n % batch >= 2 {
        full + 1
    } else {
        full
    }
}

/// Everything that defines the batches of one epoch.
struct BatchMaker {
    data: ImageSet,
    order: Vec<i64>,
    seed: u64,
    epoch: usize,
    batch: usize,
    steps: usize,
    augment: Augment,
    normalize: Normalize,
    device: Device,
}

impl BatchMaker {
    fn make(&self, step: usize) -> Batch {
        let _guard = tch::no_grad_guard();
        let n = self.order.len();
        let rows = &self.order[step * self.batch..((step + 1) * self.batch).min(n)];
        let index = Tensor::from_slice(rows);
        // The images may live on the device (see `epoch_loader`): gather and augment there.
        let x = self
            .data
            .images
            .index_select(0, &index.to_device(self.data.images.device()));
        let mut rng = stream(self.seed, self.epoch as u64, step as u64);
        let x = augment_batch(&x, &self.augment, &mut rng);
        let x = self.normalize.apply(&x).to_device(self.device);
        let labels = self
            .data
            .labels
            .index_select(0, &index)
            .to_device(self.device);
        let clean = self
            .data
            .clean
            .index_select(0, &index)
            .to_device(self.device);
        Batch {
            step,
            x,
            labels,
            clean,
            rows: index,
        }
    }
}

/// Starts producing the batches of `epoch`, skipping the first `skip` (for resumption).
///
/// `data`'s images may be on `device` already ([`resident`]): each batch is
/// then gathered, cropped, flipped and normalised there, and only its row
/// indices and random draws (from the same per-step stream) cross from the host.
#[allow(clippy::too_many_arguments)] // all of it is the epoch's identity; a struct would only rename it
pub fn epoch_loader(
    data: &ImageSet,
    epoch: usize,
    skip: usize,
    seed: u64,
    batch: usize,
    augment: Augment,
    normalize: Normalize,
    device: Device,
) -> EpochLoader {
    let n = data.len();
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(&mut stream(seed, epoch as u64, u64::MAX));
    // Shallow clones share storage: the producer reads the same images without a copy.
    let maker = BatchMaker {
        data: data.shallow_clone(),
        order,
        seed,
        epoch,
        batch,
        steps: steps_per_epoch(n, batch),
        augment,
        normalize,
        device,
    };
    if !device.is_cuda() {
        return EpochLoader {
            source: Source::Inline { maker, next: skip },
        };
    }
    let (sender, receiver) = sync_channel(3);
    let handle = std::thread::spawn(move || {
        for step in skip..maker.steps {
            if sender.send(maker.make(step)).is_err() {
                return;
            }
        }
    });
    EpochLoader {
        source: Source::Prefetch {
            receiver,
            handle: Some(handle),
        },
    }
}

/// `data` with its images on `device` (labels stay on the host), for a CUDA
/// run: the decoded training set is uploaded once instead of once per batch.
pub fn resident(data: &ImageSet, device: Device) -> ImageSet {
    let mut on = data.shallow_clone();
    if device.is_cuda() {
        on.images = data.images.to_device(device);
    }
    on
}

fn stream(seed: u64, epoch: u64, step: u64) -> ChaCha8Rng {
    let key = nml_core::KeyBuilder::new("nml-pretrain/data")
        .bytes("seed", &seed.to_le_bytes())
        .bytes("epoch", &epoch.to_le_bytes())
        .bytes("step", &step.to_le_bytes())
        .finish();
    ChaCha8Rng::from_seed(*key.as_bytes())
}

/// Crops, flips and jitters a batch; returns floats in 0..1.
///
/// # Shapes
/// `x`: `[B, 3, H, W]` u8 → `[B, 3, H, W]` float.
pub fn augment_batch(x: &Tensor, augment: &Augment, rng: &mut impl Rng) -> Tensor {
    let (b, h, w) = (x.size()[0], x.size()[2], x.size()[3]);
    let device = x.device();
    let mut x = x.to_kind(Kind::Float) / 255.0;
    if augment.crop_padding > 0 {
        let p = augment.crop_padding;
        let padded = x.constant_pad_nd([p, p, p, p].as_slice());
        let dy: Vec<i64> = (0..b).map(|_| rng.random_range(0..=2 * p)).collect();
        let dx: Vec<i64> = (0..b).map(|_| rng.random_range(0..=2 * p)).collect();
        // rows[b, i] = dy[b] + i, cols[b, j] = dx[b] + j
        let rows = Tensor::from_slice(&dy).to_device(device).view([b, 1])
            + Tensor::arange(h, (Kind::Int64, device)).view([1, h]);
        let cols = Tensor::from_slice(&dx).to_device(device).view([b, 1])
            + Tensor::arange(w, (Kind::Int64, device)).view([1, w]);
        let batch = Tensor::arange(b, (Kind::Int64, device)).view([b, 1, 1]);
        // Advanced indexing puts the indexed dims first: [B, H, W, 3] → [B, 3, H, W].
        x = padded
            .index(&[
                Some(batch),
                None,
                Some(rows.view([b, h, 1])),
                Some(cols.view([b, 1, w])),
            ])
            .permute([0, 3, 1, 2])
            .contiguous();
    }
    if augment.flip {
        let flips: Vec<bool> = (0..b).map(|_| rng.random::<bool>()).collect();
        let mask = Tensor::from_slice(&flips)
            .to_device(device)
            .view([b, 1, 1, 1]);
        x = x.flip([3i64].as_slice()).where_self(&mask, &x);
    }
    if augment.color_jitter > 0.0 {
        let s = augment.color_jitter;
        let mut factor = || -> Tensor {
            let v: Vec<f32> = (0..b)
                .map(|_| rng.random_range((1.0 - s) as f32..=(1.0 + s) as f32))
                .collect();
            Tensor::from_slice(&v).to_device(device).view([b, 1, 1, 1])
        };
        let (brightness, contrast, saturation) = (factor(), factor(), factor());
        x = (x * brightness).clamp(0.0, 1.0);
        let mean = x.mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float);
        x = ((x - &mean) * contrast + &mean).clamp(0.0, 1.0);
        let grey = x.mean_dim([1i64].as_slice(), true, Kind::Float);
        x = ((x - &grey) * saturation + &grey).clamp(0.0, 1.0);
    }
    x
}

/// Top-1 accuracy against the clean labels of `set`, in batches of 512
/// under no-grad: `predict` maps a normalised batch on `device` to class ids.
pub fn top1_accuracy(
    set: &ImageSet,
    normalize: Normalize,
    device: Device,
    predict: impl Fn(&Tensor) -> Tensor,
) -> f64 {
    let _guard = tch::no_grad_guard();
    let n = set.len() as i64;
    let mut correct = 0i64;
    for start in (0..n).step_by(512) {
        let len = (n - start).min(512);
        let x = set.images.narrow(0, start, len).to_kind(Kind::Float) / 255.0;
        let x = normalize.apply(&x).to_device(device);
        let predicted = predict(&x).to_device(Device::Cpu);
        correct += predicted
            .eq_tensor(&set.clean.narrow(0, start, len))
            .sum(Kind::Int64)
            .int64_value(&[]);
    }
    correct as f64 / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_are_shifted_windows_and_flips_mirror() {
        // One image whose pixel value encodes its column: a crop shifts values, a flip reverses them.
        let img: Vec<u8> = (0..3 * 8 * 8).map(|i| ((i % 8) * 10 + 10) as u8).collect();
        let x = Tensor::from_slice(&img).view([1, 3, 8, 8]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let aug = Augment {
            crop_padding: 2,
            flip: false,
            color_jitter: 0.0,
        };
        let out = augment_batch(&x, &aug, &mut rng) * 255.0;
        let first_row: Vec<f32> = Vec::try_from(out.get(0).get(0).get(4)).unwrap();
        // Every crop of a column ramp is the ramp shifted by at most 2, with zeros where padding shows.
        let shift = (0..=4).find(|&s| {
            (0..8).all(|j| {
                let src = j as i64 + s - 2;
                let v = if (0..8).contains(&src) {
                    (src * 10 + 10) as f32
                } else {
                    0.0
                };
                (first_row[j] - v).abs() < 1e-3
            })
        });
        assert!(shift.is_some(), "{first_row:?} is not a shifted window");
        let flip = Augment {
            crop_padding: 0,
            flip: true,
            color_jitter: 0.0,
        };
        let both: Vec<Tensor> = (0..16)
            .map(|_| augment_batch(&x, &flip, &mut rng))
            .collect();
        let plain = x.to_kind(Kind::Float) / 255.0;
        let mirrored = plain.flip([3i64].as_slice());
        assert!(both.iter().all(|t| t.equal(&plain) || t.equal(&mirrored)));
        assert!(both.iter().any(|t| t.equal(&mirrored)) && both.iter().any(|t| t.equal(&plain)));
    }

    #[test]
    fn last_single_sample_batch_is_dropped() {
        assert_eq!(steps_per_epoch(10, 4), 3);
        assert_eq!(steps_per_epoch(9, 4), 2);
        assert_eq!(steps_per_epoch(8, 4), 2);
    }
}
