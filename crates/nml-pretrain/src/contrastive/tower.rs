//! The two towers and the loss: the image tower (any [`Arch`], its head the
//! projection), a bag-of-tokens text tower, symmetric InfoNCE with a learnable
//! temperature, and zero-shot classification from class-name prompts.

use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Tensor};

use super::vocab::{Vocab, PAD};
use super::ContrastiveConfig;
use crate::data::{ImageSet, Normalize};
use crate::models::Net;

/// The text tower: bag-of-tokens mean, layer norm, `width → width → embed` MLP.
#[derive(Debug)]
pub struct TextTower {
    embedding: nn::Embedding,
    norm: nn::LayerNorm,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl TextTower {
    pub fn new(vs: &nn::Path, vocab: i64, width: i64, embed: i64) -> TextTower {
        TextTower {
            embedding: nn::embedding(
                vs / "embedding",
                vocab,
                width,
                nn::EmbeddingConfig {
                    padding_idx: PAD,
                    ..Default::default()
                },
            ),
            norm: nn::layer_norm(vs / "norm", vec![width], Default::default()),
            fc1: nn::linear(vs / "fc1", width, width, Default::default()),
            fc2: nn::linear(vs / "fc2", width, embed, Default::default()),
        }
    }

    /// # Shapes
    /// `tokens`: `[B, L]` int64 → `[B, embed]`.
    pub fn forward(&self, tokens: &Tensor) -> Tensor {
        let mask = tokens.ne(PAD).to_kind(Kind::Float).unsqueeze(-1);
        let summed =
            (self.embedding.forward(tokens) * &mask).sum_dim_intlist(1, false, Kind::Float);
        let mean = summed / mask.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
        self.norm
            .forward(&mean)
            .apply(&self.fc1)
            .gelu("none")
            .apply(&self.fc2)
    }
}

/// Rows scaled to unit L2 norm.
fn unit(x: &Tensor) -> Tensor {
    x / x
        .norm_scalaropt_dim(2, [-1i64].as_slice(), true)
        .clamp_min(1e-12)
}

/// Both towers and the temperature, on one VarStore: the image tower at the
/// root (reference names), the text tower under `text`, `logit_scale` = log 1/τ.
pub struct Clip {
    pub image: Net,
    pub text: TextTower,
    pub logit_scale: Tensor,
}

/// Largest logit scale (τ ≥ 0.01), as CLIP.
const MAX_LOGIT_SCALE: f64 = 4.605_170_185_988_092; // ln 100

impl Clip {
    pub fn new(vs: &VarStore, config: &ContrastiveConfig, vocab: i64) -> Clip {
        let root = vs.root();
        Clip {
            image: Net::new(&root, config.arch, config.embed_dim),
            text: TextTower::new(
                &(&root / "text"),
                vocab,
                config.text_width,
                config.embed_dim,
            ),
            logit_scale: root.var(
                "logit_scale",
                &[],
                nn::Init::Const((1.0 / config.init_temperature).ln()),
            ),
        }
    }

    pub(crate) fn scale(&self) -> Tensor {
        self.logit_scale.clamp(0.0, MAX_LOGIT_SCALE).exp()
    }

    /// Symmetric InfoNCE of a batch of pairs, and the image→text logits.
    pub fn loss(
        &self,
        images: &Tensor,
        tokens: &Tensor,
        compute: nml_torch::Compute,
    ) -> (Tensor, Tensor) {
        let img =
            nml_torch::autocast_on(images.device(), compute, || self.image.logits(images, true))
                .to_kind(Kind::Float);
        let txt = self.text.forward(tokens);
        let logits = unit(&img).matmul(&unit(&txt).tr()) * self.scale();
        let n = logits.size()[0];
        let targets = Tensor::arange(n, (Kind::Int64, logits.device()));
        let ce = |l: &Tensor| {
            l.cross_entropy_loss::<Tensor>(&targets, None, tch::Reduction::Mean, -100, 0.0)
        };
        let loss = (ce(&logits) + ce(&logits.tr())) / 2.0;
        (loss, logits)
    }

    /// Unit class embeddings `[C, E]` from `prompts` filled with `class_names`.
    pub fn class_embeddings(
        &self,
        vocab: &Vocab,
        class_names: &[String],
        prompts: &[String],
        context: usize,
        device: Device,
    ) -> Tensor {
        let _guard = tch::no_grad_guard();
        let mut ids = Vec::new();
        for name in class_names {
            for p in prompts {
                ids.extend(vocab.encode(&p.replace("{}", name), context).0);
            }
        }
        let (c, t) = (class_names.len() as i64, prompts.len() as i64);
        let tokens = Tensor::from_slice(&ids)
            .view([c * t, context as i64])
            .to_device(device);
        let e = unit(&self.text.forward(&tokens)).view([c, t, -1]);
        unit(&e.mean_dim([1i64].as_slice(), false, Kind::Float))
    }

    /// Zero-shot top-1 accuracy on `set` (eval mode) against its clean labels.
    pub fn zero_shot(
        &self,
        set: &ImageSet,
        classes: &Tensor,
        normalize: Normalize,
        device: Device,
    ) -> f64 {
        crate::data::top1_accuracy(set, normalize, device, |x| {
            let img = unit(&self.image.logits(x, false).to_kind(Kind::Float));
            img.matmul(&classes.tr()).argmax(-1, false)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Arch;

    #[test]
    fn infonce_is_low_for_matched_pairs_and_symmetric() {
        let _rng = nml_torch::rng_lock();
        nml_torch::seed(0);
        let vs = VarStore::new(Device::Cpu);
        let config = ContrastiveConfig::new(Arch::Small, 1);
        let clip = Clip::new(&vs, &config, 10);
        drop(_rng);
        // Same image batch, captions in order vs reversed: the loss is a
        // finite scalar, and the logits are image rows × text columns.
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let tokens = Tensor::from_slice(&[2i64, 3, 4, 5, 6, 7, 8, 9]).view([4, 2]);
        let (loss, logits) = clip.loss(&x, &tokens, nml_torch::Compute::Fp32);
        assert_eq!(logits.size(), [4, 4]);
        let l = loss.double_value(&[]);
        assert!(l.is_finite() && l > 0.0, "{l}");
        // At initialisation, scale = 1/0.07.
        assert!((clip.scale().double_value(&[]) - 1.0 / 0.07).abs() < 1e-3);
    }
}
