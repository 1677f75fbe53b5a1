//! Tidy checks, run as tests so `cargo test` enforces them: module headers,
//! no debugging leftovers or stubs, commented lint allowances, and docs that
//! name every crate.

use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;

/// Every tracked-looking Rust file of the workspace (target/ and hidden folders excluded).
fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" || name == "data" {
                continue;
            }
            if path.is_dir() {
                walk(&path, out);
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&project_root(), &mut out);
    out.sort();
    out
}

fn relative(path: &Path) -> String {
    path.strip_prefix(project_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_module_starts_with_a_doc_header() {
    let missing: Vec<String> = rust_files()
        .into_iter()
        .filter(|p| {
            let text = fs::read_to_string(p).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| relative(&p))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` module header:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_debugging_leftovers_or_stubs() {
    // Built from pieces so this file does not match itself.
    let banned = [
        ["dbg", "!("].concat(),
        ["todo", "!("].concat(),
        ["unimplemented", "!("].concat(),
        ["#[", "ignore"].concat(),
        ["#[", "should_panic"].concat(),
    ];
    let mut hits = Vec::new();
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            for pattern in &banned {
                if line.contains(pattern.as_str()) {
                    hits.push(format!("{}:{}: {}", relative(&path), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(hits.is_empty(), "banned constructs:\n{}", hits.join("\n"));
}

#[test]
fn every_lint_allowance_says_why() {
    let mut hits = Vec::new();
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if !line.contains(&["allow(", "clippy::"].concat()) {
                continue;
            }
            let commented =
                line.contains("//") || (n > 0 && lines[n - 1].trim_start().starts_with("//"));
            if !commented {
                hits.push(format!("{}:{}", relative(&path), n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "lint allowances without a comment:\n{}",
        hits.join("\n")
    );
}

#[test]
fn architecture_and_readme_name_every_crate() {
    let root = project_root();
    let architecture =
        fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mut crates: Vec<String> = fs::read_dir(root.join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.push("xtask".to_owned());
    let missing: Vec<&String> = crates
        .iter()
        .filter(|c| !architecture.contains(&format!("`{c}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md has no entry for: {missing:?}"
    );
    let readme = fs::read_to_string(root.join("README.md")).expect("README.md exists");
    for command in ["cargo xtask test", "cargo xtask reproduce"] {
        assert!(
            readme.contains(command),
            "README.md must document `{command}`"
        );
    }
    let ci = fs::read_to_string(root.join(".ci/run")).expect(".ci/run exists");
    assert!(
        ci.contains("cargo xtask test"),
        ".ci/run must call the README's test command"
    );
}
