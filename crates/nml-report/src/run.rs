//! `run.json`, the study's index: its one type lives in `nml-study`, shared
//! with `cargo xtask reproduce`, which writes it.

pub use nml_study::record::{RunRecord as RunInfo, StepEntry, TableEntry};

#[cfg(test)]
mod tests {
    use nml_study::record::{Identity, Provenance};
    use nml_study::{plan, Benchmark, Profile, Study, TableKind};

    use super::*;

    /// The record xtask writes for a plan is the record the report reads.
    #[test]
    fn a_plans_run_json_round_trips_through_the_reader() {
        let sizes = Profile::Smoke.sizes();
        let (study, _) = Study::new(Benchmark::Synth, None, &sizes, 0).unwrap();
        let Study::Noisy(bench) = &study else {
            unreachable!("synth is a noisy study")
        };
        let mut plan = plan::build(bench, &sizes, 0, nml_spec::DeviceSpec::Cpu);
        plan.add_report();
        let identity = Identity::new(Benchmark::Synth, Profile::Smoke, 0, String::new());
        let provenance = Provenance {
            device: "cpu".to_owned(),
            precision: nml_spec::Precision::Bf16,
            jobs: 2,
            git_commit: "abc".to_owned(),
            environment: "test".to_owned(),
        };
        let seconds: Vec<Option<f64>> = (0..plan.steps.len())
            .map(|i| Some(i as f64 / 7.0))
            .collect();
        let written = RunInfo::new(&identity, study.shape(&sizes), provenance, &plan, &seconds);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        std::fs::write(&path, written.to_json()).unwrap();
        let read = RunInfo::read(&path).unwrap();
        assert_eq!(read, written);
        assert_eq!(read.tables(TableKind::Tune).count(), 132);
        assert_eq!(
            read.steps.len(),
            plan.steps.len() - 1,
            "the report step is left out"
        );
        assert_eq!(read.split_of("photo"), nml_study::Split::Id);
        assert_eq!(read.split_of("sketch"), nml_study::Split::Ood);
        // A record of another format is refused, naming the file.
        let other = written.to_json().replace("nml-run/1", "nml-run/0");
        std::fs::write(&path, other).unwrap();
        let err = RunInfo::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("run.json") && err.contains("expected nml-run/1"),
            "{err}"
        );
    }
}
