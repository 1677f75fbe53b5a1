//! `cargo xtask test`: the README's test command and the only thing `.ci/run` calls.

use xshell::{cmd, Shell};

use crate::{cargo, flags, setup, Result};

pub(crate) fn run(sh: &Shell, flags: &flags::Test) -> Result<()> {
    setup::run(sh, false)?;
    let cargo = cargo();
    cmd!(sh, "{cargo} fmt --all --check").run()?;
    // The cross-language checks of tests/python must run here, never silently skip.
    cmd!(sh, "{cargo} test --workspace --locked")
        .env("NML_REQUIRE_PYTHON", "1")
        .run()?;
    if !flags.no_clippy {
        cmd!(
            sh,
            "{cargo} clippy --workspace --all-targets --locked -- -D warnings"
        )
        .run()?;
    }
    eprintln!("xtask test: all checks passed");
    Ok(())
}
