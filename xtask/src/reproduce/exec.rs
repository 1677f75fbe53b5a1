//! The local executor: runs a plan's steps as processes on this machine,
//! skips finished ones, runs up to `jobs` at once, and places every CUDA step
//! on a GPU of its own (`jobs` per device). A step is finished when its
//! outputs exist and its stamp (`.steps/<name>.done`) holds its current key;
//! the stamp is written only after the process succeeded, so a killed run
//! redoes at most the steps it was in (and pre-training resumes from its
//! checkpoint). [`begin`] and [`complete`] are the two ends of a step, shared
//! with the Slurm executor's jobs (`xtask run-step`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nml_study::{DeviceSpec, Plan, Stage, Step};

use super::progress::Progress;
use crate::Result;

/// Where and how to run.
pub(crate) struct Exec {
    /// The output folder: steps run there.
    pub out: PathBuf,
    /// Folder of the stage binaries.
    pub bin_dir: PathBuf,
    /// Steps at once: CPU steps in all, and CUDA steps per device.
    pub jobs: usize,
    /// libtorch threads per process.
    pub threads: usize,
    /// The GPUs CUDA steps are placed on (their indices as `CUDA_VISIBLE_DEVICES`
    /// names them); empty: none, every step counts against `jobs`.
    pub devices: Vec<usize>,
    /// The commit the binaries were built from, passed to every step as
    /// `NML_GIT_COMMIT` (the code version of its records).
    pub commit: String,
}

impl Exec {
    /// `2 jobs`, or `1 job per GPU on cuda:0,cuda:1`.
    pub(crate) fn describe(&self) -> String {
        let jobs = format!("{} job{}", self.jobs, if self.jobs == 1 { "" } else { "s" });
        if self.devices.is_empty() {
            return jobs;
        }
        let gpus: Vec<String> = self.devices.iter().map(|d| format!("cuda:{d}")).collect();
        format!("{jobs} per GPU on {}", gpus.join(","))
    }
}

/// What happened to each step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Status {
    /// Finished before this run: its recorded seconds.
    Cached(f64),
    /// Run now: its seconds.
    Ran(f64),
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

/// Whether `step` was started under its current key and has no stamp of its
/// own finish: a run of it failed, was killed, or is still running.
pub(crate) fn started_unfinished(out: &Path, step: &Step) -> bool {
    fs::read_to_string(stamp(out, &step.name, "started")).is_ok_and(|k| k == step.key)
        && finished(out, step).is_none()
}

/// One end of a step: records that it starts under `key`, removing its
/// resume files when it last started under another key (they cannot be continued).
pub(crate) fn begin(out: &Path, name: &str, key: &str, scratch: &[String]) -> Result<()> {
    let started = stamp(out, name, "started");
    if fs::read_to_string(&started).is_ok_and(|k| k != key) {
        for file in scratch {
            let _ = fs::remove_file(out.join(file));
        }
    }
    write_atomically(&started, key)
}

/// The other end: with the process's success and every output present, the
/// stamp `.steps/<name>.done` (key and seconds) is written; otherwise the
/// reason, naming the step and its log.
pub(crate) fn complete(
    out: &Path,
    name: &str,
    key: &str,
    outputs: &[String],
    (success, exit): (bool, String),
    seconds: f64,
) -> std::result::Result<(), String> {
    let missing: Vec<&String> = outputs.iter().filter(|o| !out.join(o).exists()).collect();
    if success && missing.is_empty() {
        let text = format!("{key}\n{seconds:.3}\n");
        return write_atomically(&stamp(out, name, "done"), &text).map_err(|e| e.to_string());
    }
    let log = log_path(out, name);
    let why = if success {
        format!("exited 0 but did not write {missing:?}")
    } else {
        format!("failed ({exit})")
    };
    Err(format!(
        "step `{name}` {why}; its log is {}:\n{}",
        log.display(),
        tail(&log, 25)
    ))
}

/// Whether `step` takes a GPU slot of `ex`: it computes on CUDA or `auto`
/// and the executor places steps on GPUs. Without GPUs to place on (`--device
/// cuda:N` pins every step itself; heads on CUDA beside a CPU study), a CUDA
/// step takes a CPU slot, and its own device argument says where it runs.
fn on_gpu(step: &Step, devices: &[usize]) -> bool {
    match step.device {
        Some(DeviceSpec::Cuda(_) | DeviceSpec::Auto) => !devices.is_empty(),
        Some(DeviceSpec::Cpu) | None => false,
    }
}

/// The device a ready GPU step goes to: the one running the fewest GPU steps,
/// among those running fewer than `per_device` (the first on ties); None when every one is full.
pub(crate) fn place(running: &[usize], per_device: usize) -> Option<usize> {
    (0..running.len())
        .filter(|&d| running[d] < per_device)
        .min_by_key(|&d| running[d])
}

/// Where a ready step starts now: `Some(None)` on the CPU, `Some(Some(d))` on
/// device d, `None` not yet (its kind of slot is full). CPU steps run up to
/// `jobs` at once; GPU steps `jobs` per device, beside them.
pub(crate) fn slot(
    gpu: bool,
    (cpu_running, gpu_running): (usize, &[usize]),
    jobs: usize,
) -> Option<Option<usize>> {
    if gpu {
        place(gpu_running, jobs).map(Some)
    } else {
        (cpu_running < jobs).then_some(None)
    }
}

enum State {
    Pending,
    /// The process, when it started, and the device slot it holds.
    Running(Child, Instant, Option<usize>),
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
    fn running(&self) -> usize {
        self.state
            .iter()
            .filter(|s| matches!(s, State::Running(..)))
            .count()
    }

    /// CPU steps running, and GPU steps running per device.
    fn load(&self) -> (usize, Vec<usize>) {
        let mut gpus = vec![0; self.ex.devices.len()];
        let mut cpu = 0;
        for s in &self.state {
            match s {
                State::Running(_, _, Some(d)) => gpus[*d] += 1,
                State::Running(_, _, None) => cpu += 1,
                _ => {}
            }
        }
        (cpu, gpus)
    }

    /// Collects finished processes: stamps the successful, records the first failure.
    #[allow(clippy::needless_range_loop)] // `self.state[i]` is replaced inside the loop
    fn reap(&mut self) -> Result<()> {
        for i in 0..self.state.len() {
            let State::Running(child, start, _) = &mut self.state[i] else {
                continue;
            };
            let Some(exit) = child.try_wait()? else {
                continue;
            };
            let seconds = start.elapsed().as_secs_f64();
            let step = &self.plan.steps[i];
            let result = complete(
                &self.ex.out,
                &step.name,
                &step.key,
                &step.outputs,
                (exit.success(), exit.to_string()),
                seconds,
            );
            match result {
                Ok(()) => {
                    self.state[i] = State::Done(Status::Ran(seconds));
                    self.progress.finished(step.stage, &step.name, seconds);
                }
                Err(why) => {
                    self.failure.get_or_insert(why);
                    self.state[i] = State::Pending;
                    self.progress.failed(step.stage);
                }
            }
        }
        Ok(())
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

    /// Starts the steps whose dependencies are done: CPU steps up to `jobs`
    /// running, each GPU step on a device with a free slot.
    #[allow(clippy::needless_range_loop)] // `self.state[i]` is replaced inside the loop
    fn launch(&mut self, before_report: &dyn Fn(&[Option<f64>]) -> Result<()>) -> Result<()> {
        for i in 0..self.state.len() {
            let step = &self.plan.steps[i];
            let ready = matches!(self.state[i], State::Pending)
                && step
                    .deps
                    .iter()
                    .all(|&d| matches!(self.state[d], State::Done(_)));
            if !ready {
                continue;
            }
            let (cpu, gpus) = self.load();
            let Some(slot) = slot(on_gpu(step, &self.ex.devices), (cpu, &gpus), self.ex.jobs)
            else {
                continue;
            };
            if step.stage == Stage::Report {
                before_report(&self.seconds())?;
            }
            let child = spawn(step, self.ex, slot.map(|d| self.ex.devices[d]))?;
            self.state[i] = State::Running(child, Instant::now(), slot);
            self.progress.started(step.stage);
        }
        Ok(())
    }
}

/// Runs the plan; returns each step's status. `before_report` gets every
/// step's seconds (`None`: not finished) just before the report step starts.
pub(crate) fn execute(
    plan: &Plan,
    ex: &Exec,
    before_report: &dyn Fn(&[Option<f64>]) -> Result<()>,
) -> Result<Vec<Status>> {
    let state: Vec<State> = plan
        .steps
        .iter()
        .map(|step| match finished(&ex.out, step) {
            Some(s) => State::Done(Status::Cached(s)),
            None => State::Pending,
        })
        .collect();
    let cached: Vec<bool> = state
        .iter()
        .map(|s| matches!(s, State::Done(Status::Cached(_))))
        .collect();
    let all = vec![true; plan.steps.len()];
    let parallel = ex.jobs * ex.devices.len().max(1);
    let mut run = Runner {
        plan,
        ex,
        state,
        progress: Progress::new(plan, &all, &cached, parallel),
        failure: None,
    };
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
        run.launch(before_report)?;
        if run.state.iter().all(|s| matches!(s, State::Done(_))) {
            break;
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
            _ => unreachable!("every step is done when the loop ends"),
        })
        .collect())
}

pub(crate) fn log_path(out: &Path, name: &str) -> PathBuf {
    out.join("logs").join(format!("{name}.log"))
}

/// Starts `step` in the output folder, its output into its log; on `gpu`
/// (a device index) only that GPU is visible to it, so its `cuda` is that one.
fn spawn(step: &Step, ex: &Exec, gpu: Option<usize>) -> Result<Child> {
    begin(&ex.out, &step.name, &step.key, &step.scratch)?;
    let log = log_path(&ex.out, &step.name);
    fs::create_dir_all(log.parent().unwrap_or(&ex.out))?;
    let file = fs::File::create(&log)?;
    let program = ex.bin_dir.join(step.program.name());
    let mut command = Command::new(&program);
    command
        .args(&step.args)
        .current_dir(&ex.out)
        .env("OMP_NUM_THREADS", ex.threads.to_string())
        .env(nml_study::provenance::COMMIT_ENV, &ex.commit)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    if let Some(d) = gpu {
        command.env("CUDA_VISIBLE_DEVICES", d.to_string());
    }
    command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()).into())
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
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
    fn placement_fills_the_least_loaded_free_device() {
        assert_eq!(place(&[0, 0], 1), Some(0));
        assert_eq!(place(&[1, 0], 1), Some(1));
        assert_eq!(place(&[1, 1], 1), None);
        assert_eq!(place(&[2, 1, 2], 2), Some(1));
        assert_eq!(place(&[], 1), None);
    }

    /// With no GPUs to place on (`--device cuda:1`), CUDA steps take CPU slots
    /// instead of waiting for a GPU slot that never frees.
    #[test]
    fn pinned_cuda_steps_run_without_placement() {
        let plan = crate::reproduce::smoke_plan_on(DeviceSpec::Cuda(1));
        for step in &plan.steps {
            assert!(!on_gpu(step, &[]), "{}", step.name);
            assert_eq!(slot(on_gpu(step, &[]), (0, &[]), 1), Some(None));
        }
    }

    /// The runner's placement over a whole plan, simulated: steps finish in
    /// an arbitrary order; with two devices and one job each, no two GPU steps
    /// share a device at once and every GPU step gets one.
    #[test]
    fn no_two_gpu_steps_share_a_device() {
        let plan = crate::reproduce::smoke_plan_on(DeviceSpec::Cuda(0));
        let devices = [0usize, 1];
        let gpu: Vec<bool> = plan.steps.iter().map(|s| on_gpu(s, &devices)).collect();
        assert!(gpu.iter().filter(|g| **g).count() > 20);
        assert!(
            gpu.iter().any(|g| !g),
            "data and report steps stay on the CPU"
        );
        // (step, device) running; done steps.
        let mut running: Vec<(usize, Option<usize>)> = Vec::new();
        let mut done = vec![false; plan.steps.len()];
        let mut placed = vec![None; plan.steps.len()];
        let mut started = vec![false; plan.steps.len()];
        let mut tick = 0usize;
        while !done.iter().all(|d| *d) {
            // Start what is ready, as `launch` does.
            for i in 0..plan.steps.len() {
                if started[i] || !plan.steps[i].deps.iter().all(|&d| done[d]) {
                    continue;
                }
                let mut load = vec![0; devices.len()];
                let mut cpu = 0;
                for (_, d) in &running {
                    match d {
                        Some(d) => load[*d] += 1,
                        None => cpu += 1,
                    }
                }
                let Some(slot) = slot(gpu[i], (cpu, &load), 1) else {
                    continue;
                };
                started[i] = true;
                placed[i] = slot;
                running.push((i, slot));
                for d in 0..devices.len() {
                    let here = running.iter().filter(|r| r.1 == Some(d)).count();
                    assert!(here <= 1, "two GPU steps on device {d}");
                }
            }
            // Finish one running step, chosen by the tick.
            assert!(!running.is_empty(), "nothing runs and nothing can start");
            let k = tick % running.len();
            let (i, _) = running.remove(k);
            done[i] = true;
            tick = tick.wrapping_mul(31).wrapping_add(7);
        }
        for (i, g) in gpu.iter().enumerate() {
            assert_eq!(placed[i].is_some(), *g, "{}", plan.steps[i].name);
        }
        // Both devices were used.
        assert!(placed.contains(&Some(0)) && placed.contains(&Some(1)));
    }
}
