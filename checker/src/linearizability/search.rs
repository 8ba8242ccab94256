//! The general exact search: Wing & Gong's backtracking over linearization orders,
//! with Lowe's memoization of (linearized set, state) configurations, iterative and
//! over a dancing-links list of call and return events, as porcupine does it.
//!
//! The search walks the events in time order. At a call event it tries to linearize
//! that operation now (if the model allows it and the resulting configuration is
//! new); at a return event of an operation not yet linearized it has gone too far and
//! backtracks. It succeeds when every operation that returned is linearized:
//! operations open to the end of the history (`info`) have no return event, so they
//! are linearized only where that helps, and otherwise are taken never to have
//! happened, which is the same as happening last.

use super::budget::{Budget, StopReason};
use super::memo::{zobrist, Memo};
use crate::model::{Growth, Model};

/// One operation as the search sees it.
#[derive(Debug, Clone)]
pub struct Prepared<O> {
    /// Invocation and completion times; `ret` is `u64::MAX` for operations open to the
    /// end of the history.
    pub call: u64,
    pub ret: u64,
    pub op: O,
}

impl<O> Prepared<O> {
    pub fn is_open(&self) -> bool {
        self.ret == u64::MAX
    }
}

#[derive(Debug)]
pub enum SearchOutcome<S> {
    Linearizable,
    /// No linearization exists. `prefix` (indices into the search's operations, in
    /// order) is the longest linearizable prefix the search found, `state` the model
    /// state after it.
    Violation { prefix: Vec<usize>, state: S },
    Stopped(StopReason),
}

#[derive(Debug)]
pub struct SearchResult<S> {
    pub outcome: SearchOutcome<S>,
    /// Configurations explored (model steps taken into new configurations).
    pub explored: u64,
}

const NIL: u32 = u32::MAX;
/// Entry 0 is the list's head sentinel.
const HEAD: u32 = 0;

#[derive(Clone, Copy)]
struct Entry {
    prev: u32,
    next: u32,
    op: u32,
    /// For a call entry, its return entry (NIL if the operation is open); NIL for a
    /// return entry.
    ret: u32,
    is_call: bool,
}

/// The events in time order, as a doubly linked list operations can be lifted out of
/// (when linearized) and put back (when the search backtracks) in O(1).
struct Events {
    e: Vec<Entry>,
}

impl Events {
    fn new<O>(ops: &[Prepared<O>]) -> Events {
        // Calls sort before returns at the same instant: operations that touch in
        // time are concurrent, the permissive reading.
        let mut order: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * ops.len());
        for (i, p) in ops.iter().enumerate() {
            order.push((p.call, false, i as u32));
            if !p.is_open() {
                order.push((p.ret.max(p.call), true, i as u32));
            }
        }
        order.sort_unstable();
        let mut e = Vec::with_capacity(order.len() + 1);
        e.push(Entry { prev: NIL, next: NIL, op: NIL, ret: NIL, is_call: false });
        let mut call_entry = vec![NIL; ops.len()];
        for (pos, &(_, is_ret, op)) in order.iter().enumerate() {
            let idx = pos as u32 + 1;
            e.push(Entry { prev: idx - 1, next: idx + 1, op, ret: NIL, is_call: !is_ret });
            if is_ret {
                let c = call_entry[op as usize];
                e[c as usize].ret = idx;
            } else {
                call_entry[op as usize] = idx;
            }
        }
        let last = e.len() as u32 - 1;
        e[last as usize].next = NIL;
        e[0].next = if last == 0 { NIL } else { 1 };
        Events { e }
    }

    #[inline]
    fn unlink(&mut self, i: u32) {
        let Entry { prev, next, .. } = self.e[i as usize];
        self.e[prev as usize].next = next;
        if next != NIL {
            self.e[next as usize].prev = prev;
        }
    }

    #[inline]
    fn relink(&mut self, i: u32) {
        let Entry { prev, next, .. } = self.e[i as usize];
        self.e[prev as usize].next = i;
        if next != NIL {
            self.e[next as usize].prev = i;
        }
    }

    #[inline]
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let r = self.e[call as usize].ret;
        if r != NIL {
            self.unlink(r);
        }
    }

    #[inline]
    fn unlift(&mut self, call: u32) {
        let r = self.e[call as usize].ret;
        if r != NIL {
            self.relink(r);
        }
        self.relink(call);
    }
}

struct Frame<S> {
    entry: u32,
    prev_state: S,
    /// Other states this operation could have led to, not yet tried.
    alternatives: Vec<S>,
}

/// The observations still to come, for models whose states only grow: a state from
/// which one of them is unreachable can be abandoned at once, instead of after every
/// ordering of the operations before that observation has been tried.
struct Lookahead {
    /// Observing operations, by invocation time.
    observers: Vec<u32>,
    /// Operations that replace the state whatever it was, by invocation time.
    resets: Vec<u32>,
    /// Position of each operation in `observers`, or NIL.
    position: Vec<u32>,
    linearized: Vec<bool>,
    /// Every observer before this position is linearized.
    lo: usize,
}

/// How many of the earliest unlinearized observations each new state is tested
/// against: the nearest ones are the ones a wrong order breaks first.
const LOOKAHEAD: usize = 4;

impl Lookahead {
    fn new<M: Model>(model: &M, ops: &[Prepared<M::Op>]) -> Option<Lookahead> {
        let growth: Vec<Growth> = ops.iter().map(|p| model.growth(&p.op)).collect();
        if ops.is_empty() || growth.contains(&Growth::Other) {
            return None;
        }
        let mut observers: Vec<u32> =
            (0..ops.len() as u32).filter(|&i| growth[i as usize] == Growth::Observes).collect();
        observers.sort_by_key(|&i| (ops[i as usize].call, i));
        let resets: Vec<u32> = {
            let mut r: Vec<u32> = (0..ops.len() as u32).filter(|&i| growth[i as usize] == Growth::Resets).collect();
            r.sort_by_key(|&i| (ops[i as usize].call, i));
            r
        };
        let mut position = vec![NIL; ops.len()];
        for (p, &i) in observers.iter().enumerate() {
            position[i as usize] = p as u32;
        }
        Some(Lookahead { observers, resets, position, linearized: vec![false; ops.len()], lo: 0 })
    }

    fn viable<M: Model>(&self, model: &M, ops: &[Prepared<M::Op>], state: &M::State, op: usize) -> bool {
        self.observers[self.lo..]
            .iter()
            .filter(|&&i| !self.linearized[i as usize] && i as usize != op)
            .take(LOOKAHEAD)
            .all(|&i| model.reachable(state, &ops[i as usize].op) || self.reset_helps(model, ops, state, op, i as usize))
    }

    /// Whether a reset not yet linearized, invoked before `observer` returned, could
    /// bring the state back to where `observer` is reachable.
    fn reset_helps<M: Model>(&self, model: &M, ops: &[Prepared<M::Op>], state: &M::State, op: usize, observer: usize) -> bool {
        let before = ops[observer].ret;
        self.resets
            .iter()
            .take_while(|&&w| ops[w as usize].call <= before)
            .filter(|&&w| !self.linearized[w as usize] && w as usize != op)
            .any(|&w| model.step(state, &ops[w as usize].op).is_some_and(|t| model.reachable(&t, &ops[observer].op)))
    }

    fn set(&mut self, op: usize, linearized: bool) {
        self.linearized[op] = linearized;
        let p = self.position[op];
        if p == NIL {
            return;
        }
        if linearized {
            while self.lo < self.observers.len() && self.linearized[self.observers[self.lo] as usize] {
                self.lo += 1;
            }
        } else {
            self.lo = self.lo.min(p as usize);
        }
    }
}

/// How often (in steps) the search polls its budget.
const POLL: u64 = 1 << 12;

pub fn search<M: Model>(model: &M, ops: &[Prepared<M::Op>], budget: &Budget) -> SearchResult<M::State> {
    let mut events = Events::new(ops);
    let keys: Vec<u128> = (0..ops.len()).map(zobrist).collect();
    let mut remaining = ops.iter().filter(|p| !p.is_open()).count();
    let mut state = model.init();
    let mut linearized: u128 = 0;
    let mut memo: Memo<M::State> = Memo::new();
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    let mut successors: Vec<M::State> = Vec::new();
    let mut lookahead = Lookahead::new(model, ops);
    let mut explored: u64 = 0;
    let mut charged: isize = 0;
    let entry_bytes = (std::mem::size_of::<(u128, M::State)>() + 8) as isize;

    // The longest prefix so far: `best[..synced]` is known to equal the bottom of the
    // stack, so extending it costs only the frames pushed since (amortized O(1)).
    let mut best: Vec<u32> = Vec::new();
    let mut best_state = state.clone();
    let mut synced = 0usize;

    let finish = |outcome, explored, charged: isize| {
        budget.charge(-charged);
        SearchResult { outcome, explored }
    };

    let mut cur = events.e[HEAD as usize].next;
    loop {
        if remaining == 0 {
            return finish(SearchOutcome::Linearizable, explored, charged);
        }
        explored += 1;
        if explored % POLL == 0 {
            let used = memo.len() as isize * entry_bytes + (stack.len() * std::mem::size_of::<Frame<M::State>>()) as isize;
            budget.charge(used - charged);
            charged = used;
            if let Some(reason) = budget.exhausted() {
                return finish(SearchOutcome::Stopped(reason), explored, charged);
            }
        }
        // While an operation that returned is unlinearized, its return event is in
        // the list, so the walk meets it before running off the end.
        debug_assert!(cur != NIL);
        let entry = events.e[cur as usize];
        if entry.is_call {
            let op = entry.op as usize;
            successors.clear();
            model.successors(&state, &ops[op].op, &mut successors);
            let next_linearized = linearized ^ keys[op];
            let mut chosen = None;
            while let Some(s) = successors.pop() {
                if lookahead.as_ref().is_some_and(|l| !l.viable(model, ops, &s, op)) {
                    continue;
                }
                if memo.insert(next_linearized, s.clone()) {
                    chosen = Some(s);
                    break;
                }
            }
            if let Some(next_state) = chosen {
                let alternatives = std::mem::take(&mut successors);
                stack.push(Frame { entry: cur, prev_state: std::mem::replace(&mut state, next_state), alternatives });
                linearized = next_linearized;
                if let Some(l) = lookahead.as_mut() {
                    l.set(op, true);
                }
                events.lift(cur);
                if entry.ret != NIL {
                    remaining -= 1;
                }
                if stack.len() > best.len() {
                    best.truncate(synced);
                    best.extend(stack[synced..].iter().map(|f| events.e[f.entry as usize].op));
                    synced = stack.len();
                    best_state = state.clone();
                }
                cur = events.e[HEAD as usize].next;
            } else {
                cur = entry.next;
            }
            continue;
        }
        // A return event of an unlinearized operation: undo the latest choice.
        loop {
            let Some(mut frame) = stack.pop() else {
                let prefix = best.iter().map(|&i| i as usize).collect();
                return finish(SearchOutcome::Violation { prefix, state: best_state }, explored, charged);
            };
            synced = synced.min(stack.len());
            let call = frame.entry;
            let op = events.e[call as usize].op as usize;
            events.unlift(call);
            if events.e[call as usize].ret != NIL {
                remaining += 1;
            }
            state = frame.prev_state;
            let mut retried = None;
            while let Some(s) = frame.alternatives.pop() {
                if lookahead.as_ref().is_some_and(|l| !l.viable(model, ops, &s, op)) {
                    continue;
                }
                if memo.insert(linearized, s.clone()) {
                    retried = Some(s);
                    break;
                }
            }
            if let Some(next_state) = retried {
                // Same operation, another possible effect: stay linearized.
                events.lift(call);
                if events.e[call as usize].ret != NIL {
                    remaining -= 1;
                }
                let prev_state = std::mem::replace(&mut state, next_state);
                stack.push(Frame { entry: call, prev_state, alternatives: frame.alternatives });
                cur = events.e[HEAD as usize].next;
                break;
            }
            linearized ^= keys[op];
            if let Some(l) = lookahead.as_mut() {
                l.set(op, false);
            }
            cur = events.e[call as usize].next;
            break;
        }
    }
}
