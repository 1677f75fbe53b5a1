//! The synthetic benchmark: its class structure, determinism and presets.

use std::collections::HashSet;
use std::process::Command;

use nml_core::Manifest;
use nml_data::synth::{self, Preset, SynthConfig};

#[test]
fn smoke_benchmark_has_the_documented_structure_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let config = SynthConfig::preset(Preset::Smoke, 9);
    let info = synth::generate(&config, &a).unwrap();
    synth::generate(&config, &b).unwrap();
    for file in [
        "benchmark.json",
        "pretrain.parquet",
        "task-0.parquet",
        "task-1.parquet",
        "contact/task-1-test.png",
    ] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file} differs between runs"
        );
    }

    let pretrain: HashSet<_> = info.pretrain.classes.iter().map(|c| c.factors).collect();
    let mut seen = pretrain.clone();
    for task in &info.tasks {
        let pairs: HashSet<_> = task
            .classes
            .iter()
            .map(|c| (c.factors.shape, c.factors.texture))
            .collect();
        assert_eq!(
            pairs.len(),
            task.classes.len(),
            "{}: shape+texture must identify a class without colour",
            task.name
        );
        for class in &task.classes {
            assert!(
                seen.insert(class.factors),
                "{} reuses class {}",
                task.name,
                class.name
            );
        }
    }

    let pre = Manifest::read(a.join("pretrain.parquet")).unwrap();
    assert_eq!(pre.len(), 10 * 40);
    assert_eq!(pre.rows_in_split("test").len(), 100);
    assert!(pre.domain.as_ref().unwrap().iter().all(|d| d == "photo"));
    let task = Manifest::read(a.join("task-0.parquet")).unwrap();
    assert_eq!(task.num_classes(), 5);
    for domain in ["photo", "sketch", "cartoon", "painting"] {
        let rows = task
            .domain
            .as_ref()
            .unwrap()
            .iter()
            .filter(|d| *d == domain)
            .count();
        assert_eq!(rows, 5 * 30, "{domain}");
    }
    let img = nml_data::decode_rgb(&task.image.as_ref().unwrap()[0]).unwrap();
    assert_eq!(img.dimensions(), (32, 32));
    let sheet = image::open(a.join("contact/pretrain-train.png")).unwrap();
    assert!(sheet.width() > 300 && sheet.height() > 300);

    let other = synth::generate(
        &SynthConfig::preset(Preset::Smoke, 10),
        &dir.path().join("c"),
    )
    .unwrap();
    assert_ne!(
        other.pretrain.classes, info.pretrain.classes,
        "the seed chooses the classes"
    );
}

#[test]
fn shared_palettes_make_fine_grained_tasks() {
    for n in [1, 2, 3] {
        let mut config = SynthConfig::preset(Preset::Quick, 4);
        config.sizes.tasks = 4;
        config.sizes.classes_per_task = 8;
        config.sizes.task_palettes = Some(n);
        let (pretrain, tasks) = synth::assign_classes(&config).unwrap();
        let mut seen: HashSet<_> = pretrain.into_iter().collect();
        for task in &tasks {
            assert_eq!(task.len(), 8);
            let mut per_palette = std::collections::BTreeMap::new();
            for f in task {
                *per_palette.entry(f.palette).or_insert(0usize) += 1;
                assert!(seen.insert(*f), "classes stay disjoint");
            }
            let counts: Vec<usize> = per_palette.values().copied().collect();
            assert_eq!(counts.len(), n, "{n} palettes per task: {per_palette:?}");
            assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
            let pairs: HashSet<_> = task.iter().map(|f| (f.shape, f.texture)).collect();
            assert_eq!(pairs.len(), 8, "shape and texture still name a class");
        }
    }
    // The random-palette assignment is what it was before palettes were a knob.
    let mut config = SynthConfig::preset(Preset::Quick, 4);
    config.sizes.task_palettes = None;
    let (_, tasks) = synth::assign_classes(&config).unwrap();
    let palettes: HashSet<_> = tasks[0].iter().map(|f| f.palette).collect();
    assert!(palettes.len() > 2, "{palettes:?}");
}

#[test]
fn impossible_configs_are_refused() {
    let mut config = SynthConfig::preset(Preset::Smoke, 0);
    config.sizes.pretrain_classes = 700;
    let err = synth::assign_classes(&config).unwrap_err().to_string();
    assert!(err.contains("only 640 factor combinations"), "{err}");
    let mut config = SynthConfig::preset(Preset::Smoke, 0);
    config.sizes.image_size = 4;
    assert!(synth::assign_classes(&config)
        .unwrap_err()
        .to_string()
        .contains("image size 4"));
    for n in [0, 9] {
        let mut config = SynthConfig::preset(Preset::Quick, 0);
        config.sizes.task_palettes = Some(n);
        let err = synth::assign_classes(&config).unwrap_err().to_string();
        assert!(err.contains("palettes per task must be 1..=8"), "{err}");
    }
    let mut config = SynthConfig::preset(Preset::Quick, 0);
    config.sizes.classes_per_task = 80;
    let err = synth::assign_classes(&config).unwrap_err().to_string();
    assert!(err.contains("in the task's palettes are left"), "{err}");
}

#[test]
fn quick_preset_runs_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nml-data"))
        .args(["synth", "--preset", "quick", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("benchmark.json")).unwrap()).unwrap();
    assert_eq!(info["pretrain"]["rows"], 22_000);
    assert_eq!(info["tasks"].as_array().unwrap().len(), 6);
    assert_eq!(info["tasks"][5]["rows"], 8 * 110 * 4);
    assert_eq!(info["config"]["task_palettes"], 1);
    let knobs: Vec<&str> = info["knobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    for knob in [
        "tasks",
        "classes_per_task",
        "task_train_per_class",
        "task_test_per_class",
        "task_palettes",
    ] {
        assert!(knobs.contains(&knob), "benchmark.json explains {knob}");
        assert!(
            info["config"].get(knob).is_some(),
            "{knob} is a config field"
        );
    }
    assert_eq!(info["config"]["preset"], "quick");
    let pretrain = Manifest::read_with(
        dir.path().join("pretrain.parquet"),
        nml_core::ReadOptions::without_images(),
    )
    .unwrap();
    assert_eq!(pretrain.num_classes(), 100);
    assert!(dir.path().join("contact/task-2-train.png").exists());
}
