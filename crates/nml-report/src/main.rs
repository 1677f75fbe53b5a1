//! `nml-report`: the study's report from the files its stages wrote.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use nml_core::logging::{self, Verbosity};

/// Write REPORT.md, figures/ (SVG and PNG) and results/*.parquet from a
/// study's outputs, indexed by the run.json that `cargo xtask reproduce`
/// writes. The paper's qualitative claims are decided by stated rules from
/// the numbers and listed as reproduced, not reproduced or inconclusive.
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// The run index (its paths are relative to --out)
    #[arg(long, default_value = "run.json")]
    run: PathBuf,
    /// The study's output folder
    #[arg(long, default_value = ".")]
    out: PathBuf,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(args))
}

fn run(a: Args) -> anyhow::Result<()> {
    let run = if a.run.is_absolute() {
        a.run.clone()
    } else {
        std::env::current_dir()?.join(&a.run)
    };
    let mut io = nml_core::guard::Io::new()
        .input("--run", &run)
        .folder("--out", &a.out)
        .output("--out", a.out.join("REPORT.md"))
        .folder("--out", a.out.join("results"))
        .folder("--out", a.out.join("figures"));
    for stem in nml_report::markdown::RESULT_TABLES {
        io = io.output(
            "--out",
            a.out.join("results").join(format!("{stem}.parquet")),
        );
    }
    io.check()?;
    let claims = nml_report::markdown::write_report(&run, &a.out)
        .with_context(|| format!("cannot write the report of {}", run.display()))?;
    for c in &claims {
        tracing::info!(claim = c.id(), verdict = %c.verdict(), "{}", c.decision.evidence);
    }
    tracing::info!(report = %a.out.join("REPORT.md").display(), "report written");
    Ok(())
}
