//! torchvision's ResNet-18 (BasicBlock) and ResNet-50 (Bottleneck) under their reference names.

use tch::nn;
use tch::Tensor;

use nml_torch::Layout;

use super::conv_bn::ConvBn;
use super::init::Scheme;
use super::{pool, Body};

/// torchvision's BasicBlock (ResNet-18) or Bottleneck (ResNet-50, stride on the 3×3).
#[derive(Debug)]
struct TvBlock {
    convs: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl TvBlock {
    pub(super) fn new(
        vs: nn::Path,
        c_in: i64,
        planes: i64,
        stride: i64,
        bottleneck: bool,
    ) -> TvBlock {
        let expansion = if bottleneck { 4 } else { 1 };
        let layers: Vec<(i64, i64, i64, i64)> = if bottleneck {
            vec![
                (c_in, planes, 1, 1),
                (planes, planes, 3, stride),
                (planes, planes * 4, 1, 1),
            ]
        } else {
            vec![(c_in, planes, 3, stride), (planes, planes, 3, 1)]
        };
        let convs = layers
            .iter()
            .enumerate()
            .map(|(i, &(a, b, k, s))| {
                ConvBn::new(
                    Scheme::Torchvision,
                    &vs / format!("conv{}", i + 1),
                    &vs / format!("bn{}", i + 1),
                    (a, b, k, s, 1),
                )
            })
            .collect();
        let c_out = planes * expansion;
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            ConvBn::new(
                Scheme::Torchvision,
                &vs / "downsample" / 0,
                &vs / "downsample" / 1,
                (c_in, c_out, 1, stride, 1),
            )
        });
        TvBlock { convs, downsample }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut out = x.shallow_clone();
        for (i, c) in self.convs.iter().enumerate() {
            out = c.forward(&out, train);
            if i < last {
                out = out.relu();
            }
        }
        let identity = match &self.downsample {
            Some(c) => c.forward(x, train),
            None => x.shallow_clone(),
        };
        (out + identity).relu()
    }

    fn fold(&mut self, layout: Layout) {
        self.convs.iter_mut().for_each(|c| c.fold(layout));
        if let Some(c) = &mut self.downsample {
            c.fold(layout);
        }
    }
}

/// torchvision-style ResNet for ImageNet-sized inputs (7×7 stem, max-pool).
#[derive(Debug)]
pub(super) struct TvResNet {
    stem: ConvBn,
    blocks: Vec<TvBlock>,
}

impl TvResNet {
    pub(super) fn new(vs: &nn::Path, bottleneck: bool, depths: [usize; 4]) -> TvResNet {
        let expansion = if bottleneck { 4 } else { 1 };
        let mut blocks = Vec::new();
        let mut c_in = 64;
        for (stage, (&planes, &depth)) in [64, 128, 256, 512].iter().zip(&depths).enumerate() {
            for i in 0..depth {
                let stride = if i == 0 && stage > 0 { 2 } else { 1 };
                blocks.push(TvBlock::new(
                    vs / format!("layer{}", stage + 1) / i,
                    c_in,
                    planes,
                    stride,
                    bottleneck,
                ));
                c_in = planes * expansion;
            }
        }
        TvResNet {
            stem: ConvBn::new(
                Scheme::Torchvision,
                vs / "conv1",
                vs / "bn1",
                (3, 64, 7, 2, 1),
            ),
            blocks,
        }
    }
}

impl Body for TvResNet {
    fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem.forward(x, train).relu().max_pool2d(
            [3i64, 3].as_slice(),
            [2i64, 2].as_slice(),
            [1i64, 1].as_slice(),
            [1i64, 1].as_slice(),
            false,
        );
        for block in &self.blocks {
            h = block.forward(&h, train);
        }
        pool(&h)
    }
    fn fold_batch_norm(&mut self, layout: Layout) {
        self.stem.fold(layout);
        self.blocks.iter_mut().for_each(|b| b.fold(layout));
    }
}
