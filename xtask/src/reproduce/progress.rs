//! The progress display of a study: on a terminal one line redrawn in
//! place, elsewhere a line per finished step, and a final line per stage.

use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

use nml_study::{Plan, Stage};

/// Progress: on a terminal one line, redrawn in place, with every active
/// stage's count and ETA; elsewhere (logs, CI) a line per finished step.
/// Either way a stage's final line says how many steps it ran and took.
pub(crate) struct Progress {
    stages: Vec<StageProgress>,
    jobs: usize,
    tty: bool,
    drawn: Instant,
}

struct StageProgress {
    stage: Stage,
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
        format!("{} {}/{}{eta}", self.stage, self.finished(), self.total)
    }
}

impl Progress {
    pub(crate) fn new(plan: &Plan, need: &[bool], cached: &[bool], jobs: usize) -> Progress {
        let stages = Stage::ALL
            .iter()
            .map(|&stage| {
                let of_stage = |i: &usize| need[*i] && plan.steps[*i].stage == stage;
                StageProgress {
                    stage,
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

    fn index(&self, stage: Stage) -> usize {
        self.stages
            .iter()
            .position(|s| s.stage == stage)
            .unwrap_or(0)
    }

    pub(crate) fn started(&mut self, stage: Stage) {
        let i = self.index(stage);
        let s = &mut self.stages[i];
        s.running += 1;
        s.start.get_or_insert_with(Instant::now);
    }

    pub(crate) fn finished(&mut self, stage: Stage, name: &str, seconds: f64) {
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

    pub(crate) fn failed(&mut self, stage: Stage) {
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
            s.stage,
            s.done,
            s.cached,
            duration(took)
        );
    }

    pub(crate) fn draw(&mut self, force: bool) {
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
    pub(crate) fn close(&mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(12.4), "12s");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(3720.0), "1h02m");
    }
}
