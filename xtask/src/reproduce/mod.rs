//! `cargo xtask reproduce`: the whole study in one command.
//!
//! xtask only plans and runs processes; every stage is a crate with its own
//! binary, and the report is written by `nml-report` from the files the
//! stages wrote. The study itself — benchmarks, profiles, the plan of steps
//! and the `run.json` it writes — is `nml-study`'s; this module is its front
//! end: flags in, then an executor runs what is not finished: [`exec`] on
//! this machine (`--jobs` at a time, CUDA steps placed on its GPUs), or
//! [`slurm`] as one `sbatch` job per step.

pub(crate) mod binaries;
mod dry_run;
mod exec;
mod progress;
pub(crate) mod slurm;

use std::fs;
use std::path::{Path, PathBuf};

use nml_study::record::{read_json, to_json, Provenance};
use nml_study::{
    plan, Benchmark, DeviceSpec, Identity, Placement, Plan, Precision, Profile, RunRecord, Sizes,
    Study,
};
use xshell::{cmd, Shell};

use crate::{flags, project_root, setup, Result};
use exec::{Exec, Status};

/// The stage binaries `reproduce` builds and runs.
pub(crate) fn run(sh: &Shell, flags: &flags::Reproduce) -> Result<()> {
    let profile: Profile = flags.profile.as_deref().unwrap_or("quick").parse()?;
    let benchmark: Benchmark = flags.benchmark.as_deref().unwrap_or("synth").parse()?;
    let device = flags.device.clone().unwrap_or_else(|| "auto".to_owned());
    let device_spec: DeviceSpec = device.parse().map_err(|e| format!("--device: {e}"))?;
    let seed = flags.seed.unwrap_or(0);
    let jobs = flags.jobs.unwrap_or(1).max(1);
    let (placement, threads) = placement_of(flags, device_spec, jobs)?;
    let executor = executor_of(flags)?;
    let devices = parse_devices(flags.devices.as_deref(), &device, visible_gpus())?;
    let out = flags
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("data/reproduce-{profile}")));
    let out = std::path::absolute(out)?;
    let sizes = profile.sizes();
    let (study, data_dir) = Study::new(benchmark, flags.data_dir.as_deref(), &sizes, seed)?;
    let data_dir = data_dir.map(|d| d.display().to_string());
    let identity = Identity::new(benchmark, profile, seed, data_dir.unwrap_or_default());
    check_identity(&out, &identity)?;
    let plan = study_plan(&study, &sizes, seed, placement);
    let bin_dir = binaries::bin_dir();
    let commit = git_commit(sh);
    let slurm = slurm::Slurm {
        out: out.clone(),
        bin_dir: bin_dir.clone(),
        xtask: std::env::current_exe()?,
        threads,
        args: flags.slurm_arg.clone(),
        profile,
        gpus: matches!(device_spec, DeviceSpec::Cuda(_)),
        commit: commit.clone(),
    };
    if flags.dry_run {
        let machine = dry_run::machine(device_spec, jobs, devices.len(), threads, visible_gpus());
        let slurm = (executor == Executor::Slurm).then_some(&slurm);
        dry_run::print_plan(&plan, &out, slurm, machine);
        return Ok(());
    }
    if executor == Executor::Slurm {
        slurm::preflight(&slurm)?;
        if flags.status {
            #[allow(clippy::print_stdout)] // the status is --status's output
            {
                println!("{}", slurm::progress(&plan, &out)?);
            }
            return Ok(());
        }
    }
    let prebuilt = binaries::prebuilt(&plan, &bin_dir)?;
    fs::create_dir_all(&out)?;
    exec::write_atomically(&out.join("reproduce.json"), &to_json(&identity))?;
    setup::run(sh, false)?;
    if !prebuilt {
        binaries::build(sh)?;
    }
    let doctor = bin_dir.join("nml-doctor");
    let provenance = Provenance {
        device: device.clone(),
        precision: placement.precision,
        jobs,
        git_commit: commit.clone(),
        environment: cmd!(sh, "{doctor} --device {device}").quiet().read()?,
    };
    let shape = study.shape(&sizes);
    let write_index = |seconds: &[Option<f64>]| -> Result<()> {
        let record = RunRecord::new(&identity, shape.clone(), provenance.clone(), &plan, seconds);
        let (text, path) = (record.to_json(), out.join("run.json"));
        // Rewritten only when it changes, so a finished study is left untouched.
        if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            exec::write_atomically(&path, &text)?;
        }
        Ok(())
    };
    if executor == Executor::Slurm {
        return submit(&plan, &slurm, flags.wait, &write_index);
    }
    let ex = Exec {
        out: out.clone(),
        bin_dir,
        jobs,
        threads,
        devices,
        commit,
    };
    eprintln!(
        "reproduce: {} steps ({benchmark}, profile {profile}, {} seeds, {}) into {}",
        plan.steps.len(),
        plan.seeds.len(),
        ex.describe(),
        out.display()
    );
    let statuses = exec::execute(&plan, &ex, &write_index)?;
    let count = |f: fn(&Status) -> bool| statuses.iter().filter(|s| f(s)).count();
    let ran = count(|s| matches!(s, Status::Ran(_)));
    let cached = count(|s| matches!(s, Status::Cached(_)));
    eprintln!("reproduce: {ran} steps ran, {cached} were already done");
    eprintln!("reproduce: report at {}", out.join("REPORT.md").display());
    Ok(())
}

/// Where the torch steps run (`--device`, `--precision`, `--head-device`) and
/// each step's CPU threads (`--cores`, else this machine's, over `jobs`).
fn placement_of(
    flags: &flags::Reproduce,
    device: DeviceSpec,
    jobs: usize,
) -> Result<(Placement, usize)> {
    let precision: Precision = match flags.precision.as_deref() {
        None => Precision::Auto,
        Some(p) => p.parse().map_err(|e| format!("--precision: {e}"))?,
    };
    let threads = match flags.cores {
        Some(0) => return Err("--cores: must be at least 1".into()),
        Some(cores) => (cores / jobs).max(1),
        None => threads_per_step(jobs),
    };
    let heads: DeviceSpec = match flags.head_device.as_deref() {
        None => device,
        Some(d) => d.parse().map_err(|e| format!("--head-device: {e}"))?,
    };
    let placement = Placement::new(device, precision)
        .with_threads(threads)
        .with_heads(heads);
    Ok((placement, threads))
}

/// CPU threads per step: this machine's cores over `jobs` (the CPUs a Slurm
/// job asks for, too), written into every computing step's arguments, so a
/// step's key says how many threads computed it.
pub(crate) fn threads_per_step(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores / jobs.max(1)).max(1)
}

/// `--executor`, refusing the Slurm executor's flags without it.
fn executor_of(flags: &flags::Reproduce) -> Result<Executor> {
    let executor: Executor = flags.executor.as_deref().unwrap_or("local").parse()?;
    if executor == Executor::Local {
        for (given, flag) in [
            (!flags.slurm_arg.is_empty(), "--slurm-arg"),
            (flags.wait, "--wait"),
            (flags.status, "--status"),
        ] {
            if given {
                return Err(format!("{flag}: for --executor slurm").into());
            }
        }
    }
    Ok(executor)
}

/// Where the study's steps run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Executor {
    /// Processes on this machine.
    Local,
    /// One `sbatch` job per step.
    Slurm,
}

impl std::str::FromStr for Executor {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Executor, String> {
        match s {
            "local" => Ok(Executor::Local),
            "slurm" => Ok(Executor::Slurm),
            other => Err(format!("--executor `{other}`: expected local or slurm")),
        }
    }
}

/// `--executor slurm`: `run.json` written, the unfinished steps submitted
/// (after an earlier submission's jobs with `--wait`), and with `--wait` the
/// study followed to its end, a failed step named with its log.
fn submit(
    plan: &Plan,
    s: &slurm::Slurm,
    wait: bool,
    write_index: &dyn Fn(&[Option<f64>]) -> Result<()>,
) -> Result<()> {
    if wait {
        slurm::wait(&s.out)?;
    }
    let seconds: Vec<Option<f64>> = plan
        .steps
        .iter()
        .map(|step| exec::finished(&s.out, step))
        .collect();
    write_index(&seconds)?;
    let n = slurm::submit(plan, s)?;
    eprintln!(
        "reproduce: {n} job(s) submitted to Slurm ({} of {} steps were done); `--status` follows them",
        plan.steps.len() - n,
        plan.steps.len()
    );
    if !wait {
        return Ok(());
    }
    slurm::wait(&s.out)?;
    let progress = slurm::progress(plan, &s.out)?;
    eprintln!("reproduce: {progress}");
    if progress.done < plan.steps.len() {
        return Err(format!(
            "the study did not finish ({progress}); submit it again to run what is left"
        )
        .into());
    }
    eprintln!("reproduce: report at {}", s.out.join("REPORT.md").display());
    Ok(())
}

/// GPUs visible to this process: `CUDA_VISIBLE_DEVICES`'s entries, else
/// `nvidia-smi -L`'s lines, else none.
fn visible_gpus() -> usize {
    if let Some(v) = std::env::var_os("CUDA_VISIBLE_DEVICES") {
        return v
            .to_string_lossy()
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .count();
    }
    std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or(0, |o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("GPU "))
                .count()
        })
}

/// The GPUs CUDA steps are placed on: `--devices` (each `cuda:N` below
/// `visible`), or with `--device cuda` every visible one; none otherwise
/// (`--device cuda:N` pins every step to N, as before).
pub(crate) fn parse_devices(
    flag: Option<&str>,
    device: &str,
    visible: usize,
) -> Result<Vec<usize>> {
    let Some(list) = flag else {
        return Ok(if device == "cuda" {
            (0..visible).collect()
        } else {
            Vec::new()
        });
    };
    if !matches!(device, "auto" | "cuda") {
        return Err(format!(
            "--devices places CUDA steps: use it with --device cuda or auto, not `{device}`"
        )
        .into());
    }
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim) {
        let n: usize = entry
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("--devices `{entry}`: expected cuda:N, e.g. cuda:0,cuda:1"))?;
        if n >= visible {
            return Err(format!("--devices {entry}: no such GPU ({visible} visible)").into());
        }
        if out.contains(&n) {
            return Err(format!("--devices {entry}: listed twice").into());
        }
        out.push(n);
    }
    Ok(out)
}

/// The steps `reproduce` runs for `study`, the report included.
pub(crate) fn study_plan(study: &Study, sizes: &Sizes, seed: u64, placement: Placement) -> Plan {
    let mut plan = match study {
        Study::Noisy(b) => plan::build(b, sizes, seed, placement),
        Study::RealModels(dir) => {
            let seeds: Vec<u64> = (seed..seed + 3).collect();
            plan::build_real(&dir.display().to_string(), sizes.profile, &seeds, placement)
        }
    };
    plan.add_report();
    plan
}

/// Refuses an output folder that holds another study's results, or anything else.
fn check_identity(out: &Path, identity: &Identity) -> Result<()> {
    let record = out.join("reproduce.json");
    if record.exists() {
        let theirs: Option<Identity> = read_json(&record).ok();
        if theirs.as_ref() == Some(identity) {
            return Ok(());
        }
        let text = fs::read_to_string(&record).unwrap_or_default();
        return Err(format!(
            "{} holds the results of another study:\n{text}this run is:\n{}\
             use another --out, or delete that folder to start over (nothing was changed)",
            out.display(),
            to_json(identity)
        )
        .into());
    }
    if out.exists() && fs::read_dir(out)?.next().is_some() {
        return Err(format!(
            "{} is not empty and has no reproduce.json: it is not an nml reproduce folder; \
             use another --out (nothing was changed)",
            out.display()
        )
        .into());
    }
    Ok(())
}

/// The work tree's commit, or `NML_GIT_COMMIT` where binaries built elsewhere
/// run without it (`ci/gpu-study.sh`, from the bundle's `COMMIT`).
fn git_commit(sh: &Shell) -> String {
    if let Some(commit) = std::env::var("NML_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
    {
        return commit;
    }
    let root = project_root();
    let commit = cmd!(sh, "git -C {root} rev-parse HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_else(|_| "unknown".to_owned());
    let dirty = cmd!(sh, "git -C {root} status --porcelain --untracked-files=no")
        .quiet()
        .ignore_stderr()
        .read()
        .is_ok_and(|s| !s.trim().is_empty());
    if dirty {
        format!("{commit} (with uncommitted changes)")
    } else {
        commit
    }
}

/// The smoke synthetic study's plan with every step on `device`, for the
/// executors' unit tests.
#[cfg(test)]
pub(crate) fn smoke_plan_on(device: DeviceSpec) -> Plan {
    let sizes = Profile::Smoke.sizes();
    let Ok((Study::Noisy(bench), _)) = Study::new(Benchmark::Synth, None, &sizes, 0) else {
        unreachable!("synth is a noisy study")
    };
    plan::build(&bench, &sizes, 0, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_are_checked() {
        assert_eq!(parse_devices(None, "cuda", 4).unwrap(), [0, 1, 2, 3]);
        assert!(parse_devices(None, "cuda:1", 4).unwrap().is_empty());
        assert!(parse_devices(None, "auto", 4).unwrap().is_empty());
        assert_eq!(
            parse_devices(Some("cuda:1,cuda:3"), "cuda", 4).unwrap(),
            [1, 3]
        );
        for (bad, says) in [
            ("cuda:4", "no such GPU (4 visible)"),
            ("gpu0", "expected cuda:N"),
            ("cuda:1,cuda:1", "listed twice"),
        ] {
            let e = parse_devices(Some(bad), "cuda", 4).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = parse_devices(Some("cuda:0"), "cpu", 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--device cuda or auto"), "{e}");
        assert_eq!("slurm".parse::<Executor>().unwrap(), Executor::Slurm);
        assert!("k8s".parse::<Executor>().is_err());
    }

    #[test]
    fn foreign_folders_are_refused_without_writing() {
        let tmp = std::env::temp_dir().join(format!("nml-xtask-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        let identity = |profile| Identity::new(Benchmark::Synth, profile, 0, String::new());
        // An empty or absent folder is fine; a foreign one is refused.
        check_identity(&tmp.join("absent"), &identity(Profile::Smoke)).unwrap();
        fs::write(tmp.join("notes.txt"), "mine").unwrap();
        let err = check_identity(&tmp, &identity(Profile::Smoke))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no reproduce.json"), "{err}");
        fs::write(
            tmp.join("reproduce.json"),
            to_json(&identity(Profile::Quick)),
        )
        .unwrap();
        let err = check_identity(&tmp, &identity(Profile::Smoke))
            .unwrap_err()
            .to_string();
        assert!(err.contains("another study"), "{err}");
        check_identity(&tmp, &identity(Profile::Quick)).unwrap();
        assert_eq!(fs::read_to_string(tmp.join("notes.txt")).unwrap(), "mine");
        fs::remove_dir_all(&tmp).unwrap();
    }
}
