//! `faultline check PATH...`: checks recorded histories. Each PATH is a history file
//! or a directory searched recursively for history files (`.jsonl`, `.json`, `.edn`,
//! `.log`, `.txt`).
//!
//! Two modes. With a model (the default), each history is checked for
//! linearizability against it ([`model`]). Each history is read as the tool that
//! wrote it means its failed CASes and nil reads (`Format::readings`), unless
//! `--cas-fail` or `--nil-read` says otherwise, and the output says which readings
//! were used and where each came from. With `--check` (or a history in a run's
//! results folder, whose `test.json` says how the run checked it), `faultline test`'s
//! own checks run on it ([`checks`]), so a run's verdicts are reproduced from its
//! files with no flags.
//!
//! Exit status: 1 if any history is invalid (a run's history with promises: a promised
//! model broken), else 3 if any could not be read or does not fit the model, else 2 if
//! any verdict is unknown, else 0.

mod checks;
mod files;
mod model;
mod txns;

pub(crate) use checks::{nodes_read, run_record};

use super::exit;
use anyhow::{anyhow, Result};
use checker::import::{self, Format, ImportOptions, Imported};
use checker::model::{CasFailMeaning, NilRead, Readings};
use std::fmt;
use std::path::{Path, PathBuf};
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
    /// What a failed CAS means: `from-error` (a CAS with no error or `cas-mismatch`
    /// ran and its comparison failed; any other error, such as `no-leader`, means it
    /// had no effect), `compared` (every failed CAS compared and failed: porcupine's
    /// etcd model) or `no-effect` (every failed CAS never happened: Jepsen/Knossos).
    /// Default: the file format's reading: no-effect for edn and jepsen-json,
    /// compared for porcupine-log, from-error for jsonl and porcupine-kv.
    #[arg(long, value_name = "MEANING")]
    pub cas_fail: Option<String>,
    /// What an `ok` read of nil means: `value` (the register held nil) or `unknown`
    /// (it constrains nothing, as Knossos reads it). Default: the file format's
    /// reading: unknown for edn and jepsen-json, value for the others.
    #[arg(long, value_name = "MEANING")]
    pub nil_read: Option<String>,
    /// The register's initial value, as JSON (`0`, `"a"`), for register and
    /// cas-register; for multi-register a JSON object of key to value
    /// (`{"1":0,"2":5}`). Default: nil. Model checks only (not with --check).
    #[arg(long, value_name = "JSON")]
    pub initial: Option<String>,
    /// History format: jsonl, edn, jepsen-json, porcupine-log, porcupine-kv.
    /// Default: detected from the content.
    #[arg(long, short, value_name = "F")]
    pub format: Option<String>,
    /// Time limit per history (e.g. 500ms, 10s, 2m). Past it the verdict is unknown.
    #[arg(long, value_name = "D")]
    pub timeout: Option<String>,
    /// Memory budget per history for the search (e.g. 512M, 2G); past it the
    /// verdict is unknown, saying so. Default: the checker's own (512 MiB for
    /// sequential consistency).
    #[arg(long, alias = "check-memory", value_name = "BYTES")]
    pub memory: Option<String>,
    /// Check every key even after one is found invalid, to diagnose them all (with a
    /// model, or with --check linearizable).
    #[arg(long)]
    pub all_keys: bool,
    /// Print one JSON document with every report instead of text.
    #[arg(long)]
    pub json: bool,
    /// `json`: print one short JSON object instead of text: each history's verdict,
    /// each check's, and the counterexample in one line, for scripts (`--json` has
    /// every report in full).
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub summary: Option<String>,
    /// Run `faultline test`'s checks instead of one model, comma-separated:
    /// linearizable, sequential, session, eventual, bank, counter, unique-ids, or
    /// `default` (every check that applies to --workload). A history in a run's
    /// results folder gets that run's checks without this flag. list-append and
    /// rw-register (transactional isolation) need no --workload.
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
    /// With --check bank: the sum of all balances the bank started with, which every
    /// read must show. Default: the first complete read's total.
    #[arg(long, value_name = "N")]
    pub bank_total: Option<i64>,
    /// With --check bank: the accounts every read must list, comma-separated
    /// (0,1,2). Default: the first complete read's accounts.
    #[arg(long, value_name = "IDS")]
    pub bank_accounts: Option<String>,
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
    let checks_mode = from_flags
        || (args.model.is_none() && files.iter().all(|f| checks::run_record(f).is_some()));
    if let Err(e) = flags_fit_mode(&args, checks_mode) {
        return fail(e);
    }
    if checks_mode {
        return checks::run(&args, files);
    }
    model::run(&args, files)
}

/// Refuses flags that the chosen mode would silently ignore.
fn flags_fit_mode(args: &CheckArgs, checks_mode: bool) -> Result<(), String> {
    if args.json && args.summary.is_some() {
        return Err("--json and --summary json each print a JSON document: give one".into());
    }
    if checks_mode && args.initial.is_some() {
        return Err(
            "--initial applies to a model check: give --model M, without --check or --workload"
                .into(),
        );
    }
    if !checks_mode && (args.bank_total.is_some() || args.bank_accounts.is_some()) {
        let flag = if args.bank_total.is_some() {
            "--bank-total"
        } else {
            "--bank-accounts"
        };
        return Err(format!(
            "{flag} applies to the bank check: give --check bank --workload bank"
        ));
    }
    Ok(())
}

/// The readings the user chose with `--cas-fail` and `--nil-read`; each `None`
/// leaves the file format's own.
#[derive(Debug, Clone, Copy, Default)]
struct ReadingFlags {
    cas_fail: Option<CasFailMeaning>,
    nil_read: Option<NilRead>,
}

impl ReadingFlags {
    fn from_args(args: &CheckArgs) -> Result<ReadingFlags> {
        Ok(ReadingFlags {
            cas_fail: meaning(
                "--cas-fail",
                &args.cas_fail,
                CasFailMeaning::from_name,
                CasFailMeaning::NAMES,
            )?,
            nil_read: meaning(
                "--nil-read",
                &args.nil_read,
                NilRead::from_name,
                NilRead::NAMES,
            )?,
        })
    }

    /// The readings a history is checked with: the user's, else its format's.
    fn apply(self, imported: &Imported) -> ReadingsUsed {
        ReadingsUsed {
            readings: imported.readings.overridden(self.cas_fail, self.nil_read),
            ..self.apply_format(imported.format)
        }
    }

    /// The readings of a history in `format` read without an importer.
    fn apply_format(self, format: Option<Format>) -> ReadingsUsed {
        let own = format.map(Format::readings).unwrap_or_default();
        ReadingsUsed {
            readings: own.overridden(self.cas_fail, self.nil_read),
            format,
            cas_fail_given: self.cas_fail.is_some(),
            nil_read_given: self.nil_read.is_some(),
        }
    }
}

/// The meaning `flag` names, if given; an unknown name is an error listing `names`.
fn meaning<T>(
    flag: &str,
    given: &Option<String>,
    from_name: fn(&str) -> Option<T>,
    names: &[&str],
) -> Result<Option<T>> {
    given
        .as_deref()
        .map(|name| {
            from_name(name).ok_or_else(|| {
                anyhow!(
                    "{flag}: unknown meaning `{name}` (expected {})",
                    names.join(", ")
                )
            })
        })
        .transpose()
}

/// The readings a history was checked with, and where each came from.
#[derive(Debug, Clone, Copy)]
struct ReadingsUsed {
    readings: Readings,
    /// The format the history was read as; `None` for a blank file.
    format: Option<Format>,
    cas_fail_given: bool,
    nil_read_given: bool,
}

impl ReadingsUsed {
    /// Whether these are faultline's own rules, unasked: nothing worth a mention.
    fn plain(&self) -> bool {
        self.readings == Readings::default() && !self.cas_fail_given && !self.nil_read_given
    }

    fn source(&self, given: bool) -> String {
        match (given, self.format) {
            (true, _) => "given".into(),
            (false, Some(format)) => format!("{format} default"),
            (false, None) => "default".into(),
        }
    }

    /// For JSON output: each reading by its command-line name, the format, and which
    /// readings the user gave.
    fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "format": self.format.map(Format::name),
            "cas_fail": self.readings.cas_fail.name(),
            "cas_fail_given": self.cas_fail_given,
            "nil_read": self.readings.nil_read.name(),
            "nil_read_given": self.nil_read_given,
        })
    }
}

/// `cas-fail=no-effect (edn default), nil-read=unknown (given)`.
impl fmt::Display for ReadingsUsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cas-fail={} ({}), nil-read={} ({})",
            self.readings.cas_fail.name(),
            self.source(self.cas_fail_given),
            self.readings.nil_read.name(),
            self.source(self.nil_read_given)
        )
    }
}

/// `--format`, when given.
fn format_flag(args: &CheckArgs) -> Result<Option<Format>> {
    args.format
        .as_deref()
        .map(|name| name.parse::<Format>().map_err(|e| anyhow!("--format: {e}")))
        .transpose()
}

/// Reads one history file with the chosen format.
fn load(path: &Path, format: Option<Format>) -> Result<Imported, import::ImportError> {
    import::load_with(path, format, &ImportOptions::default())
}

/// Reads one history file's operations alone (no events: the model check looks at
/// nothing else, and a large JSONL history is read faster and in less memory).
fn load_operations(path: &Path, format: Option<Format>) -> Result<Imported, import::ImportError> {
    let options = ImportOptions {
        operations_only: true,
        ..ImportOptions::default()
    };
    import::load_with(path, format, &options)
}

/// Prints what was odd about a history (time that goes back) to standard error, each
/// warning naming the file.
fn print_warnings(path: &Path, warnings: &[String]) {
    for warning in warnings {
        eprintln!("{}: warning: {warning}", path.display());
    }
}

/// The exit status of a set of verdicts: invalid beats bad input beats unknown.
fn exit_status(invalid: bool, errors: bool, unknown: bool) -> ExitCode {
    exit::code(exit_number(invalid, errors, unknown))
}

fn exit_number(invalid: bool, errors: bool, unknown: bool) -> u8 {
    if invalid {
        exit::INVALID
    } else if errors {
        exit::BAD_INPUT
    } else if unknown {
        exit::UNKNOWN
    } else {
        exit::VALID
    }
}

/// `--summary json`: one object with the command's verdict and exit code and one
/// entry per history; printed as the only standard output.
fn print_summary(histories: Vec<serde_json::Value>, invalid: bool, errors: bool, unknown: bool) {
    let code = exit_number(invalid, errors, unknown);
    let verdict = match code {
        exit::VALID => "valid",
        exit::INVALID => "invalid",
        exit::UNKNOWN => "unknown",
        _ => "error",
    };
    let doc = serde_json::json!({ "verdict": verdict, "exit_code": code, "histories": histories });
    super::outln!("{doc}");
}
