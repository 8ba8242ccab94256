//! The checks `faultline test` runs on a history once the run is over. Each check is
//! one case here, by the name `--check` uses (the table of defaults per workload is
//! in `config.rs`); a new checker is one more case.
//!
//! Soundness notes that shape the choices:
//! - A `cas` can fail definitely for reasons other than its comparison (`no-leader`
//!   before the request reached the log), so a failed CAS is read from its error
//!   ([`CasFailMeaning::FromError`]): `cas-mismatch` means the comparison failed, any
//!   other error means it had no effect.
//! - The final reads are reads: for the register models they are checked as `read`s.
//! - The append workload's session and eventual checks share one
//!   [`AppendIndex`](checker::consistency::append_index::AppendIndex), built once.
//! - An invariant with nothing to judge (a bank test without one completed read) is
//!   `unknown`, never vacuously `valid`.
//!
//! After the checks, [`placement`] puts the history in the hierarchy of models
//! (`checker::consistency::hierarchy`): the run's last line and `results.json`'s
//! `hierarchy`.

use crate::config::TestConfig;
use checker::consistency::append_index::AppendIndex;
use checker::consistency::hierarchy::{self, ModelVerdicts, Placement};
use checker::consistency::invariants::{bank, counter, unique_ids};
use checker::consistency::{eventual, session, FINAL_READ_F};
use checker::history::History;
use checker::linearizability::{Options, DEFAULT_MEMORY_LIMIT};
use checker::model::{BuiltinModel, CasFailMeaning};
use checker::sequential;
use checker::verdict::Verdict;
use serde::Serialize;
use serde_json::Value;
use std::time::Instant;
use workloads::generator::Workload;

/// One check's answer.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub verdict: Verdict,
    /// One line for the summary table.
    pub summary: String,
    /// The checker's whole report.
    pub report: Value,
    /// Why the check could not judge the history at all (its verdict is unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The command that checks the stored history the same way, for this check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    pub seconds: f64,
}

/// What the checks need to know about the test besides its history: the same for
/// `faultline test` (from its config) and `faultline check --check` (from flags).
#[derive(Debug, Clone)]
pub struct CheckContext {
    pub workload: Workload,
    pub checks: Vec<String>,
    /// The quiet period the runner waited after the final heal.
    pub quiet_period: std::time::Duration,
    pub check_timeout: std::time::Duration,
    /// Every node of the test (each must have answered a final read of every key);
    /// empty: the nodes the final reads show.
    pub nodes: Vec<String>,
}

impl CheckContext {
    pub fn of(config: &TestConfig, nodes: &[String]) -> CheckContext {
        CheckContext {
            workload: config.workload,
            checks: config.checks.clone(),
            quiet_period: config.quiet_period,
            check_timeout: config.check_timeout,
            nodes: nodes.to_vec(),
        }
    }
}

/// Runs every check the config names.
pub fn run_checks(
    history: &History,
    config: &TestConfig,
    nodes: &[String],
    history_path: &str,
) -> Vec<CheckResult> {
    run_checks_in(history, &CheckContext::of(config, nodes), history_path)
}

/// Runs every check the context names.
pub fn run_checks_in(
    history: &History,
    config: &CheckContext,
    history_path: &str,
) -> Vec<CheckResult> {
    let nodes = &config.nodes[..];
    // The append index is shared by the session and eventual checks; built lazily, once.
    let mut index: Option<Result<AppendIndex, String>> = None;
    let mut results = Vec::with_capacity(config.checks.len());
    for name in &config.checks {
        let started = Instant::now();
        let shares_index =
            config.workload == Workload::Append && (name == "session" || name == "eventual");
        let ix = if shares_index {
            Some(
                index
                    .get_or_insert_with(|| AppendIndex::build(history).map_err(|e| e.to_string()))
                    .as_ref(),
            )
        } else {
            None
        };
        let mut result = match (name.as_str(), ix) {
            (_, Some(Err(e))) => failed(name, e.clone()),
            ("linearizable", _) => linearizable(history, config),
            ("sequential", _) => sequential(history, config, &results),
            ("session", _) if is_register(config.workload) => register_session_guarantees(history),
            ("session", ix) => session_guarantees(history, ix.and_then(|r| r.ok())),
            ("eventual", ix) => {
                eventual_consistency(history, config, nodes, ix.and_then(|r| r.ok()))
            }
            ("bank", _) => bank_invariant(history),
            ("counter", _) => counter_invariant(history),
            ("unique-ids", _) => unique_ids_invariant(history),
            (other, _) => failed(other, format!("no checker named `{other}`")),
        };
        result.replay = Some(replay_command(name, config.workload, history_path, config));
        result.seconds = started.elapsed().as_secs_f64();
        results.push(result);
    }
    results
}

/// The `faultline check` command that checks the stored history the same way.
fn replay_command(
    check: &str,
    workload: Workload,
    history_path: &str,
    config: &CheckContext,
) -> String {
    match check {
        "eventual" if !config.nodes.is_empty() => format!(
            "faultline check --check eventual --workload {workload} --quiet-period {} --nodes {} {history_path}",
            crate::results::duration_text(config.quiet_period),
            config.nodes.join(",")
        ),
        other => format!("faultline check --check {other} --workload {workload} {history_path}"),
    }
}

/// Where the history sits in the hierarchy of models, from the checks' verdicts;
/// `None` when no consistency model was checked (an invariant-only workload).
pub fn placement(checks: &[CheckResult]) -> Option<Placement> {
    let mut v = ModelVerdicts::default();
    let verdict_at = |report: &Value, field: &str| -> Option<Verdict> {
        serde_json::from_value(report.get(field)?.get("verdict")?.clone()).ok()
    };
    let mut any = false;
    let mut sequential_per_key: Option<Verdict> = None;
    for c in checks {
        match c.name.as_str() {
            "linearizable" => {
                v.linearizable = Some(c.verdict);
                any = true;
            }
            "session" => {
                any = true;
                let unknown = Some(Verdict::Unknown);
                v.monotonic_reads = verdict_at(&c.report, "monotonic_reads").or(unknown);
                v.monotonic_writes = verdict_at(&c.report, "monotonic_writes").or(unknown);
                v.read_your_writes = verdict_at(&c.report, "read_your_writes").or(unknown);
                v.writes_follow_reads = verdict_at(&c.report, "writes_follow_reads").or(unknown);
            }
            "eventual" => {
                v.eventual = Some(c.verdict);
                any = true;
            }
            "sequential" => {
                v.sequential = Some(c.verdict);
                sequential_per_key = serde_json::from_value(c.report["per_key"].clone()).ok();
                any = true;
            }
            _ => {}
        }
    }
    any.then(|| {
        let mut placed = hierarchy::place_with_per_key(&v, sequential_per_key);
        if let Some(why) = register_sessions_unjudged(checks) {
            // Only where the guarantees were left open: linearizability or sequential
            // consistency implies them, and then the line does not list them.
            if placed.line.contains("not determined") {
                placed.line.push_str(&format!(" ({why})"));
            }
        }
        placed
    })
}

fn failed(name: &str, error: String) -> CheckResult {
    CheckResult {
        name: name.to_string(),
        verdict: Verdict::Unknown,
        summary: format!("could not check: {error}"),
        report: Value::Null,
        error: Some(error),
        replay: None,
        seconds: 0.0,
    }
}

fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn linearizable(history: &History, config: &CheckContext) -> CheckResult {
    let mut as_reads = history.clone();
    for op in &mut as_reads.ops {
        if op.f == FINAL_READ_F {
            op.f = "read".into();
        }
    }
    let model = match config.workload {
        Workload::Set => BuiltinModel::Set,
        _ => BuiltinModel::CasRegister(CasFailMeaning::FromError),
    };
    let options = Options {
        timeout: Some(config.check_timeout),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        all_keys: false,
    };
    match model.check(&as_reads, &options) {
        Ok(report) => {
            let keys = report.partitions.len();
            let bad = report
                .partitions
                .iter()
                .filter(|p| p.verdict == Verdict::Invalid)
                .count();
            let unknown = report
                .partitions
                .iter()
                .filter(|p| p.verdict == Verdict::Unknown)
                .count();
            let summary = match report.verdict {
                Verdict::Valid => format!("{} ops on {keys} keys, linearizable", report.ops),
                Verdict::Invalid => format!(
                    "{} ops on {keys} keys, {bad} key(s) not linearizable",
                    report.ops
                ),
                Verdict::Unknown => format!(
                    "{} ops on {keys} keys, {unknown} key(s) undecided: {}",
                    report.ops,
                    report
                        .partitions
                        .iter()
                        .find_map(|p| p.reason.clone())
                        .unwrap_or_default()
                ),
            };
            CheckResult {
                name: "linearizable".into(),
                verdict: report.verdict,
                summary,
                report: to_value(&report),
                error: None,
                replay: None,
                seconds: 0.0,
            }
        }
        Err(e) => failed(
            "linearizable",
            format!("the history does not fit the {} model: {e}", model.name()),
        ),
    }
}

/// Sequential consistency (`checker::sequential`), with the linearizability check's
/// model. A history the `linearizable` check (run earlier in the list) proved
/// linearizable is sequentially consistent without a search. Otherwise each key is
/// checked, then the whole history at once. Proving a violation can take exponential
/// time, and this check runs by default after `linearizable` on a run that may
/// already have failed, so it gets a fifth of the check timeout (one minute by
/// default) and says `unknown` past it, with the per-key verdicts in the report.
fn sequential(history: &History, config: &CheckContext, earlier: &[CheckResult]) -> CheckResult {
    let mut as_reads = history.clone();
    for op in &mut as_reads.ops {
        if op.f == FINAL_READ_F {
            op.f = "read".into();
        }
    }
    let model = match config.workload {
        Workload::Set => BuiltinModel::Set,
        _ => BuiltinModel::CasRegister(CasFailMeaning::FromError),
    };
    let proven_linearizable = earlier
        .iter()
        .any(|c| c.name == "linearizable" && c.verdict == Verdict::Valid);
    let checked = if proven_linearizable {
        Ok(sequential::implied_by_linearizability(
            &as_reads,
            model.name(),
        ))
    } else {
        let options = sequential::Options {
            timeout: Some(config.check_timeout / 5),
            ..sequential::Options::default()
        };
        sequential::check_builtin(model, &as_reads, &options)
    };
    match checked {
        Ok(report) => CheckResult {
            name: "sequential".into(),
            verdict: report.verdict,
            summary: report.summary(),
            report: to_value(&report),
            error: None,
            replay: None,
            seconds: 0.0,
        },
        Err(e) => failed(
            "sequential",
            format!("the history does not fit the {} model: {e}", model.name()),
        ),
    }
}

fn session_guarantees(history: &History, index: Option<&AppendIndex>) -> CheckResult {
    let options = session::SessionOptions::default();
    let checked = match index {
        Some(ix) => Ok(session::check_indexed(history, ix, &options)),
        None => session::check(history, &options),
    };
    match checked {
        Ok(report) => {
            let guarantees = [
                ("monotonic-reads", &report.monotonic_reads),
                ("monotonic-writes", &report.monotonic_writes),
                ("read-your-writes", &report.read_your_writes),
                ("writes-follow-reads", &report.writes_follow_reads),
            ];
            let parts: Vec<String> = guarantees
                .iter()
                .map(|(n, g)| format!("{n} {}", g.verdict))
                .collect();
            CheckResult {
                name: "session".into(),
                verdict: report.verdict,
                summary: parts.join(", "),
                report: to_value(&report),
                error: None,
                replay: None,
                seconds: 0.0,
            }
        }
        Err(e) => failed("session", e.to_string()),
    }
}

/// The summary of a register session check on a history without versions.
const NO_VERSIONS: &str = "not judged: no operation carries a per-key integer version (the \
    system reports none, or only a partial order such as vector clocks), and a register read \
    alone does not say which writes it saw";

fn is_register(workload: Workload) -> bool {
    matches!(workload, Workload::Register | Workload::CasRegister)
}

/// The session guarantees of a register workload, judged from the per-key versions
/// the system reported (`docs/consistency.md`, Registers); `unknown`, saying why, when
/// the history has none.
fn register_session_guarantees(history: &History) -> CheckResult {
    let report = session::check_registers(history, &session::RegisterOptions::default());
    let summary = if history.ops.iter().all(|op| op.version.is_none()) {
        NO_VERSIONS.to_string()
    } else {
        let part = |name: &str, g: &session::GuaranteeReport, what: &str| {
            let violations = match g.violations.count {
                0 => String::new(),
                n => format!(", {n} violating"),
            };
            format!("{name} {} ({} {what}{violations})", g.verdict, g.checked)
        };
        let conflicts = match report.version_conflicts.as_ref().map_or(0, |c| c.count) {
            0 => String::new(),
            n => format!("; {n} version conflicts: the system's versions contradict each other"),
        };
        format!(
            "{}, {}, {}, {}; from per-key versions{conflicts}",
            part("monotonic-reads", &report.monotonic_reads, "reads"),
            part("monotonic-writes", &report.monotonic_writes, "writes"),
            part("read-your-writes", &report.read_your_writes, "reads"),
            part("writes-follow-reads", &report.writes_follow_reads, "writes"),
        )
    };
    CheckResult {
        name: "session".into(),
        verdict: report.verdict,
        summary,
        report: to_value(&report),
        error: None,
        replay: None,
        seconds: 0.0,
    }
}

/// Why a register session check could judge nothing, for the hierarchy line: the
/// guarantees are `not determined` there, and a reader should see that it is for want
/// of versions, not for something the system did.
fn register_sessions_unjudged(checks: &[CheckResult]) -> Option<&'static str> {
    let c = checks.iter().find(|c| c.name == "session")?;
    let register = c.report.get("workload").and_then(Value::as_str) == Some("register");
    let unjudged = c.verdict == Verdict::Unknown && c.summary == NO_VERSIONS;
    (register && unjudged).then_some(
        "session guarantees on registers need the per-key versions this system does not report",
    )
}

/// The options the runner can vouch for: the quiet period it waited after the final
/// heal, and every node it read from.
pub fn eventual_options(
    workload: Workload,
    quiet_period: std::time::Duration,
    nodes: &[String],
) -> eventual::EventualOptions {
    let collection = match workload {
        Workload::Append => eventual::Collection::Append,
        Workload::Set => eventual::Collection::Set,
        _ => eventual::Collection::Register,
    };
    let mut options = eventual::EventualOptions::new(collection);
    options.quiet_period_ns = Some(quiet_period.as_nanos() as u64);
    options.nodes = (!nodes.is_empty()).then(|| nodes.to_vec());
    options
}

fn eventual_consistency(
    history: &History,
    config: &CheckContext,
    nodes: &[String],
    index: Option<&AppendIndex>,
) -> CheckResult {
    let options = eventual_options(config.workload, config.quiet_period, nodes);
    let checked = match index {
        Some(ix) => eventual::check_append_indexed(history, ix, &options),
        None => eventual::check(history, &options),
    };
    match checked {
        Ok(report) => {
            let mut summary = format!(
                "convergence {} ({} keys)",
                report.convergence.verdict, report.convergence.keys_checked
            );
            if let Some(el) = &report.elements {
                summary.push_str(&format!(
                    ", elements {}: {} acknowledged, {} lost, {} stale",
                    el.verdict, el.acknowledged, el.lost, el.stale
                ));
            }
            CheckResult {
                name: "eventual".into(),
                verdict: report.verdict,
                summary,
                report: to_value(&report),
                error: None,
                replay: None,
                seconds: 0.0,
            }
        }
        Err(e) => failed("eventual", e.to_string()),
    }
}

/// An invariant's result; `unknown` (with the reason) when it had nothing to judge.
fn invariant(
    name: &str,
    verdict: Verdict,
    judged: u64,
    nothing: &str,
    summary: String,
    report: Value,
) -> CheckResult {
    let (verdict, summary) = if judged == 0 && verdict == Verdict::Valid {
        (Verdict::Unknown, format!("{nothing}: nothing to judge"))
    } else {
        (verdict, summary)
    };
    CheckResult {
        name: name.into(),
        verdict,
        summary,
        report,
        error: None,
        replay: None,
        seconds: 0.0,
    }
}

/// The bank's total is every account's initial balance, as the bank workload sets
/// it up (`--accounts`, `--initial-balance` given to cl-bank by the runner).
fn bank_invariant(history: &History) -> CheckResult {
    use workloads::generator::{BANK_ACCOUNTS, BANK_INITIAL_BALANCE};
    let mut options = bank::BankOptions::new(BANK_ACCOUNTS as i64 * BANK_INITIAL_BALANCE);
    options.accounts = Some((0..BANK_ACCOUNTS).map(|a| a.to_string()).collect());
    match bank::check(history, &options) {
        Ok(r) => invariant(
            "bank",
            r.verdict,
            r.reads_checked,
            "no whole-bank read completed",
            format!(
                "{} reads: {} wrong totals (expected {}, seen {}), {} negative balances, {} wrong account sets",
                r.reads_checked,
                r.wrong_totals,
                options.initial_total,
                match (r.min_total, r.max_total) {
                    (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
                    (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
                    _ => "none".to_string(),
                },
                r.negative_balances,
                r.wrong_accounts
            ),
            to_value(&r),
        ),
        Err(e) => failed("bank", e.to_string()),
    }
}

fn counter_invariant(history: &History) -> CheckResult {
    match counter::check(history, &counter::CounterOptions::default()) {
        Ok(r) => invariant(
            "counter",
            r.verdict,
            r.reads_checked,
            "no counter read completed",
            format!(
                "{} reads of {} counters, {} out of bounds ({} increments acknowledged, {} indeterminate)",
                r.reads_checked,
                r.keys,
                r.violations.count,
                r.increments_acknowledged,
                r.increments_indeterminate
            ),
            to_value(&r),
        ),
        Err(e) => failed("counter", e.to_string()),
    }
}

fn unique_ids_invariant(history: &History) -> CheckResult {
    match unique_ids::check(history, &unique_ids::UniqueIdOptions::default()) {
        Ok(r) => invariant(
            "unique-ids",
            r.verdict,
            r.acknowledged,
            "no generate was acknowledged",
            format!(
                "{} generated ({} attempted), {} distinct, {} duplicated",
                r.acknowledged, r.attempted, r.distinct, r.duplicates.count
            ),
            to_value(&r),
        ),
        Err(e) => failed("unique-ids", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;
    use std::time::Duration;

    fn context(workload: Workload, checks: &[&str]) -> CheckContext {
        CheckContext {
            workload,
            checks: checks.iter().map(|s| s.to_string()).collect(),
            quiet_period: Duration::from_nanos(10),
            check_timeout: Duration::from_secs(10),
            nodes: vec!["n1".into(), "n2".into()],
        }
    }

    /// An append history where process 0's second read goes back (a monotonic-reads
    /// violation) and both nodes' final reads agree after the heal.
    const STALE_APPEND: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"append","key":1,"value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"append","key":1,"value":1}
{"index":2,"time":2,"process":0,"type":"invoke","f":"append","key":1,"value":2}
{"index":3,"time":3,"process":0,"type":"ok","f":"append","key":1,"value":2}
{"index":4,"time":4,"process":0,"type":"invoke","f":"read","key":1}
{"index":5,"time":5,"process":0,"type":"ok","f":"read","key":1,"value":[1,2]}
{"index":6,"time":6,"process":0,"type":"invoke","f":"read","key":1}
{"index":7,"time":7,"process":0,"type":"ok","f":"read","key":1,"value":[1]}
{"index":8,"time":80,"process":"nemesis","type":"info","f":"heal-all","value":null}
{"index":9,"time":100,"process":5,"type":"invoke","f":"final-read","key":1,"node":"n1"}
{"index":10,"time":101,"process":5,"type":"ok","f":"final-read","key":1,"value":[1,2],"node":"n1"}
{"index":11,"time":102,"process":6,"type":"invoke","f":"final-read","key":1,"node":"n2"}
{"index":12,"time":103,"process":6,"type":"ok","f":"final-read","key":1,"value":[1,2],"node":"n2"}
"#;

    #[test]
    fn append_checks_share_the_index_and_the_history_is_placed() {
        let h = parse_jsonl(STALE_APPEND).unwrap();
        let results = run_checks_in(
            &h,
            &context(Workload::Append, &["session", "eventual"]),
            "h.jsonl",
        );
        assert_eq!(
            results[0].verdict,
            Verdict::Invalid,
            "{:#}",
            results[0].report
        );
        assert_eq!(
            results[1].verdict,
            Verdict::Valid,
            "{:#}",
            results[1].report
        );
        assert_eq!(
            results[0].report["monotonic_reads"]["violations"]["count"],
            serde_json::json!(1)
        );
        let p = placement(&results).unwrap();
        assert_eq!(p.strongest, "session");
        assert!(p.line.contains("violates monotonic reads"), "{}", p.line);
        assert!(p.line.contains("+ eventually consistent"), "{}", p.line);
        let replay = results[1].replay.as_deref().unwrap();
        assert!(
            replay.contains("--nodes n1,n2") && replay.ends_with("h.jsonl"),
            "{replay}"
        );
    }

    /// A cas-register history as raft-kv records it: versions on acknowledged
    /// operations (`with`), or none at all.
    fn register_history(with_versions: bool) -> History {
        let v = |n: u64| {
            if with_versions {
                format!(",\"version\":{n}")
            } else {
                String::new()
            }
        };
        parse_jsonl(&format!(
            r#"{{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":1,"value":1}}
{{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":1,"value":1{}}}
{{"index":2,"time":2,"process":1,"type":"invoke","f":"read","key":1,"value":null}}
{{"index":3,"time":3,"process":1,"type":"ok","f":"read","key":1,"value":1{}}}
{{"index":4,"time":4,"process":1,"type":"invoke","f":"cas","key":1,"value":[1,2]}}
{{"index":5,"time":5,"process":1,"type":"ok","f":"cas","key":1,"value":[1,2]{}}}
{{"index":6,"time":6,"process":0,"type":"invoke","f":"read","key":1,"value":null}}
{{"index":7,"time":7,"process":0,"type":"ok","f":"read","key":1,"value":2{}}}
"#,
            v(4),
            v(4),
            v(9),
            v(9)
        ))
        .unwrap()
    }

    #[test]
    fn register_sessions_are_judged_from_versions() {
        let h = register_history(true);
        let results = run_checks_in(
            &h,
            &context(Workload::CasRegister, &["linearizable", "session"]),
            "h.jsonl",
        );
        let session = &results[1];
        assert_eq!(session.verdict, Verdict::Valid, "{}", session.summary);
        assert_eq!(
            session.summary,
            "monotonic-reads valid (2 reads), monotonic-writes valid (2 writes), \
             read-your-writes valid (1 reads), writes-follow-reads valid (1 writes); \
             from per-key versions"
        );
        assert_eq!(session.report["workload"], serde_json::json!("register"));
        assert_eq!(
            session.replay.as_deref(),
            Some("faultline check --check session --workload cas-register h.jsonl")
        );
        let p = placement(&results).unwrap();
        assert_eq!(p.line, "strongest model satisfied: linearizable");
    }

    #[test]
    fn register_sessions_without_versions_are_unknown_and_say_why() {
        let h = register_history(false);
        let results = run_checks_in(
            &h,
            &context(Workload::Register, &["linearizable", "session"]),
            "h.jsonl",
        );
        let session = &results[1];
        assert_eq!(session.verdict, Verdict::Unknown);
        assert_eq!(session.summary, NO_VERSIONS);
        // Linearizability implies the guarantees the versions could not judge.
        let p = placement(&results).unwrap();
        assert_eq!(p.line, "strongest model satisfied: linearizable");
        // Without that implication they are open, and the line says why.
        let mut results = results;
        for c in results.iter_mut().filter(|c| c.name != "session") {
            c.verdict = Verdict::Invalid;
        }
        let p = placement(&results).unwrap();
        assert!(
            p.line.ends_with(
                "not determined: monotonic reads, monotonic writes, read-your-writes, \
                 writes-follow-reads (session guarantees on registers need the per-key \
                 versions this system does not report)"
            ),
            "{}",
            p.line
        );
    }

    #[test]
    fn an_invariant_with_nothing_to_judge_is_unknown_and_not_placed() {
        let h = parse_jsonl(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"generate","key":0,"value":null}
{"index":1,"time":1,"process":0,"type":"fail","f":"generate","key":0,"value":null,"error":"cas: no-leader"}
"#,
        )
        .unwrap();
        let results = run_checks_in(&h, &context(Workload::UniqueIds, &["unique-ids"]), "h");
        assert_eq!(
            results[0].verdict,
            Verdict::Unknown,
            "{}",
            results[0].summary
        );
        assert!(results[0].summary.contains("nothing to judge"));
        assert_eq!(placement(&results), None);
    }
}
