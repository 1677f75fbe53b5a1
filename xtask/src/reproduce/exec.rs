//! Runs a plan's steps as processes: skips finished ones, runs up to `jobs`
//! at once, takes only this shard's share, and waits for other shards' steps
//! it reads from. A step is finished when its outputs exist and its stamp
//! (`.steps/<name>.done`) holds its current key; the stamp is written only
//! after the process succeeded, so a killed run redoes at most the steps it
//! was in (and pre-training resumes from its checkpoint).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nml_study::{Plan, Stage, Step};

use super::progress::Progress;
use crate::Result;

/// Where and how to run.
pub(crate) struct Exec {
    /// The output folder: steps run there.
    pub out: PathBuf,
    /// Folder of the stage binaries.
    pub bin_dir: PathBuf,
    /// Processes at once.
    pub jobs: usize,
    /// (i, n): this process runs the steps with index-in-stage ≡ i (mod n).
    pub shard: (usize, usize),
    /// libtorch threads per process.
    pub threads: usize,
}

/// What happened to each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Status {
    /// Finished before this run (by an earlier run or another shard): its recorded seconds.
    Cached(f64),
    /// Run now: its seconds.
    Ran(f64),
    /// Neither run nor needed by this shard.
    Skipped,
}

fn stamp(out: &Path, name: &str, ext: &str) -> PathBuf {
    out.join(".steps").join(format!("{name}.{ext}"))
}

/// The recorded seconds of `step` when it is finished under its current key.
pub(crate) fn finished(out: &Path, step: &Step) -> Option<f64> {
    let text = fs::read_to_string(stamp(out, &step.name, "done")).ok()?;
    let mut lines = text.lines();
    if lines.next()? != step.key || !step.outputs.iter().all(|o| out.join(o).exists()) {
        return None;
    }
    Some(lines.next().and_then(|s| s.parse().ok()).unwrap_or(0.0))
}

/// Index of `i` among the steps of its stage, modulo `n`: the shard that runs it.
pub(crate) fn owner(plan: &Plan, i: usize, n: usize) -> usize {
    let stage = plan.steps[i].stage;
    plan.steps[..i].iter().filter(|s| s.stage == stage).count() % n
}

/// The steps this shard needs: its own and, transitively, what they read.
pub(crate) fn needed(plan: &Plan, shard: (usize, usize)) -> Vec<bool> {
    let mut need: Vec<bool> = (0..plan.steps.len())
        .map(|i| owner(plan, i, shard.1) == shard.0)
        .collect();
    for i in (0..plan.steps.len()).rev() {
        if need[i] {
            for &d in &plan.steps[i].deps {
                need[d] = true;
            }
        }
    }
    need
}

enum State {
    Pending,
    Running(Child, Instant),
    Done(Status),
}

/// A plan being run: each step's state, the progress display, the first failure.
struct Runner<'a> {
    plan: &'a Plan,
    ex: &'a Exec,
    state: Vec<State>,
    progress: Progress,
    failure: Option<String>,
}

impl Runner<'_> {
    /// Whether this shard runs step `i`.
    fn mine(&self, i: usize) -> bool {
        owner(self.plan, i, self.ex.shard.1) == self.ex.shard.0
    }

    fn running(&self) -> usize {
        self.state
            .iter()
            .filter(|s| matches!(s, State::Running(..)))
            .count()
    }

    /// Collects finished processes: stamps the successful, records the first failure.
    #[allow(clippy::needless_range_loop)] // `self.state[i]` is replaced inside the loop
    fn reap(&mut self) -> Result<()> {
        for i in 0..self.state.len() {
            let State::Running(child, start) = &mut self.state[i] else {
                continue;
            };
            let Some(exit) = child.try_wait()? else {
                continue;
            };
            let seconds = start.elapsed().as_secs_f64();
            let (step, out) = (&self.plan.steps[i], &self.ex.out);
            let missing: Vec<&String> = step
                .outputs
                .iter()
                .filter(|o| !out.join(o).exists())
                .collect();
            if exit.success() && missing.is_empty() {
                let stamp_text = format!("{}\n{seconds:.3}\n", step.key);
                write_atomically(&stamp(out, &step.name, "done"), &stamp_text)?;
                self.state[i] = State::Done(Status::Ran(seconds));
                self.progress.finished(step.stage, &step.name, seconds);
            } else {
                let log = log_path(out, &step.name);
                let why = if exit.success() {
                    format!("exited 0 but did not write {missing:?}")
                } else {
                    format!("failed ({exit})")
                };
                self.failure.get_or_insert(format!(
                    "step `{}` {why}; its log is {}:\n{}",
                    step.name,
                    log.display(),
                    tail(&log, 25)
                ));
                self.state[i] = State::Pending;
                self.progress.failed(step.stage);
            }
        }
        Ok(())
    }

    /// Marks other shards' steps finished when their stamps appear.
    #[allow(clippy::needless_range_loop)] // `self.state[i]` is replaced inside the loop
    fn poll_other_shards(&mut self) {
        for i in 0..self.state.len() {
            if matches!(self.state[i], State::Pending) && !self.mine(i) {
                if let Some(s) = finished(&self.ex.out, &self.plan.steps[i]) {
                    self.state[i] = State::Done(Status::Cached(s));
                }
            }
        }
    }

    /// Each step's seconds so far (`None`: not finished).
    fn seconds(&self) -> Vec<Option<f64>> {
        self.state
            .iter()
            .map(|s| match s {
                State::Done(Status::Cached(t) | Status::Ran(t)) => Some(*t),
                _ => None,
            })
            .collect()
    }

    /// Starts this shard's steps whose dependencies are done, up to `jobs` running.
    #[allow(clippy::needless_range_loop)] // `self.state[i]` is replaced inside the loop
    fn launch(&mut self, before_report: &dyn Fn(&[Option<f64>]) -> Result<()>) -> Result<()> {
        let mut slots = self.ex.jobs.saturating_sub(self.running());
        for i in 0..self.state.len() {
            if slots == 0 {
                break;
            }
            let step = &self.plan.steps[i];
            let ready = matches!(self.state[i], State::Pending)
                && self.mine(i)
                && step
                    .deps
                    .iter()
                    .all(|&d| matches!(self.state[d], State::Done(_)));
            if ready {
                if step.stage == Stage::Report {
                    before_report(&self.seconds())?;
                }
                let child = spawn(step, self.ex)?;
                self.state[i] = State::Running(child, Instant::now());
                self.progress.started(step.stage);
                slots -= 1;
            }
        }
        Ok(())
    }

    /// Up to three steps of other shards this one waits for.
    fn awaited(&self) -> Vec<&str> {
        (0..self.state.len())
            .filter(|&i| matches!(self.state[i], State::Pending) && !self.mine(i))
            .map(|i| self.plan.steps[i].name.as_str())
            .take(3)
            .collect()
    }
}

/// Runs the plan; returns each step's status. `before_report` gets every
/// step's seconds (`None`: not finished) just before the report step starts.
pub(crate) fn execute(
    plan: &Plan,
    ex: &Exec,
    before_report: &dyn Fn(&[Option<f64>]) -> Result<()>,
) -> Result<Vec<Status>> {
    let need = needed(plan, ex.shard);
    let state: Vec<State> = plan
        .steps
        .iter()
        .zip(&need)
        .map(|(step, &need)| match (need, finished(&ex.out, step)) {
            (false, _) => State::Done(Status::Skipped),
            (true, Some(s)) => State::Done(Status::Cached(s)),
            (true, None) => State::Pending,
        })
        .collect();
    let cached: Vec<bool> = state
        .iter()
        .zip(&need)
        .map(|(s, &n)| n && matches!(s, State::Done(Status::Cached(_))))
        .collect();
    let mut run = Runner {
        plan,
        ex,
        state,
        progress: Progress::new(plan, &need, &cached, ex.jobs),
        failure: None,
    };
    let (mut last_poll, mut last_wait_note) = (Instant::now(), Instant::now());
    loop {
        run.reap()?;
        if let Some(message) = &run.failure {
            if run.running() == 0 {
                run.progress.close();
                return Err(message.clone().into());
            }
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        // Other shards' steps: look for their stamps now and then.
        if last_poll.elapsed() > Duration::from_secs(2) {
            last_poll = Instant::now();
            run.poll_other_shards();
        }
        run.launch(before_report)?;
        if run.state.iter().all(|s| matches!(s, State::Done(_))) {
            break;
        }
        if run.running() == 0 && last_wait_note.elapsed() > Duration::from_secs(60) {
            last_wait_note = Instant::now();
            let waiting = run.awaited();
            eprintln!("reproduce: waiting for other shards' steps: {waiting:?} ...");
        }
        run.progress.draw(false);
        std::thread::sleep(Duration::from_millis(50));
    }
    run.progress.close();
    Ok(run
        .state
        .into_iter()
        .map(|s| match s {
            State::Done(status) => status,
            _ => Status::Skipped,
        })
        .collect())
}

pub(crate) fn log_path(out: &Path, name: &str) -> PathBuf {
    out.join("logs").join(format!("{name}.log"))
}

fn spawn(step: &Step, ex: &Exec) -> Result<Child> {
    let started = stamp(&ex.out, &step.name, "started");
    if fs::read_to_string(&started).is_ok_and(|k| k != step.key) {
        // Left by a run under another config: it cannot be continued.
        for file in &step.scratch {
            let _ = fs::remove_file(ex.out.join(file));
        }
    }
    write_atomically(&started, &step.key)?;
    let log = log_path(&ex.out, &step.name);
    fs::create_dir_all(log.parent().unwrap_or(&ex.out))?;
    let file = fs::File::create(&log)?;
    let program = ex.bin_dir.join(step.program.name());
    Command::new(&program)
        .args(&step.args)
        .current_dir(&ex.out)
        .env("OMP_NUM_THREADS", ex.threads.to_string())
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()).into())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_each_stage_and_cover_everything_once() {
        let mut plan = nml_study::plan::build(
            &smoke_benchmark(),
            &nml_study::Profile::Smoke.sizes(),
            0,
            nml_study::DeviceSpec::Cpu,
        );
        plan.add_report();
        let n = 3;
        for (i, step) in plan.steps.iter().enumerate() {
            let owners = (0..n).filter(|&s| owner(&plan, i, n) == s).count();
            assert_eq!(owners, 1, "{}", step.name);
        }
        let pretrain: Vec<usize> = (0..plan.steps.len())
            .filter(|&i| plan.steps[i].stage == Stage::Pretrain)
            .map(|i| owner(&plan, i, n))
            .collect();
        let cycle: Vec<usize> = (0..20).map(|i| i % 3).collect();
        assert_eq!(pretrain, cycle);
        // Shard 2 needs the data step (shard 0's) but runs no report.
        let need = needed(&plan, (2, n));
        assert!(need[0]);
        let report = plan.steps.len() - 1;
        assert_eq!(owner(&plan, report, n), 0);
        assert!(!need[report]);
        assert!(needed(&plan, (0, n)).iter().all(|&b| b));
    }

    fn smoke_benchmark() -> nml_study::NoisyBenchmark {
        let sizes = nml_study::Profile::Smoke.sizes();
        match nml_study::Study::new(nml_study::Benchmark::Synth, None, &sizes, 0) {
            Ok((nml_study::Study::Noisy(b), _)) => b,
            _ => unreachable!("synth is a noisy study"),
        }
    }
}
