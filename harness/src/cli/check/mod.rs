//! `faultline check PATH...`: checks recorded histories. Each PATH is a history file
//! or a directory searched recursively for history files (`.jsonl`, `.json`, `.edn`,
//! `.log`, `.txt`).
//!
//! Two modes. With a model (the default), each history is checked for
//! linearizability against it ([`model`]). With `--check` (or a history in a run's
//! results folder, whose `test.json` says how the run checked it), `faultline test`'s
//! own checks run on it ([`checks`]), so a run's verdicts are reproduced from its
//! files with no flags.
//!
//! Exit status: 1 if any history is invalid, else 3 if any could not be read or does
//! not fit the model, else 2 if any verdict is unknown, else 0.

mod checks;
mod files;
mod model;

use super::exit;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// History files, or directories to search for them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The model: register, cas-register, kv, multi-register, set, fifo-queue,
    /// unordered-queue, mutex. Default: chosen from each history's functions.
    #[arg(long, short, value_name = "M")]
    pub model: Option<String>,
    /// What a failed CAS means. Default: read from each failure's `error`: none or
    /// `cas-mismatch` means it ran and its comparison failed; any other error
    /// (`no-leader`, `unavailable`) means it had no effect. `compared` forces the first
    /// reading on every failed CAS (porcupine's etcd model), `no-effect` the second
    /// (Jepsen/Knossos).
    #[arg(long, value_name = "MEANING")]
    pub cas_fail: Option<String>,
    /// History format: jsonl, edn, porcupine-log, porcupine-kv. Default: detected.
    #[arg(long, short, value_name = "F")]
    pub format: Option<String>,
    /// Time limit per history (e.g. 500ms, 10s, 2m). Past it the verdict is unknown.
    #[arg(long, value_name = "D")]
    pub timeout: Option<String>,
    /// Memory budget per history for the search (e.g. 512M, 2G).
    #[arg(long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Check every key even after one is found invalid, to diagnose them all (with a
    /// model, or with --check linearizable).
    #[arg(long)]
    pub all_keys: bool,
    /// Print one JSON document with every report instead of text.
    #[arg(long)]
    pub json: bool,
    /// Run `faultline test`'s checks instead of one model, comma-separated:
    /// linearizable, sequential, session, eventual, bank, counter, unique-ids, or
    /// `default` (every check that applies to --workload). A history in a run's
    /// results folder gets that run's checks without this flag.
    #[arg(long, value_name = "CHECKS")]
    pub check: Option<String>,
    /// With --check: the workload that produced the history.
    #[arg(long, value_name = "W")]
    pub workload: Option<String>,
    /// With --check eventual: the quiet period the run promised after the final heal.
    #[arg(long, value_name = "D")]
    pub quiet_period: Option<String>,
    /// With --check eventual: every node of the test, comma-separated (n1,n2,n3).
    #[arg(long, value_name = "IDS")]
    pub nodes: Option<String>,
}

pub fn run(args: CheckArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("faultline check: {message}");
        exit::code(exit::BAD_INPUT)
    };
    let files = match files::collect(&args.paths) {
        Ok(f) if f.is_empty() => {
            return fail("no history files found under the given paths".into())
        }
        Ok(f) => f,
        Err(e) => return fail(format!("{e:#}")),
    };
    let from_flags = args.check.is_some() || args.workload.is_some();
    if from_flags || (args.model.is_none() && files.iter().all(|f| checks::run_record(f).is_some()))
    {
        return checks::run(&args, files);
    }
    model::run(&args, files)
}

/// The exit status of a set of verdicts: invalid beats bad input beats unknown.
fn exit_status(invalid: bool, errors: bool, unknown: bool) -> ExitCode {
    exit::code(if invalid {
        exit::INVALID
    } else if errors {
        exit::BAD_INPUT
    } else if unknown {
        exit::UNKNOWN
    } else {
        exit::VALID
    })
}
