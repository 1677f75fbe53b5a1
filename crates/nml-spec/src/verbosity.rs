//! The `-v`/`-q` flags every nml binary shares (`nml_core::logging` installs
//! the subscriber they select).

/// The `-v`/`-q` flags every nml binary shares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct Verbosity {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl Verbosity {
    /// Only warnings and errors (`-q`).
    pub const QUIET: Verbosity = Verbosity {
        verbose: 0,
        quiet: true,
    };

    /// The default filter these flags select.
    pub fn level(&self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "warn",
            (false, 0) => "info",
            (false, 1) => "debug",
            (false, _) => "trace",
        }
    }
}
