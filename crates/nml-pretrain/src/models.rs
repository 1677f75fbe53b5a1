//! The backbones: CIFAR-style ResNets (option-A shortcuts), a pre-activation
//! ResNet-18, torchvision-style ResNet-18/50, and a small net for smoke runs.
//!
//! Every model is built on named VarStore paths that match the PyTorch
//! reference implementations, so a checkpoint loads into the PyTorch module
//! with `strict=True` (BatchNorm's `num_batches_tracked` aside) and the
//! published weights load here:
//! CIFAR ResNets follow akamaster/pytorch_resnet_cifar10 (`conv1`, `bn1`,
//! `layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}`, `linear`), the pre-activation
//! ResNet-18 follows kuangliu/pytorch-cifar plus a final `bn`, and ResNet-18/50
//! follow torchvision (`downsample.{0,1}`, `fc`), and MobileNetV2 follows
//! torchvision (`features.{0..18}`, `classifier.1`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// The architectures `nml-pretrain --arch` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Arch {
    /// Three conv-BN-ReLU stages, 128-d features: seconds per epoch on a CPU.
    Small,
    ResNet20,
    ResNet32,
    ResNet56,
    PreActResNet18,
    ResNet18,
    ResNet50,
    /// torchvision's MobileNetV2 (width 1.0), 1280-d features.
    MobileNetV2,
}

impl Arch {
    /// Every architecture, in `--help` order.
    pub const ALL: [Arch; 8] = [
        Arch::Small,
        Arch::ResNet20,
        Arch::ResNet32,
        Arch::ResNet56,
        Arch::PreActResNet18,
        Arch::ResNet18,
        Arch::ResNet50,
        Arch::MobileNetV2,
    ];

    /// The command-line and checkpoint name.
    pub fn name(&self) -> &'static str {
        match self {
            Arch::Small => "small",
            Arch::ResNet20 => "resnet20",
            Arch::ResNet32 => "resnet32",
            Arch::ResNet56 => "resnet56",
            Arch::PreActResNet18 => "preact-resnet18",
            Arch::ResNet18 => "resnet18",
            Arch::ResNet50 => "resnet50",
            Arch::MobileNetV2 => "mobilenet-v2",
        }
    }

    /// Dimension of `features(x)`.
    pub fn feature_dim(&self) -> i64 {
        match self {
            Arch::Small => 128,
            Arch::ResNet20 | Arch::ResNet32 | Arch::ResNet56 => 64,
            Arch::PreActResNet18 | Arch::ResNet18 => 512,
            Arch::ResNet50 => 2048,
            Arch::MobileNetV2 => 1280,
        }
    }

    /// The input side the architecture was designed for (32 for CIFAR-style, 224 for torchvision-style).
    pub fn native_input(&self) -> u32 {
        match self {
            Arch::ResNet18 | Arch::ResNet50 | Arch::MobileNetV2 => 224,
            _ => 32,
        }
    }

    /// The smallest input side the architecture accepts.
    pub fn min_input(&self) -> u32 {
        match self {
            Arch::ResNet18 | Arch::ResNet50 | Arch::MobileNetV2 => 32,
            _ => 8,
        }
    }

    /// Name of the classifier's weight tensor in the reference implementation.
    pub fn head_weight(&self) -> &'static str {
        match self {
            Arch::Small | Arch::ResNet18 | Arch::ResNet50 => "fc.weight",
            Arch::MobileNetV2 => "classifier.1.weight",
            _ => "linear.weight",
        }
    }

    /// Path of the classifier layer in the reference implementation.
    fn head_path<'a>(&self, vs: &nn::Path<'a>) -> nn::Path<'a> {
        match self {
            Arch::Small | Arch::ResNet18 | Arch::ResNet50 => vs / "fc",
            // Dropout is `classifier.0`.
            Arch::MobileNetV2 => vs / "classifier" / 1,
            _ => vs / "linear",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Arch> for String {
    fn from(arch: Arch) -> String {
        arch.name().to_owned()
    }
}

impl TryFrom<String> for Arch {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl FromStr for Arch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Arch::ALL.iter().map(Arch::name).collect();
                format!(
                    "unknown architecture `{s}`; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A backbone with its classifier.
#[derive(Debug)]
pub struct Net {
    pub arch: Arch,
    body: Box<dyn Body>,
    head: nn::Linear,
}

/// The part of a network below the classifier.
trait Body: fmt::Debug + Send {
    /// # Shapes
    /// `x`: `[B, 3, H, W]` → `[B, D]`.
    fn features(&self, x: &Tensor, train: bool) -> Tensor;
}

impl Net {
    /// Builds `arch` with `classes` outputs under `vs`.
    pub fn new(vs: &nn::Path, arch: Arch, classes: i64) -> Net {
        let body: Box<dyn Body> = match arch {
            Arch::Small => Box::new(SmallNet::new(vs)),
            Arch::ResNet20 => Box::new(CifarResNet::new(vs, 3)),
            Arch::ResNet32 => Box::new(CifarResNet::new(vs, 5)),
            Arch::ResNet56 => Box::new(CifarResNet::new(vs, 9)),
            Arch::PreActResNet18 => Box::new(PreActResNet18::new(vs)),
            Arch::ResNet18 => Box::new(TvResNet::new(vs, false, [2, 2, 2, 2])),
            Arch::ResNet50 => Box::new(TvResNet::new(vs, true, [3, 4, 6, 3])),
            Arch::MobileNetV2 => Box::new(MobileNetV2::new(&(vs / "features"))),
        };
        let head = nn::linear(
            arch.head_path(vs),
            arch.feature_dim(),
            classes,
            Default::default(),
        );
        Net { arch, body, head }
    }

    /// The penultimate, pooled features.
    ///
    /// # Shapes
    /// `x`: `[B, 3, H, W]` (normalised) → `[B, feature_dim]`.
    pub fn features(&self, x: &Tensor, train: bool) -> Tensor {
        self.body.features(x, train)
    }

    /// Class scores.
    ///
    /// # Shapes
    /// `x`: `[B, 3, H, W]` → `[B, classes]`.
    pub fn logits(&self, x: &Tensor, train: bool) -> Tensor {
        self.features(x, train).apply(&self.head)
    }
}

impl ModuleT for Net {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.logits(x, train)
    }
}

fn conv(vs: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let config = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(vs, c_in, c_out, k, config)
}

fn bn(vs: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(vs, c, Default::default())
}

/// Global average pool.
///
/// # Shapes
/// `[B, C, H, W]` → `[B, C]`.
fn pool(x: &Tensor) -> Tensor {
    x.mean_dim([2i64, 3].as_slice(), false, tch::Kind::Float)
}

#[derive(Debug)]
struct SmallNet {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
}

impl SmallNet {
    fn new(vs: &nn::Path) -> SmallNet {
        let widths = [(3, 32), (32, 64), (64, 128)];
        let convs = widths
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| {
                (
                    conv(vs / format!("conv{}", i + 1), a, b, 3, 1, 1),
                    bn(vs / format!("bn{}", i + 1), b),
                )
            })
            .collect();
        SmallNet { convs }
    }
}

impl Body for SmallNet {
    fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        for (i, (c, b)) in self.convs.iter().enumerate() {
            h = h.apply(c).apply_t(b, train).relu();
            if i < 2 {
                h = h.max_pool2d_default(2);
            }
        }
        pool(&h)
    }
}

/// The CIFAR BasicBlock with the option-A (parameter-free) shortcut.
#[derive(Debug)]
struct BasicA {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    /// Channels zero-padded on each side when the shortcut downsamples.
    pad: Option<i64>,
}

impl BasicA {
    fn new(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> BasicA {
        BasicA {
            conv1: conv(&vs / "conv1", c_in, c_out, 3, stride, 1),
            bn1: bn(&vs / "bn1", c_out),
            conv2: conv(&vs / "conv2", c_out, c_out, 3, 1, 1),
            bn2: bn(&vs / "bn2", c_out),
            pad: (stride != 1 || c_in != c_out).then_some(c_out / 4),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let out = x
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2)
            .apply_t(&self.bn2, train);
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
struct CifarResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    blocks: Vec<BasicA>,
}

impl CifarResNet {
    fn new(vs: &nn::Path, n: usize) -> CifarResNet {
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
            conv1: conv(vs / "conv1", 3, 16, 3, 1, 1),
            bn1: bn(vs / "bn1", 16),
            blocks,
        }
    }
}

impl Body for CifarResNet {
    fn features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        for block in &self.blocks {
            h = block.forward(&h, train);
        }
        pool(&h)
    }
}

/// Conv (no bias) + BN, as torchvision's `Conv2dNormActivation` names them (`0`, `1`).
#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ConvBn {
    fn new(vs: &nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, groups: i64) -> ConvBn {
        let config = nn::ConvConfig {
            stride,
            padding: (k - 1) / 2,
            groups,
            bias: false,
            ..Default::default()
        };
        ConvBn {
            conv: nn::conv2d(vs / 0, c_in, c_out, k, config),
            bn: bn(vs / 1, c_out),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.conv).apply_t(&self.bn, train)
    }
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
    fn new(vs: &nn::Path, c_in: i64, c_out: i64, stride: i64, t: i64) -> InvertedResidual {
        let vs = vs / "conv";
        let hidden = c_in * t;
        let mut i = 0;
        let expand = (t != 1).then(|| {
            i += 1;
            ConvBn::new(&(&vs / 0), c_in, hidden, 1, 1, 1)
        });
        let depthwise = ConvBn::new(&(&vs / i), hidden, hidden, 3, stride, hidden);
        // The projection's conv and BN are siblings here (`conv.{i+1}`, `conv.{i+2}`).
        let project = ConvBn {
            conv: nn::conv2d(
                &vs / (i + 1),
                hidden,
                c_out,
                1,
                nn::ConvConfig {
                    bias: false,
                    ..Default::default()
                },
            ),
            bn: bn(&vs / (i + 2), c_out),
        };
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
}

/// torchvision's MobileNetV2, width 1.0: `features.0` stem, 17 inverted
/// residuals, `features.18` 1×1 to 1280, global average pool.
#[derive(Debug)]
struct MobileNetV2 {
    stem: ConvBn,
    blocks: Vec<InvertedResidual>,
    last: ConvBn,
}

impl MobileNetV2 {
    fn new(vs: &nn::Path) -> MobileNetV2 {
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
        let stem = ConvBn::new(&(vs / 0), 3, 32, 3, 2, 1);
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
        let last = ConvBn::new(&(vs / (blocks.len() + 1)), c_in, 1280, 1, 1, 1);
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
}

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
    fn new(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> PreActBlock {
        PreActBlock {
            bn1: bn(&vs / "bn1", c_in),
            conv1: conv(&vs / "conv1", c_in, c_out, 3, stride, 1),
            bn2: bn(&vs / "bn2", c_out),
            conv2: conv(&vs / "conv2", c_out, c_out, 3, 1, 1),
            shortcut: (stride != 1 || c_in != c_out)
                .then(|| conv(&vs / "shortcut" / 0, c_in, c_out, 1, stride, 0)),
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
struct PreActResNet18 {
    conv1: nn::Conv2D,
    blocks: Vec<PreActBlock>,
    bn: nn::BatchNorm,
}

impl PreActResNet18 {
    fn new(vs: &nn::Path) -> PreActResNet18 {
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
            conv1: conv(vs / "conv1", 3, 64, 3, 1, 1),
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

/// torchvision's BasicBlock (ResNet-18) or Bottleneck (ResNet-50, stride on the 3×3).
#[derive(Debug)]
struct TvBlock {
    convs: Vec<(nn::Conv2D, nn::BatchNorm)>,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl TvBlock {
    fn new(vs: nn::Path, c_in: i64, planes: i64, stride: i64, bottleneck: bool) -> TvBlock {
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
                    conv(&vs / format!("conv{}", i + 1), a, b, k, s, k / 2),
                    bn(&vs / format!("bn{}", i + 1), b),
                )
            })
            .collect();
        let c_out = planes * expansion;
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            (
                conv(&vs / "downsample" / 0, c_in, c_out, 1, stride, 0),
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
struct TvResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    blocks: Vec<TvBlock>,
}

impl TvResNet {
    fn new(vs: &nn::Path, bottleneck: bool, depths: [usize; 4]) -> TvResNet {
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
            conv1: conv(vs / "conv1", 3, 64, 7, 2, 3),
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

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;

    #[test]
    fn names_round_trip_through_strings_and_json() {
        for arch in Arch::ALL {
            assert_eq!(arch.name().parse::<Arch>().unwrap(), arch);
            let json = serde_json::to_string(&arch).unwrap();
            assert_eq!(json, format!("\"{}\"", arch.name()));
            assert_eq!(serde_json::from_str::<Arch>(&json).unwrap(), arch);
        }
    }

    /// Parameter counts of the reference implementations (heads with 10 or 1000 classes).
    #[test]
    fn parameter_counts_match_the_reference_models() {
        let check = |arch: Arch, classes: i64, expected: i64, input: i64| {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Net::new(&vs.root(), arch, classes);
            let params: i64 = vs
                .trainable_variables()
                .iter()
                .map(Tensor::numel)
                .map(|n| n as i64)
                .sum();
            assert_eq!(params, expected, "{arch}");
            let x = Tensor::zeros([2, 3, input, input], (Kind::Float, Device::Cpu));
            assert_eq!(net.features(&x, false).size(), [2, arch.feature_dim()]);
            assert_eq!(net.logits(&x, false).size(), [2, classes]);
        };
        check(Arch::ResNet20, 10, 269_722, 32);
        check(Arch::ResNet56, 10, 853_018, 32);
        check(Arch::ResNet18, 1000, 11_689_512, 64);
        check(Arch::ResNet50, 1000, 25_557_032, 64);
        check(Arch::Small, 10, 94_762, 32);
        check(Arch::MobileNetV2, 1000, 3_504_872, 64);
    }
}
