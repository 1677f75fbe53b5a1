//! A ResNet-20 checkpoint loads into the PyTorch reference module (run in the
//! project venv) and gives the same features and logits, in float32 and under
//! bfloat16 autocast.

use nml_pretrain::data::NormalizeExt;
use nml_pretrain::{checkpoint, data, Arch, Net};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::{fast_config, paths, smoke_corpus};

#[test]
fn resnet20_checkpoint_matches_the_pytorch_module() {
    let Some(python) = nml_tests::python() else {
        eprintln!("skipped: the project Python is missing (run `cargo xtask setup`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let corpus = smoke_corpus(&dir.path().join("data"));
    let out = dir.path().join("run");
    let info = nml_pretrain::train(
        &fast_config(Arch::ResNet20, 1),
        &paths(&corpus, &out),
        Device::Cpu,
        false,
    )
    .unwrap();
    let model = out.join("model.safetensors");

    let vs = VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), Arch::ResNet20, info.classes as i64);
    checkpoint::load_into(&vs, &checkpoint::read(&model).unwrap().0, &model).unwrap();
    let manifest = nml_core::Manifest::read(&corpus).unwrap();
    let rows: Vec<usize> = manifest
        .rows_in_split("test")
        .into_iter()
        .take(16)
        .collect();
    let set = data::load(&manifest, &rows, 32, false, &corpus).unwrap();
    let input = info
        .normalize
        .apply(&(set.images.to_kind(Kind::Float) / 255.0));
    let (features, logits) =
        tch::no_grad(|| (net.features(&input, false), net.logits(&input, false)));
    // The same forward as nml-pretrain runs it in bf16 (autocast, channels-last),
    // against `torch.autocast("cpu", torch.bfloat16)` on a channels-last module.
    let bf16 = nml_torch::Compute::Bf16;
    let layout = nml_pretrain::layout(Arch::ResNet20, bf16);
    assert_eq!(layout, nml_torch::Layout::ChannelsLast);
    layout.apply_to_variables(&vs);
    let x = layout.apply(&input);
    let (features_bf16, logits_bf16) = tch::no_grad(|| {
        nml_torch::autocast_on(Device::Cpu, bf16, || {
            (net.features(&x, false), net.logits(&x, false))
        })
    });
    assert_eq!(
        logits_bf16.kind(),
        Kind::BFloat16,
        "the classifier ran in bf16"
    );
    let reference = dir.path().join("reference.safetensors");
    let tensors: Vec<(String, Tensor)> = vec![
        ("input".into(), input),
        ("features".into(), features),
        ("logits".into(), logits),
        ("features_bf16".into(), features_bf16.to_kind(Kind::Float)),
        ("logits_bf16".into(), logits_bf16.to_kind(Kind::Float)),
    ];
    checkpoint::save(&reference, &tensors, &serde_json::Value::Null).unwrap();

    let printed = nml_tests::run_python(&python, "torch_resnet.py", &[&model, &reference]);
    assert!(printed.contains("pytorch ok"), "{printed}");
}
