//! `nml-pretrain`: train an image backbone on a (noisy) manifest.

use std::process::ExitCode;

use nml_core::logging;
use nml_pretrain::data::Augment;
use nml_pretrain::optim::SgdConfig;
use nml_pretrain::{Common, ContrastiveConfig, RunPaths, TrainConfig};
use nml_spec::{Compute, Objective, PretrainArgs as Args};

/// The settings both objectives share, from the flags.
fn common(a: &Args, precision: Compute) -> Common {
    Common {
        epochs: a.epochs,
        batch_size: a.batch_size,
        augment: Augment {
            crop_padding: a.crop_padding,
            flip: !a.no_flip,
            color_jitter: a.color_jitter,
        },
        input_size: a.input_size.unwrap_or(a.arch.native_input()),
        resize: a.resize,
        train_split: a.train_split.clone(),
        test_split: a.test_split.clone(),
        seed: a.seed,
        amp: a.amp,
        precision,
        checkpoint_every_steps: a.checkpoint_every_steps,
    }
}

/// Every file of the run checked against the inputs, and flags that cannot
/// act, before anything is read or written.
fn check_request(a: &Args) -> anyhow::Result<()> {
    if a.prompts.iter().any(|p| p.trim().is_empty()) {
        anyhow::bail!(
            "--prompt: empty; a prompt template holds text with `{{}}` for the class name"
        );
    }
    let contrastive = a.objective == Objective::Contrastive;
    for (flag, given, theirs) in [
        ("--prompt", !a.prompts.is_empty(), true),
        ("--embed-dim", a.embed_dim.is_some(), true),
        ("--text-width", a.text_width.is_some(), true),
        ("--context", a.context.is_some(), true),
        ("--temperature", a.temperature.is_some(), true),
        ("--momentum", a.momentum.is_some(), false),
        ("--no-nesterov", a.no_nesterov, false),
        ("--label-smoothing", a.label_smoothing.is_some(), false),
    ] {
        if given && theirs != contrastive {
            let objective = if theirs { "contrastive" } else { "supervised" };
            anyhow::bail!("{flag} applies to --objective {objective} only");
        }
    }
    for (flag, split) in [
        ("--train-split", &a.train_split),
        ("--test-split", &a.test_split),
    ] {
        if split.trim().is_empty() {
            anyhow::bail!("{flag}: empty; name a split");
        }
    }
    let mut io = nml_core::guard::Io::new()
        .input("--train", &a.train)
        .inputs("--test", a.test.iter())
        .folder("--out", &a.out);
    let mut files = vec![
        "model.safetensors",
        "model.json",
        "config.json",
        "metrics.csv",
        "resume.safetensors",
    ];
    if a.objective == Objective::Contrastive {
        files.push("text.safetensors");
    }
    for file in files {
        io = io.output("--out", a.out.join(file));
    }
    io.check()?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(args))
}

fn run(a: Args) -> anyhow::Result<()> {
    nml_torch::configure_threads(a.threads);
    check_request(&a)?;
    let device = nml_torch::resolve_device(a.device)?;
    if a.amp && !device.is_cuda() {
        anyhow::bail!("--amp: autocast runs on CUDA only and the device is the CPU; drop --amp");
    }
    let precision = nml_torch::resolve_precision(a.precision, device);
    tracing::debug!(%precision, "compute precision");
    if a.objective == Objective::Contrastive {
        return run_contrastive(a, device, precision);
    }
    let config = TrainConfig {
        arch: a.arch,
        common: common(&a, precision),
        sgd: SgdConfig {
            lr: a.lr.unwrap_or(0.1),
            momentum: a.momentum.unwrap_or(0.9),
            nesterov: !a.no_nesterov,
            weight_decay: a.weight_decay.unwrap_or(5e-4),
            warmup_epochs: a.warmup_epochs,
        },
        label_smoothing: a.label_smoothing.unwrap_or(0.0),
    };
    let paths = RunPaths {
        train: a.train,
        test: a.test,
        out: a.out,
    };
    let info = nml_pretrain::train(&config, &paths, device, a.resume)?;
    if let Some(last) = info.supervised_epochs().last() {
        tracing::info!(
            out = %paths.out.display(),
            test_acc = last.test_acc.map(|t| format!("{t:.4}")),
            train_acc_clean = format!("{:.4}", last.train_acc_clean),
            "model written"
        );
    }
    Ok(())
}

fn run_contrastive(a: Args, device: tch::Device, precision: Compute) -> anyhow::Result<()> {
    let mut config = ContrastiveConfig::new(a.arch, a.epochs);
    config.common = common(&a, precision);
    config.lr = a.lr.unwrap_or(config.lr);
    config.weight_decay = a.weight_decay.unwrap_or(config.weight_decay);
    config.warmup_epochs = a.warmup_epochs;
    config.embed_dim = a.embed_dim.unwrap_or(config.embed_dim);
    config.text_width = a.text_width.unwrap_or(config.text_width);
    config.context = a.context.unwrap_or(config.context);
    config.init_temperature = a.temperature.unwrap_or(config.init_temperature);
    if !a.prompts.is_empty() {
        config.prompts = a.prompts;
    }
    let paths = RunPaths {
        train: a.train,
        test: a.test,
        out: a.out,
    };
    let info = nml_pretrain::train_contrastive(&config, &paths, device, a.resume)?;
    if let Some(last) = info.contrastive_epochs().last() {
        tracing::info!(
            out = %paths.out.display(),
            zero_shot_acc = last.test_acc.map(|t| format!("{t:.4}")),
            retrieval_acc = format!("{:.4}", last.train_retrieval_acc),
            "model written"
        );
    }
    Ok(())
}
