//! `cargo xtask reproduce`: chain the study's stages and write `OUT/REPORT.md`.
//!
//! It only chains stages; each stage is a crate with its own binary.
//! It never pretends: a stage that is not built yet is listed as such in the
//! report and on the terminal, and nothing stands in for its results.

use std::fs;
use std::path::PathBuf;

use xshell::{cmd, Shell};

use crate::{cargo, flags, project_root, setup, Result};

/// The study's stages in order, with the issue that builds each.
const STAGES: [(&str, &str, &str); 6] = [
    (
        "data",
        "nml-data",
        "generate the embedded synthetic benchmark or import real data (issue #3)",
    ),
    (
        "corrupt",
        "nml-noise",
        "inject label noise at 0/5/10/20/30 % (issue #3)",
    ),
    (
        "pretrain",
        "nml-pretrain",
        "pre-train one backbone per noise ratio (issue #4)",
    ),
    (
        "features",
        "nml-features",
        "extract frozen features for every downstream task (issue #5)",
    ),
    (
        "spectral",
        "nml-spectral",
        "singular value spectrum, SVE and LSVR (issue #5)",
    ),
    (
        "tune",
        "nml-tune",
        "LP, MLP and NMTune on ID and OOD tasks (issue #6)",
    ),
];

pub(crate) fn run(sh: &Shell, flags: &flags::Reproduce) -> Result<()> {
    let profile = flags.profile.clone().unwrap_or_else(|| "quick".to_owned());
    if !["smoke", "quick", "full"].contains(&profile.as_str()) {
        return Err(format!("unknown profile `{profile}`: expected smoke, quick or full").into());
    }
    let device = flags.device.clone().unwrap_or_else(|| "auto".to_owned());
    let out = flags
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("data/reproduce-{profile}")));
    let out = if out.is_absolute() {
        out
    } else {
        project_root().join(out)
    };
    setup::run(sh, false)?;

    let cargo = cargo();
    cmd!(sh, "{cargo} build --locked -p nml-torch --bin nml-doctor").run()?;
    let doctor = project_root().join("target/debug/nml-doctor");
    let environment = cmd!(sh, "{doctor} --device {device}").read()?;

    let built: Vec<bool> = STAGES
        .iter()
        .map(|(_, krate, _)| {
            project_root()
                .join("crates")
                .join(krate)
                .join("Cargo.toml")
                .exists()
        })
        .collect();
    let mut report = format!(
        "# nml reproduction report\n\nProfile: `{profile}`. Device request: `{device}`.\n\n\
         ## Environment\n\n```text\n{environment}\n```\n\n## Stages\n\n| stage | crate | status | what it does |\n|---|---|---|---|\n"
    );
    for ((name, krate, what), built) in STAGES.iter().zip(&built) {
        let status = if *built {
            "built, not yet chained"
        } else {
            "not built yet"
        };
        report.push_str(&format!("| {name} | `{krate}` | {status} | {what} |\n"));
    }
    let missing = built.iter().filter(|b| !**b).count();
    report.push_str(&format!(
        "\n{missing} of {} stages are not built yet, so this report has no results: \
         nothing stands in for a stage that does not exist.\n",
        STAGES.len()
    ));
    fs::create_dir_all(&out)?;
    let path = out.join("REPORT.md");
    let tmp = out.join(".REPORT.md.tmp");
    fs::write(&tmp, report)?;
    fs::rename(&tmp, &path)?;
    eprintln!("{environment}");
    for ((name, krate, _), built) in STAGES.iter().zip(&built) {
        if !built {
            eprintln!("reproduce: stage `{name}` ({krate}) is not built yet; skipped");
        }
    }
    eprintln!("reproduce: wrote {}", path.display());
    Ok(())
}
