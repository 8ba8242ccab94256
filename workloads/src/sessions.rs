//! Which node each operation of a client process goes to.
//!
//! Jepsen binds each process to one node for the whole test, and so does faultline by
//! default ([`Sessions::Sticky`]: worker `w` talks to node `w % nodes`). But the
//! session guarantees of Terry et al. (1994) are promises to a *session that moves
//! between servers*: a client that reads from one replica and then from another must
//! not see time go backwards. A replica that applies its log in order can never show
//! a sticky client a monotonic-reads violation, however stale it is, so a test with
//! sticky clients cannot tell such a system from one that keeps the guarantee.
//! [`Sessions::Roaming`] sends every operation to a node drawn at random, so a
//! process's reads are spread over replicas at different points of the log.
//!
//! The draw is deterministic for the test's seed: worker `w`'s `k`-th operation goes
//! to the same node in every run with that seed, whatever the timing (each worker has
//! its own random stream, derived from the seed and `w`; the processes that replace a
//! retired one carry on the same stream).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How client processes pick the node for each operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sessions {
    /// Worker `w` sends every operation to node `w % nodes` (Jepsen's binding).
    #[default]
    Sticky,
    /// Every operation goes to a node drawn from the seeded random stream of its
    /// worker: a process's session moves between replicas, as Terry's do.
    Roaming,
}

impl Sessions {
    pub const NAMES: &'static [&'static str] = &["sticky", "roaming"];

    pub fn name(self) -> &'static str {
        match self {
            Sessions::Sticky => "sticky",
            Sessions::Roaming => "roaming",
        }
    }
}

impl fmt::Display for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Sessions {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sticky" => Ok(Sessions::Sticky),
            "roaming" => Ok(Sessions::Roaming),
            other => Err(format!(
                "unknown session mode `{other}` (known: {})",
                Sessions::NAMES.join(", ")
            )),
        }
    }
}

/// One worker's node choices: an index into the test's nodes per operation.
#[derive(Debug, Clone)]
pub struct NodeChooser {
    nodes: usize,
    home: usize,
    /// `None` for sticky sessions: no randomness is consumed.
    rng: Option<SmallRng>,
}

impl NodeChooser {
    /// The chooser of worker `worker` of a test with `seed` over `nodes` nodes
    /// (at least one).
    pub fn new(sessions: Sessions, seed: u64, worker: usize, nodes: usize) -> NodeChooser {
        let nodes = nodes.max(1);
        let rng = match sessions {
            Sessions::Sticky => None,
            // A stream distinct from the generator's and the nemesis's (both seeded
            // from the same seed), and from every other worker's.
            Sessions::Roaming => Some(SmallRng::seed_from_u64(mix(
                seed ^ 0x726f_616d_696e_6721,
                worker as u64,
            ))),
        };
        NodeChooser {
            nodes,
            home: worker % nodes,
            rng,
        }
    }

    /// The node of the worker's next operation.
    pub fn next_node(&mut self) -> usize {
        match &mut self.rng {
            None => self.home,
            Some(rng) => rng.gen_range(0..self.nodes),
        }
    }
}

/// SplitMix64's finalizer over `seed + worker`: nearby workers (and seeds) get
/// unrelated streams.
fn mix(seed: u64, worker: u64) -> u64 {
    let mut z = seed.wrapping_add(worker.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn choices(sessions: Sessions, seed: u64, worker: usize, nodes: usize, n: usize) -> Vec<usize> {
        let mut c = NodeChooser::new(sessions, seed, worker, nodes);
        (0..n).map(|_| c.next_node()).collect()
    }

    #[test]
    fn sticky_sessions_keep_each_worker_on_its_node() {
        for worker in 0..12 {
            let c = choices(Sessions::Sticky, 7, worker, 5, 100);
            assert!(c.iter().all(|&n| n == worker % 5), "worker {worker}: {c:?}");
        }
        // The seed does not matter.
        assert_eq!(
            choices(Sessions::Sticky, 1, 3, 5, 50),
            choices(Sessions::Sticky, 2, 3, 5, 50)
        );
    }

    #[test]
    fn roaming_is_deterministic_per_seed_and_worker() {
        for worker in 0..4 {
            assert_eq!(
                choices(Sessions::Roaming, 11, worker, 5, 500),
                choices(Sessions::Roaming, 11, worker, 5, 500)
            );
        }
        assert_ne!(
            choices(Sessions::Roaming, 11, 0, 5, 500),
            choices(Sessions::Roaming, 12, 0, 5, 500)
        );
        // Workers of one test do not march in step.
        assert_ne!(
            choices(Sessions::Roaming, 11, 0, 5, 500),
            choices(Sessions::Roaming, 11, 1, 5, 500)
        );
    }

    #[test]
    fn roaming_uses_every_node_about_evenly_and_moves_often() {
        for nodes in [1, 2, 3, 5, 7] {
            let c = choices(Sessions::Roaming, 3, 2, nodes, 5000);
            assert!(c.iter().all(|&n| n < nodes));
            let mut counts = vec![0usize; nodes];
            for &n in &c {
                counts[n] += 1;
            }
            let expected = 5000 / nodes;
            for (node, &count) in counts.iter().enumerate() {
                assert!(
                    count * 10 >= expected * 8 && count * 10 <= expected * 12,
                    "{nodes} nodes: node {node} got {count} of 5000 (expected ~{expected})"
                );
            }
            if nodes > 1 {
                let moves = c.windows(2).filter(|w| w[0] != w[1]).count();
                // A move happens with probability 1 - 1/nodes.
                assert!(
                    moves * nodes * 10 >= 4999 * (nodes - 1) * 8,
                    "{nodes} nodes: {moves} moves"
                );
            }
        }
        let distinct: HashSet<usize> = choices(Sessions::Roaming, 9, 0, 5, 50)
            .into_iter()
            .collect();
        assert_eq!(distinct.len(), 5);
    }

    #[test]
    fn names_parse_and_sticky_is_the_default() {
        for name in Sessions::NAMES {
            assert_eq!(name.parse::<Sessions>().unwrap().name(), *name);
        }
        assert_eq!(Sessions::default(), Sessions::Sticky);
        let e = "random".parse::<Sessions>().unwrap_err();
        assert!(e.contains("random") && e.contains("sticky, roaming"), "{e}");
        assert_eq!(
            serde_json::to_string(&Sessions::Roaming).unwrap(),
            "\"roaming\""
        );
    }
}
