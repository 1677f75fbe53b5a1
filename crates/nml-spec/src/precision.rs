//! `--precision auto|fp32|bf16`: the numeric precision a stage computes in,
//! and what `auto` resolves to.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DeviceSpec;

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
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    #[default]
    Fp32,
    Bf16,
}

/// What the CPU does with subnormal floats (below 1.2e-38 in float32) in a
/// stage's computing threads; recorded in its outputs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Denormals {
    /// Flush to zero (MXCSR FTZ and DAZ, as `torch.set_flush_denormal(True)`):
    /// no microcode assists; values that small round to 0.
    #[default]
    Flush,
    /// IEEE gradual underflow, PyTorch's default: bit for bit what an
    /// unflushed PyTorch computes, at up to twice the time on small heads.
    Keep,
}

impl fmt::Display for Denormals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Denormals::Flush => "flush",
            Denormals::Keep => "keep",
        })
    }
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

impl Precision {
    /// What a study passes its steps for `device`: the concrete precision
    /// where this machine decides it (`cpu`: from [`cpu_bf16_flags`]; `cuda`:
    /// bf16), so a step's key says what it computes in; with `--device auto`,
    /// `auto` itself (each step resolves it and records the result).
    pub fn for_device(self, device: DeviceSpec) -> Precision {
        let concrete = |c: Compute| match c {
            Compute::Fp32 => Precision::Fp32,
            Compute::Bf16 => Precision::Bf16,
        };
        match (self, device) {
            (Precision::Auto, DeviceSpec::Auto) => Precision::Auto,
            (Precision::Auto, DeviceSpec::Cpu) => {
                concrete(self.resolve(false, !cpu_bf16_flags().is_empty()))
            }
            (Precision::Auto, DeviceSpec::Cuda(_)) => concrete(self.resolve(true, false)),
            (Precision::Fp32 | Precision::Bf16, _) => self,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Precision, String> {
        match s {
            "auto" => Ok(Precision::Auto),
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            other => Err(format!("`{other}` is not a precision (auto, fp32, bf16)")),
        }
    }
}

/// The CPU's bfloat16 instructions that oneDNN uses (`amx_bf16`,
/// `avx512_bf16`), as `/proc/cpuinfo` lists them (Linux; empty elsewhere).
pub fn cpu_bf16_flags() -> Vec<&'static str> {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return Vec::new();
    };
    let flags: BTreeSet<&str> = info
        .lines()
        .filter(|l| l.starts_with("flags"))
        .flat_map(|l| l.split_whitespace())
        .collect();
    ["amx_bf16", "avx512_bf16"]
        .into_iter()
        .filter(|f| flags.contains(f))
        .collect()
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
