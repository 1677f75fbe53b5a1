//! Command-line flags of xtask (xflags: fast to compile).

use std::path::PathBuf;

xflags::xflags! {
    /// Project automation for nml.
    cmd xtask {
        /// Install torch 2.11.0 into a cached virtualenv (~/.cache/nml) and link it at .venv.
        cmd setup {
            /// Re-run the pip install even when the environment is up to date.
            optional --force
            /// Also install Slurm and munge (Debian's slurm-wlm, munge) for the Slurm executor's test.
            optional --slurm
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
            /// Steps run at once as separate processes (CPU steps in all, CUDA steps per GPU). Default: 1.
            optional -j, --jobs jobs: usize
            /// Device of the heads (nml-tune steps): cpu, cuda, cuda:N or auto. Default: --device.
            optional --head-device head_device: String
            /// CPU cores the jobs share (threads per step = cores / jobs). Default: this machine's; with --dry-run, the estimate's machine.
            optional --cores cores: usize
            /// GPUs the local runner places CUDA steps on, e.g. cuda:0,cuda:1 (default with --device cuda: every visible one).
            optional --devices devices: String
            /// Where steps run: local (this machine, default) or slurm (one sbatch job per step).
            optional --executor executor: String
            /// With --executor slurm: an sbatch argument for every job (repeatable), e.g. --slurm-arg --partition=gpu.
            repeated --slurm-arg slurm_args: String
            /// With --executor slurm: wait for the study's jobs (an earlier submission's first) and say how it ended.
            optional --wait
            /// With --executor slurm: print how many steps are done, queued, running and failed; submit nothing.
            optional --status
            /// Print the plan (steps, cached or to run) and run nothing.
            optional --dry-run
        }
        /// Internal: one step of a study as a Slurm job runs it (stamps, outputs, the stage binary).
        cmd run-step {
            /// The step's job file (`OUT/.slurm/<step>.json`, written at submission).
            required job: PathBuf
        }
    }
}
