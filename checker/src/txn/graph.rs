//! The dependency graph: transactions as nodes, edges labelled by kind (ww, wr, rw,
//! process, realtime), stored compactly (CSR) because a million transactions make
//! several million edges.
//!
//! Real-time order is not stored as one edge per ordered pair (quadratic) but through
//! one auxiliary node per completion, chained in completion order: a transaction
//! points to its completion's node, and the node of the last completion before a
//! transaction began points to it. T1 completed before T2 began if and only if a path
//! T1 -> aux ... aux -> T2 exists, so cycles are the same and the graph stays linear.

use super::mop::Txn;
use crate::history::Outcome;

/// Edge kinds, as bits so that one pair can carry several.
pub type Kinds = u8;
pub const WW: Kinds = 1;
pub const WR: Kinds = 2;
pub const RW: Kinds = 4;
pub const PROCESS: Kinds = 8;
pub const REALTIME: Kinds = 16;
pub const DATA: Kinds = WW | WR | RW;

pub fn kind_name(k: Kinds) -> &'static str {
    match k {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        _ => "realtime",
    }
}

/// Edges as they are found, before the graph is built.
#[derive(Default)]
pub struct EdgeList {
    pub edges: Vec<(u32, u32, Kinds)>,
}

impl EdgeList {
    pub fn add(&mut self, from: u32, to: u32, kind: Kinds) {
        if from != to {
            self.edges.push((from, to, kind));
        }
    }
}

/// The graph in compressed sparse rows.
pub struct Graph {
    /// Transactions are nodes `0..txns`; auxiliary real-time nodes follow.
    pub txns: usize,
    offsets: Vec<u32>,
    targets: Vec<u32>,
    kinds: Vec<Kinds>,
}

impl Graph {
    pub fn build(nodes: usize, txns: usize, list: EdgeList) -> Graph {
        let mut offsets = vec![0u32; nodes + 1];
        for &(f, _, _) in &list.edges {
            offsets[f as usize + 1] += 1;
        }
        for i in 0..nodes {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; list.edges.len()];
        let mut kinds = vec![0u8; list.edges.len()];
        for (f, t, k) in list.edges {
            let at = fill[f as usize] as usize;
            targets[at] = t;
            kinds[at] = k;
            fill[f as usize] += 1;
        }
        Graph {
            txns,
            offsets,
            targets,
            kinds,
        }
    }

    pub fn nodes(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// The edges out of `n` whose kind is in `mask`.
    pub fn out(&self, n: u32, mask: Kinds) -> impl Iterator<Item = (u32, Kinds)> + '_ {
        let (a, b) = (
            self.offsets[n as usize] as usize,
            self.offsets[n as usize + 1] as usize,
        );
        self.targets[a..b]
            .iter()
            .zip(&self.kinds[a..b])
            .filter(move |(_, k)| **k & mask != 0)
            .map(|(t, k)| (*t, *k))
    }

    /// Every kind of edge from `a` to `b` within `mask`.
    pub fn kinds_between(&self, a: u32, b: u32, mask: Kinds) -> Kinds {
        self.out(a, mask)
            .filter(|(t, _)| *t == b)
            .fold(0, |acc, (_, k)| acc | k)
    }

    pub fn is_aux(&self, n: u32) -> bool {
        n as usize >= self.txns
    }
}

/// Process order: each process's transactions that took effect (or may have), in
/// invocation order, each pointing to the next.
pub fn process_edges(txns: &[Txn], included: &[bool], edges: &mut EdgeList) {
    let mut by_process: Vec<(u64, u64, u32)> = txns
        .iter()
        .enumerate()
        .filter(|(i, _)| included[*i])
        .map(|(i, t)| (t.process, t.call, i as u32))
        .collect();
    by_process.sort_unstable();
    for w in by_process.windows(2) {
        if w[0].0 == w[1].0 {
            edges.add(w[0].2, w[1].2, PROCESS);
        }
    }
}

/// Real-time order through auxiliary nodes (see the module doc); returns the number
/// of auxiliary nodes, numbered from `txns.len()`.
pub fn realtime_edges(txns: &[Txn], included: &[bool], edges: &mut EdgeList) -> usize {
    let n = txns.len() as u32;
    let mut completions: Vec<(u64, u32)> = txns
        .iter()
        .enumerate()
        .filter(|(i, t)| included[*i] && t.outcome == Outcome::Ok)
        .map(|(i, t)| (t.ret, i as u32))
        .collect();
    completions.sort_unstable();
    for (j, &(_, t)) in completions.iter().enumerate() {
        edges.add(t, n + j as u32, REALTIME);
        if j + 1 < completions.len() {
            edges.add(n + j as u32, n + j as u32 + 1, REALTIME);
        }
    }
    for (i, t) in txns.iter().enumerate() {
        if !included[i] {
            continue;
        }
        // The last completion strictly before this transaction began.
        let before = completions.partition_point(|&(ret, _)| ret < t.call);
        if before > 0 {
            edges.add(n + before as u32 - 1, i as u32, REALTIME);
        }
    }
    completions.len()
}

/// Strongly connected components (Tarjan's, iterative) of the nodes in `within`
/// (all when `None`) over edges in `mask`: the components with more than one node,
/// each a sorted list.
pub fn cyclic_components(g: &Graph, mask: Kinds, within: Option<&[bool]>) -> Vec<Vec<u32>> {
    const UNSEEN: u32 = u32::MAX;
    let n = g.nodes();
    let inside = |v: u32| within.is_none_or(|w| w[v as usize]);
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0u32;
    // (node, position in its edge list)
    let mut call: Vec<(u32, u32)> = Vec::new();
    for root in 0..n as u32 {
        if index[root as usize] != UNSEEN || !inside(root) {
            continue;
        }
        call.push((root, g.offsets[root as usize]));
        index[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        while let Some(&mut (v, ref mut pos)) = call.last_mut() {
            let end = g.offsets[v as usize + 1];
            let mut descended = false;
            while *pos < end {
                let (w, k) = (g.targets[*pos as usize], g.kinds[*pos as usize]);
                *pos += 1;
                if k & mask == 0 || !inside(w) {
                    continue;
                }
                if index[w as usize] == UNSEEN {
                    index[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    call.push((w, g.offsets[w as usize]));
                    descended = true;
                    break;
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(index[w as usize]);
                }
            }
            if descended {
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent as usize] = low[parent as usize].min(low[v as usize]);
            }
            if low[v as usize] == index[v as usize] {
                let mut comp = Vec::new();
                loop {
                    let w = stack.pop().expect("Tarjan's stack holds the component");
                    on_stack[w as usize] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort_unstable();
                    out.push(comp);
                }
            }
        }
    }
    out
}
