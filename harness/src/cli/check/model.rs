//! The model mode of `faultline check`: linearizability of each history against one
//! model (given, or guessed from the history's functions). The model is chosen per
//! file once it is read, since its readings (what a failed CAS and a nil read mean)
//! are the file format's unless the flags choose.

use super::{exit_status, format_flag, print_warnings, CheckArgs, ReadingFlags, ReadingsUsed};
use crate::cli::{exit, out};
use crate::units::{parse_bytes, parse_duration};
use anyhow::{anyhow, Result};
use checker::import::Format;
use checker::linearizability::{Options, Report, DEFAULT_MEMORY_LIMIT};
use checker::model::{BuiltinModel, CasFailMeaning, ConfiguredModel};
use checker::verdict::Verdict;
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// One history's result.
#[derive(Serialize)]
struct Checked {
    path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Report>,
    /// Why the history could not be checked (unreadable, malformed, wrong model).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The readings it was checked with ([`ReadingsUsed::to_json`]), once read.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "readings_json"
    )]
    readings: Option<ReadingsUsed>,
    /// What was odd about the file (time that goes back), each as one line.
    warnings: Vec<String>,
}

fn readings_json<S: serde::Serializer>(
    readings: &Option<ReadingsUsed>,
    s: S,
) -> Result<S::Ok, S::Error> {
    readings.map(ReadingsUsed::to_json).serialize(s)
}

#[derive(Serialize, Default)]
struct Summary {
    histories: usize,
    valid: usize,
    invalid: usize,
    unknown: usize,
    errors: usize,
    /// Sum of the checks' own times, in seconds.
    checking_seconds: f64,
    /// Wall-clock time of the whole command, in seconds.
    wall_seconds: f64,
}

pub fn run(args: &CheckArgs, files: Vec<PathBuf>) -> ExitCode {
    let started = Instant::now();
    let settings = match Settings::from_args(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("faultline check: {e:#}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    // Histories in parallel (each check also splits its keys across cores).
    let results: Vec<Checked> = files
        .par_iter()
        .map(|path| check_file(path, &settings))
        .collect();
    for r in &results {
        print_warnings(&r.path, &r.warnings);
    }
    let summary = Summary::of(&results, started);
    if args.summary.is_some() {
        let histories = results.iter().map(summary_entry).collect();
        super::print_summary(
            histories,
            summary.invalid > 0,
            summary.errors > 0,
            summary.unknown > 0,
        );
        return exit_status(summary.invalid > 0, summary.errors > 0, summary.unknown > 0);
    }
    let mut text = String::new();
    if args.json {
        let doc = serde_json::json!({ "histories": results, "summary": summary });
        let _ = writeln!(
            text,
            "{}",
            serde_json::to_string_pretty(&doc).expect("reports serialize")
        );
    } else {
        for r in &results {
            print_text(&mut text, r);
        }
        let _ = writeln!(text,
            "{} histories: {} valid, {} invalid, {} unknown, {} not checked; checking time {:.1} ms, wall time {:.1} ms",
            summary.histories, summary.valid, summary.invalid, summary.unknown, summary.errors,
            summary.checking_seconds * 1e3, summary.wall_seconds * 1e3
        );
    }
    out(&text);
    exit_status(summary.invalid > 0, summary.errors > 0, summary.unknown > 0)
}

/// One history for `--summary json`: its verdict against the model, and the
/// counterexample in one line.
fn summary_entry(r: &Checked) -> serde_json::Value {
    match &r.report {
        Some(report) => serde_json::json!({
            "path": r.path, "verdict": report.verdict, "model": report.model,
            "counterexample": report.counterexample.as_ref().map(|ce| {
                let key = if ce.key.is_null() { String::new() } else { format!("key {}: ", ce.key) };
                format!("{}: {key}{} must take effect, but nothing can come next (state {})", report.model, ce.must_precede, ce.state)
            }),
        }),
        None => serde_json::json!({ "path": r.path, "verdict": "error", "error": r.error }),
    }
}

impl Summary {
    fn of(results: &[Checked], started: Instant) -> Summary {
        let mut summary = Summary {
            histories: results.len(),
            ..Summary::default()
        };
        for r in results {
            match &r.report {
                Some(report) => {
                    summary.checking_seconds += report.elapsed.as_secs_f64();
                    match report.verdict {
                        Verdict::Valid => summary.valid += 1,
                        Verdict::Invalid => summary.invalid += 1,
                        Verdict::Unknown => summary.unknown += 1,
                    }
                }
                None => summary.errors += 1,
            }
        }
        summary.wall_seconds = started.elapsed().as_secs_f64();
        summary
    }
}

struct Settings {
    /// `--model`, whose CAS reading is set per file ([`with_cas_fail`]).
    model: Option<BuiltinModel>,
    readings: ReadingFlags,
    /// `--initial`, parsed.
    initial: Option<serde_json::Value>,
    format: Option<Format>,
    options: Options,
}

impl Settings {
    fn from_args(args: &CheckArgs) -> Result<Settings> {
        let model = match &args.model {
            None => None,
            Some(name) => Some(
                BuiltinModel::from_name(name, CasFailMeaning::default()).ok_or_else(|| {
                    anyhow!(
                        "--model: unknown model `{name}` (known: {})",
                        BuiltinModel::NAMES.join(", ")
                    )
                })?,
            ),
        };
        let initial = match &args.initial {
            None => None,
            Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                anyhow!("--initial: `{text}` is not a JSON value ({e}); examples: 0, '\"a\"', '{{\"1\":0}}'")
            })?),
        };
        let timeout = match &args.timeout {
            None => None,
            Some(text) => Some(parse_duration(text).map_err(|e| anyhow!("--timeout: {e}"))?),
        };
        let memory_limit = match &args.memory {
            None => DEFAULT_MEMORY_LIMIT,
            Some(text) => parse_bytes(text).map_err(|e| anyhow!("--memory: {e}"))?,
        };
        Ok(Settings {
            model,
            readings: ReadingFlags::from_args(args)?,
            initial,
            format: format_flag(args)?,
            options: Options {
                timeout,
                memory_limit,
                all_keys: args.all_keys,
            },
        })
    }
}

/// `model` with failed CASes read as `meaning`, for the models that have CAS.
fn with_cas_fail(model: BuiltinModel, meaning: CasFailMeaning) -> BuiltinModel {
    match model {
        BuiltinModel::CasRegister(_) => BuiltinModel::CasRegister(meaning),
        BuiltinModel::Kv(_) => BuiltinModel::Kv(meaning),
        other => other,
    }
}

fn check_file(path: &Path, settings: &Settings) -> Checked {
    let mut checked = Checked {
        path: path.to_path_buf(),
        report: None,
        error: None,
        readings: None,
        warnings: Vec::new(),
    };
    let imported = match super::load_operations(path, settings.format) {
        Ok(i) => i,
        Err(e) => {
            checked.error = Some(e.to_string());
            return checked;
        }
    };
    checked.warnings = imported.warnings.iter().map(|w| w.to_string()).collect();
    let used = settings.readings.apply(&imported);
    checked.readings = Some(used);
    let history = &imported.history;
    let cas_fail = used.readings.cas_fail;
    let model = match settings.model {
        Some(m) => with_cas_fail(m, cas_fail),
        None => BuiltinModel::guess(history, cas_fail),
    };
    let mut configured = ConfiguredModel::new(model).with_nil_read(used.readings.nil_read);
    if let Some(initial) = &settings.initial {
        configured = match configured.with_initial(initial) {
            Ok(c) => c,
            Err(e) => {
                checked.error = Some(format!("{}: --initial: {e}", path.display()));
                return checked;
            }
        };
    }
    match configured.check(history, &settings.options) {
        Ok(report) => checked.report = Some(report),
        Err(e) => {
            checked.error = Some(format!(
                "{}: does not fit the {} model: {e}",
                path.display(),
                model.name()
            ))
        }
    }
    checked
}

fn print_text(out: &mut String, r: &Checked) {
    let Some(report) = &r.report else {
        let _ = writeln!(
            out,
            "{}  error  {}",
            r.path.display(),
            r.error.as_deref().unwrap_or("")
        );
        return;
    };
    let keys = report.partitions.len();
    let readings = r
        .readings
        .map(|used| format!("  {used}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{}  {}  {} ops, {} key{}  {:.2} ms  ({}){readings}",
        r.path.display(),
        report.verdict,
        report.ops,
        keys,
        if keys == 1 { "" } else { "s" },
        report.elapsed.as_secs_f64() * 1e3,
        report.model
    );
    let invalid = report
        .partitions
        .iter()
        .filter(|p| p.verdict == Verdict::Invalid)
        .count();
    let unknown: Vec<_> = report
        .partitions
        .iter()
        .filter(|p| p.verdict == Verdict::Unknown)
        .collect();
    if report.partitions.len() > 1 && (invalid > 0 || !unknown.is_empty()) {
        let _ = writeln!(
            out,
            "  keys: {} valid, {} invalid, {} unknown",
            report.partitions.len() - invalid - unknown.len(),
            invalid,
            unknown.len()
        );
    }
    for p in &unknown {
        if let Some(reason) = &p.reason {
            if report.partitions.len() > 1 {
                let _ = writeln!(out, "  key {}: unknown: {reason}", p.key);
            } else {
                let _ = writeln!(out, "  unknown: {reason}");
            }
        }
    }
    for p in report
        .partitions
        .iter()
        .filter(|p| p.verdict == Verdict::Invalid)
    {
        if let Some(c) = &p.counterexample {
            for line in c.to_string().lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
}
