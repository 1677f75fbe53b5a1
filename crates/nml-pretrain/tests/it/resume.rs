//! A run killed at any moment and restarted with the same command ends with
//! the same weights (bit for bit, on the CPU) as an uninterrupted run, in
//! float32 and in bfloat16 (whose convolution kernels and their momentum are
//! channels-last in memory and contiguous in the checkpoint).

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::smoke_corpus;

fn start(corpus: &Path, out: &Path, precision: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nml-pretrain"))
        .args([
            "--arch",
            "small",
            "--epochs",
            "6",
            "--batch-size",
            "32",
            "--lr",
            "0.05",
            "--threads",
            "1",
        ])
        .args([
            "--checkpoint-every-steps",
            "3",
            "--device",
            "cpu",
            "--resume",
            "-q",
            "--precision",
            precision,
        ])
        .arg("--train")
        .arg(corpus)
        .arg("--out")
        .arg(out)
        .spawn()
        .unwrap()
}

fn weights(path: &Path) -> Vec<(String, tch::Tensor)> {
    nml_pretrain::checkpoint::read(path).unwrap().0
}

#[test]
fn killed_run_resumes_to_identical_weights() {
    for precision in ["fp32", "bf16"] {
        killed_and_resumed(precision);
    }
}

fn killed_and_resumed(precision: &str) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(start(&corpus, &a, precision).wait().unwrap().success());

    let mut child = start(&corpus, &b, precision);
    let begun = Instant::now();
    while !b.join("resume.safetensors").exists() {
        assert!(
            begun.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !b.join("model.safetensors").exists(),
        "the run finished before it could be killed"
    );

    assert!(start(&corpus, &b, precision).wait().unwrap().success());
    let (wa, wb) = (
        weights(&a.join("model.safetensors")),
        weights(&b.join("model.safetensors")),
    );
    assert_eq!(wa.len(), wb.len());
    for ((na, ta), (nb, tb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{precision}: {na} differs after resuming");
    }
    let metrics = |dir: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        // Drop the timing columns (images/s, seconds), which differ run to run.
        text.lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(
        metrics(&a),
        metrics(&b),
        "losses and accuracies match epoch by epoch"
    );

    // Rerunning a finished command does nothing and changes nothing.
    let before = std::fs::read(b.join("model.safetensors")).unwrap();
    assert!(start(&corpus, &b, precision).wait().unwrap().success());
    assert_eq!(std::fs::read(b.join("model.safetensors")).unwrap(), before);
}
