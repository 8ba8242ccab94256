//! Turns a failed search into evidence: the longest order the search could justify,
//! the state it leaves, and for every process with operations left, its next one and
//! why it cannot come next.

use super::chains::{Chains, SeqOp};
use super::feasibility::Starved;
use super::report::Evidence;
use crate::history::Operation;
use crate::model::{Growth, Model};
use crate::search::{BlockedOp, OpSummary, TAIL};
use serde_json::Value;

/// `prefix` is the search's longest order ([`super::search::Violation`]);
/// `objects[o]` names object `o` (its key) for a whole-history search, and is empty
/// for a search over one key (`key`).
pub fn explain<M: Model>(
    model: &M,
    key: &Value,
    objects: &[Value],
    history_ops: &[Operation],
    ops: &[SeqOp<M::Op>],
    prefix: &[(u32, Option<M::State>)],
    starved: Option<&Starved<M::State>>,
) -> Evidence {
    let whole = !objects.is_empty();
    let mut states = vec![model.init(); objects.len().max(1)];
    let mut done = vec![false; ops.len()];
    for (i, after) in prefix {
        done[*i as usize] = true;
        if let Some(s) = after {
            states[ops[*i as usize].object as usize] = s.clone();
        }
    }
    let chains = Chains::new(ops);
    let where_ = |o: u32, state: &M::State| -> String {
        if whole {
            format!(
                "when key {} holds {}",
                objects[o as usize],
                model.describe_state(state)
            )
        } else {
            format!("in state {}", model.describe_state(state))
        }
    };
    let summary = |i: u32| OpSummary::of(&history_ops[ops[i as usize].id]);
    let mut blocked = Vec::new();
    let mut processes = Vec::new();
    let mut shown_objects: Vec<u32> = Vec::new();
    for (c, chain) in chains.chains.iter().enumerate() {
        let Some(&next) = chain.iter().find(|&&i| !done[i as usize]) else {
            continue;
        };
        if chain
            .iter()
            .all(|&i| done[i as usize] || ops[i as usize].open)
        {
            // Only crashed operations left: nothing this process must still do.
            continue;
        }
        processes.push(chains.process[c]);
        let op = &ops[next as usize];
        let state = &states[op.object as usize];
        if !shown_objects.contains(&op.object) {
            shown_objects.push(op.object);
        }
        let mut after = Vec::new();
        model.successors(state, &op.op, &mut after);
        let reason = if after.is_empty() {
            let mut r = format!("cannot happen {}", where_(op.object, state));
            let resets = matches!(model.growth(&op.op), Growth::Observes | Growth::Replaces);
            if let (true, Some(need)) = (resets, model.required_state(&op.op)) {
                let helper = ops.iter().enumerate().any(|(j, o)| {
                    !done[j]
                        && o.object == op.object
                        && model.reset_state(&o.op).as_ref() == Some(&need)
                });
                if !helper {
                    r.push_str(&format!(
                        ", and no operation left to order sets it to {}",
                        model.describe_state(&need)
                    ));
                }
            }
            r
        } else {
            let leaves: Vec<String> = after.iter().map(|s| model.describe_state(s)).collect();
            format!(
                "could happen (leaving {}), but then the operations left have no order",
                leaves.join(" or ")
            )
        };
        blocked.push(BlockedOp {
            op: summary(next),
            reason,
        });
    }
    // The operations that cannot happen at all first: they are the heart of it.
    blocked
        .sort_by_key(|b: &BlockedOp| (!b.reason.starts_with("cannot happen"), b.op.invoke_index));
    // Crashed operations the order left out are not part of it.
    let ordered: Vec<u32> = prefix
        .iter()
        .filter(|(_, after)| after.is_some())
        .map(|(i, _)| *i)
        .collect();
    let state = if whole {
        shown_objects.sort_unstable();
        let parts: Vec<String> = shown_objects
            .iter()
            .map(|&o| {
                format!(
                    "key {} = {}",
                    objects[o as usize],
                    model.describe_state(&states[o as usize])
                )
            })
            .collect();
        parts.join(", ")
    } else {
        model.describe_state(&states[0])
    };
    let key_of = |o: u32| -> String {
        if whole {
            format!("key {} ", objects[o as usize])
        } else {
            String::new()
        }
    };
    let starved = starved.and_then(|st| {
        let (victim, why) = match st {
            Starved::Value(object, value) => {
                let victim = (0..ops.len()).find(|&j| {
                    !done[j]
                        && !ops[j].open
                        && ops[j].object == *object
                        && model.required_state(&ops[j].op).as_ref() == Some(value)
                })?;
                (
                    victim as u32,
                    format!(
                        "it needs {}{}, and once the order above is taken no operation left sets it again",
                        key_of(*object),
                        model.describe_state(value)
                    ),
                )
            }
            Starved::Observer(o) => (
                *o,
                format!(
                    "{}can no longer reach a state in which it happens",
                    key_of(ops[*o as usize].object)
                ),
            ),
        };
        Some(format!("{} can never happen: {why}", summary(victim)))
    });
    Evidence {
        starved,
        key: if whole { Value::Null } else { key.clone() },
        whole_history: whole,
        processes,
        prefix: ordered.iter().map(|&i| ops[i as usize].id).collect(),
        prefix_tail: ordered[ordered.len().saturating_sub(TAIL)..]
            .iter()
            .map(|&i| summary(i))
            .collect(),
        state,
        blocked,
    }
}
