//! Helpers for the workspace-level tests in `tests/it`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The project's Python (`NML_PYTHON`, set by `.cargo/config.toml` to `.venv/bin/python`).
///
/// Returns `None` when it does not exist, unless `NML_REQUIRE_PYTHON=1`
/// (set by `cargo xtask test`), in which case a missing Python is a failure:
/// the cross-language checks must not be skipped in CI.
pub fn python() -> Option<PathBuf> {
    let path = std::env::var_os("NML_PYTHON").map(PathBuf::from);
    let found = path.filter(|p| p.exists());
    if found.is_none() && std::env::var("NML_REQUIRE_PYTHON").is_ok_and(|v| v == "1") {
        panic!("NML_REQUIRE_PYTHON=1 but NML_PYTHON does not name an existing interpreter; run `cargo xtask setup`");
    }
    found
}

/// Runs `tests/python/<script>` with `args`; panics with its output when it fails.
pub fn run_python(python: &Path, script: &str, args: &[&Path]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let output = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        output.status
    );
    stdout
}
