//! Per key and whole history: the two scopes a sequential-consistency check runs at.
//!
//! Keys are first checked one at a time, in parallel on every core, largest first
//! (as the linearizability checker does). A key with no order on its own proves the
//! whole history has none. But the converse fails: sequential consistency is not
//! compositional (two processes that each see the other's write to one register late
//! order each key fine and the history not at all), so when no key is a violation a
//! search over every key at once decides, under what is left of the budget.
//!
//! Each key first gets the linearizability search, which is exact and much faster
//! (time bounds it): a linearizable key is sequentially consistent, and if every key
//! is, the whole history is linearizable (linearizability is compositional) and so
//! sequentially consistent, with no whole-history search at all.

use super::chains::SeqOp;
use super::evidence::explain;
use super::merge::{merge, KeyOrder};
use super::repair::repair;
use super::report::{KeyReport, WholeReport};
use super::saturate::{saturate, Saturated};
use super::search::{search_order, Found, Violation};
use crate::history::History;
use crate::linearizability::search::{self as lin, Prepared};
use crate::model::Model;
use crate::search::budget::{Budget, StopReason};
use crate::search::per_key;
use crate::search::phase::{self, Polled};
use crate::search::report::Outcome;
use crate::verdict::Verdict;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The time budget a search ran under, to name it when it runs out.
#[derive(Debug, Clone, Copy)]
pub struct TimeLimit {
    /// What the limit is (`the check's timeout`, `the whole-history search's limit`).
    pub name: &'static str,
    pub limit: Option<Duration>,
}

/// Why a search stopped, naming the budget that ran out and its size, so a reader
/// knows which option to raise.
pub fn stopped_because(
    reason: StopReason,
    budget: &Budget,
    time: TimeLimit,
    explored: u64,
) -> String {
    match reason {
        StopReason::Memory => format!(
            "{}: memory budget of {} reached after {explored} configurations (the sequential check's memory_limit; `--check-memory` to change it)",
            reason.describe(),
            bytes(budget.memory_limit())
        ),
        StopReason::Timeout => match time.limit {
            Some(limit) => format!(
                "{}: {} ({:.3} s)",
                reason.describe(),
                time.name,
                limit.as_secs_f64()
            ),
            None => format!("{}: {}", reason.describe(), time.name),
        },
        StopReason::Cancelled => reason.describe().into(),
    }
}

/// A size for people: whole MiB when it is one or more, else bytes.
fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// One key's operations, ready for either search.
pub struct KeyPart<O> {
    pub key: Value,
    /// Operations in the history with this key, checked or not.
    pub ops: usize,
    /// The ones the searches order (object 0), after the model's exact rewrite.
    pub seq: Vec<SeqOp<O>>,
    pub classes: Option<Vec<u32>>,
}

/// Splits the history by key and applies the model's exact rewrite
/// ([`Model::canonicalize`]) to each key's operations.
pub fn key_parts<M: Model>(
    history: &History,
    model: &M,
    prepared: &[Option<M::Op>],
    budget: &Budget,
) -> Polled<Vec<KeyPart<M::Op>>> {
    // A million operations take a tenth of a second to split and copy: polled.
    let split = history.ops_by_key_while(|i| phase::poll(budget, i))?;
    let mut parts = Vec::with_capacity(split.len());
    for part in split {
        let each = part.ops.iter().filter_map(|&id| {
            let p = prepared[id].clone()?;
            Some(SeqOp::of(&history.ops[id], 0, p))
        });
        let mut seq: Vec<SeqOp<M::Op>> = phase::collect(budget, each)?;
        let classes = phase::canonicalize(model, &mut seq, budget, |o| o.open, |o| &mut o.op)?;
        parts.push(KeyPart {
            key: part.key.unwrap_or(Value::Null),
            ops: part.ops.len(),
            seq,
            classes,
        });
    }
    Ok(parts)
}

/// One key's report, and the order the sequential search found for it (indices into
/// the key's operations), if it ran and found one.
pub type Checked<S> = (KeyReport, Found<S>);

/// Checks every key on its own, in parallel (see [`per_key::check_keys`]); reports
/// in the keys' order.
pub fn check_keys<M: Model>(
    history: &History,
    model: &M,
    parts: &[KeyPart<M::Op>],
    budget: &Budget,
    time: TimeLimit,
    all_keys: bool,
    linearizability_first: bool,
) -> Vec<Checked<M::State>> {
    let sizes: Vec<usize> = parts.iter().map(|p| p.seq.len()).collect();
    per_key::check_keys(
        &sizes,
        budget,
        all_keys,
        |i| {
            let started = Instant::now();
            let mut report = check_key(
                history,
                model,
                &parts[i],
                budget,
                time,
                linearizability_first,
            );
            report.0.elapsed = started.elapsed();
            report
        },
        |report| report.0.verdict,
    )
}

/// Checks one key: its linearizability search first (when asked), which decides a
/// linearizable key at once, then the sequential search.
fn check_key<M: Model>(
    history: &History,
    model: &M,
    part: &KeyPart<M::Op>,
    budget: &Budget,
    time: TimeLimit,
    linearizability_first: bool,
) -> Checked<M::State> {
    let mut report = KeyReport {
        key: part.key.clone(),
        verdict: Verdict::Unknown,
        ops: part.ops,
        checked_ops: part.seq.len(),
        method: "search".into(),
        reason: None,
        stopped: None,
        explored: 0,
        evidence: None,
        elapsed: Default::default(),
    };
    let stop = |report: &mut KeyReport, reason: StopReason| {
        report.stopped = Some(reason);
        report.reason = Some(stopped_because(reason, budget, time, report.explored));
    };
    // Not started once a limit is reached: building a large key's search costs time.
    match budget.exhausted() {
        Some(StopReason::Cancelled) => {
            report.method = "skipped".into();
            stop(&mut report, StopReason::Cancelled);
            return (report, None);
        }
        Some(reason) => {
            stop(&mut report, reason);
            return (report, None);
        }
        None => {}
    }
    if let Some(found) = super::backwards::find(model, &part.seq) {
        report.verdict = Verdict::Invalid;
        report.method = "reads-go-backwards pre-check".into();
        report.evidence = Some(super::backwards::evidence::<M>(
            &report.key,
            &history.ops,
            &part.seq,
            &found,
        ));
        return (report, None);
    }
    if let Some(reason) = budget.exhausted() {
        stop(&mut report, reason);
        return (report, None);
    }
    if linearizability_first {
        let result = linearizability_search(history, model, part, budget);
        report.explored = result.explored;
        match result.outcome {
            Outcome::Holds => {
                report.verdict = Verdict::Valid;
                report.method = "linearizable".into();
                return (report, None);
            }
            Outcome::Stopped(reason) => {
                stop(&mut report, reason);
                return (report, None);
            }
            Outcome::Violation(_) => {}
        }
        if let Some(reason) = budget.exhausted() {
            stop(&mut report, reason);
            return (report, None);
        }
    }
    let (result, order) = search_order(model, &part.seq, 1, budget);
    report.explored += result.explored;
    match result.outcome {
        Outcome::Holds => report.verdict = Verdict::Valid,
        Outcome::Violation(Violation { prefix, starved }) => {
            report.verdict = Verdict::Invalid;
            report.evidence = Some(explain(
                model,
                &part.key,
                &[],
                &history.ops,
                &part.seq,
                &prefix,
                starved.as_ref(),
            ));
        }
        Outcome::Stopped(reason) => stop(&mut report, reason),
    }
    (report, order)
}

/// The linearizability search over one key's operations: exact, usually much
/// faster than the sequential one, and enough to decide a linearizable key.
fn linearizability_search<M: Model>(
    history: &History,
    model: &M,
    part: &KeyPart<M::Op>,
    budget: &Budget,
) -> crate::search::report::SearchResult<lin::Violation<M::State>> {
    let each = part.seq.iter().map(|o| Prepared {
        call: o.call,
        ret: history.ops[o.id].ret,
        op: o.op.clone(),
    });
    let ops: Vec<Prepared<M::Op>> = match phase::collect(budget, each) {
        Ok(ops) => ops,
        Err(reason) => {
            return crate::search::report::SearchResult {
                outcome: Outcome::Stopped(reason),
                explored: 0,
            }
        }
    };
    let result = lin::search(model, &ops, part.classes.as_deref(), budget);
    let len = ops.len();
    phase::drop_aside(ops, len);
    result
}

/// The exact fast paths before the whole-history search: the forced-order
/// pre-check (a cycle is a violation), then the merge of the orders it derives, then
/// the merge of each key's own order, then the derived orders with writes reversed
/// where the first merge got stuck (`repair`). `None`: none decided.
fn merge_first<M: Model>(
    history: &History,
    model: &M,
    parts: &[KeyPart<M::Op>],
    ops: &[SeqOp<M::Op>],
    names: &[Value],
    orders: Vec<Found<M::State>>,
    budget: &Budget,
) -> Option<(Verdict, &'static str, Option<super::Evidence>)> {
    const MERGED: &str = "merged per-key orders";
    // Each step is checked against the budget, so a check past its time limit stops
    // within one step (each about linear in the history).
    let live = || budget.exhausted().is_none();
    let mut stuck = None;
    match saturate(model, ops, parts.len(), budget) {
        Saturated::Cycle(cycle) => {
            let evidence = cycle_evidence(&history.ops, ops, names, &cycle);
            return Some((Verdict::Invalid, "forced-order cycle", Some(evidence)));
        }
        Saturated::Orders(derived, saturation) if live() => match merge(model, ops, &derived) {
            Ok(_) => return Some((Verdict::Valid, MERGED, None)),
            Err(at) => stuck = Some((saturation, at)),
        },
        _ => {}
    }
    if let Some(own) = whole_orders(model, parts, ops, orders, budget) {
        if live() && merge(model, ops, &own).is_ok() {
            return Some((Verdict::Valid, MERGED, None));
        }
    }
    let (saturation, at) = stuck?;
    repair(model, ops, saturation, at, budget)?;
    Some((
        Verdict::Valid,
        "merged per-key orders, concurrent writes reordered",
        None,
    ))
}

/// Each key's order as indices into the whole history's operations `ops` (sorted by
/// id): the one its check found, else (a linearizable key) one the sequential
/// search finds now. `None` when a key's search stops on the budget.
fn whole_orders<M: Model>(
    model: &M,
    parts: &[KeyPart<M::Op>],
    ops: &[SeqOp<M::Op>],
    orders: Vec<Found<M::State>>,
    budget: &Budget,
) -> Option<Vec<KeyOrder<M::State>>> {
    let index = |id: usize| ops.binary_search_by_key(&id, |o| o.id).ok();
    parts
        .iter()
        .zip(orders)
        .map(|(part, order)| {
            let order = match order {
                Some(order) => order,
                None if budget.exhausted().is_none() => {
                    search_order(model, &part.seq, 1, budget).1?
                }
                None => return None,
            };
            order
                .into_iter()
                .map(|(j, s)| Some((index(part.seq[j as usize].id)? as u32, s)))
                .collect()
        })
        .collect()
}

/// Searches every key at once (each key one object of the model), after trying to
/// merge the keys' own orders into one (`merge`), which decides the common valid
/// case in linear time.
pub fn check_whole<M: Model>(
    history: &History,
    model: &M,
    parts: &[KeyPart<M::Op>],
    orders: Option<Vec<Found<M::State>>>,
    budget: &Budget,
    time: TimeLimit,
) -> WholeReport {
    let started = Instant::now();
    let mut ops: Vec<SeqOp<M::Op>> = Vec::with_capacity(parts.iter().map(|p| p.seq.len()).sum());
    for (object, part) in parts.iter().enumerate() {
        ops.extend(part.seq.iter().cloned().map(|mut o| {
            o.object = object as u32;
            o
        }));
    }
    // The search breaks ties by position; keep history order.
    ops.sort_by_key(|o| o.id);
    let names: Vec<Value> = parts.iter().map(|p| p.key.clone()).collect();
    let mut report = WholeReport {
        verdict: Verdict::Unknown,
        method: "search".into(),
        reason: None,
        stopped: None,
        keys: parts.len(),
        checked_ops: ops.len(),
        explored: 0,
        evidence: None,
        elapsed: Default::default(),
    };
    if let Some(reason) = budget.exhausted() {
        report.stopped = Some(reason);
        report.reason = Some(stopped_because(reason, budget, time, report.explored));
        return report;
    }
    if let Some(orders) = orders {
        if let Some((verdict, method, evidence)) =
            merge_first(history, model, parts, &ops, &names, orders, budget)
        {
            report.verdict = verdict;
            report.method = method.into();
            report.evidence = evidence;
            report.elapsed = started.elapsed();
            return report;
        }
    }
    let (result, _) = search_order(model, &ops, parts.len(), budget);
    report.explored = result.explored;
    match result.outcome {
        Outcome::Holds => report.verdict = Verdict::Valid,
        Outcome::Violation(Violation { prefix, starved }) => {
            report.verdict = Verdict::Invalid;
            report.evidence = Some(explain(
                model,
                &Value::Null,
                &names,
                &history.ops,
                &ops,
                &prefix,
                starved.as_ref(),
            ));
        }
        Outcome::Stopped(reason) => {
            report.stopped = Some(reason);
            report.reason = Some(stopped_because(reason, budget, time, report.explored));
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// The evidence for a cycle of forced order constraints (`saturate`): the
/// operations of the cycle, each of which must come before the next.
fn cycle_evidence<O>(
    history_ops: &[crate::history::Operation],
    ops: &[SeqOp<O>],
    names: &[Value],
    cycle: &[u32],
) -> super::Evidence {
    use crate::search::{BlockedOp, OpSummary, TAIL};
    let blocked: Vec<BlockedOp> = cycle
        .iter()
        .take(TAIL)
        .map(|&i| BlockedOp {
            op: OpSummary::of(&history_ops[ops[i as usize].id]),
            reason: format!(
                "on key {}; must come before the next one listed (the last before the first)",
                names
                    .get(ops[i as usize].object as usize)
                    .unwrap_or(&Value::Null)
            ),
        })
        .collect();
    let mut processes: Vec<u64> = cycle.iter().map(|&i| ops[i as usize].process).collect();
    processes.sort_unstable();
    processes.dedup();
    super::Evidence {
        key: Value::Null,
        whole_history: true,
        processes,
        prefix: Vec::new(),
        prefix_tail: Vec::new(),
        state: String::new(),
        blocked,
        starved: Some(format!(
            "{} operations must each come before the next in every sequential order (program order, reads-from, and writes that would overwrite a value before it is read), and the last before the first: no order exists",
            cycle.len()
        )),
    }
}
