//! Published weights in nml's architectures reproduce PyTorch's reference
//! outputs (`../shared/data/reference/`, computed with torch and torchvision),
//! and extraction with `--arch` gives the same features through the cache.
//! Skipped, with a message, where the shared data folder is absent.

use nml_models::NormalizeExt;
use std::path::Path;

use nml_features::extract::{extract, Pretrained, IMAGENET};
use nml_features::ExtractRequest;
use nml_pretrain::{checkpoint, Arch, Net};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::shared;

fn reference(path: &Path, name: &str) -> Tensor {
    let (tensors, _) = checkpoint::read(path).unwrap();
    tensors
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{}: no `{name}`", path.display()))
        .1
}

/// max |a − b| / max |b|.
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    let diff = (a - b).abs().max().double_value(&[]);
    diff / b.abs().max().double_value(&[])
}

fn load(arch: Arch, weights: &Path, classes: i64) -> (VarStore, Net) {
    let vs = VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), arch, classes);
    checkpoint::load_into(&vs, &checkpoint::read(weights).unwrap().0, weights).unwrap();
    (vs, net)
}

/// Our preprocessing of the reference's u8 pixels equals its input tensor,
/// and our features and logits equal its outputs to 1e-4 relative error.
fn check_parity(arch: Arch, weights: &Path, reference_file: &Path, classes: i64) {
    let (_vs, net) = load(arch, weights, classes);
    let pixels = reference(reference_file, "pixels_uint8").permute([0, 3, 1, 2]);
    let input = IMAGENET.apply(&(pixels.to_kind(Kind::Float) / 255.0));
    let expected_input = reference(reference_file, "input");
    assert!(
        relative_error(&input, &expected_input) < 1e-6,
        "{arch}: preprocessing differs from the reference input"
    );
    let _guard = tch::no_grad_guard();
    let features = net.features(&expected_input, false);
    let logits = net.logits(&expected_input, false);
    let f = relative_error(&features, &reference(reference_file, "features"));
    let l = relative_error(&logits, &reference(reference_file, "logits"));
    eprintln!("{arch}: relative error features {f:.2e}, logits {l:.2e}");
    assert!(f < 1e-4, "{arch}: features differ from PyTorch by {f:.2e}");
    assert!(l < 1e-4, "{arch}: logits differ from PyTorch by {l:.2e}");
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    let Some(dir) = shared() else { return };
    let _lock = nml_torch::rng_lock();
    check_parity(
        Arch::MobileNetV2,
        &dir.join("models/mobilenet_v2_imagenet.safetensors"),
        &dir.join("reference/mobilenet_v2_first8.safetensors"),
        1000,
    );
}

#[test]
fn resnet20_matches_akamaster() {
    let Some(dir) = shared() else { return };
    check_parity(
        Arch::ResNet20,
        &dir.join("models/resnet20_cifar10.safetensors"),
        &dir.join("reference/resnet20_first8.safetensors"),
        10,
    );
}

/// ResNet-56 has no reference tensors: its published accuracy on the JPEG
/// copy of the CIFAR-10 test set (83.2%, shared/data README) is the check,
/// here on the first 1,000 test images, through `extract --arch`.
#[test]
fn resnet56_reaches_its_published_accuracy_through_extract() {
    let Some(dir) = shared() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // A 1,000-image test manifest cut from cifar10.parquet.
    let manifest = nml_core::Manifest::read(dir.join("cifar10.parquet")).unwrap();
    let rows: Vec<usize> = (0..manifest.len())
        .filter(|&r| manifest.split[r] == "test" && manifest.index[r] < 1000)
        .collect();
    let small = manifest.select(&rows);
    let path = tmp.path().join("cifar10-test1k.parquet");
    small.write(&path).unwrap();
    let weights = dir.join("models/resnet56_cifar10.safetensors");
    let request = ExtractRequest {
        checkpoint: weights.clone(),
        manifest: path.clone(),
        splits: None,
        batch_size: 250,
        resize: false,
        cache: tmp.path().join("cache"),
        force: false,
        pretrained: Some(Pretrained {
            arch: Arch::ResNet56,
            normalize: IMAGENET,
            input_size: None,
        }),
        embedding: None,
        views: nml_features::ViewRequest::none(),
        precision: nml_features::Compute::Fp32,
    };
    let outcome = extract(&request, Device::Cpu).unwrap();
    assert_eq!((outcome.rows, outcome.dim), (1000, 64));
    // The cached features through the published classifier give the accuracy.
    let table = nml_core::FeatureTable::read(&outcome.path).unwrap();
    let (tensors, _) = checkpoint::read(&weights).unwrap();
    let get = |n: &str| {
        tensors
            .iter()
            .find(|(k, _)| k == n)
            .unwrap()
            .1
            .shallow_clone()
    };
    let features = Tensor::from_slice(&table.features).view([1000, 64]);
    let logits = features.matmul(&get("linear.weight").tr()) + get("linear.bias");
    let predicted = Vec::<i64>::try_from(logits.argmax(1, false)).unwrap();
    let correct = predicted
        .iter()
        .zip(&table.label)
        .filter(|(p, l)| p == l)
        .count();
    let accuracy = correct as f64 / 1000.0;
    eprintln!("resnet56 on CIFAR-10 test 0..999 (JPEG copy): {accuracy:.3}");
    assert!(
        (0.78..0.89).contains(&accuracy),
        "ResNet-56 accuracy {accuracy} is far from the published 0.832"
    );
}

#[test]
fn a_mis_shaped_or_missing_tensor_is_named() {
    let Some(dir) = shared() else { return };
    let weights = dir.join("models/resnet20_cifar10.safetensors");
    let (tensors, _) = checkpoint::read(&weights).unwrap();
    // ResNet-56 misses layers ResNet-20 has not: the error names them.
    let vs = VarStore::new(Device::Cpu);
    let _net = Net::new(&vs.root(), Arch::ResNet56, 10);
    let err = checkpoint::load_into(&vs, &tensors, &weights)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing [layer1.3.bn1.bias"), "{err}");
    // Ten classes of weights into a 100-class head: the tensor is named with both shapes.
    let vs = VarStore::new(Device::Cpu);
    let _net = Net::new(&vs.root(), Arch::ResNet20, 100);
    let err = checkpoint::load_into(&vs, &tensors, &weights)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`linear.bias` has shape [10], the model expects [100]"),
        "{err}"
    );
}

/// all-MiniLM-L6-v2: our tokenisation gives the reference ids, and our BERT
/// the reference token and sentence embeddings (sentence-transformers).
#[test]
fn minilm_matches_sentence_transformers() {
    let Some(dir) = shared() else { return };
    let reference_file = dir.join("reference/minilm_first8.safetensors");
    // The texts are in the file's metadata (`texts_json`).
    let bytes = std::fs::read(&reference_file).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let texts: Vec<String> =
        serde_json::from_str(&header.metadata().as_ref().unwrap()["texts_json"]).unwrap();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = dir.join("models/all-minilm-l6-v2");
    // The encoder's own window (sentence_bert_config.json), not the tokenizer file's 128.
    assert_eq!(nml_models::bert::window(&model).unwrap(), 256);
    let encoder = nml_models::bert::SentenceEncoder::load(&model, 256, Device::Cpu).unwrap();
    let (ids, types, mask) = encoder.tokenize(&texts).unwrap();
    // Truncation is counted: with a 4-token window every text of the reference is cut.
    let short = nml_models::bert::SentenceEncoder::load(&model, 4, Device::Cpu).unwrap();
    let (_, truncated) = short.embed_counting(&texts, Device::Cpu).unwrap();
    assert_eq!(truncated, texts.len());
    assert_eq!(encoder.embed_counting(&texts, Device::Cpu).unwrap().1, 0);
    assert_eq!(ids, reference(&reference_file, "input_ids"), "token ids");
    assert_eq!(types, reference(&reference_file, "token_type_ids"));
    assert_eq!(mask, reference(&reference_file, "attention_mask"));
    let _guard = tch::no_grad_guard();
    let tokens = encoder.bert.forward(&ids, &types, &mask);
    // Compare real tokens only: padding positions are computed but unused.
    let m = mask.to_kind(Kind::Float).unsqueeze(-1);
    let t = relative_error(
        &(&tokens * &m),
        &(reference(&reference_file, "token_embeddings") * &m),
    );
    let sentences = nml_models::bert::sentence_embeddings(&tokens, &mask);
    let s = relative_error(
        &sentences,
        &reference(&reference_file, "sentence_embeddings"),
    );
    eprintln!("minilm: relative error tokens {t:.2e}, sentences {s:.2e}");
    assert!(t < 1e-4, "token embeddings differ by {t:.2e}");
    assert!(s < 1e-4, "sentence embeddings differ by {s:.2e}");
}
