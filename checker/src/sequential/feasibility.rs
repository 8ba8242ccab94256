//! Early detection of dead ends: a configuration from which some operation still to
//! be ordered needs a state its object can never hold again.
//!
//! For an object whose operations only observe the state or replace it (a register's
//! reads, writes and CASes: [`Growth::Observes`], [`Growth::Resets`],
//! [`Growth::Replaces`]), the object can come to hold a value `v` only through an
//! operation still unordered that leaves `v` ([`Model::reset_state`]). So once the
//! object holds something else, an unordered operation that needs exactly `v`
//! ([`Model::required_state`]: a read of `v`, a CAS from `v`) with no such operation
//! left can never happen, and no order of the rest exists. The test is O(1) per step:
//! the search keeps, per (object, value), how many unordered operations need it and
//! how many leave it, and a dead end can only appear when an object stops holding a
//! value or the last operation leaving a value is ordered.
//!
//! Without this, a wrong early choice (two concurrent writes ordered the wrong way)
//! is found out only when the stale value's reader is reached, after every order of
//! the operations in between has been tried.

use super::chains::SeqOp;
use crate::model::{Growth, Model};
use crate::search::memo::FxBuild;
use std::collections::HashMap;
use std::hash::Hash;

const NIL: u32 = u32::MAX;

/// Why a configuration is a dead end, for the evidence.
#[derive(Debug, Clone)]
pub enum Starved<S> {
    /// Some unordered operation of this object needs this value, and nothing left
    /// sets it.
    Value(u32, S),
    /// This unordered observation can no longer be reached.
    Observer(u32),
}

/// How many of an object's earliest unordered observations each change of its state
/// is tested against.
const NEAREST: usize = 32;

pub struct Feasibility<S> {
    /// Per object: whether all its operations observe or replace (else no test).
    enabled: Vec<bool>,
    /// Per operation: the state it needs (closed operations of enabled objects only).
    required: Vec<Option<S>>,
    /// Per operation: the state it leaves when it changes anything; `None` inside
    /// `Some` for an operation that may leave any state.
    leaves: Vec<Option<Option<S>>>,
    /// Per object: its operations that replace the state.
    resets_of: Vec<Vec<u32>>,
    /// Per operation: whether it is ordered.
    done: Vec<bool>,
    /// Per object with a growth order and operations that grow it (a kv key with
    /// appends): its completed observations by invocation, the cursor before which
    /// all are ordered, and each one's position there (NIL if none).
    observers: Vec<Vec<u32>>,
    observers_lo: Vec<usize>,
    observer_at: Vec<u32>,
    /// Per observation, once needed: the operations that replace the state with one
    /// from which it is reachable.
    helpers: Vec<Option<Vec<u32>>>,
    /// Why the latest configuration found dead is one.
    pub starved: Option<Starved<S>>,
    needs: HashMap<(u32, S), u32, FxBuild>,
    resets: HashMap<(u32, S), u32, FxBuild>,
    any_resets: Vec<u32>,
}

impl<S: Clone + Eq + Hash> Feasibility<S> {
    pub fn new<M: Model<State = S>>(model: &M, ops: &[SeqOp<M::Op>], objects: usize) -> Self {
        let mut enabled = vec![true; objects];
        let mut growth = vec![true; objects];
        let mut resets_of = vec![Vec::new(); objects];
        for (i, o) in ops.iter().enumerate() {
            let g = model.growth(&o.op);
            if !matches!(g, Growth::Observes | Growth::Resets | Growth::Replaces) {
                enabled[o.object as usize] = false;
            }
            if g == Growth::Other {
                growth[o.object as usize] = false;
            }
            if matches!(g, Growth::Resets | Growth::Replaces) {
                resets_of[o.object as usize].push(i as u32);
            }
        }
        let mut grows = vec![false; objects];
        for o in ops {
            if model.growth(&o.op) == Growth::Grows {
                grows[o.object as usize] = true;
            }
        }
        let mut observers = vec![Vec::new(); objects];
        for (i, o) in ops.iter().enumerate() {
            let obj = o.object as usize;
            if growth[obj]
                && grows[obj]
                && !o.open
                && matches!(model.growth(&o.op), Growth::Observes | Growth::Replaces)
            {
                observers[obj].push(i as u32);
            }
        }
        let mut observer_at = vec![NIL; ops.len()];
        for list in &mut observers {
            list.sort_by_key(|&i| (ops[i as usize].call, i));
            for (p, &i) in list.iter().enumerate() {
                observer_at[i as usize] = p as u32;
            }
        }
        let mut f = Feasibility {
            starved: None,
            resets_of,
            done: vec![false; ops.len()],
            observers_lo: vec![0; objects],
            observers,
            observer_at,
            helpers: vec![None; ops.len()],
            required: Vec::with_capacity(ops.len()),
            leaves: Vec::with_capacity(ops.len()),
            needs: HashMap::default(),
            resets: HashMap::default(),
            any_resets: vec![0; objects],
            enabled,
        };
        for o in ops {
            let on = f.enabled[o.object as usize];
            let required = if on && !o.open {
                model.required_state(&o.op)
            } else {
                None
            };
            let leaves = if on && matches!(model.growth(&o.op), Growth::Resets | Growth::Replaces) {
                Some(model.reset_state(&o.op))
            } else {
                None
            };
            f.required.push(required);
            f.leaves.push(leaves);
        }
        for (i, o) in ops.iter().enumerate() {
            f.count(i, o.object, 1);
        }
        f
    }

    fn count(&mut self, op: usize, object: u32, delta: i32) {
        let bump = |map: &mut HashMap<(u32, S), u32, FxBuild>, s: &S| {
            let n = map.entry((object, s.clone())).or_insert(0);
            *n = (*n as i32 + delta) as u32;
        };
        if let Some(need) = &self.required[op] {
            bump(&mut self.needs, need);
        }
        match &self.leaves[op] {
            Some(Some(s)) => bump(&mut self.resets, s),
            Some(None) => {
                let n = &mut self.any_resets[object as usize];
                *n = (*n as i32 + delta) as u32;
            }
            None => {}
        }
    }

    /// Whether `value` is needed by an unordered operation of `object` and nothing
    /// unordered can leave it.
    fn lacking(&self, object: u32, value: &S) -> bool {
        let key = (object, value.clone());
        self.any_resets[object as usize] == 0
            && self.needs.get(&key).copied().unwrap_or(0) > 0
            && self.resets.get(&key).copied().unwrap_or(0) == 0
    }

    /// Whether the starting configuration is already a dead end (a read of a value
    /// nothing writes, say).
    pub fn dead_at_start(&mut self, states: &[S]) -> bool {
        let found = self
            .needs
            .iter()
            .find(|((object, value), &n)| {
                n > 0 && states[*object as usize] != *value && self.lacking(*object, value)
            })
            .map(|((object, value), _)| Starved::Value(*object, value.clone()));
        self.starved = found;
        self.starved.is_some()
    }

    /// Records that `op` was ordered, taking its object from `before` to `after`
    /// (`after == before` for an operation left without effect), and says whether the
    /// new configuration is a dead end.
    pub fn ordered<M: Model<State = S>>(
        &mut self,
        model: &M,
        ops: &[SeqOp<M::Op>],
        op: usize,
        object: u32,
        before: &S,
        after: &S,
    ) -> bool {
        self.count(op, object, -1);
        self.done[op] = true;
        let obj = object as usize;
        if self.observer_at[op] != NIL {
            let list = &self.observers[obj];
            let lo = &mut self.observers_lo[obj];
            while *lo < list.len() && self.done[list[*lo] as usize] {
                *lo += 1;
            }
        }
        self.starved = None;
        if before != after && !self.observers[obj].is_empty() {
            if let Some(o) = self.unreachable_soon(model, ops, obj, after) {
                self.starved = Some(Starved::Observer(o));
                return true;
            }
        }
        if !self.enabled[obj] {
            return false;
        }
        if before != after && self.lacking(object, before) {
            self.starved = Some(Starved::Value(object, before.clone()));
            return true;
        }
        match &self.leaves[op] {
            Some(Some(v)) if v != after && self.lacking(object, v) => {
                self.starved = Some(Starved::Value(object, v.clone()));
                true
            }
            _ => false,
        }
    }

    /// Undoes [`Feasibility::ordered`].
    pub fn unordered(&mut self, op: usize, object: u32) {
        self.count(op, object, 1);
        self.done[op] = false;
        let at = self.observer_at[op];
        if at != NIL {
            let lo = &mut self.observers_lo[object as usize];
            *lo = (*lo).min(at as usize);
        }
    }

    /// One of the earliest-invoked unordered observations of `obj` that can no
    /// longer happen from `state`: unreachable by growth, and no unordered operation
    /// that replaces the state leads back within reach. Checking only the nearest
    /// keeps each step O(1); they are the ones a wrong order breaks first.
    fn unreachable_soon<M: Model<State = S>>(
        &mut self,
        model: &M,
        ops: &[SeqOp<M::Op>],
        obj: usize,
        state: &S,
    ) -> Option<u32> {
        let mut checked = 0;
        let mut at = self.observers_lo[obj];
        while at < self.observers[obj].len() && checked < NEAREST {
            let o = self.observers[obj][at];
            at += 1;
            if self.done[o as usize] {
                continue;
            }
            checked += 1;
            if !model.reachable(state, &ops[o as usize].op) && !self.helped(model, ops, o) {
                return Some(o);
            }
        }
        None
    }

    /// For models with a growth order (a kv store's appends, [`Model::reachable`]):
    /// whether the unordered observation `op`, which cannot happen in `state`, never
    /// can: the state only grows away from it, and no unordered operation that
    /// replaces the state could bring it back within reach.
    pub fn hopeless<M: Model<State = S>>(
        &mut self,
        model: &M,
        ops: &[SeqOp<M::Op>],
        op: u32,
        state: &S,
    ) -> bool {
        if self.observer_at[op as usize] == NIL || model.reachable(state, &ops[op as usize].op) {
            return false;
        }
        !self.helped(model, ops, op)
    }

    /// Whether an unordered operation that replaces the state could bring the
    /// observation `o` back within reach (the list of those that could is computed
    /// once per observation, when first needed).
    fn helped<M: Model<State = S>>(&mut self, model: &M, ops: &[SeqOp<M::Op>], o: u32) -> bool {
        if self.helpers[o as usize].is_none() {
            let obj = ops[o as usize].object as usize;
            let list = self.resets_of[obj]
                .iter()
                .copied()
                .filter(|&r| r != o)
                .filter(|&r| match model.reset_state(&ops[r as usize].op) {
                    Some(t) => model.reachable(&t, &ops[o as usize].op),
                    None => true,
                })
                .collect();
            self.helpers[o as usize] = Some(list);
        }
        self.helpers[o as usize]
            .as_ref()
            .expect("computed above")
            .iter()
            .any(|&r| !self.done[r as usize])
    }
}
