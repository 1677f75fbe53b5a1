//! Every stage of the smoke study `cargo xtask test` has just run names the
//! code that made its outputs: the commit `run.json` records.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::Result;

/// The JSON records each stage writes, by file name, and the stage writing it.
const RECORDS: [(&str, &str); 5] = [
    ("benchmark.json", "nml-data synth"),
    ("config.json", "nml-pretrain and nml-features"),
    ("spectral.json", "nml-spectral"),
    ("summary.json", "nml-tune"),
    ("head.json", "nml-tune"),
];

/// Every record of [`RECORDS`] under `out` (outside `logs/` and `.steps/`) has
/// a `code_version` naming run.json's `git_commit`, and each kind is found.
pub(super) fn code_version_check(out: &Path) -> Result<()> {
    let run = nml_study::RunRecord::read(&out.join("run.json")).map_err(|e| e.to_string())?;
    let commit = run.provenance.git_commit.as_str();
    if commit.is_empty() {
        return Err(format!("{}: no git_commit", out.join("run.json").display()).into());
    }
    let expected = format!(", commit {commit}");
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !matches!(name, "logs" | ".steps" | ".slurm") {
                    stack.push(path);
                }
                continue;
            }
            let Some((record, _)) = RECORDS.iter().find(|(file, _)| *file == name) else {
                continue;
            };
            let value: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path)?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            match value["code_version"].as_str() {
                Some(v) if v.ends_with(&expected) => *found.entry(record).or_default() += 1,
                other => {
                    return Err(format!(
                        "{}: code_version {other:?}, expected one ending `{expected}`",
                        path.display()
                    )
                    .into())
                }
            }
        }
    }
    for (file, stage) in RECORDS {
        if !found.contains_key(file) {
            return Err(format!("no {file} ({stage}) under {}", out.display()).into());
        }
    }
    eprintln!(
        "xtask test: every record names commit {commit} ({})",
        found
            .iter()
            .map(|(f, n)| format!("{n} {f}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
