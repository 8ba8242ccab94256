//! Topological orders of the graph of forced edges (`saturate`), and a cycle when
//! there is none.
//!
//! Any topological order serves the vector clocks; the order the keys' orders are
//! read from ([`readers_first`]) matters more: where the edges leave two writes of a
//! key unordered, putting one between a write and an operation that needs that
//! write's value makes the key's order illegal, which the merge then cannot use.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Kahn's topological sort of the nodes `include` keeps, earliest `priority` first
/// among those ready (so where the constraints leave a choice, the order follows
/// real time, as the system most likely did); `None` on a cycle.
pub(super) fn kahn(
    edges: &[Vec<u32>],
    include: impl Fn(usize) -> bool,
    priority: impl Fn(u32) -> u64,
) -> Option<Vec<u32>> {
    let n = edges.len();
    let mut indegree = indegrees(edges);
    let mut ready: BinaryHeap<Reverse<(u64, u32)>> = (0..n as u32)
        .filter(|&i| include(i as usize) && indegree[i as usize] == 0)
        .map(|i| Reverse((priority(i), i)))
        .collect();
    let total = (0..n).filter(|&i| include(i)).count();
    let mut out = Vec::with_capacity(total);
    while let Some(Reverse((_, i))) = ready.pop() {
        out.push(i);
        for &j in &edges[i as usize] {
            indegree[j as usize] -= 1;
            if indegree[j as usize] == 0 {
                ready.push(Reverse((priority(j), j)));
            }
        }
    }
    (out.len() == total).then_some(out)
}

/// One cycle of the graph on the nodes `include` keeps, by depth-first search.
pub(super) fn find_cycle(edges: &[Vec<u32>], include: impl Fn(usize) -> bool) -> Option<Vec<u32>> {
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut color = vec![NEW; edges.len()];
    let mut parent = vec![u32::MAX; edges.len()];
    for root in 0..edges.len() {
        if !include(root) || color[root] != NEW {
            continue;
        }
        color[root] = OPEN;
        let mut stack = vec![(root as u32, 0usize)];
        while let Some((v, next)) = stack.last_mut() {
            let v = *v;
            let Some(&w) = edges[v as usize].get(*next) else {
                color[v as usize] = DONE;
                stack.pop();
                continue;
            };
            *next += 1;
            match color[w as usize] {
                OPEN => {
                    let mut cycle = vec![v];
                    let mut x = v;
                    while x != w {
                        x = parent[x as usize];
                        cycle.push(x);
                    }
                    cycle.reverse();
                    return Some(cycle);
                }
                NEW if include(w as usize) => {
                    color[w as usize] = OPEN;
                    parent[w as usize] = v;
                    stack.push((w, 0));
                }
                _ => {}
            }
        }
    }
    None
}

/// How many edges enter each node.
fn indegrees(edges: &[Vec<u32>]) -> Vec<u32> {
    let mut indegree = vec![0u32; edges.len()];
    for &j in edges.iter().flatten() {
        indegree[j as usize] += 1;
    }
    indegree
}

/// What [`readers_first`] needs to know of the operations.
pub(super) struct Roles<'a> {
    pub object: &'a [u32],
    pub call: &'a [u64],
    /// Whether each operation writes (leaves a state of its own).
    pub writes: &'a [bool],
    /// For each operation that needs a value: its producer (`None`: the initial
    /// state); else `None`.
    pub needs: &'a [Option<Option<u32>>],
    pub objects: usize,
}

/// A topological order of the nodes `include` keeps that, where the edges allow,
/// lets no write of a key in while an operation needing the key's current value is
/// still to come (what rule 4 asks of every order, applied to the choices the edges
/// leave open), and otherwise takes the earliest invoked first; `None` on a cycle.
///
/// A ready write of a key whose current value is still needed is held back until
/// the last such operation is placed; when only held writes are ready, the earliest
/// invoked goes anyway (the edges force it).
pub(super) fn readers_first(
    edges: &[Vec<u32>],
    include: impl Fn(usize) -> bool,
    roles: &Roles,
) -> Option<Vec<u32>> {
    let n = edges.len();
    let mut indegree = indegrees(edges);
    // Operations still to place needing each writer's value, and each key's initial one.
    let mut pending = vec![0u32; n];
    let mut pending_initial = vec![0u32; roles.objects];
    for i in (0..n).filter(|&i| include(i)) {
        match roles.needs[i] {
            Some(Some(w)) => pending[w as usize] += 1,
            Some(None) => pending_initial[roles.object[i] as usize] += 1,
            None => {}
        }
    }
    // Each key's last placed writer, and its ready writes held back.
    let mut current: Vec<Option<u32>> = vec![None; roles.objects];
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); roles.objects];
    let needed = |k: usize, current: &[Option<u32>], pending: &[u32], initial: &[u32]| {
        current[k].map_or(initial[k], |w| pending[w as usize])
    };
    let mut ready: BinaryHeap<Reverse<(u64, u32)>> = (0..n as u32)
        .filter(|&i| include(i as usize) && indegree[i as usize] == 0)
        .map(|i| Reverse((roles.call[i as usize], i)))
        .collect();
    let total = (0..n).filter(|&i| include(i)).count();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let (i, forced) = match ready.pop() {
            Some(Reverse((_, i))) => (i, false),
            None => {
                let (k, at) = held
                    .iter()
                    .enumerate()
                    .flat_map(|(k, h)| h.iter().enumerate().map(move |(at, &i)| (k, at, i)))
                    .min_by_key(|&(_, _, i)| roles.call[i as usize])
                    .map(|(k, at, _)| (k, at))?;
                (held[k].swap_remove(at), true)
            }
        };
        let u = i as usize;
        let k = roles.object[u] as usize;
        // A write needing the current value itself is one of those still to come.
        let own = u32::from(roles.needs[u] == Some(current[k]));
        if roles.writes[u] && !forced && needed(k, &current, &pending, &pending_initial) > own {
            held[k].push(i);
            continue;
        }
        out.push(i);
        match roles.needs[u] {
            Some(Some(w)) => pending[w as usize] -= 1,
            Some(None) => pending_initial[k] -= 1,
            None => {}
        }
        if roles.writes[u] {
            current[k] = Some(i);
        }
        if needed(k, &current, &pending, &pending_initial) == 0 {
            ready.extend(
                held[k]
                    .drain(..)
                    .map(|h| Reverse((roles.call[h as usize], h))),
            );
        }
        for &j in &edges[u] {
            indegree[j as usize] -= 1;
            if indegree[j as usize] == 0 {
                ready.push(Reverse((roles.call[j as usize], j)));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// w1 and w2 write key 0 (invoked at 0 and 1); r reads w1's value (invoked at 2).
    fn two_writes_and_a_read_of_the_first() -> Roles<'static> {
        Roles {
            object: &[0, 0, 0],
            call: &[0, 1, 2],
            writes: &[true, true, false],
            needs: &[None, None, Some(Some(0))],
            objects: 1,
        }
    }

    #[test]
    fn a_write_waits_for_the_reads_of_the_value_it_would_overwrite() {
        // The only edge is reads-from, w1 → r.
        let edges = vec![vec![2], vec![], vec![]];
        let roles = two_writes_and_a_read_of_the_first();
        assert_eq!(kahn(&edges, |_| true, |i| i as u64), Some(vec![0, 1, 2]));
        assert_eq!(readers_first(&edges, |_| true, &roles), Some(vec![0, 2, 1]));
    }

    #[test]
    fn a_held_write_goes_when_nothing_else_can_and_a_cycle_is_none() {
        // r (needing w1) comes after w2 in program order: w2 must go first anyway.
        let edges = vec![vec![2], vec![2], vec![]];
        let roles = two_writes_and_a_read_of_the_first();
        assert_eq!(readers_first(&edges, |_| true, &roles), Some(vec![0, 1, 2]));
        let cycle = vec![vec![1], vec![0], vec![]];
        assert_eq!(readers_first(&cycle, |_| true, &roles), None);
        assert_eq!(find_cycle(&cycle, |_| true), Some(vec![0, 1]));
    }
}
