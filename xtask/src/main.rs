//! Project automation for nml, run as `cargo xtask <command>`.
//!
//! - `setup`: install torch 2.11.0 into a cached virtualenv and link it at `.venv`.
//! - `test`: setup, then `cargo test --workspace` and clippy with `-D warnings`.
//! - `reproduce`: run the whole study and write the report;
//! - `bench`: every stage's benchmark against its Python equivalent, one table.
//!
//! xtask itself never links libtorch, so it builds on a machine without one.

mod bench;
mod cluster;
mod flags;
mod reproduce;
mod setup;
mod test;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use xshell::Shell;

/// Errors of xtask commands: a message for the user, nothing more.
pub(crate) type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

fn main() -> ExitCode {
    let flags = flags::Xtask::from_env_or_exit();
    let result = Shell::new().map_err(Into::into).and_then(|sh| {
        sh.change_dir(project_root());
        match flags.subcommand {
            flags::XtaskCmd::Setup(cmd) => setup::run(&sh, cmd.force).and_then(|()| {
                if cmd.slurm {
                    setup::slurm(&sh)
                } else {
                    Ok(())
                }
            }),
            flags::XtaskCmd::Test(cmd) => test::run(&sh, &cmd),
            flags::XtaskCmd::Reproduce(cmd) => reproduce::run(&sh, &cmd),
            flags::XtaskCmd::Bench(_) => bench::run(&sh),
            flags::XtaskCmd::RunStep(cmd) => reproduce::slurm::run_step(&cmd.job),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the folder above `xtask/`).
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace root")
        .to_path_buf()
}

/// The cargo that runs us (so toolchain overrides carry through).
pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
