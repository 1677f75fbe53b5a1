//! The Slurm executor: the plan's unfinished steps submitted with `sbatch`,
//! one job per step, each depending on the jobs of the steps it reads
//! (`--dependency=afterok`, `--kill-on-invalid-dep=yes`, so a failure cancels
//! what depends on it), the report last. A job runs `xtask run-step`, the
//! local runner's two ends of a step ([`super::exec::begin`] and
//! [`super::exec::complete`]) around the stage binary, so a step's stamps,
//! log and outputs are the same whichever executor ran it.
//!
//! A study's jobs are named `nml-<study>-<step>` (`<study>`: a hash of the
//! output folder) and carry their step's key as their comment: a submission
//! while any of them is queued or running submits nothing; finished steps
//! (by stamp) are never submitted again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nml_study::record::{read_json, to_json, RunRecord};
use nml_study::{Plan, Profile, Stage, Step};
use serde::{Deserialize, Serialize};

use super::exec::{begin, complete, finished, log_path, started_unfinished, write_atomically};
use crate::Result;

/// How a study is submitted.
pub(crate) struct Slurm {
    pub out: PathBuf,
    pub bin_dir: PathBuf,
    /// The xtask binary the jobs run (`run-step`).
    pub xtask: PathBuf,
    /// `--cpus-per-task`, and the libtorch threads of each step.
    pub threads: usize,
    /// `--slurm-arg`s, passed to every `sbatch` as given.
    pub args: Vec<String>,
    pub profile: Profile,
    /// CUDA steps ask for a GPU (`--gres=gpu:1`).
    pub gpus: bool,
    /// The commit the binaries were built from (each job's `NML_GIT_COMMIT`).
    pub commit: String,
}

/// A job of the study in the queue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Job {
    pub id: String,
    pub step: String,
    /// `PENDING`, `RUNNING`, ...
    pub state: String,
}

/// The study's name in job names: a hash of its output folder.
pub(crate) fn study_id(out: &Path) -> String {
    let h = nml_study::plan::fnv1a(out.display().to_string().as_bytes());
    format!("{:08x}", h >> 32)
}

fn job_name(out: &Path, step: &str) -> String {
    format!("nml-{}-{step}", study_id(out))
}

/// Memory (MiB) and time limit (minutes) a step of `stage` asks for in `profile`.
pub(crate) fn needs(stage: Stage, profile: Profile) -> (u64, u64) {
    let (mem_gb, minutes) = match (stage, profile) {
        (Stage::Data | Stage::Corrupt | Stage::Report, _) => (2, 30),
        (Stage::Spectral, _) => (4, 30),
        (_, Profile::Smoke) => (4, 30),
        (Stage::Pretrain, Profile::Quick) => (8, 120),
        (_, Profile::Quick) => (8, 60),
        (Stage::Pretrain, Profile::Full) => (32, 24 * 60),
        (_, Profile::Full) => (32, 4 * 60),
        (_, Profile::Gpu) => (16, 60),
    };
    (mem_gb * 1024, minutes)
}

/// `sbatch`'s resource arguments for `step`.
pub(crate) fn resources(s: &Slurm, step: &Step) -> Vec<String> {
    let (mem, minutes) = needs(step.stage, s.profile);
    let mut args = vec![
        format!("--cpus-per-task={}", s.threads),
        format!("--mem={mem}M"),
        format!("--time={minutes}"),
    ];
    let cuda = matches!(step.device, Some(nml_study::DeviceSpec::Cuda(_)))
        || (s.gpus && step.device == Some(nml_study::DeviceSpec::Auto));
    if cuda {
        args.push("--gres=gpu:1".to_owned());
    }
    args
}

/// A command's stdout, or one line saying why it failed.
fn output(program: &str, args: &[String]) -> std::result::Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("`{program}` cannot run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("no message")
            .trim()
            .to_owned();
        Err(line)
    }
}

/// Before anything is written or submitted: `sbatch` on the PATH, a
/// controller that answers, and `--slurm-arg`s `sbatch --test-only` accepts.
pub(crate) fn preflight(s: &Slurm) -> Result<()> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("sbatch").is_file()));
    if !on_path {
        return Err("--executor slurm: `sbatch` is not on the PATH (install Slurm's client tools, e.g. `cargo xtask setup --slurm`); nothing was submitted".into());
    }
    output("squeue", &["-h".to_owned(), "-o".to_owned(), "%i".to_owned()]).map_err(|why| {
        format!("--executor slurm: the Slurm controller does not answer (squeue: {why}); nothing was submitted")
    })?;
    let mut test = vec!["--test-only".to_owned()];
    test.extend(s.args.iter().cloned());
    test.extend(["--wrap".to_owned(), "true".to_owned()]);
    output("sbatch", &test).map_err(|why| {
        format!(
            "--slurm-arg: sbatch rejects `{}`: {why}; nothing was submitted",
            s.args.join(" ")
        )
    })?;
    Ok(())
}

/// The study's jobs in the queue (pending, running, or completing).
pub(crate) fn queued(out: &Path) -> Result<Vec<Job>> {
    let prefix = format!("nml-{}-", study_id(out));
    let text = output(
        "squeue",
        &["-h".to_owned(), "-o".to_owned(), "%i|%j|%T".to_owned()],
    )
    .map_err(|why| format!("squeue: {why}"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, '|');
            let (id, name, state) = (parts.next()?, parts.next()?, parts.next()?);
            let step = name.strip_prefix(&prefix)?;
            Some(Job {
                id: id.trim().to_owned(),
                step: step.to_owned(),
                state: state.trim().to_owned(),
            })
        })
        .collect())
}

/// `'text'` for sh, with `'` written as `'\''`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `OUT/.slurm/<step>.json`: what a job runs, written at submission and
/// read by `xtask run-step` (one type for both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StepJob {
    pub format: String,
    pub out: PathBuf,
    pub name: String,
    pub key: String,
    pub threads: usize,
    pub outputs: Vec<String>,
    pub scratch: Vec<String>,
    /// Refresh `run.json`'s step times from the stamps first (the report step).
    pub index: bool,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The step's `NML_GIT_COMMIT`: the commit its binary was built from.
    #[serde(default)]
    pub commit: String,
}

const JOB_FORMAT: &str = "nml-step-job/1";

fn job_of(s: &Slurm, step: &Step) -> StepJob {
    StepJob {
        format: JOB_FORMAT.to_owned(),
        out: s.out.clone(),
        name: step.name.clone(),
        key: step.key.clone(),
        threads: s.threads,
        outputs: step.outputs.clone(),
        scratch: step.scratch.clone(),
        index: step.stage == Stage::Report,
        program: s.bin_dir.join(step.program.name()),
        args: step.args.clone(),
        commit: s.commit.clone(),
    }
}

/// The job script: `xtask run-step` on the step's job file.
fn script(s: &Slurm, step: &Step, job: &Path) -> String {
    format!(
        "#!/bin/sh\n# nml reproduce: step {} (key {}) of {}\nexec {} run-step {}\n",
        step.name,
        step.key,
        s.out.display(),
        quote(&s.xtask.display().to_string()),
        quote(&job.display().to_string())
    )
}

/// `xtask run-step JOB`: the step's two ends around its program, which runs
/// in the output folder with its threads, its output into the job's log.
pub(crate) fn run_step(path: &Path) -> Result<()> {
    let job: StepJob = read_json(path).map_err(|e| e.to_string())?;
    if job.format != JOB_FORMAT {
        return Err(format!(
            "{}: format `{}`, expected {JOB_FORMAT}",
            path.display(),
            job.format
        )
        .into());
    }
    begin(&job.out, &job.name, &job.key, &job.scratch)?;
    if job.index {
        refresh_index(&job.out)?;
    }
    let start = Instant::now();
    let status = Command::new(&job.program)
        .args(&job.args)
        .current_dir(&job.out)
        .env("OMP_NUM_THREADS", job.threads.to_string())
        .env(nml_study::provenance::COMMIT_ENV, &job.commit)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot start {}: {e}", job.program.display()))?;
    complete(
        &job.out,
        &job.name,
        &job.key,
        &job.outputs,
        (status.success(), status.to_string()),
        start.elapsed().as_secs_f64(),
    )
    .map_err(Into::into)
}

/// `run.json`'s step times from the steps' stamps (written when the study
/// was submitted, before any step had run).
fn refresh_index(out: &Path) -> Result<()> {
    let path = out.join("run.json");
    let mut record: RunRecord = read_json(&path).map_err(|e| e.to_string())?;
    for entry in &mut record.steps {
        let stamp = out.join(".steps").join(format!("{}.done", entry.name));
        if let Ok(text) = fs::read_to_string(stamp) {
            let mut lines = text.lines();
            if lines.next() == Some(entry.key.as_str()) {
                entry.seconds = lines
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .map(|v| (v * 1000.0).round() / 1000.0);
            }
        }
    }
    write_atomically(&path, &to_json(&record))
}

/// Submits every unfinished step; returns how many. Refused, with the jobs
/// named, while any job of the study is queued or running.
pub(crate) fn submit(plan: &Plan, s: &Slurm) -> Result<usize> {
    let owners = queued(&s.out)?;
    if !owners.is_empty() {
        let ids: Vec<String> = owners
            .iter()
            .take(8)
            .map(|j| format!("{} ({}, {})", j.id, j.step, j.state.to_lowercase()))
            .collect();
        return Err(format!(
            "{} belongs to {} queued or running job(s) of an earlier submission: {}{}; \
             wait for them (`--wait`), see `--status`, or cancel them (`scancel --name nml-{}-<step>`); nothing was submitted",
            s.out.display(),
            owners.len(),
            ids.join(", "),
            if owners.len() > 8 { ", ..." } else { "" },
            study_id(&s.out)
        )
        .into());
    }
    let mut ids: Vec<Option<String>> = vec![None; plan.steps.len()];
    let mut submitted = 0;
    for (i, step) in plan.steps.iter().enumerate() {
        if finished(&s.out, step).is_some() {
            continue;
        }
        let dir = s.out.join(".slurm");
        let job = dir.join(format!("{}.json", step.name));
        write_atomically(&job, &to_json(&job_of(s, step)))?;
        let path = dir.join(format!("{}.sh", step.name));
        write_atomically(&path, &script(s, step, &job))?;
        let deps: Vec<&str> = step
            .deps
            .iter()
            .filter_map(|&d| ids[d].as_deref())
            .collect();
        let log = log_path(&s.out, &step.name);
        fs::create_dir_all(log.parent().unwrap_or(&s.out))?;
        let mut args = vec![
            "--parsable".to_owned(),
            format!("--job-name={}", job_name(&s.out, &step.name)),
            format!("--comment={}", step.key),
            format!("--output={}", log.display()),
            format!("--chdir={}", s.out.display()),
        ];
        args.extend(resources(s, step));
        if !deps.is_empty() {
            args.push(format!("--dependency=afterok:{}", deps.join(":")));
            args.push("--kill-on-invalid-dep=yes".to_owned());
        }
        args.extend(s.args.iter().cloned());
        args.push(path.display().to_string());
        let id = output("sbatch", &args)
            .map_err(|why| format!("sbatch of step `{}`: {why}", step.name))?;
        // `--parsable`: `id` or `id;cluster`.
        let id = id.trim().split(';').next().unwrap_or("").to_owned();
        ids[i] = Some(id);
        submitted += 1;
    }
    Ok(submitted)
}

/// How far the study is: steps done, queued, running, failed (started,
/// unfinished and no longer in the queue), and not started.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Progress {
    pub done: usize,
    pub queued: usize,
    pub running: usize,
    /// The failed steps, with their logs.
    pub failed: Vec<(String, PathBuf)>,
    pub not_started: usize,
}

/// The study's progress from its stamps and the queue.
pub(crate) fn progress(plan: &Plan, out: &Path) -> Result<Progress> {
    let jobs = queued(out)?;
    let mut p = Progress::default();
    for step in &plan.steps {
        if finished(out, step).is_some() {
            p.done += 1;
        } else if let Some(job) = jobs.iter().find(|j| j.step == step.name) {
            if job.state == "PENDING" {
                p.queued += 1;
            } else {
                p.running += 1;
            }
        } else if started_unfinished(out, step) {
            p.failed
                .push((step.name.clone(), log_path(out, &step.name)));
        } else {
            p.not_started += 1;
        }
    }
    Ok(p)
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} done, {} queued, {} running, {} failed, {} not started",
            self.done,
            self.queued,
            self.running,
            self.failed.len(),
            self.not_started
        )?;
        for (step, log) in &self.failed {
            write!(f, "\n  failed: {step} (log {})", log.display())?;
        }
        Ok(())
    }
}

/// Waits until no job of the study is queued or running.
pub(crate) fn wait(out: &Path) -> Result<()> {
    let mut last = String::new();
    loop {
        let jobs = queued(out)?;
        if jobs.is_empty() {
            return Ok(());
        }
        let running = jobs.iter().filter(|j| j.state != "PENDING").count();
        let now = format!(
            "reproduce: {} job(s) of the study in the queue, {running} running",
            jobs.len()
        );
        if now != last {
            eprintln!("{now}");
            last = now;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_quote_every_argument() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn gpu_steps_ask_for_a_gpu_and_the_rest_for_none() {
        let plan = crate::reproduce::smoke_plan_on(nml_study::DeviceSpec::Cuda(0));
        let s = Slurm {
            out: "/tmp/study".into(),
            bin_dir: "/bin".into(),
            xtask: "/x".into(),
            threads: 2,
            args: Vec::new(),
            profile: Profile::Smoke,
            gpus: true,
            commit: "abc".to_owned(),
        };
        for step in &plan.steps {
            let r = resources(&s, step);
            let gpu = r.iter().any(|a| a == "--gres=gpu:1");
            let torch = matches!(step.stage, Stage::Pretrain | Stage::Features | Stage::Tune);
            assert_eq!(gpu, torch, "{}", step.name);
            assert!(r.contains(&"--cpus-per-task=2".to_owned()));
        }
        let text = script(&s, &plan.steps[0], Path::new("/tmp/study/.slurm/data.json"));
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.ends_with("exec '/x' run-step '/tmp/study/.slurm/data.json'\n"));
        let job = job_of(&s, &plan.steps[0]);
        assert_eq!(job.program, PathBuf::from("/bin/nml-data"));
        assert_eq!(job.args, plan.steps[0].args);
    }
}
