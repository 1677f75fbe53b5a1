//! Initialisation as each architecture's reference implementation.
//!
//! tch's defaults differ from PyTorch's: `BatchNormConfig::default()` draws
//! γ from U(0, 1) (PyTorch: γ = 1) and convolutions use a ReLU-gain kaiming
//! uniform (PyTorch: kaiming_uniform(a = √5), i.e. U(±1/√fan_in)). Each
//! architecture follows its reference here:
//!
//! | scheme | conv weight | linear weight, bias | BN |
//! |---|---|---|---|
//! | [`Scheme::Torch`] (kuangliu's pre-activation ResNet, the small net) | U(±1/√fan_in) | U(±1/√fan_in) both | γ = 1, β = 0 |
//! | [`Scheme::Akamaster`] (CIFAR ResNet-20/32/56) | kaiming_normal, fan_in | kaiming_normal fan_in; bias U(±1/√fan_in) | γ = 1, β = 0 |
//! | [`Scheme::Torchvision`] (ResNet-18/50) | kaiming_normal, fan_out, ReLU | U(±1/√fan_in) both | γ = 1, β = 0 |
//! | [`Scheme::Mobile`] (torchvision's MobileNetV2) | kaiming_normal, fan_out | N(0, 0.01), bias 0 | γ = 1, β = 0 |

use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use tch::nn::{self, Init};

use super::Arch;

/// PyTorch's default for `Linear` and `Conv2d` weights: kaiming_uniform(a = √5) = U(±1/√fan_in).
pub const TORCH_DEFAULT: Init = Init::Kaiming {
    dist: NormalOrUniform::Uniform,
    fan: FanInOut::FanIn,
    // gain √(2 / (1 + a²)) with a = √5.
    non_linearity: NonLinearity::ExplicitGain(0.577_350_269_189_625_8),
};

/// How one reference initialises its layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Torch,
    Akamaster,
    Torchvision,
    Mobile,
}

impl Scheme {
    /// The scheme of `arch`'s reference implementation.
    pub fn of(arch: Arch) -> Scheme {
        match arch {
            Arch::Small | Arch::PreActResNet18 => Scheme::Torch,
            Arch::ResNet20 | Arch::ResNet32 | Arch::ResNet56 => Scheme::Akamaster,
            Arch::ResNet18 | Arch::ResNet50 => Scheme::Torchvision,
            Arch::MobileNetV2 => Scheme::Mobile,
        }
    }

    /// Convolution weights.
    pub fn conv(self) -> Init {
        let normal = |fan| Init::Kaiming {
            dist: NormalOrUniform::Normal,
            fan,
            non_linearity: NonLinearity::ReLU,
        };
        match self {
            Scheme::Torch => TORCH_DEFAULT,
            Scheme::Akamaster => normal(FanInOut::FanIn),
            Scheme::Torchvision | Scheme::Mobile => normal(FanInOut::FanOut),
        }
    }

    /// The classifier (`bs_init: None` is tch's U(±1/√fan_in), PyTorch's default bias).
    pub fn linear(self) -> nn::LinearConfig {
        let (ws_init, bs_init) = match self {
            Scheme::Torch | Scheme::Torchvision => (TORCH_DEFAULT, None),
            Scheme::Akamaster => (
                Init::Kaiming {
                    dist: NormalOrUniform::Normal,
                    fan: FanInOut::FanIn,
                    non_linearity: NonLinearity::ReLU,
                },
                None,
            ),
            Scheme::Mobile => (
                Init::Randn {
                    mean: 0.0,
                    stdev: 0.01,
                },
                Some(Init::Const(0.0)),
            ),
        };
        nn::LinearConfig {
            ws_init,
            bs_init,
            bias: true,
        }
    }
}

/// PyTorch's BatchNorm start: γ = 1, β = 0 (eps 1e-5, momentum 0.1).
pub fn batch_norm() -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        ws_init: Init::Const(1.0),
        bs_init: Init::Const(0.0),
        ..Default::default()
    }
}
