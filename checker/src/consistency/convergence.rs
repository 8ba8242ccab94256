//! Convergence: after the final heal and a quiet period, the final reads of every
//! key from every node agree.
//!
//! The final heal is the time of the last nemesis event in the history (the runner
//! heals everything as the nemesis's last act); the quiet period the history shows is
//! the gap between it and the first `final-read`. Rules in `docs/consistency.md`.

use super::eventual::{Collection, EventualOptions};
use super::{
    is_read, show_key, show_list, Atom, Examples, FastMap, OpRef, ShapeError, FINAL_READ_F,
};
use crate::history::{History, Operation, Outcome, Process};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalValue {
    pub nodes: Vec<String>,
    pub reads: Vec<OpRef>,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub key: Value,
    /// At least two groups, largest first.
    pub values: Vec<FinalValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceReport {
    pub verdict: Verdict,
    /// Time of the last nemesis event (the final heal), if the history has one.
    pub final_heal_ns: Option<u64>,
    /// Invocation time of the first final read.
    pub first_final_read_ns: Option<u64>,
    /// The quiet period the history shows: first final read minus final heal.
    pub quiet_ns: Option<u64>,
    pub keys_checked: u64,
    pub divergent_keys: Examples<Divergence>,
    /// What kept convergence from being judged fully: missing or failed final reads,
    /// final reads before the final heal, a quiet period shorter than promised.
    pub problems: Examples<String>,
}

/// What a final read returned, in a form where equal means converged.
fn canonical(collection: Collection, op: &Operation) -> Result<Vec<Atom>, ShapeError> {
    let list = |v: &Value| -> Result<Vec<Atom>, ShapeError> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => Ok(items.iter().map(Atom::of).collect()),
            other => Err(ShapeError::at(
                op,
                format!("a final read must return a list or null, found {other}"),
            )),
        }
    };
    Ok(match collection {
        Collection::Append => list(&op.output)?,
        Collection::Set => {
            let mut atoms = list(&op.output)?;
            atoms.sort();
            atoms.dedup();
            atoms
        }
        Collection::Register => match op.output.get("siblings").and_then(Value::as_array) {
            Some(siblings) => {
                let mut atoms: Vec<Atom> = siblings.iter().map(Atom::of).collect();
                atoms.sort();
                atoms
            }
            None => vec![Atom::of(&op.output)],
        },
    })
}

/// The node a final read went to, or its process where the history does not say.
pub(crate) fn node_name(op: &Operation) -> String {
    op.node
        .clone()
        .unwrap_or_else(|| format!("process {}", op.process))
}

/// Judges whether the final reads of every key agree.
pub fn convergence(
    history: &History,
    opts: &EventualOptions,
) -> Result<ConvergenceReport, ShapeError> {
    let limit = opts.max_examples;
    let final_heal = history
        .events
        .iter()
        .filter(|e| e.process == Process::Nemesis)
        .map(|e| e.time)
        .max();
    let finals: Vec<&Operation> = history.ops.iter().filter(|o| o.f == FINAL_READ_F).collect();
    let first_final = finals.iter().map(|o| o.call).min();
    let quiet = match (final_heal, first_final) {
        (Some(h), Some(f)) => Some(f.saturating_sub(h)),
        _ => None,
    };
    let mut problems = Examples::new();
    let mut premature = false;
    if finals.is_empty() {
        problems.offer(limit, || {
            "no final-read operations: convergence cannot be judged".to_string()
        });
    }
    if let (Some(q), Some(promised)) = (quiet, opts.quiet_period_ns) {
        if q < promised {
            premature = true;
            problems.offer(limit, || {
                format!("the first final read began {q} ns after the final heal, short of the {promised} ns quiet period")
            });
        }
    }
    let finals_by_key = FinalReads::collect(&finals, final_heal, limit, &mut problems);
    premature |= finals_by_key.premature;
    if !finals.is_empty() {
        unread_keys(history, finals_by_key.key_pos, limit, &mut problems);
    }
    let keys = finals_by_key.keys;
    let mut divergent = Examples::new();
    for (key, by_node) in &keys {
        if let Some(expected) = &opts.nodes {
            for n in expected.iter().filter(|n| !by_node.contains_key(*n)) {
                problems.offer(limit, || {
                    format!(
                        "no completed final read of key {} from node {n}",
                        show_key(key)
                    )
                });
            }
        }
        let groups = group_by_value(opts.collection, by_node)?;
        if groups.len() > 1 {
            divergent.offer(limit, || {
                let mut values: Vec<FinalValue> = groups.iter().map(|(_, v)| v.clone()).collect();
                values.sort_by_key(|v| std::cmp::Reverse(v.nodes.len()));
                Divergence {
                    key: show_key(key),
                    values,
                }
            });
        }
    }
    let verdict = if divergent.count > 0 && !premature {
        Verdict::Invalid
    } else if divergent.count > 0 || problems.count > 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    Ok(ConvergenceReport {
        verdict,
        final_heal_ns: final_heal,
        first_final_read_ns: first_final,
        quiet_ns: quiet,
        keys_checked: keys.len() as u64,
        divergent_keys: divergent,
        problems,
    })
}

/// The final reads, per key (in first-seen order) and per node: the last one that
/// completed.
struct FinalReads<'h> {
    keys: Vec<(Option<Value>, BTreeMap<String, &'h Operation>)>,
    /// Each key's position in `keys`.
    key_pos: FastMap<Atom, usize>,
    /// Whether a final read began before the final heal (so a divergence may not
    /// be the system's fault).
    premature: bool,
}

impl<'h> FinalReads<'h> {
    /// Groups the final reads, offering as problems the ones that began before the
    /// final heal and the nodes none of whose attempts on a key completed.
    fn collect(
        finals: &[&'h Operation],
        final_heal: Option<u64>,
        limit: usize,
        problems: &mut Examples<String>,
    ) -> Self {
        let mut out = FinalReads {
            keys: Vec::new(),
            key_pos: FastMap::default(),
            premature: false,
        };
        let mut failed_attempts: Vec<(usize, &Operation)> = Vec::new();
        for &op in finals {
            if let Some(h) = final_heal.filter(|&h| op.call < h) {
                out.premature = true;
                problems.offer(limit, || {
                    format!(
                        "final read at history event {} (node {}) began before the final heal at {h} ns",
                        op.invoke_index,
                        node_name(op)
                    )
                });
            }
            let atom = op.key.as_ref().map(Atom::of).unwrap_or(Atom::Null);
            let keys = &mut out.keys;
            let pos = *out.key_pos.entry(atom).or_insert_with(|| {
                keys.push((op.key.clone(), BTreeMap::new()));
                keys.len() - 1
            });
            if op.outcome != Outcome::Ok {
                // A failed attempt is retried (a node between leaders answers
                // `no-leader`): it is a problem only if no attempt on that node
                // completed (below).
                failed_attempts.push((pos, op));
                continue;
            }
            out.keys[pos].1.insert(node_name(op), op);
        }
        for (pos, op) in failed_attempts {
            if !out.keys[pos].1.contains_key(&node_name(op)) {
                problems.offer(limit, || {
                    format!(
                        "final read of key {} on node {} did not complete (history event {})",
                        show_key(&op.key),
                        node_name(op),
                        op.invoke_index
                    )
                });
            }
        }
        out
    }
}

/// Offers as problems the keys written but never finally read (convergence says
/// nothing about them).
fn unread_keys(
    history: &History,
    mut key_pos: FastMap<Atom, usize>,
    limit: usize,
    problems: &mut Examples<String>,
) {
    let mut unread: Vec<Value> = Vec::new();
    for op in &history.ops {
        if op.outcome == Outcome::Ok && !is_read(op) {
            let atom = op.key.as_ref().map(Atom::of).unwrap_or(Atom::Null);
            if let std::collections::hash_map::Entry::Vacant(slot) = key_pos.entry(atom) {
                slot.insert(usize::MAX);
                unread.push(show_key(&op.key));
            }
        }
    }
    for k in unread {
        problems.offer(limit, || {
            format!("key {k} was written but has no final read")
        });
    }
}

/// One key's final reads grouped by the value they returned (compared as the
/// collection's canonical form), in node order.
fn group_by_value(
    collection: Collection,
    by_node: &BTreeMap<String, &Operation>,
) -> Result<Vec<(Vec<Atom>, FinalValue)>, ShapeError> {
    let mut groups: Vec<(Vec<Atom>, FinalValue)> = Vec::new();
    for (node, op) in by_node {
        let c = canonical(collection, op)?;
        match groups.iter_mut().find(|(g, _)| *g == c) {
            Some((_, fv)) => {
                fv.nodes.push(node.clone());
                fv.reads.push(OpRef::of(op));
            }
            None => groups.push((
                c,
                FinalValue {
                    nodes: vec![node.clone()],
                    reads: vec![OpRef::of(op)],
                    value: match &op.output {
                        Value::Array(items) => show_list(items),
                        other => other.to_string(),
                    },
                },
            )),
        }
    }
    Ok(groups)
}
