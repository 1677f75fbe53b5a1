//! The Slurm executor against a real one-node Slurm (started here, stopped
//! at the end by the pids it started): the smoke study submitted with
//! `--wait` gives the local run's tables byte for byte; a second submission
//! while the first's jobs are queued submits nothing; a cancelled
//! pre-training job stops what depends on it, and a resubmission finishes
//! the study with the same tables, running only what had not finished.
//! Skipped, in one line, where the daemons cannot start (no root, not installed).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{check_outputs, forget, redone, redone_pretraining, smoke_plan, DETERMINISTIC};
use crate::cluster::Cluster;
use crate::{project_root, Result};

/// A study submitted to the test cluster: its folder and the environment that finds the cluster.
struct Study {
    xtask: PathBuf,
    env: Vec<(&'static str, OsString)>,
    out: PathBuf,
    /// Job names of the study start with this.
    prefix: String,
}

impl Study {
    /// `xtask reproduce --profile smoke --jobs 2 --executor slurm EXTRA --out OUT`.
    fn submit(&self, extra: &[&str]) -> Command {
        self.submit_to(&self.out, extra)
    }

    /// The same into another folder.
    fn submit_to(&self, out: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(&self.xtask);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c.args([
            "reproduce",
            "--profile",
            "smoke",
            "--jobs",
            "2",
            "--executor",
            "slurm",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .current_dir(project_root());
        c
    }

    /// (job id, step, state) of the study's jobs in the queue.
    fn queue(&self) -> Vec<(String, String, String)> {
        let out = Command::new("squeue")
            .args(["-h", "-o", "%i|%j|%T"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output();
        let text = out.map_or_else(
            |_| String::new(),
            |o| String::from_utf8_lossy(&o.stdout).into_owned(),
        );
        text.lines()
            .filter_map(|l| {
                let mut p = l.splitn(3, '|');
                let (id, name, state) = (p.next()?, p.next()?, p.next()?);
                let step = name.strip_prefix(&self.prefix)?;
                Some((
                    id.trim().to_owned(),
                    step.to_owned(),
                    state.trim().to_owned(),
                ))
            })
            .collect()
    }

    /// Waits until none of the study's jobs is in the queue.
    fn drained(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        while !self.queue().is_empty() {
            if Instant::now() > deadline {
                return Err("the study's jobs did not leave the queue within 10 minutes".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    /// `scontrol`/`scancel` on the cluster.
    fn control(&self, program: &str, args: &[&str]) -> Result<()> {
        let status = Command::new(program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status()?;
        if !status.success() {
            return Err(format!("{program} {} failed", args.join(" ")).into());
        }
        Ok(())
    }

    /// Every table that must not depend on the executor equals `whole`'s.
    fn same_as(&self, whole: &Path, label: &str) -> Result<()> {
        for table in DETERMINISTIC {
            let a = fs::read(whole.join("results").join(format!("{table}.parquet")))?;
            let b = fs::read(self.out.join("results").join(format!("{table}.parquet")))?;
            if a != b {
                return Err(format!(
                    "results/{table}.parquet differs between the local run and the Slurm run ({label}; {} and {})",
                    whole.display(),
                    self.out.display()
                )
                .into());
            }
        }
        Ok(())
    }
}

/// The Slurm check's first part, which needs no local results: the cluster
/// started, bad input refused, the whole smoke study run through Slurm. None
/// (after a line saying why) where no cluster can start here.
pub(crate) struct Started {
    cluster: Cluster,
    study: Study,
    root: PathBuf,
    start: Instant,
    whole_seconds: f64,
}

pub(crate) fn slurm_study(
    xtask: PathBuf,
    env: Vec<(&'static str, OsString)>,
) -> Result<Option<Started>> {
    if let Some(why) = Cluster::unavailable() {
        eprintln!("xtask test: Slurm check skipped: {why}");
        return Ok(None);
    }
    let start = Instant::now();
    let root = std::env::temp_dir().join(format!("nml-slurm-{}", std::process::id()));
    let cluster = Cluster::start(&root.join("cluster"))?;
    let mut env = env;
    env.push(cluster.env());
    let out = std::path::absolute(root.join("study"))?;
    let study = Study {
        xtask,
        env,
        prefix: format!("nml-{}-", crate::reproduce::slurm::study_id(&out)),
        out,
    };
    let mut started = Started {
        cluster,
        study,
        root,
        start,
        whole_seconds: 0.0,
    };
    refusals(&started.study, &started.root)?;
    whole_study(&started.study)?;
    started.whole_seconds = start.elapsed().as_secs_f64();
    Ok(Some(started))
}

/// The second part: the Slurm run's tables against the local run's (`whole`),
/// then a cancelled job and a resubmission; the cluster stopped.
pub(crate) fn slurm_check(started: Started, whole: &Path) -> Result<()> {
    let Started {
        cluster,
        study,
        root,
        start,
        whole_seconds,
    } = started;
    study.same_as(whole, "whole study")?;
    let (again, forgotten) = cancel_and_resubmit(&study)?;
    study.same_as(whole, "after a cancelled job and a resubmission")?;
    drop(cluster);
    eprintln!(
        "xtask test: Slurm check passed (smoke study as {} jobs in {whole_seconds:.0}s, its tables byte-identical to the local run's; \
         bad input refused; a second submission refused; a cancelled pre-training stopped its dependents and {again} of {forgotten} jobs ran again) in {:.0}s",
        smoke_plan()?.steps.len(),
        start.elapsed().as_secs_f64()
    );
    fs::remove_dir_all(&root)?;
    Ok(())
}

/// Bad input is one line and submits and writes nothing: no `sbatch` on the
/// PATH, a controller that does not answer, a `--slurm-arg` sbatch rejects.
fn refusals(study: &Study, root: &Path) -> Result<()> {
    let out = root.join("refused");
    let dead = root.join("dead.conf");
    let conf = fs::read_to_string(root.join("cluster/slurm.conf"))?;
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let conf: String = conf
        .lines()
        .map(|l| {
            if l.starts_with("SlurmctldPort=") {
                format!("SlurmctldPort={port}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(&dead, conf)?;
    let cases: [(&[&str], (&str, &std::ffi::OsStr), &str); 3] = [
        (
            &[],
            ("PATH", std::ffi::OsStr::new("/nonexistent")),
            "`sbatch` is not on the PATH",
        ),
        (
            &[],
            ("SLURM_CONF", dead.as_os_str()),
            "the Slurm controller does not answer",
        ),
        (
            &["--slurm-arg", "--partition=nowhere"],
            ("NML_UNUSED", std::ffi::OsStr::new("")),
            "--slurm-arg: sbatch rejects `--partition=nowhere`",
        ),
    ];
    for (extra, (key, value), says) in cases {
        let run = study.submit_to(&out, extra).env(key, value).output()?;
        let said = String::from_utf8_lossy(&run.stderr).into_owned();
        if run.status.success() || !said.contains(says) || said.trim().lines().count() != 1 {
            return Err(format!("expected one line saying `{says}`, got:\n{said}").into());
        }
        if out.exists() || !study.queue().is_empty() {
            return Err(
                format!("a refused submission ({says}) wrote or submitted something").into(),
            );
        }
    }
    Ok(())
}

/// The whole study, followed to its end; meanwhile a second submission is refused.
fn whole_study(study: &Study) -> Result<()> {
    let mut first = study.submit(&["--wait"]).stderr(Stdio::piped()).spawn()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while study.queue().is_empty() {
        if first.try_wait()?.is_some() || Instant::now() > deadline {
            return Err("the Slurm submission ended or stalled before any job was queued".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let second = study.submit(&[]).stderr(Stdio::piped()).output()?;
    let said = String::from_utf8_lossy(&second.stderr).into_owned();
    if second.status.success()
        || !said.contains("queued or running job(s) of an earlier submission")
    {
        return Err(
            format!("a second submission during the first was not refused:\n{said}").into(),
        );
    }
    let first = first.wait_with_output()?;
    if !first.status.success() {
        return Err(format!(
            "reproduce --executor slurm --wait failed:\n{}",
            String::from_utf8_lossy(&first.stderr)
        )
        .into());
    }
    check_outputs(&study.out)
}

/// Forgets the last pre-training steps and what reads them, resubmits them
/// held, releases them and cancels a pre-training job once its step has
/// begun: nothing that depends on it runs, `--status` names it, and a
/// resubmission runs fewer jobs than were forgotten. Returns (jobs run again, forgotten steps).
fn cancel_and_resubmit(study: &Study) -> Result<(usize, usize)> {
    let plan = smoke_plan()?;
    let redo = redone(&plan);
    forget(&study.out, &plan, &redo)?;
    // Held, then released: a smoke pre-training takes seconds, less than a submission.
    let submitted = study
        .submit(&["--slurm-arg", "--hold"])
        .stderr(Stdio::piped())
        .output()?;
    if !submitted.status.success() {
        return Err(format!(
            "the resubmission failed:\n{}",
            String::from_utf8_lossy(&submitted.stderr)
        )
        .into());
    }
    let ids: Vec<String> = study.queue().into_iter().map(|j| j.0).collect();
    study.control("scontrol", &["release", &ids.join(",")])?;
    let pretrain = redone_pretraining(&plan, &redo);
    let deadline = Instant::now() + Duration::from_secs(300);
    let (victim, victim_step) = loop {
        // Running in Slurm's eyes and begun in the study's (its `started`
        // stamp written): a job cancelled between the two never began its
        // step, and `--status` rightly counts it as not started.
        let running = study.queue().into_iter().find(|j| {
            j.2 == "RUNNING"
                && pretrain.iter().any(|s| s.name == j.1)
                && study.out.join(format!(".steps/{}.started", j.1)).exists()
        });
        if let Some(job) = running {
            break (job.0, job.1);
        }
        if Instant::now() > deadline {
            return Err("no redone pre-training job was seen running".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    study.control("scancel", &[&victim])?;
    study.drained()?;
    if study.out.join(".steps/report.done").exists() {
        return Err(
            "the report ran although a pre-training job it depends on was cancelled".into(),
        );
    }
    let status = study.submit(&["--status"]).output()?;
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    // A job seen running may finish its step (and stamp it) before the cancel
    // lands on a loaded machine: its dependents are cancelled all the same, but
    // nothing failed. Otherwise the status must name the cancelled step.
    let finished_first = study
        .out
        .join(format!(".steps/{victim_step}.done"))
        .exists();
    if finished_first {
        eprintln!("xtask test: Slurm check: {victim_step} finished before its cancel landed");
        if status.contains(" 0 not started") {
            return Err(format!("the cancel stopped no dependent:\n{status}").into());
        }
    } else if !status.contains(&format!("failed: {victim_step}")) {
        return Err(format!("--status does not name the cancelled step:\n{status}").into());
    }
    let resumed = study.submit(&["--wait"]).stderr(Stdio::piped()).output()?;
    let said = String::from_utf8_lossy(&resumed.stderr).into_owned();
    if !resumed.status.success() {
        return Err(format!("the resubmission after the cancel failed:\n{said}").into());
    }
    let again: usize = said
        .lines()
        .find_map(|l| {
            l.strip_prefix("reproduce: ")?
                .split(" job(s) submitted")
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| {
            format!("the resubmission did not say how many jobs it submitted:\n{said}")
        })?;
    let forgotten = redo.iter().filter(|r| **r).count();
    if again == 0 || again >= forgotten {
        return Err(format!(
            "after the cancel, {again} jobs were submitted again; expected fewer than the {forgotten} forgotten steps"
        )
        .into());
    }
    check_outputs(&study.out)?;
    Ok((again, forgotten))
}
