//! Contrastive image–text pre-training: zero-shot accuracy well above chance
//! on clean captions and near chance with every caption swapped; a killed
//! run resumes to the same weights; bad captions are clear errors; the image
//! tower feeds feature extraction like a supervised backbone.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nml_noise::{corrupt, write_outputs, NoiseConfig, NoiseKind};
use nml_pretrain::{checkpoint, Arch, ContrastiveConfig, ModelInfo};
use tch::Device;

use crate::{paths, smoke_corpus};

fn fast(epochs: usize) -> ContrastiveConfig {
    let mut config = ContrastiveConfig::new(Arch::Small, epochs);
    config.common.batch_size = 32;
    config
}

#[test]
fn clean_captions_give_zero_shot_accuracy_and_swapped_captions_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let config = fast(10);
    let clean = nml_pretrain::train_contrastive(
        &config,
        &paths(&corpus, &dir.path().join("clean")),
        Device::Cpu,
        false,
    )
    .unwrap();
    let last = clean.contrastive_epochs().last().unwrap();
    assert!(
        last.test_acc.unwrap() > 0.6,
        "10 classes, chance 0.1: {last:?}"
    );
    assert!(last.temperature > 0.01 && last.temperature < 1.0);
    for f in [
        "model.safetensors",
        "text.safetensors",
        "metrics.csv",
        "config.json",
    ] {
        assert!(dir.path().join("clean").join(f).exists(), "{f}");
    }
    let record = nml_pretrain::ConfigRecord::<ContrastiveConfig>::read(
        &dir.path().join("clean/config.json"),
    )
    .unwrap();
    assert_eq!(
        (
            record.objective.map(|o| o.name()),
            record.config,
            record.key
        ),
        (Some("contrastive"), config.clone(), clean.key.clone())
    );
    assert!(record.vocab_size.is_some_and(|v| v > 2));
    // model.json describes an image backbone that extraction can rebuild.
    let info: ModelInfo = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("clean/model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (info.objective().name(), info.classes),
        ("contrastive", 128)
    );
    let (image, _) = checkpoint::read(&dir.path().join("clean/model.safetensors")).unwrap();
    assert!(image
        .iter()
        .all(|(n, _)| !n.starts_with("text.") && n != "logit_scale"));
    let (text, description) = checkpoint::read(&dir.path().join("clean/text.safetensors")).unwrap();
    assert!(text.iter().any(|(n, _)| n == "logit_scale"));
    assert!(description["vocab"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w == "crescent" || w == "star" || w == "circle"));

    let manifest = nml_core::Manifest::read(&corpus).unwrap();
    let noise = NoiseConfig {
        kind: NoiseKind::CaptionSwap {
            ratio: 1.0,
            semantics: Default::default(),
        },
        seed: 0,
        splits: vec!["train".into()],
    };
    let (swapped, summary) = corrupt(&manifest, &noise, &corpus).unwrap();
    let swapped_path = dir.path().join("swapped.parquet");
    write_outputs(&swapped, &summary, &corpus, &swapped_path).unwrap();
    let noisy = nml_pretrain::train_contrastive(
        &config,
        &paths(&swapped_path, &dir.path().join("swapped")),
        Device::Cpu,
        false,
    )
    .unwrap();
    let last = noisy.contrastive_epochs().last().unwrap();
    assert!(
        last.test_acc.unwrap() < 0.25,
        "every caption belongs to another image: zero-shot stays near chance: {last:?}"
    );
    assert!(
        noisy.noise.is_some(),
        "the noise summary travels into model.json"
    );
}

fn start(corpus: &Path, out: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nml-pretrain"))
        .args([
            "--objective",
            "contrastive",
            "--arch",
            "small",
            "--epochs",
            "5",
        ])
        .args([
            "--batch-size",
            "32",
            "--threads",
            "1",
            "--checkpoint-every-steps",
            "3",
        ])
        .args(["--device", "cpu", "--resume", "-q"])
        .args(extra)
        .arg("--train")
        .arg(corpus)
        .arg("--out")
        .arg(out)
        .spawn()
        .unwrap()
}

#[test]
fn killed_contrastive_run_resumes_to_identical_weights() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    assert!(start(&corpus, &a, &[]).wait().unwrap().success());
    let mut child = start(&corpus, &b, &[]);
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
        "finished before the kill"
    );
    assert!(start(&corpus, &b, &[]).wait().unwrap().success());
    for file in ["model.safetensors", "text.safetensors"] {
        let (wa, wb) = (
            checkpoint::read(&a.join(file)).unwrap().0,
            checkpoint::read(&b.join(file)).unwrap().0,
        );
        assert_eq!(wa.len(), wb.len());
        for ((na, ta), (nb, tb)) in wa.iter().zip(&wb) {
            assert_eq!(na, nb);
            assert!(ta.equal(tb), "{file}: {na} differs after resuming");
        }
    }
    // A rerun of the finished command changes nothing.
    let before = std::fs::read(b.join("text.safetensors")).unwrap();
    assert!(start(&corpus, &b, &[]).wait().unwrap().success());
    assert_eq!(std::fs::read(b.join("text.safetensors")).unwrap(), before);
}

fn run(corpus: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_nml-pretrain"))
        .args([
            "--objective",
            "contrastive",
            "--arch",
            "small",
            "--epochs",
            "1",
        ])
        .args(["--batch-size", "32", "--device", "cpu"])
        .args(extra)
        .arg("--train")
        .arg(corpus)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_captions_are_clear_errors_and_long_ones_are_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let manifest = nml_core::Manifest::read(&corpus).unwrap();

    let mut no_text = manifest.clone();
    no_text.text = None;
    let path = dir.path().join("no-text.parquet");
    no_text.write(&path).unwrap();
    let (ok, err) = run(&path, &dir.path().join("o1"), &[]);
    assert!(
        !ok && err.contains("no-text.parquet") && err.contains("no `text` column"),
        "{err}"
    );

    let mut empty = manifest.clone();
    let text = empty.text.as_mut().unwrap();
    text[7] = " ,; ".to_owned();
    let path = dir.path().join("empty.parquet");
    empty.write(&path).unwrap();
    let (ok, err) = run(&path, &dir.path().join("o2"), &[]);
    assert!(
        !ok && err.contains("empty.parquet")
            && err.contains("row 7")
            && err.contains("empty caption"),
        "{err}"
    );

    // Captions of up to ~12 words, context 4: truncated with a warning, and trained.
    let (ok, err) = run(&corpus, &dir.path().join("o3"), &["--context", "4"]);
    assert!(ok, "{err}");
    assert!(err.contains("truncated"), "{err}");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("o3/model.json")).unwrap())
            .unwrap();
    assert!(info["truncated_captions"].as_u64().unwrap() > 0);

    let (ok, err) = run(
        &corpus,
        &dir.path().join("o4"),
        &["--prompt", "no placeholder"],
    );
    assert!(!ok && err.contains("must contain `{}`"), "{err}");
}
