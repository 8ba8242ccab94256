//! Twins: completed operations identical to each other (same model operation, result
//! included: every `ok` write of 3, every `ok` read of 3, every `ok` CAS from 1 to 4),
//! which a history with many clients and few values is full of. Trying each twin in
//! turn at a choice point makes the search explore every order among them, which is
//! what left 50 clients with 5 values undecided.
//!
//! The reduction: of the twins that could be linearized now (invoked, the search's
//! walk having met no unlinearized return before their invocation), only the one
//! that returns first is offered.
//!
//! Why that loses no linearization. Let `a` and `b` be twins, both callable in the
//! configuration `C`, with `ret(a) <= ret(b)`, and let `L` be a linearization that
//! extends `C` by placing `b` first (at position `p`) and `a` later (at `q > p`).
//! Swap them: `a` at `p`, `b` at `q`. The states along `L` are unchanged, since the two
//! are the same operation. Real-time order still holds:
//! - `a` at `p`: everything that must precede `a` returned before `a` was invoked, and
//!   is already in `C` since `a` is callable there; everything `a` must precede was
//!   invoked after `ret(a)`, and stood after `q > p` in `L` already.
//! - `b` at `q`: what must precede `b` is in `C`, as `b` was callable; what `b` must
//!   precede was invoked after `ret(b) >= ret(a)`, so `a` at `q` preceded it already.
//!
//! So a linearization that starts with `a` exists whenever one starting with `b`
//! does: skipping `b` while `a` is callable is exact. (The converse does not hold,
//! which is why the earliest-returning twin is the one kept.) The twin that returns
//! first among the callable ones is never skipped, so every configuration the search
//! would need is still reached through it.
//!
//! Which twins are callable: a twin is, if its call event lies before the first
//! return event still in the walk's list (the walk stops at that return, and
//! everything it passed before is callable), which [`Events`](super::search) keeps.

use super::search::Prepared;
use crate::search::budget::{Budget, StopReason};
use crate::search::phase;

const NIL: u32 = u32::MAX;

/// How many earlier-returning twins are looked at before an operation is offered
/// anyway (offering it is always exact; the cap only bounds the cost of the test
/// for a long operation that many short twins nest in).
const SCAN: usize = 64;

pub(crate) struct Twins {
    /// Each operation's group of twins (NIL: it has none, or it is open).
    group: Vec<u32>,
    /// Each group's members, by return time (then index).
    members: Vec<Vec<u32>>,
    /// Each operation's position in its group's `members`.
    rank: Vec<u32>,
    /// For each group, a cursor before which every member is linearized.
    lo: Vec<u32>,
}

impl Twins {
    /// Groups the completed operations by `class` (equal classes: identical
    /// operations, see [`crate::model::Model::canonicalize`]); `None` if no two are
    /// alike. `Err` if a limit of `budget` is reached first: sorting a million
    /// operations by return takes a tenth of a second or more.
    pub(crate) fn new<O>(
        ops: &[Prepared<O>],
        class: &[u32],
        budget: &Budget,
    ) -> Result<Option<Twins>, StopReason> {
        let classes = class.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
        let mut count = vec![0u32; classes];
        for (p, &c) in ops.iter().zip(class) {
            if !p.is_open() {
                count[c as usize] += 1;
            }
        }
        let mut group_of_class = vec![NIL; classes];
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut group = vec![NIL; ops.len()];
        for (i, (p, &c)) in ops.iter().zip(class).enumerate() {
            phase::poll(budget, i)?;
            if p.is_open() || count[c as usize] < 2 {
                continue;
            }
            if group_of_class[c as usize] == NIL {
                group_of_class[c as usize] = members.len() as u32;
                members.push(Vec::with_capacity(count[c as usize] as usize));
            }
            let g = group_of_class[c as usize];
            group[i] = g;
            members[g as usize].push(i as u32);
        }
        if members.is_empty() {
            return Ok(None);
        }
        let mut rank = vec![NIL; ops.len()];
        for m in &mut members {
            let mut by_ret = phase::collect(budget, m.iter().map(|&i| (ops[i as usize].ret, i)))?;
            phase::sort(&mut by_ret, budget)?;
            for (r, &(_, i)) in by_ret.iter().enumerate() {
                m[r] = i;
                rank[i as usize] = r as u32;
            }
        }
        Ok(Some(Twins {
            group,
            lo: vec![0; members.len()],
            members,
            rank,
        }))
    }

    /// Whether `op` need not be offered: an unlinearized twin that returns before it
    /// is callable (`callable`).
    pub(crate) fn dominated(&self, op: u32, lin: &[bool], callable: impl Fn(u32) -> bool) -> bool {
        let g = self.group[op as usize];
        if g == NIL {
            return false;
        }
        let m = &self.members[g as usize];
        m[self.lo[g as usize] as usize..self.rank[op as usize] as usize]
            .iter()
            .take(SCAN)
            .any(|&a| !lin[a as usize] && callable(a))
    }

    pub(crate) fn linearized(&mut self, op: u32, lin: &[bool]) {
        let g = self.group[op as usize];
        if g == NIL {
            return;
        }
        let (m, lo) = (&self.members[g as usize], &mut self.lo[g as usize]);
        while (*lo as usize) < m.len() && lin[m[*lo as usize] as usize] {
            *lo += 1;
        }
    }

    pub(crate) fn unlinearized(&mut self, op: u32) {
        let g = self.group[op as usize];
        if g != NIL {
            let lo = &mut self.lo[g as usize];
            *lo = (*lo).min(self.rank[op as usize]);
        }
    }
}
