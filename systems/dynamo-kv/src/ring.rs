//! Consistent hashing on a 128-bit ring with virtual nodes.
//!
//! Positions are MD5 digests read as big-endian `u128`, so every process (and every
//! run) places keys and nodes identically; std's `DefaultHasher` is seeded per
//! process and would not.

/// A stable 128-bit position on the ring.
pub fn position(bytes: &[u8]) -> u128 {
    u128::from_be_bytes(md5::compute(bytes).0)
}

/// The ring: every physical node owns `vnodes` tokens; a key belongs to the first
/// token clockwise from its position.
#[derive(Debug, Clone)]
pub struct Ring {
    /// (token, index into `nodes`), sorted by token.
    tokens: Vec<(u128, usize)>,
    nodes: Vec<String>,
}

impl Ring {
    pub fn new(nodes: &[String], vnodes: usize) -> Ring {
        let mut sorted: Vec<String> = nodes.to_vec();
        sorted.sort();
        sorted.dedup();
        let mut tokens = Vec::with_capacity(sorted.len() * vnodes.max(1));
        for (i, node) in sorted.iter().enumerate() {
            for v in 0..vnodes.max(1) {
                tokens.push((position(format!("{node}#{v}").as_bytes()), i));
            }
        }
        tokens.sort();
        Ring {
            tokens,
            nodes: sorted,
        }
    }

    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// Every physical node in clockwise order from the key's position, each once.
    /// The first `n` are the key's preference list; the rest are, in order, the
    /// stand-ins a sloppy quorum uses when preferred nodes are unreachable.
    pub fn walk(&self, key: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(self.nodes.len());
        if self.tokens.is_empty() {
            return out;
        }
        let pos = position(key.as_bytes());
        let start = self.tokens.partition_point(|(t, _)| *t < pos);
        let mut seen = vec![false; self.nodes.len()];
        for i in 0..self.tokens.len() {
            let (_, node) = self.tokens[(start + i) % self.tokens.len()];
            if !seen[node] {
                seen[node] = true;
                out.push(self.nodes[node].clone());
                if out.len() == self.nodes.len() {
                    break;
                }
            }
        }
        out
    }

    /// The first `n` distinct physical nodes clockwise from the key (fewer when the
    /// cluster is smaller than `n`).
    pub fn preference_list(&self, key: &str, n: usize) -> Vec<String> {
        let mut walk = self.walk(key);
        walk.truncate(n);
        walk
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn positions_are_stable_md5() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(position(b""), 0xd41d8cd98f00b204e9800998ecf8427e);
    }

    #[test]
    fn preference_list_is_n_distinct_nodes_starting_at_the_owner() {
        let ring = Ring::new(&names(5), 32);
        for k in 0..200 {
            let key = format!("key-{k}");
            let pref = ring.preference_list(&key, 3);
            assert_eq!(pref.len(), 3);
            let mut d = pref.clone();
            d.sort();
            d.dedup();
            assert_eq!(d.len(), 3, "duplicates in {pref:?}");
            // The owner is the node of the first token at or after the key.
            let pos = position(key.as_bytes());
            let owner = ring
                .tokens
                .iter()
                .find(|(t, _)| *t >= pos)
                .unwrap_or(&ring.tokens[0]);
            assert_eq!(pref[0], ring.nodes[owner.1]);
            // The walk extends the preference list with every other node once.
            let walk = ring.walk(&key);
            assert_eq!(&walk[..3], &pref[..]);
            assert_eq!(walk.len(), 5);
        }
    }

    #[test]
    fn small_cluster_and_order_independence() {
        let ring = Ring::new(&names(2), 8);
        assert_eq!(ring.preference_list("x", 3).len(), 2);
        let mut reversed = names(4);
        reversed.reverse();
        let a = Ring::new(&names(4), 16);
        let b = Ring::new(&reversed, 16);
        for k in 0..50 {
            let key = format!("k{k}");
            assert_eq!(a.preference_list(&key, 3), b.preference_list(&key, 3));
        }
    }

    #[test]
    fn virtual_nodes_spread_ownership() {
        let ring = Ring::new(&names(4), 64);
        let mut owned: HashMap<String, usize> = HashMap::new();
        for k in 0..8000 {
            *owned
                .entry(ring.preference_list(&format!("k{k}"), 1)[0].clone())
                .or_default() += 1;
        }
        for (node, count) in owned {
            // An even share is 2000; 64 vnodes keep every node well within 2x of it.
            assert!(
                (1000..3000).contains(&count),
                "{node} owns {count} of 8000 keys"
            );
        }
    }
}
