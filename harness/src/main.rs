//! `faultline`: the command line. Each subcommand lives in its own module; this file
//! only parses arguments and maps failures onto the exit codes of [`exit`].

mod check;
mod check_consistency;
mod checks;
mod clean;
mod config;
mod exit;
mod progress;
mod results;
mod runner;
mod synth;
mod test;

// The cluster layer lives in the library (src/lib.rs) so integration tests can use it;
// re-exported so the subcommands can say `crate::cluster` and `crate::system`.
#[allow(unused_imports)]
use harness::{cluster, system};

use clap::{Parser, Subcommand};
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

#[derive(Subcommand)]
enum Command {
    /// Run a test: start a cluster, drive a workload, inject faults, check the history.
    Test(test::TestArgs),
    /// Check recorded histories against a consistency model.
    Check(check::CheckArgs),
    /// Generate a synthetic history from a simulated object, optionally with an anomaly.
    Synth(synth::SynthArgs),
    /// Remove namespaces, links, rules and processes a killed faultline left behind.
    Clean(clean::CleanArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
        Command::Clean(args) => clean::run(args),
    }
}
