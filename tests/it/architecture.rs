//! ARCHITECTURE.md's crate graph is the code's: for every workspace crate, the
//! workspace crates it names after `→` are exactly its normal dependencies
//! among them (optional ones included) as `cargo metadata` reports them, and
//! every workspace crate has its line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The graph of the ```text block after "The crate graph" in ARCHITECTURE.md.
fn documented(text: &str) -> Graph {
    let at = text
        .find("The crate graph")
        .expect("ARCHITECTURE.md has a crate graph");
    let block = &text[at..];
    let start = block.find("```text").expect("the graph is a ```text block") + 7;
    let end = start + block[start..].find("```").expect("the block is closed");
    let mut graph = Graph::new();
    for line in block[start..end].lines().filter(|l| !l.trim().is_empty()) {
        let (name, rest) = line
            .split_once('→')
            .unwrap_or_else(|| panic!("no `→` in `{line}`"));
        let deps = rest
            .split_whitespace()
            .map(|t| t.trim_end_matches(','))
            .take_while(|t| t.starts_with("nml-") || *t == "(none)")
            .filter(|t| *t != "(none)")
            .map(str::to_owned)
            .collect();
        graph.insert(name.trim().to_owned(), deps);
    }
    graph
}

/// The normal dependencies among workspace crates, from `cargo metadata`.
fn resolved(root: &Path) -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let names: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .filter(|d| names.contains(d))
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn the_documented_crate_graph_is_the_resolved_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let (doc, code) = (documented(&text), resolved(&root));
    let mut wrong = Vec::new();
    for (name, deps) in &code {
        match doc.get(name) {
            None => wrong.push(format!("{name}: no line in the graph")),
            Some(d) if d != deps => {
                wrong.push(format!("{name}: documented {d:?}, cargo resolves {deps:?}"))
            }
            _ => {}
        }
    }
    wrong.extend(
        doc.keys()
            .filter(|n| !code.contains_key(*n))
            .map(|n| format!("{n}: not a workspace crate")),
    );
    assert!(
        wrong.is_empty(),
        "ARCHITECTURE.md's crate graph is not the code's:\n{}",
        wrong.join("\n")
    );
}
