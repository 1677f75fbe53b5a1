//! torchvision's ResNet-18 (BasicBlock) and ResNet-50 (Bottleneck) under their reference names.

use tch::nn;
use tch::Tensor;

use super::init::Scheme;
use super::{bn, conv, pool, Body};

/// torchvision's BasicBlock (ResNet-18) or Bottleneck (ResNet-50, stride on the 3×3).
#[derive(Debug)]
struct TvBlock {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
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
                (
                    conv(
                        Scheme::Torchvision,
                        &vs / format!("conv{}", i + 1),
                        a,
                        b,
                        k,
                        s,
                        k / 2,
                    ),
                    bn(&vs / format!("bn{}", i + 1), b),
                )
            })
            .collect();
        let c_out = planes * expansion;
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            (
                conv(
                    Scheme::Torchvision,
                    &vs / "downsample" / 0,
                    c_in,
                    c_out,
                    1,
                    stride,
                    0,
                ),
                bn(&vs / "downsample" / 1, c_out),
            )
        });
        TvBlock { convs, downsample }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut out = x.shallow_clone();
        for (i, (c, b)) in self.convs.iter().enumerate() {
            out = out.apply(c).apply_t(b, train);
            if i < last {
                out = out.relu();
            }
        }
        let identity = match &self.downsample {
            Some((c, b)) => x.apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        (out + identity).relu()
    }
}

/// torchvision-style ResNet for ImageNet-sized inputs (7×7 stem, max-pool).
#[derive(Debug)]
pub(super) struct TvResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
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
            conv1: conv(Scheme::Torchvision, vs / "conv1", 3, 64, 7, 2, 3),
            bn1: bn(vs / "bn1", 64),
            blocks,
        }
    }
}

impl Body for TvResNet {
    fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .max_pool2d(
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
}
