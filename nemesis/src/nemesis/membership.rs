//! Membership changes through the cluster control: nodes leave the cluster through
//! the system's own admin interface and come back later as fresh nodes (empty data).
//! The nemesis alternates: when every node is a member it removes some, otherwise it
//! adds a spare node the cluster has not used yet (under its own id), or, with none
//! left, adds back those out.

use super::Nemesis;
use crate::control::ClusterControl;
use crate::fault::{Fault, MembershipChange, PartitionKind};
use crate::grudge;
use crate::schedule::Decision;
use anyhow::{bail, Result};

/// How many times the final heal tries to add back the nodes out, a second apart.
const FINAL_ADD_TRIES: u32 = 10;

impl<C: ClusterControl + 'static> Nemesis<C> {
    /// A membership decision as a fault: when nodes are out of the cluster, adding a
    /// spare that has not joined yet in their place, or with none, adding them back;
    /// else removing `nodes` (indices of the initial nodes).
    pub(super) fn resolve_membership(&self, nodes: &[usize]) -> Result<Fault> {
        let all = self.all_members();
        if !self.removed.is_empty() {
            if let Some(spare) = self.unused_spare() {
                let mut members: Vec<String> = all
                    .into_iter()
                    .filter(|m| !self.removed.contains(m))
                    .collect();
                members.push(spare.clone());
                return Ok(Fault::Membership {
                    change: MembershipChange::Add,
                    nodes: vec![spare],
                    members,
                });
            }
            return Ok(Fault::Membership {
                change: MembershipChange::Add,
                nodes: self.removed.iter().cloned().collect(),
                members: all,
            });
        }
        if nodes.iter().any(|i| *i >= self.nodes.len()) {
            bail!(
                "decision names a node index beyond the {} nodes",
                self.nodes.len()
            );
        }
        let out: Vec<String> = nodes.iter().map(|i| self.name(*i)).collect();
        Ok(Fault::Membership {
            change: MembershipChange::Remove,
            members: all.into_iter().filter(|n| !out.contains(n)).collect(),
            nodes: out,
        })
    }

    /// `partition-halves+membership` when every node is a member, an odd count of at
    /// least five and a leader the system names: the split where a change of several
    /// members in one step elects two leaders. The drawn minority half is moved to hold
    /// the leader; one node of the majority half stays a member and the rest are
    /// removed. The leader's half is then a majority of the new configuration and the
    /// other half a majority of the old one: with joint consensus the change cannot
    /// commit (the old majority is out of reach), without it both halves elect. `None`
    /// when the composition is another, or the cluster does not allow this split.
    pub(super) async fn resolve_split_removal(&self, parts: &[Decision]) -> Option<Fault> {
        let [Decision::Partition {
            kind: PartitionKind::Halves,
            grudge: drawn,
            ..
        }, Decision::Membership { .. }] = parts
        else {
            return None;
        };
        let n = self.nodes.len();
        // A joined spare is on neither side of the split: the shape no longer holds.
        let spare_in = !self.joined.is_empty();
        if !self.removed.is_empty() || spare_in || n < 5 || n.is_multiple_of(2) {
            return None;
        }
        let leader_id = self.control.leader().await?;
        let leader = self.nodes.iter().position(|x| x.id == leader_id)?;
        let (mut small, _) = grudge::sides(drawn, n);
        if small.is_empty() {
            return None;
        }
        if !small.contains(&leader) {
            small[0] = leader;
        }
        small.sort_unstable();
        let big: Vec<usize> = (0..n).filter(|i| !small.contains(i)).collect();
        let (kept, out) = big.split_first()?;
        let mut members: Vec<usize> = small.iter().copied().chain([*kept]).collect();
        members.sort_unstable();
        let names = |v: &[usize]| -> Vec<String> { v.iter().map(|i| self.name(*i)).collect() };
        Some(Fault::Composed {
            faults: vec![
                Fault::Partition {
                    kind: PartitionKind::Halves,
                    grudge: self.named_grudge(&grudge::cut_between(&small, &big)),
                    leader: Some(leader_id),
                },
                Fault::Membership {
                    change: MembershipChange::Remove,
                    nodes: names(out),
                    members: names(&members),
                },
            ],
        })
    }

    /// Applies one change. A removal counts the nodes as out even when it failed
    /// (it may have happened); an addition takes them back only when it succeeded.
    pub(super) async fn change_membership(
        &mut self,
        change: MembershipChange,
        nodes: &[String],
        members: &[String],
    ) -> Result<()> {
        let spares = self.control.spare_nodes();
        for n in nodes {
            if !spares.contains(n) {
                self.node(n)?;
            }
        }
        match change {
            MembershipChange::Remove => {
                self.removed.extend(nodes.iter().cloned());
                self.control.remove_members(nodes, members).await
            }
            MembershipChange::Add => {
                self.control.add_members(nodes, members).await?;
                // A fresh process replaces whatever was killed or paused.
                for n in nodes {
                    if spares.contains(n) && !self.joined.contains(n) {
                        self.joined.push(n.clone());
                    }
                    self.removed.remove(n);
                    self.killed.remove(n);
                    self.paused.remove(n);
                }
                Ok(())
            }
        }
    }

    /// Adds back every node out of the cluster (the final heal). The heal of the other
    /// faults just before may leave the cluster without a leader for a while (an
    /// election after a partition heals), so a refusal is retried, for up to
    /// [`FINAL_ADD_TRIES`] seconds.
    pub(super) async fn add_back_removed(&mut self) -> Result<()> {
        let all = self.all_members();
        let mut tries = 0;
        loop {
            if self.removed.is_empty() {
                return Ok(());
            }
            let out: Vec<String> = self.removed.iter().cloned().collect();
            match self
                .change_membership(MembershipChange::Add, &out, &all)
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) if tries + 1 >= FINAL_ADD_TRIES => return Err(e),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// The change the final heal will make to membership: adding back every node
    /// out of the cluster; `None` when none is out.
    pub fn pending_add_back(&self) -> Option<Fault> {
        (!self.removed.is_empty()).then(|| Fault::Membership {
            change: MembershipChange::Add,
            nodes: self.removed.iter().cloned().collect(),
            members: self.all_members(),
        })
    }

    /// Every node that is a member when none is out: the initial nodes and the spares
    /// added.
    fn all_members(&self) -> Vec<String> {
        let initial = self.nodes.iter().map(|n| n.id.clone());
        initial.chain(self.joined.iter().cloned()).collect()
    }

    /// The first spare node no change has added yet (one whose addition failed is
    /// tried again: the addition wipes and restarts it).
    fn unused_spare(&self) -> Option<String> {
        let spares = self.control.spare_nodes();
        spares.into_iter().find(|s| !self.joined.contains(s))
    }
}
