//! Every architecture starts as its PyTorch reference (tests/python/init_stats.py):
//! the same parameters, constant ones (BatchNorm γ = 1, β = 0, zero biases)
//! exactly equal, random ones with the reference's mean and standard
//! deviation within sampling error.

use std::path::Path;

use nml_models::{Arch, Net};
use tch::nn::VarStore;
use tch::{Device, Kind};

fn check(arch: Arch, classes: i64) {
    let Some(python) = nml_tests::python() else {
        eprintln!("skipped: the project Python is missing (run `cargo xtask setup`)");
        return;
    };
    let classes_arg = classes.to_string();
    let args = [Path::new(arch.name()), Path::new(&classes_arg)];
    let printed = nml_tests::run_python(&python, "init_stats.py", &args);
    let reference: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    let reference = reference.as_object().unwrap();
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let _net = Net::new(&vs.root(), arch, classes);
    let ours = vs.variables();
    let mut trainable: Vec<String> = ours
        .iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(n, _)| n.clone())
        .collect();
    trainable.sort();
    let mut theirs: Vec<String> = reference.keys().cloned().collect();
    theirs.sort();
    assert_eq!(trainable, theirs, "{arch}: parameter names");
    for (name, r) in reference {
        let t = ours[name].to_kind(Kind::Double).flatten(0, -1);
        let n = t.numel() as f64;
        assert_eq!(n, r["numel"].as_f64().unwrap(), "{arch} {name}: numel");
        if let Some(value) = r["constant"].as_f64() {
            let max_dev = (&t - value).abs().max().double_value(&[]);
            assert_eq!(
                max_dev, 0.0,
                "{arch} {name}: starts at {value} in the reference"
            );
            continue;
        }
        let mean = t.mean(Kind::Double).double_value(&[]);
        let std = t.std(false).double_value(&[]);
        let (r_mean, r_std) = (r["mean"].as_f64().unwrap(), r["std"].as_f64().unwrap());
        // Two independent samples of n draws: the means differ by about σ√(2/n),
        // the standard deviations by about σ/√n; six of those is far in the tail.
        assert!(
            (mean - r_mean).abs() <= 6.0 * r_std / n.sqrt(),
            "{arch} {name}: mean {mean} vs the reference's {r_mean} (std {r_std}, n {n})"
        );
        assert!(
            (std / r_std - 1.0).abs() <= 6.0 / n.sqrt() + 0.01,
            "{arch} {name}: std {std} vs the reference's {r_std} (n {n})"
        );
    }
}

#[test]
fn akamaster_cifar_resnet() {
    check(Arch::ResNet20, 10);
}

#[test]
fn kuangliu_preact_resnet() {
    check(Arch::PreActResNet18, 10);
}

#[test]
fn torchvision_resnets() {
    check(Arch::ResNet18, 10);
    check(Arch::ResNet50, 10);
}

#[test]
fn torchvision_mobilenet_v2() {
    check(Arch::MobileNetV2, 10);
}
