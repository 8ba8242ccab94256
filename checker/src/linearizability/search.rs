//! The general exact search: Wing & Gong's backtracking over linearization orders,
//! with Lowe's memoization of (linearized set, state) configurations, iterative and
//! over a dancing-links list of call and return events, as porcupine does it.
//!
//! The search walks the events in time order. At a call event it tries to linearize
//! that operation now (if the model allows it and the resulting configuration is
//! new); at a return event of an operation not yet linearized it is stuck. It
//! succeeds when every operation that returned is linearized.
//!
//! Operations open to the end of the history (`info`) have no return event and stay
//! out of the event list: they may be linearized at any point after their call or
//! never (which is the same as last), so they are tried only when the walk is stuck,
//! before backtracking, the ones that would let the stuck operation happen first.
//! Trying them then rather than at their call event only reorders the search's
//! choices, so it explores the same configurations when it must, and a crashed client
//! costs nothing while it is not needed. Configurations are memoized with dominance
//! on the open operations linearized (see `memo`), and for models with a growth
//! order a lookahead abandons states from which a later observation is unreachable
//! (asked once per shape of observer, not once per observer, and after a reset only
//! of the observers that reset can cut off: [`Lookahead::viable_after_reset`]).
//!
//! Two more reductions, each proved where it is made: of identical completed
//! operations callable at once, only the one that returns first is offered
//! (`twins`), and completed blind writes are linearized just in time, at a stuck
//! point rather than at their call event ([`Search::deferred_candidates`]).

use super::open_index::OpenIndex;
use super::twins::Twins;
use crate::model::{Growth, Model};
use crate::search::budget::{Budget, Meter, StopReason};
use crate::search::memo::{zobrist, FxBuild, Memo, OpenMask};
use crate::search::phase;
use crate::search::report::{Outcome, SearchResult};
use std::collections::HashMap;

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

/// Why no linearization exists: `prefix` (indices into the search's operations, in
/// order) is the longest linearizable prefix the search found, `state` the model
/// state after it.
#[derive(Debug)]
pub struct Violation<S> {
    pub prefix: Vec<usize>,
    pub state: S,
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
    /// Each operation's call entry (NIL for open operations).
    call_of: Vec<u32>,
    /// The first return entry still in the list (NIL if none): the walk stops there,
    /// so exactly the operations whose call entry comes before it are callable.
    first_ret: u32,
}

impl Events {
    /// The call and return events of the operations that returned; `Err` if a limit
    /// of `budget` is reached first (sorting two million events takes a while).
    fn new<O>(ops: &[Prepared<O>], budget: &Budget) -> Result<Events, StopReason> {
        // Calls sort before returns at the same instant: operations that touch in
        // time are concurrent, the permissive reading.
        let mut order: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * ops.len());
        for (i, p) in ops.iter().enumerate() {
            phase::poll(budget, i)?;
            if !p.is_open() {
                order.push((p.call, false, i as u32));
                order.push((p.ret.max(p.call), true, i as u32));
            }
        }
        phase::sort(&mut order, budget)?;
        let mut e = Vec::with_capacity(order.len() + 1);
        e.push(Entry {
            prev: NIL,
            next: NIL,
            op: NIL,
            ret: NIL,
            is_call: false,
        });
        let mut call_entry = vec![NIL; ops.len()];
        for (pos, &(_, is_ret, op)) in order.iter().enumerate() {
            phase::poll(budget, pos)?;
            let idx = pos as u32 + 1;
            e.push(Entry {
                prev: idx - 1,
                next: idx + 1,
                op,
                ret: NIL,
                is_call: !is_ret,
            });
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
        let first_ret = (1..e.len() as u32)
            .find(|&i| !e[i as usize].is_call)
            .unwrap_or(NIL);
        Ok(Events {
            e,
            call_of: call_entry,
            first_ret,
        })
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
            if r == self.first_ret {
                // An unlinked entry keeps its links, so the walk on starts from there.
                let mut next = self.e[r as usize].next;
                while next != NIL && self.e[next as usize].is_call {
                    next = self.e[next as usize].next;
                }
                self.first_ret = next;
            }
        }
    }

    #[inline]
    fn unlift(&mut self, call: u32) {
        let r = self.e[call as usize].ret;
        if r != NIL {
            self.relink(r);
            self.first_ret = self.first_ret.min(r);
        }
        self.relink(call);
    }
}

/// One linearized operation on the search's stack. Kept small (48 bytes for a
/// register): a long walk pushes one per operation, and writing them to fresh memory
/// was a tenth of the 100,000-operation search's time when the rarely used choices
/// still to try were stored inline.
struct Frame<S> {
    op: u32,
    /// The call entry of an operation that returned; NIL for an open operation.
    entry: u32,
    /// For an operation tried at a stuck point: the operation whose return event the
    /// walk was stuck at (NIL for one linearized at its call event), and whether the
    /// open operations not in `open_rest` are still to be tried.
    stuck: u32,
    open_more: bool,
    /// An observation linearized as soon as it could be: no alternative to explore.
    forced: bool,
    prev_state: S,
    /// The choices still to try here, if any.
    untried: Option<Box<Untried<S>>>,
}

struct Untried<S> {
    /// Other states this operation could have led to.
    alternatives: Vec<S>,
    /// For an operation tried at a stuck point (open, or a deferred write): the other
    /// operations still to try there.
    open_rest: Vec<u32>,
}

/// Operations in a fixed order, with a cursor before which all are linearized.
struct Track {
    items: Vec<u32>,
    lo: usize,
}

impl Track {
    /// By invocation time; `Err` if a limit of `budget` is reached first.
    fn by_call<O>(
        ops: &[Prepared<O>],
        items: Vec<u32>,
        budget: &Budget,
    ) -> Result<Track, StopReason> {
        let mut keyed = phase::collect(budget, items.iter().map(|&i| (ops[i as usize].call, i)))?;
        phase::sort(&mut keyed, budget)?;
        let items = phase::collect(budget, keyed.into_iter().map(|(_, i)| i))?;
        Ok(Track { items, lo: 0 })
    }

    fn advance(&mut self, linearized: &[bool]) {
        while self.lo < self.items.len() && linearized[self.items[self.lo] as usize] {
            self.lo += 1;
        }
    }
}

/// The observations still to come, for models whose states only grow (or are reset):
/// a state from which one of them is unreachable can be abandoned at once, instead of
/// after every ordering of the operations before that observation has been tried.
struct Lookahead<S> {
    observers: Track,
    resets: Track,
    /// Position of each operation in `observers.items` / `resets.items`, or NIL.
    observer_at: Vec<u32>,
    reset_at: Vec<u32>,
    /// The state each reset leaves (`None`: any).
    reset_state: Vec<Option<S>>,
    /// How many resets may leave any state (`reset_state` is `None`).
    any_state_resets: usize,
    required: Vec<Option<S>>,
    /// For each observer that needs one exact state, the resets that leave it (an
    /// index into `leaving`), so the lookahead's hottest test needs no hashing; NIL if
    /// none does or the observer needs no exact state.
    helpers_of: Vec<u32>,
    leaving: Vec<Vec<u32>>,
    /// When resets leave few distinct states (at most [`LISTED_STATES`]): every one of
    /// them, the `i`th being the one `leaving[i]` leaves; else empty. Lets an observer
    /// that needs no one exact state (a failed CAS) ask each list for its first
    /// unused reset instead of scanning every reset invoked before it returned: a
    /// crashed operation that never took effect stays unused to the end and kept
    /// that scan from skipping the linearized resets after it.
    listed_states: Vec<S>,
    /// For each list in `leaving` (by invocation), a cursor before which every reset
    /// is linearized, kept as [`Track`] keeps its own: without it every test scans
    /// the history's linearized writers of a value again, which made the lookahead
    /// quadratic when values repeat.
    leaving_lo: Vec<usize>,
    /// Each reset's list in `leaving` and its position there, or NIL.
    leaving_of: Vec<(u32, u32)>,
    /// What the window test reads of each observer, in `observers.items`' order:
    /// one sequential array instead of four per-operation ones in the hottest loop.
    window: Vec<Watched>,
    /// The observers' shapes (see [`Watched::shape`]), and how to test only the
    /// ones a reset can break ([`Lookahead::viable_after_reset`]).
    shapes: Shapes<S>,
}

/// The observers by shape.
struct Shapes<S> {
    shape: Vec<Shape>,
    /// Each shape's observers, by invocation, with a cursor before which every one
    /// is linearized (as [`Track`] keeps its own).
    members: Vec<Vec<Member>>,
    members_lo: Vec<usize>,
    /// Each observer's shape and its position in that shape's `members`, or NIL.
    member_of: Vec<(u32, u32)>,
    needing: HashMap<S, u32, FxBuild>,
    excluding: HashMap<S, u32, FxBuild>,
    /// Whether every observer has a shape, which the test after a reset relies on.
    all_shaped: bool,
}

#[derive(Clone, Copy)]
struct Member {
    op: u32,
    call: u64,
    ret: u64,
}

/// One observer as [`Lookahead::viable`] reads it.
#[derive(Clone, Copy)]
struct Watched {
    op: u32,
    /// Observers that need the same one state ([`Model::required_state`]), or can
    /// happen in every state but the same one ([`Model::excluded_state`]), share a
    /// shape: whether a state can reach them, and when the first reset that could
    /// bring them back is invoked, is one answer for all of them (5 values: 64
    /// observers, 10 shapes). NIL for an observer with neither.
    shape: u32,
    ret: u64,
}

#[derive(Clone, Copy)]
struct Shape {
    /// An observer of this shape, to ask the model with.
    example: u32,
    /// For a shape needing one state: its list in `leaving` (NIL if no reset leaves
    /// it). NIL for a shape excluding one state.
    helpers: u32,
    needs: bool,
}

/// Answers per shape that one window test keeps (direct-mapped by shape).
const SHAPE_CACHE: usize = 64;

/// See [`Lookahead::listed_states`].
const LISTED_STATES: usize = 32;

/// How many of the earliest-invoked unlinearized observations each new state is
/// tested against. The nearest ones are the ones a wrong order breaks first, but not
/// always: in porcupine's c50-bad, key "0", the observation that rules out a wrong
/// order lies beyond the first 32, and with 16 the search takes 19 million steps
/// instead of 6. (Ordering them by completion instead prunes less on the synthetic
/// benchmark histories.)
const LOOKAHEAD: usize = 64;

impl<S: Clone + Eq + std::hash::Hash> Lookahead<S> {
    /// The lookahead for `ops`, `None` if the model has no growth order for them;
    /// `Err` if a limit of `budget` is reached first.
    fn new<M: Model<State = S>>(
        model: &M,
        ops: &[Prepared<M::Op>],
        budget: &Budget,
    ) -> Result<Option<Lookahead<S>>, StopReason> {
        let growth = phase::collect(budget, ops.iter().map(|p| model.growth(&p.op)))?;
        if ops.is_empty() || growth.contains(&Growth::Other) {
            return Ok(None);
        }
        let pick = |a: Growth, b: Growth| {
            let picked = (0..ops.len() as u32).filter(|&i| [a, b].contains(&growth[i as usize]));
            phase::collect(budget, picked)
        };
        let observers = Track::by_call(ops, pick(Growth::Observes, Growth::Replaces)?, budget)?;
        let resets = Track::by_call(ops, pick(Growth::Resets, Growth::Replaces)?, budget)?;
        let mut observer_at = vec![NIL; ops.len()];
        for (p, &i) in observers.items.iter().enumerate() {
            observer_at[i as usize] = p as u32;
        }
        let mut reset_at = vec![NIL; ops.len()];
        let mut reset_state = vec![None; ops.len()];
        let mut resets_leaving: HashMap<S, Vec<u32>, FxBuild> = HashMap::default();
        for (p, &i) in resets.items.iter().enumerate() {
            phase::poll(budget, p)?;
            reset_at[i as usize] = p as u32;
            let leaves = model.reset_state(&ops[i as usize].op);
            if let Some(t) = &leaves {
                resets_leaving.entry(t.clone()).or_default().push(i);
            }
            reset_state[i as usize] = leaves;
        }
        let required = phase::collect(budget, ops.iter().map(|p| model.required_state(&p.op)))?;
        let mut leaving: Vec<Vec<u32>> = Vec::new();
        let mut leaving_id: HashMap<&S, u32, FxBuild> = HashMap::default();
        let mut listed_states = Vec::new();
        if resets_leaving.len() <= LISTED_STATES {
            for (t, ws) in &resets_leaving {
                leaving_id.insert(t, leaving.len() as u32);
                leaving.push(ws.clone());
                listed_states.push(t.clone());
            }
        }
        let helpers = required.iter().map(|need| {
            let Some(need) = need else { return NIL };
            let Some(ws) = resets_leaving.get(need) else {
                return NIL;
            };
            *leaving_id.entry(need).or_insert_with(|| {
                leaving.push(ws.clone());
                leaving.len() as u32 - 1
            })
        });
        let helpers_of = phase::collect(budget, helpers)?;
        drop(leaving_id);
        let mut leaving_of = vec![(NIL, NIL); ops.len()];
        for (list, ws) in leaving.iter().enumerate() {
            for (p, &w) in ws.iter().enumerate() {
                phase::poll(budget, p)?;
                leaving_of[w as usize] = (list as u32, p as u32);
            }
        }
        let any_state_resets = resets
            .items
            .iter()
            .filter(|&&i| reset_state[i as usize].is_none())
            .count();
        let (window, shapes) = shapes_of(model, ops, &observers.items, &required, &helpers_of);
        let shapes = Shapes::new(shapes, &window, ops);
        Ok(Some(Lookahead {
            window,
            shapes,
            listed_states,
            any_state_resets,
            observers,
            resets,
            observer_at,
            reset_at,
            reset_state,
            required,
            helpers_of,
            leaving_lo: vec![0; leaving.len()],
            leaving,
            leaving_of,
        }))
    }

    /// Whether `state`, just reached by linearizing `op`, can still lead to every one
    /// of the nearest observations.
    fn viable<M: Model<State = S>>(
        &self,
        model: &M,
        ops: &[Prepared<M::Op>],
        lin: &[bool],
        state: &S,
        op: usize,
    ) -> bool {
        // Per shape: whether `state` reaches it, else when its first unused helper
        // was invoked (`None`: no list to ask, scan per observer).
        let mut tag = [NIL; SHAPE_CACHE];
        let mut answer = [(false, None::<u64>); SHAPE_CACHE];
        let usable = |w: u32| !lin[w as usize] && w as usize != op;
        self.window[self.observers.lo..]
            .iter()
            .filter(|w| usable(w.op))
            .take(LOOKAHEAD)
            .all(|w| {
                if w.shape == NIL {
                    let i = w.op as usize;
                    return model.reachable(state, &ops[i].op)
                        || self.reset_helps(model, ops, lin, op, i);
                }
                let slot = w.shape as usize % SHAPE_CACHE;
                if tag[slot] != w.shape {
                    tag[slot] = w.shape;
                    answer[slot] = self.shape_answer(model, ops, lin, state, op, w.shape);
                }
                match answer[slot] {
                    (true, _) => true,
                    (false, Some(first)) => {
                        first <= w.ret || self.any_state_reset(ops, &usable, w.ret)
                    }
                    (false, None) => self.reset_helps(model, ops, lin, op, w.op as usize),
                }
            })
    }

    /// For [`Lookahead::viable`]: whether `state` reaches the observers of `shape`;
    /// if not, when the first reset other than `op` still to come that leaves a state
    /// reaching them was invoked (`u64::MAX`: none; `None`: resets leave too many
    /// states to keep a list of each, so each observer scans them).
    fn shape_answer<M: Model<State = S>>(
        &self,
        model: &M,
        ops: &[Prepared<M::Op>],
        lin: &[bool],
        state: &S,
        op: usize,
        shape: u32,
    ) -> (bool, Option<u64>) {
        let Shape {
            example,
            helpers,
            needs,
        } = self.shapes.shape[shape as usize];
        let example = &ops[example as usize].op;
        if model.reachable(state, example) {
            return (true, None);
        }
        if needs {
            return match helpers {
                NIL => (false, Some(u64::MAX)),
                h => (false, Some(self.first_usable(ops, lin, op, h))),
            };
        }
        if self.listed_states.is_empty() {
            return (false, None);
        }
        let first = (0..self.listed_states.len() as u32)
            .filter(|&h| model.reachable(&self.listed_states[h as usize], example))
            .map(|h| self.first_usable(ops, lin, op, h))
            .min()
            .unwrap_or(u64::MAX);
        (false, Some(first))
    }

    /// When the first reset in `leaving[h]` other than `op` and not yet linearized
    /// was invoked (`u64::MAX`: none is left).
    fn first_usable<O>(&self, ops: &[Prepared<O>], lin: &[bool], op: usize, h: u32) -> u64 {
        let h = h as usize;
        self.leaving[h][self.leaving_lo[h]..]
            .iter()
            .find(|&&w| !lin[w as usize] && w as usize != op)
            .map_or(u64::MAX, |&w| ops[w as usize].call)
    }

    /// Whether a reset not yet linearized, invoked before `observer` returned, could
    /// bring the state back to where `observer` is reachable.
    fn reset_helps<M: Model<State = S>>(
        &self,
        model: &M,
        ops: &[Prepared<M::Op>],
        lin: &[bool],
        op: usize,
        observer: usize,
    ) -> bool {
        let before = ops[observer].ret;
        let usable =
            |w: u32| !lin[w as usize] && w as usize != op && ops[w as usize].call <= before;
        if self.required[observer].is_some() {
            let h = self.helpers_of[observer];
            let exact = h != NIL && self.first_usable(ops, lin, op, h) <= before;
            // Resets that may leave any state help every observer.
            return exact || self.any_state_reset(ops, &usable, before);
        }
        if !self.listed_states.is_empty() {
            return self.listed_states.iter().enumerate().any(|(h, t)| {
                model.reachable(t, &ops[observer].op)
                    && self.first_usable(ops, lin, op, h as u32) <= before
            }) || self.any_state_reset(ops, &usable, before);
        }
        self.resets.items[self.resets.lo..]
            .iter()
            .take_while(|&&w| ops[w as usize].call <= before)
            .filter(|&&w| usable(w))
            .any(|&w| match &self.reset_state[w as usize] {
                Some(t) => model.reachable(t, &ops[observer].op),
                None => true,
            })
    }

    fn any_state_reset<O>(
        &self,
        ops: &[Prepared<O>],
        usable: &dyn Fn(u32) -> bool,
        before: u64,
    ) -> bool {
        self.any_state_resets > 0
            && self.resets.items[self.resets.lo..]
                .iter()
                .take_while(|&&w| ops[w as usize].call <= before)
                .any(|&w| self.reset_state[w as usize].is_none() && usable(w))
    }

    /// Whether `observer` can happen neither in `state` nor after any reset still to
    /// come.
    fn unreachable<M: Model<State = S>>(
        &self,
        model: &M,
        ops: &[Prepared<M::Op>],
        lin: &[bool],
        state: &S,
        observer: usize,
    ) -> bool {
        self.observer_at[observer] != NIL
            && !model.reachable(state, &ops[observer].op)
            && !self.reset_helps(model, ops, lin, usize::MAX, observer)
    }

    fn linearized(&mut self, op: usize, lin: &[bool]) {
        if self.observer_at[op] != NIL {
            self.observers.advance(lin);
        }
        if self.reset_at[op] != NIL {
            self.resets.advance(lin);
        }
        let (list, _) = self.leaving_of[op];
        if list != NIL {
            let (ws, lo) = (
                &self.leaving[list as usize],
                &mut self.leaving_lo[list as usize],
            );
            while *lo < ws.len() && lin[ws[*lo] as usize] {
                *lo += 1;
            }
        }
        let (shape, _) = self.shapes.member_of[op];
        if shape != NIL {
            let (ms, lo) = (
                &self.shapes.members[shape as usize],
                &mut self.shapes.members_lo[shape as usize],
            );
            while *lo < ms.len() && lin[ms[*lo].op as usize] {
                *lo += 1;
            }
        }
    }

    fn unlinearized(&mut self, op: usize) {
        if self.observer_at[op] != NIL {
            self.observers.lo = self.observers.lo.min(self.observer_at[op] as usize);
        }
        if self.reset_at[op] != NIL {
            self.resets.lo = self.resets.lo.min(self.reset_at[op] as usize);
        }
        let (list, at) = self.leaving_of[op];
        if list != NIL {
            let lo = &mut self.leaving_lo[list as usize];
            *lo = (*lo).min(at as usize);
        }
        let (shape, at) = self.shapes.member_of[op];
        if shape != NIL {
            let lo = &mut self.shapes.members_lo[shape as usize];
            *lo = (*lo).min(at as usize);
        }
    }

    /// [`Lookahead::viable`] for `op`, a reset that leads `from` to `state`, when
    /// the configuration before it passed that test (every configuration the search
    /// holds did, or skipped it, which only prunes less); `None` when this shortcut
    /// does not apply. A reset changes only two things: the state, and that `op`
    /// can no longer help. So of the observers that could still be reached before,
    /// only those needing `from` (no longer the state) or excluding `state` (now the
    /// state) can have become unreachable; the rest, reached then by the state or
    /// by a reset other than `op` leaving a state `op` does not leave, still are.
    /// Those two shapes are tested whole, not just within the window: stopping at
    /// the first observer invoked after the first reset that could help, since
    /// every later one returns after that reset too. A write at a stuck point tests
    /// a handful of observers instead of 64.
    fn viable_after_reset<M: Model<State = S>>(
        &self,
        model: &M,
        ops: &[Prepared<M::Op>],
        lin: &[bool],
        (from, state): (&S, &S),
        op: usize,
    ) -> Option<bool> {
        let leaves = self.reset_state[op].as_ref()?;
        if !self.shapes.all_shaped
            || self.any_state_resets > 0
            || (leaves != state && from != state)
        {
            return None;
        }
        let mut broken = [
            (from != state)
                .then(|| self.shapes.needing.get(from).copied())
                .flatten(),
            self.shapes.excluding.get(state).copied(),
        ];
        if broken[0] == broken[1] {
            broken[1] = None;
        }
        for &shape in broken.iter().flatten() {
            let first = match self.shape_answer(model, ops, lin, state, op, shape) {
                (true, _) => continue,
                (false, None) => return None,
                (false, Some(first)) => first,
            };
            let members = &self.shapes.members[shape as usize];
            let reached = members[self.shapes.members_lo[shape as usize]..]
                .iter()
                .take_while(|m| m.call <= first)
                .all(|m| lin[m.op as usize] || m.op as usize == op || first <= m.ret);
            if !reached {
                return Some(false);
            }
        }
        Some(true)
    }
}

impl<S: Clone + Eq + std::hash::Hash> Shapes<S> {
    fn new<O>(
        (shape, needing, excluding): ShapeList<S>,
        window: &[Watched],
        ops: &[Prepared<O>],
    ) -> Shapes<S> {
        let mut members: Vec<Vec<Member>> = vec![Vec::new(); shape.len()];
        let mut member_of = vec![(NIL, NIL); ops.len()];
        for w in window.iter().filter(|w| w.shape != NIL) {
            let list = &mut members[w.shape as usize];
            member_of[w.op as usize] = (w.shape, list.len() as u32);
            list.push(Member {
                op: w.op,
                call: ops[w.op as usize].call,
                ret: w.ret,
            });
        }
        Shapes {
            all_shaped: window.iter().all(|w| w.shape != NIL),
            members_lo: vec![0; shape.len()],
            shape,
            members,
            member_of,
            needing,
            excluding,
        }
    }
}

/// Each observer's [`Watched`] record (in `observers`' order) and the shapes they
/// come in.
fn shapes_of<M: Model>(
    model: &M,
    ops: &[Prepared<M::Op>],
    observers: &[u32],
    required: &[Option<M::State>],
    helpers_of: &[u32],
) -> (Vec<Watched>, ShapeList<M::State>) {
    let mut shapes = Vec::new();
    let mut needing: HashMap<&M::State, u32, FxBuild> = HashMap::default();
    let mut excluding: HashMap<M::State, u32, FxBuild> = HashMap::default();
    let mut new_shape = |i: u32, needs: bool| {
        shapes.push(Shape {
            example: i,
            helpers: if needs { helpers_of[i as usize] } else { NIL },
            needs,
        });
        shapes.len() as u32 - 1
    };
    let window = observers
        .iter()
        .map(|&i| {
            let shape = match &required[i as usize] {
                Some(need) => *needing.entry(need).or_insert_with(|| new_shape(i, true)),
                None => match model.excluded_state(&ops[i as usize].op) {
                    Some(t) => *excluding.entry(t).or_insert_with(|| new_shape(i, false)),
                    None => NIL,
                },
            };
            Watched {
                op: i,
                shape,
                ret: ops[i as usize].ret,
            }
        })
        .collect();
    let needing = needing.into_iter().map(|(s, i)| (s.clone(), i)).collect();
    (window, (shapes, needing, excluding))
}

/// The shapes, and those needing or excluding each state.
type ShapeList<S> = (
    Vec<Shape>,
    HashMap<S, u32, FxBuild>,
    HashMap<S, u32, FxBuild>,
);

/// The search's whole mutable state.
struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [Prepared<M::Op>],
    events: Events,
    keys: Vec<u128>,
    /// Position of each open operation among the open ones (by call), or NIL.
    open_at: Vec<u32>,
    /// Open operations by invocation time.
    open: Vec<u32>,
    /// The open operations, by class and by the state they need to change anything.
    open_index: OpenIndex<M::State>,
    /// Identical completed operations, of which only one is offered at a time.
    twins: Option<Twins>,
    /// Scratch space for [`OpenIndex::offers`].
    offers: Vec<u32>,
    /// Operations that only observe the state ([`Growth::Observes`]).
    observes: Vec<bool>,
    /// Completed blind writes ([`Growth::Resets`]), linearized just in time: only at
    /// a stuck point, never at their call event (see [`Search::deferred_candidates`]).
    deferred: Vec<bool>,
    lin: Vec<bool>,
    state: M::State,
    /// Fingerprint of the linearized operations (the open ones beyond the mask's
    /// 128 included), and the mask of the first 128 open ones.
    fingerprint: u128,
    mask: OpenMask,
    memo: Memo<M::State>,
    stack: Vec<Frame<M::State>>,
    lookahead: Option<Lookahead<M::State>>,
    remaining: usize,
    explored: u64,
    scratch: Vec<M::State>,
    best: Vec<u32>,
    best_state: M::State,
    synced: usize,
}

impl<'a, M: Model> Search<'a, M> {
    /// The configuration after linearizing `op` (fingerprint, mask).
    fn after(&self, op: u32) -> (u128, OpenMask) {
        let at = self.open_at[op as usize];
        if at != NIL && at < 128 {
            (self.fingerprint, self.mask | (1u128 << at))
        } else {
            (self.fingerprint ^ self.keys[op as usize], self.mask)
        }
    }

    /// Picks, from `candidates` (popped from the back), a state that is viable and
    /// new; the rest of `candidates` stays for later.
    fn choose(&mut self, op: u32, candidates: &mut Vec<M::State>) -> Option<M::State> {
        let (fp, mask) = self.after(op);
        let open = self.open_at[op as usize] != NIL;
        while let Some(s) = candidates.pop() {
            // An open operation that would change nothing is never worth placing: the
            // configuration without it can do all the same, and more.
            if open && s == self.state {
                continue;
            }
            // An observation leaves the state and every reset still to come as they
            // were, so the configuration it leads to passes every test the current
            // one passed when it was reached: testing it again would cost the
            // lookahead's window for nothing (skipping a test is always exact, the
            // lookahead only prunes).
            let observes = self.observes[op as usize];
            if let (Some(l), false) = (&self.lookahead, observes) {
                let (model, ops, lin) = (self.model, self.ops, &self.lin);
                let viable = l
                    .viable_after_reset(model, ops, lin, (&self.state, &s), op as usize)
                    .unwrap_or_else(|| l.viable(model, ops, lin, &s, op as usize));
                if !viable {
                    // Still a linearizable prefix, and the most telling one for a
                    // counterexample: the observation it rules out is the one stuck.
                    if self.stack.len() + 1 > self.best.len() {
                        self.best.truncate(self.synced);
                        let from = self.synced;
                        self.best.extend(self.stack[from..].iter().map(|f| f.op));
                        self.best.push(op);
                        self.synced = self.stack.len();
                        self.best_state = s;
                    }
                    continue;
                }
            }
            self.explored += 1;
            if self.memo.insert(fp, s.clone(), mask) {
                return Some(s);
            }
        }
        None
    }

    /// Linearizes `op` into `next` and records the frame.
    fn push(
        &mut self,
        op: u32,
        entry: u32,
        next: M::State,
        alternatives: Vec<M::State>,
        open_rest: Vec<u32>,
        forced: bool,
    ) {
        let (fp, mask) = self.after(op);
        self.fingerprint = fp;
        self.mask = mask;
        let prev_state = std::mem::replace(&mut self.state, next);
        let untried = (!alternatives.is_empty() || !open_rest.is_empty()).then(|| {
            Box::new(Untried {
                alternatives,
                open_rest,
            })
        });
        self.stack.push(Frame {
            op,
            entry,
            prev_state,
            untried,
            forced,
            stuck: NIL,
            open_more: false,
        });
        self.lin[op as usize] = true;
        if let Some(l) = &mut self.lookahead {
            l.linearized(op as usize, &self.lin);
        }
        if let Some(t) = &mut self.twins {
            t.linearized(op, &self.lin);
        }
        if self.open_at[op as usize] != NIL {
            self.open_index.linearized(op);
        }
        if entry != NIL {
            self.events.lift(entry);
            self.remaining -= 1;
        }
        if self.stack.len() > self.best.len() {
            self.best.truncate(self.synced);
            let from = self.synced;
            self.best.extend(self.stack[from..].iter().map(|f| f.op));
            self.synced = self.stack.len();
            self.best_state = self.state.clone();
        }
    }

    /// Undoes the latest linearization; returns its frame.
    fn pop(&mut self) -> Option<Frame<M::State>> {
        let mut frame = self.stack.pop()?;
        self.synced = self.synced.min(self.stack.len());
        let op = frame.op;
        if frame.entry != NIL {
            self.events.unlift(frame.entry);
            self.remaining += 1;
        }
        self.lin[op as usize] = false;
        if let Some(l) = &mut self.lookahead {
            l.unlinearized(op as usize);
        }
        if let Some(t) = &mut self.twins {
            t.unlinearized(op);
        }
        if self.open_at[op as usize] != NIL {
            self.open_index.unlinearized(op);
        }
        let at = self.open_at[op as usize];
        if at != NIL && at < 128 {
            self.mask &= !(1u128 << at);
        } else {
            self.fingerprint ^= self.keys[op as usize];
        }
        self.state = std::mem::replace(&mut frame.prev_state, self.model.init());
        Some(frame)
    }

    /// At a stuck point (the return event of `stuck`), the open operations that could
    /// be linearized now, the ones that let `stuck` happen right after first (they
    /// are tried from the back). When the model names the one state `stuck` needs,
    /// only the open operations that leave that state are listed (found by lookup),
    /// and `true` says the others are still to be tried once those fail.
    fn open_candidates(&mut self, stuck: u32) -> (Vec<u32>, bool) {
        let limit = self.ops[stuck as usize].ret;
        if let Some(l) = &self.lookahead {
            if let Some(need) = &l.required[stuck as usize] {
                // One per class of identical operations: its next unused member.
                let mut helpful = Vec::new();
                let ops = self.ops;
                self.open_index
                    .leaving(|i| ops[i as usize].call, need, limit, &mut helpful);
                helpful.reverse();
                return (helpful, true);
            }
        }
        (self.scan_open(stuck, None), false)
    }

    /// Every open operation that could be linearized now and would change the state,
    /// those letting `stuck` happen right after last (tried first); with `skip`,
    /// leaving out the ones that leave that state (already tried).
    fn scan_open(&mut self, stuck: u32, skip: Option<&M::State>) -> Vec<u32> {
        let limit = self.ops[stuck as usize].ret;
        let mut offers = std::mem::take(&mut self.offers);
        offers.clear();
        self.open_index
            .offers(self.ops, &self.state, limit, &mut offers);
        let mut helpful = Vec::new();
        let mut others = Vec::new();
        for &i in &offers {
            debug_assert!(!self.lin[i as usize]);
            if let (Some(need), Some(l)) = (skip, &self.lookahead) {
                if l.reset_state[i as usize].as_ref() == Some(need) {
                    continue;
                }
            }
            self.scratch.clear();
            self.model
                .successors(&self.state, &self.ops[i as usize].op, &mut self.scratch);
            let state = &self.state;
            self.scratch.retain(|s| s != state);
            let helps = self
                .scratch
                .iter()
                .any(|s| self.model.step(s, &self.ops[stuck as usize].op).is_some());
            if helps {
                helpful.push(i);
            } else if !self.scratch.is_empty() {
                others.push(i);
            }
        }
        self.offers = offers;
        others.reverse();
        helpful.reverse();
        others.extend(helpful);
        others
    }

    /// At a stuck point (the return event of `stuck`), adds to `candidates` the
    /// deferred blind writes that could be linearized now (callable, and not a twin
    /// of an earlier-returning one), to be tried first: `stuck` itself, then those
    /// that let `stuck` happen right after, then the rest.
    ///
    /// Deferring them is exact: it only changes the order in which the search tries
    /// its choices. Every linearization from a configuration starts with a callable
    /// operation; the walk offers each callable operation that is not deferred at its
    /// call event before it reaches the stuck point (the first return event still in
    /// the list, beyond every callable call), and the stuck point offers every
    /// callable deferred one. What it gains: a write placed only when a return forces
    /// it or a read needs its value does not overwrite, too early, the value that
    /// concurrent reads saw (Lowe's just-in-time linearization).
    fn deferred_candidates(&mut self, stuck: u32, candidates: &mut Vec<u32>) {
        let (mut helpful, mut others, mut itself) = (Vec::new(), Vec::new(), None);
        let mut cur = self.events.e[HEAD as usize].next;
        while cur != NIL && cur != self.events.first_ret {
            let Entry {
                op, next, is_call, ..
            } = self.events.e[cur as usize];
            cur = next;
            if !is_call || !self.deferred[op as usize] {
                continue;
            }
            let (call_of, first_ret) = (&self.events.call_of, self.events.first_ret);
            if let Some(t) = &self.twins {
                if t.dominated(op, &self.lin, |a| call_of[a as usize] < first_ret) {
                    continue;
                }
            }
            if op == stuck {
                itself = Some(op);
                continue;
            }
            self.scratch.clear();
            self.model
                .successors(&self.state, &self.ops[op as usize].op, &mut self.scratch);
            let stuck_op = &self.ops[stuck as usize].op;
            if self
                .scratch
                .iter()
                .any(|s| self.model.step(s, stuck_op).is_some())
            {
                helpful.push(op);
            } else {
                others.push(op);
            }
        }
        others.reverse();
        helpful.reverse();
        candidates.extend(others);
        candidates.extend(helpful);
        candidates.extend(itself);
    }

    /// Tries the operations in `candidates` (open or deferred, from the back) at the
    /// stuck point of `stuck`; then, if `more`, every other open operation.
    fn try_open(&mut self, stuck: u32, mut candidates: Vec<u32>, mut more: bool) -> bool {
        loop {
            while let Some(op) = candidates.pop() {
                // The scratch buffer, so that trying a candidate allocates nothing
                // unless it leaves alternatives.
                let mut next = std::mem::take(&mut self.scratch);
                next.clear();
                self.model
                    .successors(&self.state, &self.ops[op as usize].op, &mut next);
                let chosen = self.choose(op, &mut next);
                let alternatives = if next.is_empty() {
                    self.scratch = next;
                    Vec::new()
                } else {
                    next
                };
                if let Some(s) = chosen {
                    let entry = self.events.call_of[op as usize];
                    self.push(op, entry, s, alternatives, candidates, false);
                    let frame = self.stack.last_mut().expect("just pushed");
                    frame.stuck = stuck;
                    frame.open_more = more;
                    return true;
                }
            }
            if !more {
                return false;
            }
            more = false;
            let need = self
                .lookahead
                .as_ref()
                .and_then(|l| l.required[stuck as usize].clone());
            candidates = self.scan_open(stuck, need.as_ref());
        }
    }
}

/// Searches for a linearization of `ops`. `classes`, if given, names each
/// operation's class of identical operations (see [`Model::canonicalize`]).
pub fn search<M: Model>(
    model: &M,
    ops: &[Prepared<M::Op>],
    classes: Option<&[u32]>,
    budget: &Budget,
) -> SearchResult<Violation<M::State>> {
    let mut s = match Search::new(model, ops, classes, budget) {
        Ok(s) => s,
        Err(reason) => {
            return SearchResult {
                outcome: Outcome::Stopped(reason),
                explored: 0,
            }
        }
    };
    let outcome = s.run(&mut Meter::new(budget));
    let explored = s.explored;
    s.drop_aside();
    SearchResult { outcome, explored }
}

/// What the walk does after an event: go on from the first event (an operation was
/// linearized), go on to the given event, or undo the latest choice.
enum Walk {
    Restart,
    Next(u32),
    Backtrack,
}

impl<'a, M: Model> Search<'a, M> {
    /// The search at its root: nothing linearized, every open operation indexed;
    /// `Err` if a limit of `budget` is reached first. Building it for a million
    /// operations takes a second on a loaded machine, so each part looks at the
    /// budget (the long ones every few thousand operations, the others before they
    /// start).
    fn new(
        model: &'a M,
        ops: &'a [Prepared<M::Op>],
        classes: Option<&[u32]>,
        budget: &Budget,
    ) -> Result<Self, StopReason> {
        let before = || budget.exhausted().map_or(Ok(()), Err);
        let class: Vec<u32> = match classes {
            Some(c) => {
                assert_eq!(c.len(), ops.len(), "one class per operation");
                c.to_vec()
            }
            None => phase::collect(budget, 0..ops.len() as u32)?,
        };
        let mut open: Vec<u32> = (0..ops.len() as u32)
            .filter(|&i| ops[i as usize].is_open())
            .collect();
        open.sort_by_key(|&i| (ops[i as usize].call, i));
        let mut open_at = vec![NIL; ops.len()];
        for (p, &i) in open.iter().enumerate() {
            open_at[i as usize] = p as u32;
        }
        let events = Events::new(ops, budget)?;
        let keys = phase::collect(budget, (0..ops.len()).map(zobrist))?;
        let twins = Twins::new(ops, &class, budget)?;
        before()?;
        let open_index = OpenIndex::new(model, ops, class);
        let lookahead = Lookahead::new(model, ops, budget)?;
        let growth_is = |g: Growth| {
            phase::collect(
                budget,
                ops.iter().map(|p| model.growth(&p.op) == g && !p.is_open()),
            )
        };
        Ok(Search {
            model,
            ops,
            events,
            keys,
            open_at,
            open,
            twins,
            open_index,
            offers: Vec::new(),
            observes: growth_is(Growth::Observes)?,
            deferred: growth_is(Growth::Resets)?,
            lin: vec![false; ops.len()],
            state: model.init(),
            fingerprint: 0,
            mask: 0,
            memo: Memo::new(),
            stack: Vec::new(),
            lookahead,
            remaining: ops.iter().filter(|p| !p.is_open()).count(),
            explored: 0,
            scratch: Vec::new(),
            best: Vec::new(),
            best_state: model.init(),
            synced: 0,
        })
    }

    /// Drops the search once its answer is taken, its large tables on another thread
    /// ([`phase::drop_aside`]): freeing a memo of millions of configurations and a
    /// stack of a million frames takes a fifth of a second, which would land past the
    /// time limit of a search stopped by it.
    fn drop_aside(mut self) {
        let items = self.memo.len() + self.stack.len() + self.ops.len();
        let tables = (
            std::mem::take(&mut self.memo),
            std::mem::take(&mut self.stack),
            std::mem::take(&mut self.events.e),
            std::mem::take(&mut self.keys),
            self.twins.take(),
            self.lookahead.take(),
        );
        phase::drop_aside(tables, items);
    }

    /// Approximate bytes the memo and the stack hold, for the memory budget (one
    /// state's size, sampled from the top of the stack, stands for every state's).
    fn bytes_used(&self) -> isize {
        let entry_bytes = (std::mem::size_of::<(u128, M::State, OpenMask)>() + 16) as isize;
        let frame_bytes = std::mem::size_of::<Frame<M::State>>() as isize;
        let sample = self
            .stack
            .last()
            .map(|f| self.model.state_bytes(&f.prev_state) as isize)
            .unwrap_or(0);
        self.memo.len() as isize * (entry_bytes + sample)
            + self.stack.len() as isize * (frame_bytes + sample)
    }

    /// The walk over the events in time order, until every operation that returned
    /// is linearized, no choice is left, or the budget runs out.
    fn run(&mut self, meter: &mut Meter) -> Outcome<Violation<M::State>> {
        // A search that succeeds places every operation that returned, and on the
        // hard shapes records about 1.4 configurations per operation: room for them
        // up front saves the memo's rehashing (each one copying the whole table) and
        // the stack's regrowth. Untouched room costs address space, not memory.
        self.memo.reserve(self.remaining + self.remaining / 2);
        self.stack.reserve(self.remaining);
        let mut successors: Vec<M::State> = Vec::new();
        let mut cur = self.events.e[HEAD as usize].next;
        loop {
            if self.remaining == 0 {
                return Outcome::Holds;
            }
            if let Some(reason) = meter.step(|| self.bytes_used()) {
                return Outcome::Stopped(reason);
            }
            // While an operation that returned is unlinearized, its return event is
            // in the list, so the walk meets it before running off the end.
            debug_assert!(cur != NIL);
            let entry = self.events.e[cur as usize];
            let walk = if entry.is_call {
                self.at_call(cur, entry, &mut successors)
            } else {
                self.at_return(entry)
            };
            cur = match walk {
                Walk::Restart => self.events.e[HEAD as usize].next,
                Walk::Next(next) => next,
                Walk::Backtrack => match self.backtrack() {
                    Some(next) => next,
                    None => {
                        let prefix = self.best.iter().map(|&i| i as usize).collect();
                        return Outcome::Violation(Violation {
                            prefix,
                            state: self.best_state.clone(),
                        });
                    }
                },
            };
        }
    }

    /// At the call event `cur` of `entry.op`: linearizes the operation now if it can
    /// reach a new configuration, else moves on to the next event (or backtracks, for a
    /// forced observation).
    fn at_call(&mut self, cur: u32, entry: Entry, successors: &mut Vec<M::State>) -> Walk {
        if self.deferred[entry.op as usize] {
            return Walk::Next(entry.next);
        }
        // A twin that returns earlier is callable too: trying it is enough (`twins`).
        if let Some(t) = &self.twins {
            let (call_of, first_ret) = (&self.events.call_of, self.events.first_ret);
            if t.dominated(entry.op, &self.lin, |a| call_of[a as usize] < first_ret) {
                return Walk::Next(entry.next);
            }
        }
        successors.clear();
        self.model
            .successors(&self.state, &self.ops[entry.op as usize].op, successors);
        // An observation that can happen now may as well happen now: moving it
        // earlier in any linearization from here keeps that linearization valid (it
        // changes nothing, and everything that returned before it was invoked is
        // already placed). So it is not a choice: if it leads nowhere, neither does
        // this configuration.
        let forced = self.observes[entry.op as usize] && !successors.is_empty();
        if let Some(next) = self.choose(entry.op, successors) {
            // Most operations have one effect: keep the buffer rather than hold an
            // empty allocation in every frame of a million-operation stack.
            let alternatives = if successors.is_empty() {
                Vec::new()
            } else {
                std::mem::take(successors)
            };
            self.push(entry.op, cur, next, alternatives, Vec::new(), forced);
            return Walk::Restart;
        }
        if forced {
            Walk::Backtrack
        } else {
            Walk::Next(entry.next)
        }
    }

    /// Stuck at the return event of an unlinearized operation: an open operation
    /// may help; otherwise undo the latest choice.
    fn at_return(&mut self, entry: Entry) -> Walk {
        // If the stuck operation is an observation that no state still to come can
        // satisfy (the lookahead's own test), no open operation can help either.
        let dead = self.lookahead.as_ref().is_some_and(|l| {
            l.unreachable(
                self.model,
                self.ops,
                &self.lin,
                &self.state,
                entry.op as usize,
            )
        });
        let (mut candidates, more) = if self.open.is_empty() || dead {
            (Vec::new(), false)
        } else {
            self.open_candidates(entry.op)
        };
        if !dead {
            self.deferred_candidates(entry.op, &mut candidates);
        }
        if self.try_open(entry.op, candidates, more) {
            Walk::Restart
        } else {
            Walk::Backtrack
        }
    }

    /// Undoes choices until one has an alternative left, takes it, and returns the
    /// event to go on from; `None` when the root is reached (no linearization).
    fn backtrack(&mut self) -> Option<u32> {
        loop {
            let mut frame = self.pop()?;
            if frame.forced {
                continue;
            }
            let op = frame.op;
            let (mut alternatives, open_rest) = match frame.untried.take() {
                Some(u) => (u.alternatives, u.open_rest),
                None => (Vec::new(), Vec::new()),
            };
            // The same operation with another possible effect.
            if let Some(next) = self.choose(op, &mut alternatives) {
                let (stuck, more) = (frame.stuck, frame.open_more);
                self.push(op, frame.entry, next, alternatives, open_rest, false);
                let top = self.stack.last_mut().expect("just pushed");
                top.stuck = stuck;
                top.open_more = more;
                return Some(self.events.e[HEAD as usize].next);
            }
            if frame.stuck == NIL {
                return Some(self.events.e[frame.entry as usize].next);
            }
            // An operation tried at a stuck point: try the next one there.
            if self.try_open(frame.stuck, open_rest, frame.open_more) {
                return Some(self.events.e[HEAD as usize].next);
            }
        }
    }
}
