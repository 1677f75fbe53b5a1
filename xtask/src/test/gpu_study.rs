//! `ci/gpu-study.sh` on the CPU: the script the GPU window runs, driven here
//! with a bundle of this build's binaries (what `ci/gpu-bundle.sh` packs, as
//! links) and `DEVICE=auto`, so that the study it plans is the smoke study
//! just run: it must find every step done, collect the report, figures,
//! tables and timings into its `OUT`, and, given a limit too short for a
//! fresh study, stop with 124 and the resume hint.

use std::path::Path;
use std::process::Command;

use crate::reproduce::binaries::{binary_of, PACKAGES};
use crate::{project_root, Result};

/// The binaries `ci/gpu-study.sh` needs in its bundle (nml-torch's is `nml-doctor`).
fn bundle(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let debug = project_root().join("target/debug");
    for bin in PACKAGES.map(binary_of) {
        std::os::unix::fs::symlink(debug.join(bin), dir.join(bin))?;
    }
    std::os::unix::fs::symlink(std::env::current_exe()?, dir.join("xtask"))?;
    Ok(())
}

fn script(bundle: &Path, out: &Path, study: &Path, limit: u32) -> Command {
    let root = project_root();
    let mut c = Command::new("bash");
    c.arg(root.join("ci/gpu-study.sh"))
        .args(["synth", "smoke"])
        .env("BUNDLE", bundle)
        .env("OUT", out)
        .env("STUDY", study)
        .env("LIMIT", limit.to_string())
        // The smoke check's own placement: `--device auto --jobs 2`.
        .env("DEVICE", "auto")
        .env("JOBS", "2")
        .env("NML_GPU_TORCH_LIB", root.join(".venv/libtorch/lib"))
        .env("NML_GIT_COMMIT", "gpu-study-check")
        .current_dir(&root);
    c
}

/// Runs the script on a copy of the finished smoke study `whole` (a run that
/// does work records the bundle's commit; this one does none), then on a fresh
/// folder with a 3 s limit.
pub(super) fn gpu_study_check(root: &Path, whole: &Path) -> Result<()> {
    let dir = root.join("gpu-study");
    let bin = dir.join("bundle");
    bundle(&bin)?;
    let study = dir.join("study");
    super::copy_tree(whole, &study)?;
    let out = dir.join("out");
    let output = script(&bin, &out, &study, 600).output()?;
    let log = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "ci/gpu-study.sh on the finished smoke study failed:\n{log}{}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    if super::steps_ran(&log) != Some(0) {
        return Err(format!(
            "ci/gpu-study.sh planned another study than the smoke check's:\n{log}"
        )
        .into());
    }
    super::check_outputs(&out)?;
    let timings = std::fs::read_to_string(out.join("timings.txt"))?;
    if !timings.contains("gpu-study: exit 0 after") || !timings.contains("wall-clock") {
        return Err(format!(
            "{}: no exit line or no estimate:\n{timings}",
            out.join("timings.txt").display()
        )
        .into());
    }
    let cut = dir.join("cut");
    let output = script(&bin, &cut, &cut.join("study"), 3).output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() != Some(124) || !stderr.contains("run the same command again to resume")
    {
        return Err(format!(
            "ci/gpu-study.sh with LIMIT=3 on a fresh study: exit {:?}, expected 124 and the resume hint:\n{stderr}",
            output.status.code()
        )
        .into());
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
