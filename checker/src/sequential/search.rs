//! The exact search for a sequentially consistent order: a depth-first search over
//! configurations (how far each process's chain has been ordered, and the objects'
//! states), memoized, that succeeds when every operation that completed is ordered.
//!
//! It is the linearizability search with the real-time order taken away: the next
//! operation may be any process's next one. What keeps it fast:
//! - An observation (a read) that can happen now is ordered now, without trying
//!   anything else: moving it earlier in any order that works from here keeps the
//!   order working (it changes nothing, and its process's earlier operations are
//!   already ordered). So reads never branch.
//! - The other choices are tried in real-time order, earliest invocation first, so a
//!   history whose real-time order already works (every linearizable one) tends to
//!   be ordered with few wrong turns.
//! - `feasibility` abandons a configuration as soon as a value some unordered
//!   operation needs can no longer come back.
//! - Configurations are memoized like the linearizability search's: the ordered set
//!   as a Zobrist fingerprint (the chains' positions determine it), the states as a
//!   128-bit hash (one term per object, updated in O(1) per step), with dominance on
//!   the crashed operations ordered.
//!
//! A crashed (`info`) operation is its process's last (a process retires after one),
//! so it may be ordered anywhere after its process's other operations, or never; one
//! that would change nothing is never ordered. Should a crashed operation not be its
//! process's last (a hand-built history), leaving it out is one more choice.

use super::chains::{Chains, SeqOp};
use super::feasibility::{Feasibility, Starved};
use crate::model::{Growth, Model};
use crate::search::budget::{Budget, Meter};
use crate::search::memo::{zobrist, Memo, OpenMask};
use crate::search::report::{Outcome, SearchResult};
use std::hash::{DefaultHasher, Hash, Hasher};

/// Why no order exists. `prefix` is the longest order of operations the search could
/// justify: each operation (an index into the search's operations) with the state of
/// its object after it; `None` for a crashed operation left out. `starved` says why
/// the configuration after it is a dead end, when the search knew at once.
#[derive(Debug)]
pub struct Violation<S> {
    pub prefix: Vec<(u32, Option<S>)>,
    pub starved: Option<Starved<S>>,
}

const NIL: u32 = u32::MAX;

/// The state hash of one object holding `state`: two independent SipHash values.
pub fn state_hash<S: Hash>(object: u32, state: &S) -> u128 {
    let mut a = DefaultHasher::new();
    (0u8, object, state).hash(&mut a);
    let mut b = DefaultHasher::new();
    (1u8, object, state).hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

/// A choice at a configuration: the operation and the state it leaves its object in
/// (`None`: a crashed operation left out).
type Choice<S> = (u32, Option<S>);

struct Frame<S> {
    /// The operation ordered to reach this configuration (NIL at the root).
    op: u32,
    /// Its object's state before it.
    before: Option<S>,
    /// Its choice, as the prefix records it.
    after: Option<S>,
    /// Choices still to try from this configuration, tried from the back.
    choices: Vec<Choice<S>>,
}

struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [SeqOp<M::Op>],
    chains: &'a Chains,
    pos: Vec<u32>,
    keys: Vec<u128>,
    /// Position of each crashed operation among the crashed ones, or NIL.
    open_at: Vec<u32>,
    observes: Vec<bool>,
    states: Vec<M::State>,
    state_hash: u128,
    fingerprint: u128,
    mask: OpenMask,
    remaining: usize,
    memo: Memo<u128>,
    feasibility: Feasibility<M::State>,
    stack: Vec<Frame<M::State>>,
    best: Vec<Choice<M::State>>,
    best_starved: Option<Starved<M::State>>,
    synced: usize,
    explored: u64,
    scratch: Vec<M::State>,
}

impl<M: Model> Search<'_, M> {
    fn next_of(&self, chain: usize) -> Option<u32> {
        self.chains.chains[chain]
            .get(self.pos[chain] as usize)
            .copied()
    }

    /// The configuration's fingerprint and crashed-operation mask after `choice`.
    fn after(&self, op: u32, skipped: bool) -> (u128, OpenMask) {
        let at = self.open_at[op as usize];
        if skipped {
            // A different key, so "left out" and "ordered" never look alike.
            (
                self.fingerprint ^ zobrist(self.ops.len() + op as usize),
                self.mask,
            )
        } else if at != NIL && at < 128 {
            (self.fingerprint, self.mask | (1u128 << at))
        } else {
            (self.fingerprint ^ self.keys[op as usize], self.mask)
        }
    }

    /// Every way the configuration can go on, the one to try first last.
    fn choices(&mut self) -> Vec<Choice<M::State>> {
        let chains = self.chains.chains.len();
        // A read that can happen now is not a choice.
        for c in 0..chains {
            let Some(i) = self.next_of(c) else { continue };
            let op = &self.ops[i as usize];
            if self.observes[i as usize] {
                let state = &self.states[op.object as usize];
                if self.model.step(state, &op.op).is_some() {
                    return vec![(i, Some(state.clone()))];
                }
            }
        }
        // Each choice with its priority: the invocation time of a completed
        // operation; for a crashed one, that of the earliest operation it would let
        // happen now that cannot (it is needed there, if anywhere), else after every
        // completed operation (it may as well never happen).
        let mut out: Vec<(u64, Choice<M::State>)> = Vec::new();
        let mut blocked: Vec<u32> = Vec::new();
        for c in 0..chains {
            let Some(i) = self.next_of(c) else { continue };
            let op = &self.ops[i as usize];
            let state = &self.states[op.object as usize];
            self.scratch.clear();
            self.model.successors(state, &op.op, &mut self.scratch);
            if self.scratch.is_empty() && !op.open {
                blocked.push(i);
            }
            for s in self.scratch.drain(..) {
                // A crashed operation that changes nothing is never worth ordering.
                if op.open && s == *state {
                    continue;
                }
                out.push((op.call, (i, Some(s))));
            }
            let last = self.pos[c] as usize + 1 == self.chains.chains[c].len();
            if op.open && !last {
                out.push((u64::MAX, (i, None)));
            }
        }
        for &b in &blocked {
            let state = &self.states[self.ops[b as usize].object as usize];
            if self.feasibility.hopeless(self.model, self.ops, b, state) {
                return Vec::new();
            }
        }
        for (priority, (i, after)) in &mut out {
            let op = &self.ops[*i as usize];
            let Some(after) = after else { continue };
            if !op.open {
                continue;
            }
            *priority = blocked
                .iter()
                .filter(|&&b| self.ops[b as usize].object == op.object)
                .filter(|&&b| self.model.step(after, &self.ops[b as usize].op).is_some())
                .map(|&b| self.ops[b as usize].call)
                .min()
                .unwrap_or(u64::MAX);
        }
        // Tried from the back: earliest priority first.
        out.sort_by_key(|(priority, (i, s))| std::cmp::Reverse((*priority, s.is_none(), *i)));
        out.into_iter().map(|(_, choice)| choice).collect()
    }

    /// Orders `op` as `choice` if the configuration it leads to is new; returns
    /// whether it did.
    fn push(&mut self, op: u32, after: Option<M::State>) -> bool {
        let o = &self.ops[op as usize];
        let object = o.object as usize;
        let (fp, mask) = self.after(op, after.is_none());
        let before = &self.states[object];
        let hash = match &after {
            Some(s) if s != before => {
                self.state_hash ^ state_hash(o.object, before) ^ state_hash(o.object, s)
            }
            _ => self.state_hash,
        };
        self.explored += 1;
        if !self.memo.insert(fp, hash, mask) {
            return false;
        }
        let new_state = after.clone().unwrap_or_else(|| before.clone());
        let before = std::mem::replace(&mut self.states[object], new_state);
        let dead = self.feasibility.ordered(
            self.model,
            self.ops,
            op as usize,
            o.object,
            &before,
            &self.states[object],
        );
        self.fingerprint = fp;
        self.mask = mask;
        self.state_hash = hash;
        self.pos[self.chains.chain_of[op as usize] as usize] += 1;
        if !o.open {
            self.remaining -= 1;
        }
        let choices = if dead || self.remaining == 0 {
            Vec::new()
        } else {
            self.choices()
        };
        self.stack.push(Frame {
            op,
            before: Some(before),
            after,
            choices,
        });
        let depth = self.stack.len() - 1;
        if depth > self.best.len() {
            self.best.truncate(self.synced);
            let from = self.synced + 1;
            self.best
                .extend(self.stack[from..].iter().map(|f| (f.op, f.after.clone())));
            self.synced = depth;
            self.best_starved = if dead {
                self.feasibility.starved.clone()
            } else {
                None
            };
        }
        true
    }

    /// Undoes the latest step; false at the root.
    fn pop(&mut self) -> bool {
        if self.stack.len() <= 1 {
            return false;
        }
        let frame = self.stack.pop().expect("checked above");
        self.synced = self.synced.min(self.stack.len() - 1);
        let op = frame.op;
        let o = &self.ops[op as usize];
        let object = o.object as usize;
        let before = frame.before.expect("every step records its state before");
        let skipped = frame.after.is_none();
        if self.states[object] != before {
            self.state_hash ^=
                state_hash(o.object, &self.states[object]) ^ state_hash(o.object, &before);
        }
        self.states[object] = before;
        self.feasibility.unordered(op as usize, o.object);
        let at = self.open_at[op as usize];
        if skipped {
            self.fingerprint ^= zobrist(self.ops.len() + op as usize);
        } else if at != NIL && at < 128 {
            self.mask &= !(1u128 << at);
        } else {
            self.fingerprint ^= self.keys[op as usize];
        }
        self.pos[self.chains.chain_of[op as usize] as usize] -= 1;
        if !o.open {
            self.remaining += 1;
        }
        true
    }
}

/// One operation of an order the search found, with its object's state after it.
pub type Ordered<S> = (u32, S);

/// The order a search found, if it found one.
pub type Found<S> = Option<Vec<Ordered<S>>>;

/// Searches for a sequentially consistent order of `ops` over `objects` objects,
/// each starting in the model's initial state; returns the order found when the
/// history has one: every operation it ordered (crashed ones left out are not
/// listed), first to last.
pub fn search_order<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    objects: usize,
    budget: &Budget,
) -> (SearchResult<Violation<M::State>>, Found<M::State>) {
    let chains = Chains::new(ops);
    let mut s = Search::new(model, ops, &chains, objects);
    let outcome = s.run(&mut Meter::new(budget));
    let order = matches!(outcome, Outcome::Holds).then(|| {
        s.stack[1..]
            .iter()
            .filter_map(|f| Some((f.op, f.after.clone()?)))
            .collect()
    });
    let result = SearchResult {
        outcome,
        explored: s.explored,
    };
    (result, order)
}

/// Each crashed operation's position among the crashed ones that may be tracked by
/// dominance (NIL for the others), in invocation order.
///
/// Dominance (having ordered fewer crashed operations never hurts) holds for a
/// crashed operation that is its process's last; one followed by others (not in a
/// history `History::from_events` accepts) goes into the fingerprint instead.
fn open_positions<O>(ops: &[SeqOp<O>], chains: &Chains) -> Vec<u32> {
    let last_of_chain = |i: u32| {
        let chain = &chains.chains[chains.chain_of[i as usize] as usize];
        chain.last() == Some(&i)
    };
    let mut open: Vec<u32> = (0..ops.len() as u32)
        .filter(|&i| ops[i as usize].open && last_of_chain(i))
        .collect();
    open.sort_by_key(|&i| (ops[i as usize].call, i));
    let mut open_at = vec![NIL; ops.len()];
    for (p, &i) in open.iter().enumerate() {
        open_at[i as usize] = p as u32;
    }
    open_at
}

impl<'a, M: Model> Search<'a, M> {
    /// The search at its root, with the root's choices on the stack.
    fn new(model: &'a M, ops: &'a [SeqOp<M::Op>], chains: &'a Chains, objects: usize) -> Self {
        let states = vec![model.init(); objects.max(1)];
        let state_hash = states
            .iter()
            .enumerate()
            .fold(0u128, |h, (o, s)| h ^ self::state_hash(o as u32, s));
        let mut feasibility = Feasibility::new(model, ops, states.len());
        let dead = feasibility.dead_at_start(&states);
        let best_starved = feasibility.starved.clone();
        let mut s = Search {
            model,
            ops,
            chains,
            pos: vec![0; chains.chains.len()],
            keys: (0..ops.len()).map(zobrist).collect(),
            open_at: open_positions(ops, chains),
            observes: ops
                .iter()
                .map(|o| !o.open && model.growth(&o.op) == Growth::Observes)
                .collect(),
            states,
            state_hash,
            fingerprint: 0,
            mask: 0,
            remaining: ops.iter().filter(|o| !o.open).count(),
            memo: Memo::new(),
            feasibility,
            stack: Vec::new(),
            best: Vec::new(),
            best_starved,
            synced: 0,
            explored: 0,
            scratch: Vec::new(),
        };
        let root_choices = if dead || s.remaining == 0 {
            Vec::new()
        } else {
            s.choices()
        };
        s.stack.push(Frame {
            op: NIL,
            before: None,
            after: None,
            choices: root_choices,
        });
        s
    }

    /// Approximate bytes the memo and the stack hold, for the memory budget.
    fn bytes_used(&self) -> isize {
        let entry_bytes = (std::mem::size_of::<(u128, u128, OpenMask)>() + 16) as isize;
        let frame_bytes = std::mem::size_of::<Frame<M::State>>() as isize;
        let state_bytes = self.model.state_bytes(&self.model.init()) as isize;
        self.memo.len() as isize * entry_bytes
            + self.stack.len() as isize * (frame_bytes + 4 * state_bytes)
    }

    /// The depth-first search: takes the top configuration's next choice, or undoes
    /// it when none is left, until every completed operation is ordered, the root has
    /// no choice left, or the budget runs out.
    fn run(&mut self, meter: &mut Meter) -> Outcome<Violation<M::State>> {
        loop {
            if self.remaining == 0 {
                return Outcome::Holds;
            }
            if let Some(reason) = meter.step(|| self.bytes_used()) {
                return Outcome::Stopped(reason);
            }
            let top = self.stack.last_mut().expect("the root is never popped");
            match top.choices.pop() {
                Some((op, after)) => {
                    self.push(op, after);
                }
                None => {
                    if !self.pop() {
                        return Outcome::Violation(Violation {
                            prefix: std::mem::take(&mut self.best),
                            starved: self.best_starved.take(),
                        });
                    }
                }
            }
        }
    }
}
