//! Membership and failure detection: each node's view of every member's heartbeat.
//!
//! The member set is fixed by `--peers`; what gossip spreads is liveness. Every node
//! bumps its own heartbeat each round and exchanges its whole view with one random
//! peer, keeping the larger heartbeat per member. A member whose heartbeat has not
//! grown for `fail_after` is considered down. A request that fails against a member
//! marks it suspected at once (so a coordinator stops routing to it without waiting
//! for the timeout); only a newer heartbeat, i.e. gossip showing it back, clears that.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `(incarnation, counter)`: a restarted node's heartbeats outrank its old ones.
pub type Beat = (u64, u64);

#[derive(Debug, Clone)]
struct Entry {
    beat: Beat,
    last_advanced: Instant,
    suspected_at: Option<Beat>,
}

#[derive(Debug)]
pub struct Membership {
    me: String,
    fail_after: Duration,
    entries: BTreeMap<String, Entry>,
}

impl Membership {
    /// Every member starts out presumed alive (for `fail_after`), so a fresh cluster
    /// routes normally while the first gossip rounds run.
    pub fn new(
        me: &str,
        members: &[String],
        incarnation: u64,
        fail_after: Duration,
        now: Instant,
    ) -> Self {
        let entries = members
            .iter()
            .map(|m| {
                let beat = if m == me { (incarnation, 0) } else { (0, 0) };
                (
                    m.clone(),
                    Entry {
                        beat,
                        last_advanced: now,
                        suspected_at: None,
                    },
                )
            })
            .collect();
        Membership {
            me: me.to_string(),
            fail_after,
            entries,
        }
    }

    pub fn members(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// Bumps our own heartbeat (once per gossip round).
    pub fn tick(&mut self, now: Instant) {
        if let Some(e) = self.entries.get_mut(&self.me) {
            e.beat.1 += 1;
            e.last_advanced = now;
        }
    }

    pub fn view(&self) -> BTreeMap<String, Beat> {
        self.entries
            .iter()
            .map(|(n, e)| (n.clone(), e.beat))
            .collect()
    }

    /// Folds in a peer's view. Unknown members are ignored (membership is static).
    pub fn merge(&mut self, view: &BTreeMap<String, Beat>, now: Instant) {
        for (node, &beat) in view {
            if node == &self.me {
                continue;
            }
            if let Some(e) = self.entries.get_mut(node) {
                if beat > e.beat {
                    e.beat = beat;
                    e.last_advanced = now;
                    if e.suspected_at.is_some_and(|s| beat > s) {
                        e.suspected_at = None;
                    }
                }
            }
        }
    }

    /// Direct evidence that `node` is unreachable.
    pub fn suspect(&mut self, node: &str) {
        if node == self.me {
            return;
        }
        if let Some(e) = self.entries.get_mut(node) {
            e.suspected_at = Some(e.beat);
        }
    }

    pub fn is_alive(&self, node: &str, now: Instant) -> bool {
        if node == self.me {
            return true;
        }
        match self.entries.get(node) {
            Some(e) => {
                e.suspected_at.is_none() && now.duration_since(e.last_advanced) < self.fail_after
            }
            None => false,
        }
    }

    pub fn alive(&self, now: Instant) -> Vec<String> {
        self.entries
            .keys()
            .filter(|n| self.is_alive(n, now))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    #[test]
    fn silence_means_down_and_gossip_brings_back() {
        let t0 = Instant::now();
        let fail = Duration::from_secs(3);
        let mut m = Membership::new("a", &members(), 1, fail, t0);
        assert_eq!(m.alive(t0), members());
        let t1 = t0 + Duration::from_secs(4);
        assert_eq!(m.alive(t1), vec!["a".to_string()]);
        let view: BTreeMap<String, Beat> = [("b".to_string(), (1, 5))].into_iter().collect();
        m.merge(&view, t1);
        assert!(m.is_alive("b", t1));
        assert!(!m.is_alive("c", t1));
        // An old heartbeat does not count as news.
        let stale: BTreeMap<String, Beat> = [("b".to_string(), (1, 4))].into_iter().collect();
        let t2 = t1 + Duration::from_secs(4);
        m.merge(&stale, t2);
        assert!(!m.is_alive("b", t2));
    }

    #[test]
    fn suspicion_holds_until_a_newer_heartbeat() {
        let t0 = Instant::now();
        let mut m = Membership::new("a", &members(), 1, Duration::from_secs(3), t0);
        m.suspect("b");
        m.suspect("a"); // never suspects itself
        assert!(!m.is_alive("b", t0));
        assert!(m.is_alive("a", t0));
        let same: BTreeMap<String, Beat> = [("b".to_string(), (0, 0))].into_iter().collect();
        m.merge(&same, t0);
        assert!(!m.is_alive("b", t0));
        // A restart (new incarnation, counter reset) still outranks.
        let back: BTreeMap<String, Beat> = [("b".to_string(), (2, 0))].into_iter().collect();
        m.merge(&back, t0);
        assert!(m.is_alive("b", t0));
    }

    #[test]
    fn tick_and_view() {
        let t0 = Instant::now();
        let mut m = Membership::new("a", &members(), 7, Duration::from_secs(3), t0);
        m.tick(t0);
        m.tick(t0);
        assert_eq!(m.view()["a"], (7, 2));
        let mut other = Membership::new("b", &members(), 1, Duration::from_secs(3), t0);
        other.merge(&m.view(), t0);
        assert_eq!(other.view()["a"], (7, 2));
    }
}
