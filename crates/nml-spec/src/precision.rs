//! `--precision auto|fp32|bf16`: the numeric precision a stage computes in,
//! and what `auto` resolves to.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The precision a user asks for.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bfloat16 where the hardware computes it natively (CUDA; CPUs with AMX
    /// or AVX-512 BF16), float32 elsewhere.
    Auto,
    /// float32 throughout.
    #[default]
    Fp32,
    /// bfloat16 autocast: products and convolutions in bfloat16, weights,
    /// optimiser state, reductions and losses in float32.
    Bf16,
}

/// What a stage computes in once `auto` is resolved; recorded in its outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    #[default]
    Fp32,
    Bf16,
}

impl Precision {
    /// `auto` is bfloat16 on CUDA (`cuda`) and on CPUs with native bfloat16
    /// (`cpu_bf16`), float32 elsewhere; the others are what they say.
    pub fn resolve(self, cuda: bool, cpu_bf16: bool) -> Compute {
        match self {
            Precision::Fp32 => Compute::Fp32,
            Precision::Bf16 => Compute::Bf16,
            Precision::Auto if cuda || cpu_bf16 => Compute::Bf16,
            Precision::Auto => Compute::Fp32,
        }
    }
}

impl Compute {
    /// The name in files, logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Compute::Fp32 => "fp32",
            Compute::Bf16 => "bf16",
        }
    }

    /// True for float32 (which configs leave unwritten, so their keys stay as before).
    pub fn is_fp32(&self) -> bool {
        *self == Compute::Fp32
    }
}

impl fmt::Display for Compute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_bf16_only_where_the_hardware_computes_it() {
        let auto = Precision::Auto;
        assert_eq!(auto.resolve(true, false), Compute::Bf16);
        assert_eq!(auto.resolve(false, true), Compute::Bf16);
        assert_eq!(auto.resolve(false, false), Compute::Fp32);
        for (cuda, cpu) in [(false, false), (true, true)] {
            assert_eq!(Precision::Fp32.resolve(cuda, cpu), Compute::Fp32);
            assert_eq!(Precision::Bf16.resolve(cuda, cpu), Compute::Bf16);
        }
        assert_eq!(crate::spelling(&Precision::Bf16), "bf16");
        assert_eq!(serde_json::to_string(&Compute::Bf16).unwrap(), "\"bf16\"");
    }
}
