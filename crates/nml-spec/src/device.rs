//! The `--device auto|cpu|cuda[:N]` choice, parsed without linking libtorch.
//!
//! `nml-torch` turns a [`DeviceSpec`] into a `tch::Device`; keeping the parse
//! here lets configs and CLIs of crates without libtorch name a device too.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `--device` string that is not `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDevice(pub String);

impl fmt::Display for BadDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid device `{}`: expected auto, cpu, cuda or cuda:N",
            self.0
        )
    }
}

impl std::error::Error for BadDevice {}

/// Which device a stage should run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceSpec {
    /// The first CUDA device when one is usable, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N (`cuda` means `cuda:0`).
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = BadDevice;

    fn from_str(s: &str) -> Result<Self, BadDevice> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| BadDevice(s.to_owned())),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let check = |s: &str, expect: Option<DeviceSpec>| {
            assert_eq!(s.parse::<DeviceSpec>().ok(), expect, "{s}");
        };
        check("auto", Some(DeviceSpec::Auto));
        check("CPU", Some(DeviceSpec::Cpu));
        check("cuda", Some(DeviceSpec::Cuda(0)));
        check("cuda:3", Some(DeviceSpec::Cuda(3)));
        check("cuda:x", None);
        check("tpu", None);
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
        let json = serde_json::to_string(&DeviceSpec::Cuda(1)).unwrap();
        assert_eq!(json, "\"cuda:1\"");
        assert_eq!(
            serde_json::from_str::<DeviceSpec>(&json).unwrap(),
            DeviceSpec::Cuda(1)
        );
        let err = "cuda:-1".parse::<DeviceSpec>().unwrap_err().to_string();
        assert!(
            err.contains("cuda:-1") && err.contains("auto, cpu"),
            "{err}"
        );
    }
}
