//! The operations open to the end of the history (crashed, `info`), indexed for the
//! search's stuck points, where it asks which of them could change the state now.
//!
//! A long history with crashes has thousands of them, most of which never took effect
//! and stay candidates to the end, so scanning them all at every stuck point makes the
//! search quadratic. Two exact reductions keep the answer small:
//!
//! - Identical operations form one class ([`Model::canonicalize`]), and only a class's
//!   earliest-invoked unused member is ever offered: any linearization that uses
//!   another member can swap the two, so trying one is enough. Members of a class are
//!   therefore linearized in invocation order, and a count per class says which are
//!   used.
//! - A class whose operations change the state only from one state
//!   ([`Model::changes_only_from`], such as a CAS from its expected value) is listed
//!   under that state, and offered only when the search is in it.

use super::search::Prepared;
use crate::model::Model;
use crate::search::memo::FxBuild;
use std::collections::HashMap;

const NIL: u32 = u32::MAX;

pub(crate) struct OpenIndex<S> {
    /// Each operation's class (every operation has one; only open ones are indexed).
    class: Vec<u32>,
    /// Open members of each class, by invocation time.
    members: Vec<Vec<u32>>,
    /// How many of each class's members are linearized (always the first ones).
    used: Vec<u32>,
    /// Classes that may change any state, by their first member's invocation, with a
    /// cursor before which every class is used up.
    free: Vec<u32>,
    free_lo: usize,
    free_at: Vec<u32>,
    /// The other classes, by the one state they change.
    gated: HashMap<S, Vec<u32>, FxBuild>,
    /// Every class, by the one state it leaves ([`Model::reset_state`]), if any: the
    /// open operations that could help an observation needing that state are looked
    /// up here, not found by scanning every writer of it in the history.
    leaving: HashMap<S, Vec<u32>, FxBuild>,
}

impl<S: Clone + Eq + std::hash::Hash> OpenIndex<S> {
    pub(crate) fn new<M: Model<State = S>>(
        model: &M,
        ops: &[Prepared<M::Op>],
        class: Vec<u32>,
    ) -> OpenIndex<S> {
        let classes = class.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
        let mut open: Vec<u32> = (0..ops.len() as u32)
            .filter(|&i| ops[i as usize].is_open())
            .collect();
        open.sort_by_key(|&i| (ops[i as usize].call, i));
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); classes];
        let mut free = Vec::new();
        let mut gated: HashMap<S, Vec<u32>, FxBuild> = HashMap::default();
        let mut free_at = vec![NIL; classes];
        let mut leaving: HashMap<S, Vec<u32>, FxBuild> = HashMap::default();
        for &i in &open {
            let c = class[i as usize];
            if members[c as usize].is_empty() {
                if let Some(s) = model.reset_state(&ops[i as usize].op) {
                    leaving.entry(s).or_default().push(c);
                }
                match model.changes_only_from(&ops[i as usize].op) {
                    Some(s) => gated.entry(s).or_default().push(c),
                    None => {
                        free_at[c as usize] = free.len() as u32;
                        free.push(c);
                    }
                }
            }
            members[c as usize].push(i);
        }
        OpenIndex {
            class,
            members,
            used: vec![0; classes],
            free,
            free_lo: 0,
            free_at,
            gated,
            leaving,
        }
    }

    /// The next unused member of `c` if it was invoked by `limit`.
    fn next_of(&self, c: u32, ops_call: impl Fn(u32) -> u64, limit: u64) -> Option<u32> {
        let m = &self.members[c as usize];
        let u = self.used[c as usize] as usize;
        (u < m.len() && ops_call(m[u]) <= limit).then(|| m[u])
    }

    /// One open operation per class that could be linearized before `limit` and might
    /// change `state`, free classes first (by invocation), then those gated on `state`.
    pub(crate) fn offers<O>(&self, ops: &[Prepared<O>], state: &S, limit: u64, out: &mut Vec<u32>) {
        let call = |i: u32| ops[i as usize].call;
        for &c in &self.free[self.free_lo..] {
            if call(self.members[c as usize][0]) > limit {
                break;
            }
            out.extend(self.next_of(c, call, limit));
        }
        if let Some(cs) = self.gated.get(state) {
            out.extend(cs.iter().filter_map(|&c| self.next_of(c, call, limit)));
        }
    }

    /// One open operation per class that leaves `state` and could be linearized
    /// before `limit`, by its class's first invocation.
    pub(crate) fn leaving(
        &self,
        ops_call: impl Fn(u32) -> u64,
        state: &S,
        limit: u64,
        out: &mut Vec<u32>,
    ) {
        if let Some(cs) = self.leaving.get(state) {
            out.extend(cs.iter().filter_map(|&c| self.next_of(c, &ops_call, limit)));
        }
    }

    pub(crate) fn linearized(&mut self, op: u32) {
        let c = self.class[op as usize] as usize;
        debug_assert_eq!(
            self.members[c].get(self.used[c] as usize),
            Some(&op),
            "members of a class are used in order"
        );
        self.used[c] += 1;
        while self.free_lo < self.free.len() {
            let f = self.free[self.free_lo] as usize;
            if (self.used[f] as usize) < self.members[f].len() {
                break;
            }
            self.free_lo += 1;
        }
    }

    pub(crate) fn unlinearized(&mut self, op: u32) {
        let c = self.class[op as usize] as usize;
        self.used[c] -= 1;
        if self.free_at[c] != NIL {
            self.free_lo = self.free_lo.min(self.free_at[c] as usize);
        }
    }
}
