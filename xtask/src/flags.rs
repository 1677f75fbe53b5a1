//! Command-line flags of xtask (xflags: fast to compile).

use std::path::PathBuf;

xflags::xflags! {
    /// Project automation for nml.
    cmd xtask {
        /// Install torch 2.11.0 into a cached virtualenv (~/.cache/nml) and link it at .venv.
        cmd setup {
            /// Re-run the pip install even when the environment is up to date.
            optional --force
        }
        /// Setup, cargo fmt --check, cargo test --workspace and cargo clippy -D warnings (the CI command).
        cmd test {
            /// Skip clippy (faster local iteration; CI never skips it).
            optional --no-clippy
        }
        /// Run every stage of the study that is built and write OUT/REPORT.md.
        cmd reproduce {
            /// Sizes: smoke (minutes, CPU), quick (CPU, < 30 min), full (GPU). Default: quick.
            optional --profile profile: String
            /// Output folder. Default: data/reproduce-<profile>.
            optional --out out: PathBuf
            /// Device for the torch stages: auto, cpu, cuda or cuda:N. Default: auto.
            optional --device device: String
            /// Seed of data generation, noise and training. Default: 0.
            optional --seed seed: u64
        }
    }
}
