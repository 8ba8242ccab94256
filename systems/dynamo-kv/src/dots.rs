//! Dots, the unique names of individual writes, and the exact sets of them that say
//! which versions a write supersedes.
//!
//! The first design summarized a write's causal past as a vector clock and called a
//! version obsolete when another version's clock covered its dot. A vector clock
//! entry `n1: 6` claims "every write n1 coordinated up to counter 6", but a node's
//! writes to one key are not seen in counter order: two appends that n1 coordinates
//! at once (or one whose replicas are cut off by a partition) get dots 5 and 6 and
//! neither reads the other. A later writer that read only dot 6 then "covered" dot 5
//! without ever reading its list, and every replica that merged that write dropped
//! dot 5 together with acknowledged elements. (Dotted version vectors avoid this by
//! having a replica of the key issue per-key counters from its local state; here any
//! node may coordinate.) So the causal past is kept exact: the set of dots the
//! writer actually read. It is as large as the number of siblings read, not the
//! key's history, because a superseded version's own past need not be repeated: a
//! replica that still holds a grandparent keeps it as a sibling whose content the
//! newer version already includes, and the next write that reads both retires it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One write event: the coordinator that created it and that coordinator's counter.
/// Counters are unique per node across restarts (see `storage::Incarnation`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub node: String,
    pub counter: u64,
}

/// The exact set of writes a context has seen (and a new version supersedes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DotSet(pub BTreeSet<Dot>);

impl DotSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the write `dot` itself was seen; never inferred from other dots.
    pub fn covers(&self, dot: &Dot) -> bool {
        self.0.contains(dot)
    }

    pub fn add(&mut self, dot: &Dot) {
        self.0.insert(dot.clone());
    }

    /// Union: everything either has seen.
    pub fn merge(&mut self, other: &DotSet) {
        self.0.extend(other.0.iter().cloned());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(node: &str, counter: u64) -> Dot {
        Dot {
            node: node.into(),
            counter,
        }
    }

    #[test]
    fn covers_only_the_dots_added_not_lower_counters() {
        let mut s = DotSet::new();
        assert!(s.is_empty());
        s.add(&dot("a", 6));
        assert!(s.covers(&dot("a", 6)));
        // A vector clock {a: 6} would claim a:5 here; an exact set must not.
        assert!(!s.covers(&dot("a", 5)));
        assert!(!s.covers(&dot("b", 6)));
    }

    #[test]
    fn merge_is_a_union() {
        let mut x = DotSet::new();
        x.add(&dot("a", 1));
        let mut y = DotSet::new();
        y.add(&dot("b", 2));
        y.add(&dot("a", 1));
        x.merge(&y);
        assert_eq!(x.len(), 2);
        assert!(x.covers(&dot("a", 1)) && x.covers(&dot("b", 2)));
        let before = x.clone();
        x.merge(&before);
        assert_eq!(x, before);
    }
}
