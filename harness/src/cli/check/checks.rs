//! The checks mode of `faultline check`: `faultline test`'s own checks on stored
//! histories, with the same code and options. The settings come from the flags
//! (`--check`, `--workload`, `--quiet-period`, `--nodes`), or, for a history in a
//! run's results folder, from the run's `test.json`, so
//! `faultline check results/latest/history.jsonl` re-checks a run to the verdicts it
//! had, whatever its workload. An imported history is read as its format means it
//! (`--cas-fail` and `--nil-read` override), and the bank check holds reads to
//! `--bank-total` and `--bank-accounts` when given, else to the first read.
//!
//! A re-check of a run applies the run's promises (its `test.json`), as the run did:
//! the verdict, and so the exit code, is the promises' (1 a promised model broken, 2
//! one unknown, 0 every promise kept even with unpromised models broken), and the
//! models table says which model was promised and what became of it.

use super::{exit_status, format_flag, print_warnings, CheckArgs, ReadingFlags, ReadingsUsed};
use crate::check::promises::{self, PromiseReport};
use crate::check::{self, CheckContext, CheckResult};
use crate::cli::{out, outln};
use crate::config::TestConfig;
use crate::results::render::text::{check_line, counterexample, models_table, promise_note};
use crate::system::Promises;
use crate::units::{parse_bytes, parse_duration};
use crate::workload::parse_check_list;
use anyhow::{anyhow, bail, Result};
use checker::consistency::invariants::bank::{BankOptions, BankTotal};
use checker::import::Format;
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
pub fn nodes_read(config: &TestConfig, dir: &Path) -> Vec<String> {
    let crashed: Vec<String> = std::fs::read_to_string(dir.join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|d| d.get("crashed_nodes").cloned())
        .and_then(|c| serde_json::from_value::<Vec<serde_json::Value>>(c).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.get("node")?.as_str().map(String::from))
        .collect();
    crate::backend::netns::naming::node_ids(config.nodes)
        .into_iter()
        .filter(|n| !crashed.contains(n))
        .collect()
}

/// The context of one history, from the flags when given, else from its run, with
/// the run's promises (none with flags: every check decides).
fn context(args: &CheckArgs, history: &Path) -> Result<(CheckContext, Option<Promises>)> {
    if args.check.is_none() && args.workload.is_none() {
        let run = run_record(history).ok_or_else(|| anyhow!("no test.json beside it"))?;
        let mut ctx = run.check_context(&nodes_read(
            &run,
            history.parent().unwrap_or(Path::new(".")),
        ));
        ctx.all_keys |= args.all_keys;
        ctx.bank = bank_flags(args, ctx.bank.take())?;
        return Ok((ctx, run.promises));
    }
    Ok((from_flags(args)?, None))
}

/// The bank `--bank-total` and `--bank-accounts` describe, each over `known` (or the
/// first read's, when neither knows).
fn bank_flags(args: &CheckArgs, known: Option<BankOptions>) -> Result<Option<BankOptions>> {
    if args.bank_total.is_none() && args.bank_accounts.is_none() {
        return Ok(known);
    }
    let mut bank = known.unwrap_or_else(BankOptions::from_first_read);
    if let Some(total) = args.bank_total {
        bank.initial_total = BankTotal::Given(total);
    }
    if let Some(list) = &args.bank_accounts {
        let accounts = comma_list(list);
        if accounts.is_empty() {
            bail!("--bank-accounts: no account named in `{list}` (expected ids, comma-separated: 0,1,2)");
        }
        bank.accounts = Some(accounts);
    }
    Ok(Some(bank))
}

/// `a, b,,c` as `["a", "b", "c"]`.
fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The context the flags describe; the error names the flag.
fn from_flags(args: &CheckArgs) -> Result<CheckContext> {
    if let Some(ctx) = transactional(args)? {
        return Ok(ctx);
    }
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
    if let Some(m) = &args.memory {
        ctx.check_memory = Some(parse_bytes(m).map_err(|e| anyhow!("--memory: {e}"))?);
    }
    ctx.nodes = comma_list(args.nodes.as_deref().unwrap_or(""));
    ctx.all_keys = args.all_keys;
    ctx.bank = bank_flags(args, None)?;
    Ok(ctx)
}

/// The context of `--check list-append` or `--check rw-register` without
/// `--workload`: those checks read `txn` operations whatever workload wrote them.
fn transactional(args: &CheckArgs) -> Result<Option<CheckContext>> {
    let (Some(list), None) = (&args.check, &args.workload) else {
        return Ok(None);
    };
    let kinds: Vec<check::CheckKind> = match list
        .split(',')
        .map(|s| s.trim().parse::<check::CheckKind>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(k) if k.iter().all(|k| k.is_transactional()) => k,
        _ => return Ok(None),
    };
    // The workload is not read by the transactional checks; `append` stands in.
    let mut ctx = CheckContext::new(Workload::Append, kinds);
    if let Some(t) = &args.timeout {
        ctx.check_timeout = parse_duration(t).map_err(|e| anyhow!("--timeout: {e}"))?;
    }
    Ok(Some(ctx))
}

/// The flags every history is read with.
struct ReadWith {
    format: Option<Format>,
    readings: ReadingFlags,
}

impl ReadWith {
    fn from_args(args: &CheckArgs) -> Result<ReadWith> {
        if args.check.is_some() || args.workload.is_some() {
            from_flags(args)?;
        }
        Ok(ReadWith {
            format: format_flag(args)?,
            readings: ReadingFlags::from_args(args)?,
        })
    }
}

pub fn run(args: &CheckArgs, files: Vec<PathBuf>) -> ExitCode {
    let read_with = match ReadWith::from_args(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faultline check: {e:#}");
            return exit_status(false, true, false);
        }
    };
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut errors = 0usize;
    let mut docs = Vec::new();
    for path in &files {
        match check_one(args, &read_with, path) {
            Ok(c) => {
                verdicts.push(c.verdict);
                let placement = check::placement(&c.results);
                if args.summary.is_some() {
                    docs.push(serde_json::json!({
                        "path": path, "verdict": c.verdict,
                        "checks": c.results.iter().map(|r| serde_json::json!({
                            "check": r.name, "verdict": r.verdict, "summary": r.summary,
                        })).collect::<Vec<_>>(),
                        "counterexample": c.results.iter()
                            .find(|r| r.verdict == Verdict::Invalid)
                            .map(crate::results::summary::one_line),
                    }));
                } else if args.json {
                    docs.push(serde_json::json!({
                        "path": path, "verdict": c.verdict, "checks": c.results,
                        "promises": c.promises,
                        "hierarchy": placement, "readings": c.readings.to_json(),
                        "warnings": c.warnings,
                    }));
                } else {
                    print_text(path, &c, placement.as_ref().map(|p| p.line.as_str()));
                }
            }
            Err(e) => {
                errors += 1;
                eprintln!("{}  error  {e:#}", path.display());
                docs.push(serde_json::json!({ "path": path, "verdict": "error", "error": format!("{e:#}") }));
            }
        }
    }
    if args.summary.is_some() {
        let invalid = verdicts.contains(&Verdict::Invalid);
        super::print_summary(
            docs,
            invalid,
            errors > 0,
            verdicts.contains(&Verdict::Unknown),
        );
        return exit_status(invalid, errors > 0, verdicts.contains(&Verdict::Unknown));
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

/// One history's checks.
pub(super) struct Checked {
    /// The promises' verdict when the run had promises, else the checks'.
    pub(super) verdict: Verdict,
    pub(super) results: Vec<CheckResult>,
    pub(super) promises: PromiseReport,
    pub(super) readings: ReadingsUsed,
    pub(super) warnings: Vec<String>,
}

/// Loads and checks one history, printing its import warnings.
fn check_one(args: &CheckArgs, read_with: &ReadWith, path: &Path) -> Result<Checked> {
    let (ctx, promised) = context(args, path)?;
    if promised.is_none() && super::txns::all_transactional(&ctx) {
        return super::txns::check_one(path, read_with.format, read_with.readings, &ctx);
    }
    let imported = super::load(path, read_with.format)?;
    let warnings: Vec<String> = imported.warnings.iter().map(|w| w.to_string()).collect();
    print_warnings(path, &warnings);
    let readings = read_with.readings.apply(&imported);
    let results = check::run_checks_read_as(
        &imported.history,
        readings.readings,
        &ctx,
        &path.display().to_string(),
    );
    let promises = promises::judge(&results, &imported.history, promised.as_ref());
    Ok(Checked {
        verdict: promises
            .verdict
            .unwrap_or_else(|| Verdict::all(results.iter().map(|c| c.verdict))),
        promises,
        results,
        readings,
        warnings,
    })
}

/// The verdict line (with what the promises made of it, and the readings unless they
/// are faultline's own unasked), each check's line and counterexample, the models
/// table when the run had promises, and the hierarchy line.
fn print_text(path: &Path, checked: &Checked, placement: Option<&str>) {
    let readings = if checked.readings.plain() {
        String::new()
    } else {
        format!("  {}", checked.readings)
    };
    outln!(
        "{}  {}{}{readings}",
        path.display(),
        checked.verdict,
        promise_note(&checked.promises)
    );
    for c in &checked.results {
        out(&format!("  {}", check_line(c)));
        if let Some(text) = counterexample(c) {
            for line in text.lines() {
                outln!("    {line}");
            }
        }
    }
    if checked.promises.promises.is_some() {
        for line in models_table(&checked.promises).lines() {
            outln!("  {line}");
        }
    }
    if let Some(line) = placement {
        outln!("  {line}");
    }
}
