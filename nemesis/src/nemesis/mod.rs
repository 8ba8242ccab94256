//! The nemesis: applies faults to a cluster, remembers what is in force, and heals.
//!
//! State is kept as facts (which nodes are killed, paused, skewed; which rules and
//! shapers exist), not as a list of faults, so a fault that half-failed is still
//! healed exactly, and [`Nemesis::heal_all`] can always undo everything, also after
//! errors and also when called twice.

use crate::clock::Strobe;
use crate::control::{ClusterControl, NodeRef};
use crate::fault::{Fault, FaultKind, Grudge, Link, PartitionKind};
use crate::grudge::IndexGrudge;
use crate::iptables::Rule;
use crate::netfilter::{combine, Netfilter};
use crate::netns::Netns;
use crate::packet::shaper::Shaper;
use crate::packet::DelayBackend;
use crate::schedule::Decision;

use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod clocks;
pub(crate) mod disk;
mod membership;
mod packets;
mod partition;
mod process;

/// A packet fault in force, with everything that makes it so.
struct PacketInForce {
    fault: Fault,
    /// Rules this fault contributes to each node's packet chain (by node id).
    input_rules: BTreeMap<String, Vec<Rule>>,
    /// Rules this fault contributes to each node's duplication chain.
    dup_rules: BTreeMap<String, Vec<Rule>>,
    shapers: Vec<Shaper>,
    /// (node id, device) where a netem qdisc was installed.
    netem: Vec<(String, String)>,
}

/// A shared, always-current one-line summary of what is in force, for progress lines
/// drawn by another task while the schedule runs.
#[derive(Clone, Default)]
pub struct StatusHandle(Arc<Mutex<String>>);

impl StatusHandle {
    pub fn current(&self) -> String {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

pub struct Nemesis<C: ClusterControl + 'static> {
    control: Arc<C>,
    nodes: Vec<NodeRef>,
    netfilter: Netfilter,
    partition: Option<Fault>,
    /// The partition rules in each namespace's chain, so a change rewrites only the
    /// namespaces whose rules differ. Absent: empty; `None`: unknown after a failed
    /// commit (always rewritten).
    partition_rules: BTreeMap<String, Option<Vec<Rule>>>,
    killed: BTreeSet<String>,
    paused: BTreeSet<String>,
    /// Nodes out of the cluster, or maybe out (a removal that failed may have
    /// happened): the next membership change adds them back.
    removed: BTreeSet<String>,
    /// Spare nodes a membership change added: members from then on (never removed,
    /// and no other fault acts on them).
    joined: Vec<String>,
    /// Clock offsets in force (ms), by node, with the file that sets them.
    clocks: BTreeMap<String, (PathBuf, i64)>,
    strobe: Option<(Strobe, Vec<String>)>,
    packets: Vec<PacketInForce>,
    backend: Option<DelayBackend>,
    next_queue: u16,
    shaper_seed: u64,
    status: StatusHandle,
}

impl<C: ClusterControl + 'static> Nemesis<C> {
    pub fn new(control: Arc<C>) -> Nemesis<C> {
        let nodes = control.nodes();
        let status = StatusHandle::default();
        *status.0.lock().unwrap() = "healthy".into();
        Nemesis {
            control,
            nodes,
            netfilter: Netfilter::default(),
            partition: None,
            partition_rules: BTreeMap::new(),
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
            removed: BTreeSet::new(),
            joined: Vec::new(),
            clocks: BTreeMap::new(),
            strobe: None,
            packets: Vec::new(),
            backend: None,
            next_queue: 0,
            shaper_seed: 0x5eed,
            status,
        }
    }

    /// Seeds the shapers' jitter, so a seeded run also replays the same delays per packet
    /// order (timing still varies with the traffic itself).
    pub fn with_seed(mut self, seed: u64) -> Nemesis<C> {
        self.shaper_seed = seed;
        self
    }

    pub fn nodes(&self) -> &[NodeRef] {
        &self.nodes
    }

    pub fn status_handle(&self) -> StatusHandle {
        self.status.clone()
    }

    /// Refuses, before a test starts, fault kinds this system or machine cannot do,
    /// with the reason: clock faults for a system whose `clock_file` errors, network
    /// faults without root, iptables or the node namespaces.
    pub fn check(&self, kinds: &[FaultKind]) -> Result<()> {
        if kinds.iter().any(|k| k.is_clock()) {
            for n in &self.nodes {
                self.control
                    .clock_file(&n.id)
                    .with_context(|| format!("clock faults are impossible for node {}", n.id))?;
            }
        }
        if kinds.iter().any(|k| k.needs_lazy_disk()) && !self.control.has_lazy_disk() {
            bail!(
                "disk faults ({}) need every node's data directory on faultline's lazy filesystem (--lazyfs)",
                kind_names(kinds, FaultKind::needs_lazy_disk)
            );
        }
        if kinds.iter().any(|k| k.is_network()) && self.control.local_network() {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                bail!(
                    "network faults ({}) need root: run faultline as root",
                    kind_names(kinds, FaultKind::is_network)
                );
            }
            for prog in ["iptables-restore", "iptables-save"] {
                if !on_path(prog) {
                    bail!("network faults need {prog} (package iptables), which is neither on PATH nor in /usr/sbin or /sbin");
                }
            }
            for n in &self.nodes {
                Netns::open(&n.netns).with_context(|| format!("node {}", n.id))?;
            }
        }
        Ok(())
    }

    /// [`Nemesis::check`], then everything that can be done before the first fault so
    /// that starting one is fast: installs faultline's (empty) chains in every node
    /// namespace, and picks the delay backend.
    pub async fn prepare(&mut self, kinds: &[FaultKind]) -> Result<()> {
        self.check(kinds)?;
        if kinds.iter().any(|k| k.is_network()) {
            self.netfilter.install(&*self.control, &self.nodes).await?;
        }
        let delays = kinds.iter().any(FaultKind::delays_packets);
        if delays && self.backend()? == DelayBackend::Nfqueue {
            self.probe_nfqueue()?;
        }
        Ok(())
    }

    /// Binds and unbinds a queue in the first node's namespace, so a kernel without
    /// nfnetlink_queue is reported before the test, not at the first delay.
    fn probe_nfqueue(&self) -> Result<()> {
        let Some(node) = self.nodes.first() else {
            return Ok(());
        };
        let ns = Netns::open(&node.netns).with_context(|| format!("node {}", node.id))?;
        ns.run(|| crate::packet::nfqueue::QueueSocket::bind(u16::MAX).and_then(|s| s.unbind()))?
            .context("packet delay needs netem or NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE); this kernel offers neither")
    }

    fn backend(&mut self) -> Result<DelayBackend> {
        if let Some(b) = self.backend {
            return Ok(b);
        }
        // Nodes elsewhere: the shaper cannot reach them, and the backend checked
        // their hosts for netem before the test started.
        let b = if self.control.local_network() {
            DelayBackend::detect()?
        } else {
            DelayBackend::Netem
        };
        self.backend = Some(b);
        Ok(b)
    }

    /// Which backend delays packets (netem or faultline's NFQUEUE shaper).
    pub fn delay_backend(&mut self) -> Result<DelayBackend> {
        self.backend()
    }

    /// Forces the delay backend instead of detecting it (the programmatic twin of
    /// `FAULTLINE_PACKET_BACKEND`).
    pub fn with_delay_backend(mut self, backend: DelayBackend) -> Nemesis<C> {
        self.backend = Some(backend);
        self
    }

    fn node(&self, id: &str) -> Result<&NodeRef> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| anyhow!("unknown node {id:?}"))
    }

    fn name(&self, i: usize) -> String {
        self.nodes[i].id.clone()
    }

    fn named_grudge(&self, g: &IndexGrudge) -> Grudge {
        g.iter()
            .map(|(a, bs)| (self.name(*a), bs.iter().map(|b| self.name(*b)).collect()))
            .collect()
    }

    /// The node a leader fault acts on: the leader the system reports now (also
    /// returned, for the record), or `fallback` when it reports none or a node this
    /// nemesis does not know.
    async fn leader_or(&self, fallback: usize) -> Result<(usize, Option<String>)> {
        if fallback >= self.nodes.len() {
            bail!(
                "decision names a node index beyond the {} nodes",
                self.nodes.len()
            );
        }
        let leader = self.control.leader().await;
        let target = leader
            .as_ref()
            .and_then(|l| self.nodes.iter().position(|x| &x.id == l));
        Ok(match target {
            Some(i) => (i, Some(self.name(i))),
            None => (fallback, None),
        })
    }

    /// Turns a schedule decision into a concrete fault: node names for indices; for a
    /// leader fault, the leader the system reports now; for a composition, its later
    /// parts narrowed to the nodes its first part singles out.
    pub async fn resolve(&self, decision: &Decision) -> Result<Fault> {
        match decision {
            Decision::Composed { parts } => self.resolve_composed(parts).await,
            Decision::Membership { nodes } => self.resolve_membership(nodes),
            Decision::Damage {
                truncate,
                node,
                draw,
                files,
            } => self.resolve_disk(*truncate, *node, *draw, files.as_deref()),
            Decision::Partition {
                kind: PartitionKind::Leader,
                fallback,
                ..
            } => {
                let (target, leader) = self.leader_or(*fallback).await?;
                let g = crate::grudge::isolate(self.nodes.len(), target);
                Ok(Fault::Partition {
                    kind: PartitionKind::Leader,
                    grudge: self.named_grudge(&g),
                    leader,
                })
            }
            Decision::KillLeader { fallback } => {
                let (target, leader) = self.leader_or(*fallback).await?;
                Ok(Fault::KillLeader {
                    nodes: vec![self.name(target)],
                    leader,
                })
            }
            Decision::PauseLeader { fallback } => {
                let (target, leader) = self.leader_or(*fallback).await?;
                Ok(Fault::PauseLeader {
                    nodes: vec![self.name(target)],
                    leader,
                })
            }
            Decision::PowerLossLeader { fallback } => {
                let (target, leader) = self.leader_or(*fallback).await?;
                Ok(Fault::PowerLossLeader {
                    nodes: vec![self.name(target)],
                    leader,
                })
            }
            other => self.resolve_by_index(other),
        }
    }

    /// A composition: its first part resolved, then the rest narrowed to the nodes
    /// the first singles out (refused if it singles out none).
    async fn resolve_composed(&self, parts: &[Decision]) -> Result<Fault> {
        let Some((first, rest)) = parts.split_first() else {
            bail!("a composed decision with no parts");
        };
        if let Some(split) = self.resolve_split_removal(parts).await {
            return Ok(split);
        }
        let first = Box::pin(self.resolve(first)).await?;
        let all: Vec<String> = self.nodes.iter().map(|n| n.id.clone()).collect();
        let singled = first.singled_out(&all);
        if singled.is_empty() {
            bail!(
                "{} singles out no nodes for the rest of the composition to act on",
                first.start_name()
            );
        }
        let mut faults = vec![first];
        for part in rest {
            let fault = Box::pin(self.resolve(part)).await?;
            faults.push(fault.narrowed_to(&singled));
        }
        Ok(Fault::Composed { faults })
    }

    /// A decision that names its nodes by index (no leader to ask for): the indices
    /// checked against the node count and turned into names.
    fn resolve_by_index(&self, decision: &Decision) -> Result<Fault> {
        let n = self.nodes.len();
        let in_range = |i: &usize| *i < n;
        let check = |ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(anyhow!("decision names a node index beyond the {n} nodes"))
            }
        };
        let names =
            |nodes: &[usize]| -> Vec<String> { nodes.iter().map(|i| self.name(*i)).collect() };
        Ok(match decision {
            Decision::Composed { .. }
            | Decision::Membership { .. }
            | Decision::Damage { .. }
            | Decision::KillLeader { .. }
            | Decision::PauseLeader { .. }
            | Decision::PowerLossLeader { .. }
            | Decision::Partition {
                kind: PartitionKind::Leader,
                ..
            } => unreachable!("resolved by Nemesis::resolve"),
            Decision::Partition { kind, grudge, .. } => {
                check(
                    grudge
                        .iter()
                        .all(|(a, bs)| in_range(a) && bs.iter().all(in_range)),
                )?;
                Fault::Partition {
                    kind: *kind,
                    grudge: self.named_grudge(grudge),
                    leader: None,
                }
            }
            Decision::Kill { nodes } => {
                check(nodes.iter().all(in_range))?;
                Fault::Kill {
                    nodes: names(nodes),
                }
            }
            Decision::KillAll => Fault::KillAll {
                nodes: self.nodes.iter().map(|x| x.id.clone()).collect(),
            },
            Decision::Disk { kind, nodes } => {
                check(nodes.iter().all(in_range))?;
                disk::fault(*kind, names(nodes))
            }
            Decision::PowerLossAll => Fault::PowerLossAll {
                nodes: self.nodes.iter().map(|x| x.id.clone()).collect(),
            },
            Decision::Pause { nodes } => {
                check(nodes.iter().all(in_range))?;
                Fault::Pause {
                    nodes: names(nodes),
                }
            }
            Decision::ClockBump { deltas_ms } => {
                check(deltas_ms.iter().all(|(i, _)| in_range(i)))?;
                Fault::ClockBump {
                    deltas_ms: deltas_ms.iter().map(|(i, d)| (self.name(*i), *d)).collect(),
                }
            }
            Decision::ClockStrobe {
                nodes,
                delta_ms,
                period_ms,
                duration_ms,
            } => {
                check(nodes.iter().all(in_range))?;
                Fault::ClockStrobe {
                    nodes: names(nodes),
                    delta_ms: *delta_ms,
                    period_ms: *period_ms,
                    duration_ms: *duration_ms,
                }
            }
            Decision::Packet { kind, links } => {
                check(links.iter().all(|(a, b)| in_range(a) && in_range(b)))?;
                Fault::Packet {
                    kind: *kind,
                    links: links
                        .iter()
                        .map(|(a, b)| Link {
                            from: self.name(*a),
                            to: self.name(*b),
                        })
                        .collect(),
                }
            }
        })
    }

    /// Puts `fault` in force. Returns once it is (rules committed, processes signalled,
    /// clock files written). On error, whatever part did take effect is remembered and
    /// healed by [`Nemesis::stop`] or [`Nemesis::heal_all`].
    pub async fn start(&mut self, fault: &Fault) -> Result<()> {
        let r = self.start_one(fault).await;
        self.update_status();
        r
    }

    /// Starts a composition's parts in order, each even when an earlier one failed
    /// (what took effect is remembered and healed with the rest).
    async fn start_one(&mut self, fault: &Fault) -> Result<()> {
        match fault {
            Fault::Partition { grudge, .. } => self.start_partition(fault, grudge).await,
            Fault::Kill { nodes } | Fault::KillAll { nodes } | Fault::KillLeader { nodes, .. } => {
                self.kill(nodes).await
            }
            Fault::Pause { nodes } | Fault::PauseLeader { nodes, .. } => self.pause(nodes).await,
            Fault::ClockBump { deltas_ms } => self.clock_bump(deltas_ms),
            Fault::ClockStrobe {
                nodes,
                delta_ms,
                period_ms,
                duration_ms,
            } => self.clock_strobe(nodes, *delta_ms, *period_ms, *duration_ms),
            Fault::Packet { kind, links } => self.start_packet(fault, kind, links).await,
            Fault::Membership {
                change,
                nodes,
                members,
            } => self.change_membership(*change, nodes, members).await,
            Fault::Corrupt { .. } | Fault::Truncate { .. } => self.damage(fault),
            Fault::PowerLoss { .. }
            | Fault::PowerLossAll { .. }
            | Fault::PowerLossLeader { .. }
            | Fault::LoseUnsynced { .. }
            | Fault::TornWrite { .. } => self.start_disk(fault).await,
            Fault::Composed { faults } => {
                let mut errors = Vec::new();
                for f in faults {
                    if let Err(e) = Box::pin(self.start_one(f)).await {
                        errors.push(e.context(format!("starting {}", f.start_name())));
                    }
                }
                combine(errors)
            }
        }
    }

    /// Heals `fault` (the counterpart of [`Nemesis::start`]): heals the partition,
    /// restarts killed nodes, resumes paused ones, resets clocks, removes the packet
    /// fault. Healing what is not in force does nothing.
    pub async fn stop(&mut self, fault: &Fault) -> Result<()> {
        let r = self.stop_one(fault).await;
        self.update_status();
        r
    }

    /// Heals a composition's parts in the order they started (so a paused node is
    /// resumed before its clock is reset, and sees the moved clock as it wakes, as
    /// after a real pause), each even when an earlier one failed.
    async fn stop_one(&mut self, fault: &Fault) -> Result<()> {
        match fault {
            Fault::Partition { .. } => self.heal_partition().await,
            Fault::Kill { nodes } | Fault::KillAll { nodes } | Fault::KillLeader { nodes, .. } => {
                self.restart(nodes).await
            }
            Fault::Pause { nodes } | Fault::PauseLeader { nodes, .. } => self.resume(nodes).await,
            Fault::ClockBump { deltas_ms } => {
                self.clock_reset(&deltas_ms.keys().cloned().collect::<Vec<_>>())
            }
            Fault::ClockStrobe { nodes, .. } => self.clock_reset(nodes),
            Fault::Packet { .. } => self.stop_packet(fault).await,
            // A membership change stays until the next one (or the final heal).
            Fault::Membership { .. } => Ok(()),
            // Damage to a file cannot be undone; the node must notice it.
            Fault::Corrupt { .. } | Fault::Truncate { .. } => Ok(()),
            Fault::PowerLoss { nodes }
            | Fault::PowerLossAll { nodes }
            | Fault::PowerLossLeader { nodes, .. }
            | Fault::TornWrite { nodes } => self.restart(nodes).await,
            Fault::LoseUnsynced { .. } => Ok(()),
            Fault::Composed { faults } => {
                let mut errors = Vec::new();
                for f in faults {
                    if let Err(e) = Box::pin(self.stop_one(f)).await {
                        errors.push(e.context(format!("healing {}", f.start_name())));
                    }
                }
                combine(errors)
            }
        }
    }

    /// Undoes everything in force: partitions, packet faults, pauses, kills, clocks.
    /// Carries on past errors and reports them all; safe to call any number of times.
    pub async fn heal_all(&mut self) -> Result<()> {
        let mut errors = Vec::new();
        if let Err(e) = self.heal_partition().await {
            errors.push(e);
        }
        while let Some(p) = self.packets.first() {
            let f = p.fault.clone();
            if let Err(e) = self.stop_packet(&f).await {
                errors.push(e);
            }
        }
        let paused: Vec<String> = self.paused.iter().cloned().collect();
        if let Err(e) = self.resume(&paused).await {
            errors.push(e);
        }
        let killed: Vec<String> = self.killed.iter().cloned().collect();
        if let Err(e) = self.restart(&killed).await {
            errors.push(e);
        }
        let skewed: Vec<String> = self.clocks.keys().cloned().collect();
        if let Err(e) = self.clock_reset(&skewed) {
            errors.push(e);
        }
        if let Err(e) = self.add_back_removed().await {
            errors.push(e);
        }
        self.update_status();
        combine(errors).map_err(|e| anyhow!("healing failed: {e:#}"))
    }

    /// [`Nemesis::heal_all`], then removes faultline's chains and jumps from every node
    /// namespace. Call at the end of a run.
    pub async fn teardown(&mut self) -> Result<()> {
        let healed = self.heal_all().await;
        let removed = self.netfilter.remove(&*self.control, &self.nodes).await;
        if removed.is_ok() {
            self.partition_rules.clear();
        }
        combine(
            [healed.err(), removed.err()]
                .into_iter()
                .flatten()
                .collect(),
        )
    }

    /// What is in force now, one line; "healthy" when nothing is.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(p) = &self.partition {
            parts.push(p.describe());
        }
        if !self.killed.is_empty() {
            parts.push(format!("killed {}", join(&self.killed)));
        }
        if !self.paused.is_empty() {
            parts.push(format!("paused {}", join(&self.paused)));
        }
        if let Some((_, nodes)) = &self.strobe {
            parts.push(format!("clocks strobing {}", nodes.join(",")));
        }
        let skews: Vec<String> = self
            .clocks
            .iter()
            .filter(|(_, (_, ms))| *ms != 0)
            .map(|(n, (_, ms))| format!("{n}{ms:+}ms"))
            .collect();
        if !skews.is_empty() {
            parts.push(format!("clocks {}", skews.join(",")));
        }
        for p in &self.packets {
            parts.push(p.fault.describe());
        }
        if !self.removed.is_empty() {
            parts.push(format!("out of the cluster {}", join(&self.removed)));
        }
        if parts.is_empty() {
            "healthy".into()
        } else {
            parts.join("; ")
        }
    }

    /// Whether anything is in force.
    pub fn is_healthy(&self) -> bool {
        self.partition.is_none()
            && self.killed.is_empty()
            && self.paused.is_empty()
            && self.strobe.is_none()
            && self.clocks.values().all(|(_, ms)| *ms == 0)
            && self.packets.is_empty()
            && self.removed.is_empty()
    }

    fn update_status(&self) {
        if let Ok(mut s) = self.status.0.lock() {
            *s = self.describe();
        }
    }
}

impl<C: ClusterControl + 'static> Drop for Nemesis<C> {
    /// Best effort without a runtime: stops shapers and strobes, resumes paused nodes,
    /// resets clocks, removes chains. Killed nodes cannot be restarted here (restart is
    /// async); the cluster's own teardown reaps them.
    fn drop(&mut self) {
        if self.is_healthy()
            && self.strobe.is_none()
            && self.packets.is_empty()
            && self.netfilter_is_clean()
        {
            return;
        }
        self.packets.clear(); // Shaper's Drop releases packets and unbinds.
        if let Some((s, _)) = self.strobe.take() {
            let _ = s.stop();
        }
        for n in std::mem::take(&mut self.paused) {
            let _ = self.control.resume(&n);
        }
        for (_, (path, _)) in std::mem::take(&mut self.clocks) {
            let _ = self.control.write_clock(&path, 0);
        }
        self.netfilter.remove_blocking(&self.nodes);
    }
}

impl<C: ClusterControl + 'static> Nemesis<C> {
    fn netfilter_is_clean(&self) -> bool {
        !self.netfilter.any_installed()
    }
}

fn join(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(",")
}

fn kind_names(kinds: &[FaultKind], pred: fn(&FaultKind) -> bool) -> String {
    kinds
        .iter()
        .filter(|k| pred(k))
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn on_path(prog: &str) -> bool {
    crate::netns::find_tool(prog).is_some()
}
