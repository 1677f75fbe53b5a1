//! The typed contracts between the planner and the stages: each stage
//! binary's arguments are one struct here, which the binary parses with clap
//! and the planner (`nml-study`) builds as a value and renders to an argument
//! list with [`Spec::to_args`]; `render → parse` gives the same value back
//! (tested for every stage), so a flag renamed in a struct is renamed for both.
//! The closed sets these arguments take (devices, noise kinds, spectrum
//! options) live here too, with their command-line spellings, and so does
//! the one contract outside the arguments: the commit the runner names in
//! `NML_GIT_COMMIT` for every step ([`provenance`]).
//!
//! No libtorch and no file formats: serde and clap only, so xtask builds it
//! quickly and every crate can name a stage's arguments.

/// A closed set's spellings on the command line and in files: `name()`,
/// `Display` and `FromStr`, whose error lists the choices (`unknown WHAT `x`
/// (a or b)`).
macro_rules! spellings {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name on the command line and in files.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<$ty, String> {
                $ty::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = $ty::ALL.iter().map(|v| v.name()).collect();
                    let (last, rest) = names.split_last().expect("a closed set has values");
                    let choices = if rest.is_empty() {
                        (*last).to_owned()
                    } else {
                        format!("{} or {last}", rest.join(", "))
                    };
                    format!("unknown {} `{s}` ({choices})", $what)
                })
            }
        }
    };
}

mod arch;
pub mod data;
mod device;
pub mod features;
pub mod noise;
mod precision;
pub mod pretrain;
pub mod provenance;
pub mod report;
pub mod spectral;
pub mod tune;
mod verbosity;

pub use arch::Arch;
pub use data::{DataArgs, DataCommand, Preset, SynthSizes};
pub use device::{BadDevice, DeviceSpec};
pub use features::{AugmentKind, Embedding, FeaturesArgs, FeaturesCommand};
pub use noise::{NoiseArgs, NoiseKindArg, Semantics, Stratify};
pub use precision::{cpu_bf16_flags, Compute, Denormals, Precision};
pub use pretrain::{Objective, PretrainArgs};
pub use provenance::code_version;
pub use report::ReportArgs;
pub use spectral::{Center, Normalize, SpectralArgs, SvdMethod};
pub use tune::{Method, Protocol, TuneArgs, TuneCommand, KNN_KS};
pub use verbosity::Verbosity;

/// NMTune's regulariser weights in the official README's recipe: consistency,
/// covariance, dominant singular values. The one definition, read by
/// `nml-tune`'s defaults and by the study's ablation variants.
pub const NMTUNE_WEIGHTS: RegulariserWeights = RegulariserWeights {
    consistency: 1.0,
    covariance: 0.04,
    singular: 0.001,
};

/// The three weights of NMTune's regularisers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegulariserWeights {
    pub consistency: f64,
    pub covariance: f64,
    pub singular: f64,
}

/// A stage's arguments, rendered as the command line that parses back into them.
pub trait Spec: clap::Parser + PartialEq + std::fmt::Debug {
    /// The arguments (no program name), each flag in its long form; every
    /// value is explicit (defaults included), options and switches only when set.
    fn to_args(&self) -> Vec<String>;

    /// Parses `args` (no program name) as the stage's binary would.
    fn from_args(args: &[String]) -> Result<Self, clap::Error> {
        Self::try_parse_from(std::iter::once("nml".to_owned()).chain(args.iter().cloned()))
    }
}

/// Builds an argument list flag by flag.
#[derive(Debug, Default)]
pub struct Args(Vec<String>);

impl Args {
    pub fn new() -> Args {
        Args::default()
    }

    /// A bare word (a subcommand).
    pub fn word(mut self, word: &str) -> Args {
        self.0.push(word.to_owned());
        self
    }

    /// `flag value`.
    pub fn value(mut self, flag: &str, value: impl ToString) -> Args {
        self.0.push(flag.to_owned());
        self.0.push(value.to_string());
        self
    }

    /// `flag value` when `value` is given.
    pub fn opt(self, flag: &str, value: Option<impl ToString>) -> Args {
        match value {
            Some(v) => self.value(flag, v),
            None => self,
        }
    }

    /// `flag value` for every value, in order.
    pub fn each<T: ToString>(mut self, flag: &str, values: impl IntoIterator<Item = T>) -> Args {
        for v in values {
            self = self.value(flag, v);
        }
        self
    }

    /// `flag` alone when `on`.
    pub fn switch(mut self, flag: &str, on: bool) -> Args {
        if on {
            self.0.push(flag.to_owned());
        }
        self
    }

    /// The verbosity flags.
    pub fn verbosity(mut self, v: Verbosity) -> Args {
        if v.quiet {
            self.0.push("--quiet".to_owned());
        }
        for _ in 0..v.verbose {
            self.0.push("--verbose".to_owned());
        }
        self
    }

    pub fn finish(self) -> Vec<String> {
        self.0
    }
}

/// The command-line spelling of a clap value enum.
pub fn spelling(value: &impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}
