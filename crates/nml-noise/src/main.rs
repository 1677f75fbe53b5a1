//! `nml-noise`: inject label noise into an nml manifest.

use std::process::ExitCode;

use anyhow::{bail, Context};
use nml_core::logging;
use nml_core::Manifest;
use nml_noise::{
    corrupt, read_class_map, read_transition_matrix, summary_path, write_outputs, NoiseConfig,
    NoiseKind,
};
use nml_spec::{NoiseArgs as Args, NoiseKindArg as Kind, Semantics, Stratify};

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(&args))
}

/// `--splits`: `all` (every split, the empty list of `NoiseConfig`), or
/// comma-separated names, none empty: an empty value must never mean "all".
fn parse_splits(text: &str) -> anyhow::Result<Vec<String>> {
    if text.trim() == "all" {
        return Ok(Vec::new());
    }
    let names: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).collect();
    if names.iter().any(String::is_empty) {
        bail!("--splits `{text}`: an empty split name; name the splits to corrupt (e.g. train) or `all`");
    }
    Ok(names)
}

/// Flags the chosen `--kind` (or stratification) never reads are refused.
fn check_inert(args: &Args) -> anyhow::Result<()> {
    let kind = kind_name(args.kind);
    for (flag, given, applies, to) in [
        (
            "--class-map",
            args.class_map.is_some(),
            args.kind == Kind::Asymmetric,
            "asymmetric",
        ),
        (
            "--matrix",
            args.matrix.is_some(),
            args.kind == Kind::Transition,
            "transition",
        ),
        (
            "--column",
            args.column.is_some(),
            args.kind == Kind::Column,
            "column",
        ),
        (
            "--stratify",
            args.stratify.is_some(),
            matches!(args.kind, Kind::Symmetric | Kind::Asymmetric),
            "symmetric and asymmetric",
        ),
    ] {
        if given && !applies {
            bail!("{flag} does not apply to --kind {kind}; it is read by --kind {to} only");
        }
    }
    Ok(())
}

/// The flag's spelling of `kind` (`caption-swap`), not its Rust name.
fn kind_name(kind: Kind) -> String {
    nml_spec::spelling(&kind)
}

fn run(args: &Args) -> anyhow::Result<()> {
    nml_noise::check_paths(&args.input, &args.output)?;
    nml_core::guard::Io::new()
        .input("--input", &args.input)
        .inputs("--class-map", args.class_map.iter())
        .inputs("--matrix", args.matrix.iter())
        .output("--output", &args.output)
        .output("--output", summary_path(&args.output))
        .check()?;
    check_inert(args)?;
    let needs_ratio = matches!(
        args.kind,
        Kind::Symmetric | Kind::Uniform | Kind::Asymmetric | Kind::CaptionSwap
    );
    let ratio = match (needs_ratio, args.ratio) {
        (true, Some(r)) => r,
        (true, None) => bail!("--kind {} needs --ratio", kind_name(args.kind)),
        (false, Some(_)) => bail!("--ratio does not apply to --kind {}", kind_name(args.kind)),
        (false, None) => 0.0,
    };
    if !(0.0..=1.0).contains(&ratio) {
        bail!("--ratio {ratio} is outside [0, 1]");
    }
    if args.swap_semantics.is_some() && args.kind != Kind::CaptionSwap {
        bail!("--swap-semantics applies to --kind caption-swap only");
    }
    let manifest = Manifest::read(&args.input)?;
    let per_class = |default: bool| args.stratify.map_or(default, |s| s == Stratify::PerClass);
    let kind = match args.kind {
        Kind::Symmetric => NoiseKind::Symmetric {
            ratio,
            per_class: per_class(false),
        },
        Kind::Uniform => NoiseKind::Uniform { ratio },
        Kind::Asymmetric => NoiseKind::Asymmetric {
            ratio,
            per_class: per_class(true),
            class_map: args
                .class_map
                .as_deref()
                .map(|p| read_class_map(p, &manifest.class_names))
                .transpose()?,
        },
        Kind::Transition => {
            let path = args
                .matrix
                .as_deref()
                .context("--kind transition needs --matrix FILE")?;
            NoiseKind::Transition {
                matrix: read_transition_matrix(path)?,
            }
        }
        Kind::CaptionSwap => NoiseKind::CaptionSwap {
            ratio,
            semantics: match args.swap_semantics {
                Some(Semantics::Official) => nml_noise::SwapSemantics::Official,
                _ => nml_noise::SwapSemantics::Nml,
            },
        },
        Kind::Column => NoiseKind::Column {
            column: args
                .column
                .clone()
                .context("--kind column needs --column NAME")?,
        },
    };
    let splits = parse_splits(&args.splits)?;
    let config = NoiseConfig {
        kind,
        seed: args.seed,
        splits,
    };
    let (noisy, mut summary) = corrupt(&manifest, &config, &args.input)?;
    summary.input = args.input.display().to_string();
    summary.input_hash = Some(nml_core::hash_file(&args.input)?.to_hex());
    write_outputs(&noisy, &summary, &args.input, &args.output)?;
    tracing::info!(
        output = %args.output.display(),
        summary = %summary_path(&args.output).display(),
        rows_in_scope = summary.rows_in_scope,
        rows_noisy = summary.rows_noisy,
        realised = format!("{:.4}", summary.ratio_realised),
        "noise injected"
    );
    Ok(())
}
