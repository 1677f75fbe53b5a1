//! The stage binaries a study runs: built from the work tree into
//! `target/debug`, or taken as they are from `NML_BIN_DIR`.

use std::path::{Path, PathBuf};

use nml_study::Plan;
use xshell::{cmd, Shell};

use crate::{cargo, project_root, Result};

/// The packages whose binaries a study runs (`nml-torch` for `nml-doctor`).
pub(crate) const PACKAGES: [&str; 8] = [
    "nml-data",
    "nml-noise",
    "nml-pretrain",
    "nml-features",
    "nml-spectral",
    "nml-tune",
    "nml-report",
    "nml-torch",
];

/// The binary `package` of [`PACKAGES`] builds (nml-torch's is `nml-doctor`).
pub(crate) fn binary_of(package: &str) -> &str {
    match package {
        "nml-torch" => "nml-doctor",
        stage => stage,
    }
}

/// The stage binaries: `NML_BIN_DIR` (stage binaries built apart, e.g. a copy
/// made before a long run, so that rebuilding the work tree meanwhile cannot
/// change them mid-study), else `target/debug`.
pub(super) fn bin_dir() -> PathBuf {
    std::env::var_os("NML_BIN_DIR")
        .map_or_else(|| project_root().join("target/debug"), PathBuf::from)
}

/// Whether the binaries were built apart (`NML_BIN_DIR`): then every one the
/// plan needs must be there (checked before anything is written) and nothing
/// is rebuilt.
pub(super) fn prebuilt(plan: &Plan, bin_dir: &Path) -> Result<bool> {
    let prebuilt = std::env::var_os("NML_BIN_DIR").is_some();
    if prebuilt {
        check_binaries(plan, bin_dir)?;
    }
    Ok(prebuilt)
}

/// Builds every stage binary of the work tree into `target/debug`.
pub(super) fn build(sh: &Shell) -> Result<()> {
    let cargo = cargo();
    let packages: Vec<&str> = PACKAGES.iter().flat_map(|p| ["-p", p]).collect();
    cmd!(sh, "{cargo} build --locked --quiet --bins {packages...}").run()?;
    Ok(())
}

/// Every binary the plan runs, and `nml-doctor`, is a file in `NML_BIN_DIR`.
fn check_binaries(plan: &Plan, bin_dir: &Path) -> Result<()> {
    let programs: std::collections::BTreeSet<String> = plan
        .steps
        .iter()
        .map(|s| s.program.to_string())
        .chain([binary_of("nml-torch").to_owned()])
        .collect();
    for program in programs {
        if !bin_dir.join(&program).is_file() {
            return Err(format!(
                "NML_BIN_DIR={}: no `{program}` there (copy every stage binary of one build, `target/debug/nml-*`)",
                bin_dir.display()
            )
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nml_study::{Benchmark, DeviceSpec, Placement, Profile, Study};
    use std::fs;

    #[test]
    fn prebuilt_binaries_must_all_be_there() {
        let tmp = std::env::temp_dir().join(format!("nml-xtask-bins-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        let sizes = Profile::Smoke.sizes();
        let (study, _) = Study::new(Benchmark::Synth, None, &sizes, 0).unwrap();
        let plan = super::super::study_plan(&study, &sizes, 0, Placement::from(DeviceSpec::Cpu));
        // Every stage binary (nml-torch's is nml-doctor, left out first).
        for name in PACKAGES
            .map(binary_of)
            .iter()
            .filter(|b| **b != "nml-doctor")
        {
            fs::write(tmp.join(name), "").unwrap();
        }
        let err = check_binaries(&plan, &tmp).unwrap_err().to_string();
        assert!(err.contains("no `nml-doctor` there"), "{err}");
        fs::write(tmp.join("nml-doctor"), "").unwrap();
        check_binaries(&plan, &tmp).unwrap();
        fs::remove_file(tmp.join("nml-tune")).unwrap();
        let err = check_binaries(&plan, &tmp).unwrap_err().to_string();
        assert!(
            err.contains("NML_BIN_DIR=") && err.contains("`nml-tune`"),
            "{err}"
        );
        fs::remove_dir_all(&tmp).unwrap();
    }
}
