//! The real-models benchmark in its smoke form, where the shared data is.

use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{project_root, Result};

/// The shared data folder (`NML_SHARED_DATA`, else `../shared/data` beside the
/// work tree), when it holds the real datasets.
fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("NML_SHARED_DATA")
        .map_or_else(|| project_root().join("../shared/data"), PathBuf::from);
    dir.join("README.md").exists().then_some(dir)
}

/// The `real-models` benchmark in its smoke form (every task of the catalogue
/// on 12 rows per class and split, 2 head epochs): a complete report with the
/// k-NN and auto columns and claim 6 decided. Skipped without the shared data.
pub(super) fn real_models_check(env: &[(&str, OsString)]) -> Result<()> {
    let Some(data) = shared_data() else {
        eprintln!("xtask test: real-models smoke skipped (no shared data; set NML_SHARED_DATA)");
        return Ok(());
    };
    let out = project_root().join("target/reproduce-check/real-models");
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    let start = Instant::now();
    eprintln!(
        "xtask test: reproduce --benchmark real-models --profile smoke into {}",
        out.display()
    );
    let mut c = Command::new(std::env::current_exe().expect("xtask knows its own path"));
    c.envs(env.iter().map(|(k, v)| (k, v)));
    let output = c
        .args([
            "reproduce",
            "--benchmark",
            "real-models",
            "--profile",
            "smoke",
        ])
        .args(["--jobs", "2", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .current_dir(project_root())
        .stderr(Stdio::piped())
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "reproduce --benchmark real-models failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    for table in ["tuning", "knn", "claims", "timings"] {
        let path = out.join("results").join(format!("{table}.parquet"));
        if fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(format!("{} is missing or empty", path.display()).into());
        }
    }
    for ext in ["png", "svg"] {
        let path = out.join("figures/nmtune-vs-lp").with_extension(ext);
        if fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == 0 {
            return Err(format!("{} is missing or empty", path.display()).into());
        }
    }
    let report = fs::read_to_string(out.join("REPORT.md"))?;
    for needle in [
        "## LP vs MLP vs NMTune, k-NN and auto: top-1 accuracy",
        "## Balanced accuracy",
        "| 6 | NMTune also helps real noisy foundation models",
        "NMTune > LP, OOD, every task",
        "*auto* kept: ",
        "mobilenet-v2/pacs-sketch | photo (OOD)",
        "all-minilm-l6-v2/sst2 | amazon (OOD)",
        "](figures/nmtune-vs-lp.png)",
    ] {
        if !report.contains(needle) {
            return Err(format!("{}: no `{needle}`", out.join("REPORT.md").display()).into());
        }
    }
    eprintln!(
        "xtask test: real-models smoke complete in {:.0}s",
        start.elapsed().as_secs_f64()
    );
    fs::remove_dir_all(&out)?;
    Ok(())
}
