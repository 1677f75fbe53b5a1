//! `nml-pretrain`: train an image backbone on a (noisy) manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use nml_core::logging::{self, Verbosity};
use nml_core::DeviceSpec;
use nml_pretrain::data::Augment;
use nml_pretrain::optim::SgdConfig;
use nml_pretrain::{Arch, Common, ContrastiveConfig, RunPaths, TrainConfig};

/// Train an image backbone on a (noisy) manifest.
///
/// Supervised (default): trains on `noisy_label` when the manifest has it,
/// else on `label`, and reports accuracy against the clean labels too.
/// Contrastive (--objective contrastive): CLIP-style image–text training on
/// the manifest's `text` captions (noisy when caption-swapped), reporting
/// zero-shot accuracy from --prompt templates; text.safetensors holds the
/// text tower beside the image tower's model.safetensors. Writes into OUT:
/// config.json, metrics.csv (one row per epoch), resume.safetensors
/// (weights, momentum and loop position), and at the end model.safetensors
/// with model.json. A run killed at any moment continues from its last
/// checkpoint when restarted with --resume; a finished run is not redone.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// Training manifest (rows of --train-split are used)
    #[arg(long)]
    train: PathBuf,
    /// Test manifest (rows of --test-split); default: the training manifest
    #[arg(long)]
    test: Option<PathBuf>,
    /// Objective: supervised (class labels) or contrastive (image–text pairs)
    #[arg(long, value_enum, default_value = "supervised")]
    objective: Objective,
    /// Architecture: small, resnet20, resnet32, resnet56, preact-resnet18, resnet18, resnet50
    #[arg(long, default_value = "resnet20")]
    arch: Arch,
    /// Number of epochs
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Output folder
    #[arg(long)]
    out: PathBuf,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Seed of initialisation, shuffling and augmentation
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue from OUT/resume.safetensors when it exists (it must come from the same command)
    #[arg(long)]
    resume: bool,
    /// Batch size
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Peak learning rate (after warm-up); default 0.1 (SGD), 1e-3 (contrastive, AdamW)
    #[arg(long)]
    lr: Option<f64>,
    /// SGD momentum (default 0.9)
    #[arg(long)]
    momentum: Option<f64>,
    /// Use plain momentum instead of Nesterov's
    #[arg(long)]
    no_nesterov: bool,
    /// Weight decay; default 5e-4 on every parameter (SGD), 0.1 on matrices (contrastive, AdamW)
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Linear warm-up length in epochs, then cosine decay to 0
    #[arg(long, default_value_t = 1.0)]
    warmup_epochs: f64,
    /// Label smoothing of the cross-entropy (default 0: off)
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Random-crop padding in pixels (0: no crop)
    #[arg(long, default_value_t = 4)]
    crop_padding: i64,
    /// Disable random horizontal flips
    #[arg(long)]
    no_flip: bool,
    /// Brightness/contrast/saturation jitter strength (0: off)
    #[arg(long, default_value_t = 0.0)]
    color_jitter: f64,
    /// Input side in pixels; default: 32 for CIFAR-style nets and small, 224 for resnet18/50
    #[arg(long)]
    input_size: Option<u32>,
    /// Resize images of another size (bilinear) instead of refusing them
    #[arg(long)]
    resize: bool,
    /// Split of the training manifest to train on
    #[arg(long, default_value = "train")]
    train_split: String,
    /// Split of the test manifest to evaluate on
    #[arg(long, default_value = "test")]
    test_split: String,
    /// bf16 autocast on CUDA (refused on the CPU)
    #[arg(long)]
    amp: bool,
    /// Also checkpoint every N steps inside an epoch (0: at epoch ends only)
    #[arg(long, default_value_t = 0)]
    checkpoint_every_steps: usize,
    /// Contrastive: dimension of the joint image–text space (default 128)
    #[arg(long)]
    embed_dim: Option<i64>,
    /// Contrastive: width of the text tower (default 256)
    #[arg(long)]
    text_width: Option<i64>,
    /// Contrastive: tokens per caption, longer captions truncated with a warning (default 32)
    #[arg(long)]
    context: Option<usize>,
    /// Contrastive: initial temperature, learned (default 0.07)
    #[arg(long)]
    temperature: Option<f64>,
    /// Contrastive: zero-shot prompt template with {} for the class name (repeatable)
    #[arg(long = "prompt")]
    prompts: Vec<String>,
    /// libtorch CPU threads (default: libtorch's choice)
    #[arg(long)]
    threads: Option<i32>,
    #[command(flatten)]
    verbosity: Verbosity,
}

/// What the backbone learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Objective {
    Supervised,
    Contrastive,
}

/// The settings both objectives share, from the flags.
fn common(a: &Args) -> Common {
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
    if a.objective == Objective::Contrastive {
        return run_contrastive(a, device);
    }
    let config = TrainConfig {
        arch: a.arch,
        common: common(&a),
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
    if let Some(last) = info.metrics.last() {
        tracing::info!(
            out = %paths.out.display(),
            test_acc = last.test_acc.map(|t| format!("{t:.4}")),
            train_acc_clean = format!("{:.4}", last.train_acc_clean),
            "model written"
        );
    }
    Ok(())
}

fn run_contrastive(a: Args, device: tch::Device) -> anyhow::Result<()> {
    let mut config = ContrastiveConfig::new(a.arch, a.epochs);
    config.common = common(&a);
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
    if let Some(last) = info.metrics.last() {
        tracing::info!(
            out = %paths.out.display(),
            zero_shot_acc = last.test_acc.map(|t| format!("{t:.4}")),
            retrieval_acc = format!("{:.4}", last.train_retrieval_acc),
            "model written"
        );
    }
    Ok(())
}
