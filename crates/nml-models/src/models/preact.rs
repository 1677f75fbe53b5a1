//! kuangliu's pre-activation ResNet-18 for 32×32 inputs, plus a final `bn`.

use tch::nn;
use tch::Tensor;

use super::init::Scheme;
use super::{bn, conv, pool, Body};

/// Pre-activation block: BN-ReLU before each convolution, 1×1 projection shortcut.
#[derive(Debug)]
struct PreActBlock {
    bn1: nn::BatchNorm,
    conv1: nn::Conv2D,
    bn2: nn::BatchNorm,
    conv2: nn::Conv2D,
    shortcut: Option<nn::Conv2D>,
}

impl PreActBlock {
    pub(super) fn new(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> PreActBlock {
        PreActBlock {
            bn1: bn(&vs / "bn1", c_in),
            conv1: conv(Scheme::Torch, &vs / "conv1", c_in, c_out, 3, stride, 1),
            bn2: bn(&vs / "bn2", c_out),
            conv2: conv(Scheme::Torch, &vs / "conv2", c_out, c_out, 3, 1, 1),
            shortcut: (stride != 1 || c_in != c_out).then(|| {
                conv(
                    Scheme::Torch,
                    &vs / "shortcut" / 0,
                    c_in,
                    c_out,
                    1,
                    stride,
                    0,
                )
            }),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let out = x.apply_t(&self.bn1, train).relu();
        let shortcut = match &self.shortcut {
            Some(c) => out.apply(c),
            None => x.shallow_clone(),
        };
        out.apply(&self.conv1)
            .apply_t(&self.bn2, train)
            .relu()
            .apply(&self.conv2)
            + shortcut
    }
}

/// Pre-activation ResNet-18 for 32×32 inputs, with a final BN-ReLU before pooling.
#[derive(Debug)]
pub(super) struct PreActResNet18 {
    conv1: nn::Conv2D,
    blocks: Vec<PreActBlock>,
    bn: nn::BatchNorm,
}

impl PreActResNet18 {
    pub(super) fn new(vs: &nn::Path) -> PreActResNet18 {
        let mut blocks = Vec::new();
        let mut c_in = 64;
        for (stage, &(width, stride)) in [(64, 1), (128, 2), (256, 2), (512, 2)].iter().enumerate()
        {
            for i in 0..2 {
                let s = if i == 0 { stride } else { 1 };
                blocks.push(PreActBlock::new(
                    vs / format!("layer{}", stage + 1) / i,
                    c_in,
                    width,
                    s,
                ));
                c_in = width;
            }
        }
        PreActResNet18 {
            conv1: conv(Scheme::Torch, vs / "conv1", 3, 64, 3, 1, 1),
            blocks,
            bn: bn(vs / "bn", 512),
        }
    }
}

impl Body for PreActResNet18 {
    fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.apply(&self.conv1);
        for block in &self.blocks {
            h = block.forward(&h, train);
        }
        pool(&h.apply_t(&self.bn, train).relu())
    }
}
