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
    let x = Explainer::after(model, objects, history_ops, ops, prefix);
    let (mut blocked, processes, shown_objects) = x.blocked();
    // The operations that cannot happen at all first: they are the heart of it.
    blocked
        .sort_by_key(|b: &BlockedOp| (!b.reason.starts_with("cannot happen"), b.op.invoke_index));
    // Crashed operations the order left out are not part of it.
    let ordered: Vec<u32> = prefix
        .iter()
        .filter(|(_, after)| after.is_some())
        .map(|(i, _)| *i)
        .collect();
    Evidence {
        starved: starved.and_then(|st| x.starved(st)),
        key: if x.whole { Value::Null } else { key.clone() },
        whole_history: x.whole,
        processes,
        prefix: ordered.iter().map(|&i| ops[i as usize].id).collect(),
        prefix_tail: ordered[ordered.len().saturating_sub(TAIL)..]
            .iter()
            .map(|&i| x.summary(i))
            .collect(),
        state: x.state_text(shown_objects),
        blocked,
    }
}

/// The configuration after the search's longest order, and how to put it in words:
/// what [`explain`] needs, so each part of the evidence is its own method.
struct Explainer<'a, M: Model> {
    model: &'a M,
    objects: &'a [Value],
    history_ops: &'a [Operation],
    ops: &'a [SeqOp<M::Op>],
    /// Whether the search was over every key at once (`objects` names them).
    whole: bool,
    /// Which operations the order placed (or left out, for crashed ones).
    done: Vec<bool>,
    /// Each object's state after the order.
    states: Vec<M::State>,
}

impl<'a, M: Model> Explainer<'a, M> {
    /// Replays `prefix` to find the configuration it leaves.
    fn after(
        model: &'a M,
        objects: &'a [Value],
        history_ops: &'a [Operation],
        ops: &'a [SeqOp<M::Op>],
        prefix: &[(u32, Option<M::State>)],
    ) -> Self {
        let mut states = vec![model.init(); objects.len().max(1)];
        let mut done = vec![false; ops.len()];
        for (i, after) in prefix {
            done[*i as usize] = true;
            if let Some(s) = after {
                states[ops[*i as usize].object as usize] = s.clone();
            }
        }
        Explainer {
            model,
            objects,
            history_ops,
            ops,
            whole: !objects.is_empty(),
            done,
            states,
        }
    }

    /// The search's operation `i`, spelled out as in the history.
    fn summary(&self, i: u32) -> OpSummary {
        OpSummary::of(&self.history_ops[self.ops[i as usize].id])
    }

    /// Where an operation on object `o` is stuck: "in state ..." for one key, "when
    /// key ... holds ..." for a whole-history search.
    fn where_(&self, o: u32, state: &M::State) -> String {
        if self.whole {
            format!(
                "when key {} holds {}",
                self.objects[o as usize],
                self.model.describe_state(state)
            )
        } else {
            format!("in state {}", self.model.describe_state(state))
        }
    }

    /// "key K " for a whole-history search, nothing for one key.
    fn key_of(&self, o: u32) -> String {
        if self.whole {
            format!("key {} ", self.objects[o as usize])
        } else {
            String::new()
        }
    }

    /// Each process's next operation with why it cannot come next; the processes
    /// that still had operations to order; the objects those operations touch.
    fn blocked(&self) -> (Vec<BlockedOp>, Vec<u64>, Vec<u32>) {
        let chains = Chains::new(self.ops);
        let mut blocked = Vec::new();
        let mut processes = Vec::new();
        let mut shown_objects: Vec<u32> = Vec::new();
        for (c, chain) in chains.chains.iter().enumerate() {
            let Some(&next) = chain.iter().find(|&&i| !self.done[i as usize]) else {
                continue;
            };
            if chain
                .iter()
                .all(|&i| self.done[i as usize] || self.ops[i as usize].open)
            {
                // Only crashed operations left: nothing this process must still do.
                continue;
            }
            processes.push(chains.process[c]);
            let object = self.ops[next as usize].object;
            if !shown_objects.contains(&object) {
                shown_objects.push(object);
            }
            blocked.push(BlockedOp {
                op: self.summary(next),
                reason: self.why_blocked(next),
            });
        }
        (blocked, processes, shown_objects)
    }

    /// Why operation `next` cannot come next: it cannot happen in its object's state
    /// (and, if it needs a value, whether anything left can set it), or it can but
    /// nothing after it has an order.
    fn why_blocked(&self, next: u32) -> String {
        let (model, op) = (self.model, &self.ops[next as usize]);
        let state = &self.states[op.object as usize];
        let mut after = Vec::new();
        model.successors(state, &op.op, &mut after);
        if !after.is_empty() {
            let leaves: Vec<String> = after.iter().map(|s| model.describe_state(s)).collect();
            return format!(
                "could happen (leaving {}), but then the operations left have no order",
                leaves.join(" or ")
            );
        }
        let mut r = format!("cannot happen {}", self.where_(op.object, state));
        let resets = matches!(model.growth(&op.op), Growth::Observes | Growth::Replaces);
        if let (true, Some(need)) = (resets, model.required_state(&op.op)) {
            let helper = self.ops.iter().enumerate().any(|(j, o)| {
                !self.done[j]
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
    }

    /// The state after the order: the key's, or for a whole-history search each
    /// shown key's.
    fn state_text(&self, mut shown_objects: Vec<u32>) -> String {
        if !self.whole {
            return self.model.describe_state(&self.states[0]);
        }
        shown_objects.sort_unstable();
        let parts: Vec<String> = shown_objects
            .iter()
            .map(|&o| {
                format!(
                    "key {} = {}",
                    self.objects[o as usize],
                    self.model.describe_state(&self.states[o as usize])
                )
            })
            .collect();
        parts.join(", ")
    }

    /// The operation the search saw could never happen, and why, when it knew at once.
    fn starved(&self, st: &Starved<M::State>) -> Option<String> {
        let (model, ops) = (self.model, self.ops);
        let (victim, why) = match st {
            Starved::Value(object, value) => {
                let victim = (0..ops.len()).find(|&j| {
                    !self.done[j]
                        && !ops[j].open
                        && ops[j].object == *object
                        && model.required_state(&ops[j].op).as_ref() == Some(value)
                })?;
                (
                    victim as u32,
                    format!(
                        "it needs {}{}, and once the order above is taken no operation left sets it again",
                        self.key_of(*object),
                        model.describe_state(value)
                    ),
                )
            }
            Starved::Observer(o) => (
                *o,
                format!(
                    "{}can no longer reach a state in which it happens",
                    self.key_of(ops[*o as usize].object)
                ),
            ),
        };
        Some(format!("{} can never happen: {why}", self.summary(victim)))
    }
}
