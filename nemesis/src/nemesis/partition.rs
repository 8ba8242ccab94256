//! Partitions: each node namespace's `FAULTLINE-PART` chain holds its grudge, or,
//! where nodes share an address, the cluster puts the grudge in force by port
//! ([`ClusterControl::set_partition`]).

use super::Nemesis;
use crate::control::ClusterControl;
use crate::fault::{Fault, Grudge};
use crate::iptables::{self, Rule};
use anyhow::Result;
use std::collections::BTreeMap;

impl<C: ClusterControl + 'static> Nemesis<C> {
    pub(super) async fn start_partition(&mut self, fault: &Fault, grudge: &Grudge) -> Result<()> {
        for dropper in grudge.keys() {
            self.node(dropper)?;
        }
        if self.control.partitions_by_port() {
            for peer in grudge.values().flatten() {
                self.node(peer)?;
            }
            self.partition = Some(fault.clone());
            return self.control.set_partition(grudge).await;
        }
        let mut target = BTreeMap::new();
        for node in &self.nodes {
            let rules: Vec<Rule> = match grudge.get(&node.id) {
                Some(from) => from
                    .iter()
                    .map(|f| self.node(f).map(|n| Rule::Drop { src: n.ip }))
                    .collect::<Result<_>>()?,
                None => Vec::new(),
            };
            target.insert(node.id.clone(), rules);
        }
        // Nodes without a grudge get an empty chain if they had rules: that replaces
        // any earlier partition in one step.
        self.partition = Some(fault.clone());
        self.set_partition_rules(target).await
    }

    pub(super) async fn heal_partition(&mut self) -> Result<()> {
        if self.partition.is_none() {
            return Ok(());
        }
        if self.control.partitions_by_port() {
            self.control.set_partition(&Grudge::new()).await?;
            self.partition = None;
            return Ok(());
        }
        let target = self
            .nodes
            .iter()
            .map(|n| (n.id.clone(), Vec::new()))
            .collect();
        self.set_partition_rules(target).await?;
        self.partition = None;
        Ok(())
    }

    /// Commits `target` (rules by node id) to the namespaces whose rules differ.
    pub(super) async fn set_partition_rules(
        &mut self,
        target: BTreeMap<String, Vec<Rule>>,
    ) -> Result<()> {
        let mut changes = Vec::new();
        for node in &self.nodes {
            let new = target.get(&node.id).cloned().unwrap_or_default();
            let same = match self.partition_rules.get(&node.id) {
                None => new.is_empty(),
                Some(Some(cur)) => *cur == new,
                Some(None) => false,
            };
            if !same {
                changes.push((node.clone(), new));
            }
        }
        let scripts = changes
            .iter()
            .map(|(n, rules)| {
                (
                    n.clone(),
                    iptables::replace_chain(iptables::PARTITION_CHAIN, rules),
                )
            })
            .collect();
        let r = self.netfilter.apply(&*self.control, scripts).await;
        for (node, rules) in changes {
            match (&r, rules.is_empty()) {
                (Ok(()), true) => self.partition_rules.remove(&node.id),
                (Ok(()), false) => self.partition_rules.insert(node.id, Some(rules)),
                (Err(_), _) => self.partition_rules.insert(node.id, None),
            };
        }
        r
    }
}
