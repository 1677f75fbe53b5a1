//! The official way, slow: the frozen backbone runs inside the loop on two
//! fresh augmentations of every batch (`nml-tune --encoder CKPT --manifest M`).
//!
//! The augmentations are those `nml-features extract --views` caches
//! ([`nml_models::augment`]); epoch e draws views 2e + 1 (weak) and 2e + 2
//! (strong) of every image, so no two steps see the same pair and the run is
//! a function of its seed. The backbone stays in eval mode under no-grad
//! (frozen BatchNorm, as `model.image_encoder.model.eval()` in the official code).

use std::path::Path;

use nml_core::Manifest;
use nml_features::backbone::{Backbone, Described, Embedding, Pretrained};
use nml_models::{image, Augment};
use tch::{Device, Tensor};

use crate::source::{Batch, Source};
use crate::train::{check_eval_classes, check_evals, evaluate, fit, EvalResult, TuneConfig};
use crate::{Result, TuneError};

/// Trains one head (one seed) with the backbone in the loop and evaluates it
/// on cached eval-view tables of the same backbone.
pub fn tune_encoder(
    config: &TuneConfig,
    request: &EncoderRequest<'_>,
    evals: &[(String, std::path::PathBuf, nml_core::FeatureTable)],
    seed: u64,
    device: Device,
) -> Result<Vec<EvalResult>> {
    tune_encoder_head(config, request, evals, seed, device).map(|t| t.results)
}

/// [`tune_encoder`], keeping the head.
pub fn tune_encoder_head(
    config: &TuneConfig,
    request: &EncoderRequest<'_>,
    evals: &[(String, std::path::PathBuf, nml_core::FeatureTable)],
    seed: u64,
    device: Device,
) -> Result<crate::train::Tuned> {
    let (mut encoder, rows) = Encoder::open(request, seed, device)?;
    for (name, path, table) in evals {
        if let Some(hash) = table.metadata.get("nml.model_hash") {
            if *hash != rows.model_hash {
                return Err(TuneError::Invalid(format!(
                    "eval set `{name}` ({}) was extracted with another backbone than {}",
                    path.display(),
                    request.checkpoint.display()
                )));
            }
        }
    }
    check_evals(evals, encoder.dim(), rows.classes)?;
    check_eval_classes(Some(&rows.class_names), evals)?;
    let (vs, head) = fit(
        config,
        &mut encoder,
        &rows.labels,
        rows.classes,
        seed,
        device,
    )?;
    let results = evals
        .iter()
        .map(|(name, _, table)| evaluate(&head, name, table, seed, device))
        .collect::<Result<Vec<_>>>()?;
    Ok(crate::train::Tuned {
        vs,
        head,
        classes: rows.classes,
        class_names: Some(rows.class_names),
        results,
    })
}

/// The training rows of a manifest and the backbone that encodes them.
pub struct Encoder {
    backbone: Backbone,
    /// `[N, 3, S, S]` u8 on the CPU.
    images: Tensor,
    ids: Vec<(String, i64)>,
    augment: Augment,
    seed: u64,
    device: Device,
}

/// What `--encoder` mode trains on besides the backbone.
#[derive(Debug, Clone)]
pub struct EncoderRequest<'a> {
    pub checkpoint: &'a Path,
    pub manifest: &'a Path,
    pub split: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub resize: bool,
    pub augment: Augment,
    pub embedding: Option<Embedding>,
    /// Set when `checkpoint` is a published weights file (`--arch`), not an `nml-pretrain` output.
    pub pretrained: Option<Pretrained>,
}

/// The labels and class count of an encoder-mode training set.
#[derive(Debug, Clone)]
pub struct EncoderRows {
    pub labels: Vec<i64>,
    pub classes: usize,
    /// The manifest's class names, in label order.
    pub class_names: Vec<String>,
    /// blake3 of the weights: eval tables must come from the same backbone.
    pub model_hash: String,
}

impl Encoder {
    /// Loads the backbone and decodes the selected manifest rows once.
    pub fn open(
        request: &EncoderRequest<'_>,
        seed: u64,
        device: Device,
    ) -> Result<(Encoder, EncoderRows)> {
        request.augment.validate().map_err(TuneError::Invalid)?;
        let info = Described::read(request.checkpoint, request.pretrained.as_ref())?;
        let embedding = info.embedding(request.embedding)?;
        let model_hash = nml_core::hash_file(&info.weights)?.to_hex();
        let manifest = Manifest::read(request.manifest)?;
        let rows: Vec<usize> = (0..manifest.len())
            .filter(|&r| request.split.is_none_or(|s| manifest.split[r] == s))
            .filter(|&r| {
                request
                    .domain
                    .is_none_or(|d| manifest.domain.as_ref().is_some_and(|dom| dom[r] == d))
            })
            .collect();
        if rows.len() < 2 {
            return Err(TuneError::Invalid(format!(
                "{}: {} rows in split `{}` and domain `{}`; tuning needs at least 2",
                request.manifest.display(),
                rows.len(),
                request.split.unwrap_or("all"),
                request.domain.unwrap_or("any")
            )));
        }
        let set = image::load(
            &manifest,
            &rows,
            info.input_size,
            request.resize,
            request.manifest,
        )
        .map_err(nml_features::FeatureError::Model)?;
        let labels = rows.iter().map(|&r| manifest.label[r]).collect();
        let ids = rows
            .iter()
            .map(|&r| (manifest.split[r].clone(), manifest.index[r]))
            .collect();
        let backbone = Backbone::load(info, embedding, device)?;
        let encoder = Encoder {
            backbone,
            images: set.images,
            ids,
            augment: request.augment,
            seed,
            device,
        };
        let rows = EncoderRows {
            labels,
            classes: manifest.class_names.len(),
            class_names: manifest.class_names.clone(),
            model_hash,
        };
        Ok((encoder, rows))
    }
}

impl Source for Encoder {
    fn rows(&self) -> usize {
        self.ids.len()
    }
    fn dim(&self) -> usize {
        self.backbone.info.dim(self.backbone.embedding)
    }
    fn two_view(&self) -> bool {
        true
    }
    fn batch(&mut self, rows: &[i64], _index: &Tensor, epoch: usize) -> Result<Batch> {
        let images = self.images.index_select(0, &Tensor::from_slice(rows));
        let ids: Vec<(&str, i64)> = rows
            .iter()
            .map(|&r| {
                let (split, index) = &self.ids[r as usize];
                (split.as_str(), *index)
            })
            .collect();
        let b = rows.len();
        let view = |k: u32| vec![2 * epoch as u32 + k; b];
        let weak = self.augment.batch(&images, self.seed, &ids, &view(1));
        let strong = self.augment.batch(&images, self.seed, &ids, &view(2));
        let both = self
            .backbone
            .encode(&Tensor::cat(&[weak, strong], 0))
            .to_device(self.device);
        let mut halves = both.chunk(2, 0);
        let strong = halves.pop().expect("two halves");
        let weak = halves.pop().expect("two halves");
        Ok(Batch {
            weak,
            strong: Some(strong),
        })
    }
}
