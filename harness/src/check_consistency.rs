//! `faultline check --check CHECKS --workload W PATH...`: the checks `faultline test`
//! runs (linearizable, sequential, session, eventual, bank, counter, unique-ids), on stored
//! histories, with the same code and the same options, so a run's verdicts can be
//! reproduced from its `history.jsonl` alone. Each check result in a run's
//! `results.json` names its command under `checks[].replay`.
//!
//! Eventual consistency needs what the runner promised: `--quiet-period` (the wait
//! after recovery; a shorter gap in the history makes diverging reads `unknown`) and
//! `--nodes` (every node that must have answered a final read; default: the nodes
//! the final reads show).

use crate::check::CheckArgs;
use crate::checks::{self, CheckContext, CheckResult};
use crate::config::{check_applies, default_checks, CHECK_NAMES};
use crate::exit;
use checker::import;
use checker::verdict::Verdict;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use workloads::generator::Workload;

/// Builds the context from the flags; the error names the flag.
fn context(args: &CheckArgs) -> Result<CheckContext, String> {
    let workload: Workload = match &args.workload {
        Some(w) => w.parse().map_err(|e| format!("--workload: {e}"))?,
        None => {
            return Err(
                "--check needs --workload (register, cas-register, append, set, counter, bank, unique-ids): it decides how reads are compared"
                    .into(),
            )
        }
    };
    let list = args.check.as_deref().unwrap_or("default");
    let mut names: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name == "default" {
            names.extend(default_checks(workload).iter().map(|s| s.to_string()));
            continue;
        }
        if !CHECK_NAMES.contains(&name) {
            return Err(format!(
                "--check: unknown check `{name}` (known: {}, or `default`)",
                CHECK_NAMES.join(", ")
            ));
        }
        if !check_applies(name, workload) {
            return Err(format!(
                "--check: the `{name}` check does not apply to the {workload} workload"
            ));
        }
        names.push(name.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() {
        return Err("--check: name at least one check".into());
    }
    let quiet_period = match &args.quiet_period {
        Some(t) => crate::check::parse_duration(t).map_err(|e| format!("--quiet-period: {e}"))?,
        None => Duration::ZERO,
    };
    let check_timeout = match &args.timeout {
        Some(t) => crate::check::parse_duration(t).map_err(|e| format!("--timeout: {e}"))?,
        None => Duration::from_secs(300),
    };
    let nodes: Vec<String> = args
        .nodes
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    Ok(CheckContext {
        workload,
        checks: names,
        quiet_period,
        check_timeout,
        nodes,
    })
}

/// A sequential-consistency violation's evidence, as text: which operations no order
/// could place (a person needs that more than the verdict).
fn sequential_evidence(c: &CheckResult) -> Option<String> {
    if c.name != "sequential" || c.verdict != Verdict::Invalid {
        return None;
    }
    let evidence: checker::sequential::Evidence =
        serde_json::from_value(c.report.get("evidence")?.clone()).ok()?;
    Some(evidence.to_string())
}

pub fn run(args: &CheckArgs, files: Vec<PathBuf>) -> ExitCode {
    let ctx = match context(args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("faultline check: {message}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    let mut worst: Vec<Verdict> = Vec::new();
    let mut errors = 0usize;
    let mut docs = Vec::new();
    for path in &files {
        let history = match import::load(path, None) {
            Ok(h) => h,
            Err(e) => {
                errors += 1;
                eprintln!("{}  error  {e}", path.display());
                docs.push(serde_json::json!({ "path": path, "error": e.to_string() }));
                continue;
            }
        };
        let shown = path.display().to_string();
        let results: Vec<CheckResult> = checks::run_checks_in(&history, &ctx, &shown);
        let placement = checks::placement(&results);
        let verdict = Verdict::all(results.iter().map(|c| c.verdict));
        worst.push(verdict);
        if args.json {
            docs.push(serde_json::json!({
                "path": path, "verdict": verdict, "checks": results, "hierarchy": placement,
            }));
        } else {
            println!("{shown}  {verdict}");
            for c in &results {
                println!(
                    "  {:<12} {:<8} {}  ({:.2} s)",
                    c.name,
                    c.verdict.to_string(),
                    c.summary,
                    c.seconds
                );
                if let Some(evidence) = sequential_evidence(c) {
                    for line in evidence.lines() {
                        println!("    {line}");
                    }
                }
            }
            if let Some(p) = &placement {
                println!("  {}", p.line);
            }
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "histories": docs }))
                .expect("reports serialize")
        );
    }
    exit::code(if worst.contains(&Verdict::Invalid) {
        exit::INVALID
    } else if errors > 0 {
        exit::BAD_INPUT
    } else if worst.contains(&Verdict::Unknown) {
        exit::UNKNOWN
    } else {
        exit::VALID
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;

    fn context(checks: &[&str]) -> CheckContext {
        CheckContext {
            workload: Workload::CasRegister,
            checks: checks.iter().map(|s| s.to_string()).collect(),
            quiet_period: Duration::ZERO,
            check_timeout: Duration::from_secs(10),
            nodes: Vec::new(),
        }
    }

    /// Process 1 reads nil after process 0's write of 1 completed, then reads 1:
    /// stale, but in the one order of writes.
    const STALE: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":"k","value":1}
{"index":2,"time":2,"process":1,"type":"invoke","f":"read","key":"k","value":null}
{"index":3,"time":3,"process":1,"type":"ok","f":"read","key":"k","value":null}
{"index":4,"time":4,"process":1,"type":"invoke","f":"read","key":"k","value":null}
{"index":5,"time":5,"process":1,"type":"ok","f":"read","key":"k","value":1}
"#;

    /// Each process writes its key, then reads the other's as unwritten.
    const DEKKER: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":"x","value":1}
{"index":2,"time":2,"process":0,"type":"invoke","f":"read","key":"y","value":null}
{"index":3,"time":3,"process":0,"type":"ok","f":"read","key":"y","value":null}
{"index":4,"time":4,"process":1,"type":"invoke","f":"write","key":"y","value":1}
{"index":5,"time":5,"process":1,"type":"ok","f":"write","key":"y","value":1}
{"index":6,"time":6,"process":1,"type":"invoke","f":"read","key":"x","value":null}
{"index":7,"time":7,"process":1,"type":"ok","f":"read","key":"x","value":null}
"#;

    #[test]
    fn a_stale_but_ordered_history_is_placed_at_sequential() {
        let h = parse_jsonl(STALE).unwrap();
        let results = checks::run_checks_in(&h, &context(&["linearizable", "sequential"]), "h");
        assert_eq!(results[0].verdict, Verdict::Invalid);
        assert_eq!(results[1].verdict, Verdict::Valid, "{}", results[1].summary);
        assert_eq!(results[1].report["basis"], "whole-history");
        let p = checks::placement(&results).unwrap();
        assert_eq!(p.strongest, "sequential", "{}", p.line);
        assert_eq!(
            results[1].replay.as_deref(),
            Some("faultline check --check sequential --workload cas-register h")
        );
    }

    #[test]
    fn a_linearizable_history_needs_no_sequential_search() {
        let h = parse_jsonl(&STALE.replace(
            r#""value":null}
{"index":4"#,
            r#""value":1}
{"index":4"#,
        ))
        .unwrap();
        let results = checks::run_checks_in(&h, &context(&["linearizable", "sequential"]), "h");
        assert_eq!(results[0].verdict, Verdict::Valid);
        assert_eq!(results[1].verdict, Verdict::Valid);
        assert_eq!(results[1].report["basis"], "linearizability");
        assert_eq!(
            checks::placement(&results).unwrap().strongest,
            "linearizable"
        );
    }

    #[test]
    fn keys_that_cannot_be_merged_are_a_violation_with_evidence() {
        let h = parse_jsonl(DEKKER).unwrap();
        let results = checks::run_checks_in(&h, &context(&["sequential"]), "h");
        let c = &results[0];
        assert_eq!(c.verdict, Verdict::Invalid, "{}", c.summary);
        assert_eq!(c.report["per_key"], "valid");
        let text = sequential_evidence(c).expect("evidence for a violation");
        assert!(text.contains("cannot be merged"), "{text}");
        assert!(
            text.contains("process 1") || text.contains("process 0"),
            "{text}"
        );
        let p = checks::placement(&results).unwrap();
        assert!(
            p.line.contains("violates sequential consistency"),
            "{}",
            p.line
        );
    }
}
