//! Packet faults: loss and duplication rules, and delay through netem or the shaper.

use super::{Nemesis, PacketInForce};
use crate::control::{ClusterControl, NodeRef};
use crate::fault::{Fault, Link, PacketKind};
use crate::iptables::{self, Rule};
use crate::netfilter::combine;
use crate::netns::Netns;
use crate::packet::shaper::{Hold, Shaper};
use crate::packet::{netem, DelayBackend};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};

impl<C: ClusterControl + 'static> Nemesis<C> {
    pub(super) async fn start_packet(
        &mut self,
        fault: &Fault,
        kind: &PacketKind,
        links: &[Link],
    ) -> Result<()> {
        let mut pif = PacketInForce {
            fault: fault.clone(),
            input_rules: BTreeMap::new(),
            dup_rules: BTreeMap::new(),
            shapers: Vec::new(),
            netem: Vec::new(),
        };
        let p = match *kind {
            PacketKind::Loss { p }
            | PacketKind::Duplicate { p }
            | PacketKind::Reorder { p, .. } => p,
            PacketKind::Delay { .. } => 1.0,
        };
        if !(0.0..=1.0).contains(&p) {
            bail!(
                "{} probability must be between 0 and 1, got {p}",
                kind.name()
            );
        }
        if links.is_empty() {
            bail!("a {} fault needs at least one link", kind.name());
        }
        let mut resolved = Vec::new();
        for l in links {
            resolved.push((self.node(&l.from)?.clone(), self.node(&l.to)?.clone()));
        }
        match *kind {
            PacketKind::Loss { p } => {
                for (from, to) in &resolved {
                    pif.input_rules
                        .entry(to.id.clone())
                        .or_default()
                        .push(Rule::RandomDrop { src: from.ip, p });
                }
            }
            PacketKind::Duplicate { p } => {
                for (from, to) in &resolved {
                    pif.dup_rules
                        .entry(from.id.clone())
                        .or_default()
                        .push(Rule::Duplicate { dst: to.ip, p });
                }
            }
            PacketKind::Delay { ms, jitter_ms } => {
                self.start_hold(&mut pif, &resolved, Hold::Delay { ms, jitter_ms })
                    .await?;
            }
            PacketKind::Reorder { p, ms } => {
                self.start_hold(&mut pif, &resolved, Hold::Reorder { p, ms })
                    .await?;
            }
        }
        let touched: BTreeSet<String> = pif
            .input_rules
            .keys()
            .chain(pif.dup_rules.keys())
            .cloned()
            .collect();
        self.packets.push(pif);
        self.rewrite_packet_chains(&touched).await
    }

    pub(super) async fn start_hold(
        &mut self,
        pif: &mut PacketInForce,
        links: &[(NodeRef, NodeRef)],
        hold: Hold,
    ) -> Result<()> {
        match self.backend()? {
            DelayBackend::Nfqueue => {
                self.next_queue = self.next_queue.wrapping_add(1).max(1);
                let queue = self.next_queue;
                let receivers: BTreeSet<String> =
                    links.iter().map(|(_, to)| to.id.clone()).collect();
                for r in &receivers {
                    let node = self.node(r)?.clone();
                    let ns = Netns::open(&node.netns).with_context(|| format!("node {r}"))?;
                    let seed = self.shaper_seed ^ ((queue as u64) << 32) ^ crate::fault_hash(r);
                    // The shaper binds before any rule points at its queue.
                    let shaper =
                        Shaper::start(&ns, queue, hold, seed).with_context(|| format!("node {r}"));
                    match shaper {
                        Ok(s) => pif.shapers.push(s),
                        Err(e) => {
                            for s in pif.shapers.drain(..) {
                                let _ = s.stop();
                            }
                            return Err(e);
                        }
                    }
                }
                for (from, to) in links {
                    pif.input_rules
                        .entry(to.id.clone())
                        .or_default()
                        .push(Rule::Queue {
                            src: from.ip,
                            queue,
                        });
                }
            }
            DelayBackend::Netem => {
                let mut per_sender: BTreeMap<String, Vec<std::net::Ipv4Addr>> = BTreeMap::new();
                for (from, to) in links {
                    per_sender.entry(from.id.clone()).or_default().push(to.ip);
                }
                for p in &self.packets {
                    if let Some((n, _)) = p.netem.iter().find(|(n, _)| per_sender.contains_key(n)) {
                        bail!("node {n} already has a netem fault in force; heal it first");
                    }
                }
                for (sender, dsts) in per_sender {
                    let node = self.node(&sender)?.clone();
                    let control = &*self.control;
                    let applied = async {
                        let dev = netem::egress_device(control, &node, dsts[0]).await?;
                        netem::apply(control, &node, &dev, &hold, &dsts)
                            .await
                            .with_context(|| {
                                format!("installing netem (prio + netem qdiscs) on {dev}")
                            })?;
                        Ok::<_, anyhow::Error>(dev)
                    }
                    .await
                    .with_context(|| format!("node {sender}"));
                    match applied {
                        Ok(dev) => pif.netem.push((sender, dev)),
                        Err(e) => {
                            // Undo the senders already done: the fault is not recorded.
                            for (done, dev) in pif.netem.drain(..) {
                                if let Ok(n) = self.node(&done) {
                                    let _ = netem::remove(&*self.control, n, &dev).await;
                                }
                            }
                            return Err(e);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn stop_packet(&mut self, fault: &Fault) -> Result<()> {
        let Some(pos) = self.packets.iter().position(|p| &p.fault == fault) else {
            return Ok(());
        };
        let pif = self.packets.remove(pos);
        let touched: BTreeSet<String> = pif
            .input_rules
            .keys()
            .chain(pif.dup_rules.keys())
            .cloned()
            .collect();
        let mut errors = Vec::new();
        // Rules go first, so no packet is queued to a shaper that is gone.
        if let Err(e) = self.rewrite_packet_chains(&touched).await {
            errors.push(e);
        }
        for s in pif.shapers {
            let ns = s.netns().to_string();
            if let Err(e) = s.stop() {
                errors.push(e.context(format!("stopping the packet shaper in namespace {ns:?}")));
            }
        }
        for (node, dev) in &pif.netem {
            let r = async { netem::remove(&*self.control, self.node(node)?, dev).await }.await;
            if let Err(e) = r {
                errors.push(e.context(format!("removing netem from node {node}")));
            }
        }
        combine(errors)
    }

    /// Rewrites the packet and duplication chains of `nodes` from every packet fault in
    /// force, one atomic commit per namespace.
    pub(super) async fn rewrite_packet_chains(&mut self, nodes: &BTreeSet<String>) -> Result<()> {
        let mut scripts = Vec::new();
        for id in nodes {
            let node = self.node(id)?.clone();
            let input: Vec<Rule> = self
                .packets
                .iter()
                .flat_map(|p| p.input_rules.get(id).cloned().unwrap_or_default())
                .collect();
            let dup: Vec<Rule> = self
                .packets
                .iter()
                .flat_map(|p| p.dup_rules.get(id).cloned().unwrap_or_default())
                .collect();
            let script = iptables::replace_chain(iptables::PACKET_CHAIN, &input)
                + &iptables::replace_chain(iptables::DUPLICATE_CHAIN, &dup);
            scripts.push((node, script));
        }
        self.netfilter.apply(&*self.control, scripts).await
    }
}
