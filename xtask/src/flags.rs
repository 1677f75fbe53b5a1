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
            /// Skip the end-to-end reproduce check (smoke study, rerun, kill and restart).
            optional --no-reproduce
        }
        /// Every stage's benchmark against PyTorch / numpy / scikit-learn, in one table.
        cmd bench {}
        /// Run the whole study (keyed, resumable steps) and write OUT/REPORT.md.
        cmd reproduce {
            /// Sizes: smoke (minutes, CPU), quick (CPU, about 25 min), full (GPU). Default: quick.
            optional --profile profile: String
            /// Output folder. Default: data/reproduce-<profile>.
            optional --out out: PathBuf
            /// Device for the torch stages: auto, cpu, cuda or cuda:N. Default: auto.
            optional --device device: String
            /// Precision of pre-training and extraction: auto (bf16 on CUDA and on CPUs with AMX or AVX-512 BF16), fp32 or bf16. Default: auto.
            optional --precision precision: String
            /// First seed; the profile's repeats use seed, seed+1, ... Default: 0.
            optional --seed seed: u64
            /// synth (embedded, default) or cifar10-pacs (needs --data-dir).
            optional --benchmark benchmark: String
            /// Folder of a real benchmark's files (e.g. ../shared/data).
            optional --data-dir data_dir: PathBuf
            /// Steps run at once as separate processes. Default: 1.
            optional -j, --jobs jobs: usize
            /// Run only share i of n of every stage (e.g. Slurm array tasks on one shared --out).
            optional --shard shard: String
            /// Print the plan (steps, cached or to run) and run nothing.
            optional --dry-run
        }
    }
}
