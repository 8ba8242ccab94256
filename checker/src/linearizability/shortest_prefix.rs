//! Where a key's history stops being linearizable: the shortest prefix, in real
//! time, that is already not linearizable, and the operation whose return ends it.
//!
//! Why. The search's counterexample is its stuck point: the earliest-returning
//! operation left out of the longest linearizable order it found. That order is one
//! of many, so the stuck point can sit seconds before the real anomaly (a read at
//! 0.3 s blamed when the history is linearizable up to 22 s and the final reads,
//! after every node was killed, are what no order explains). The shortest
//! non-linearizable prefix does not depend on the search's choices: up to just before
//! its end the history is linearizable, and the return that ends it is the first
//! moment at which no linearization exists.
//!
//! How. A prefix cut at time `t` keeps the operations invoked by `t`; those that
//! returned by `t` keep their outcome, the others become indeterminate (they may or
//! may not have taken effect, as a crashed client's). Not being linearizable is
//! monotone in `t` (a later cut only adds operations that may be left out and
//! outcomes that constrain), so a binary search over the returns of the key's
//! operations finds the first cut that is not linearizable, with the exact checker
//! deciding each cut: about log2(n) checks of one key.

use super::report::{Counterexample, Report};
use super::Options;
use crate::history::{History, Operation, Outcome};
use crate::model::ModelError;
use crate::search::OpSummary;
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};

/// At most this many concurrent operations are spelled out.
const CONCURRENT: usize = 20;

/// The shortest non-linearizable prefix of one key's history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShortestPrefix {
    /// When the prefix ends (the history's clock, ns): the return of [`Self::ends`].
    pub time: u64,
    /// The operation whose return ends the prefix: the key's history up to just
    /// before it returned is linearizable, and with its result it is not.
    pub ends: OpSummary,
    /// The key's operations whose intervals overlap it (in invocation order, at most
    /// 20): the ones it could have been ordered around.
    pub concurrent: Vec<OpSummary>,
    /// How many of the key's operations the prefix holds (invoked by its end).
    pub ops: usize,
    /// How many of the key's operations the whole history holds.
    pub key_ops: usize,
    /// Every shorter cut was decided linearizable. False when a time limit left a
    /// shorter cut undecided: the prefix is then not linearizable, but a shorter one
    /// may be too.
    pub minimal: bool,
    /// The search's explanation of the prefix (operation ids are the history's).
    pub counterexample: Box<Counterexample>,
}

/// One key's operations, as the checker sees them.
struct KeyOps<'a> {
    ops: Vec<&'a Operation>,
}

impl KeyOps<'_> {
    /// The times at which the key's operations returned (ok or fail), sorted: the
    /// cuts worth deciding (a prefix changes only when an outcome is known).
    fn returns(&self) -> Vec<u64> {
        let mut cuts: Vec<u64> = self
            .ops
            .iter()
            .filter(|op| op.outcome != Outcome::Info && op.ret != u64::MAX)
            .map(|op| op.ret)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }

    /// The prefix cut at `t`, as a history of its own (ids renumbered from 0;
    /// `ops[i]` is the source of operation `i`).
    fn cut(&self, t: u64) -> History {
        let ops = self
            .ops
            .iter()
            .filter(|op| op.call <= t)
            .enumerate()
            .map(|(id, op)| {
                let mut op = (*op).clone();
                op.id = id;
                if op.ret > t {
                    op.outcome = Outcome::Info;
                    op.output = Value::Null;
                    op.ret = u64::MAX;
                    op.complete_index = None;
                }
                op
            })
            .collect();
        History {
            events: Vec::new(),
            ops,
        }
    }
}

/// The shortest prefix of `key`'s operations in `history` that is not linearizable,
/// decided by `check` (the exact checker with the model of the failing check), within
/// `limit` in all. `None` when no cut is proven not linearizable in time (or the
/// key's whole history is linearizable).
pub fn shortest_invalid_prefix(
    history: &History,
    key: &Value,
    limit: Option<Duration>,
    mut check: impl FnMut(&History, &Options) -> Result<Report, ModelError>,
) -> Result<Option<ShortestPrefix>, ModelError> {
    let started = Instant::now();
    let key_ops = KeyOps {
        ops: history
            .ops
            .iter()
            .filter(|op| op.key.as_ref().unwrap_or(&Value::Null) == key)
            .collect(),
    };
    let cuts = key_ops.returns();
    let decide = |t: u64| -> Result<Option<(History, Report)>, ModelError> {
        let remaining = match limit {
            Some(l) => match l.checked_sub(started.elapsed()) {
                Some(r) if !r.is_zero() => Some(r),
                _ => return Ok(None),
            },
            None => None,
        };
        let options = Options {
            timeout: remaining,
            ..Options::default()
        };
        let prefix = key_ops.cut(t);
        let report = check(&prefix, &options)?;
        Ok(Some((prefix, report)))
    };
    let Some(first) = first_invalid(&cuts, decide)? else {
        return Ok(None);
    };
    let (hi, prefix, report) = (first.index, first.prefix, first.report);
    let t = cuts[hi];
    let Some(mut ce) = report.counterexample else {
        return Ok(None);
    };
    renumber(&mut ce, &prefix, &key_ops, t);
    // The cut is some operation's return, by construction.
    let Some(ends) = key_ops
        .ops
        .iter()
        .copied()
        .filter(|op| op.ret == t && op.outcome != Outcome::Info)
        .min_by_key(|op| op.call)
    else {
        return Ok(None);
    };
    let concurrent = key_ops
        .ops
        .iter()
        .filter(|op| op.id != ends.id && op.call < ends.ret && op.ret > ends.call)
        .take(CONCURRENT)
        .map(|op| OpSummary::of(op))
        .collect();
    Ok(Some(ShortestPrefix {
        time: t,
        ends: OpSummary::of(ends),
        concurrent,
        ops: prefix.ops.len(),
        key_ops: key_ops.ops.len(),
        minimal: first.minimal,
        counterexample: Box::new(ce),
    }))
}

/// The first cut found not linearizable, its prefix and report, and whether every
/// shorter cut was decided linearizable.
struct FirstInvalid {
    index: usize,
    prefix: History,
    report: Report,
    minimal: bool,
}

/// Binary search over `cuts` (sorted) for the first one `decide` finds not
/// linearizable; `decide` answers `None` when out of time. A cut left undecided
/// counts as linearizable, and the answer is then not proven minimal.
fn first_invalid(
    cuts: &[u64],
    mut decide: impl FnMut(u64) -> Result<Option<(History, Report)>, ModelError>,
) -> Result<Option<FirstInvalid>, ModelError> {
    // Invariant: every cut below `lo` is linearizable or undecided; `cuts[hi]` is not
    // linearizable once `found` holds it.
    let (mut lo, mut hi) = (0, cuts.len());
    let mut found: Option<(History, Report)> = None;
    let mut undecided_below: Option<usize> = None;
    while lo < hi {
        let mid = (lo + hi) / 2;
        match decide(cuts[mid])? {
            Some((prefix, report)) if report.verdict == Verdict::Invalid => {
                hi = mid;
                found = Some((prefix, report));
            }
            Some((_, report)) => {
                if report.verdict == Verdict::Unknown {
                    undecided_below = Some(mid);
                }
                lo = mid + 1;
            }
            None => {
                undecided_below = Some(mid);
                lo = mid + 1;
            }
        }
    }
    Ok(found.map(|(prefix, report)| FirstInvalid {
        index: hi,
        prefix,
        report,
        minimal: undecided_below.is_none_or(|u| u > hi),
    }))
}

/// Puts the history's own operation ids (and, for operations still open at the cut,
/// their real outcomes) back into a counterexample found on a cut.
fn renumber(ce: &mut Counterexample, prefix: &History, key_ops: &KeyOps, t: u64) {
    let sources: Vec<&Operation> = key_ops
        .ops
        .iter()
        .copied()
        .filter(|o| o.call <= t)
        .collect();
    debug_assert_eq!(sources.len(), prefix.ops.len());
    let id = |i: usize| sources.get(i).map_or(i, |o| o.id);
    for p in &mut ce.prefix {
        *p = id(*p);
    }
    let fix = |s: &mut OpSummary| s.id = id(s.id);
    ce.prefix_tail.iter_mut().for_each(fix);
    fix(&mut ce.must_precede);
    ce.blocked.iter_mut().for_each(|b| fix(&mut b.op));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventType, Process};
    use crate::model::BuiltinModel;
    use crate::model::CasFailMeaning;
    use serde_json::json;

    /// Events from `(process, type, f, value, time ms)`, on key 1.
    fn history(events: &[(u64, EventType, &str, Value, u64)]) -> History {
        let events = events
            .iter()
            .enumerate()
            .map(|(i, (p, kind, f, value, ms))| {
                Event::new(i as u64, ms * 1_000_000, Process::Client(*p), *kind, *f)
                    .with_value(value.clone())
                    .with_key(json!(1))
            })
            .collect();
        History::from_events(events).unwrap()
    }

    fn shortest(h: &History) -> Option<ShortestPrefix> {
        let model = BuiltinModel::CasRegister(CasFailMeaning::FromError);
        shortest_invalid_prefix(h, &json!(1), None, |h, o| model.check(h, o)).unwrap()
    }

    use EventType::{Invoke as I, Ok as K};

    /// Writes 1, 2, 3 and reads that follow them, then at 90 ms a read of 1: only
    /// that last read is impossible.
    fn late_stale_read() -> History {
        let mut e = Vec::new();
        let mut t = 0;
        for v in 1..=3 {
            e.push((0, I, "write", json!(v), t));
            e.push((0, K, "write", json!(v), t + 2));
            e.push((1, I, "read", Value::Null, t + 3));
            e.push((1, K, "read", json!(v), t + 4));
            t += 10;
        }
        e.push((2, I, "read", Value::Null, 88));
        e.push((2, K, "read", json!(1), 90));
        history(&e)
    }

    #[test]
    fn the_prefix_ends_at_the_return_that_no_order_explains() {
        let h = late_stale_read();
        let found = shortest(&h).expect("not linearizable");
        assert_eq!(found.time, 90_000_000);
        assert_eq!(found.ends.f, "read");
        assert_eq!(found.ends.output, json!(1));
        assert_eq!(found.ends.id, h.ops.len() - 1);
        assert_eq!(found.ops, h.ops.len());
        assert!(found.minimal);
        // The explanation speaks of the history's own operations (its stuck point
        // may be another operation than the one that ends the prefix).
        let stuck = &found.counterexample.must_precede;
        assert_eq!(h.ops[stuck.id].invoke_index, stuck.invoke_index);
        for b in &found.counterexample.blocked {
            assert_eq!(h.ops[b.op.id].invoke_index, b.op.invoke_index);
        }
    }

    #[test]
    fn operations_after_the_anomaly_do_not_move_the_end_of_the_prefix() {
        let mut e: Vec<(u64, EventType, &str, Value, u64)> = vec![
            (0, I, "write", json!(1), 0),
            (0, K, "write", json!(1), 1),
            (0, I, "write", json!(2), 2),
            (0, K, "write", json!(2), 3),
            (1, I, "read", Value::Null, 4),
            (1, K, "read", json!(1), 5),
        ];
        // A long linearizable tail after the stale read at 5 ms.
        for i in 0..50u64 {
            e.push((0, I, "write", json!(10 + i), 10 + 2 * i));
            e.push((0, K, "write", json!(10 + i), 11 + 2 * i));
        }
        let h = history(&e);
        let found = shortest(&h).expect("not linearizable");
        assert_eq!(found.time, 5_000_000);
        assert_eq!(found.ends.id, 2, "the stale read");
        assert_eq!(found.ops, 3);
        assert_eq!(found.key_ops, 53);
    }

    #[test]
    fn an_operation_open_at_the_cut_may_take_effect_and_concurrent_ones_are_named() {
        // A write of 2 invoked at 2 ms returns only at 50 ms; a read at 10 ms sees 2
        // (fine: the write is in flight), a read at 20 ms sees 1 after that (not
        // linearizable once it returns at 21 ms, with the write still open).
        let h = history(&[
            (0, I, "write", json!(1), 0),
            (0, K, "write", json!(1), 1),
            (1, I, "write", json!(2), 2),
            (2, I, "read", Value::Null, 9),
            (2, K, "read", json!(2), 10),
            (2, I, "read", Value::Null, 20),
            (2, K, "read", json!(1), 21),
            (1, K, "write", json!(2), 50),
        ]);
        let found = shortest(&h).expect("not linearizable");
        assert_eq!(found.time, 21_000_000);
        assert_eq!(found.ends.output, json!(1));
        let concurrent: Vec<(String, Value)> = found
            .concurrent
            .iter()
            .map(|o| (o.f.clone(), o.input.clone()))
            .collect();
        assert_eq!(concurrent, [("write".to_string(), json!(2))]);
    }

    #[test]
    fn a_shorter_cut_left_undecided_is_said_and_a_later_invalid_cut_still_found() {
        let h = late_stale_read();
        let model = BuiltinModel::CasRegister(CasFailMeaning::FromError);
        // As if the time limit struck on every cut of fewer than 7 operations.
        let found = shortest_invalid_prefix(&h, &json!(1), None, |h, o| {
            let mut report = model.check(h, o)?;
            if h.ops.len() < 7 {
                report.verdict = Verdict::Unknown;
            }
            Ok(report)
        })
        .unwrap()
        .expect("not linearizable");
        assert_eq!(found.time, 90_000_000);
        assert!(!found.minimal);
        // Out of time before any cut: nothing is claimed.
        let none = shortest_invalid_prefix(&h, &json!(1), Some(Duration::ZERO), |h, o| {
            model.check(h, o)
        })
        .unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn a_linearizable_key_has_no_shortest_invalid_prefix() {
        let h = history(&[
            (0, I, "write", json!(1), 0),
            (0, K, "write", json!(1), 1),
            (1, I, "read", Value::Null, 2),
            (1, K, "read", json!(1), 3),
        ]);
        assert!(shortest(&h).is_none());
    }
}
