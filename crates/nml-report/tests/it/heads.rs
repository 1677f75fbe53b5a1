//! Head seeds nested in a backbone seed: averaged within it, never counted as repeats.

use nml_study::{Split, Variant};
use std::path::Path;

use nml_report::collect::Results;
use nml_report::run::RunInfo;
use nml_report::sections::{Report, Section};
use nml_report::stats::accuracy_per_seed;
use nml_study::record::{Identity, Provenance};
use nml_study::{plan, Benchmark, Profile, Repeat, Study, TableKind};
use polars::prelude::*;

/// An `nml-tune` results table: one head per seed, each evaluated on photo (ID) and sketch (OOD).
fn write_results(path: &Path, heads: &[(i64, f64)]) {
    let n = heads.len() * 2;
    let mut frame = df!(
        "seed" => heads.iter().flat_map(|h| [h.0, h.0]).collect::<Vec<_>>(),
        "eval" => heads.iter().flat_map(|_| ["photo", "sketch"]).collect::<Vec<_>>(),
        "accuracy" => heads.iter().flat_map(|h| [h.1, h.1 / 2.0]).collect::<Vec<_>>(),
        "sve" => vec![3.0; n],
        "lsvr" => vec![0.2; n],
        "lr" => vec![0.01; n],
        "weight_decay" => vec![1e-4; n],
        "rows" => vec![100i64; n]
    )
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut frame)
        .unwrap();
}

#[test]
fn head_seeds_average_within_their_backbone_seed() {
    let sizes = Profile::Smoke.sizes();
    let (study, _) = Study::new(Benchmark::Synth, None, &sizes, 0).unwrap();
    let Study::Noisy(bench) = &study else {
        unreachable!("synth is a noisy study")
    };
    let plan = plan::build(bench, &sizes, 0, nml_spec::DeviceSpec::Cpu);
    let identity = Identity::new(Benchmark::Synth, Profile::Smoke, 0, String::new());
    let provenance = Provenance {
        device: "cpu".to_owned(),
        precision: nml_spec::Precision::Fp32,
        jobs: 1,
        git_commit: "abc".to_owned(),
        environment: "test".to_owned(),
    };
    let seconds = vec![None; plan.steps.len()];
    let mut run = RunInfo::new(&identity, study.shape(&sizes), provenance, &plan, &seconds);
    // The clean LP of task-0 for both backbone seeds: two heads each.
    run.tables.retain(|t| {
        t.kind == TableKind::Tune
            && t.ratio == 0
            && t.task == "task-0"
            && t.variant.is_some_and(|v| v.name() == "lp")
            && t.setting.name() == "supervised"
    });
    assert_eq!(run.tables.len(), 2, "{:?}", run.tables);
    let dir = tempfile::tempdir().unwrap();
    for t in &run.tables {
        assert_eq!(t.repeat, Repeat::Backbone);
        let s = t.seed as i64;
        let base = 0.6 + 0.1 * s as f64;
        write_results(
            &dir.path().join(&t.path),
            &[(s, base), (s + 1000, base + 0.2)],
        );
    }
    let results = Results::collect(&run, dir.path()).unwrap();
    let heads: Vec<(u64, u64)> = results.tune.iter().map(|r| (r.seed, r.head)).collect();
    assert!(
        heads.contains(&(1, 1001)) && heads.contains(&(0, 0)),
        "{heads:?}"
    );
    // One value per backbone seed, the mean of its heads.
    let id = accuracy_per_seed(&results, 0, Variant::Lp, Split::Id);
    assert_eq!(id.len(), 2, "{id:?}");
    assert!(
        (id[&0] - 0.7).abs() < 1e-12 && (id[&1] - 0.8).abs() < 1e-12,
        "{id:?}"
    );
    // The report says what a seed's accuracy averages.
    let empty = Results::default();
    let report = Report {
        run: &run,
        results: &results,
        claims: &[],
        real_noise: &empty,
        contrastive: None,
        figures: &[],
    };
    let mut text = String::new();
    Section::Heads.write(&report, &mut text);
    assert!(
        text.contains("trains 2 heads per task and method"),
        "{text}"
    );

    // Read as heads of a published backbone, each head seed is its own repeat.
    for t in &mut run.tables {
        t.repeat = Repeat::Head;
    }
    let results = Results::collect(&run, dir.path()).unwrap();
    let id = accuracy_per_seed(&results, 0, Variant::Lp, Split::Id);
    assert_eq!(id.keys().copied().collect::<Vec<_>>(), [0, 1, 1000, 1001]);
}
