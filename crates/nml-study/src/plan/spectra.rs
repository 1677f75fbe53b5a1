//! The spectrum steps of the noisy study: one analysis per (seed, condition)
//! and domain, and the figure across the ratios.

use nml_spec::{SpectralArgs, Verbosity};

use super::noisy::{feature_dim, Cell};
use super::{Invocation, Plan};
use crate::catalogue::{NoisyBenchmark, Task};
use crate::estimate::Work;
use crate::types::{Sizes, Stage, TableKind, RATIOS};

/// Spectrum of the tasks' test features: one analysis per domain for tasks
/// with domains, one per task for the others.
pub(super) fn spectral(plan: &mut Plan, cell: &Cell, features: &[usize]) {
    let benchmark = cell.benchmark;
    let with_domains: Vec<&Task> = benchmark.tasks.iter().filter(|t| t.domains).collect();
    let mut analyses: Vec<(String, Vec<&Task>, Option<&str>)> = Vec::new();
    if !with_domains.is_empty() {
        for d in std::iter::once(&benchmark.id_domain).chain(&benchmark.ood_domains) {
            analyses.push((d.clone(), with_domains.clone(), Some(d.as_str())));
        }
    }
    for task in benchmark.tasks.iter().filter(|t| !t.domains) {
        analyses.push((task.name.clone(), vec![task], None));
    }
    for (name, tasks, domain) in analyses {
        let out = format!("spectral/{}/{name}", cell.dir);
        let mut args = SpectralArgs::new(
            tasks
                .iter()
                .map(|task| format!("features/{}/{}.parquet", cell.dir, task.name).into())
                .collect(),
        );
        args.names = tasks
            .iter()
            .map(|task| format!("{}/{}", cell.condition.tag, task.name))
            .collect();
        args.domain = domain.map(str::to_owned);
        args.out = Some(out.clone().into());
        args.verbosity = Verbosity::QUIET;
        let metrics = format!("{out}/metrics.parquet");
        let work = Work::Spectral {
            dim: feature_dim(cell.sizes.arch),
            rows: tasks.iter().map(|t| t.rows.test).sum(),
        };
        plan.add(
            format!("spectral-{}-{name}", cell.tag),
            Stage::Spectral,
            Invocation::Spectral(Box::new(args)),
            vec![metrics.clone()],
            features.to_vec(),
            work,
        );
        let mut entry = cell
            .condition
            .entry(TableKind::Spectral, cell.seed, &metrics);
        entry.domain = name;
        plan.tables.push(entry);
    }
}

/// The spectrum figure: every ratio of the first seed, ID test features of
/// the tasks shaped like the first one.
pub(super) fn figure(plan: &mut Plan, benchmark: &NoisyBenchmark, sizes: &Sizes, first: u64) {
    let first_task = &benchmark.tasks[0];
    let tasks: Vec<&Task> = benchmark
        .tasks
        .iter()
        .filter(|t| t.domains == first_task.domains)
        .collect();
    let mut features = Vec::new();
    let mut names = Vec::new();
    let mut deps = Vec::new();
    for ratio in RATIOS {
        for task in &tasks {
            let path = format!("features/s{first}/n{ratio:02}/{}.parquet", task.name);
            deps.extend(
                plan.steps
                    .iter()
                    .position(|st| st.outputs.first() == Some(&path)),
            );
            features.push(path.into());
            names.push(format!("{ratio}%/{}", task.name));
        }
    }
    let mut args = SpectralArgs::new(features);
    args.names = names;
    args.domain = first_task.domains.then(|| benchmark.id_domain.clone());
    args.out = Some("spectral/figure".into());
    args.verbosity = Verbosity::QUIET;
    plan.add(
        "spectral-figure".to_owned(),
        Stage::Spectral,
        Invocation::Spectral(Box::new(args)),
        vec!["spectral/figure/spectrum.png".to_owned()],
        deps,
        Work::Spectral {
            dim: feature_dim(sizes.arch),
            rows: RATIOS.len() as u64 * tasks.iter().map(|t| t.rows.test).sum::<u64>(),
        },
    );
}
