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
use crate::search::phase;
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
    let parts = match history.ops_by_key_while(|i| phase::poll(budget, i)) {
        Ok(parts) => parts,
        Err(reason) => return vec![unprepared(history, reason)],
    };
    let sizes: Vec<usize> = parts.iter().map(|p| p.ops.len()).collect();
    let reports = per_key::check_keys(
        &sizes,
        budget,
        all_keys,
        |i| {
            let part = &parts[i];
            let key = part.key.clone().unwrap_or(Value::Null);
            check_one(history, model, prepared, &part.ops, key, budget, prechecks)
        },
        |report| report.verdict,
    );
    phase::drop_aside(parts, history.ops.len());
    reports
}

/// The report of a check stopped by `reason` before the history was split by key:
/// one entry for the whole history, so the reason is still given.
pub fn unprepared(history: &History, reason: StopReason) -> PartitionReport {
    let mut report = PartitionReport::undecided(Value::Null, history.ops.len(), 0);
    stop(&mut report, reason);
    report
}

/// Marks `report` as stopped by `reason` before its search ran.
fn stop(report: &mut PartitionReport, reason: StopReason) {
    report.reason = Some(reason.describe().into());
    report.method = "skipped".into();
}

/// Checks one partition: the future-read pre-check (if `prechecks`), then its
/// operations canonicalized, the search, and a counterexample if it found a
/// violation. A key not started before a limit was reached is not started at all,
/// and each phase before the search gives up once a limit is reached: on a
/// million-operation key they take a second between them.
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
    let mut report = PartitionReport::undecided(key, op_ids.len(), 0);
    let outcome = prepare_and_search(
        history,
        model,
        prepared,
        op_ids,
        budget,
        prechecks,
        &mut report,
    );
    if let Err(reason) = outcome {
        stop(&mut report, reason);
    }
    report.elapsed = started.elapsed();
    report
}

/// [`check_one`]'s phases, filling in `report`; `Err` if a limit was reached before
/// the search began.
fn prepare_and_search<M: Model>(
    history: &History,
    model: &M,
    prepared: &[Option<Prepared<M::Op>>],
    op_ids: &[usize],
    budget: &Budget,
    prechecks: bool,
    report: &mut PartitionReport,
) -> Result<(), StopReason> {
    if let Some(reason) = budget.exhausted() {
        return Err(reason);
    }
    let ids: Vec<usize> = op_ids
        .iter()
        .copied()
        .filter(|&id| prepared[id].is_some())
        .collect();
    let ids_ops = ids
        .iter()
        .map(|&id| prepared[id].clone().expect("filtered above"));
    let mut ops = phase::collect(budget, ids_ops)?;
    report.checked_ops = ops.len();
    if prechecks {
        if let Some(found) = future_read::find(model, &ops, budget)? {
            report.verdict = Verdict::Invalid;
            report.method = "future-read pre-check".into();
            report.counterexample = Some(explain_future_read(
                model,
                &report.key,
                &history.ops,
                &ids,
                &found,
            ));
            return Ok(());
        }
    }
    let classes = phase::canonicalize(model, &mut ops, budget, Prepared::is_open, |p| &mut p.op)?;
    let result = search(model, &ops, classes.as_deref(), budget);
    let size = ops.len();
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
    phase::drop_aside((ops, ids, classes), size);
    Ok(())
}
