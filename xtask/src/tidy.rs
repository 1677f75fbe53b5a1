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
    check_front_door(&readme);
    let ci = fs::read_to_string(root.join(".ci/run")).expect(".ci/run exists");
    assert!(
        ci.contains("cargo xtask test"),
        ".ci/run must call the README's test command"
    );
}

/// The README is a front door: at most 170 lines, the embeddings quick start
/// (`nml-tune fit`) in its first 60, and no issue numbers or dated
/// measurements (those live in docs/, beside their machine and command).
fn check_front_door(readme: &str) {
    let lines: Vec<&str> = readme.lines().collect();
    assert!(
        lines.len() <= 170,
        "README.md has {} lines; at most 170 (depth goes to docs/)",
        lines.len()
    );
    assert!(
        lines
            .iter()
            .take(60)
            .any(|l| l.contains("nml-tune fit --embeddings")),
        "README.md must show `nml-tune fit --embeddings` in its first 60 lines"
    );
    for (n, line) in lines.iter().enumerate() {
        let lower = line.to_lowercase();
        let issue = lower
            .match_indices("issue ")
            .any(|(at, _)| lower[at + 6..].starts_with(|c: char| c.is_ascii_digit()));
        let dated = line.as_bytes().windows(10).any(|w| {
            w[..4].iter().all(u8::is_ascii_digit)
                && w[4] == b'-'
                && w[7] == b'-'
                && w[5..7].iter().chain(&w[8..]).all(u8::is_ascii_digit)
        });
        assert!(
            !issue,
            "README.md line {}: an issue number belongs in docs/ or the history",
            n + 1
        );
        assert!(
            !dated,
            "README.md line {}: a dated measurement belongs in docs/",
            n + 1
        );
    }
}

/// Largest source file, inline tests included (files under `tests/` and `benches/` excepted).
const MAX_FILE_LINES: usize = 500;
/// Largest function outside tests.
const MAX_FN_LINES: usize = 100;

/// Whether `path` is test or benchmark code, which the size limits leave alone.
fn is_test_code(path: &str) -> bool {
    path.split('/')
        .any(|part| part == "tests" || part == "benches")
}

/// `line` with string and char literals and comments blanked, so braces in them do not count.
fn code_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => break,
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('{', '\''), or a lifetime ('a), which is kept.
                let rest: String = chars.clone().take(3).collect();
                let literal = rest.starts_with('\\') || rest.chars().nth(1) == Some('\'');
                if literal {
                    while let Some(c) = chars.next() {
                        if c == '\\' {
                            chars.next();
                        } else if c == '\'' {
                            break;
                        }
                    }
                }
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out
}

/// Functions of `text` longer than `max` lines, outside `#[cfg(test)]` modules: (name, first line, lines).
fn long_functions(text: &str, max: usize) -> Vec<(String, usize, usize)> {
    let mut long = Vec::new();
    let mut depth = 0usize;
    // Open functions: (name, first line, depth inside its body).
    let mut open: Vec<(String, usize, usize)> = Vec::new();
    let mut pending: Option<(String, usize)> = None;
    let mut test_depth: Option<usize> = None;
    let mut cfg_test = false;
    for (n, line) in text.lines().enumerate() {
        let code = code_of(line.trim());
        if code.starts_with("#[cfg(test)]") {
            cfg_test = true;
        }
        if pending.is_none() {
            let words: Vec<&str> = code.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "fn") {
                let qualifiers = [
                    "pub",
                    "pub(crate)",
                    "pub(super)",
                    "const",
                    "async",
                    "unsafe",
                ];
                if words[..i].iter().all(|w| qualifiers.contains(w)) {
                    let name = words
                        .get(i + 1)
                        .map_or("", |w| w.split(['(', '<']).next().unwrap_or(w));
                    pending = Some((name.to_owned(), n));
                }
            }
        }
        for c in code.chars() {
            match c {
                '{' => {
                    depth += 1;
                    if cfg_test && test_depth.is_none() {
                        test_depth = Some(depth);
                        cfg_test = false;
                    }
                    if let Some((name, start)) = pending.take() {
                        open.push((name, start, depth));
                    }
                }
                '}' => {
                    if open.last().is_some_and(|f| f.2 == depth) {
                        let (name, start, _) = open.pop().unwrap_or_default();
                        let lines = n - start + 1;
                        if lines > max && test_depth.is_none() {
                            long.push((name, start + 1, lines));
                        }
                    }
                    if test_depth == Some(depth) {
                        test_depth = None;
                    }
                    depth = depth.saturating_sub(1);
                }
                ';' if pending.is_some() && open.last().map_or(0, |f| f.2) == depth => {
                    // A declaration without a body (a trait method).
                    pending = None;
                }
                _ => {}
            }
        }
    }
    long
}

#[test]
fn files_and_functions_stay_small() {
    let mut hits = Vec::new();
    for path in rust_files() {
        let name = relative(&path);
        if is_test_code(&name) {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            hits.push(format!("{name}: {lines} lines (at most {MAX_FILE_LINES})"));
        }
        for (f, start, lines) in long_functions(&text, MAX_FN_LINES) {
            hits.push(format!(
                "{name}:{start}: fn {f} has {lines} lines (at most {MAX_FN_LINES})"
            ));
        }
    }
    assert!(
        hits.is_empty(),
        "split these (a module per concern, a function per step):\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_size_check_sees_long_functions_and_skips_tests() {
    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    let text = format!(
        "fn long() {{\n{body}}}\nfn short() {{ let s = \"}}\"; }}\n#[cfg(test)]\nmod tests {{\n    fn long_test() {{\n{body}    }}\n}}\n"
    );
    let long = long_functions(&text, MAX_FN_LINES);
    assert_eq!(long, [("long".to_owned(), 1, MAX_FN_LINES + 2)]);
    assert!(long_functions(&text, MAX_FN_LINES + 2).is_empty());
    assert_eq!(
        code_of(r#"let c = '{'; let s = "{"; // {"#),
        "let c = '; let s = \"\"; "
    );
    assert!(is_test_code("crates/nml-core/tests/it/main.rs"));
    assert!(!is_test_code("crates/nml-core/src/table.rs"));
}

/// The files of the module tree rooted at `root` (`mod x;` declarations followed to
/// `x.rs` or `x/mod.rs`).
fn module_tree(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.to_path_buf()];
    let mut next = 0;
    while let Some(file) = files.get(next).cloned() {
        next += 1;
        let text = fs::read_to_string(&file).unwrap_or_default();
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
        let dir = match stem.as_deref() {
            Some("lib" | "main" | "mod") => file.parent().map(Path::to_path_buf),
            Some(stem) => file.parent().map(|p| p.join(stem)),
            None => None,
        };
        let Some(dir) = dir else { continue };
        for line in text.lines() {
            let line = line.trim_start().trim_start_matches("pub(crate) ");
            let line = line.trim_start_matches("pub ");
            let Some(name) = line.strip_prefix("mod ").and_then(|l| l.strip_suffix(';')) else {
                continue;
            };
            let flat = dir.join(format!("{name}.rs"));
            files.push(if flat.exists() {
                flat
            } else {
                dir.join(name).join("mod.rs")
            });
        }
    }
    files
}

/// The root file of every `[lib]` or `[[bin]]` target that `manifest` marks `test = false`.
fn untested_roots(manifest: &str, crate_dir: &Path) -> Vec<PathBuf> {
    let mut roots = Vec::new();
    let mut section = String::new();
    let mut path = None;
    let mut untested = false;
    let mut close = |section: &str, path: &mut Option<String>, untested: &mut bool| {
        let default = match section {
            "[lib]" => Some("src/lib.rs".to_owned()),
            _ => None,
        };
        if *untested {
            if let Some(p) = path.take().or(default) {
                roots.push(crate_dir.join(p));
            }
        }
        *path = None;
        *untested = false;
    };
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            close(&section, &mut path, &mut untested);
            line.clone_into(&mut section);
        } else if section == "[lib]" || section == "[[bin]]" {
            let value = line.split_once('=').map(|(k, v)| (k.trim(), v.trim()));
            match value {
                Some(("test", "false")) => untested = true,
                Some(("path", v)) => path = Some(v.trim_matches('"').to_owned()),
                _ => {}
            }
        }
    }
    close(&section, &mut path, &mut untested);
    roots
}

/// `test = false` (which saves linking a test executable per target on the 2-core CI)
/// must never hide tests: a target marked so has no `#[cfg(test)]` in its modules.
#[test]
fn untested_targets_hold_no_tests() {
    let root = project_root();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.push(root.join("tests"));
    let mut hits = Vec::new();
    let mut untested = 0;
    for dir in dirs {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        for target in untested_roots(&manifest, &dir) {
            untested += 1;
            for file in module_tree(&target) {
                let text = fs::read_to_string(&file).unwrap_or_default();
                if text.contains("#[cfg(test)]") {
                    hits.push(format!(
                        "{} (tests of a `test = false` target)",
                        relative(&file)
                    ));
                }
            }
        }
    }
    assert!(
        untested > 0,
        "no `test = false` target found: is the manifest parser broken?"
    );
    assert!(
        hits.is_empty(),
        "these tests would never run:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_untested_target_check_follows_modules() {
    let dir = tempfile_dir("tidy-untested");
    fs::create_dir_all(dir.join("src/sub")).unwrap();
    fs::write(
        dir.join("src/main.rs"),
        "mod a;\npub(crate) mod sub;\nfn main() {}\n",
    )
    .unwrap();
    fs::write(dir.join("src/a.rs"), "//! a\n").unwrap();
    fs::write(dir.join("src/sub/mod.rs"), "mod b;\n").unwrap();
    fs::write(dir.join("src/sub/b.rs"), "#[cfg(test)]\nmod tests {}\n").unwrap();
    let manifest = "[lib]\ndoctest = false\n\n[[bin]]\nname = \"x\"\npath = \"src/main.rs\"\ntest = false\n\n[dependencies]\ntest = false\n";
    let roots = untested_roots(manifest, &dir);
    assert_eq!(roots, [dir.join("src/main.rs")]);
    let tree = module_tree(&roots[0]);
    assert_eq!(
        tree,
        [
            dir.join("src/main.rs"),
            dir.join("src/a.rs"),
            dir.join("src/sub/mod.rs"),
            dir.join("src/sub/b.rs")
        ]
    );
    assert_eq!(
        untested_roots("[lib]\ntest = false\n", &dir),
        [dir.join("src/lib.rs")]
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// A fresh folder under the target directory for a tidy test's files.
fn tempfile_dir(name: &str) -> PathBuf {
    let dir = project_root().join("target/tidy").join(name);
    let _ = fs::remove_dir_all(&dir);
    dir
}
