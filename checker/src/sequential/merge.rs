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
//!   such gap it can still be in: not after the gap of a later operation of its own
//!   process on the key (a later gap operation's deadline, or the gap a later mutator
//!   closes), since program order puts it first ([`REACH`] bounds the search).
//!
//! The merge keeps each key's mutators in their order and places gap operations
//! greedily. Each process goes through its operations in program order (crashed ones
//! the key's order left out skipped); at each step, any process whose next operation
//! is a gap operation legal in its key's current gap does it, and otherwise a process
//! whose next operation is its key's next mutator, legal in the current gap, does it,
//! provided no gap operation of that key whose deadline is the current gap is still
//! to come. When no process can go on before the end, the merge fails, and says
//! where ([`Stuck`]).
//!
//! **Claim.** The order produced is a sequentially consistent order of the history.
//! *Proof.* Program order: each process's operations are taken in order. Per key,
//! each mutator was taken in a state where it is legal, leaving the state of the
//! next gap; each gap operation was taken in a gap where it is legal and changes
//! nothing. Keys are independent objects, so the whole replay is legal. Every
//! completed operation is in its key's order, so in the merge; a crashed one left
//! out never took effect, which a crashed operation may. ∎
//!
//! Taking a legal gap operation at once never hurts (it changes no state and only
//! moves its process on), and a mutator is taken only when no gap operation's last
//! chance is the current gap, so the greedy merge fails only when the keys' orders
//! admit no merge (a key's order may even be illegal: saturation's need not be
//! legal), or rarely when a deadline was cut short. A failure is not a violation:
//! the check goes on to other orders (`repair`) and the whole-history search. The
//! result is replayed once more before it is believed ([`replay`]), so a bug here
//! could cost time but never a wrong `valid`.

use super::chains::{Chains, SeqOp};
use super::search::Ordered;
use crate::model::Model;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One key's order: indices into the whole history's operations, each with its
/// object's state after it, first to last.
pub(crate) type KeyOrder<S> = Vec<Ordered<S>>;

/// How far a deadline's search looks back (in gaps): enough for the common case,
/// and a bound on the time. A deadline cut short only makes the merge stricter.
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

/// The keys' orders taken apart for the merge.
struct Plan<S> {
    keys: Vec<Key<S>>,
    /// Each process's operations that are in some key's order, in program order.
    chains: Vec<Vec<u32>>,
    /// For a mutator: its position among its key's; for a gap operation: its deadline.
    slot: Vec<usize>,
    mutator: Vec<bool>,
    /// How many operations the keys' orders hold.
    total: usize,
}

/// Where a merge that failed stopped: how many operations it had placed, and pairs
/// of one key's mutators, `(first, then)` in the key's order, where the second could
/// not go because of the first (it is the key's next mutator and the first opened
/// the current gap, or a process waits on it and the first is the key's next).
/// Reversing such a pair is what `repair` tries.
#[derive(Debug)]
pub(crate) struct Stuck {
    pub(crate) placed: usize,
    pub(crate) blocked: Vec<(u32, u32)>,
}

/// Merges the keys' orders (`orders[object]`, indices into `ops`) into one order of
/// the whole history (see the module's doc), or says where it got stuck.
pub(crate) fn merge<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    orders: &[KeyOrder<M::State>],
) -> Result<Vec<Ordered<M::State>>, Stuck> {
    let mut plan = plan(model, ops, orders);
    let chains = &plan.chains;
    let mut pos = vec![0usize; chains.len()];
    let mut out = Vec::with_capacity(plan.total);
    let mut next = Vec::new();
    // Processes waiting on a key, woken when it moves.
    let mut waiting: Vec<Vec<usize>> = vec![Vec::new(); plan.keys.len()];
    let call = |c: usize, pos: &[usize]| chains[c].get(pos[c]).map(|&i| ops[i as usize].call);
    let mut ready: BinaryHeap<(Reverse<Option<u64>>, usize)> = (0..chains.len())
        .map(|c| (Reverse(call(c, &pos)), c))
        .collect();
    while let Some((_, c)) = ready.pop() {
        let Some(&i) = chains[c].get(pos[c]) else {
            continue;
        };
        let k = ops[i as usize].object as usize;
        let key = &mut plan.keys[k];
        let state = &key.gaps[key.at];
        next.clear();
        model.successors(state, &ops[i as usize].op, &mut next);
        let go = if plan.mutator[i as usize] {
            key.mutators.get(key.at) == Some(&i)
                && next.contains(&key.gaps[key.at + 1])
                && key.due[key.at] == 0
        } else {
            next.contains(state) && key.at <= plan.slot[i as usize]
        };
        if !go {
            waiting[k].push(c);
            continue;
        }
        if plan.mutator[i as usize] {
            key.at += 1;
        } else {
            key.due[plan.slot[i as usize]] -= 1;
        }
        out.push((i, key.gaps[key.at].clone()));
        pos[c] += 1;
        for w in waiting[k].drain(..).chain([c]) {
            ready.push((Reverse(call(w, &pos)), w));
        }
    }
    if out.len() == plan.total && replay(model, ops, orders.len(), &out) {
        return Ok(out);
    }
    Err(stuck(&plan, &pos, &waiting, out.len()))
}

/// Takes the keys' orders apart into mutators, gaps and gap operations with their
/// deadlines (see the module's doc).
fn plan<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    orders: &[KeyOrder<M::State>],
) -> Plan<M::State> {
    let n = ops.len();
    let mut in_order = vec![false; n];
    let mut slot = vec![0usize; n];
    let mut mutator = vec![false; n];
    let mut keys: Vec<Key<M::State>> = Vec::with_capacity(orders.len());
    for order in orders {
        let mut key = Key {
            gaps: vec![model.init()],
            mutators: Vec::new(),
            due: Vec::new(),
            at: 0,
        };
        for (i, s) in order {
            in_order[*i as usize] = true;
            if s == key.gaps.last().expect("gap 0 is always there") {
                // Its own gap, until its deadline replaces it.
                slot[*i as usize] = key.gaps.len() - 1;
            } else {
                mutator[*i as usize] = true;
                slot[*i as usize] = key.mutators.len();
                key.mutators.push(*i);
                key.gaps.push(s.clone());
            }
        }
        key.due = vec![0; key.gaps.len()];
        keys.push(key);
    }
    let chains: Vec<Vec<u32>> = Chains::new(ops)
        .chains
        .into_iter()
        .map(|c| c.into_iter().filter(|&i| in_order[i as usize]).collect())
        .collect();
    let mut plan = Plan {
        keys,
        chains,
        slot,
        mutator,
        total: in_order.iter().filter(|&&b| b).count(),
    };
    deadlines(model, ops, &mut plan);
    plan
}

/// Each gap operation's deadline: the last gap it is legal in, no later than its
/// process's next operation on the key allows (walking each process backwards).
fn deadlines<M: Model>(model: &M, ops: &[SeqOp<M::Op>], plan: &mut Plan<M::State>) {
    const NONE: usize = usize::MAX;
    let mut bound = vec![NONE; plan.keys.len()];
    let mut next = Vec::new();
    for chain in &plan.chains {
        for &i in chain.iter().rev() {
            let k = ops[i as usize].object as usize;
            let key = &mut plan.keys[k];
            if plan.mutator[i as usize] {
                // It is taken in the gap it closes; what comes before it, before that.
                bound[k] = plan.slot[i as usize];
                continue;
            }
            let own = plan.slot[i as usize];
            let top = bound[k].min(key.gaps.len() - 1);
            let deadline = (top.saturating_sub(REACH)..=top)
                .rev()
                .find(|&j| {
                    next.clear();
                    model.successors(&key.gaps[j], &ops[i as usize].op, &mut next);
                    next.contains(&key.gaps[j])
                })
                .unwrap_or(own.min(top));
            plan.slot[i as usize] = deadline;
            key.due[deadline] += 1;
            bound[k] = deadline;
        }
        for &i in chain {
            bound[ops[i as usize].object as usize] = NONE;
        }
    }
}

/// Where the merge stopped (see [`Stuck`]).
fn stuck<S>(plan: &Plan<S>, pos: &[usize], waiting: &[Vec<usize>], placed: usize) -> Stuck {
    let mut blocked = Vec::new();
    for (key, waiters) in plan.keys.iter().zip(waiting) {
        let Some(&first) = key.mutators.get(key.at) else {
            continue;
        };
        if waiters.is_empty() {
            continue;
        }
        if let Some(j) = key.at.checked_sub(1) {
            blocked.push((key.mutators[j], first));
        }
        for &c in waiters {
            match plan.chains[c].get(pos[c]) {
                Some(&x) if plan.mutator[x as usize] && x != first => blocked.push((first, x)),
                _ => {}
            }
        }
    }
    Stuck { placed, blocked }
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
