//! Runs a plan's steps as processes: skips finished ones, runs up to `jobs`
//! at once, takes only this shard's share, and waits for other shards' steps
//! it reads from. A step is finished when its outputs exist and its stamp
//! (`.steps/<name>.done`) holds its current key; the stamp is written only
//! after the process succeeded, so a killed run redoes at most the steps it
//! was in (and pre-training resumes from its checkpoint).

use std::fs;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::plan::{Plan, Step, STAGES};
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

/// Runs the plan; returns each step's status. `before_report` gets every
/// step's seconds (`None`: not finished) just before the report step starts.
pub(crate) fn execute(
    plan: &Plan,
    ex: &Exec,
    before_report: &dyn Fn(&[Option<f64>]) -> Result<()>,
) -> Result<Vec<Status>> {
    let n = plan.steps.len();
    let need = needed(plan, ex.shard);
    let mine = |i: usize| owner(plan, i, ex.shard.1) == ex.shard.0;
    let mut state: Vec<State> = plan
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
    let mut progress = Progress::new(plan, &need, &cached, ex.jobs);
    let mut failure: Option<String> = None;
    let mut last_poll = Instant::now();
    let mut last_wait_note = Instant::now();
    loop {
        // Reap finished processes.
        #[allow(clippy::needless_range_loop)] // `state[i]` is replaced inside the loop
        for i in 0..n {
            let State::Running(child, start) = &mut state[i] else {
                continue;
            };
            let Some(exit) = child.try_wait()? else {
                continue;
            };
            let seconds = start.elapsed().as_secs_f64();
            let step = &plan.steps[i];
            let missing: Vec<&String> = step
                .outputs
                .iter()
                .filter(|o| !ex.out.join(o).exists())
                .collect();
            if exit.success() && missing.is_empty() {
                write_atomically(
                    &stamp(&ex.out, &step.name, "done"),
                    &format!("{}\n{seconds:.3}\n", step.key),
                )?;
                state[i] = State::Done(Status::Ran(seconds));
                progress.finished(step.stage, &step.name, seconds);
            } else {
                let log = log_path(&ex.out, &step.name);
                let why = if exit.success() {
                    format!("exited 0 but did not write {missing:?}")
                } else {
                    format!("failed ({exit})")
                };
                failure.get_or_insert(format!(
                    "step `{}` {why}; its log is {}:\n{}",
                    step.name,
                    log.display(),
                    tail(&log, 25)
                ));
                state[i] = State::Pending;
                progress.failed(step.stage);
            }
        }
        let running = state
            .iter()
            .filter(|s| matches!(s, State::Running(..)))
            .count();
        if let Some(message) = &failure {
            if running == 0 {
                progress.close();
                return Err(message.clone().into());
            }
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        // Other shards' steps: look for their stamps now and then.
        if last_poll.elapsed() > Duration::from_secs(2) {
            last_poll = Instant::now();
            for (i, st) in state.iter_mut().enumerate() {
                if matches!(st, State::Pending) && !mine(i) {
                    if let Some(s) = finished(&ex.out, &plan.steps[i]) {
                        *st = State::Done(Status::Cached(s));
                    }
                }
            }
        }
        // Launch what is ready.
        let mut slots = ex.jobs.saturating_sub(running);
        for i in 0..n {
            if slots == 0 {
                break;
            }
            let ready = matches!(state[i], State::Pending)
                && mine(i)
                && plan.steps[i]
                    .deps
                    .iter()
                    .all(|&d| matches!(state[d], State::Done(_)));
            if ready {
                if plan.steps[i].stage == "report" {
                    let seconds: Vec<Option<f64>> = state
                        .iter()
                        .map(|s| match s {
                            State::Done(Status::Cached(t) | Status::Ran(t)) => Some(*t),
                            _ => None,
                        })
                        .collect();
                    before_report(&seconds)?;
                }
                let child = spawn(&plan.steps[i], ex)?;
                state[i] = State::Running(child, Instant::now());
                progress.started(plan.steps[i].stage);
                slots -= 1;
            }
        }
        if state.iter().all(|s| matches!(s, State::Done(_))) {
            break;
        }
        let running = state
            .iter()
            .filter(|s| matches!(s, State::Running(..)))
            .count();
        if running == 0 && last_wait_note.elapsed() > Duration::from_secs(60) {
            last_wait_note = Instant::now();
            let waiting: Vec<&str> = (0..n)
                .filter(|&i| matches!(state[i], State::Pending) && !mine(i))
                .map(|i| plan.steps[i].name.as_str())
                .take(3)
                .collect();
            eprintln!("reproduce: waiting for other shards' steps: {waiting:?} ...");
        }
        progress.draw(false);
        std::thread::sleep(Duration::from_millis(50));
    }
    progress.close();
    Ok(state
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
    let program = ex.bin_dir.join(&step.program);
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

/// Progress: on a terminal one line, redrawn in place, with every active
/// stage's count and ETA; elsewhere (logs, CI) a line per finished step.
/// Either way a stage's final line says how many steps it ran and took.
struct Progress {
    stages: Vec<StageProgress>,
    jobs: usize,
    tty: bool,
    drawn: Instant,
}

struct StageProgress {
    name: &'static str,
    total: usize,
    cached: usize,
    done: usize,
    running: usize,
    seconds: f64,
    start: Option<Instant>,
    closed: bool,
}

impl StageProgress {
    fn finished(&self) -> usize {
        self.done + self.cached
    }

    fn summary(&self, jobs: usize) -> String {
        let remaining = self.total.saturating_sub(self.finished());
        let eta = if self.done > 0 && remaining > 0 {
            let parallel = self.running.clamp(1, jobs) as f64;
            format!(
                " ETA {}",
                duration(self.seconds / self.done as f64 * remaining as f64 / parallel)
            )
        } else {
            String::new()
        };
        format!("{} {}/{}{eta}", self.name, self.finished(), self.total)
    }
}

impl Progress {
    fn new(plan: &Plan, need: &[bool], cached: &[bool], jobs: usize) -> Progress {
        let stages = STAGES
            .iter()
            .map(|&name| {
                let of_stage = |i: &usize| need[*i] && plan.steps[*i].stage == name;
                StageProgress {
                    name,
                    total: (0..plan.steps.len()).filter(of_stage).count(),
                    cached: (0..plan.steps.len())
                        .filter(of_stage)
                        .filter(|&i| cached[i])
                        .count(),
                    done: 0,
                    running: 0,
                    seconds: 0.0,
                    start: None,
                    closed: false,
                }
            })
            .collect();
        Progress {
            stages,
            jobs,
            tty: std::io::stderr().is_terminal(),
            drawn: Instant::now(),
        }
    }

    fn index(&self, stage: &str) -> usize {
        self.stages
            .iter()
            .position(|s| s.name == stage)
            .unwrap_or(0)
    }

    fn started(&mut self, stage: &str) {
        let i = self.index(stage);
        let s = &mut self.stages[i];
        s.running += 1;
        s.start.get_or_insert_with(Instant::now);
    }

    fn finished(&mut self, stage: &str, name: &str, seconds: f64) {
        let i = self.index(stage);
        let s = &mut self.stages[i];
        s.running -= 1;
        s.done += 1;
        s.seconds += seconds;
        if !self.tty {
            eprintln!(
                "reproduce: {name} done in {} · {}",
                duration(seconds),
                s.summary(self.jobs)
            );
        }
        if s.finished() == s.total {
            self.close_stage(i);
        }
        self.draw(true);
    }

    fn failed(&mut self, stage: &str) {
        let i = self.index(stage);
        self.stages[i].running -= 1;
    }

    fn close_stage(&mut self, i: usize) {
        let s = &mut self.stages[i];
        if s.closed {
            return;
        }
        s.closed = true;
        let took = s.start.map_or(0.0, |t| t.elapsed().as_secs_f64());
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!(
            "reproduce: stage {} finished: {} steps ran, {} were done before · {}",
            s.name,
            s.done,
            s.cached,
            duration(took)
        );
    }

    fn draw(&mut self, force: bool) {
        if !self.tty || (!force && self.drawn.elapsed() < Duration::from_millis(500)) {
            return;
        }
        self.drawn = Instant::now();
        let active: Vec<String> = self
            .stages
            .iter()
            .filter(|s| s.start.is_some() && !s.closed)
            .map(|s| s.summary(self.jobs))
            .collect();
        eprint!("\r\x1b[2Kreproduce: {}", active.join(" · "));
        let _ = std::io::stderr().flush();
    }

    /// Ends the display: complete stages get their final line, a redrawn line its newline.
    fn close(&mut self) {
        for i in 0..self.stages.len() {
            if self.stages[i].start.is_some() && self.stages[i].finished() == self.stages[i].total {
                self.close_stage(i);
            }
        }
        if self.tty {
            eprintln!();
        }
    }
}

/// `1h02m`, `3m05s`, `12s`.
pub(crate) fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
