//! Logging for nml binaries: `-v`/`-q` flags and `RUST_LOG`, all on stderr.
//!
//! Libraries only emit `tracing` events; a binary flattens [`Verbosity`]
//! into its clap arguments and calls [`init`] once at start-up.

use std::fmt::Display;
use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

pub use nml_spec::Verbosity;

/// Installs the stderr subscriber; `RUST_LOG`, when set, takes precedence over the flags.
///
/// Calling it twice is harmless (the second call does nothing).
pub fn init(verbosity: Verbosity) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(verbosity.level()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    install_panic_hook();
}

/// A panic (an internal failure, such as a libtorch exception raised through
/// `tch`) is reported like an error, as one line with where it happened; the
/// rest of its message (libtorch's C++ backtrace) goes to the debug log.
/// The exit code stays 101, so tests can tell a crash from a refusal;
/// with `RUST_BACKTRACE` set, Rust's own report is printed instead.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A developer asking for a backtrace gets Rust's own report.
        if std::env::var("RUST_BACKTRACE").is_ok_and(|v| v != "0") {
            default(info);
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        let (line, rest) = one_line(message);
        if !rest.is_empty() {
            tracing::debug!("the rest of the failure:\n{rest}");
        }
        let at = info
            .location()
            .map_or_else(String::new, |l| format!(" (at {}:{})", l.file(), l.line()));
        eprintln!("error: internal failure: {line}{at}");
    }));
}

/// Turns a binary's result into its exit code, printing the error (with its
/// whole cause chain, for `anyhow`) on stderr as one line. Whatever a cause
/// carries after its first line (libtorch's C++ backtrace) goes to the debug
/// log (`-vv`), not to the user.
pub fn exit_code<E: Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = format!("{e:#}");
            let (line, rest) = one_line(&text);
            if !rest.is_empty() {
                tracing::debug!("the rest of the error:\n{rest}");
            }
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}

/// The first line of `text` and the rest (empty when it is one line).
pub fn one_line(text: &str) -> (&str, &str) {
    match text.split_once('\n') {
        Some((first, rest)) => (first.trim_end(), rest),
        None => (text, ""),
    }
}

/// Parses the command line like `T::parse`, except that a usage error is one
/// `error:` line (clap's message and "see --help"), like every other refusal;
/// `--help` and `--version` print as usual.
pub fn parse_args<T: clap::Parser>() -> T {
    match T::try_parse() {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // clap's first paragraph is the message (a missing argument's
            // names are on the lines below it); usage and hints follow.
            let text = e.render().to_string();
            let message = text.split("\n\n").next().unwrap_or_default();
            let words: Vec<&str> = message.lines().map(str::trim).collect();
            let line = words.join(" ");
            let line = line.strip_prefix("error: ").unwrap_or(&line);
            eprintln!("error: {line} (see --help)");
            std::process::exit(2);
        }
    }
}
