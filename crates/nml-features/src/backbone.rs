//! A frozen image backbone ready to encode u8 images: an `nml-pretrain`
//! checkpoint (with its `model.json`) or published weights of an
//! architecture nml knows, and which of its vectors is the feature.
//! Shared by cached extraction and by `nml-tune --encoder`, so both see the
//! same network, normalisation and embedding.

use std::path::{Path, PathBuf};

use nml_models::{checkpoint, image, Arch, ModelInfo, Net, NormalizeExt, Objective};
use nml_torch::Compute;

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::{FeatureError, Result};

/// How to read a published weights file: the architecture whose reference
/// names its tensors follow, the input normalisation it was trained with and
/// the input side (default: the architecture's native one). The number of
/// classes is read from the classifier's weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Pretrained {
    pub arch: Arch,
    pub normalize: image::Normalize,
    pub input_size: Option<u32>,
}

/// ImageNet's channel statistics, used by torchvision and most published CIFAR weights.
pub const IMAGENET: image::Normalize = image::Normalize {
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
};

pub use nml_spec::Embedding;

/// What encoding needs to know about a model.
#[derive(Debug, Clone)]
pub struct Described {
    pub weights: PathBuf,
    pub arch: Arch,
    pub classes: usize,
    pub input_size: u32,
    pub normalize: image::Normalize,
    pub objective: Objective,
}

impl Described {
    /// Reads `model.json` of an `nml-pretrain` output, or the head of published weights.
    pub fn read(checkpoint: &Path, pretrained: Option<&Pretrained>) -> Result<Described> {
        if let Some(p) = pretrained {
            let weights = checkpoint.to_path_buf();
            let (tensors, _) = checkpoint::read(&weights)?;
            let classes = head_classes(&tensors, p.arch).ok_or_else(|| {
                FeatureError::Invalid(format!(
                    "{}: no classifier weight of a `{}` (checked `{}`)",
                    weights.display(),
                    p.arch,
                    p.arch.head_weight()
                ))
            })?;
            return Ok(Described {
                weights,
                arch: p.arch,
                classes,
                input_size: p.input_size.unwrap_or_else(|| p.arch.native_input()),
                normalize: p.normalize,
                objective: Objective::Supervised,
            });
        }
        let (weights, info_path) = locate(checkpoint)?;
        let text = std::fs::read_to_string(&info_path).map_err(|e| {
            FeatureError::Invalid(format!("{}: cannot read: {e}", info_path.display()))
        })?;
        let info = ModelInfo::from_json(&text).map_err(|e| {
            FeatureError::Invalid(format!(
                "{}: not an nml-pretrain model.json: {e} (for published weights pass --arch)",
                info_path.display()
            ))
        })?;
        Ok(Described {
            weights,
            arch: info.arch,
            classes: info.classes,
            input_size: info.input_size,
            normalize: info.normalize,
            objective: info.objective(),
        })
    }

    /// `embedding`, or the backbone's default; the projection of a supervised
    /// backbone (its class logits) is refused.
    pub fn embedding(&self, embedding: Option<Embedding>) -> Result<Embedding> {
        let chosen = embedding.unwrap_or_else(|| Embedding::default_for(self.objective));
        if chosen == Embedding::Projection && self.objective != Objective::Contrastive {
            return Err(FeatureError::Invalid(format!(
                "{}: --embedding projection needs a contrastive backbone (this one is {}; its head gives class logits)",
                self.weights.display(),
                self.objective.name()
            )));
        }
        Ok(chosen)
    }

    /// Dimension of the chosen feature.
    pub fn dim(&self, embedding: Embedding) -> usize {
        match embedding {
            Embedding::Pooled => self.arch.feature_dim() as usize,
            Embedding::Projection => self.classes,
        }
    }
}

/// A loaded backbone in eval mode.
pub struct Backbone {
    vs: VarStore,
    pub net: Net,
    pub info: Described,
    pub embedding: Embedding,
    pub device: Device,
    /// What the forward pass computes in (float32 unless [`Backbone::computing`] says otherwise).
    pub compute: Compute,
}

impl Backbone {
    /// Builds the network and loads its weights (strict names and shapes).
    pub fn load(info: Described, embedding: Embedding, device: Device) -> Result<Backbone> {
        let vs = VarStore::new(device);
        let net = Net::new(&vs.root(), info.arch, info.classes as i64);
        checkpoint::load_model(&vs, &info.weights, info.arch)?;
        Ok(Backbone {
            vs,
            net,
            info,
            embedding,
            device,
            compute: Compute::Fp32,
        })
    }

    /// This backbone, its forward pass under `compute`. bf16 is PyTorch's
    /// CPU inference recipe and one step more: autocast, the architecture's
    /// layout for it (channels-last: [`nml_models::layout`]), and each
    /// BatchNorm folded into its convolution. float32 runs the network as
    /// trained, so its features (and caches) stay bit-identical to before.
    pub fn computing(mut self, compute: Compute) -> Backbone {
        if compute == Compute::Bf16 {
            let layout = nml_models::layout(self.info.arch, compute);
            layout.apply_to_variables(&self.vs);
            self.net.fold_batch_norm(layout);
        }
        Backbone { compute, ..self }
    }

    /// The features of u8 images (normalised here), eval mode, no grad, on the CPU as f32.
    ///
    /// # Shapes
    /// `images`: `[B, 3, S, S]` u8 → `[B, D]`.
    pub fn encode(&self, images: &Tensor) -> Tensor {
        let _guard = tch::no_grad_guard();
        let x = self
            .info
            .normalize
            .apply(&(images.to_kind(Kind::Float) / 255.0))
            .to_device(self.device);
        let x = nml_models::layout(self.info.arch, self.compute).apply(&x);
        let v = nml_torch::autocast_on(self.device, self.compute, || match self.embedding {
            Embedding::Pooled => self.net.features(&x, false),
            Embedding::Projection => self.net.logits(&x, false),
        });
        v.to_device(Device::Cpu).to_kind(Kind::Float).contiguous()
    }
}

/// Rows of the classifier weight `[classes, D]`.
fn head_classes(tensors: &[(String, Tensor)], arch: Arch) -> Option<usize> {
    let name = arch.head_weight();
    tensors
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, t)| t.size().first().map(|&c| c as usize))
}

/// `model.safetensors` and `model.json` from a folder or the weights file.
fn locate(checkpoint: &Path) -> Result<(PathBuf, PathBuf)> {
    let weights = if checkpoint.is_dir() {
        checkpoint.join("model.safetensors")
    } else {
        checkpoint.to_path_buf()
    };
    let info = weights.with_extension("json");
    for p in [&weights, &info] {
        if !p.exists() {
            return Err(FeatureError::Invalid(format!("{}: missing (an nml-pretrain output folder holds model.safetensors and model.json)", p.display())));
        }
    }
    Ok((weights, info))
}

/// The files a `--checkpoint` (or `--encoder`) path stands for: the path,
/// and for an `nml-pretrain` folder its weights and `model.json`.
pub fn checkpoint_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    if path.is_dir() {
        files.extend(["model.safetensors", "model.json"].map(|f| path.join(f)));
    }
    files
}

/// `imagenet`, or `M,M,M/S,S,S`.
pub fn parse_normalize(text: &str) -> Result<image::Normalize> {
    if text == "imagenet" {
        return Ok(IMAGENET);
    }
    let bad = |what: String| FeatureError::Invalid(format!("--normalize `{text}`: {what}"));
    let parse = |part: &str| -> Result<[f64; 3]> {
        let v: Vec<f64> = part
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        <[f64; 3]>::try_from(v).map_err(|_| bad("expected 3 means / 3 stds".to_owned()))
    };
    let (mean, std) = text
        .split_once('/')
        .ok_or_else(|| bad("expected imagenet or M,M,M/S,S,S".to_owned()))?;
    let normalize = image::Normalize {
        mean: parse(mean)?,
        std: parse(std)?,
    };
    if !normalize.std.iter().all(|s| *s > 0.0) {
        return Err(bad("standard deviations must be positive".to_owned()));
    }
    Ok(normalize)
}
