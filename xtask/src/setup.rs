//! `cargo xtask setup`: make libtorch available to every cargo command of the workspace.
//!
//! torch 2.11.0 (and the Python packages the tests use) go into a virtualenv
//! cached per user and keyed by torch and Python version,
//! `~/.cache/nml/venv-torch<V>-cp<XY>` (override the folder with
//! `NML_CACHE_DIR`), so fresh clones reuse one 5 GB install.
//! The clone sees it through two links: `.venv` -> the cached venv, and
//! `.venv/libtorch` -> its `site-packages/torch`, which `.cargo/config.toml`
//! names as `LIBTORCH`.
//! The packages are installed by uv (pinned, itself installed into the venv by
//! pip), which fetches the 3 GB of wheels in parallel: 15 s against pip's 2 to
//! 4 minutes on the 2-core VM; pip installs them where uv cannot be had.
//! A stamp file in the venv records what was installed; when it matches
//! `python-requirements.txt` and the links are right, setup changes nothing.
//! A user's own `LIBTORCH` or `LIBTORCH_USE_PYTORCH` is respected: setup then
//! only checks it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use xshell::{cmd, Shell};

use crate::{project_root, Result};

/// The PyTorch version tch 0.24.0 is built for.
pub(crate) const TORCH_VERSION: &str = "2.11.0";
const REQUIREMENTS: &str = include_str!("../python-requirements.txt");
const STAMP: &str = ".nml-setup";
/// The installer; pinned so that what a fresh clone runs does not change under it.
const UV: &str = "uv==0.13.9";

pub(crate) fn run(sh: &Shell, force: bool) -> Result<()> {
    let root = project_root();
    let ours = root.join(".venv").join("libtorch");
    // `.cargo/config.toml` sets LIBTORCH to `ours` for every process cargo starts,
    // so only a different value is the user's own choice.
    if let Some(libtorch) =
        std::env::var_os("LIBTORCH").filter(|v| !v.is_empty() && Path::new(v) != ours)
    {
        let lib = Path::new(&libtorch).join("lib");
        if !lib.join("libtorch_cpu.so").exists() && !lib.join("libtorch_cpu.dylib").exists() {
            return Err(format!(
                "LIBTORCH={} has no lib/libtorch_cpu.so",
                lib.parent().unwrap().display()
            )
            .into());
        }
        eprintln!(
            "setup: using your LIBTORCH={} (expects PyTorch {TORCH_VERSION})",
            libtorch.to_string_lossy()
        );
        return Ok(());
    }
    if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
            "python"
        } else {
            "python3"
        };
        let version = cmd!(sh, "{python} -c 'import torch; print(torch.__version__)'").read()?;
        check_version(&version)?;
        eprintln!("setup: using the torch {version} of your {python} (LIBTORCH_USE_PYTORCH)");
        return Ok(());
    }

    let base = std::env::var("NML_BASE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let tag = cmd!(
        sh,
        "{base} -c 'import sys; print(f\"cp{sys.version_info[0]}{sys.version_info[1]}\")'"
    )
    .read()
    .map_err(|e| {
        format!("setup needs Python 3.10 or newer as `{base}` (or set NML_BASE_PYTHON): {e}")
    })?;
    let venv = cache_dir()?.join(format!("venv-torch{TORCH_VERSION}-{tag}"));
    let stamp = read_stamp(&venv);
    let torch_dir = match stamp {
        Some((requirements, torch_dir))
            if !force && requirements == REQUIREMENTS && torch_dir.exists() =>
        {
            torch_dir
        }
        _ => {
            let _lock = Lock::acquire(&venv.with_extension("lock"))?;
            install(sh, &base, &venv)?
        }
    };
    link(&venv.join("libtorch"), &torch_dir)?;
    link(&root.join(".venv"), &venv)?;
    eprintln!(
        "setup: torch {TORCH_VERSION} ready in {} (linked at .venv)",
        venv.display()
    );
    Ok(())
}

fn check_version(version: &str) -> Result<()> {
    let plain = version.trim().split('+').next().unwrap_or_default();
    if plain != TORCH_VERSION {
        return Err(format!(
            "torch {} found, but tch 0.24.0 needs exactly {TORCH_VERSION}",
            version.trim()
        )
        .into());
    }
    Ok(())
}

/// `NML_CACHE_DIR`, else `$XDG_CACHE_HOME/nml`, else `~/.cache/nml`.
fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("NML_CACHE_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("nml"));
    }
    let home =
        std::env::var_os("HOME").ok_or("neither NML_CACHE_DIR, XDG_CACHE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("nml"))
}

/// Creates (or repairs) the venv, installs the requirements and writes the stamp last.
fn install(sh: &Shell, base: &str, venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    if !python.exists() {
        eprintln!("setup: creating virtualenv {}", venv.display());
        cmd!(sh, "{base} -m venv {venv}").run().map_err(|e| {
            format!("cannot create a virtualenv (on Debian: apt install python3-venv): {e}")
        })?;
    }
    let requirements = venv.join("requirements.txt");
    fs::write(&requirements, REQUIREMENTS)?;
    eprintln!(
        "setup: installing torch=={TORCH_VERSION} and test packages (about 5 GB, once per machine)"
    );
    let pip = ["--disable-pip-version-check", "--no-input"];
    let uv = venv.join("bin").join("uv");
    let have_uv = cmd!(sh, "{python} -m pip install {pip...} --quiet {UV}")
        .run()
        .is_ok();
    let cache = venv.with_extension("uv-cache");
    // The platform's certificates, as pip uses them (a proxy's CA may be among them).
    let installed = have_uv
        && cmd!(
            sh,
            "{uv} pip install --system-certs --python {python} -r {requirements}"
        )
        .env("UV_CACHE_DIR", &cache)
        .run()
        .is_ok();
    if !installed {
        eprintln!("setup: uv could not install the packages; pip installs them instead");
        cmd!(sh, "{python} -m pip install {pip...} -r {requirements}").run()?;
    }
    // The wheels are in the venv now; their 3 GB cache would only fill the disk.
    let _ = fs::remove_dir_all(&cache);
    let report = cmd!(sh, "{python} -c 'import os, torch; print(torch.__version__); print(os.path.dirname(torch.__file__))'")
        .read()?;
    let mut lines = report.lines();
    check_version(lines.next().unwrap_or_default())?;
    let torch_dir = PathBuf::from(lines.next().ok_or("torch did not report its folder")?);
    if !torch_dir.join("lib").join("libtorch_cpu.so").exists() {
        return Err(format!("{} has no lib/libtorch_cpu.so", torch_dir.display()).into());
    }
    let tmp = venv.join(format!("{STAMP}.tmp"));
    fs::write(&tmp, format!("{}\n{REQUIREMENTS}", torch_dir.display()))?;
    fs::rename(&tmp, venv.join(STAMP))?;
    Ok(torch_dir)
}

/// The stamp: the torch folder on the first line, then the installed requirements.
fn read_stamp(venv: &Path) -> Option<(String, PathBuf)> {
    let text = fs::read_to_string(venv.join(STAMP)).ok()?;
    let (torch_dir, requirements) = text.split_once('\n')?;
    Some((requirements.to_owned(), PathBuf::from(torch_dir)))
}

/// Points the symlink `at` to `target`, touching nothing when it already does.
fn link(at: &Path, target: &Path) -> Result<()> {
    match fs::symlink_metadata(at) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if fs::read_link(at)? == target {
                return Ok(());
            }
            fs::remove_file(at)?;
        }
        Ok(_) => {
            return Err(format!(
                "{} exists and is not a link made by setup; move it away, or point LIBTORCH or \
                 LIBTORCH_USE_PYTORCH at your own torch {TORCH_VERSION}",
                at.display()
            )
            .into())
        }
        Err(_) => {}
    }
    symlink(target, at)
        .map_err(|e| format!("cannot link {} -> {}: {e}", at.display(), target.display()).into())
}

#[cfg(unix)]
fn symlink(target: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _at: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "setup supports Linux and macOS; set LIBTORCH to your libtorch instead",
    ))
}

/// A lock folder so that two clones installing at once do not interleave pip runs.
struct Lock(PathBuf);

impl Lock {
    fn acquire(path: &Path) -> Result<Lock> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let stale_after = Duration::from_secs(30 * 60);
        loop {
            match fs::create_dir(path) {
                Ok(()) => return Ok(Lock(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .unwrap_or_default();
                    if age > stale_after {
                        eprintln!("setup: removing stale lock {}", path.display());
                        let _ = fs::remove_dir(path);
                    } else {
                        eprintln!(
                            "setup: waiting for another setup holding {}",
                            path.display()
                        );
                        std::thread::sleep(Duration::from_secs(5));
                    }
                }
                Err(e) => return Err(format!("cannot create lock {}: {e}", path.display()).into()),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

/// The programs of a one-node Slurm cluster: Slurm's daemons and client, munge.
pub(crate) const SLURM_PROGRAMS: [&str; 5] = ["sbatch", "squeue", "slurmctld", "slurmd", "munged"];

/// Whether `program` is on the PATH (or in /usr/sbin, where Debian puts daemons).
pub(crate) fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .any(|d| d.join(program).is_file())
}

/// `cargo xtask setup --slurm`: Debian's `slurm-wlm` and `munge` (as root,
/// with apt-get), unless every program is already there.
pub(crate) fn slurm(sh: &Shell) -> Result<()> {
    if SLURM_PROGRAMS.iter().all(|p| have(p)) {
        eprintln!("setup: Slurm and munge are installed");
        return Ok(());
    }
    if !have("apt-get") {
        return Err("setup --slurm: no apt-get here; install Slurm (slurmctld, slurmd, sbatch) and munge with your system's packages".into());
    }
    let root = cmd!(sh, "id -u")
        .quiet()
        .read()
        .is_ok_and(|u| u.trim() == "0");
    if !root {
        return Err("setup --slurm: installing slurm-wlm and munge needs root (run it as root, or `apt-get install slurm-wlm munge` yourself)".into());
    }
    let install = || {
        cmd!(
            sh,
            "apt-get install -y --no-install-recommends slurm-wlm munge"
        )
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
    };
    if install().is_err() {
        cmd!(sh, "apt-get update").run()?;
        install()?;
    }
    eprintln!("setup: installed slurm-wlm and munge");
    Ok(())
}
