//! `nml-report`: its arguments.

use std::path::PathBuf;

use clap::Parser;

use crate::{Args, Spec, Verbosity};

/// Write REPORT.md, figures/ (SVG and PNG) and results/*.parquet from a
/// study's outputs, indexed by the run.json that `cargo xtask reproduce`
/// writes. The paper's qualitative claims are decided by stated rules from
/// the numbers and listed as reproduced, not reproduced or inconclusive.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "nml-report", version, verbatim_doc_comment)]
pub struct ReportArgs {
    /// The run index (its paths are relative to --out)
    #[arg(long, default_value = "run.json")]
    pub run: PathBuf,
    /// The study's output folder
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl Spec for ReportArgs {
    fn to_args(&self) -> Vec<String> {
        Args::new()
            .value("--run", self.run.display())
            .value("--out", self.out.display())
            .verbosity(self.verbosity)
            .finish()
    }
}

impl ReportArgs {
    /// The report of the study in the working folder (`run.json`, written to `.`).
    pub fn here() -> ReportArgs {
        ReportArgs {
            run: "run.json".into(),
            out: ".".into(),
            verbosity: Verbosity::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_round_trips() {
        let full = ReportArgs {
            run: "a b/run.json".into(),
            out: "/tmp/study".into(),
            verbosity: Verbosity::QUIET,
        };
        for value in [ReportArgs::here(), full] {
            assert_eq!(ReportArgs::from_args(&value.to_args()).unwrap(), value);
        }
    }
}
