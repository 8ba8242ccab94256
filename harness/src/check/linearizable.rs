//! Linearizability per key (`checker::linearizability`), with the register model
//! for register workloads and the set model for sets. A failed CAS and a read of nil
//! mean what the history's readings say ([`CheckInput::readings`](super::CheckInput)):
//! faultline's rules for its own histories (a failed CAS read from its error), the
//! writing tool's for an imported one. Without `--all-keys` the search stops at the
//! first key that fails, so the summary says "at least" that many.

use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::history::History;
use checker::linearizability::{shortest_invalid_prefix, Options, Report, DEFAULT_MEMORY_LIMIT};
use checker::model::{BuiltinModel, ConfiguredModel, Readings};
use checker::verdict::Verdict;
use workloads::generator::Workload;

pub struct Linearizable;

/// The model a workload's history is checked against (by this and the sequential
/// check), reading failed CASes and nil reads as `readings` says.
pub fn model_of(workload: Workload, readings: Readings) -> ConfiguredModel {
    let model = match workload {
        Workload::Set | Workload::Broadcast | Workload::GSet => BuiltinModel::Set,
        _ => BuiltinModel::CasRegister(readings.cas_fail),
    };
    ConfiguredModel::new(model).with_nil_read(readings.nil_read)
}

impl Checker for Linearizable {
    fn kind(&self) -> CheckKind {
        CheckKind::Linearizable
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let ctx = input.context;
        let model = model_of(ctx.workload, input.readings);
        let options = Options {
            timeout: Some(ctx.check_timeout),
            memory_limit: ctx.check_memory.unwrap_or(DEFAULT_MEMORY_LIMIT),
            all_keys: ctx.all_keys,
        };
        let history = input.history_with_final_reads_as_reads();
        let mut report = model.check(history, &options).map_err(|e| {
            anyhow::anyhow!(
                "the history does not fit the {} model: {e}",
                model.model().name()
            )
        })?;
        let spent = report.elapsed;
        let limit = ctx
            .check_timeout
            .saturating_sub(spent)
            .min(prefix_budget(spent));
        locate_anomaly(&model, history, &mut report, limit);
        Ok(Found {
            verdict: report.verdict,
            summary: summary(&report, ctx.all_keys),
            report: CheckReport::Linearizable(Box::new(report)),
        })
    }

    fn replay_flags(&self, context: &super::CheckContext) -> String {
        if context.all_keys {
            " --all-keys".into()
        } else {
            String::new()
        }
    }
}

/// The time the search for the shortest non-linearizable prefix may take: about as
/// many checks of the key as its binary search makes, and at least a second.
fn prefix_budget(check: std::time::Duration) -> std::time::Duration {
    (check * 20).max(std::time::Duration::from_secs(1))
}

/// Adds to the first counterexample (and its key's report) where the failing key
/// stops being linearizable: the operation whose return ends the shortest
/// non-linearizable prefix, which points at the anomaly where the search's stuck
/// point may not. Skipped when the future-read pre-check decided: the observation it
/// names can never happen, in any prefix, and is the anomaly itself.
fn locate_anomaly(
    model: &ConfiguredModel,
    history: &History,
    report: &mut Report,
    limit: std::time::Duration,
) {
    let Some(ce) = report.counterexample.as_mut() else {
        return;
    };
    if ce.impossible.is_some() {
        return;
    }
    let found = shortest_invalid_prefix(history, &ce.key, Some(limit), |h, o| model.check(h, o));
    // The key's ops all fit the model (the check just ran them): no error is expected,
    // and the stuck point stays the counterexample without one.
    let Ok(Some(found)) = found else {
        return;
    };
    ce.shortest_prefix = Some(Box::new(found));
    let key = ce.key.clone();
    let whole = ce.clone();
    if let Some(p) = report.partitions.iter_mut().find(|p| p.key == key) {
        p.counterexample = Some(whole);
    }
}

/// One line: how many keys, how many failed. A search that stopped at the first bad
/// key proves only that at least that many failed.
pub fn summary(report: &Report, all_keys: bool) -> String {
    let keys = report.partitions.len();
    let count = |v: Verdict| report.partitions.iter().filter(|p| p.verdict == v).count();
    let stopped_early = report.partitions.iter().any(|p| {
        p.verdict == Verdict::Unknown
            && p.reason
                .as_deref()
                .is_some_and(|r| r.contains("another key"))
    });
    match report.verdict {
        Verdict::Valid => format!("{} ops on {keys} keys, linearizable", report.ops),
        Verdict::Invalid if all_keys || !stopped_early => format!(
            "{} ops on {keys} keys, {} key(s) not linearizable",
            report.ops,
            count(Verdict::Invalid)
        ),
        Verdict::Invalid => format!(
            "{} ops on {keys} keys, at least {} key(s) not linearizable (checking stopped at the first; --all-keys checks every key)",
            report.ops,
            count(Verdict::Invalid)
        ),
        Verdict::Unknown => format!(
            "{} ops on {keys} keys, {} key(s) undecided: {}",
            report.ops,
            count(Verdict::Unknown),
            report.partitions.iter().find_map(|p| p.reason.clone()).unwrap_or_default()
        ),
    }
}
