//! The estimate: the table, the scaling rules, the schedule, and the
//! measured studies it must come near.

use super::*;
use crate::catalogue::Study;
use crate::plan::{self, Placement};
use crate::types::{Benchmark, Profile};
use nml_spec::DeviceSpec;

fn cpu(jobs: usize) -> Machine {
    Machine {
        device: DeviceKind::Cpu,
        jobs,
        gpus: 0,
        threads: 1,
    }
}

fn synth_plan(profile: Profile) -> Plan {
    let sizes = profile.sizes();
    let Study::Noisy(bench) = Study::new(Benchmark::Synth, None, &sizes, 0).unwrap().0 else {
        unreachable!("synth is a noisy study")
    };
    let placement = Placement::new(DeviceSpec::Cpu, nml_spec::Precision::Auto).with_threads(1);
    let mut plan = plan::build(&bench, &sizes, 0, placement);
    plan.add_report();
    plan
}

#[test]
fn the_table_parses_and_bad_tables_are_refused() {
    let rates = Rates::measured();
    assert!(rates.rate.len() >= 10);
    let e = Rates::parse(
        "rate = []\n[device.cpu]\nstartup_seconds = 1\nwidth_exponent = 1\nsource = \"\"\n",
    )
    .unwrap_err();
    assert!(e.contains("[device.cuda]"), "{e}");
    let e = Rates::parse(
        "[[rate]]\nwork = \"pretrain\"\ndevice = \"tpu\"\nper_second = 1\nsource = \"\"\n",
    )
    .unwrap_err();
    assert!(e.contains("tpu"), "{e}");
}

#[test]
fn rates_scale_with_pixels_width_threads_and_fall_back() {
    let rates = Rates::measured();
    let m = cpu(1);
    let pretrain = |arch, px| Work::Pretrain {
        arch,
        objective: Objective::Supervised,
        px,
        images: 1_000_000,
    };
    let (t32, f32_) = rates.seconds(&pretrain(Arch::Small, 32), DeviceKind::Cpu, m);
    let (t64, _) = rates.seconds(&pretrain(Arch::Small, 64), DeviceKind::Cpu, m);
    assert!(f32_.is_none());
    assert!((t64 / t32 - 4.0).abs() < 0.01, "{t32} {t64}");
    // Two threads halve the work's time, not the start-up.
    let (t2, _) = rates.seconds(
        &pretrain(Arch::Small, 32),
        DeviceKind::Cpu,
        Machine { threads: 2, ..m },
    );
    assert!(t2 < 0.51 * t32 + 1.0 && t2 > 0.49 * t32, "{t2} {t32}");
    // No CPU row for PreAct ResNet-18: the nearest row, said so.
    let (_, f) = rates.seconds(&pretrain(Arch::PreActResNet18, 32), DeviceKind::Cpu, m);
    assert!(f.unwrap().contains("nearest row"));
    // Heads slow down with width, between and beyond the measured ones.
    let head = |dim| Work::head(Protocol::Mlp, dim, 1000, 30, 3, true);
    let secs: Vec<f64> = [128, 384, 800, 1280, 2048]
        .iter()
        .map(|&d| rates.seconds(&head(d), DeviceKind::Cpu, m).0)
        .collect();
    assert!(secs.windows(2).all(|w| w[0] <= w[1]), "{secs:?}");
    // A CUDA head of a method without a CUDA row takes another head's; CUDA
    // text encoding, without any CUDA row, the CPU's rate.
    let on_cuda = Machine {
        device: DeviceKind::Cuda,
        ..m
    };
    let (_, f) = rates.seconds(&head(1280), DeviceKind::Cuda, on_cuda);
    assert!(f.unwrap().contains("nearest row"));
    let (_, f) = rates.seconds(&Work::Text { chars: 500 }, DeviceKind::Cuda, on_cuda);
    assert!(f.unwrap().contains("the CPU's rate"));
    assert_eq!(
        Work::head(Protocol::Knn, 8, 10, 30, 3, true),
        Work::Head {
            protocol: Protocol::Knn,
            dim: 8,
            samples: 60
        }
    );
}

#[test]
fn the_schedule_follows_jobs_and_dependencies() {
    let plan = synth_plan(Profile::Smoke);
    let rates = Rates::measured();
    let none = vec![false; plan.steps.len()];
    let one = estimate(&plan, &rates, cpu(1), &none);
    let sum: f64 = one.steps.iter().sum();
    assert!((one.wall - sum).abs() < 1e-6 * sum, "{} {sum}", one.wall);
    assert!((one.stages.values().sum::<f64>() - sum).abs() < 1e-6 * sum);
    let two = estimate(&plan, &rates, cpu(2), &none);
    assert!(
        two.wall >= sum / 2.0 - 1e-9 && two.wall < sum,
        "{} {sum}",
        two.wall
    );
    // The data step comes first and the report last: neither overlaps anything.
    let first_and_last = one.steps[0] + one.steps[one.steps.len() - 1];
    assert!(two.wall >= first_and_last);
    let done = estimate(&plan, &rates, cpu(2), &vec![true; plan.steps.len()]);
    assert_eq!(done.wall, 0.0);
    assert_eq!(duration(59.6), "1 min 00 s");
    assert_eq!(duration(3725.0), "1 h 02 min");
}

/// The measured quick synthetic study (docs/results.md): 24 min 13 s with
/// `--jobs 2` on the 2-core VM (2026-12-06).
#[test]
fn the_quick_study_estimate_is_within_a_factor_of_2_of_its_measured_time() {
    let plan = synth_plan(Profile::Quick);
    let est = estimate(
        &plan,
        &Rates::measured(),
        cpu(2),
        &vec![false; plan.steps.len()],
    );
    let measured = 24.0 * 60.0 + 13.0;
    let ratio = est.wall / measured;
    assert!(
        (0.5..=2.0).contains(&ratio),
        "estimate {} against {measured} s",
        est.wall
    );
    assert!(est.unmeasured.is_empty(), "{:?}", est.unmeasured);
}

/// The measured real-models quick study (docs/results.md): 31 min 21 s with
/// `--jobs 2` on the 2-core VM (2026-12-07).
#[test]
fn the_real_models_quick_estimate_is_within_a_factor_of_2_of_its_measured_time() {
    let placement = Placement::new(DeviceSpec::Cpu, nml_spec::Precision::Auto).with_threads(1);
    let mut plan = plan::build_real("data", Profile::Quick, &[0, 1, 2], placement);
    plan.add_report();
    let est = estimate(
        &plan,
        &Rates::measured(),
        cpu(2),
        &vec![false; plan.steps.len()],
    );
    let measured = 31.0 * 60.0 + 21.0;
    let ratio = est.wall / measured;
    assert!(
        (0.5..=2.0).contains(&ratio),
        "estimate {} against {measured} s",
        est.wall
    );
}

/// The `gpu` profile of `cifar10-pacs` as `ci/gpu-study.sh` runs it (pre-training
/// and extraction on the GPU, heads on the machine's 16 cores, 4 jobs) ends
/// within 8 minutes on one H200 by the table's rates; it pre-trains on every
/// CIFAR-10 training image with 3 seeds and leaves the contrastive setting out.
#[test]
fn the_gpu_profile_fits_eight_minutes_on_one_h200() {
    let tmp = std::env::temp_dir().join(format!("nml-study-gpu-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for f in crate::catalogue::CIFAR10_PACS_FILES {
        std::fs::write(tmp.join(f), "").unwrap();
    }
    let sizes = Profile::Gpu.sizes();
    let (study, _) = Study::new(Benchmark::Cifar10Pacs, Some(&tmp), &sizes, 0).unwrap();
    std::fs::remove_dir_all(&tmp).unwrap();
    let Study::Noisy(bench) = study else {
        unreachable!("cifar10-pacs is a noisy study")
    };
    assert_eq!(bench.pretrain_rows, 50_000);
    assert!(!bench.contrastive);
    assert_eq!(bench.tasks[0].rows.train, 1_000, "the re-probe's own cap");
    let (jobs, cores) = (4, 16);
    let placement = Placement::new(DeviceSpec::Cuda(0), nml_spec::Precision::Auto)
        .with_threads(cores / jobs)
        .with_heads(DeviceSpec::Cpu);
    let mut plan = plan::build(&bench, &sizes, 0, placement);
    plan.add_report();
    assert_eq!(plan.seeds.len(), 3);
    let pretrains = plan
        .steps
        .iter()
        .filter(|s| s.stage == Stage::Pretrain)
        .count();
    assert_eq!(
        pretrains,
        3 * (5 + 3),
        "ratios and CIFAR-10N's label sets, 3 seeds"
    );
    let machine = Machine {
        device: DeviceKind::Cuda,
        jobs,
        gpus: 1,
        threads: cores / jobs,
    };
    let est = estimate(
        &plan,
        &Rates::measured(),
        machine,
        &vec![false; plan.steps.len()],
    );
    assert!(est.wall <= 8.0 * 60.0, "{}", duration(est.wall));
    assert!(est.unmeasured.is_empty(), "{:?}", est.unmeasured);
}

#[test]
fn the_gpu_profile_is_cifar10_pacs_only() {
    let sizes = Profile::Gpu.sizes();
    let e = Study::new(Benchmark::Synth, None, &sizes, 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--profile gpu is sized for --benchmark cifar10-pacs"),
        "{e}"
    );
}
