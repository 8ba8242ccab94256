//! The whole-history fast path: one order of every key, merged from an order of each
//! key, in about linear time.
//!
//! Sequential consistency is not compositional, so an order per key does not make an
//! order of the history; but it usually can be merged into one. Take each key's
//! order (the per-key search's witness, or the one `saturate` derives) and split
//! its operations in two:
//!
//! - *mutators*, which leave their object in a state other than the one before them;
//!   they open the key's *gaps*: gap 0 is the initial state, gap `j` the state after
//!   the `j`-th mutator;
//! - *gap operations*, which leave the state as it was (reads, failed CASes): one may
//!   go in any gap where it is legal and changes nothing. Its *deadline* is the last
//!   gap known to be such (the last gap of the key, or else the end of the run of
//!   such gaps from its gap in the key's order: [`REACH`] bounds both searches).
//!
//! The merge keeps each key's mutators in their order and places gap operations
//! greedily. Each process goes through its operations in program order (crashed ones
//! the key's order left out skipped); at each step, any process whose next operation
//! is a gap operation legal in its key's current gap does it, and otherwise a process
//! whose next operation is its key's next mutator does it, provided no gap operation
//! of that key whose deadline is the current gap is still to come. When no process
//! can go on before the end, the merge fails.
//!
//! **Claim.** The order produced is a sequentially consistent order of the history.
//! *Proof.* Program order: each process's operations are taken in order. Per key,
//! the mutators come in the key's order, so before the `j`-th the object is in the
//! state of gap `j - 1` (gap operations change nothing), the state it had before it
//! in the key's order, where it was legal and left the state of gap `j`; each gap
//! operation was taken in a gap where it is legal and changes nothing. Keys are
//! independent objects, so the whole replay is legal. Every completed operation is in
//! its key's order, so in the merge; a crashed one left out never took effect,
//! which a crashed operation may. ∎
//!
//! Taking a legal gap operation at once never hurts (it changes no state and only
//! moves its process on), and a mutator is taken only when no gap operation would be
//! stranded by it, so the greedy merge fails only when the keys' orders (with these
//! deadlines) admit no merge, or rarely when a deadline was cut short. A failure is
//! not a violation: the check goes on to the whole-history search. The result is
//! replayed once more before it is believed ([`replay`]), so a bug here could cost
//! time but never a wrong `valid`.

use super::chains::{Chains, SeqOp};
use super::search::Ordered;
use crate::model::Model;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One key's order: indices into the whole history's operations, each with its
/// object's state after it, first to last.
pub(crate) type KeyOrder<S> = Vec<Ordered<S>>;

/// How far a deadline's search looks (in gaps): enough for the common case, and a
/// bound on the time. A deadline cut short only makes the merge stricter.
const REACH: usize = 1024;

/// One key's mutators and gaps, and each gap operation's deadline.
struct Key<S> {
    gaps: Vec<S>,
    mutators: Vec<u32>,
    /// Gap operations still to come, by deadline.
    due: Vec<u32>,
    /// The current gap.
    at: usize,
}

/// Merges the keys' orders (`orders[object]`, indices into `ops`) into one order of
/// the whole history (see the module's doc), or `None`.
pub(crate) fn merge<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    orders: &[KeyOrder<M::State>],
) -> Option<Vec<Ordered<M::State>>> {
    let n = ops.len();
    let mut in_order = vec![false; n];
    // For a mutator: its position among its key's; for a gap operation: its deadline.
    let mut slot = vec![0usize; n];
    let mut mutator = vec![false; n];
    let mut keys: Vec<Key<M::State>> = Vec::with_capacity(orders.len());
    let mut next = Vec::new();
    for order in orders {
        let mut key = Key {
            gaps: vec![model.init()],
            mutators: Vec::new(),
            due: Vec::new(),
            at: 0,
        };
        let mut members: Vec<(u32, usize)> = Vec::new();
        for (i, s) in order {
            in_order[*i as usize] = true;
            if s == key.gaps.last().expect("gap 0 is always there") {
                members.push((*i, key.gaps.len() - 1));
            } else {
                mutator[*i as usize] = true;
                slot[*i as usize] = key.mutators.len();
                key.mutators.push(*i);
                key.gaps.push(s.clone());
            }
        }
        key.due = vec![0; key.gaps.len()];
        for (i, own) in members {
            let mut fits = |j: usize| {
                next.clear();
                model.successors(&key.gaps[j], &ops[i as usize].op, &mut next);
                next.contains(&key.gaps[j])
            };
            let last = key.gaps.len() - 1;
            let deadline = (last.saturating_sub(REACH).max(own)..=last)
                .rev()
                .find(|&j| fits(j))
                .unwrap_or_else(|| {
                    let mut hi = own;
                    while hi < last && hi - own < REACH && fits(hi + 1) {
                        hi += 1;
                    }
                    hi
                });
            slot[i as usize] = deadline;
            key.due[deadline] += 1;
        }
        keys.push(key);
    }
    let chains: Vec<Vec<u32>> = Chains::new(ops)
        .chains
        .into_iter()
        .map(|c| c.into_iter().filter(|&i| in_order[i as usize]).collect())
        .collect();
    let mut pos = vec![0usize; chains.len()];
    let mut chain_of = vec![(0u32, 0u32); n];
    for (c, chain) in chains.iter().enumerate() {
        for (r, &i) in chain.iter().enumerate() {
            chain_of[i as usize] = (c as u32, r as u32);
        }
    }
    let total = in_order.iter().filter(|&&b| b).count();
    let mut out = Vec::with_capacity(total);
    // Processes waiting on a key, woken when it moves.
    let mut waiting: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
    let call = |c: usize, pos: &[usize]| chains[c].get(pos[c]).map(|&i| ops[i as usize].call);
    let mut ready: BinaryHeap<(Reverse<Option<u64>>, usize)> = (0..chains.len())
        .map(|c| (Reverse(call(c, &pos)), c))
        .collect();
    while let Some((_, c)) = ready.pop() {
        if let Some(&i) = chains[c].get(pos[c]) {
            let k = ops[i as usize].object as usize;
            let key = &mut keys[k];
            let state = &key.gaps[key.at];
            let go = if mutator[i as usize] {
                key.mutators.get(key.at) == Some(&i)
                    && key.due[key.at] == 0
                    && !strands(
                        model, ops, &chains, &pos, &chain_of, &mutator, key, &mut next,
                    )
            } else {
                next.clear();
                model.successors(state, &ops[i as usize].op, &mut next);
                next.contains(state) && key.at <= slot[i as usize]
            };
            if !go {
                waiting[k].push(c);
                continue;
            }
            if mutator[i as usize] {
                key.at += 1;
            } else {
                key.due[slot[i as usize]] -= 1;
            }
            out.push((i, key.gaps[key.at].clone()));
            pos[c] += 1;
            for w in waiting[k].drain(..).chain([c]) {
                ready.push((Reverse(call(w, &pos)), w));
            }
        }
    }
    (out.len() == total && replay(model, ops, orders.len(), &out)).then_some(out)
}

/// How far [`strands`] looks back along a process.
const LOOK_BACK: usize = 64;

/// Whether taking `key`'s next mutator now would strand a gap operation: one of the
/// key, illegal in the gap the mutator opens, that the process of the mutator
/// closing that gap must do first (so neither could ever go). Looks at most
/// [`LOOK_BACK`] operations back.
#[allow(clippy::too_many_arguments)]
fn strands<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    chains: &[Vec<u32>],
    pos: &[usize],
    chain_of: &[(u32, u32)],
    mutator: &[bool],
    key: &Key<M::State>,
    next: &mut Vec<M::State>,
) -> bool {
    let Some(&closing) = key.mutators.get(key.at + 1) else {
        return false;
    };
    let (c, r) = chain_of[closing as usize];
    let (c, r) = (c as usize, r as usize);
    let opened = &key.gaps[key.at + 1];
    let object = ops[closing as usize].object;
    chains[c][pos[c].max(r.saturating_sub(LOOK_BACK))..r]
        .iter()
        .filter(|&&g| ops[g as usize].object == object && !mutator[g as usize])
        .any(|&g| {
            next.clear();
            model.successors(opened, &ops[g as usize].op, next);
            !next.contains(opened)
        })
}

/// Whether `order` is a sequentially consistent order of `ops`: each step legal for
/// its object (leaving the state recorded), each process's operations in program
/// order, every completed operation present once.
pub(crate) fn replay<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    objects: usize,
    order: &[Ordered<M::State>],
) -> bool {
    let chains = Chains::new(ops);
    let mut rank = vec![0usize; ops.len()];
    for chain in &chains.chains {
        for (r, &i) in chain.iter().enumerate() {
            rank[i as usize] = r;
        }
    }
    let mut states = vec![model.init(); objects.max(1)];
    let mut last_rank: Vec<Option<usize>> = vec![None; chains.chains.len()];
    let mut seen = vec![false; ops.len()];
    let mut next = Vec::new();
    for (i, after) in order {
        let i = *i as usize;
        let Some(o) = ops.get(i) else { return false };
        let chain = chains.chain_of[i] as usize;
        if seen[i] || last_rank[chain].is_some_and(|r| r >= rank[i]) {
            return false;
        }
        seen[i] = true;
        last_rank[chain] = Some(rank[i]);
        let Some(state) = states.get_mut(o.object as usize) else {
            return false;
        };
        next.clear();
        model.successors(state, &o.op, &mut next);
        if !next.contains(after) {
            return false;
        }
        *state = after.clone();
    }
    ops.iter().zip(&seen).all(|(o, &s)| s || o.open)
}
