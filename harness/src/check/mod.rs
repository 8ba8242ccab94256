//! The checks `faultline test` runs on a history once the run is over, and that
//! `faultline check --check` runs on a stored one: the same code and options, so a
//! run's verdicts can be reproduced from its files.
//!
//! Each check is one file holding one [`Checker`]; [`checker`] is the registry.
//! Adding a check is a file, a [`CheckKind`] variant and a registry line (and, in
//! `workload.rs`, the workloads it applies to).
//!
//! Soundness notes that shape the checks:
//! - A `cas` can fail definitely for reasons other than its comparison (`no-leader`
//!   before the request reached the log), so a failed CAS is read from its error.
//! - The final reads are reads: for the register models they are checked as `read`s.
//! - The append workload's session and eventual checks share one [`AppendIndex`],
//!   built once.
//! - An invariant with nothing to judge is `unknown`, never vacuously `valid`.

mod bank;
mod counter;
mod echo;
mod eventual;
mod kafka;
mod kind;
pub(crate) mod linearizable;
mod placement;
pub mod promises;
mod sequential;
mod session;
pub mod txn;
mod unique_ids;

pub use bank::generated_bank;
pub use kind::CheckKind;
pub use placement::placement;

use crate::units::duration_text;
use checker::consistency::append_index::AppendIndex;
use checker::consistency::invariants::{
    bank::{BankOptions, BankReport},
    counter::CounterReport,
    unique_ids::UniqueIdReport,
};
use checker::consistency::{eventual::EventualReport, session::SessionReport};
use checker::history::History;
use checker::model::Readings;
use checker::verdict::Verdict;
use serde::Serialize;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use workloads::generator::Workload;

/// One check's answer.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: CheckKind,
    pub verdict: Verdict,
    /// One line for the summary table.
    pub summary: String,
    /// The checker's whole report.
    pub report: CheckReport,
    /// Why the check could not judge the history at all (its verdict is unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The command that checks the stored history the same way, for this check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    pub seconds: f64,
}

/// A checker's report, as the checker library types it. Serialized as the report
/// itself (no tag): `results.json` shows each checker's own fields.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CheckReport {
    /// The check could not run (see [`CheckResult::error`]).
    None,
    Linearizable(Box<checker::linearizability::Report>),
    Sequential(Box<checker::sequential::Report>),
    Session(Box<SessionReport>),
    Eventual(Box<EventualReport>),
    Bank(Box<BankReport>),
    Counter(Box<CounterReport>),
    UniqueIds(Box<UniqueIdReport>),
    Txn(Box<checker::txn::TxnReport>),
    Echo(Box<echo::EchoReport>),
    Kafka(Box<checker::kafka::KafkaReport>),
}

impl CheckReport {
    /// The first counterexample the report holds, as JSON for `results.json`: the
    /// linearizability counterexample, else the sequential evidence, else the whole
    /// report of a failing check.
    pub fn counterexample(&self) -> Option<serde_json::Value> {
        match self {
            CheckReport::None => None,
            CheckReport::Linearizable(r) => r.counterexample.as_ref().map(to_json),
            CheckReport::Sequential(r) => r.evidence.as_ref().map(to_json),
            other => Some(to_json(other)),
        }
    }
}

fn to_json<T: Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or(serde_json::Value::Null)
}

/// What the checks need to know about the test besides its history: the same for
/// `faultline test` (from its config) and `faultline check` (from flags, or from the
/// `test.json` beside a stored history).
#[derive(Debug, Clone)]
pub struct CheckContext {
    pub workload: Workload,
    pub checks: Vec<CheckKind>,
    /// The quiet period the runner waited after the final heal.
    pub quiet_period: Duration,
    pub check_timeout: Duration,
    /// The time budget of the whole-history sequential search, which can take
    /// exponential time on a history that already failed linearizability.
    pub sequential_timeout: Duration,
    /// The memory budget of each search's tables, in bytes (`--check-memory`);
    /// `None`: each checker's own default.
    pub check_memory: Option<usize>,
    /// Every node of the test (each must have answered a final read of every key);
    /// empty: the nodes the final reads show.
    pub nodes: Vec<String>,
    /// Check every key even after one is found invalid.
    pub all_keys: bool,
    /// What the bank check holds every read to; `None`: the total and the accounts
    /// of the first complete read (a stored history that does not say how its bank
    /// was set up). `faultline test` knows its own bank ([`generated_bank`]).
    pub bank: Option<BankOptions>,
}

impl CheckContext {
    /// A context with the defaults `faultline check` uses when not told otherwise.
    pub fn new(workload: Workload, checks: Vec<CheckKind>) -> CheckContext {
        CheckContext {
            workload,
            checks,
            quiet_period: Duration::ZERO,
            check_timeout: Duration::from_secs(300),
            sequential_timeout: Duration::from_secs(60),
            check_memory: None,
            nodes: Vec::new(),
            all_keys: false,
            bank: None,
        }
    }
}

/// Everything one checker sees.
pub struct CheckInput<'a> {
    pub history: &'a History,
    pub context: &'a CheckContext,
    /// How the history's failed CASes and nil reads are read: faultline's own rules
    /// for its JSONL, the writing tool's for an imported history.
    pub readings: Readings,
    /// The results of the checks that ran before this one, in order.
    pub earlier: &'a [CheckResult],
    /// The index or why it could not be built, as text: every check that shares it
    /// reports the same failure, and an error cannot be cloned.
    append_index: &'a OnceLock<Result<AppendIndex, String>>,
    /// The history with final reads as reads, made once for every check that wants it.
    as_reads: &'a OnceLock<History>,
}

impl CheckInput<'_> {
    /// The append index, built on first use and shared by every check after it.
    pub fn append_index(&self) -> anyhow::Result<&AppendIndex> {
        self.append_index
            .get_or_init(|| AppendIndex::build(self.history).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The history with final reads turned into reads, for the register models;
    /// copied once, on first use, and shared by the checks after it.
    pub fn history_with_final_reads_as_reads(&self) -> &History {
        self.as_reads.get_or_init(|| {
            let mut h = self.history.clone();
            for op in &mut h.ops {
                if op.f == checker::consistency::FINAL_READ_F {
                    op.f = "read".into();
                }
            }
            h
        })
    }
}

/// What a checker found: the verdict, one line for people, the whole report.
pub struct Found {
    pub verdict: Verdict,
    pub summary: String,
    pub report: CheckReport,
}

/// One check.
pub trait Checker: Sync {
    fn kind(&self) -> CheckKind;
    /// Judges the history; an error means it could not (the history does not fit).
    fn check(&self, input: &CheckInput) -> anyhow::Result<Found>;
    /// The extra `faultline check` flags that reproduce this check's settings.
    fn replay_flags(&self, _context: &CheckContext) -> String {
        String::new()
    }
}

/// The registry: the checker of each kind.
pub fn checker(kind: CheckKind) -> &'static dyn Checker {
    match kind {
        CheckKind::Linearizable => &linearizable::Linearizable,
        CheckKind::Sequential => &sequential::Sequential,
        CheckKind::Session => &session::Session,
        CheckKind::Eventual => &eventual::Eventual,
        CheckKind::Bank => &bank::Bank,
        CheckKind::Counter => &counter::Counter,
        CheckKind::UniqueIds => &unique_ids::UniqueIds,
        CheckKind::ListAppend => &txn::LIST_APPEND,
        CheckKind::RwRegister => &txn::RW_REGISTER,
        CheckKind::Echo => &echo::Echo,
        CheckKind::Kafka => &kafka::Kafka,
    }
}

/// Runs every check the context names, in order, on a history faultline recorded.
/// `history_path` is how replay commands name the stored history.
pub fn run_checks(
    history: &History,
    context: &CheckContext,
    history_path: &str,
) -> Vec<CheckResult> {
    run_checks_read_as(history, Readings::default(), context, history_path)
}

/// [`run_checks`] on a history whose failed CASes and nil reads mean what `readings`
/// says: an imported history, read as the tool that wrote it means it
/// (`checker::import::Imported::readings`), or as the user chose.
pub fn run_checks_read_as(
    history: &History,
    readings: Readings,
    context: &CheckContext,
    history_path: &str,
) -> Vec<CheckResult> {
    let (index, as_reads) = (OnceLock::new(), OnceLock::new());
    let mut results: Vec<CheckResult> = Vec::with_capacity(context.checks.len());
    for &kind in &context.checks {
        let started = Instant::now();
        let input = CheckInput {
            history,
            context,
            readings,
            earlier: &results,
            append_index: &index,
            as_reads: &as_reads,
        };
        let found = checker(kind).check(&input);
        results.push(result(kind, found, context, history_path, started));
    }
    results
}

/// A check's result from what its checker found (an error: it could not judge), with
/// the command that replays it.
pub fn result(
    kind: CheckKind,
    found: anyhow::Result<Found>,
    context: &CheckContext,
    history_path: &str,
    started: Instant,
) -> CheckResult {
    let (verdict, summary, report, error) = match found {
        Ok(f) => (f.verdict, f.summary, f.report, None),
        Err(e) => (
            Verdict::Unknown,
            format!("could not check: {e:#}"),
            CheckReport::None,
            Some(format!("{e:#}")),
        ),
    };
    let c = checker(kind);
    CheckResult {
        name: kind,
        verdict,
        summary,
        report,
        error,
        replay: Some(if kind.is_transactional() {
            format!(
                "faultline check --check {kind}{} {history_path}",
                c.replay_flags(context)
            )
        } else {
            format!(
                "faultline check --check {kind} --workload {}{} {history_path}",
                context.workload,
                c.replay_flags(context)
            )
        }),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// ` --quiet-period D`, for replay commands that depend on it.
fn quiet_period_flag(context: &CheckContext) -> String {
    format!(" --quiet-period {}", duration_text(context.quiet_period))
}

/// An invariant's answer: `unknown` (with the reason) when it had nothing to judge,
/// never vacuously `valid`.
fn invariant(
    verdict: Verdict,
    judged: u64,
    nothing: &str,
    summary: String,
    report: CheckReport,
) -> Found {
    let (verdict, summary) = if judged == 0 && verdict == Verdict::Valid {
        (Verdict::Unknown, format!("{nothing}: nothing to judge"))
    } else {
        (verdict, summary)
    };
    Found {
        verdict,
        summary,
        report,
    }
}

#[cfg(test)]
mod tests;
