//! The checks `faultline test` runs on a history once the run is over. Each check is
//! one case here, by the name `--check` uses (the table of defaults per workload is
//! in `config.rs`); a new checker is one more case.
//!
//! Soundness notes that shape the choices:
//! - A `cas` can fail definitely for reasons other than its comparison (`no-leader`
//!   before the request reached the log), so linearizability is checked with a failed
//!   CAS meaning "no effect" (Jepsen's reading), never "the comparison failed".
//! - The final reads are reads: for the register models they are checked as `read`s.

use crate::config::TestConfig;
use checker::consistency::{eventual, session, FINAL_READ_F};
use checker::history::History;
use checker::linearizability::{Options, DEFAULT_MEMORY_LIMIT};
use checker::model::{BuiltinModel, CasFailMeaning};
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

/// The `faultline check` model and flags equivalent to the linearizability check.
pub fn linearizability_model(workload: Workload) -> &'static str {
    match workload {
        Workload::Register | Workload::CasRegister | Workload::Append => "cas-register",
    }
}

/// Runs every check the config names.
pub fn run_checks(
    history: &History,
    config: &TestConfig,
    nodes: &[String],
    history_path: &str,
) -> Vec<CheckResult> {
    config
        .checks
        .iter()
        .map(|name| run_check(name, history, config, nodes, history_path))
        .collect()
}

fn run_check(
    name: &str,
    history: &History,
    config: &TestConfig,
    nodes: &[String],
    history_path: &str,
) -> CheckResult {
    let started = Instant::now();
    let mut result = match name {
        "linearizable" => linearizable(history, config, history_path),
        "session" => session_guarantees(history),
        "eventual" => eventual_consistency(history, config, nodes),
        other => failed(other, format!("no checker named `{other}`")),
    };
    result.seconds = started.elapsed().as_secs_f64();
    result
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

fn linearizable(history: &History, config: &TestConfig, history_path: &str) -> CheckResult {
    let mut as_reads = history.clone();
    for op in &mut as_reads.ops {
        if op.f == FINAL_READ_F {
            op.f = "read".into();
        }
    }
    let model = BuiltinModel::CasRegister(CasFailMeaning::NoEffect);
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
                replay: Some(format!(
                    "faultline check --model {} --cas-fail no-effect {history_path}",
                    linearizability_model(config.workload)
                )),
                seconds: 0.0,
            }
        }
        Err(e) => failed(
            "linearizable",
            format!("the history does not fit the {} model: {e}", model.name()),
        ),
    }
}

fn session_guarantees(history: &History) -> CheckResult {
    match session::check(history, &session::SessionOptions::default()) {
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

fn eventual_consistency(history: &History, config: &TestConfig, nodes: &[String]) -> CheckResult {
    let collection = match config.workload {
        Workload::Append => eventual::Collection::Append,
        Workload::Register | Workload::CasRegister => eventual::Collection::Register,
    };
    let mut options = eventual::EventualOptions::new(collection);
    options.quiet_period_ns = Some(config.quiet_period.as_nanos() as u64);
    options.nodes = Some(nodes.to_vec());
    match eventual::check(history, &options) {
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
