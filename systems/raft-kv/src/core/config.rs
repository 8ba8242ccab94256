//! Cluster membership and the quorum rule, including joint consensus.
//!
//! During a reconfiguration from C_old to C_new the cluster runs under C_old,new: every
//! decision (election, commit, read confirmation) needs a majority of C_old *and* a majority of
//! C_new. `outgoing` holds C_old while joint and is empty otherwise.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::messages::NodeId;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The (incoming) voters: C_new while joint, the whole configuration otherwise.
    pub voters: BTreeSet<NodeId>,
    /// C_old while a joint configuration is in force; empty otherwise.
    pub outgoing: BTreeSet<NodeId>,
    /// Network addresses of every member, so a node that learns a configuration from the log
    /// or a snapshot can reach members it was never told about on its command line.
    pub addrs: BTreeMap<NodeId, String>,
}

impl Membership {
    pub fn new(addrs: BTreeMap<NodeId, String>) -> Self {
        Membership {
            voters: addrs.keys().cloned().collect(),
            outgoing: BTreeSet::new(),
            addrs,
        }
    }

    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Every node with a vote in this configuration (both halves when joint).
    pub fn members(&self) -> BTreeSet<NodeId> {
        self.voters.union(&self.outgoing).cloned().collect()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.voters.contains(id) || self.outgoing.contains(id)
    }

    /// True when the nodes for which `yes` holds form a quorum of this configuration.
    pub fn is_quorum(&self, yes: impl Fn(&str) -> bool) -> bool {
        majority(&self.voters, &yes) && (self.outgoing.is_empty() || majority(&self.outgoing, &yes))
    }

    /// The highest index that a quorum has reached, given each member's match index.
    pub fn quorum_index(&self, matched: impl Fn(&str) -> u64) -> u64 {
        let q = |set: &BTreeSet<NodeId>| -> u64 {
            if set.is_empty() {
                return u64::MAX;
            }
            let mut v: Vec<u64> = set.iter().map(|id| matched(id)).collect();
            v.sort_unstable_by(|a, b| b.cmp(a));
            v[set.len() / 2]
        };
        q(&self.voters).min(q(&self.outgoing))
    }

    /// The joint configuration C_old,new for moving from `self` to `new_voters`.
    pub fn enter_joint(
        &self,
        new_voters: BTreeSet<NodeId>,
        addrs: BTreeMap<NodeId, String>,
    ) -> Self {
        Membership {
            voters: new_voters,
            outgoing: self.voters.clone(),
            addrs,
        }
    }

    /// C_new: the joint configuration with C_old dropped (and addresses of removed nodes).
    pub fn leave_joint(&self) -> Self {
        let addrs = self
            .addrs
            .iter()
            .filter(|(id, _)| self.voters.contains(*id))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Membership {
            voters: self.voters.clone(),
            outgoing: BTreeSet::new(),
            addrs,
        }
    }
}

fn majority(set: &BTreeSet<NodeId>, yes: &impl Fn(&str) -> bool) -> bool {
    if set.is_empty() {
        return false;
    }
    set.iter().filter(|id| yes(id)).count() > set.len() / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<NodeId> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn joint_quorum_needs_both_majorities() {
        let m = Membership {
            voters: set(&["a", "b", "c"]),
            outgoing: set(&["c", "d", "e"]),
            addrs: BTreeMap::new(),
        };
        assert!(!m.is_quorum(|id| ["a", "b"].contains(&id)));
        assert!(!m.is_quorum(|id| ["d", "e"].contains(&id)));
        assert!(m.is_quorum(|id| ["a", "c", "d"].contains(&id)));
        let idx = m.quorum_index(|id| match id {
            "a" => 9,
            "b" => 7,
            "c" => 5,
            "d" => 8,
            _ => 1,
        });
        assert_eq!(idx, 5);
    }

    #[test]
    fn simple_quorum_index_is_the_median() {
        let m = Membership {
            voters: set(&["a", "b", "c"]),
            outgoing: BTreeSet::new(),
            addrs: BTreeMap::new(),
        };
        assert_eq!(
            m.quorum_index(|id| match id {
                "a" => 10,
                "b" => 4,
                _ => 6,
            }),
            6
        );
        let m4 = Membership {
            voters: set(&["a", "b", "c", "d"]),
            outgoing: BTreeSet::new(),
            addrs: BTreeMap::new(),
        };
        assert_eq!(
            m4.quorum_index(|id| match id {
                "a" => 10,
                "b" => 4,
                "c" => 6,
                _ => 8,
            }),
            6
        );
    }
}
