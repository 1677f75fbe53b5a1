//! Build-script helper shared by every crate that links libtorch.
//!
//! `torch-sys` tells the linker where libtorch lives but leaves two gaps:
//! binaries need `LD_LIBRARY_PATH` to start, and rustc's default `--as-needed`
//! drops `libtorch_cuda.so` because no Rust symbol refers to it, which silently
//! turns CUDA off.
//! [`link_libtorch`] closes both gaps with link arguments.
//! Cargo passes `rustc-link-arg` only to the emitting package's own targets,
//! so every package that links libtorch calls it from its own `build.rs` and
//! lists `torch-sys` as a direct dependency (that is what exposes
//! `DEP_TCH_LIBTORCH_LIB` to the build script).

// Cargo reads build-script instructions from stdout.
#![allow(clippy::print_stdout)]

use std::env;
use std::path::PathBuf;

/// Emits the rpath and the forced `libtorch_cuda` link for the calling package.
///
/// Also sets `NML_LIBTORCH_LIB` at compile time to the libtorch `lib` folder the
/// build linked against.
///
/// # Panics
/// When the package does not depend on `torch-sys` directly, because then the
/// libtorch location is unknown and the build would produce binaries that
/// cannot start.
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(raw) = env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        panic!(
            "DEP_TCH_LIBTORCH_LIB is not set: add `torch-sys.workspace = true` to this \
             package's [dependencies] so its build script learns where libtorch lives"
        );
    };
    // Canonical path: the rpath then survives the `.venv` symlink being replaced.
    let lib = std::fs::canonicalize(&raw).unwrap_or_else(|_| PathBuf::from(&raw));
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "macos" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
    if target_os == "linux" && lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    println!("cargo:rustc-env=NML_LIBTORCH_LIB={}", lib.display());
}
