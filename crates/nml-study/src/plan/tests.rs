//! Tests of the plan builders: the study's shape, keys that chain, and the
//! real benchmarks' extra conditions.

use std::collections::BTreeSet;

use crate::catalogue::{NoisyBenchmark, Study};
use crate::types::{Benchmark, Noise, Profile, Setting, Stage, TableKind};

use nml_spec::DeviceSpec;

use super::{build, Plan};

fn smoke_benchmark() -> NoisyBenchmark {
    let sizes = Profile::Smoke.sizes();
    let Study::Noisy(bench) = Study::new(Benchmark::Synth, None, &sizes, 0).unwrap().0 else {
        unreachable!("synth is a noisy study")
    };
    bench
}

pub(crate) fn smoke_plan() -> Plan {
    let mut plan = build(
        &smoke_benchmark(),
        &Profile::Smoke.sizes(),
        0,
        DeviceSpec::Cpu,
    );
    plan.add_report();
    plan
}

/// A corrupt step's arguments as `nml-noise` parses them.
fn noise(args: &[String]) -> nml_spec::NoiseArgs {
    use nml_spec::Spec;
    nml_spec::NoiseArgs::from_args(args).unwrap()
}

fn has(args: &[String], pair: [&str; 2]) -> bool {
    args.windows(2).any(|w| w == pair)
}

#[test]
fn plan_covers_the_study_and_keys_chain() {
    let plan = smoke_plan();
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    let step = |name: &str| plan.steps.iter().find(|s| s.name == name).unwrap();
    // 2 seeds × 5 ratios × 2 settings of corrupt and pretrain; 2 tasks ×
    // 3 methods, and 3 ablation variants at 10% for the supervised setting.
    let count = |prefix: &str| names.iter().filter(|n| n.starts_with(prefix)).count();
    assert_eq!(count("pretrain-"), 20);
    // Plus the noisy-downstream arm (below): the supervised ratios' 3 heads per task again.
    assert_eq!(
        count("tune-"),
        2 * (2 * 5 * 2 * 3) + 2 * 2 * 3 + 2 * 5 * 2 * 3
    );
    assert!(has(
        &step("pretrain-s1-clip-n20").args,
        ["--objective", "contrastive"]
    ));
    let swap = &step("corrupt-s1-clip-n20").args;
    assert!(has(swap, ["--kind", "caption-swap"]));
    assert_eq!(noise(swap).ratio, Some(0.20));
    assert!(!names.contains(&"tune-s0-clip-n10-task-0-no-covariance"));
    assert!(plan
        .tables
        .iter()
        .any(|t| t.setting == Setting::Contrastive && t.kind == TableKind::Tune && t.ratio == 30));
    assert!(names.contains(&"tune-s1-n10-task-1-no-covariance"));
    assert!(!names.contains(&"tune-s1-n20-task-1-no-covariance"));
    assert!(has(
        &step("tune-s1-n10-task-1-no-covariance").args,
        ["--cov-weight", "0"]
    ));
    // Smoke's two heads per backbone: seeds 1 and 1001 for backbone seed 1, nested in it.
    assert!(has(
        &step("tune-s1-n05-task-0-lp").args,
        ["--seeds", "1,1001"]
    ));
    assert!(plan
        .tables
        .iter()
        .filter(|t| t.kind == TableKind::Tune)
        .all(|t| t.repeat == crate::types::Repeat::Backbone));
    // Backbones nml runs get 4 cached augmented views (open_clip's transform
    // for the CLIP-style ones); MLP and NMTune train on two per step, LP on the eval view.
    let views = &step("features-s0-n10-task-0").args;
    assert!(has(views, ["--views", "4"]) && !views.contains(&"--augment".to_owned()));
    assert!(has(views, ["--view-split", "train"]) && has(views, ["--view-domain", "photo"]));
    assert!(has(
        &step("features-s0-clip-n10-task-0").args,
        ["--augment", "rrc-noflip"]
    ));
    for step in plan.steps.iter().filter(|s| s.stage == Stage::Tune) {
        let lp = has(&step.args, ["--method", "lp"]);
        assert_eq!(
            step.args.contains(&"--two-view".to_owned()),
            !lp,
            "{}",
            step.name
        );
    }
    // Heads train on the source domain only, so the other domains are out of distribution.
    for step in plan.steps.iter().filter(|s| s.stage == Stage::Tune) {
        let at = step.args.iter().position(|a| a == "--train-domain");
        let domain = at.map(|i| step.args[i + 1].as_str());
        assert_eq!(domain, Some("photo"), "{}", step.name);
    }
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "step names are unique");
    // Changing the device changes every torch step's key, and nothing upstream.
    let other = build(
        &smoke_benchmark(),
        &Profile::Smoke.sizes(),
        0,
        DeviceSpec::Cuda(0),
    );
    for (a, b) in plan.steps.iter().zip(&other.steps) {
        let torch = [
            Stage::Pretrain,
            Stage::Features,
            Stage::Spectral,
            Stage::Tune,
        ];
        assert_eq!(a.key != b.key, torch.contains(&a.stage), "{}", a.name);
    }
    // Every dependency comes earlier, so keys can chain.
    for (i, step) in plan.steps.iter().enumerate() {
        assert!(step.deps.iter().all(|&d| d < i), "{}", step.name);
    }
}

#[test]
fn the_threads_reach_every_computing_step_and_its_key() {
    let plan = smoke_plan();
    let placed = |threads: usize| {
        build(
            &smoke_benchmark(),
            &Profile::Smoke.sizes(),
            0,
            crate::Placement::new(DeviceSpec::Cpu, nml_spec::Precision::Fp32).with_threads(threads),
        )
    };
    let (one, three) = (placed(1), placed(3));
    for ((a, b), c) in plan.steps.iter().zip(&one.steps).zip(&three.steps) {
        let computes = matches!(
            a.stage,
            Stage::Pretrain | Stage::Features | Stage::Tune | Stage::Spectral
        );
        assert_eq!(has(&b.args, ["--threads", "1"]), computes, "{}", b.name);
        assert_eq!(has(&c.args, ["--threads", "3"]), computes, "{}", c.name);
        assert!(!a.args.contains(&"--threads".to_owned()), "{}", a.name);
        // A different thread count is a different step (and so is all that reads it).
        assert_eq!(
            b.key != c.key,
            !matches!(a.stage, Stage::Data | Stage::Corrupt),
            "{}",
            a.name
        );
    }
    // The real-models plan too.
    let real = super::build_real(
        "/data",
        Profile::Smoke,
        &[0, 1],
        crate::Placement::new(DeviceSpec::Cpu, nml_spec::Precision::Fp32).with_threads(2),
    );
    for step in real.steps.iter().filter(|s| s.stage != Stage::Data) {
        assert!(has(&step.args, ["--threads", "2"]), "{}", step.name);
    }
}

#[test]
fn the_precision_reaches_pretraining_and_extraction_and_their_keys() {
    let plan = smoke_plan();
    // bf16 reaches pre-training and extraction (and so every key downstream of them), not
    // the data and noise steps; heads stay float32.
    let bf16 = build(
        &smoke_benchmark(),
        &Profile::Smoke.sizes(),
        0,
        crate::Placement::new(DeviceSpec::Cpu, nml_spec::Precision::Bf16),
    );
    let mut bf16 = bf16;
    bf16.add_report();
    for (a, b) in plan.steps.iter().zip(&bf16.steps) {
        let flag = |s: &crate::Step| {
            let at = s.args.iter().position(|x| x == "--precision");
            at.map(|i| s.args[i + 1].clone())
        };
        match a.stage {
            Stage::Pretrain | Stage::Features => {
                assert_eq!(flag(a).as_deref(), Some("fp32"), "{}", a.name);
                assert_eq!(flag(b).as_deref(), Some("bf16"), "{}", b.name);
            }
            _ => assert_eq!(flag(a), flag(b), "{}", a.name),
        }
        let downstream = !matches!(a.stage, Stage::Data | Stage::Corrupt);
        assert_eq!(a.key != b.key, downstream, "{}", a.name);
    }
    // `auto` is concrete where the device says what it means, and left to the steps otherwise.
    let auto = nml_spec::Precision::Auto;
    assert_eq!(
        crate::Placement::new(DeviceSpec::Cuda(1), auto).precision,
        nml_spec::Precision::Bf16
    );
    assert_eq!(
        crate::Placement::new(DeviceSpec::Auto, auto).precision,
        auto
    );
    assert_ne!(crate::Placement::new(DeviceSpec::Cpu, auto).precision, auto);
}

#[test]
fn the_noisy_downstream_arm_retrains_the_heads_on_corrupted_labels() {
    let plan = smoke_plan();
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    let step = |name: &str| plan.steps.iter().find(|s| s.name == name).unwrap();
    let count = |prefix: &str| names.iter().filter(|n| n.starts_with(prefix)).count();
    // One corrupted copy of each task manifest per seed, keyed by the seed.
    assert_eq!(count("corrupt-labels-"), 2 * 2);
    let labels = &step("corrupt-labels-s1-task-0").args;
    assert!(has(labels, ["--kind", "symmetric"]) && noise(labels).ratio == Some(0.20));
    assert!(has(labels, ["--seed", "1"]) && has(labels, ["--splits", "train"]));
    let noisy_head = step("tune-s1-n30-task-0-labels20-nmtune");
    assert!(has(
        &noisy_head.args,
        ["--train-labels", "noisy/s1/task-0-labels20.parquet"]
    ));
    let (features, corrupted) = (
        plan.steps
            .iter()
            .position(|s| s.name == "features-s1-n30-task-0")
            .unwrap(),
        plan.steps
            .iter()
            .position(|s| s.name == "corrupt-labels-s1-task-0")
            .unwrap(),
    );
    assert_eq!(noisy_head.deps, [features, corrupted]);
    assert!(!names.contains(&"tune-s1-clip-n30-task-0-labels20-nmtune"));
    assert!(!names.contains(&"tune-s1-n10-task-0-labels20-no-covariance"));
    let noisy_tables = plan
        .tables
        .iter()
        .filter(|t| t.kind == TableKind::NoisyDownstream)
        .count();
    assert_eq!(noisy_tables, 2 * 5 * 2 * 3);
}

#[test]
fn cifar10_pacs_plan_adds_real_noise_and_a_task_without_domains() {
    let tmp = std::env::temp_dir().join(format!("nml-study-c10-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for f in ["cifar10.parquet", "pacs.parquet"] {
        std::fs::write(tmp.join(f), b"").unwrap();
    }
    let sizes = Profile::Smoke.sizes();
    let (Study::Noisy(bench), Some(dir)) =
        Study::new(Benchmark::Cifar10Pacs, Some(&tmp), &sizes, 0).unwrap()
    else {
        unreachable!("cifar10-pacs is a noisy study on a data folder")
    };
    assert_eq!(dir, std::path::absolute(&tmp).unwrap());
    let plan = build(&bench, &sizes, 0, DeviceSpec::Cpu);
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    let step = |name: &str| plan.steps.iter().find(|s| s.name == name).unwrap();
    assert_eq!(&names[..2], &["data", "data-pacs"]);
    // 2 seeds × (5 ratios + 3 CIFAR-10N label sets + 5 caption-swap ratios).
    assert_eq!(
        names.iter().filter(|n| n.starts_with("pretrain-")).count(),
        26
    );
    assert!(has(
        &plan.steps[0].args,
        ["--caption-template", "a photo of a {}"]
    ));
    assert!(has(
        &step("corrupt-s1-cifar10n-worse").args,
        ["--column", "worse_label"]
    ));
    // No ablation on real noise; CIFAR-10 heads use the test split, PACS heads photo.
    assert!(!names.contains(&"tune-s0-cifar10n-aggre-pacs-no-covariance"));
    assert!(names.contains(&"tune-s0-n10-pacs-no-covariance"));
    let c10 = &step("tune-s0-cifar10n-aggre-cifar10-nmtune").args;
    assert!(!c10.contains(&"--train-domain".to_owned()));
    assert!(c10.contains(&"cifar10=features/s0/cifar10n-aggre/cifar10.parquet:test".to_owned()));
    assert!(names.contains(&"spectral-s0-n20-cifar10"));
    assert!(names.contains(&"spectral-s0-n20-sketch"));
    let real: Vec<&str> = plan
        .tables
        .iter()
        .filter(|t| t.kind == TableKind::Pretrain && t.setting == Setting::Supervised)
        .filter(|t| t.noise != Noise::Symmetric)
        .map(|t| t.noise.name())
        .collect();
    assert_eq!(
        real,
        ["cifar10n-aggre", "cifar10n-random1", "cifar10n-worse"].repeat(2)
    );
    for step in plan.steps.iter().filter(|s| s.stage == Stage::Pretrain) {
        assert!(has(&step.args, ["--input-size", "32"]));
    }
    // CIFAR-10's task re-probes the pre-training images: neither ID nor OOD; PACS photo is the ID task.
    let shape = Study::Noisy(bench).shape(&sizes);
    assert_eq!(shape.reprobe_evals, ["cifar10"]);
    assert!(shape.id_evals.is_empty());
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn real_models_plan_reads_the_catalogue() {
    use crate::catalogue::real;
    let plan = super::build_real("/data", Profile::Full, &[0, 1, 2], DeviceSpec::Cpu);
    let step = |name: &str| {
        plan.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step {name}"))
    };
    let tasks = real::tasks();
    // Per task: LP, MLP, NMTune, k-NN and auto.
    let tunes = plan.steps.iter().filter(|s| s.stage == Stage::Tune).count();
    assert_eq!(tunes, 5 * tasks.len());
    // Every dataset imported once, encoded once per model.
    let count = |stage: Stage| plan.steps.iter().filter(|s| s.stage == stage).count();
    assert_eq!(count(Stage::Data), real::DATASETS.len());
    assert_eq!(count(Stage::Features), real::DATASETS.len());
    // MobileNetV2 at 224 px (PACS's 96 px images resized), views of every source's training rows.
    let vision = &step("features-mobilenet-v2-pacs").args;
    assert!(has(vision, ["--input-size", "224"]) && vision.contains(&"--resize".to_owned()));
    assert!(has(vision, ["--views", "8"]) && has(vision, ["--view-split", "train"]));
    assert!(!vision.contains(&"--view-domain".to_owned()));
    assert!(has(&step("data-cifar10").args, ["--max-per-class", "500"]));
    // MiniLM with its own window; SST-2 trains on dev; OOD sets from another file.
    let sst2 = &step("tune-all-minilm-l6-v2-sst2-nmtune").args;
    assert!(has(sst2, ["--train-split", "dev"]));
    assert!(sst2.iter().any(
        |a| a.starts_with("amazon=features/all-minilm-l6-v2/sentiment-ood.parquet:test:amazon")
    ));
    assert!(!sst2.contains(&"--two-view".to_owned()));
    let two_view = |name: &str| step(name).args.contains(&"--two-view".to_owned());
    assert!(
        two_view("tune-mobilenet-v2-pacs-sketch-nmtune")
            && two_view("tune-mobilenet-v2-pacs-sketch-mlp")
    );
    assert!(!two_view("tune-mobilenet-v2-pacs-sketch-lp"));
    // auto: the validation fraction and the first seed; k-NN: no recipe.
    let auto = &step("tune-mobilenet-v2-cifar10-auto").args;
    assert!(has(auto, ["--val-fraction", "0.1"]) && has(auto, ["--seeds", "0"]));
    assert!(has(
        &step("tune-all-minilm-l6-v2-rte-knn").args,
        ["--method", "knn"]
    ));
    // Each tune table says where its evals sit: the source domain is ID.
    let sketch = plan
        .tables
        .iter()
        .find(|t| t.task == "mobilenet-v2/pacs-sketch" && t.kind == TableKind::Tune)
        .unwrap();
    assert_eq!(sketch.splits["sketch"], crate::types::Split::Id);
    assert_eq!(sketch.splits["photo"], crate::types::Split::Ood);
    let kinds = |kind: TableKind| plan.tables.iter().filter(|t| t.kind == kind).count();
    assert_eq!(
        (
            kinds(TableKind::Tune),
            kinds(TableKind::Knn),
            kinds(TableKind::Auto)
        ),
        (3 * tasks.len(), tasks.len(), tasks.len())
    );
    // The quick profile: PACS from photo (views of photo only), SST-2, CoLA, RTE, MRPC.
    let quick = super::build_real("/data", Profile::Quick, &[0, 1, 2], DeviceSpec::Cpu);
    let vision = &quick
        .steps
        .iter()
        .find(|s| s.name == "features-mobilenet-v2-pacs")
        .unwrap()
        .args;
    assert!(has(vision, ["--view-domain", "photo"]));
    assert!(!quick
        .steps
        .iter()
        .any(|s| s.name.contains("cifar10") || s.name.contains("sick")));
    // The smoke profile caps every dataset and trains briefly.
    let smoke = super::build_real("/data", Profile::Smoke, &[0, 1], DeviceSpec::Cpu);
    assert!(smoke
        .steps
        .iter()
        .filter(|s| s.stage == Stage::Data)
        .all(|s| has(&s.args, ["--max-per-class", "12"])));
}

/// Every step of every plan whose stage has a typed spec parses as that stage's
/// binary would, and renders back to the same arguments: a flag renamed in a
/// spec is renamed in the plan, and a plan that passes a flag the stage does
/// not take fails here, not at run time.
#[test]
fn every_typed_step_parses_as_its_stage() {
    use crate::types::Program;
    use nml_spec::{
        DataArgs, FeaturesArgs, NoiseArgs, PretrainArgs, ReportArgs, Spec, SpectralArgs, TuneArgs,
    };
    fn round_trips<S: Spec>(args: &[String], name: &str) {
        let parsed = S::from_args(args).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.to_args(), args, "{name}");
    }
    let mut plans = vec![
        smoke_plan(),
        super::build_real("/data", Profile::Full, &[0, 1, 2], DeviceSpec::Cpu),
        super::build_real("/data", Profile::Smoke, &[0, 1], DeviceSpec::Cpu),
    ];
    for profile in [Profile::Quick, Profile::Full] {
        let sizes = profile.sizes();
        let Study::Noisy(bench) = Study::new(Benchmark::Synth, None, &sizes, 0).unwrap().0 else {
            unreachable!("synth is a noisy study")
        };
        plans.push(build(&bench, &sizes, 0, DeviceSpec::Cuda(0)));
    }
    let mut typed = 0;
    for step in plans.iter().flat_map(|p| &p.steps) {
        match step.program {
            Program::NmlNoise => round_trips::<NoiseArgs>(&step.args, &step.name),
            Program::NmlSpectral => round_trips::<SpectralArgs>(&step.args, &step.name),
            Program::NmlReport => round_trips::<ReportArgs>(&step.args, &step.name),
            Program::NmlPretrain => round_trips::<PretrainArgs>(&step.args, &step.name),
            Program::NmlData => round_trips::<DataArgs>(&step.args, &step.name),
            Program::NmlFeatures => round_trips::<FeaturesArgs>(&step.args, &step.name),
            Program::NmlTune => round_trips::<TuneArgs>(&step.args, &step.name),
        }
        typed += 1;
    }
    assert!(typed > 100, "{typed} typed steps");
}
