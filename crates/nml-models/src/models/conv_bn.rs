//! A convolution followed by BatchNorm, the unit of every backbone except the
//! pre-activation ResNet, with the inference-time fold of the BatchNorm into
//! the convolution (`w·γ/√(σ²+ε)`, `β − μ·γ/√(σ²+ε)`): in eval mode the pair
//! is one convolution, which saves a memory-bound pass per layer (as
//! `torch.nn.utils.fusion.fuse_conv_bn_eval` does).

use nml_torch::Layout;
use tch::nn;
use tch::Tensor;

use super::init::{self, Scheme};

/// Conv (no bias) + BatchNorm; `padding` is `k / 2` ("same" for odd `k`).
#[derive(Debug)]
pub(super) struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    stride: i64,
    padding: i64,
    groups: i64,
    /// The folded kernel and bias, used in eval mode once [`ConvBn::fold`] ran.
    folded: Option<(Tensor, Tensor)>,
}

/// Input channels, output channels, kernel side, stride, groups.
pub(super) type Shape = (i64, i64, i64, i64, i64);

impl ConvBn {
    /// The convolution under `conv_vs` (initialised by `scheme`), then the
    /// BatchNorm under `bn_vs`, in that order (libtorch's generator is
    /// consumed in the reference implementation's order).
    pub(super) fn new(
        scheme: Scheme,
        conv_vs: nn::Path,
        bn_vs: nn::Path,
        (c_in, c_out, k, stride, groups): Shape,
    ) -> ConvBn {
        let config = nn::ConvConfig {
            stride,
            padding: k / 2,
            groups,
            bias: false,
            ws_init: scheme.conv(),
            ..Default::default()
        };
        ConvBn {
            conv: nn::conv2d(conv_vs, c_in, c_out, k, config),
            bn: nn::batch_norm2d(bn_vs, c_out, init::batch_norm()),
            stride,
            padding: k / 2,
            groups,
            folded: None,
        }
    }

    pub(super) fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match (&self.folded, train) {
            (Some((w, b)), false) => x.conv2d(
                w,
                Some(b),
                [self.stride; 2].as_slice(),
                [self.padding; 2].as_slice(),
                [1i64; 2].as_slice(),
                self.groups,
            ),
            _ => x.apply(&self.conv).apply_t(&self.bn, train),
        }
    }

    /// Folds the BatchNorm's running statistics and affine into a kernel and
    /// bias (in float32, then laid out by `layout`) that eval-mode forwards
    /// use from now on; training forwards keep the separate pair.
    pub(super) fn fold(&mut self, layout: Layout) {
        let _guard = tch::no_grad_guard();
        let eps = init::batch_norm().eps;
        let bn = &self.bn;
        let gamma = bn
            .ws
            .as_ref()
            .map_or_else(|| bn.running_var.ones_like(), Tensor::shallow_clone);
        let beta = bn
            .bs
            .as_ref()
            .map_or_else(|| bn.running_mean.zeros_like(), Tensor::shallow_clone);
        let scale = gamma / (&bn.running_var + eps).sqrt();
        let w = &self.conv.ws * scale.view([-1, 1, 1, 1]);
        let mut b = beta - &bn.running_mean * &scale;
        if let Some(bias) = &self.conv.bs {
            b += bias * &scale;
        }
        self.folded = Some((layout.apply(&w.contiguous()), b));
    }
}
