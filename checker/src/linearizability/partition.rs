//! P-compositionality: a history over independent keys is linearizable if and only
//! if each key's sub-history is, so keys are checked separately and in parallel,
//! largest first, on every core.

use super::counterexample::{explain, explain_future_read};
use super::future_read;
use super::report::PartitionReport;
use super::search::{search, Prepared, Violation};
use crate::history::History;
use crate::model::Model;
use crate::search::budget::{Budget, StopReason};
use crate::search::per_key;
use crate::search::report::Outcome;
use crate::verdict::Verdict;
use serde_json::Value;
use std::time::Instant;

/// Checks every key's partition on its own, in parallel (see
/// [`per_key::check_keys`]); reports in the keys' order of first appearance.
pub fn check_partitions<M: Model>(
    history: &History,
    model: &M,
    prepared: &[Option<Prepared<M::Op>>],
    budget: &Budget,
    all_keys: bool,
    prechecks: bool,
) -> Vec<PartitionReport> {
    let parts = history.ops_by_key();
    let sizes: Vec<usize> = parts.iter().map(|p| p.ops.len()).collect();
    per_key::check_keys(
        &sizes,
        budget,
        all_keys,
        |i| {
            let part = &parts[i];
            let key = part.key.clone().unwrap_or(Value::Null);
            check_one(history, model, prepared, &part.ops, key, budget, prechecks)
        },
        |report| report.verdict,
    )
}

/// The model's exact rewrite of one partition ([`Model::canonicalize`]), and its
/// classes of identical operations.
fn canonicalize<M: Model>(model: &M, ops: &mut [Prepared<M::Op>]) -> Option<Vec<u32>> {
    let open: Vec<bool> = ops.iter().map(|p| p.is_open()).collect();
    let mut raw: Vec<M::Op> = ops.iter().map(|p| p.op.clone()).collect();
    let classes = model.canonicalize(&mut raw, &open)?;
    for (p, op) in ops.iter_mut().zip(raw) {
        p.op = op;
    }
    Some(classes)
}

/// Checks one partition: the future-read pre-check (if `prechecks`), then its
/// operations canonicalized, the search, and a counterexample if it found a
/// violation.
fn check_one<M: Model>(
    history: &History,
    model: &M,
    prepared: &[Option<Prepared<M::Op>>],
    op_ids: &[usize],
    key: Value,
    budget: &Budget,
    prechecks: bool,
) -> PartitionReport {
    let started = Instant::now();
    let ids: Vec<usize> = op_ids
        .iter()
        .copied()
        .filter(|&id| prepared[id].is_some())
        .collect();
    let mut ops: Vec<Prepared<M::Op>> = ids
        .iter()
        .map(|&id| prepared[id].clone().expect("filtered above"))
        .collect();
    let mut report = PartitionReport {
        key,
        verdict: Verdict::Unknown,
        ops: op_ids.len(),
        checked_ops: ops.len(),
        reason: None,
        method: "search".into(),
        explored: 0,
        counterexample: None,
        elapsed: Default::default(),
    };
    // A key not started before a limit was reached is not started at all: building
    // a large partition's search costs time of its own.
    match budget.exhausted() {
        Some(StopReason::Cancelled) => {
            report.reason = Some(StopReason::Cancelled.describe().into());
            report.method = "skipped".into();
            return report;
        }
        Some(reason) => {
            report.reason = Some(reason.describe().into());
            return report;
        }
        None => {}
    }
    if let Some(found) = prechecks.then(|| future_read::find(model, &ops)).flatten() {
        report.verdict = Verdict::Invalid;
        report.method = "future-read pre-check".into();
        report.counterexample = Some(explain_future_read(
            model,
            &report.key,
            &history.ops,
            &ids,
            &found,
        ));
        report.elapsed = started.elapsed();
        return report;
    }
    let classes = canonicalize(model, &mut ops);
    let result = search(model, &ops, classes.as_deref(), budget);
    report.explored = result.explored;
    match result.outcome {
        Outcome::Holds => report.verdict = Verdict::Valid,
        Outcome::Violation(Violation { prefix, state }) => {
            report.verdict = Verdict::Invalid;
            report.counterexample = Some(explain(
                model,
                &report.key,
                &history.ops,
                &ops,
                &ids,
                &prefix,
                &state,
            ));
        }
        Outcome::Stopped(reason) => report.reason = Some(reason.describe().into()),
    }
    report.elapsed = started.elapsed();
    report
}
