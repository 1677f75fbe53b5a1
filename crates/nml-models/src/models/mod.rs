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

mod cifar;
mod conv_bn;
pub mod init;
mod mobilenet;
mod preact;
mod torchvision;

use nml_torch::{Compute, Layout};
use tch::nn::{self, ModuleT};
use tch::Tensor;

pub use nml_spec::Arch;

use cifar::{CifarResNet, SmallNet};
use mobilenet::MobileNetV2;
use preact::PreActResNet18;
use torchvision::TvResNet;

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

    /// Folds each BatchNorm into the convolution before it for eval-mode
    /// forwards (`conv_bn`); bodies without such pairs keep their BatchNorms.
    fn fold_batch_norm(&mut self, _layout: Layout) {}
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
            head_path(arch, vs),
            arch.feature_dim(),
            classes,
            init::Scheme::of(arch).linear(),
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

    /// Folds every BatchNorm that follows a convolution into it, for eval-mode
    /// forwards from now on (the pre-activation ResNet, whose BatchNorms come
    /// first, is left as it is); `layout` lays out the folded kernels. Only for
    /// a backbone that is no longer trained: the fold holds the statistics of
    /// the moment it ran. Changes the float32 result in its last bits only.
    pub fn fold_batch_norm(&mut self, layout: Layout) {
        self.body.fold_batch_norm(layout);
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

/// The memory layout `arch` trains and extracts in when computing in
/// `compute`: channels-last under bfloat16, where oneDNN's AMX convolutions
/// (and cuDNN's tensor cores) read it without reordering (measured:
/// `cargo bench -p nml-pretrain` prints both layouts); libtorch's default
/// layout in float32, so float32 runs keep their numbers bit for bit.
pub fn layout(arch: Arch, compute: Compute) -> Layout {
    match (arch, compute) {
        (_, Compute::Fp32) => Layout::Contiguous,
        (
            Arch::Small
            | Arch::ResNet20
            | Arch::ResNet32
            | Arch::ResNet56
            | Arch::PreActResNet18
            | Arch::ResNet18
            | Arch::ResNet50
            | Arch::MobileNetV2,
            Compute::Bf16,
        ) => Layout::ChannelsLast,
    }
}

/// Path of the classifier layer of `arch` in the reference implementation.
fn head_path<'a>(arch: Arch, vs: &nn::Path<'a>) -> nn::Path<'a> {
    match arch {
        Arch::Small | Arch::ResNet18 | Arch::ResNet50 => vs / "fc",
        // Dropout is `classifier.0`.
        Arch::MobileNetV2 => vs / "classifier" / 1,
        Arch::ResNet20 | Arch::ResNet32 | Arch::ResNet56 | Arch::PreActResNet18 => vs / "linear",
    }
}

fn conv(
    scheme: init::Scheme,
    vs: nn::Path,
    c_in: i64,
    c_out: i64,
    k: i64,
    stride: i64,
    padding: i64,
) -> nn::Conv2D {
    let config = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ws_init: scheme.conv(),
        ..Default::default()
    };
    nn::conv2d(vs, c_in, c_out, k, config)
}

fn bn(vs: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(vs, c, init::batch_norm())
}

/// Global average pool.
///
/// # Shapes
/// `[B, C, H, W]` → `[B, C]`.
fn pool(x: &Tensor) -> Tensor {
    x.mean_dim([2i64, 3].as_slice(), false, tch::Kind::Float)
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

    /// Folding BatchNorm into the convolutions keeps eval-mode features (to
    /// float32 rounding), in both layouts, and leaves training forwards alone.
    #[test]
    fn folded_batch_norm_gives_the_same_eval_features() {
        for arch in Arch::ALL {
            let side = if arch.native_input() > 32 { 64 } else { 32 };
            tch::manual_seed(1);
            let vs = nn::VarStore::new(Device::Cpu);
            let mut net = Net::new(&vs.root(), arch, 10);
            let x = Tensor::randn([4, 3, side, side], (Kind::Float, Device::Cpu));
            tch::no_grad(|| {
                // Running statistics and affine parameters away from their start.
                for _ in 0..3 {
                    let _ = net.features(&(&x * 2.0 + 0.5), true);
                }
                for (name, mut v) in vs.variables() {
                    if name.contains("bn") || v.dim() == 1 {
                        let _ = v.g_add_(&(v.rand_like() * 0.3));
                    }
                }
            });
            // (A training forward updates the running statistics: it goes first.)
            let trained = tch::no_grad(|| net.features(&x, true));
            let plain = tch::no_grad(|| net.features(&x, false));
            for layout in [Layout::Contiguous, Layout::ChannelsLast] {
                net.fold_batch_norm(layout);
                let folded = tch::no_grad(|| net.features(&layout.apply(&x), false));
                let err = f64::try_from((&folded - &plain).norm() / plain.norm()).unwrap();
                assert!(err < 1e-5, "{arch} {layout:?}: relative error {err}");
            }
            let again = tch::no_grad(|| net.features(&x, true));
            assert!(
                again.allclose(&trained, 1e-5, 1e-6, false),
                "{arch}: training forward changed"
            );
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
