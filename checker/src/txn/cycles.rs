//! Cycle search: strongly connected components first (linear), then, inside each,
//! the shortest cycle of each shape, weakest anomaly first: write cycles (G0), then
//! write-read (G1c), then exactly one anti-dependency (G-single), then any; with data
//! edges alone, then with process order, then with real-time order.
//!
//! The search is bounded in time. Past the bound it stops naming cycles; the
//! components that hold a cycle are still known (they come from the linear pass), so
//! the report names them and the verdict is never `valid`.

use super::anomaly::{AnomalyKind, CycleShape, Realm};
use super::graph::{cyclic_components, Graph, Kinds, PROCESS, REALTIME, RW, WR, WW};
use rustc_hash::FxHashSet;
use std::collections::VecDeque;
use std::time::Instant;

/// One step of a cycle: from, to (transactions), and the edge kind it rests on.
pub type Step = (u32, u32, Kinds);

#[derive(Debug, Clone)]
pub struct Cycle {
    pub kind: AnomalyKind,
    pub steps: Vec<Step>,
}

#[derive(Debug, Default)]
pub struct Search {
    pub cycles: Vec<Cycle>,
    pub timed_out: bool,
    /// The transactions of each component of the whole graph that holds a cycle.
    pub components: Vec<Vec<u32>>,
}

/// How many anti-dependency edges of one component the G-single search tries.
const G_SINGLE_TRIES: usize = 256;

struct Bfs {
    stamp: Vec<u32>,
    parent: Vec<(u32, Kinds)>,
    generation: u32,
    queue: VecDeque<u32>,
    steps: u64,
    deadline: Instant,
    timed_out: bool,
}

impl Bfs {
    /// The shortest path `src` -> ... -> `dst` over `mask` inside component `cid`
    /// (a cycle when they are equal), as steps.
    fn path(
        &mut self,
        g: &Graph,
        src: u32,
        dst: u32,
        mask: Kinds,
        comp: &[u32],
        cid: u32,
    ) -> Option<Vec<Step>> {
        self.generation += 1;
        self.queue.clear();
        self.queue.push_back(src);
        let mut first = true;
        while let Some(v) = self.queue.pop_front() {
            self.steps += 1;
            if self.steps.is_multiple_of(4096) && Instant::now() > self.deadline {
                self.timed_out = true;
                return None;
            }
            if !first && v == dst {
                return Some(self.unwind(g, mask, src, dst));
            }
            first = false;
            for (w, k) in g.out(v, mask) {
                if comp[w as usize] != cid || self.stamp[w as usize] == self.generation {
                    continue;
                }
                self.stamp[w as usize] = self.generation;
                self.parent[w as usize] = (v, k & mask);
                if w == dst {
                    return Some(self.unwind(g, mask, src, dst));
                }
                self.queue.push_back(w);
            }
        }
        None
    }

    fn unwind(&self, g: &Graph, mask: Kinds, src: u32, dst: u32) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut at = dst;
        loop {
            let (p, _) = self.parent[at as usize];
            steps.push((p, at, pick(g.kinds_between(p, at, mask))));
            at = p;
            if at == src {
                break;
            }
        }
        steps.reverse();
        steps
    }
}

/// The label a step gets when several kinds join the same pair: data first, so the
/// cycle is named as the weakest anomaly it shows.
fn pick(k: Kinds) -> Kinds {
    [WW, WR, RW, PROCESS, REALTIME]
        .into_iter()
        .find(|b| k & b != 0)
        .unwrap_or(REALTIME)
}

/// Merges the steps through auxiliary real-time nodes into one real-time step.
fn collapse(g: &Graph, steps: Vec<Step>) -> Vec<Step> {
    // Rotate so the cycle starts at a transaction.
    let start = steps.iter().position(|s| !g.is_aux(s.0)).unwrap_or(0);
    let mut out: Vec<Step> = Vec::new();
    let mut from: Option<u32> = None;
    for i in 0..steps.len() {
        let (a, b, k) = steps[(start + i) % steps.len()];
        if !g.is_aux(a) {
            from = Some(a);
        }
        if g.is_aux(b) {
            continue;
        }
        let f = from.expect("a cycle through aux nodes starts at a transaction");
        out.push((f, b, if g.is_aux(a) { REALTIME } else { k }));
    }
    out
}

fn classify(steps: &[Step]) -> AnomalyKind {
    let realm = if steps.iter().any(|s| s.2 == REALTIME) {
        Realm::Realtime
    } else if steps.iter().any(|s| s.2 == PROCESS) {
        Realm::Process
    } else {
        Realm::Data
    };
    let rw: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].2 == RW).collect();
    let n = steps.len();
    let adjacent = rw.iter().any(|&i| steps[(i + 1) % n].2 == RW);
    let shape = match rw.len() {
        0 if steps.iter().all(|s| s.2 != WR) => CycleShape::G0,
        0 => CycleShape::G1c,
        1 => CycleShape::GSingle,
        _ if !adjacent => CycleShape::GNonadjacent,
        _ => CycleShape::G2Item,
    };
    AnomalyKind::Cycle(shape, realm)
}

/// Finds cycles in `g` over the realms asked for, until `deadline`.
pub fn search(g: &Graph, realms: &[Realm], deadline: Instant) -> Search {
    let extra = |r: Realm| match r {
        Realm::Data => 0,
        Realm::Process => PROCESS,
        Realm::Realtime => PROCESS | REALTIME,
    };
    let full = realms.iter().fold(WW | WR | RW, |m, r| m | extra(*r));
    let comps = cyclic_components(g, full, None);
    let mut result = Search {
        components: comps
            .iter()
            .map(|c| c.iter().copied().filter(|&n| !g.is_aux(n)).collect())
            .collect(),
        ..Search::default()
    };
    if comps.is_empty() {
        return result;
    }
    let mut within = vec![false; g.nodes()];
    for c in &comps {
        for &n in c {
            within[n as usize] = true;
        }
    }
    let mut bfs = Bfs {
        stamp: vec![0; g.nodes()],
        parent: vec![(0, 0); g.nodes()],
        generation: 0,
        queue: VecDeque::new(),
        steps: 0,
        deadline,
        timed_out: false,
    };
    let mut comp = vec![u32::MAX; g.nodes()];
    let mut seen: FxHashSet<(AnomalyKind, Vec<u32>)> = FxHashSet::default();
    for &realm in realms {
        for level in 0..4 {
            let base = [WW, WW | WR, WW | WR | RW, WW | WR | RW][level];
            let mask = base | extra(realm);
            for (cid, c) in cyclic_components(g, mask, Some(&within))
                .into_iter()
                .enumerate()
            {
                if Instant::now() > deadline || bfs.timed_out {
                    result.timed_out = true;
                    return result;
                }
                for &n in &c {
                    comp[n as usize] = cid as u32;
                }
                let found = if level == 2 {
                    g_single(g, &c, mask, &comp, cid as u32, &mut bfs)
                } else {
                    let start = *c.iter().find(|&&n| !g.is_aux(n)).unwrap_or(&c[0]);
                    bfs.path(g, start, start, mask, &comp, cid as u32)
                };
                for &n in &c {
                    comp[n as usize] = u32::MAX;
                }
                if let Some(steps) = found {
                    let steps = collapse(g, steps);
                    let kind = classify(&steps);
                    let mut nodes: Vec<u32> = steps.iter().map(|s| s.0).collect();
                    nodes.sort_unstable();
                    if seen.insert((kind, nodes)) {
                        result.cycles.push(Cycle { kind, steps });
                    }
                }
            }
        }
    }
    result.timed_out = bfs.timed_out;
    result
}

/// A cycle with exactly one anti-dependency: an rw edge a -> b closed by a path
/// b -> a without rw edges.
fn g_single(
    g: &Graph,
    c: &[u32],
    mask: Kinds,
    comp: &[u32],
    cid: u32,
    bfs: &mut Bfs,
) -> Option<Vec<Step>> {
    let mut tries = 0;
    for &a in c {
        for (b, _) in g.out(a, RW) {
            if comp[b as usize] != cid {
                continue;
            }
            tries += 1;
            if tries > G_SINGLE_TRIES || bfs.timed_out {
                return None;
            }
            if let Some(mut path) = bfs.path(g, b, a, mask & !RW, comp, cid) {
                path.insert(0, (a, b, RW));
                return Some(path);
            }
        }
    }
    None
}
