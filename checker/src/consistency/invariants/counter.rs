//! The counter invariant: every read lies between what was surely added and what
//! might have been.
//!
//! For a read `r` (invoked at `call`, completed at `ret`), an increment `a` is
//! *certain* if it was acknowledged before `r` began (`a.ret < r.call`) and
//! *possible* if it was invoked before `r` ended (`a.call < r.ret`) and did not fail.
//! Then `r` must lie in `[certain + Σ possible-uncertain negatives, certain + Σ
//! possible-uncertain positives]`; with only positive increments that is
//! `[acknowledged before the read, attempted before it ended]`. Counters are
//! separated by key. One sort, then a binary search per read: O(n log n).

use crate::consistency::{
    is_read, Atom, Examples, FastMap, OpRef, ShapeError, DEFAULT_MAX_EXAMPLES,
};
use crate::history::{History, Outcome};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterOptions {
    /// The counter's value before the test.
    pub initial: i64,
    pub max_examples: usize,
}

impl Default for CounterOptions {
    fn default() -> Self {
        CounterOptions {
            initial: 0,
            max_examples: DEFAULT_MAX_EXAMPLES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterViolation {
    pub read: OpRef,
    pub process: u64,
    pub key: Value,
    /// The bounds the read had to lie within, inclusive.
    pub lower: i128,
    pub upper: i128,
    pub observed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterReport {
    pub verdict: Verdict,
    pub keys: u64,
    pub reads_checked: u64,
    pub increments_acknowledged: u64,
    pub increments_indeterminate: u64,
    pub violations: Examples<CounterViolation>,
}

/// An increment that may have happened: when, whether acknowledged, by how much.
struct Inc {
    call: u64,
    ret: u64,
    ok: bool,
    amount: i128,
}

/// Checks that every counter read lies within what the increments around it allow.
pub fn check(history: &History, opts: &CounterOptions) -> Result<CounterReport, ShapeError> {
    let mut report = CounterReport {
        verdict: Verdict::Valid,
        keys: 0,
        reads_checked: 0,
        increments_acknowledged: 0,
        increments_indeterminate: 0,
        violations: Examples::new(),
    };
    let (order, by_key) = by_key(history, &mut report)?;
    report.keys = order.len() as u64;
    for atom in &order {
        let (incs, reads) = &by_key[atom];
        check_key(history, opts, incs, reads, &mut report);
    }
    if report.violations.count > 0 {
        report.verdict = Verdict::Invalid;
    }
    Ok(report)
}

/// One key's increments that may have happened, and its successful reads (ids).
type KeyOps = (Vec<Inc>, Vec<usize>);

/// Each key's increments that may have happened and successful reads (keys in
/// order of first appearance), counting the increments in `report`. Refuses an add
/// without an integer increment and a read without an integer.
fn by_key(
    history: &History,
    report: &mut CounterReport,
) -> Result<(Vec<Atom>, FastMap<Atom, KeyOps>), ShapeError> {
    let mut by_key: FastMap<Atom, KeyOps> = FastMap::default();
    let mut order: Vec<Atom> = Vec::new();
    for op in &history.ops {
        let atom = op.key.as_ref().map(Atom::of).unwrap_or(Atom::Null);
        let is_add = op.f == "add" && op.outcome != Outcome::Fail;
        let is_ok_read = is_read(op) && op.outcome == Outcome::Ok;
        if !is_add && !is_ok_read {
            continue;
        }
        let entry = by_key.entry(atom.clone()).or_insert_with(|| {
            order.push(atom);
            (Vec::new(), Vec::new())
        });
        if is_add {
            let Some(amount) = op.input.as_i64() else {
                return Err(ShapeError::at(
                    op,
                    format!(
                        "a counter add must carry an integer increment, found {}",
                        op.input
                    ),
                ));
            };
            match op.outcome {
                Outcome::Ok => report.increments_acknowledged += 1,
                _ => report.increments_indeterminate += 1,
            }
            entry.0.push(Inc {
                call: op.call,
                ret: op.ret,
                ok: op.outcome == Outcome::Ok,
                amount: amount as i128,
            });
        } else {
            if op.output.as_i64().is_none() {
                return Err(ShapeError::at(
                    op,
                    format!("a counter read must return an integer, found {}", op.output),
                ));
            }
            entry.1.push(op.id);
        }
    }
    Ok((order, by_key))
}

/// Checks each read of one key against the bounds the increments allow: every
/// increment possibly begun before the read returned may count (the negative ones
/// for the lower bound, the positive for the upper), every one certainly finished
/// before it began must.
fn check_key(
    history: &History,
    opts: &CounterOptions,
    incs: &[Inc],
    reads: &[usize],
    report: &mut CounterReport,
) {
    // Possible increments by invocation time, with prefix sums of their negative and
    // positive parts; certain ones by completion time, with prefix sums of what
    // certainty adds on top of the possible bound.
    let mut by_call: Vec<&Inc> = incs.iter().collect();
    by_call.sort_by_key(|i| i.call);
    let mut neg = vec![0i128];
    let mut pos = vec![0i128];
    for i in &by_call {
        neg.push(neg.last().unwrap() + i.amount.min(0));
        pos.push(pos.last().unwrap() + i.amount.max(0));
    }
    let mut certain: Vec<&Inc> = incs.iter().filter(|i| i.ok).collect();
    certain.sort_by_key(|i| i.ret);
    let mut lo_extra = vec![0i128];
    let mut hi_extra = vec![0i128];
    for i in &certain {
        lo_extra.push(lo_extra.last().unwrap() + (i.amount - i.amount.min(0)));
        hi_extra.push(hi_extra.last().unwrap() + (i.amount - i.amount.max(0)));
    }
    for &rid in reads {
        let r = &history.ops[rid];
        report.reads_checked += 1;
        let observed = r.output.as_i64().unwrap();
        let possible = by_call.partition_point(|i| i.call < r.ret);
        let sure = certain.partition_point(|i| i.ret < r.call);
        let base = opts.initial as i128;
        let lower = base + neg[possible] + lo_extra[sure];
        let upper = base + pos[possible] + hi_extra[sure];
        if (observed as i128) < lower || (observed as i128) > upper {
            report
                .violations
                .offer(opts.max_examples, || CounterViolation {
                    read: OpRef::of(r),
                    process: r.process,
                    key: crate::consistency::show_key(&r.key),
                    lower,
                    upper,
                    observed,
                });
        }
    }
}
