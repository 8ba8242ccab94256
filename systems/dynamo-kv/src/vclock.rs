//! Vector clocks and the dots that name individual writes.
//!
//! A plain vector clock cannot tell a blind write (one without a context) apart
//! from a causally later one when the same node coordinates both: `{n1:5}` and
//! `{n1:6}` compare as "before", so the blind write would silently destroy the
//! older value. Each version therefore also carries a *dot*, the unique
//! `(node, counter)` event that created it (the idea of dotted version vectors).
//! A version is obsolete exactly when its dot is covered by another version's
//! clock, which is what "the write supersedes exactly the versions its context
//! saw" means.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One write event: the coordinator that created it and that coordinator's counter.
/// Counters are unique per node across restarts (see `storage::Incarnation`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub node: String,
    pub counter: u64,
}

/// How two clocks relate causally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Causality {
    Equal,
    /// The left clock happened before the right one.
    Before,
    /// The left clock happened after (dominates) the right one.
    After,
    Concurrent,
}

/// Node id -> highest counter of that node seen. Missing entries are zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VClock(pub BTreeMap<String, u64>);

impl VClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, node: &str) -> u64 {
        self.0.get(node).copied().unwrap_or(0)
    }

    /// Whether the event `dot` is part of this clock's causal past.
    pub fn covers(&self, dot: &Dot) -> bool {
        self.get(&dot.node) >= dot.counter
    }

    /// Records `dot` (keeps the larger counter).
    pub fn add(&mut self, dot: &Dot) {
        let e = self.0.entry(dot.node.clone()).or_insert(0);
        *e = (*e).max(dot.counter);
    }

    /// Pointwise maximum: the clock that has seen everything either has seen.
    pub fn merge(&mut self, other: &VClock) {
        for (node, &c) in &other.0 {
            let e = self.0.entry(node.clone()).or_insert(0);
            *e = (*e).max(c);
        }
    }

    pub fn merged(mut self, other: &VClock) -> VClock {
        self.merge(other);
        self
    }

    pub fn compare(&self, other: &VClock) -> Causality {
        let mut less = false;
        let mut greater = false;
        for node in self.0.keys().chain(other.0.keys()) {
            match self.get(node).cmp(&other.get(node)) {
                Ordering::Less => less = true,
                Ordering::Greater => greater = true,
                Ordering::Equal => {}
            }
        }
        match (less, greater) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::Before,
            (false, true) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.values().all(|&c| c == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(entries: &[(&str, u64)]) -> VClock {
        VClock(entries.iter().map(|(n, c)| (n.to_string(), *c)).collect())
    }

    #[test]
    fn compare_covers_all_four_relations() {
        assert_eq!(vc(&[("a", 1)]).compare(&vc(&[("a", 1)])), Causality::Equal);
        assert_eq!(vc(&[]).compare(&vc(&[("a", 0)])), Causality::Equal);
        assert_eq!(vc(&[("a", 1)]).compare(&vc(&[("a", 2)])), Causality::Before);
        assert_eq!(
            vc(&[("a", 1)]).compare(&vc(&[("a", 1), ("b", 1)])),
            Causality::Before
        );
        assert_eq!(
            vc(&[("a", 2), ("b", 1)]).compare(&vc(&[("a", 1)])),
            Causality::After
        );
        assert_eq!(
            vc(&[("a", 2)]).compare(&vc(&[("b", 1)])),
            Causality::Concurrent
        );
        assert_eq!(
            vc(&[("a", 2), ("b", 1)]).compare(&vc(&[("a", 1), ("b", 2)])),
            Causality::Concurrent
        );
    }

    #[test]
    fn merge_is_pointwise_max_and_dominates_both() {
        let x = vc(&[("a", 3), ("b", 1)]);
        let y = vc(&[("b", 4), ("c", 2)]);
        let m = x.clone().merged(&y);
        assert_eq!(m, vc(&[("a", 3), ("b", 4), ("c", 2)]));
        assert_eq!(m.compare(&x), Causality::After);
        assert_eq!(m.compare(&y), Causality::After);
        // Commutative and idempotent.
        assert_eq!(y.clone().merged(&x), m);
        assert_eq!(m.clone().merged(&m), m);
    }

    #[test]
    fn covers_and_add() {
        let mut c = vc(&[("a", 3)]);
        let d = Dot {
            node: "a".into(),
            counter: 3,
        };
        let e = Dot {
            node: "a".into(),
            counter: 4,
        };
        let f = Dot {
            node: "b".into(),
            counter: 1,
        };
        assert!(c.covers(&d));
        assert!(!c.covers(&e));
        assert!(!c.covers(&f));
        c.add(&f);
        assert!(c.covers(&f));
        c.add(&d); // never lowers an entry
        assert_eq!(c.get("a"), 3);
    }
}
