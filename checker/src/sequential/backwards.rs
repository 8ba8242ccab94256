//! A cheap exact check run before the searches: one process's reads going backwards
//! on a register. Where a value read has exactly one operation that produces it
//! (unique written values, as in Jepsen's register tests), a read of it says that
//! operation took effect. If process P has observed (read, or itself written) a
//! value produced by process Q's operation `w1`, and P then reads a value whose only
//! producer `w2` comes *before* `w1` in Q's program order, every sequential order
//! puts `w2 < w1 < P's read`, so `w1` overwrites `w2`'s value before P reads it: no
//! sequential order exists. Likewise a read of the initial value after P observed
//! any write, when nothing writes the initial value. Anything the check cannot be
//! sure of (a value with several producers, a model whose operations do not name the
//! state they leave) it leaves to the search.

use super::chains::SeqOp;
use crate::model::{Growth, Model};
use std::collections::HashMap;

/// A read that went backwards: the earlier observation, the read, and the two
/// producers (`newer` is `None` for a read of the initial value).
#[derive(Debug)]
pub(crate) struct Backwards {
    /// Indices into the key's operations.
    pub observed: usize,
    pub read: usize,
    pub older: Option<usize>,
    pub newer: usize,
}

/// The first read going backwards in `ops` (one key's operations), if the check
/// applies and finds one (see the module's doc).
pub(crate) fn find<M: Model>(model: &M, ops: &[SeqOp<M::Op>]) -> Option<Backwards> {
    let mut producers: HashMap<M::State, Vec<usize>> = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        match model.growth(&o.op) {
            Growth::Observes => {}
            Growth::Resets | Growth::Replaces => producers
                .entry(model.reset_state(&o.op)?)
                .or_default()
                .push(i),
            Growth::Grows | Growth::Other => return None,
        }
    }
    // Only values with one producer are evidence; with none (values repeat, as in
    // most synthetic histories) there is nothing to look for.
    if !producers.values().any(|w| w.len() == 1) {
        return None;
    }
    // Each operation's position in its process's program order.
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].process, ops[i].call, ops[i].id));
    let mut position = vec![0usize; ops.len()];
    for w in order.chunk_by(|&a, &b| ops[a].process == ops[b].process) {
        for (p, &i) in w.iter().enumerate() {
            position[i] = p;
        }
    }
    // The initial value is produced by no operation, so it never has one producer.
    let init = model.init();
    let only = |s: &M::State| match producers.get(s).map(Vec::as_slice) {
        _ if *s == init => None,
        Some([w]) => Some(*w),
        _ => None,
    };
    for chain in order.chunk_by(|&a, &b| ops[a].process == ops[b].process) {
        // Per process Q: the latest of Q's producers this process observed, and how.
        let mut seen: HashMap<u64, (usize, usize)> = HashMap::new();
        for &i in chain {
            let o = &ops[i];
            let writes = matches!(model.growth(&o.op), Growth::Resets | Growth::Replaces);
            let read = (!o.open).then(|| model.required_state(&o.op)).flatten();
            if let Some(need) = read {
                if let Some(w2) = only(&need) {
                    let q = ops[w2].process;
                    if let Some(&(w1, observed)) = seen.get(&q) {
                        if position[w1] > position[w2] {
                            return Some(Backwards {
                                observed,
                                read: i,
                                older: Some(w2),
                                newer: w1,
                            });
                        }
                    }
                    note(&mut seen, &position, q, w2, i);
                }
            }
            if writes && !o.open {
                note(&mut seen, &position, o.process, i, i);
            }
        }
    }
    None
}

/// Records that the process observed producer `w` of process `q` (through `how`),
/// keeping the latest in `q`'s program order.
fn note(seen: &mut HashMap<u64, (usize, usize)>, position: &[usize], q: u64, w: usize, how: usize) {
    let e = seen.entry(q).or_insert((w, how));
    if position[w] > position[e.0] {
        *e = (w, how);
    }
}

/// The evidence for a read that went backwards: no order, so no prefix; `starved`
/// says why, `blocked` names the read and the producers.
pub(crate) fn evidence<M: Model>(
    key: &serde_json::Value,
    history_ops: &[crate::history::Operation],
    ops: &[SeqOp<M::Op>],
    found: &Backwards,
) -> super::Evidence {
    use crate::search::{BlockedOp, OpSummary};
    let summary = |i: usize| OpSummary::of(&history_ops[ops[i].id]);
    let read = summary(found.read);
    let why = match found.older {
        Some(older) => format!(
            "process {} read {} after observing op {}, but op {} (the only producer of what it read) comes before op {} in process {}'s program order, so every order overwrites it before the read: the reads go backwards",
            read.process, read.output, ops[found.observed].id, ops[older].id, ops[found.newer].id, ops[older].process
        ),
        None => format!(
            "process {} read the initial value after observing op {}'s write, and nothing writes the initial value back: the reads go backwards",
            read.process, ops[found.newer].id
        ),
    };
    let mut blocked = vec![BlockedOp {
        op: read.clone(),
        reason: "reads a value already overwritten in every order".into(),
    }];
    blocked.push(BlockedOp {
        op: summary(found.newer),
        reason: "observed by the same process earlier".into(),
    });
    if let Some(older) = found.older {
        blocked.push(BlockedOp {
            op: summary(older),
            reason: "the only producer of the value read, earlier in its process".into(),
        });
    }
    super::Evidence {
        key: key.clone(),
        whole_history: false,
        processes: vec![read.process],
        prefix: Vec::new(),
        prefix_tail: Vec::new(),
        state: String::new(),
        blocked,
        starved: Some(why),
    }
}
