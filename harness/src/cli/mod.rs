//! The command line: the only layer that prints or chooses exit codes. Each
//! subcommand is one file; everything it runs lives in the layers below.

mod check;
mod clean;
mod compare;
pub mod exit;
mod report;
mod serve;
mod synth;
mod test;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "Jepsen-style tests of distributed systems: real clusters, real faults, checked histories."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a test: start a cluster, drive a workload, inject faults, check the history.
    Test(crate::config::TestArgs),
    /// Check recorded histories against a consistency model, or re-check a run.
    Check(check::CheckArgs),
    /// Generate a synthetic history from a simulated object, optionally with an anomaly.
    Synth(synth::SynthArgs),
    /// Write the HTML report of a run folder or of any history, and print its path.
    Report(report::ReportArgs),
    /// Serve the runs under a results folder: an index, each run's report, files and zip.
    Serve(serve::ServeArgs),
    /// Run a campaign from a plan (entries x fault sets x seeds) and write the consistency matrix.
    Compare(compare::CompareArgs),
    /// Remove namespaces, links, rules and processes a killed faultline left behind.
    Clean(clean::CleanArgs),
    /// A Maelstrom node's relay, run by the harness inside the node's namespace.
    #[command(hide = true)]
    MaelstromRelay(crate::relay::args::RelayArgs),
}

/// Parses the arguments, runs the subcommand, and returns its exit code.
pub fn run() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::code(exit::VALID)
                }
                _ => exit::code(exit::BAD_INPUT),
            };
        }
    };
    match cli.command {
        Command::Test(args) => test::run(args),
        Command::Check(args) => check::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Report(args) => report::run(args),
        Command::Clean(args) => clean::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Serve(args) => serve::run(args),
        Command::MaelstromRelay(args) => match crate::relay::run(args) {
            Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("[relay] {e:#}");
                exit::code(exit::HARNESS_ERROR)
            }
        },
    }
}

/// Parses argv, with `faultline test --help` showing each flag's default from the one
/// table of defaults (`config::defaults`).
fn parse() -> Result<Cli, clap::Error> {
    let command = Cli::command().mut_subcommand("test", |mut test| {
        let ids: Vec<String> = test
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        for id in ids {
            let flag = id.replace('_', "-");
            if let Some(default) = crate::config::defaults::shown(&flag) {
                test = test.mut_arg(id, |a| {
                    let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                    a.help(format!("{help} [default: {default}]"))
                });
            }
        }
        test
    });
    let matches = command.try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

/// The async runtime of a subcommand that runs tests; `None` (after saying why) when
/// it cannot start, which is a harness error.
fn runtime(say: fn(&str)) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            say(&format!("cannot start the async runtime: {e}"));
            None
        }
    }
}

/// Writes to standard output. A reader that stops early (`faultline test | head`)
/// closes it; that is not an error worth a panic, and the exit code stays the
/// verdict's.
pub fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// [`out`] with a newline and formatting.
macro_rules! outln {
    () => { $crate::cli::out("\n") };
    ($($t:tt)*) => { $crate::cli::out(&format!("{}\n", format_args!($($t)*))) };
}
pub(crate) use outln;
