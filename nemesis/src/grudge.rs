//! Partition shapes as pure functions of the node count and a random source.
//!
//! A grudge maps each node (by index) to the nodes whose packets it drops. Nothing here
//! touches the network, so every shape is tested for the property it promises.

use crate::rng::SeededRng;
use std::collections::{BTreeMap, BTreeSet};

/// `grudge[a]` = indices of the nodes whose packets node `a` drops. Nodes that drop
/// nothing are absent.
pub type IndexGrudge = BTreeMap<usize, BTreeSet<usize>>;

/// Every node of `a` drops every node of `b`, and the other way round.
pub fn cut_between(a: &[usize], b: &[usize]) -> IndexGrudge {
    let mut g = one_way(a, b);
    for (k, v) in one_way(b, a) {
        g.entry(k).or_default().extend(v);
    }
    g
}

/// Every node of `droppers` drops the packets of every node of `from`; nodes of `from`
/// still receive everything.
pub fn one_way(droppers: &[usize], from: &[usize]) -> IndexGrudge {
    let mut g = IndexGrudge::new();
    for &d in droppers {
        let set: BTreeSet<usize> = from.iter().copied().filter(|&f| f != d).collect();
        if !set.is_empty() {
            g.entry(d).or_default().extend(set);
        }
    }
    g
}

/// A random split into two halves: the first has `n / 2` nodes, so with an odd count
/// the second is a majority.
pub fn halves(n: usize, rng: &mut SeededRng) -> IndexGrudge {
    let p = rng.permutation(n);
    let (a, b) = p.split_at(n / 2);
    cut_between(a, b)
}

/// The two sides of a split made by [`cut_between`] (as [`halves`] makes): the smaller
/// first (on a tie, the side without node 0), each sorted.
pub fn sides(grudge: &IndexGrudge, n: usize) -> (Vec<usize>, Vec<usize>) {
    let (with_0, without_0): (Vec<usize>, Vec<usize>) =
        (0..n).partition(|i| !grudge.get(&0).is_some_and(|d| d.contains(i)));
    if with_0.len() < without_0.len() {
        (with_0, without_0)
    } else {
        (without_0, with_0)
    }
}

/// Node `node` cut off from every other.
pub fn isolate(n: usize, node: usize) -> IndexGrudge {
    let others: Vec<usize> = (0..n).filter(|&i| i != node).collect();
    cut_between(&[node], &others)
}

/// A random split into two non-empty groups of any sizes.
pub fn random_split(n: usize, rng: &mut SeededRng) -> IndexGrudge {
    let p = rng.permutation(n);
    let k = rng.range(1, n as u64 - 1) as usize;
    let (a, b) = p.split_at(k);
    cut_between(a, b)
}

/// Two random halves joined by one node that keeps talking to both (needs n >= 3).
pub fn bridge(n: usize, rng: &mut SeededRng) -> IndexGrudge {
    let p = rng.permutation(n);
    let bridge = p[0];
    let rest = &p[1..];
    let (a, b) = rest.split_at(rest.len() / 2);
    debug_assert!(!a.contains(&bridge) && !b.contains(&bridge));
    cut_between(a, b)
}

/// A random split where one group drops the other's packets but the other still hears
/// the first (needs n >= 2). Returns the grudge; the droppers are its keys.
pub fn one_way_split(n: usize, rng: &mut SeededRng) -> IndexGrudge {
    let p = rng.permutation(n);
    let k = rng.range(1, n as u64 - 1) as usize;
    let (droppers, heard) = p.split_at(k);
    one_way(droppers, heard)
}

/// Jepsen's majorities ring: every node sees a majority (itself included), no two
/// nodes see the same set, and connectivity is symmetric so TCP works on every link
/// that is up (needs n >= 4).
///
/// The nodes are placed on a random ring. Each must see `d = n / 2` others (with
/// itself, `n / 2 + 1` is a majority). It sees its `ceil(d / 2)` nearest neighbours
/// on each side; when `d` is odd and `n` even, it sees `(d - 1) / 2` on each side and
/// the node opposite it instead, which keeps the degree exactly `d`. With `d` odd and
/// `n` odd an exactly `d`-regular graph cannot exist, and each node sees `d + 1`.
pub fn majorities_ring(n: usize, rng: &mut SeededRng) -> IndexGrudge {
    assert!(n >= 4, "majorities ring needs at least 4 nodes");
    let ring = rng.permutation(n);
    let d = n / 2;
    let mut offsets: Vec<usize> = Vec::new();
    if d & 1 == 1 && n & 1 == 0 {
        offsets.extend(1..=(d - 1) / 2);
        offsets.extend((1..=(d - 1) / 2).map(|o| n - o));
        offsets.push(n / 2);
    } else {
        let k = d.div_ceil(2);
        offsets.extend(1..=k);
        offsets.extend((1..=k).map(|o| n - o));
    }
    let mut g = IndexGrudge::new();
    for pos in 0..n {
        let sees: BTreeSet<usize> = offsets.iter().map(|o| ring[(pos + o) % n]).collect();
        let me = ring[pos];
        let drops: BTreeSet<usize> = (0..n).filter(|&i| i != me && !sees.contains(&i)).collect();
        if !drops.is_empty() {
            g.insert(me, drops);
        }
    }
    g
}

/// The nodes `node` hears from (itself included) under `grudge`.
pub fn hears(grudge: &IndexGrudge, n: usize, node: usize) -> BTreeSet<usize> {
    let empty = BTreeSet::new();
    let drops = grudge.get(&node).unwrap_or(&empty);
    (0..n).filter(|i| !drops.contains(i)).collect()
}

/// The nodes `node` can talk to in both directions (itself included).
pub fn sees(grudge: &IndexGrudge, n: usize, node: usize) -> BTreeSet<usize> {
    hears(grudge, n, node)
        .into_iter()
        .filter(|&o| hears(grudge, n, o).contains(&node))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symmetric(g: &IndexGrudge) -> bool {
        g.iter().all(|(a, drops)| {
            drops
                .iter()
                .all(|b| g.get(b).is_some_and(|s| s.contains(a)))
        })
    }

    /// The connected components of the "sees" relation.
    fn components(g: &IndexGrudge, n: usize) -> Vec<BTreeSet<usize>> {
        let mut out: Vec<BTreeSet<usize>> = Vec::new();
        for i in 0..n {
            if out.iter().any(|c| c.contains(&i)) {
                continue;
            }
            let mut comp = BTreeSet::from([i]);
            let mut frontier = vec![i];
            while let Some(x) = frontier.pop() {
                for y in sees(g, n, x) {
                    if comp.insert(y) {
                        frontier.push(y);
                    }
                }
            }
            out.push(comp);
        }
        out
    }

    #[test]
    fn sides_gives_back_the_two_halves_smaller_first() {
        for seed in 0..20 {
            for n in 3..=9 {
                let g = halves(n, &mut SeededRng::new(seed));
                let (small, big) = sides(&g, n);
                assert_eq!((small.len(), big.len()), (n / 2, n - n / 2), "n={n}");
                let mut comps: Vec<Vec<usize>> = components(&g, n)
                    .into_iter()
                    .map(|c| c.into_iter().collect())
                    .collect();
                comps.sort_by_key(Vec::len);
                if small.len() < big.len() {
                    assert_eq!(comps, vec![small, big], "n={n} seed={seed}");
                }
            }
        }
    }

    #[test]
    fn halves_split_into_a_majority_and_a_minority() {
        for seed in 0..50 {
            for n in 2..=9 {
                let g = halves(n, &mut SeededRng::new(seed));
                assert!(symmetric(&g));
                let mut sizes: Vec<usize> = components(&g, n).iter().map(BTreeSet::len).collect();
                sizes.sort();
                assert_eq!(sizes, vec![n / 2, n - n / 2], "n={n} seed={seed}");
                // Inside each half, everyone sees everyone.
                for c in components(&g, n) {
                    for &x in &c {
                        assert_eq!(sees(&g, n, x), c);
                    }
                }
            }
        }
    }

    #[test]
    fn isolate_cuts_exactly_one_node_off() {
        let n = 5;
        let g = isolate(n, 3);
        assert!(symmetric(&g));
        assert_eq!(sees(&g, n, 3), BTreeSet::from([3]));
        for i in [0, 1, 2, 4] {
            assert_eq!(sees(&g, n, i), BTreeSet::from([0, 1, 2, 4]));
        }
    }

    #[test]
    fn random_split_makes_two_non_empty_groups() {
        let mut seen_sizes = BTreeSet::new();
        for seed in 0..200 {
            let n = 5;
            let g = random_split(n, &mut SeededRng::new(seed));
            assert!(symmetric(&g));
            let comps = components(&g, n);
            assert_eq!(comps.len(), 2);
            seen_sizes.insert(comps.iter().map(BTreeSet::len).min().unwrap());
        }
        assert_eq!(
            seen_sizes,
            BTreeSet::from([1, 2]),
            "both 1|4 and 2|3 splits occur"
        );
    }

    #[test]
    fn bridge_node_sees_both_halves_which_do_not_see_each_other() {
        for seed in 0..50 {
            for n in 3..=9 {
                let g = bridge(n, &mut SeededRng::new(seed));
                assert!(symmetric(&g));
                let everyone: BTreeSet<usize> = (0..n).collect();
                let bridges: Vec<usize> = (0..n).filter(|&i| sees(&g, n, i) == everyone).collect();
                assert_eq!(bridges.len(), 1, "n={n} seed={seed} g={g:?}");
                let b = bridges[0];
                let others: Vec<usize> = (0..n).filter(|&i| i != b).collect();
                // Without the bridge the rest falls into two groups that cannot talk.
                let without: Vec<BTreeSet<usize>> = others
                    .iter()
                    .map(|&i| sees(&g, n, i).into_iter().filter(|&x| x != b).collect())
                    .collect();
                let distinct: BTreeSet<&BTreeSet<usize>> = without.iter().collect();
                assert_eq!(distinct.len(), 2, "n={n}: two halves");
                for i in &others {
                    assert!(sees(&g, n, *i).contains(&b));
                }
            }
        }
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for seed in 0..20 {
            for n in 4..=11 {
                let g = majorities_ring(n, &mut SeededRng::new(seed));
                assert!(symmetric(&g), "n={n}");
                let views: Vec<BTreeSet<usize>> = (0..n).map(|i| sees(&g, n, i)).collect();
                for (i, v) in views.iter().enumerate() {
                    assert!(
                        v.len() > n / 2,
                        "n={n}: node {i} sees {v:?}, not a majority"
                    );
                    assert!(v.len() < n, "n={n}: node {i} sees everyone");
                }
                let distinct: BTreeSet<&BTreeSet<usize>> = views.iter().collect();
                assert_eq!(distinct.len(), n, "n={n}: two nodes see the same majority");
                if n % 2 == 0 || (n / 2) % 2 == 0 {
                    // Exact: each sees exactly a bare majority.
                    assert!(views.iter().all(|v| v.len() == n / 2 + 1), "n={n}");
                }
            }
        }
    }

    #[test]
    fn one_way_is_asymmetric() {
        for seed in 0..50 {
            let n = 5;
            let g = one_way_split(n, &mut SeededRng::new(seed));
            assert!(!g.is_empty());
            for (a, drops) in &g {
                for b in drops {
                    assert!(!hears(&g, n, *a).contains(b), "{a} drops {b}");
                    assert!(hears(&g, n, *b).contains(a), "{b} still hears {a}");
                    assert!(!g.contains_key(b), "the heard side drops nothing");
                }
            }
        }
    }

    #[test]
    fn shapes_depend_only_on_the_seed() {
        for n in 4..=7 {
            assert_eq!(
                halves(n, &mut SeededRng::new(9)),
                halves(n, &mut SeededRng::new(9))
            );
            assert_eq!(
                majorities_ring(n, &mut SeededRng::new(9)),
                majorities_ring(n, &mut SeededRng::new(9))
            );
        }
    }
}
