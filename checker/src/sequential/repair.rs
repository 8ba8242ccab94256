//! When the merge of the saturated orders gets stuck: reverse two writes of one key
//! that no forced edge orders, and merge again.
//!
//! Saturation leaves many pairs of writes unordered (two concurrent writes of a key
//! whose values nobody read in between), and its topological order breaks such ties
//! by invocation time. Real systems order concurrent writes as they please: an etcd
//! run under partitions had a key whose two concurrent writes were applied in the
//! reverse of their invocation order, and the reads of the first write's value by a
//! process that had already moved on through another key then made the merge wait in
//! a cycle across three keys.
//!
//! Where the merge stops, each key a process waits on has a write that opened its
//! current gap and a next write that cannot go. Reversing that pair (an assumed edge,
//! next before opener), closing the graph under the forced rules again and merging
//! the new orders is tried for each such key; a reversal is kept when the merge then
//! places more operations than before. A reversal that makes the graph cyclic shows
//! the pair's order is forced (under the reversals kept so far), so that order is
//! assumed instead.
//!
//! This is a heuristic search for a witness, nothing more: an order it finds is a
//! merge, replayed before it is believed (`merge::replay`), so it can cost time but
//! never give a wrong `valid`; and since reversals are assumptions, failing to find
//! one proves nothing (the check goes on to the whole-history search).

use super::chains::SeqOp;
use super::merge::{merge, Stuck};
use super::saturate::{Assumed, Saturation};
use super::search::Ordered;
use crate::model::Model;
use crate::search::budget::Budget;

/// At most this many reversals are tried in all: each costs a closing of the graph
/// and a merge, about linear in the history times its processes.
const MAX_TRIES: usize = 256;

/// A sequentially consistent order of `ops` found by reversing writes the saturated
/// graph leaves unordered, starting where the merge of its own orders got `stuck`.
/// `None` when no reversal helps, or the budget or [`MAX_TRIES`] runs out.
pub(crate) fn repair<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    mut saturation: Box<Saturation<M::State>>,
    mut stuck: Stuck,
    budget: &Budget,
) -> Option<Vec<Ordered<M::State>>> {
    let mut tries = 0;
    'stuck: loop {
        for &(first, then) in &stuck.blocked {
            if saturation.orders_before(first, then) || saturation.orders_before(then, first) {
                continue;
            }
            // Reversed first; if that is a contradiction, the pair's order is forced.
            let mut reversed = true;
            let orders = loop {
                tries += 1;
                if tries > MAX_TRIES || budget.exhausted().is_some() {
                    return None;
                }
                let (before, after) = if reversed {
                    (then, first)
                } else {
                    (first, then)
                };
                match saturation.assume(model, ops, before, after, budget) {
                    Assumed::Orders(orders) => break orders,
                    Assumed::Contradiction if reversed => reversed = false,
                    Assumed::Contradiction | Assumed::Limit => return None,
                }
            };
            match merge(model, ops, &orders) {
                Ok(order) => return Some(order),
                Err(now) if now.placed > stuck.placed || !reversed => {
                    stuck = now;
                    continue 'stuck;
                }
                Err(_) => saturation.retract(),
            }
        }
        return None;
    }
}
