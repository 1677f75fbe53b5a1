//! `cargo xtask reproduce`: the whole study in one command.
//!
//! xtask only plans and runs processes; every stage is a crate with its own
//! binary, and the report is written by `nml-report` from the files the
//! stages wrote. The study itself — benchmarks, profiles, the plan of steps
//! and the `run.json` it writes — is `nml-study`'s; this module is its front
//! end: flags in, [`exec`] runs what is not finished, `--jobs` at a time,
//! this `--shard`'s share only.

mod exec;
mod progress;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use nml_study::record::{read_json, to_json, Provenance};
use nml_study::{
    plan, Benchmark, DeviceSpec, Identity, Placement, Plan, Precision, Profile, RunRecord, Sizes,
    Stage, Study,
};
use xshell::{cmd, Shell};

use crate::{cargo, flags, project_root, setup, Result};
use exec::{Exec, Status};

/// The stage binaries `reproduce` builds and runs.
pub(crate) const PACKAGES: [&str; 8] = [
    "nml-data",
    "nml-noise",
    "nml-pretrain",
    "nml-features",
    "nml-spectral",
    "nml-tune",
    "nml-report",
    "nml-torch",
];

pub(crate) fn run(sh: &Shell, flags: &flags::Reproduce) -> Result<()> {
    let profile: Profile = flags.profile.as_deref().unwrap_or("quick").parse()?;
    let benchmark: Benchmark = flags.benchmark.as_deref().unwrap_or("synth").parse()?;
    let device = flags.device.clone().unwrap_or_else(|| "auto".to_owned());
    let device_spec: DeviceSpec = device.parse().map_err(|e| format!("--device: {e}"))?;
    let precision: Precision = match flags.precision.as_deref() {
        None => Precision::Auto,
        Some(p) => p.parse().map_err(|e| format!("--precision: {e}"))?,
    };
    let placement = Placement::new(device_spec, precision);
    let seed = flags.seed.unwrap_or(0);
    let jobs = flags.jobs.unwrap_or(1).max(1);
    let shard = parse_shard(flags.shard.as_deref())?;
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
    if flags.dry_run {
        print_plan(&plan, &out, shard);
        return Ok(());
    }
    fs::create_dir_all(&out)?;
    exec::write_atomically(&out.join("reproduce.json"), &to_json(&identity))?;
    setup::run(sh, false)?;
    let cargo = cargo();
    let packages: Vec<&str> = PACKAGES.iter().flat_map(|p| ["-p", p]).collect();
    cmd!(sh, "{cargo} build --locked --quiet --bins {packages...}").run()?;
    // NML_BIN_DIR: stage binaries built apart (a copy made before a long run,
    // so that rebuilding the work tree meanwhile cannot change them mid-study).
    let bin_dir = std::env::var_os("NML_BIN_DIR")
        .map_or_else(|| project_root().join("target/debug"), PathBuf::from);
    let doctor = bin_dir.join("nml-doctor");
    let provenance = Provenance {
        device: device.clone(),
        precision: placement.precision,
        jobs,
        git_commit: git_commit(sh),
        environment: cmd!(sh, "{doctor} --device {device}").quiet().read()?,
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let ex = Exec {
        out: out.clone(),
        bin_dir,
        jobs,
        shard,
        threads: (cores / jobs).max(1),
    };
    eprintln!(
        "reproduce: {} steps ({benchmark}, profile {profile}, {} seeds, shard {}/{}, {jobs} jobs) into {}",
        plan.steps.len(),
        plan.seeds.len(),
        shard.0,
        shard.1,
        out.display()
    );
    let shape = study.shape(&sizes);
    let statuses = exec::execute(&plan, &ex, &|seconds| {
        let record = RunRecord::new(&identity, shape.clone(), provenance.clone(), &plan, seconds);
        let (text, path) = (record.to_json(), out.join("run.json"));
        // Rewritten only when it changes, so a finished study is left untouched.
        if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            exec::write_atomically(&path, &text)?;
        }
        Ok(())
    })?;
    let count = |f: fn(&Status) -> bool| statuses.iter().filter(|s| f(s)).count();
    let ran = count(|s| matches!(s, Status::Ran(_)));
    let cached = count(|s| matches!(s, Status::Cached(_)));
    eprintln!("reproduce: {ran} steps ran, {cached} were already done");
    if shard.0 == 0 {
        eprintln!("reproduce: report at {}", out.join("REPORT.md").display());
    }
    Ok(())
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

/// `i/n` with i < n; none: `0/1`.
fn parse_shard(text: Option<&str>) -> Result<(usize, usize)> {
    let Some(text) = text else { return Ok((0, 1)) };
    let parsed = text
        .split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if n > 0 && i < n => Ok((i, n)),
        _ => Err(format!("--shard `{text}`: expected i/n with 0 <= i < n, e.g. 0/4").into()),
    }
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

#[allow(clippy::print_stdout)] // the plan is --dry-run's output
fn print_plan(plan: &Plan, out: &Path, shard: (usize, usize)) {
    let need = exec::needed(plan, shard);
    let mut text = String::new();
    let mut counts = (0, 0, 0);
    for &stage in Stage::ALL {
        let _ = writeln!(text, "{stage}:");
        for (i, step) in plan.steps.iter().enumerate() {
            if step.stage != stage {
                continue;
            }
            let status = if exec::finished(out, step).is_some() {
                counts.0 += 1;
                "cached"
            } else if exec::owner(plan, i, shard.1) == shard.0 {
                counts.1 += 1;
                "to run"
            } else if need[i] {
                counts.2 += 1;
                "waits (other shard)"
            } else {
                "other shard"
            };
            let (name, program, args) = (&step.name, step.program, step.args.join(" "));
            let _ = writeln!(text, "  {name:<40} {status:<19} {program} {args}");
        }
    }
    let _ = writeln!(
        text,
        "{} steps: {} cached, {} to run here, {} from other shards awaited",
        plan.steps.len(),
        counts.0,
        counts.1,
        counts.2
    );
    print!("{text}");
}

fn git_commit(sh: &Shell) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_flags_are_checked() {
        assert_eq!(parse_shard(None).unwrap(), (0, 1));
        assert_eq!(parse_shard(Some("2/4")).unwrap(), (2, 4));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(parse_shard(Some(bad)).is_err(), "{bad}");
        }
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
