//! The study's closed sets, each an enum with its one spelling in files,
//! command lines and reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::StudyError;

/// Defines `name()`, `ALL`, `Display` and `FromStr` (with the expected names in the error).
macro_rules! names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order of the study.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The spelling in files, command lines and reports.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = StudyError;

            fn from_str(s: &str) -> Result<$ty, StudyError> {
                $ty::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = $ty::ALL.iter().map(|v| v.name()).collect();
                    StudyError::Invalid(format!(
                        "unknown {} `{s}`: expected {}",
                        $what,
                        names.join(", ")
                    ))
                })
            }
        }
    };
}

/// The stages in order; every step belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Data,
    Corrupt,
    Pretrain,
    Features,
    Spectral,
    Tune,
    Report,
}
names!(Stage, "stage", {
    Data => "data", Corrupt => "corrupt", Pretrain => "pretrain", Features => "features",
    Spectral => "spectral", Tune => "tune", Report => "report",
});

/// The stage binaries a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Program {
    NmlData,
    NmlNoise,
    NmlPretrain,
    NmlFeatures,
    NmlSpectral,
    NmlTune,
    NmlReport,
}
names!(Program, "program", {
    NmlData => "nml-data", NmlNoise => "nml-noise", NmlPretrain => "nml-pretrain",
    NmlFeatures => "nml-features", NmlSpectral => "nml-spectral", NmlTune => "nml-tune",
    NmlReport => "nml-report",
});

/// How the backbones were pre-trained.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    /// Class labels, cross-entropy (absent in older indexes).
    #[default]
    Supervised,
    /// Image–text pairs, InfoNCE.
    Contrastive,
}
names!(Setting, "setting", { Supervised => "supervised", Contrastive => "contrastive" });

/// Which part of the study a results table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// `nml-noise`'s summary of a corrupted manifest.
    Noise,
    /// A backbone's `model.json`.
    Pretrain,
    /// `nml-spectral`'s metrics.
    Spectral,
    /// `nml-tune`'s results for heads with the fixed (paper's) recipe.
    Tune,
    /// `nml-tune`'s results for heads whose hyper-parameters were chosen on a
    /// validation split from a grid (kept apart so that no claim mixes them in).
    Selected,
    /// `nml-tune`'s results for heads with the fixed recipe trained on downstream
    /// labels with [`DOWNSTREAM_NOISE`]% symmetric noise (test labels clean): claim 7.
    NoisyDownstream,
    /// `nml-tune --method knn`'s scores (a row per k and eval; no seed).
    Knn,
    /// `nml-tune --method auto`'s results: the head chosen among LP, MLP and
    /// NMTune on validation rows (its method in each row).
    Auto,
}
names!(TableKind, "table kind", {
    Noise => "noise", Pretrain => "pretrain", Spectral => "spectral", Tune => "tune",
    Selected => "selected", NoisyDownstream => "noisy-downstream", Knn => "knn", Auto => "auto",
});

/// What the rows of a tuning table repeat: the unit the report's means, standard
/// deviations and tests count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Repeat {
    /// Each head seed is one repeat: the backbone is fixed (published weights).
    /// Also every index written before head seeds were nested, where each
    /// backbone seed had one head of the same seed.
    #[default]
    Head,
    /// The table's head seeds are nested in the backbone of its `seed`: the report
    /// averages them, and the backbone seed is the repeat (the noisy studies).
    Backbone,
}
names!(Repeat, "repeat", { Head => "head", Backbone => "backbone" });

pub use nml_spec::Method;

/// A head of the study: a method, and for the ablation NMTune with one regulariser off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    Lp,
    Mlp,
    Nmtune,
    NoConsistency,
    NoCovariance,
    NoSingular,
}
names!(Variant, "variant", {
    Lp => "lp", Mlp => "mlp", Nmtune => "nmtune", NoConsistency => "no-consistency",
    NoCovariance => "no-covariance", NoSingular => "no-singular",
});

impl Variant {
    /// The three heads every backbone gets.
    pub const METHODS: [Variant; 3] = [Variant::Lp, Variant::Mlp, Variant::Nmtune];
    /// NMTune without one regulariser: the ablation's extra heads.
    pub const ABLATED: [Variant; 3] = [
        Variant::NoConsistency,
        Variant::NoCovariance,
        Variant::NoSingular,
    ];

    /// The method `nml-tune` runs.
    pub fn method(self) -> Method {
        match self {
            Variant::Lp => Method::Lp,
            Variant::Mlp => Method::Mlp,
            Variant::Nmtune
            | Variant::NoConsistency
            | Variant::NoCovariance
            | Variant::NoSingular => Method::Nmtune,
        }
    }

    /// Consistency, covariance and singular-value weights where they are not
    /// the method's defaults (`nml_spec::NMTUNE_WEIGHTS`).
    pub fn weights(self) -> Option<nml_spec::RegulariserWeights> {
        let w = nml_spec::NMTUNE_WEIGHTS;
        match self {
            Variant::NoConsistency => Some(nml_spec::RegulariserWeights {
                consistency: 0.0,
                ..w
            }),
            Variant::NoCovariance => Some(nml_spec::RegulariserWeights {
                covariance: 0.0,
                ..w
            }),
            Variant::NoSingular => Some(nml_spec::RegulariserWeights { singular: 0.0, ..w }),
            Variant::Lp | Variant::Mlp | Variant::Nmtune => None,
        }
    }
}

/// The label noise a pre-training set carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Noise {
    /// No pre-training at all (published models used as black boxes).
    #[default]
    None,
    /// The study's ratios: labels flipped to another class.
    Symmetric,
    /// The contrastive setting's ratios: captions swapped between pairs.
    CaptionSwap,
    /// A real noise condition, e.g. `cifar10n-worse`: a column of human labels.
    Real(String),
}

impl Noise {
    /// The spelling in files and reports (empty for [`Noise::None`]).
    pub fn name(&self) -> &str {
        match self {
            Noise::None => "",
            Noise::Symmetric => "symmetric",
            Noise::CaptionSwap => "caption-swap",
            Noise::Real(name) => name,
        }
    }

    /// Whether this is a real noise condition rather than a ratio.
    pub fn is_real(&self) -> bool {
        matches!(self, Noise::Real(_))
    }
}

impl From<String> for Noise {
    fn from(s: String) -> Noise {
        match s.as_str() {
            "" => Noise::None,
            "symmetric" => Noise::Symmetric,
            "caption-swap" => Noise::CaptionSwap,
            _ => Noise::Real(s),
        }
    }
}

impl From<Noise> for String {
    fn from(n: Noise) -> String {
        n.name().to_owned()
    }
}

/// What a study runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Benchmark {
    /// The embedded synthetic benchmark (no download).
    Synth,
    /// Published noisy models as black boxes (MobileNetV2 on PACS, MiniLM on SST-2).
    RealModels,
    /// CIFAR-10 with symmetric and CIFAR-10N noise; CIFAR-10 and PACS downstream.
    Cifar10Pacs,
}
names!(Benchmark, "benchmark", {
    Synth => "synth", RealModels => "real-models", Cifar10Pacs => "cifar10-pacs",
});

/// Where an evaluation sits relative to the heads' training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Split {
    /// In domain: the heads' source domain (or a task without domains).
    #[serde(rename = "ID")]
    Id,
    /// Out of domain: another domain of the task.
    #[serde(rename = "OOD")]
    Ood,
    /// The backbone's own pre-training images with clean labels: not transfer,
    /// read by no claim.
    #[serde(rename = "re-probe")]
    Reprobe,
}
names!(Split, "split", { Id => "ID", Ood => "OOD", Reprobe => "re-probe" });

impl Split {
    /// The two transfer splits every claim and table reads, in order.
    pub const TRANSFER: [Split; 2] = [Split::Id, Split::Ood];
}

/// A study's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Minutes on a CPU: the wiring, not evidence.
    Smoke,
    /// Under an hour on 2 cores.
    Quick,
    /// A GPU's worth.
    Full,
    /// `cifar10-pacs` in one GPU window: sized with the throughput model
    /// ([`crate::estimate`]) to end within 8 minutes on one H200.
    Gpu,
}
names!(Profile, "profile", { Smoke => "smoke", Quick => "quick", Full => "full", Gpu => "gpu" });

/// The sizes of one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes {
    pub profile: Profile,
    /// Backbone architecture.
    pub arch: nml_spec::Arch,
    pub epochs: u32,
    /// Pre-training seeds (noise draw, initialisation): the study's repeats.
    pub seeds: u32,
    /// Head seeds trained per backbone and task, averaged within the backbone
    /// seed: few-shot heads differ by seed, and averaging them lowers the seed
    /// standard deviation of the accuracies (docs/benchmark.md, "Power").
    pub heads: u32,
    /// Noise ratio of the ablation, in percent.
    pub ablation_ratio: u32,
    /// Downstream tasks of the synthetic benchmark.
    pub tasks: usize,
    /// Rows kept per (split, domain, class) of CIFAR-10 and PACS (none: all).
    pub real_per_class: (Option<usize>, Option<usize>),
    /// Augmented views cached per image (`extract --views`); MLP and NMTune
    /// train on two of them per step (`nml-tune --two-view`), as the official loop.
    pub views: u32,
    /// Pre-train CLIP-style too, where the benchmark has captions.
    pub contrastive: bool,
    /// Rows per (split, class) of CIFAR-10's re-probe task, when fewer than
    /// the pre-training corpus's (none: the corpus itself).
    pub reprobe_per_class: Option<usize>,
}

impl Profile {
    /// The synthetic benchmark's preset of the same size (the `gpu`
    /// profile is `cifar10-pacs`'s alone).
    pub fn preset(self) -> nml_spec::Preset {
        match self {
            Profile::Smoke => nml_spec::Preset::Smoke,
            Profile::Quick => nml_spec::Preset::Quick,
            Profile::Full | Profile::Gpu => nml_spec::Preset::Full,
        }
    }

    /// This profile's sizes.
    pub fn sizes(self) -> Sizes {
        use nml_spec::Arch;
        let (tasks, arch, epochs, seeds, heads, real_per_class, views) = match self {
            Profile::Smoke => (2, Arch::Small, 4, 2, 2, (Some(200), Some(30)), 4),
            Profile::Quick => (6, Arch::Small, 6, 2, 3, (Some(1000), None), 16),
            Profile::Full => (6, Arch::PreActResNet18, 60, 3, 3, (None, None), 16),
            // Every CIFAR-10 training image, ResNet-20 (the backbone with
            // measured CUDA rates); its size is what `reproduce --dry-run
            // --device cuda` puts under 8 minutes (docs/study.md, "The gpu profile").
            Profile::Gpu => (0, Arch::ResNet20, GPU_EPOCHS, 3, 3, (None, None), 2),
        };
        Sizes {
            profile: self,
            arch,
            epochs,
            seeds,
            heads,
            ablation_ratio: 10,
            tasks,
            real_per_class,
            views,
            contrastive: self != Profile::Gpu,
            reprobe_per_class: (self == Profile::Gpu).then_some(GPU_REPROBE_PER_CLASS),
        }
    }
}

/// Pre-training epochs of the `gpu` profile.
const GPU_EPOCHS: u32 = 2;

/// Re-probe rows per class of the `gpu` profile: heads on 50,000 rows would be
/// most of its window.
const GPU_REPROBE_PER_CLASS: usize = 100;

/// Pre-training noise ratios of the paper, in percent.
pub const RATIOS: [u32; 5] = [0, 5, 10, 20, 30];

/// Symmetric noise on the downstream training labels of the noisy-downstream arm, in percent.
pub const DOWNSTREAM_NOISE: u32 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_strings_and_json() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), *v);
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{v}\""));
        }
        for s in Stage::ALL {
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{s}\""));
        }
        for r in Repeat::ALL {
            assert_eq!(r.name().parse::<Repeat>().unwrap(), *r);
            assert_eq!(serde_json::to_string(r).unwrap(), format!("\"{r}\""));
        }
        for b in Benchmark::ALL {
            assert_eq!(serde_json::to_string(b).unwrap(), format!("\"{b}\""));
        }
        let err = "imagenet".parse::<Benchmark>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown benchmark `imagenet`: expected synth, real-models, cifar10-pacs"
        );
        for noise in ["", "symmetric", "caption-swap", "cifar10n-worse"] {
            let n = Noise::from(noise.to_owned());
            assert_eq!(n.name(), noise);
            assert_eq!(n.is_real(), noise.starts_with("cifar"));
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(serde_json::from_str::<Noise>(&json).unwrap(), n);
        }
    }

    #[test]
    fn ablated_variants_turn_off_one_regulariser_each() {
        for v in Variant::ABLATED {
            assert_eq!(v.method(), Method::Nmtune);
            let w = v.weights().unwrap();
            assert_eq!(
                [w.consistency, w.covariance, w.singular]
                    .iter()
                    .filter(|w| **w == 0.0)
                    .count(),
                1
            );
        }
        assert!(Variant::METHODS.iter().all(|v| v.weights().is_none()));
    }
}
