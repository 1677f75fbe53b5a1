//! CIFAR-style networks for 32×32 inputs: the small smoke-test net and
//! akamaster's ResNet-(6n+2) with option-A (parameter-free) shortcuts.

use tch::nn;
use tch::Tensor;

use nml_torch::Layout;

use super::conv_bn::ConvBn;
use super::init::Scheme;
use super::{pool, Body};

#[derive(Debug)]
pub(super) struct SmallNet {
    convs: Vec<ConvBn>,
}

impl SmallNet {
    pub(super) fn new(vs: &nn::Path) -> SmallNet {
        let widths = [(3, 32), (32, 64), (64, 128)];
        let convs = widths
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| {
                ConvBn::new(
                    Scheme::Torch,
                    vs / format!("conv{}", i + 1),
                    vs / format!("bn{}", i + 1),
                    (a, b, 3, 1, 1),
                )
            })
            .collect();
        SmallNet { convs }
    }
}

impl Body for SmallNet {
    fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        for (i, c) in self.convs.iter().enumerate() {
            h = c.forward(&h, train).relu();
            if i < 2 {
                h = h.max_pool2d_default(2);
            }
        }
        pool(&h)
    }

    fn fold_batch_norm(&mut self, layout: Layout) {
        self.convs.iter_mut().for_each(|c| c.fold(layout));
    }
}

/// The CIFAR BasicBlock with the option-A (parameter-free) shortcut.
#[derive(Debug)]
struct BasicA {
    first: ConvBn,
    second: ConvBn,
    /// Channels zero-padded on each side when the shortcut downsamples.
    pad: Option<i64>,
}

impl BasicA {
    pub(super) fn new(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> BasicA {
        BasicA {
            first: ConvBn::new(
                Scheme::Akamaster,
                &vs / "conv1",
                &vs / "bn1",
                (c_in, c_out, 3, stride, 1),
            ),
            second: ConvBn::new(
                Scheme::Akamaster,
                &vs / "conv2",
                &vs / "bn2",
                (c_out, c_out, 3, 1, 1),
            ),
            pad: (stride != 1 || c_in != c_out).then_some(c_out / 4),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let out = self
            .second
            .forward(&self.first.forward(x, train).relu(), train);
        let shortcut = match self.pad {
            // Every second pixel, channels padded by c_out/4 on each side.
            Some(p) => x
                .slice(2, 0, None, 2)
                .slice(3, 0, None, 2)
                .constant_pad_nd([0i64, 0, 0, 0, p, p].as_slice()),
            None => x.shallow_clone(),
        };
        (out + shortcut).relu()
    }
}

/// ResNet-(6n+2) for 32×32 inputs: widths 16/32/64, n blocks per stage.
#[derive(Debug)]
pub(super) struct CifarResNet {
    stem: ConvBn,
    blocks: Vec<BasicA>,
}

impl CifarResNet {
    pub(super) fn new(vs: &nn::Path, n: usize) -> CifarResNet {
        let mut blocks = Vec::new();
        let mut c_in = 16;
        for (stage, &(width, stride)) in [(16, 1), (32, 2), (64, 2)].iter().enumerate() {
            for i in 0..n {
                let s = if i == 0 { stride } else { 1 };
                blocks.push(BasicA::new(
                    vs / format!("layer{}", stage + 1) / i,
                    c_in,
                    width,
                    s,
                ));
                c_in = width;
            }
        }
        CifarResNet {
            stem: ConvBn::new(
                Scheme::Akamaster,
                vs / "conv1",
                vs / "bn1",
                (3, 16, 3, 1, 1),
            ),
            blocks,
        }
    }
}

impl Body for CifarResNet {
    fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem.forward(x, train).relu();
        for block in &self.blocks {
            h = block.forward(&h, train);
        }
        pool(&h)
    }

    fn fold_batch_norm(&mut self, layout: Layout) {
        self.stem.fold(layout);
        for block in &mut self.blocks {
            block.first.fold(layout);
            block.second.fold(layout);
        }
    }
}
