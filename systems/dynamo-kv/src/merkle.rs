//! Merkle trees over a key range, for anti-entropy.
//!
//! The tree is a complete binary tree of fixed depth laid out in an array (root at 0,
//! children of `i` at `2i+1` and `2i+2`). A key falls in the leaf named by the top
//! `depth` bits of its ring position, so two replicas bucket the same keys alike and
//! can compare trees node by node: equal roots mean nothing to do, and a difference
//! is narrowed down level by level to the leaves whose keys must be exchanged.

use crate::ring::position;
use crate::version::Version;

pub type Hash = [u8; 16];

/// The hash of an empty subtree.
pub const EMPTY: Hash = [0; 16];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    depth: u32,
    nodes: Vec<Hash>,
}

/// What identifies a key's replica state: the key and the dots of its versions (a
/// dot's value never changes, so equal dots mean equal versions).
pub fn key_digest(key: &str, versions: &[Version]) -> Hash {
    let mut bytes = Vec::with_capacity(key.len() + 1 + versions.len() * 24);
    bytes.extend_from_slice(key.as_bytes());
    bytes.push(0);
    let mut dots: Vec<_> = versions.iter().map(|v| &v.dot).collect();
    dots.sort();
    for d in dots {
        bytes.extend_from_slice(d.node.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(&d.counter.to_be_bytes());
    }
    md5::compute(&bytes).0
}

impl MerkleTree {
    /// Builds the tree from `(key, digest)` pairs (any order).
    pub fn build<'a>(depth: u32, entries: impl IntoIterator<Item = (&'a str, Hash)>) -> MerkleTree {
        let leaves = 1usize << depth;
        let mut per_leaf: Vec<Vec<(&str, Hash)>> = vec![Vec::new(); leaves];
        for (key, digest) in entries {
            per_leaf[leaf_of(depth, key)].push((key, digest));
        }
        let mut nodes = vec![EMPTY; 2 * leaves - 1];
        let first_leaf = leaves - 1;
        for (i, mut items) in per_leaf.into_iter().enumerate() {
            if items.is_empty() {
                continue;
            }
            items.sort();
            let mut bytes = Vec::with_capacity(items.len() * 16);
            for (_, d) in items {
                bytes.extend_from_slice(&d);
            }
            nodes[first_leaf + i] = md5::compute(&bytes).0;
        }
        for i in (0..first_leaf).rev() {
            let (l, r) = (nodes[2 * i + 1], nodes[2 * i + 2]);
            nodes[i] = if l == EMPTY && r == EMPTY {
                EMPTY
            } else {
                let mut b = [0u8; 32];
                b[..16].copy_from_slice(&l);
                b[16..].copy_from_slice(&r);
                md5::compute(b).0
            };
        }
        MerkleTree { depth, nodes }
    }

    pub fn depth(&self) -> u32 {
        self.depth
    }

    pub fn root(&self) -> Hash {
        self.nodes[0]
    }

    /// The hash of node `index`, or `None` when the tree has no such node.
    pub fn hash(&self, index: usize) -> Option<Hash> {
        self.nodes.get(index).copied()
    }

    /// Whether `index` is a leaf; leaves are numbered from 0 by [`leaf_number`].
    pub fn is_leaf(&self, index: usize) -> bool {
        index >= (1usize << self.depth) - 1 && index < self.nodes.len()
    }

    pub fn leaf_number(&self, index: usize) -> usize {
        index - ((1usize << self.depth) - 1)
    }

    /// The leaves (by number) whose contents differ between two trees of equal depth,
    /// found by descending only into differing subtrees.
    pub fn diff(&self, other: &MerkleTree) -> Vec<usize> {
        assert_eq!(
            self.depth, other.depth,
            "trees of different depths cannot be compared"
        );
        let mut out = Vec::new();
        let mut frontier = vec![0usize];
        while let Some(i) = frontier.pop() {
            if self.nodes[i] == other.nodes[i] {
                continue;
            }
            if self.is_leaf(i) {
                out.push(self.leaf_number(i));
            } else {
                frontier.push(2 * i + 2);
                frontier.push(2 * i + 1);
            }
        }
        out.sort();
        out
    }
}

/// The leaf a key belongs to in a tree of `depth`.
pub fn leaf_of(depth: u32, key: &str) -> usize {
    if depth == 0 {
        0
    } else {
        (position(key.as_bytes()) >> (128 - depth)) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(depth: u32, keys: &[(&str, u8)]) -> MerkleTree {
        MerkleTree::build(depth, keys.iter().map(|(k, v)| (*k, [*v; 16])))
    }

    #[test]
    fn equal_contents_give_equal_roots_in_any_order() {
        let a = tree(6, &[("a", 1), ("b", 2), ("c", 3)]);
        let b = tree(6, &[("c", 3), ("a", 1), ("b", 2)]);
        assert_eq!(a, b);
        assert!(a.diff(&b).is_empty());
        assert_eq!(tree(6, &[]).root(), EMPTY);
        assert_ne!(a.root(), EMPTY);
    }

    #[test]
    fn diff_finds_exactly_the_leaves_that_differ() {
        let keys: Vec<String> = (0..500).map(|i| format!("key{i}")).collect();
        let base: Vec<(&str, u8)> = keys.iter().map(|k| (k.as_str(), 1)).collect();
        let mut changed = base.clone();
        changed[17].1 = 2; // different version
        changed.remove(300); // missing on one side
        let extra = "only-here";
        changed.push((extra, 9));
        let a = tree(8, &base);
        let b = tree(8, &changed);
        let mut expected = vec![leaf_of(8, "key17"), leaf_of(8, "key300"), leaf_of(8, extra)];
        expected.sort();
        expected.dedup();
        assert_eq!(a.diff(&b), expected);
        assert_eq!(b.diff(&a), expected);
    }

    #[test]
    fn leaves_partition_the_ring_by_top_bits() {
        assert_eq!(leaf_of(0, "anything"), 0);
        for k in 0..100 {
            let key = format!("k{k}");
            assert!(leaf_of(4, &key) < 16);
            assert_eq!(leaf_of(4, &key), leaf_of(8, &key) >> 4);
        }
    }

    #[test]
    fn key_digest_depends_on_dots_only() {
        use crate::dots::{Dot, DotSet};
        let v = |n: &str, c: u64, val: i64| Version {
            value: serde_json::json!(val),
            dot: Dot {
                node: n.into(),
                counter: c,
            },
            seen: DotSet::new(),
            ts_ms: 0,
        };
        assert_eq!(
            key_digest("k", &[v("a", 1, 0), v("b", 2, 0)]),
            key_digest("k", &[v("b", 2, 5), v("a", 1, 0)])
        );
        assert_ne!(
            key_digest("k", &[v("a", 1, 0)]),
            key_digest("k", &[v("a", 2, 0)])
        );
        assert_ne!(
            key_digest("k", &[v("a", 1, 0)]),
            key_digest("j", &[v("a", 1, 0)])
        );
    }
}
