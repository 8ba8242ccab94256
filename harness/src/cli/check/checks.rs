//! The checks mode of `faultline check`: `faultline test`'s own checks on stored
//! histories, with the same code and options. The settings come from the flags
//! (`--check`, `--workload`, `--quiet-period`, `--nodes`), or, for a history in a
//! run's results folder, from the run's `test.json`, so
//! `faultline check results/latest/history.jsonl` re-checks a run to the verdicts it
//! had, whatever its workload.

use super::{exit_status, CheckArgs};
use crate::check::{self, parse_check_list, CheckContext, CheckResult};
use crate::cli::{out, outln};
use crate::config::units::parse_duration;
use crate::config::TestConfig;
use crate::results::render::text::{check_line, counterexample};
use anyhow::{anyhow, bail, Result};
use checker::import;
use checker::verdict::Verdict;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use workloads::generator::Workload;

/// The configuration of the run whose results folder holds `history`, if it is one.
pub fn run_record(history: &Path) -> Option<TestConfig> {
    let dir = history.parent()?;
    let text = std::fs::read_to_string(dir.join("test.json")).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(doc.get("config")?.clone()).ok()
}

/// The nodes a run read at the end: all of them, less those that crashed.
fn nodes_read(config: &TestConfig, dir: &Path) -> Vec<String> {
    let crashed: Vec<String> = std::fs::read_to_string(dir.join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|d| d.get("crashed_nodes").cloned())
        .and_then(|c| serde_json::from_value::<Vec<serde_json::Value>>(c).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.get("node")?.as_str().map(String::from))
        .collect();
    (1..=config.nodes)
        .map(|i| format!("n{i}"))
        .filter(|n| !crashed.contains(n))
        .collect()
}

/// The context of one history: from the flags when given, else from its run.
fn context(args: &CheckArgs, history: &Path) -> Result<CheckContext> {
    if args.check.is_none() && args.workload.is_none() {
        let run = run_record(history).ok_or_else(|| anyhow!("no test.json beside it"))?;
        let mut ctx = run.check_context(&nodes_read(
            &run,
            history.parent().unwrap_or(Path::new(".")),
        ));
        ctx.all_keys |= args.all_keys;
        return Ok(ctx);
    }
    from_flags(args)
}

/// The context the flags describe; the error names the flag.
fn from_flags(args: &CheckArgs) -> Result<CheckContext> {
    let Some(workload) = &args.workload else {
        bail!(
            "--check needs --workload ({}): it decides how reads are compared",
            Workload::NAMES.join(", ")
        );
    };
    let workload: Workload = workload.parse().map_err(|e| anyhow!("--workload: {e}"))?;
    let list = args.check.as_deref().unwrap_or("default");
    let checks = parse_check_list(list, workload).map_err(|e| anyhow!("--check: {e}"))?;
    let mut ctx = CheckContext::new(workload, checks);
    if let Some(t) = &args.quiet_period {
        ctx.quiet_period = parse_duration(t).map_err(|e| anyhow!("--quiet-period: {e}"))?;
    }
    if let Some(t) = &args.timeout {
        ctx.check_timeout = parse_duration(t).map_err(|e| anyhow!("--timeout: {e}"))?;
        ctx.sequential_timeout = ctx.check_timeout;
    }
    ctx.nodes = args
        .nodes
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    ctx.all_keys = args.all_keys;
    Ok(ctx)
}

pub fn run(args: &CheckArgs, files: Vec<PathBuf>) -> ExitCode {
    if args.check.is_some() || args.workload.is_some() {
        if let Err(e) = from_flags(args) {
            eprintln!("faultline check: {e:#}");
            return exit_status(false, true, false);
        }
    }
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut errors = 0usize;
    let mut docs = Vec::new();
    for path in &files {
        match check_one(args, path) {
            Ok((verdict, results)) => {
                verdicts.push(verdict);
                let placement = check::placement(&results);
                if args.json {
                    docs.push(serde_json::json!({ "path": path, "verdict": verdict, "checks": results, "hierarchy": placement }));
                } else {
                    print_text(
                        path,
                        verdict,
                        &results,
                        placement.as_ref().map(|p| p.line.as_str()),
                    );
                }
            }
            Err(e) => {
                errors += 1;
                eprintln!("{}  error  {e:#}", path.display());
                docs.push(serde_json::json!({ "path": path, "error": format!("{e:#}") }));
            }
        }
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "histories": docs }))
                .expect("reports serialize")
        );
    }
    exit_status(
        verdicts.contains(&Verdict::Invalid),
        errors > 0,
        verdicts.contains(&Verdict::Unknown),
    )
}

/// Loads and checks one history.
fn check_one(args: &CheckArgs, path: &Path) -> Result<(Verdict, Vec<CheckResult>)> {
    let ctx = context(args, path)?;
    let history = import::load(path, None)?;
    let results = check::run_checks(&history, &ctx, &path.display().to_string());
    Ok((Verdict::all(results.iter().map(|c| c.verdict)), results))
}

fn print_text(path: &Path, verdict: Verdict, results: &[CheckResult], placement: Option<&str>) {
    outln!("{}  {verdict}", path.display());
    for c in results {
        out(&format!("  {}", check_line(c)));
        if let Some(text) = counterexample(c) {
            for line in text.lines() {
                outln!("    {line}");
            }
        }
    }
    if let Some(line) = placement {
        outln!("  {line}");
    }
}
