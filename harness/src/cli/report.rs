//! `faultline report PATH`: writes the HTML report (`report.html`, the page every
//! run leaves) for a stored run folder, or for any history faultline can read
//! (faultline JSONL, Jepsen `history.edn`, porcupine logs), and prints its path.
//!
//! A run folder (or a history in one) is re-checked with the run's own checks, as
//! `faultline check` does, and its report replaces the folder's `report.html`. Any
//! other history is checked with `--check` for `--workload` (linearizable
//! cas-register unless told), read as the tool that wrote it means it, and its report
//! goes beside it as `<name>.report.html` (or to `--output`).
//!
//! Exit status: the verdict's, as `faultline check`'s (0 valid, 1 invalid, 2
//! unknown), 3 when the input cannot be read, 4 when the report cannot be written.

use super::{exit, outln};
use crate::check::{self, CheckContext, CheckKind};
use crate::config::{TestConfig, TestFile};
use crate::error::{bad_input, is_bad_input};
use crate::results::render::{html::Html, Renderer};
use crate::results::{store, Recheck, RunResults};
use crate::workload::parse_check_list;
use anyhow::{Context, Result};
use checker::import::{self, Format, ImportOptions};
use checker::verdict::Verdict;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use workloads::generator::Workload;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// A run's results folder, a history in one, or any history file.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Where to write the report. Default: `report.html` in a run folder, else
    /// `<history>.report.html` beside the history.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// For a history outside a run folder: the checks to run, comma-separated (as
    /// `faultline check --check`). Default: linearizable.
    #[arg(long, value_name = "CHECKS")]
    pub check: Option<String>,
    /// For a history outside a run folder: the workload that produced it.
    /// Default: cas-register.
    #[arg(long, value_name = "W")]
    pub workload: Option<String>,
    /// History format: jsonl, edn, jepsen-json, porcupine-log, porcupine-kv.
    /// Default: detected from the content.
    #[arg(long, short, value_name = "F")]
    pub format: Option<String>,
}

pub fn run(args: ReportArgs) -> ExitCode {
    match write_report(&args) {
        Ok((path, verdict)) => {
            outln!("{}", path.display());
            exit::code(match verdict {
                Verdict::Valid => exit::VALID,
                Verdict::Invalid => exit::INVALID,
                Verdict::Unknown => exit::UNKNOWN,
            })
        }
        Err(e) => {
            eprintln!("faultline report: {e:#}");
            exit::code(if is_bad_input(&e) {
                exit::BAD_INPUT
            } else {
                exit::HARNESS_ERROR
            })
        }
    }
}

/// Checks the history, renders its report, writes it; returns where, and the verdict.
fn write_report(args: &ReportArgs) -> Result<(PathBuf, Verdict)> {
    let history_path = history_of(&args.path)?;
    let format = args
        .format
        .as_deref()
        .map(|n| {
            n.parse::<Format>()
                .map_err(|e| bad_input(format!("--format: {e}")))
        })
        .transpose()?;
    let imported = import::load_with(&history_path, format, &ImportOptions::default())
        .map_err(|e| bad_input(e.to_string()))?;
    for w in &imported.warnings {
        eprintln!("{}: warning: {w}", history_path.display());
    }
    let history = &imported.history;
    let run = super::check::run_record(&history_path);
    let (context, about, settings) = match &run {
        Some(config) if args.check.is_none() && args.workload.is_none() => {
            let dir = history_path.parent().unwrap_or(Path::new("."));
            let ctx = config.check_context(&super::check::nodes_read(config, dir));
            (
                ctx,
                of_run(config, dir),
                Some(TestFile::of(config).to_toml(dir)),
            )
        }
        _ => (from_flags(args)?, of_file(args, &history_path), None),
    };
    let workload = context.workload;
    let shown = history_path.display().to_string();
    let checks = check::run_checks_read_as(history, imported.readings, &context, &shown);
    let results = RunResults::rechecked(history, checks, Recheck { workload, ..about });
    let html = Html {
        history,
        system: run.as_ref().map(|c| c.system.clone()),
        settings,
    }
    .render(&results);
    let out = match (&args.output, &run) {
        (Some(o), _) => o.clone(),
        (None, Some(_)) => results.run_dir.join("report.html"),
        (None, None) => {
            let name = history_path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            history_path.with_file_name(format!("{name}.report.html"))
        }
    };
    store::write_file(&out, html.as_bytes())?;
    Ok((std::path::absolute(&out).unwrap_or(out), results.verdict))
}

/// The history a PATH names: the file itself, or a run folder's `history.jsonl`.
fn history_of(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let h = path.join("history.jsonl");
        if !h.is_file() {
            return Err(bad_input(format!(
                "{}: a folder without history.jsonl is not a run's results folder (give a history file or a run folder)",
                path.display()
            )));
        }
        return Ok(h);
    }
    if !path.exists() {
        return Err(bad_input(format!(
            "{}: no such file or folder",
            path.display()
        )));
    }
    Ok(path.to_path_buf())
}

/// What a run folder's own files say of the run.
fn of_run(config: &TestConfig, dir: &Path) -> Recheck {
    let read = |f: &str| -> serde_json::Value {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    };
    let (test, results) = (read("test.json"), read("results.json"));
    let text = |doc: &serde_json::Value, k: &str| doc[k].as_str().unwrap_or_default().to_string();
    Recheck {
        name: config.name.clone(),
        seed: config.seed,
        run_id: text(&test, "run_id"),
        workload: config.workload,
        run_dir: std::path::absolute(dir).unwrap_or(dir.to_path_buf()),
        replay: text(&test, "replay"),
        crashed_nodes: serde_json::from_value(results["crashed_nodes"].clone()).unwrap_or_default(),
        warnings: serde_json::from_value(results["warnings"].clone()).unwrap_or_default(),
        promises: config.promises.clone(),
    }
}

/// What is known of a history outside a run folder: its file.
fn of_file(args: &ReportArgs, history: &Path) -> Recheck {
    let mut replay = format!("faultline report {}", history.display());
    for (flag, v) in [
        ("--check", &args.check),
        ("--workload", &args.workload),
        ("--format", &args.format),
    ] {
        if let Some(v) = v {
            replay.push_str(&format!(" {flag} {v}"));
        }
    }
    let dir = history.parent().unwrap_or(Path::new("."));
    Recheck {
        name: history
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        seed: 0,
        run_id: String::new(),
        workload: Workload::CasRegister,
        run_dir: std::path::absolute(dir).unwrap_or(dir.to_path_buf()),
        replay,
        crashed_nodes: Vec::new(),
        warnings: Vec::new(),
        promises: None,
    }
}

/// The checks `--check` and `--workload` ask for; the error names the flag.
fn from_flags(args: &ReportArgs) -> Result<CheckContext> {
    if let (Some(list), None) = (&args.check, &args.workload) {
        // The transactional checks read `txn` operations whatever the workload, as
        // `faultline check` runs them without one; `append` stands in.
        let kinds: Result<Vec<CheckKind>, String> =
            list.split(',').map(|s| s.trim().parse()).collect();
        if let Ok(kinds) = kinds {
            if !kinds.is_empty() && kinds.iter().all(|k| k.is_transactional()) {
                return Ok(CheckContext::new(Workload::Append, kinds));
            }
        }
    }
    let workload: Workload = args
        .workload
        .as_deref()
        .unwrap_or("cas-register")
        .parse()
        .map_err(|e| bad_input(format!("--workload: {e}")))?;
    let list = args.check.as_deref().unwrap_or("linearizable");
    let checks = parse_check_list(list, workload)
        .map_err(|e| bad_input(format!("--check: {e}")))
        .context("choosing the checks")?;
    Ok(CheckContext::new(workload, checks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{resolve, TestArgs};

    /// A run folder as `faultline test` leaves it, by hand: the history of a stale
    /// read, `test.json` with the run's configuration, `results.json` with a crashed
    /// node and a warning.
    fn run_folder(dir: &Path) -> TestConfig {
        let config = resolve(&TestArgs {
            seed: Some(5),
            ..Default::default()
        })
        .unwrap();
        let h = crate::results::render::html::tests::stale_read_history();
        let jsonl: String = h
            .events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        std::fs::write(dir.join("history.jsonl"), jsonl).unwrap();
        let test = serde_json::json!({
            "config": config, "run_id": "abc12", "replay": "faultline test --config X/test.toml",
        });
        std::fs::write(dir.join("test.json"), test.to_string()).unwrap();
        let results = serde_json::json!({
            "crashed_nodes": [{"node": "n4", "status": "exit code 101", "log_tail": "panicked at raft.rs"}],
            "warnings": ["a fault failed to apply"],
        });
        std::fs::write(dir.join("results.json"), results.to_string()).unwrap();
        config
    }

    #[test]
    fn a_run_folder_gets_its_report_from_its_own_record_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let config = run_folder(dir.path());
        let args = ReportArgs {
            path: dir.path().to_path_buf(),
            output: None,
            check: None,
            workload: None,
            format: None,
        };
        let (path, verdict) = write_report(&args).unwrap();
        assert_eq!(verdict, Verdict::Invalid);
        assert_eq!(
            path,
            std::path::absolute(dir.path().join("report.html")).unwrap()
        );
        let page = std::fs::read_to_string(&path).unwrap();
        for needed in [
            format!("<dd>{}</dd>", config.system),
            "<dt>seed</dt><dd>5</dd>".to_string(),
            "abc12".into(),
            "faultline test --config X/test.toml".into(),
            "node <b>n4</b> exited on its own (exit code 101)".into(),
            "panicked at raft.rs".into(),
            "warning: a fault failed to apply".into(),
            "id=\"settings\"".into(),
            "operation #6".into(),
        ] {
            assert!(page.contains(&needed), "{needed:?} missing");
        }
    }

    #[test]
    fn a_workload_that_does_not_exist_is_bad_input_naming_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        run_folder(dir.path());
        let args = ReportArgs {
            path: dir.path().join("history.jsonl"),
            output: Some(dir.path().join("out.html")),
            check: None,
            workload: Some("registr".into()),
            format: None,
        };
        let e = write_report(&args).unwrap_err();
        assert!(is_bad_input(&e), "{e:#}");
        assert!(format!("{e:#}").contains("--workload"), "{e:#}");
    }
}
