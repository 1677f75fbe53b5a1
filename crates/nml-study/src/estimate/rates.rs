//! The throughput table (`docs/throughput.toml`, embedded): measured rates per
//! kind of work, architecture or head, input size and device, and what a
//! process costs to start on each device.

use std::collections::BTreeMap;

use nml_spec::{Arch, Objective, Protocol};
use serde::Deserialize;

use super::{Machine, Work};

/// The table as the repository holds it.
const TABLE: &str = include_str!("../../../../docs/throughput.toml");

/// Whose rates: this CPU (per thread) or one CUDA GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

/// The kinds of [`Work`], each with its unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkKind {
    /// Steps (the report): `per_second` is steps per second.
    Fixed,
    /// Images written per second.
    Data,
    /// Rows relabelled per second.
    Corrupt,
    /// Training images per second.
    Pretrain,
    /// Images encoded per second.
    Extract,
    /// Characters of text encoded per second.
    Text,
    /// Head training samples per second.
    Head,
    /// Feature rows analysed per second.
    Spectral,
}

/// What starting one step's process costs on a device, and how its rates scale.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCosts {
    /// Seconds from spawn to work: loading libtorch, reading inputs, (CUDA) a context.
    pub startup_seconds: f64,
    /// CPU threads the CPU rates were measured at; a step's rate scales with its threads.
    #[serde(default)]
    pub threads: Option<usize>,
    /// How much more several steps sharing one GPU get through than one
    /// alone, at most (`jobs` per GPU beyond it wait on each other).
    #[serde(default)]
    pub concurrency: Option<f64>,
    /// Above the widest measured head or spectrum, time grows as width to this power.
    pub width_exponent: f64,
    pub source: String,
}

/// One measured rate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub work: WorkKind,
    pub device: DeviceKind,
    #[serde(default)]
    pub arch: Option<Arch>,
    /// Pre-training objective (none: measured over both, or the same for both).
    #[serde(default)]
    pub objective: Option<Objective>,
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// Input side it was measured at (pre-training, extraction): the rate scales with pixels.
    #[serde(default)]
    pub px: Option<u32>,
    /// Feature width it was measured at (heads, spectra).
    #[serde(default)]
    pub dim: Option<u32>,
    pub per_second: f64,
    /// Where the number comes from: machine, date, run.
    pub source: String,
}

/// The throughput table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub device: BTreeMap<DeviceKind, DeviceCosts>,
    pub rate: Vec<Rate>,
}

impl Rates {
    /// The repository's table.
    pub fn measured() -> Rates {
        Rates::parse(TABLE).expect("docs/throughput.toml parses (tested)")
    }

    /// A table from its TOML text.
    pub fn parse(text: &str) -> Result<Rates, String> {
        let rates: Rates = toml::from_str(text).map_err(|e| e.to_string())?;
        for kind in [DeviceKind::Cpu, DeviceKind::Cuda] {
            if !rates.device.contains_key(&kind) {
                return Err(format!("no [device.{}] start-up costs", kind.name()));
            }
        }
        if let Some(r) = rates
            .rate
            .iter()
            .find(|r| !r.per_second.is_finite() || r.per_second <= 0.0)
        {
            return Err(format!(
                "a {:?} rate is not positive: {}",
                r.work, r.per_second
            ));
        }
        Ok(rates)
    }

    /// Seconds of `work` on `device` for `machine`, start-up included, and
    /// what it fell back on where no rate of its own was measured: the
    /// nearest row of the same kind (another architecture or head, scaled by
    /// pixels or width), or the CPU's rate for a CUDA step.
    pub fn seconds(
        &self,
        work: &Work,
        device: DeviceKind,
        machine: Machine,
    ) -> (f64, Option<String>) {
        let costs = &self.device[&device];
        let (amount, what) = amount(work);
        // The rate, the device whose rate it is, and what it fell back on.
        let (rate, on, fallback) = match self.rate_of(work, device) {
            Some((rate, exact)) => {
                let note = (!exact).then(|| format!("{what} on {}: nearest row", device.name()));
                (rate, device, note)
            }
            None => match self.rate_of(work, DeviceKind::Cpu) {
                Some((rate, _)) => (
                    rate,
                    DeviceKind::Cpu,
                    Some(format!("{what} on cuda: the CPU's rate")),
                ),
                None => {
                    return (
                        costs.startup_seconds,
                        Some(format!("{what}: no rate, start-up only")),
                    )
                }
            },
        };
        let rate = match on {
            DeviceKind::Cpu => rate * self.cpu_scale(machine.threads),
            DeviceKind::Cuda => {
                let jobs = machine.jobs.max(1) as f64;
                rate * costs.concurrency.unwrap_or(1.0).min(jobs) / jobs
            }
        };
        (costs.startup_seconds + amount / rate, fallback)
    }

    /// A CPU rate's factor at `threads` threads per step.
    fn cpu_scale(&self, threads: usize) -> f64 {
        let at = self.device[&DeviceKind::Cpu].threads.unwrap_or(1).max(1);
        threads.max(1) as f64 / at as f64
    }

    /// The rate of `work` on `device` scaled to its pixels or width, and
    /// whether a row of its own architecture, objective or head gave it.
    fn rate_of(&self, work: &Work, device: DeviceKind) -> Option<(f64, bool)> {
        let rows: Vec<&Rate> = self
            .rate
            .iter()
            .filter(|r| r.work == work.kind() && r.device == device)
            .collect();
        let (arch, objective, protocol) = match *work {
            Work::Pretrain {
                arch, objective, ..
            } => (Some(arch), Some(objective), None),
            Work::Extract { arch, .. } => (Some(arch), None, None),
            Work::Head { protocol, .. } => (None, None, Some(protocol)),
            Work::Fixed
            | Work::Data { .. }
            | Work::Corrupt { .. }
            | Work::Text { .. }
            | Work::Spectral { .. } => (None, None, None),
        };
        let fits = |r: &&&Rate| {
            (arch.is_none() || r.arch.is_none() || r.arch == arch)
                && (objective.is_none() || r.objective.is_none() || r.objective == objective)
                && (protocol.is_none() || r.protocol.is_none() || r.protocol == protocol)
        };
        let own: Vec<&Rate> = rows.iter().filter(fits).copied().collect();
        let (pool, exact) = if own.is_empty() {
            (rows, false)
        } else {
            (own, true)
        };
        if pool.is_empty() {
            return None;
        }
        let rate = match *work {
            Work::Pretrain { px, .. } | Work::Extract { px, .. } => by_pixels(&pool, px),
            Work::Head { dim, .. } | Work::Spectral { dim, .. } => {
                by_width(&pool, dim, self.device[&device].width_exponent)
            }
            Work::Fixed | Work::Data { .. } | Work::Corrupt { .. } | Work::Text { .. } => {
                pool[0].per_second
            }
        };
        Some((rate, exact))
    }
}

impl DeviceKind {
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        }
    }
}

/// The units of `work` and a name for it in fallbacks.
fn amount(work: &Work) -> (f64, String) {
    match *work {
        Work::Fixed => (1.0, "report".to_owned()),
        Work::Data { images } => (images as f64, "data".to_owned()),
        Work::Corrupt { rows } => (rows as f64, "corrupt".to_owned()),
        Work::Pretrain {
            arch,
            objective,
            images,
            ..
        } => (
            images as f64,
            format!("pretrain {arch} {}", objective.name()),
        ),
        Work::Extract { arch, images, .. } => (images as f64, format!("extract {arch}")),
        Work::Text { chars } => (chars as f64, "text".to_owned()),
        Work::Head {
            protocol, samples, ..
        } => (samples as f64, format!("head {protocol}")),
        Work::Spectral { rows, .. } => (rows as f64, "spectral".to_owned()),
    }
}

/// The row nearest in pixels, its rate scaled by pixel count (a convolution's cost).
fn by_pixels(rows: &[&Rate], px: u32) -> f64 {
    let side = |r: &Rate| f64::from(r.px.unwrap_or(px));
    let px = f64::from(px);
    let nearest = rows
        .iter()
        .min_by(|a, b| {
            (side(a).ln() - px.ln())
                .abs()
                .total_cmp(&(side(b).ln() - px.ln()).abs())
        })
        .expect("rows are not empty");
    nearest.per_second * (side(nearest) / px).powi(2)
}

/// The rate at width `dim`: interpolated (log-log) between the rows around
/// it; above the widest, falling as width to the power `exponent`; below the
/// narrowest, its rate (narrow heads are bound by per-step overheads, not width).
fn by_width(rows: &[&Rate], dim: u32, exponent: f64) -> f64 {
    let mut points: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (f64::from(r.dim.unwrap_or(dim)), r.per_second))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let d = f64::from(dim);
    let (first, last) = (points[0], points[points.len() - 1]);
    if d <= first.0 {
        return first.1;
    }
    if d >= last.0 {
        return last.1 * (last.0 / d).powf(exponent);
    }
    let i = points.iter().position(|p| p.0 >= d).expect("d is inside");
    let ((d0, r0), (d1, r1)) = (points[i - 1], points[i]);
    if d1 == d0 {
        return r1;
    }
    let t = (d.ln() - d0.ln()) / (d1.ln() - d0.ln());
    (r0.ln() + t * (r1.ln() - r0.ln())).exp()
}
