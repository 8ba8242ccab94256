//! Forced order constraints across keys, for registers whose read values name their
//! writer: decides the history `invalid` when they form a cycle, and otherwise gives
//! each key the order of writes every key agrees on, for [`super::merge`].
//!
//! Where every value an operation needs (a read's value, a successful CAS's
//! expected value) is produced by exactly one operation of its key, and nothing
//! produces the initial value, a sequential order must contain these edges (`a → b`:
//! `a` comes before `b`):
//!
//! 1. program order: each process's operations in the order it issued them;
//! 2. reads-from: the producer `w` of the value `r` needs, before `r`; a crashed
//!    producer so needed took effect;
//! 3. an operation needing the initial value before every write of its key (nothing
//!    writes the initial value back);
//! 4. for `r` reading from `w1` and another write `w2` of the key: if `w2 →⁺ r`
//!    then `w2 → w1` (`w2` cannot come between `w1` and `r`, which would overwrite
//!    the value `r` needs, so it comes before `w1`); if `w1 →⁺ w2` then `r → w2`
//!    (likewise, it comes after `r`).
//!
//! 5. for an operation `f` legal in every state but one (a failed CAS), where that
//!    state is produced by `w` alone (or is the initial state, `w` = the start): `f`
//!    is not in the gap between `w` and the write that overwrites it, where every
//!    read of `w`'s state is. So (a) if `f →⁺ r` for such a read `r`, then `f → w`
//!    (for the start: a contradiction, and `r → f` closes the cycle); (b) if
//!    `w →⁺ f` (always, for the start), `f` comes after the overwriting write, so
//!    `r → f` for every such read `r`.
//!
//! Rules 1-3 hold in every order by definition of sequential consistency and the
//! uniqueness of producers; rules 4 and 5 hold in every order satisfying the
//! edges they derive from, by the argument given with each. So all edges, applied until nothing
//! new follows, hold in every sequential order, and **a cycle among them proves the
//! history has none** (this is the polynomial saturation step of the SC-checking
//! literature, e.g. Gibbons & Korach 1997; Biswas & Enea 2019). No cycle does not
//! prove the history valid (the problem is NP-complete), but a topological order of
//! the saturated graph orders each key's writes in a way no forced constraint
//! contradicts, which is what the merge needs; the merge then proves or fails to
//! prove validity on its own.
//!
//! Reachability is kept as one vector clock per operation (for each process, the
//! last of its operations that reaches it), so a test is O(1) and a round of the
//! fixpoint O((operations + edges) × processes); the check gives up (leaving the
//! decision to the search) when that table would not fit [`MAX_CLOCK_ENTRIES`].

use super::chains::{Chains, SeqOp};
use super::merge::KeyOrder;
use super::topo::{find_cycle, kahn, readers_first, Roles};
use crate::model::{Growth, Model};
use crate::search::budget::Budget;
use std::collections::{HashMap, HashSet};

/// 16 M vector-clock entries (64 MiB): past it the pre-check does not run.
const MAX_CLOCK_ENTRIES: usize = 16 << 20;

/// At most this many rounds of rule 4; each round usually adds few edges.
const MAX_ROUNDS: usize = 64;

/// What saturation found.
pub(crate) enum Saturated<S> {
    /// The forced edges form this cycle (indices into the operations, each before
    /// the next, the last before the first): no sequential order exists.
    Cycle(Vec<u32>),
    /// No cycle: each key's operations ordered as a topological order of the
    /// saturated graph puts them (writes in an order every constraint allows; each
    /// other operation in some gap where it is legal), for the merge to try, and the
    /// graph itself, for `repair` to try other orders of writes with.
    Orders(Vec<KeyOrder<S>>, Box<Saturation<S>>),
    /// The history is not of the shape the rules need, or a limit was reached.
    NotApplicable,
}

/// The saturated graph of forced edges and what it was built from: enough to add
/// an edge of one's own and derive the keys' orders again ([`Saturation::assume`]).
pub(crate) struct Saturation<S> {
    graph: Graph,
    shape: Shape<S>,
    objects: usize,
    /// The graph before the last assumption that held, for [`Saturation::retract`].
    before_last: Option<Graph>,
}

/// What closing the graph under rules 4 and 5 ended with.
enum Closed {
    Done,
    Cycle,
    /// The budget or the round limit ran out.
    Limit,
}

/// What adding an edge led to ([`Saturation::assume`]).
pub(crate) enum Assumed<S> {
    /// The keys' orders under the edge.
    Orders(Vec<KeyOrder<S>>),
    /// The edge, with the forced ones, makes a cycle: under the edges assumed so far,
    /// its reverse is forced.
    Contradiction,
    /// A limit was reached, or an operation fits no gap.
    Limit,
}

/// Which operations the graph has, and what each needs.
struct Shape<S> {
    included: Vec<bool>,
    /// For each operation that needs a produced value: (it, its producer or `None`
    /// for the initial value).
    reads: Vec<(u32, Option<u32>)>,
    /// Each object's included writers.
    writers: Vec<Vec<u32>>,
    /// For each operation legal in every state but one (a failed CAS): (it, the
    /// producer of that state, `None` for the initial state).
    excludes: Vec<(u32, Option<u32>)>,
    /// The operations reading from each producer (`None`: the initial state), by
    /// object.
    readers: HashMap<(u32, Option<u32>), Vec<u32>>,
    /// Each writer's state after it.
    produces: Vec<Option<S>>,
}

/// The operations' roles (module doc), or `None` when a rule's premise fails.
fn shape<M: Model>(model: &M, ops: &[SeqOp<M::Op>], objects: usize) -> Option<Shape<M::State>> {
    let init = model.init();
    let mut producers: HashMap<(u32, M::State), Vec<u32>> = HashMap::new();
    let mut produces = vec![None; ops.len()];
    for (i, o) in ops.iter().enumerate() {
        match model.growth(&o.op) {
            Growth::Observes => {}
            Growth::Resets | Growth::Replaces => {
                let s = model.reset_state(&o.op)?;
                if s == init {
                    return None;
                }
                produces[i] = Some(s.clone());
                producers.entry((o.object, s)).or_default().push(i as u32);
            }
            Growth::Grows | Growth::Other => return None,
        }
    }
    let mut included: Vec<bool> = ops.iter().map(|o| !o.open).collect();
    let mut reads = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        if o.open {
            continue;
        }
        let Some(need) = model.required_state(&o.op) else {
            continue;
        };
        let producer = if need == init {
            None
        } else {
            match producers.get(&(o.object, need))?.as_slice() {
                [w] => Some(*w),
                _ => return None,
            }
        };
        if let Some(w) = producer {
            included[w as usize] = true;
        }
        reads.push((i as u32, producer));
    }
    let mut readers: HashMap<(u32, Option<u32>), Vec<u32>> = HashMap::new();
    for &(r, w) in &reads {
        readers
            .entry((ops[r as usize].object, w))
            .or_default()
            .push(r);
    }
    // A failed CAS whose state has one producer (or is the initial state); one whose
    // state nothing produces is legal everywhere, one with several gets no rule.
    let excludes = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.open)
        .filter_map(|(i, o)| {
            let v = model.excluded_state(&o.op)?;
            if v == init {
                return Some((i as u32, None));
            }
            match producers.get(&(o.object, v))?.as_slice() {
                [w] if included[*w as usize] => Some((i as u32, Some(*w))),
                _ => None,
            }
        })
        .collect();
    let mut writers = vec![Vec::new(); objects.max(1)];
    for (i, o) in ops.iter().enumerate() {
        if included[i] && produces[i].is_some() {
            writers[o.object as usize].push(i as u32);
        }
    }
    Some(Shape {
        included,
        reads,
        writers,
        excludes,
        readers,
        produces,
    })
}

/// Runs the saturation of the module's doc over `ops` (`objects` keys).
pub(crate) fn saturate<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    objects: usize,
    budget: &Budget,
) -> Saturated<M::State> {
    let Some(shape) = shape(model, ops, objects) else {
        return Saturated::NotApplicable;
    };
    let chains = Chains::new(ops);
    if ops.len().saturating_mul(chains.chains.len()) > MAX_CLOCK_ENTRIES {
        return Saturated::NotApplicable;
    }
    let mut graph = Graph::new(ops, chains, &shape);
    match graph.close(ops, &shape, budget) {
        Closed::Done => {}
        Closed::Cycle => return Saturated::Cycle(graph.cycle()),
        Closed::Limit => return Saturated::NotApplicable,
    }
    let Some(derived) = graph.key_orders(model, ops, objects, &shape) else {
        return Saturated::NotApplicable;
    };
    Saturated::Orders(
        derived,
        Box::new(Saturation {
            graph,
            shape,
            objects,
            before_last: None,
        }),
    )
}

impl<S: Clone + Eq> Saturation<S> {
    /// Whether the edges (forced or assumed) already put `a` before `b`.
    pub(crate) fn orders_before(&self, a: u32, b: u32) -> bool {
        self.graph.reaches(a, b)
    }

    /// Adds the edge `before → after` (an assumption, not a forced edge), closes the
    /// graph again and derives the keys' orders under it. On a contradiction or a
    /// limit the graph is left as it was; else [`Saturation::retract`] takes the
    /// assumption back.
    pub(crate) fn assume<M: Model<State = S>>(
        &mut self,
        model: &M,
        ops: &[SeqOp<M::Op>],
        before: u32,
        after: u32,
        budget: &Budget,
    ) -> Assumed<S> {
        let saved = self.graph.clone();
        self.graph.add(before, after);
        let closed = self.graph.close(ops, &self.shape, budget);
        let derived = match closed {
            Closed::Done => self.graph.key_orders(model, ops, self.objects, &self.shape),
            _ => None,
        };
        match (closed, derived) {
            (_, Some(derived)) => {
                self.before_last = Some(saved);
                return Assumed::Orders(derived);
            }
            (Closed::Cycle, _) => {
                self.graph = saved;
                return Assumed::Contradiction;
            }
            _ => {}
        }
        self.graph = saved;
        Assumed::Limit
    }

    /// Takes back the last assumption that held (once).
    pub(crate) fn retract(&mut self) {
        if let Some(graph) = self.before_last.take() {
            self.graph = graph;
        }
    }
}

/// The forced edges, and reachability as vector clocks.
#[derive(Clone)]
struct Graph {
    chains: Chains,
    rank: Vec<u32>,
    included: Vec<bool>,
    /// Each operation's invocation time, to break ties in the topological order.
    call: Vec<u64>,
    edges: Vec<Vec<u32>>,
    known: HashSet<(u32, u32)>,
    /// `clock[v * chains + c]`: 1 + the rank of the last operation of chain `c` that
    /// reaches `v` (0: none).
    clock: Vec<u32>,
}

impl Graph {
    /// Rules 1-3 of the module's doc.
    fn new<O, S>(ops: &[SeqOp<O>], chains: Chains, shape: &Shape<S>) -> Graph {
        let mut rank = vec![0u32; ops.len()];
        let mut program = Vec::new();
        for chain in &chains.chains {
            let kept: Vec<u32> = chain
                .iter()
                .copied()
                .filter(|&i| shape.included[i as usize])
                .collect();
            for (r, &i) in kept.iter().enumerate() {
                rank[i as usize] = r as u32;
            }
            program.extend(kept.windows(2).map(|w| (w[0], w[1])));
        }
        let mut g = Graph {
            chains,
            rank,
            included: shape.included.clone(),
            call: ops.iter().map(|o| o.call).collect(),
            edges: vec![Vec::new(); ops.len()],
            known: HashSet::new(),
            clock: Vec::new(),
        };
        for (a, b) in program {
            g.add(a, b);
        }
        for &(r, producer) in &shape.reads {
            match producer {
                Some(w) => {
                    g.add(w, r);
                }
                None => {
                    for &w in &shape.writers[ops[r as usize].object as usize] {
                        if w != r {
                            g.add(r, w);
                        }
                    }
                }
            }
        }
        g
    }

    /// Rules 4 and 5 applied until nothing new follows (at most [`MAX_ROUNDS`]).
    fn close<O, S>(&mut self, ops: &[SeqOp<O>], shape: &Shape<S>, budget: &Budget) -> Closed {
        for _ in 0..MAX_ROUNDS {
            if budget.exhausted().is_some() {
                return Closed::Limit;
            }
            if !self.clocks() {
                return Closed::Cycle;
            }
            if !self.derive(ops, shape) {
                return Closed::Done;
            }
        }
        Closed::Limit
    }

    fn add(&mut self, a: u32, b: u32) -> bool {
        if a == b || !self.known.insert((a, b)) {
            return false;
        }
        self.edges[a as usize].push(b);
        true
    }

    /// Whether `a` comes before `b` by the edges (as of the last [`Graph::clocks`]).
    fn reaches(&self, a: u32, b: u32) -> bool {
        let c = self.chains.chain_of[a as usize] as usize;
        let width = self.chains.chains.len();
        self.clock[b as usize * width + c] > self.rank[a as usize]
    }

    /// Recomputes the clocks; false on a cycle.
    fn clocks(&mut self) -> bool {
        let n = self.edges.len();
        let width = self.chains.chains.len();
        let Some(topo) = kahn(&self.edges, |i| self.included[i], |i| self.call[i as usize]) else {
            return false;
        };
        self.clock.clear();
        self.clock.resize(n * width, 0);
        for &v in &topo {
            let v = v as usize;
            let own = self.chains.chain_of[v] as usize;
            let slot = &mut self.clock[v * width + own];
            *slot = (*slot).max(self.rank[v] + 1);
            for k in 0..self.edges[v].len() {
                let w = self.edges[v][k] as usize;
                for c in 0..width {
                    let from = self.clock[v * width + c];
                    let to = &mut self.clock[w * width + c];
                    *to = (*to).max(from);
                }
            }
        }
        true
    }

    /// Each key's order (see [`orders`]) from the closed graph, read from an order
    /// that keeps a key's writes out of the way of the operations needing its
    /// current value where the edges allow ([`readers_first`]).
    fn key_orders<M: Model>(
        &self,
        model: &M,
        ops: &[SeqOp<M::Op>],
        objects: usize,
        shape: &Shape<M::State>,
    ) -> Option<Vec<KeyOrder<M::State>>> {
        let mut needs = vec![None; ops.len()];
        for &(r, w) in &shape.reads {
            needs[r as usize] = Some(w);
        }
        let object: Vec<u32> = ops.iter().map(|o| o.object).collect();
        let writes: Vec<bool> = shape.produces.iter().map(Option::is_some).collect();
        let roles = Roles {
            object: &object,
            call: &self.call,
            writes: &writes,
            needs: &needs,
            objects: objects.max(1),
        };
        let topo = readers_first(&self.edges, |i| self.included[i], &roles)?;
        orders(model, ops, objects, shape, &topo)
    }

    /// One round of rules 4 and 5; whether it added an edge.
    fn derive<O, S>(&mut self, ops: &[SeqOp<O>], shape: &Shape<S>) -> bool {
        let mut new = Vec::new();
        for &(r, w1) in &shape.reads {
            for &w2 in &shape.writers[ops[r as usize].object as usize] {
                if Some(w2) == w1 || w2 == r {
                    continue;
                }
                if let Some(w1) = w1 {
                    if self.reaches(w2, r) && !self.reaches(w2, w1) {
                        new.push((w2, w1));
                    }
                    if self.reaches(w1, w2) && !self.reaches(r, w2) {
                        new.push((r, w2));
                    }
                }
            }
        }
        for &(f, w) in &shape.excludes {
            let Some(rs) = shape.readers.get(&(ops[f as usize].object, w)) else {
                continue;
            };
            if let Some(r) = rs.iter().copied().find(|&r| self.reaches(f, r)) {
                // Rule 5(a): f comes before a read of w's state, so before w.
                match w {
                    Some(w) if !self.reaches(f, w) => new.push((f, w)),
                    Some(_) => {}
                    None => new.push((r, f)),
                }
            }
            if w.is_none_or(|w| self.reaches(w, f)) {
                // Rule 5(b): f comes after w, so after w's overwriter, so after
                // every read of w's state.
                new.extend(rs.iter().filter(|&&r| !self.reaches(r, f)).map(|&r| (r, f)));
            }
        }
        let mut added = false;
        for (a, b) in new {
            added |= self.add(a, b);
        }
        added
    }

    /// A cycle among the included operations (there is one: [`Graph::clocks`]
    /// failed), each before the next and the last before the first.
    fn cycle(&self) -> Vec<u32> {
        find_cycle(&self.edges, |i| self.included[i]).unwrap_or_default()
    }
}

/// Each key's order from the topological order `topo`: its writers in that order,
/// each operation needing a value in the gap of its producer, and each other
/// operation in the first gap, at or after where `topo` put it, that it is legal in
/// (else the first legal gap before). `None` when one fits no gap.
fn orders<M: Model>(
    model: &M,
    ops: &[SeqOp<M::Op>],
    objects: usize,
    shape: &Shape<M::State>,
    topo: &[u32],
) -> Option<Vec<KeyOrder<M::State>>> {
    let objects = objects.max(1);
    // Per key: gap states, and for each gap its operations in `topo` order.
    let mut gaps: Vec<Vec<M::State>> = vec![vec![model.init()]; objects];
    let mut members: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new()]; objects];
    let mut writer_gap: HashMap<u32, usize> = HashMap::new();
    let mut loose: Vec<(u32, usize)> = Vec::new();
    let needs: HashMap<u32, Option<u32>> = shape.reads.iter().copied().collect();
    for &i in topo {
        let o = &ops[i as usize];
        let k = o.object as usize;
        if let Some(s) = &shape.produces[i as usize] {
            gaps[k].push(s.clone());
            members[k].push(Vec::new());
            writer_gap.insert(i, gaps[k].len() - 1);
        } else if !needs.contains_key(&i) {
            loose.push((i, gaps[k].len() - 1));
        }
    }
    for (&r, producer) in &needs {
        if shape.produces[r as usize].is_some() {
            continue;
        }
        let k = ops[r as usize].object as usize;
        let gap = producer.map_or(0, |w| writer_gap[&w]);
        members[k][gap].push(r);
    }
    let mut next = Vec::new();
    for (i, at) in loose {
        let k = ops[i as usize].object as usize;
        let mut fits = |j: usize| {
            next.clear();
            model.successors(&gaps[k][j], &ops[i as usize].op, &mut next);
            next.contains(&gaps[k][j])
        };
        let gap = (at..gaps[k].len())
            .chain((0..at).rev())
            .find(|&j| fits(j))?;
        members[k][gap].push(i);
    }
    let mut writers_in_order: Vec<Vec<u32>> = vec![Vec::new(); objects];
    for &i in topo {
        if shape.produces[i as usize].is_some() {
            writers_in_order[ops[i as usize].object as usize].push(i);
        }
    }
    let orders = (0..objects)
        .map(|k| {
            let mut order = KeyOrder::new();
            for (j, gap) in members[k].iter_mut().enumerate() {
                if j > 0 {
                    order.push((writers_in_order[k][j - 1], gaps[k][j].clone()));
                }
                gap.sort_unstable();
                order.extend(gap.iter().map(|&i| (i, gaps[k][j].clone())));
            }
            order
        })
        .collect();
    Some(orders)
}
