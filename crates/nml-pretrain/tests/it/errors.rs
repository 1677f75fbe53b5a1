//! Bad input fails with a clear error: a checkpoint of another architecture,
//! a truncated file, images of the wrong size, a changed config on resume.

use std::process::Command;

use nml_pretrain::checkpoint;
use nml_pretrain::{Arch, Net};
use tch::nn::VarStore;
use tch::Device;

use crate::{fast_config, paths, smoke_corpus};

#[test]
fn bad_checkpoints_and_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let out = dir.path().join("run");
    nml_pretrain::train(
        &fast_config(Arch::Small, 1),
        &paths(&corpus, &out),
        Device::Cpu,
        false,
    )
    .unwrap();
    let model = out.join("model.safetensors");

    let (tensors, description) = checkpoint::read(&model).unwrap();
    assert_eq!(description["arch"], "small");
    let vs = VarStore::new(Device::Cpu);
    let _net = Net::new(&vs.root(), Arch::ResNet20, 10);
    let err = checkpoint::load_model(&vs, &model, Arch::ResNet20)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors: holds a `small` model, not a `resnet20`"),
        "{err}"
    );
    let err = checkpoint::load_into(&vs, &tensors, &model)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("does not fit this architecture"),
        "{err}"
    );
    assert!(
        err.contains("missing [layer1.0.bn1.bias")
            && err.contains("(92 in all)")
            && err.contains("unexpected [bn2.bias"),
        "{err}"
    );

    let vs = VarStore::new(Device::Cpu);
    let _net = Net::new(&vs.root(), Arch::Small, 7);
    let err = checkpoint::load_into(&vs, &tensors, &model)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tensor `fc.bias` has shape [10], the model expects [7]"),
        "{err}"
    );

    let bytes = std::fs::read(&model).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = checkpoint::read(&truncated).unwrap_err().to_string();
    assert!(
        err.contains("truncated.safetensors") && err.contains("not a valid safetensors file"),
        "{err}"
    );

    let mut big = fast_config(Arch::Small, 1);
    big.common.input_size = 64;
    let err = nml_pretrain::train(
        &big,
        &paths(&corpus, &dir.path().join("big")),
        Device::Cpu,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("pretrain.parquet")
            && err.contains("image is 32x32 but the model input is 64x64"),
        "{err}"
    );
    big.common.resize = true;
    nml_pretrain::train(
        &big,
        &paths(&corpus, &dir.path().join("big")),
        Device::Cpu,
        false,
    )
    .expect("--resize accepts other sizes");

    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_nml-pretrain"))
            .args(["--batch-size", "32", "--device", "cpu", "--out"])
            .arg(dir.path().join("cli"))
            .arg("--train")
            .arg(&corpus)
            .args(extra)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["--arch", "small", "--epochs", "1"]);
    assert!(ok, "{err}");
    // The finished run left resume.safetensors; a different run there must be refused.
    let (ok, err) = run(&["--arch", "small", "--epochs", "2"]);
    assert!(
        !ok && err.contains("holds a checkpoint: pass --resume"),
        "{err}"
    );
    let (ok, err) = run(&[
        "--arch", "small", "--epochs", "2", "--resume", "--lr", "0.2",
    ]);
    assert!(!ok && err.contains("made with another config"), "{err}");
    let (ok, err) = run(&["--arch", "resnet21", "--epochs", "1"]);
    assert!(
        !ok && err.contains("unknown architecture `resnet21`"),
        "{err}"
    );
}

/// Damaged training manifests (empty, truncated, garbage, flipped bytes):
/// never a panic, a refusal is one line and leaves no run folder.
#[test]
fn damaged_manifests_are_refused_or_read_never_crash() {
    use nml_core::damage::{check_run, damaged};

    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let valid = std::fs::read(&corpus).unwrap();
    let input = dir.path().join("in.parquet");
    let out = dir.path().join("run");
    for case in damaged(&valid, 61, 6) {
        std::fs::write(&input, &case.bytes).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_nml-pretrain"))
            .args([
                "--arch",
                "small",
                "--epochs",
                "1",
                "--batch-size",
                "32",
                "--threads",
                "1",
                "--device",
                "cpu",
                "-q",
            ])
            .arg("--train")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        if let Err(problem) = check_run(&output, &case, &[&out]) {
            panic!("{problem}");
        }
    }
}
