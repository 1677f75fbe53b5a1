//! The code version every stage writes into its JSON records (`code_version`).
//!
//! Binaries do not embed the commit at build time (that would rebuild every
//! crate on each commit); the study runner, which builds them from its work
//! tree, names the commit in [`COMMIT_ENV`] for every step it starts. A stage
//! run by hand without it says so in its record rather than guess.

/// The variable through which `cargo xtask reproduce` (and `ci/gpu-study.sh`,
/// from its bundle's `COMMIT`) names the commit the stage binaries were built
/// from, with ` (with uncommitted changes)` when the work tree was dirty.
pub const COMMIT_ENV: &str = "NML_GIT_COMMIT";

/// `nml VERSION, commit C`, or `nml VERSION, commit unknown (NML_GIT_COMMIT unset)`
/// when the stage was not started by the study runner.
pub fn code_version() -> String {
    code_version_of(std::env::var(COMMIT_ENV).ok().as_deref())
}

fn code_version_of(commit: Option<&str>) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match commit.map(str::trim).filter(|c| !c.is_empty()) {
        Some(commit) => format!("nml {version}, commit {commit}"),
        None => format!("nml {version}, commit unknown ({COMMIT_ENV} unset)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_commit_or_says_it_is_unknown() {
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            code_version_of(Some("abc123")),
            format!("nml {version}, commit abc123")
        );
        for missing in [None, Some(""), Some("  ")] {
            assert_eq!(
                code_version_of(missing),
                format!("nml {version}, commit unknown (NML_GIT_COMMIT unset)")
            );
        }
    }
}
