//! The backbone architectures: their names on command lines and in files,
//! feature dimensions, input sizes and classifier names (the networks
//! themselves are `nml-models`', which links libtorch).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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
            Arch::Small
            | Arch::ResNet20
            | Arch::ResNet32
            | Arch::ResNet56
            | Arch::PreActResNet18 => 32,
        }
    }

    /// The smallest input side the architecture accepts.
    pub fn min_input(&self) -> u32 {
        match self {
            Arch::ResNet18 | Arch::ResNet50 | Arch::MobileNetV2 => 32,
            Arch::Small
            | Arch::ResNet20
            | Arch::ResNet32
            | Arch::ResNet56
            | Arch::PreActResNet18 => 8,
        }
    }

    /// Name of the classifier's weight tensor in the reference implementation.
    pub fn head_weight(&self) -> &'static str {
        match self {
            Arch::Small | Arch::ResNet18 | Arch::ResNet50 => "fc.weight",
            Arch::MobileNetV2 => "classifier.1.weight",
            Arch::ResNet20 | Arch::ResNet32 | Arch::ResNet56 | Arch::PreActResNet18 => {
                "linear.weight"
            }
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
