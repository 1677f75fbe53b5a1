//! `nml-report`: the study's report from the files its stages wrote.

use std::process::ExitCode;

use anyhow::Context;
use nml_core::logging;
use nml_spec::ReportArgs as Args;

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
