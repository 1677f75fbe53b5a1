//! `cargo xtask test`: the README's test command and the only thing `.ci/run` calls.
//!
//! After the workspace's tests it checks the study end to end: `reproduce
//! --profile smoke` in a fresh folder writes a complete report, a second run
//! does no work, and a run killed in the middle of pre-training, started
//! again, ends with the same numbers as the uninterrupted one; `ci/gpu-study.sh`
//! finds the finished study complete and collects its outputs, and stops a fresh
//! one at its wall-clock limit (see `gpu_study.rs`). The killed run is
//! a copy of the finished study with its last three pre-training steps (and all
//! that reads them) forgotten, so it redoes part of the study, not all of it.
//! Then the same study under a real one-node Slurm (`--executor slurm`, see
//! [`slurm_check`]), and the real-models benchmark in its smoke form where the
//! shared data is present.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xshell::{cmd, Shell};

use nml_study::{Benchmark, Plan, Profile, Stage, Step, Study};

use crate::{cargo, flags, project_root, setup, Result};

mod estimate;
mod gpu_study;
mod provenance;
mod real;
mod slurm;
use estimate::{children_cpu_seconds, estimate_check};
use gpu_study::gpu_study_check;
use provenance::code_version_check;
use real::real_models_check;
use slurm::{slurm_check, slurm_study};

pub(crate) fn run(sh: &Shell, flags: &flags::Test) -> Result<()> {
    setup::run(sh, false)?;
    let cargo = cargo();
    cmd!(sh, "{cargo} fmt --all --check").run()?;
    let start = Instant::now();
    // Clippy lints the workspace while the tests compile (see `clippy_driver`), so
    // the dependencies are compiled once instead of once for tests and once more
    // for `cargo clippy`'s check build (5 of CI's 30 minutes on 2 cores).
    let lint = match (flags.no_clippy, clippy_driver(&cargo)) {
        (true, _) => None,
        (false, Some(driver)) => Some(driver),
        (false, None) => {
            eprintln!(
                "xtask test: no clippy-driver beside {cargo}; running cargo clippy after the tests"
            );
            None
        }
    };
    // Every target clippy's `--all-targets` covers (benches and examples too), built once.
    let lints = lint_env(lint.as_deref());
    cmd!(
        sh,
        "{cargo} test --workspace --all-targets --locked --no-run"
    )
    .envs(lints.clone())
    .run()?;
    // The cross-language checks of tests/python must run here, never silently skip.
    cmd!(sh, "{cargo} test --workspace --locked")
        .envs(lints.clone())
        .env("NML_REQUIRE_PYTHON", "1")
        .run()?;
    if !flags.no_clippy && lint.is_none() {
        cmd!(
            sh,
            "{cargo} clippy --workspace --all-targets --locked -- -D warnings"
        )
        .run()?;
    }
    eprintln!(
        "xtask test: build, clippy and cargo test done in {:.0}s",
        start.elapsed().as_secs_f64()
    );
    if !flags.no_reproduce {
        // The Slurm check's daemons (Debian's packages, as root); without them it is skipped, saying why.
        if let Err(e) = setup::slurm(sh) {
            eprintln!("xtask test: Slurm not installed ({e})");
        }
        binaries_are_built(&cargo, &lints)?;
        reproduce_check(&lints)?;
    }
    eprintln!("xtask test: all checks passed");
    Ok(())
}

/// The environment that makes cargo lint the workspace's crates with clippy (`-D warnings`)
/// while it compiles them, when `driver` is given; empty otherwise.
///
/// Every cargo of the run gets the same variables (the reproduce check's `cargo build`
/// included): the wrapper is part of each crate's fingerprint, so a cargo without it
/// would compile the whole workspace again.
fn lint_env(driver: Option<&Path>) -> Vec<(&'static str, OsString)> {
    match driver {
        Some(driver) => vec![
            ("RUSTC_WORKSPACE_WRAPPER", driver.as_os_str().to_owned()),
            (
                "CLIPPY_ARGS",
                "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__".into(),
            ),
        ],
        None => Vec::new(),
    }
}

/// The clippy-driver of the toolchain that runs `cargo`, if it has one.
///
/// Used as `RUSTC_WORKSPACE_WRAPPER`, it compiles the workspace's crates like
/// rustc and lints them as `cargo clippy` does (with `CLIPPY_ARGS`, the variable
/// through which `cargo clippy` hands its arguments to the driver); dependencies
/// are compiled by plain rustc, so they are shared with every other build.
fn clippy_driver(cargo: &str) -> Option<PathBuf> {
    let beside = Path::new(cargo).with_file_name("clippy-driver");
    if beside.is_file() {
        return Some(beside);
    }
    let out = Command::new("rustup")
        .args(["which", "clippy-driver"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && path.is_file()).then_some(path)
}

/// `reproduce`'s own build of the stage binaries, which must find them all built by the test
/// build: a dependency resolved with other features without dev-dependencies would compile it
/// and everything above it again (polars, through rustix, cost 60 s; see ARCHITECTURE.md, *Builds*).
fn binaries_are_built(cargo: &str, env: &[(&str, OsString)]) -> Result<()> {
    let packages = crate::reproduce::binaries::PACKAGES
        .iter()
        .flat_map(|p| ["-p", p]);
    let output = Command::new(cargo)
        .args(["build", "--locked", "--bins"])
        .args(packages)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(project_root())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("cargo build --bins failed after the test build:\n{stderr}").into());
    }
    let compiled: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Compiling "))
        .collect();
    if !compiled.is_empty() {
        return Err(format!(
            "the binaries' build after the test build compiled {} crates again (a feature that only \
             a dev-dependency turns on?): {}",
            compiled.len(),
            compiled.join(", ")
        )
        .into());
    }
    Ok(())
}

/// The tables that must not depend on interruptions (pretrain.parquet holds measured speeds).
const DETERMINISTIC: [&str; 4] = ["tuning", "spectral", "summary", "claims"];

fn reproduce(out: &Path, env: &[(&str, OsString)]) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("xtask knows its own path"));
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c.args(["reproduce", "--profile", "smoke", "--jobs", "2", "--out"])
        .arg(out)
        .current_dir(project_root());
    c
}

fn run_reproduce(out: &Path, env: &[(&str, OsString)]) -> Result<String> {
    let output = reproduce(out, env).stderr(Stdio::piped()).output()?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(format!("reproduce --out {} failed:\n{stderr}", out.display()).into());
    }
    Ok(stderr)
}

fn reproduce_check(env: &[(&'static str, OsString)]) -> Result<()> {
    let root = project_root().join("target/reproduce-check");
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    let whole = root.join("whole");
    let start = Instant::now();
    // The Slurm study waits on its scheduler most of the time: it runs beside
    // the local checks, and is compared with the local run at the end.
    let slurm = {
        let (xtask, env) = (std::env::current_exe()?, env.to_vec());
        std::thread::spawn(move || slurm_study(xtask, env).map_err(|e| e.to_string()))
    };
    let rest = whole_and_again(&whole, env, start)
        .and_then(|()| gpu_study_check(&root, &whole))
        .and_then(|()| kill_and_restart(&root, &whole, env, start))
        .and_then(|()| real_models_check(env));
    // Joined whatever happened, so its cluster is always stopped (when dropped).
    let slurm = slurm
        .join()
        .map_err(|_| "the Slurm check panicked".to_owned())
        .and_then(|r| r.map_err(|e| format!("Slurm check: {e}")));
    rest?;
    if let Some(started) = slurm? {
        slurm_check(started, &whole).map_err(|e| format!("Slurm check: {e}"))?;
    }
    fs::remove_dir_all(&root)?;
    Ok(())
}

/// The smoke study into `whole`, complete; run again, it does no work.
fn whole_and_again(whole: &Path, env: &[(&str, OsString)], start: Instant) -> Result<()> {
    eprintln!(
        "xtask test: reproduce --profile smoke into {}",
        whole.display()
    );
    let (began, cpu) = (Instant::now(), children_cpu_seconds());
    run_reproduce(whole, env)?;
    let wall = began.elapsed().as_secs_f64();
    let cpu = children_cpu_seconds()
        .zip(cpu)
        .map(|(after, before)| after - before);
    check_outputs(whole)?;
    code_version_check(whole)?;
    estimate_check(wall, cpu)?;
    eprintln!(
        "xtask test: smoke study complete in {:.0}s; running it again",
        start.elapsed().as_secs_f64()
    );
    let again = run_reproduce(whole, env)?;
    if steps_ran(&again) != Some(0) {
        return Err(format!("a second run of a finished study did work:\n{again}").into());
    }
    Ok(())
}

/// Kills a run in the middle of pre-training (the whole process group, as a
/// Ctrl-C or a lost machine would), then starts it again. The run is a copy of
/// the finished study `whole` that has forgotten its last pre-training steps and
/// everything that reads them: those steps are redone, interrupted and resumed,
/// and the tables must come out byte for byte as in the uninterrupted run.
fn kill_and_restart(
    root: &Path,
    whole: &Path,
    env: &[(&str, OsString)],
    start: Instant,
) -> Result<()> {
    let killed = root.join("killed");
    copy_tree(whole, &killed)?;
    let plan = smoke_plan()?;
    let redo = redone(&plan);
    forget(&killed, &plan, &redo)?;
    let resumable = redone_pretraining(&plan, &redo);
    let mut child = {
        use std::os::unix::process::CommandExt;
        reproduce(&killed, env)
            .process_group(0)
            .stderr(Stdio::null())
            .spawn()?
    };
    // Kill once a redone pre-training has written its resume checkpoint and not finished.
    let interrupted = |s: &&Step| {
        s.scratch.iter().all(|f| killed.join(f).exists())
            && !killed
                .join(".steps")
                .join(format!("{}.done", s.name))
                .exists()
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    while !resumable.iter().any(interrupted) {
        if child.try_wait()?.is_some() || Instant::now() > deadline {
            return Err("the run to be killed ended or stalled before pre-training".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let group = format!("-{}", child.id());
    Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()?;
    let _ = child.wait();
    if !resumable.iter().any(interrupted) {
        return Err("the killed run had already finished its pre-training: kill it earlier".into());
    }
    let resumed = run_reproduce(&killed, env)?;
    let ran = steps_ran(&resumed).ok_or("the restarted run did not say how many steps it ran")?;
    let redone_count = redo.iter().filter(|r| **r).count();
    if ran == 0 || ran > redone_count {
        return Err(format!(
            "the restarted run ran {ran} steps; expected between 1 and the {redone_count} forgotten ones:\n{resumed}"
        )
        .into());
    }
    check_outputs(&killed)?;
    for table in DETERMINISTIC {
        let read = |dir: &Path| fs::read(dir.join("results").join(format!("{table}.parquet")));
        if read(whole)? != read(&killed)? {
            return Err(format!(
                "results/{table}.parquet differs between the uninterrupted and the killed-and-restarted run ({} and {})",
                whole.display(),
                killed.display()
            )
            .into());
        }
    }
    eprintln!(
        "xtask test: reproduce check passed (report, figures, tables; no-op rerun; kill and restart, \
         {ran} of {redone_count} forgotten steps run again, give the same results) in {:.0}s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The plan of `reproduce --profile smoke` as the check runs it.
fn smoke_plan() -> Result<Plan> {
    let sizes = Profile::Smoke.sizes();
    let (study, _) = Study::new(Benchmark::Synth, None, &sizes, 0)?;
    Ok(crate::reproduce::study_plan(
        &study,
        &sizes,
        0,
        nml_study::Placement::new(nml_study::DeviceSpec::Auto, nml_study::Precision::Auto)
            .with_threads(crate::reproduce::threads_per_step(2)),
    ))
}

/// The steps the kill-and-restart run redoes: the plan's last three pre-training steps
/// and, transitively, every step that reads them (the report among them).
fn redone(plan: &Plan) -> Vec<bool> {
    let mut redo = vec![false; plan.steps.len()];
    let pretrain = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.stage == Stage::Pretrain);
    for (i, _) in pretrain.rev().take(3) {
        redo[i] = true;
    }
    // A step's dependencies come before it in the plan.
    for i in 0..plan.steps.len() {
        if plan.steps[i].deps.iter().any(|&d| redo[d]) {
            redo[i] = true;
        }
    }
    redo
}

/// The pre-training steps among the `redo` ones.
fn redone_pretraining<'a>(plan: &'a Plan, redo: &[bool]) -> Vec<&'a Step> {
    plan.steps
        .iter()
        .zip(redo)
        .filter(|(s, r)| **r && s.stage == Stage::Pretrain)
        .map(|(s, _)| s)
        .collect()
}

/// Removes the stamps, outputs and resume checkpoints of the `redo` steps from the study in
/// `out` (and the whole folder of a pre-training step), so that `reproduce` runs them from nothing.
fn forget(out: &Path, plan: &Plan, redo: &[bool]) -> Result<()> {
    let remove = |path: &Path| -> Result<()> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path)?,
            Ok(_) => fs::remove_file(path)?,
            Err(_) => {}
        }
        Ok(())
    };
    for (step, _) in plan.steps.iter().zip(redo).filter(|(_, r)| **r) {
        for ext in ["done", "started"] {
            remove(&out.join(".steps").join(format!("{}.{ext}", step.name)))?;
        }
        for file in step.outputs.iter().chain(&step.scratch) {
            remove(&out.join(file))?;
        }
        if step.stage == Stage::Pretrain {
            if let Some(folder) = step.outputs.first().and_then(|o| Path::new(o).parent()) {
                remove(&out.join(folder))?;
            }
        }
    }
    Ok(())
}

/// A copy of the folder `from` at `to` (plain files and folders).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// N of `reproduce`'s closing `reproduce: N steps ran, ...` line.
fn steps_ran(stderr: &str) -> Option<usize> {
    stderr.lines().rev().find_map(|l| {
        l.strip_prefix("reproduce: ")?
            .split_once(" steps ran")?
            .0
            .parse()
            .ok()
    })
}

/// The report, every figure (PNG and SVG) and every results table exist and are not empty.
fn check_outputs(out: &Path) -> Result<()> {
    let mut expected: Vec<PathBuf> = vec![out.join("REPORT.md"), out.join("run.json")];
    for stem in [
        "fig1-lp-vs-noise",
        "fig3-spectrum-vs-noise",
        "fig5-spectrum-vs-accuracy",
        "nmtune-vs-noise",
        "spectrum",
    ] {
        for ext in ["png", "svg"] {
            expected.push(out.join("figures").join(format!("{stem}.{ext}")));
        }
    }
    for table in [
        "pretrain", "spectral", "tuning", "summary", "ablation", "claims", "timings",
    ] {
        expected.push(out.join("results").join(format!("{table}.parquet")));
    }
    for path in &expected {
        let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Err(format!("{} is missing or empty", path.display()).into());
        }
    }
    let report = fs::read_to_string(out.join("REPORT.md"))?;
    for section in [
        "## Claims checklist",
        "## Figure 1/2 analogue",
        "## Figure 3/5 analogue",
        "## NMTune: LP vs MLP vs NMTune",
        "## Ablation of NMTune's regularisers",
        "## Noisy downstream labels",
        "## Provenance",
    ] {
        if !report.contains(section) {
            return Err(format!(
                "{}: no `{section}` section",
                out.join("REPORT.md").display()
            )
            .into());
        }
    }
    if report.contains("NaN") {
        return Err(format!("{}: a NaN in the report", out.join("REPORT.md").display()).into());
    }
    Ok(())
}
