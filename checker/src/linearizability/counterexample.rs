//! Turns a failed search into an explanation: after the longest linearizable prefix,
//! which operation had to take effect before it returned, and why no operation can
//! come next.

use super::future_read::FutureRead;
use super::report::Counterexample;
use super::search::Prepared;
use crate::history::Operation;
use crate::model::Model;
use crate::search::{BlockedOp, OpSummary, TAIL};
use serde_json::Value;

/// `ops[i]` is the search's operation `i`, and `ids[i]` its [`Operation::id`].
pub fn explain<M: Model>(
    model: &M,
    key: &Value,
    history_ops: &[Operation],
    ops: &[Prepared<M::Op>],
    ids: &[usize],
    prefix: &[usize],
    state: &M::State,
) -> Counterexample {
    let mut done = vec![false; ops.len()];
    for &i in prefix {
        done[i] = true;
    }
    // The earliest-returning operation left out is the one the search could not get
    // past: it must be linearized before it returns, and every candidate failed.
    let stuck = (0..ops.len())
        .filter(|&i| !done[i] && !ops[i].is_open())
        .min_by_key(|&i| (ops[i].ret, ops[i].call));
    let summary = |i: usize| OpSummary::of(&history_ops[ids[i]]);
    let prefix_ids: Vec<usize> = prefix.iter().map(|&i| ids[i]).collect();
    let prefix_tail = prefix[prefix.len().saturating_sub(TAIL)..]
        .iter()
        .map(|&i| summary(i))
        .collect();
    let Some(stuck) = stuck else {
        // Cannot happen for a real violation (a search that placed every returned
        // operation succeeds), but an explanation must never panic.
        return Counterexample {
            key: key.clone(),
            shortest_prefix: None,
            prefix: prefix_ids,
            prefix_tail,
            state: model.describe_state(state),
            must_precede: summary(prefix.last().copied().unwrap_or(0)),
            blocked: Vec::new(),
            impossible: None,
        };
    };
    let deadline = ops[stuck].ret;
    let mut blocked = Vec::new();
    let mut next = Vec::new();
    let mut candidates: Vec<usize> = (0..ops.len())
        .filter(|&i| !done[i] && ops[i].call <= deadline)
        .collect();
    candidates.sort_by_key(|&i| (ops[i].call, i));
    for i in candidates {
        next.clear();
        model.successors(state, &ops[i].op, &mut next);
        let reason = if next.is_empty() {
            format!("cannot happen in state {}", model.describe_state(state))
        } else {
            let after: Vec<String> = next.iter().map(|s| model.describe_state(s)).collect();
            format!(
                "could happen (leaving {}), but then the rest of the history has no valid order",
                after.join(" or ")
            )
        };
        blocked.push(BlockedOp {
            op: summary(i),
            reason,
        });
    }
    Counterexample {
        key: key.clone(),
        shortest_prefix: None,
        prefix: prefix_ids,
        prefix_tail,
        state: model.describe_state(state),
        must_precede: summary(stuck),
        blocked,
        impossible: None,
    }
}

/// Explains a violation the future-read pre-check found: the observation, what it
/// needed, and the operations that produce that, each invoked after it completed.
/// The prefix is empty: no search ran.
pub fn explain_future_read<M: Model>(
    model: &M,
    key: &Value,
    history_ops: &[Operation],
    ids: &[usize],
    found: &FutureRead,
) -> Counterexample {
    let read = &history_ops[ids[found.read]];
    let completed = read
        .complete_index
        .map_or(String::new(), |c| format!(" (event {c})"));
    let why = if found.producers.is_empty() {
        "it needs a state that is not the initial one and that no operation in the history produces"
            .to_string()
    } else {
        format!(
            "it needs a state that is not the initial one and that only operations invoked after it completed{completed} produce"
        )
    };
    let blocked = found
        .producers
        .iter()
        .map(|&i| {
            let op = &history_ops[ids[i]];
            BlockedOp {
                op: OpSummary::of(op),
                reason: format!(
                    "invoked at event {}, after op {} completed{completed}",
                    op.invoke_index, read.id
                ),
            }
        })
        .collect();
    Counterexample {
        key: key.clone(),
        shortest_prefix: None,
        prefix: Vec::new(),
        prefix_tail: Vec::new(),
        state: model.describe_state(&model.init()),
        must_precede: OpSummary::of(read),
        blocked,
        impossible: Some(why),
    }
}
