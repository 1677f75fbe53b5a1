//! torchvision's MobileNetV2 (width 1.0) under its reference names.

use tch::nn;
use tch::Tensor;

use nml_torch::Layout;

use super::conv_bn::ConvBn;
use super::init::Scheme;
use super::{pool, Body};

/// Conv + BN as torchvision's `Conv2dNormActivation` names them (`0`, `1`).
fn conv_bn(vs: &nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, groups: i64) -> ConvBn {
    ConvBn::new(
        Scheme::Mobile,
        vs / 0,
        vs / 1,
        (c_in, c_out, k, stride, groups),
    )
}

/// MobileNetV2's inverted residual: 1×1 expansion (unless t = 1), 3×3
/// depthwise, 1×1 linear projection; identity shortcut when shapes allow.
#[derive(Debug)]
struct InvertedResidual {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl InvertedResidual {
    pub(super) fn new(
        vs: &nn::Path,
        c_in: i64,
        c_out: i64,
        stride: i64,
        t: i64,
    ) -> InvertedResidual {
        let vs = vs / "conv";
        let hidden = c_in * t;
        let mut i = 0;
        let expand = (t != 1).then(|| {
            i += 1;
            conv_bn(&(&vs / 0), c_in, hidden, 1, 1, 1)
        });
        let depthwise = conv_bn(&(&vs / i), hidden, hidden, 3, stride, hidden);
        // The projection's conv and BN are siblings here (`conv.{i+1}`, `conv.{i+2}`).
        let project = ConvBn::new(
            Scheme::Mobile,
            &vs / (i + 1),
            &vs / (i + 2),
            (hidden, c_out, 1, 1, 1),
        );
        InvertedResidual {
            expand,
            depthwise,
            project,
            residual: stride == 1 && c_in == c_out,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        if let Some(e) = &self.expand {
            h = e.forward(&h, train).clamp(0.0, 6.0);
        }
        h = self.depthwise.forward(&h, train).clamp(0.0, 6.0);
        h = self.project.forward(&h, train);
        if self.residual {
            h + x
        } else {
            h
        }
    }

    fn fold(&mut self, layout: Layout) {
        if let Some(e) = &mut self.expand {
            e.fold(layout);
        }
        self.depthwise.fold(layout);
        self.project.fold(layout);
    }
}

/// torchvision's MobileNetV2, width 1.0: `features.0` stem, 17 inverted
/// residuals, `features.18` 1×1 to 1280, global average pool.
#[derive(Debug)]
pub(super) struct MobileNetV2 {
    stem: ConvBn,
    blocks: Vec<InvertedResidual>,
    last: ConvBn,
}

impl MobileNetV2 {
    pub(super) fn new(vs: &nn::Path) -> MobileNetV2 {
        // (expansion t, channels c, repeats n, first stride s), as in the paper's Table 2.
        const SETTINGS: [(i64, i64, usize, i64); 7] = [
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ];
        let stem = conv_bn(&(vs / 0), 3, 32, 3, 2, 1);
        let mut blocks = Vec::new();
        let mut c_in = 32;
        for (t, c, n, s) in SETTINGS {
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                blocks.push(InvertedResidual::new(
                    &(vs / (blocks.len() + 1)),
                    c_in,
                    c,
                    stride,
                    t,
                ));
                c_in = c;
            }
        }
        let last = conv_bn(&(vs / (blocks.len() + 1)), c_in, 1280, 1, 1, 1);
        MobileNetV2 { stem, blocks, last }
    }
}

impl Body for MobileNetV2 {
    fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem.forward(x, train).clamp(0.0, 6.0);
        for block in &self.blocks {
            h = block.forward(&h, train);
        }
        pool(&self.last.forward(&h, train).clamp(0.0, 6.0))
    }

    fn fold_batch_norm(&mut self, layout: Layout) {
        self.stem.fold(layout);
        self.blocks.iter_mut().for_each(|b| b.fold(layout));
        self.last.fold(layout);
    }
}
