//! The refusal property every binary is tested for: a request it must refuse
//! exits non-zero (not a panic, not a signal), prints exactly one `error:`
//! line naming what is wrong, and leaves every byte under its folder as it
//! was. Each binary's `tests/it/refusals.rs` holds a table of [`Refusal`]s
//! run against a folder populated with valid inputs and a finished output;
//! a new flag or mode joins the table.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One request that must be refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// What the request gets wrong, for the failure message.
    pub what: String,
    /// The arguments, relative paths resolved from the folder under test.
    pub args: Vec<OsString>,
    /// Text the error line must contain (the flag or file it names).
    pub needles: Vec<String>,
}

impl Refusal {
    pub fn new<S: AsRef<std::ffi::OsStr>>(
        what: &str,
        args: impl IntoIterator<Item = S>,
        needles: &[&str],
    ) -> Refusal {
        Refusal {
            what: what.to_owned(),
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            needles: needles.iter().map(|n| (*n).to_owned()).collect(),
        }
    }
}

/// What a folder holds: every entry's kind and, for files, its bytes' hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree(BTreeMap<PathBuf, Entry>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Folder,
    File(String),
    Link(PathBuf),
}

impl Tree {
    /// Walks `root` (links are recorded, not followed).
    pub fn of(root: &Path) -> Tree {
        let mut entries = BTreeMap::new();
        walk(root, root, &mut entries);
        Tree(entries)
    }

    /// The first difference from `other`, in words, if any.
    pub fn difference(&self, other: &Tree) -> Option<String> {
        for (path, entry) in &self.0 {
            match other.0.get(path) {
                None => return Some(format!("{} was removed", path.display())),
                Some(e) if e != entry => return Some(format!("{} changed", path.display())),
                _ => {}
            }
        }
        other
            .0
            .keys()
            .find(|p| !self.0.contains_key(*p))
            .map(|p| format!("{} was created", p.display()))
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in read.flatten() {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            out.insert(relative, Entry::Link(target));
        } else if meta.is_dir() {
            out.insert(relative, Entry::Folder);
            walk(root, &path, out);
        } else {
            let hash = crate::hash_file(&path)
                .map(|h| h.to_hex())
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            out.insert(relative, Entry::File(hash));
        }
    }
}

/// Runs every request of `cases` with `binary` in `root` and checks the
/// refusal property of each; the error lists every request that broke it.
pub fn check_refusals(binary: &Path, root: &Path, cases: &[Refusal]) -> Result<(), String> {
    let mut failures = Vec::new();
    for case in cases {
        if let Err(why) = check_one(binary, root, case) {
            failures.push(format!("{}: {why}", case.what));
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "{} of {} requests broke the refusal property:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        )),
    }
}

/// [`check_refusals`], panicking with its report when a request broke the property.
pub fn assert_refusals(binary: &Path, root: &Path, cases: &[Refusal]) {
    if let Err(why) = check_refusals(binary, root, cases) {
        panic!("{why}");
    }
}

/// Runs `binary` with `args` in `root` to populate it; panics with its stderr unless it succeeds.
pub fn run_ok<S: AsRef<std::ffi::OsStr>>(
    binary: &Path,
    root: &Path,
    args: impl IntoIterator<Item = S>,
) {
    let out = Command::new(binary)
        .args(args)
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        binary.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check_one(binary: &Path, root: &Path, case: &Refusal) -> Result<(), String> {
    let before = Tree::of(root);
    let output = Command::new(binary)
        .args(&case.args)
        .current_dir(root)
        .env_remove("RUST_LOG")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let after = Tree::of(root);
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        None => return Err(format!("killed by a signal:\n{stderr}")),
        Some(0) => return Err("accepted".to_owned()),
        Some(101) => return Err(format!("panicked:\n{stderr}")),
        Some(_) => {}
    }
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 || !lines[0].starts_with("error: ") {
        return Err(format!("not one `error:` line:\n{stderr}"));
    }
    if let Some(missing) = case.needles.iter().find(|n| !lines[0].contains(n.as_str())) {
        return Err(format!("`{missing}` not in: {}", lines[0]));
    }
    if let Some(change) = before.difference(&after) {
        return Err(format!("refused ({}) but {change}", lines[0]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_sees_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("a")).unwrap();
        std::fs::write(d.join("a/x"), b"1").unwrap();
        let before = Tree::of(d);
        assert_eq!(before.difference(&Tree::of(d)), None);
        std::fs::write(d.join("a/x"), b"2").unwrap();
        assert!(before.difference(&Tree::of(d)).unwrap().contains("changed"));
        std::fs::write(d.join("a/x"), b"1").unwrap();
        std::fs::write(d.join("y"), b"").unwrap();
        assert!(before.difference(&Tree::of(d)).unwrap().contains("created"));
        std::fs::remove_file(d.join("y")).unwrap();
        std::fs::remove_file(d.join("a/x")).unwrap();
        assert!(before.difference(&Tree::of(d)).unwrap().contains("removed"));
    }

    #[test]
    fn the_property_fails_a_command_that_writes_or_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let sh = Path::new("/bin/sh");
        let refuses = |script: &str| Refusal::new("case", ["-c", script], &["bad"]);
        assert!(
            check_refusals(sh, dir.path(), &[refuses("echo 'error: bad' >&2; exit 1")]).is_ok()
        );
        for script in [
            "exit 0",
            "echo 'error: bad' >&2; echo more >&2; exit 1",
            "echo 'error: other' >&2; exit 1",
            "echo 'error: bad' >&2; exit 101",
            "echo x > f; echo 'error: bad' >&2; exit 1",
        ] {
            let result = check_refusals(sh, dir.path(), &[refuses(script)]);
            assert!(result.is_err(), "{script} passed");
            let _ = std::fs::remove_file(dir.path().join("f"));
        }
    }
}
