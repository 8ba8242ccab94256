//! `faultline check PATH...`: checks recorded histories for linearizability.
//!
//! Each PATH is a history file or a directory searched recursively for history files
//! (`.jsonl`, `.json`, `.edn`, `.log`, `.txt`). Every history gets its own verdict and
//! checking time, then a summary. Exit status: 1 if any history is invalid, else 3 if
//! any could not be read or does not fit the model, else 2 if any verdict is unknown,
//! else 0.

use crate::exit;
use checker::import::{self, Format};
use checker::linearizability::{Options, Report, DEFAULT_MEMORY_LIMIT};
use checker::model::{BuiltinModel, CasFailMeaning};
use checker::verdict::Verdict;
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
    /// Check every key even after one is found invalid, to diagnose them all.
    #[arg(long)]
    pub all_keys: bool,
    /// Print one JSON document with every report instead of text.
    #[arg(long)]
    pub json: bool,
    /// Run `faultline test`'s checks instead of one model, comma-separated:
    /// linearizable, sequential, session, eventual, bank, counter, unique-ids, or `default` (every
    /// check that applies to --workload). See check_consistency.rs.
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

/// One history's result.
#[derive(Serialize)]
struct Checked {
    path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Report>,
    /// Why the history could not be checked (unreadable, malformed, wrong model).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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

pub fn run(args: CheckArgs) -> ExitCode {
    let started = Instant::now();
    let settings = match Settings::from_args(&args) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("faultline check: {message}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    let files = match collect_files(&args.paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("faultline check: {message}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    if files.is_empty() {
        eprintln!("faultline check: no history files found under the given paths");
        return exit::code(exit::BAD_INPUT);
    }
    if args.check.is_some() || args.workload.is_some() {
        return crate::check_consistency::run(&args, files);
    }
    // Histories in parallel (each check also splits its keys across cores).
    let results: Vec<Checked> = files
        .par_iter()
        .map(|path| check_file(path, &settings))
        .collect();

    let mut summary = Summary {
        histories: results.len(),
        ..Summary::default()
    };
    for r in &results {
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

    let mut out = String::new();
    if args.json {
        let doc = serde_json::json!({ "histories": results, "summary": summary });
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).expect("reports serialize")
        );
    } else {
        for r in &results {
            print_text(&mut out, r);
        }
        let _ = writeln!(out,
            "{} histories: {} valid, {} invalid, {} unknown, {} not checked; checking time {:.1} ms, wall time {:.1} ms",
            summary.histories,
            summary.valid,
            summary.invalid,
            summary.unknown,
            summary.errors,
            summary.checking_seconds * 1e3,
            summary.wall_seconds * 1e3
        );
    }
    // A reader that stops early (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
    exit::code(if summary.invalid > 0 {
        exit::INVALID
    } else if summary.errors > 0 {
        exit::BAD_INPUT
    } else if summary.unknown > 0 {
        exit::UNKNOWN
    } else {
        exit::VALID
    })
}

struct Settings {
    model: Option<BuiltinModel>,
    cas_fail: CasFailMeaning,
    format: Option<Format>,
    options: Options,
}

impl Settings {
    fn from_args(args: &CheckArgs) -> Result<Settings, String> {
        let cas_fail = match args.cas_fail.as_deref() {
            None | Some("from-error") => CasFailMeaning::FromError,
            Some("compared" | "comparison-failed") => CasFailMeaning::ComparisonFailed,
            Some("no-effect") => CasFailMeaning::NoEffect,
            Some(other) => {
                return Err(format!(
                    "--cas-fail: unknown meaning `{other}` (expected compared, no-effect or from-error)"
                ))
            }
        };
        let model = match &args.model {
            None => None,
            Some(name) => Some(BuiltinModel::from_name(name, cas_fail).ok_or_else(|| {
                format!(
                    "--model: unknown model `{name}` (known: {})",
                    BuiltinModel::NAMES.join(", ")
                )
            })?),
        };
        let format = match &args.format {
            None => None,
            Some(name) => Some(
                name.parse::<Format>()
                    .map_err(|e| format!("--format: {e}"))?,
            ),
        };
        let timeout = match &args.timeout {
            None => None,
            Some(text) => Some(parse_duration(text).map_err(|e| format!("--timeout: {e}"))?),
        };
        let memory_limit = match &args.memory {
            None => DEFAULT_MEMORY_LIMIT,
            Some(text) => parse_bytes(text).map_err(|e| format!("--memory: {e}"))?,
        };
        Ok(Settings {
            model,
            cas_fail,
            format,
            options: Options {
                timeout,
                memory_limit,
                all_keys: args.all_keys,
            },
        })
    }
}

fn check_file(path: &Path, settings: &Settings) -> Checked {
    let fail = |error: String| Checked {
        path: path.to_path_buf(),
        report: None,
        error: Some(error),
    };
    let history = match import::load(path, settings.format) {
        Ok(h) => h,
        Err(e) => return fail(e.to_string()),
    };
    let model = settings
        .model
        .unwrap_or_else(|| BuiltinModel::guess(&history, settings.cas_fail));
    match model.check(&history, &settings.options) {
        Ok(report) => Checked {
            path: path.to_path_buf(),
            report: Some(report),
            error: None,
        },
        Err(e) => fail(format!(
            "{}: does not fit the {} model: {e}",
            path.display(),
            model.name()
        )),
    }
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
    let _ = writeln!(
        out,
        "{}  {}  {} ops, {} key{}  {:.2} ms  ({})",
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

/// Expands directories (recursively, sorted) into the history files they hold.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            walk(path, &mut files).map_err(|e| format!("{}: {e}", path.display()))?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

const HISTORY_EXTENSIONS: &[&str] = &["jsonl", "json", "edn", "log", "txt"];

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| HISTORY_EXTENSIONS.contains(&e))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Parses a duration: a number with a unit (`ns`, `us`, `ms`, `s`, `m`, `h`), or a
/// bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (try 500ms, 30s, 2m)"))?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use ns, us, ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(n * scale).map_err(|_| format!("`{text}` is out of range"))
}

/// Parses a size: a number with an optional `K`, `M`, `G` or `T` suffix (powers of
/// 1024, an optional trailing `B` or `iB`).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 512M, 2G)"))?;
    let unit = unit.trim().to_ascii_uppercase();
    let scale = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0f64.powi(4),
        _ => return Err(format!("`{text}`: unknown unit (use K, M, G or T)")),
    };
    Ok((n * scale) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 fortnights").is_err());
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
    }
}
