//! The nemesis: applies faults to a cluster, remembers what is in force, and heals.
//!
//! State is kept as facts (which nodes are killed, paused, skewed; which rules and
//! shapers exist), not as a list of faults, so a fault that half-failed is still
//! healed exactly, and [`Nemesis::heal_all`] can always undo everything, also after
//! errors and also when called twice.

use crate::clock::{self, Strobe};
use crate::control::{ClusterControl, NodeRef};
use crate::fault::{Fault, FaultKind, Grudge, Link, PacketKind, PartitionKind};
use crate::grudge::IndexGrudge;
use crate::iptables::{self, Rule};
use crate::netfilter::{combine, Netfilter};
use crate::netns::Netns;
use crate::packet::shaper::{Hold, Shaper};
use crate::packet::{netem, DelayBackend};
use crate::schedule::Decision;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
    killed: BTreeSet<String>,
    paused: BTreeSet<String>,
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
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
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
        if kinds.iter().any(|k| k.is_network()) {
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                bail!("network faults ({}) need root: run faultline as root", kind_names(kinds, FaultKind::is_network));
            }
            for prog in ["iptables-restore", "iptables-save"] {
                if !on_path(prog) {
                    bail!("network faults need {prog} (package iptables), which is not on PATH");
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
            self.netfilter.install(&self.nodes).await?;
        }
        if kinds.iter().any(|k| matches!(k, FaultKind::Delay | FaultKind::Reorder)) {
            if self.backend()? == DelayBackend::Nfqueue {
                self.probe_nfqueue()?;
            }
        }
        Ok(())
    }

    /// Binds and unbinds a queue in the first node's namespace, so a kernel without
    /// nfnetlink_queue is reported before the test, not at the first delay.
    fn probe_nfqueue(&self) -> Result<()> {
        let Some(node) = self.nodes.first() else { return Ok(()) };
        let ns = Netns::open(&node.netns).with_context(|| format!("node {}", node.id))?;
        ns.run(|| crate::packet::nfqueue::QueueSocket::bind(u16::MAX).and_then(|s| s.unbind()))?
            .context("packet delay needs netem or NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE); this kernel offers neither")
    }

    fn backend(&mut self) -> Result<DelayBackend> {
        if let Some(b) = self.backend {
            return Ok(b);
        }
        let b = DelayBackend::detect()?;
        self.backend = Some(b);
        Ok(b)
    }

    /// Which backend delays packets (netem or faultline's NFQUEUE shaper).
    pub fn delay_backend(&mut self) -> Result<DelayBackend> {
        self.backend()
    }

    fn node(&self, id: &str) -> Result<&NodeRef> {
        self.nodes.iter().find(|n| n.id == id).ok_or_else(|| anyhow!("unknown node {id:?}"))
    }

    fn name(&self, i: usize) -> String {
        self.nodes[i].id.clone()
    }

    fn named_grudge(&self, g: &IndexGrudge) -> Grudge {
        g.iter().map(|(a, bs)| (self.name(*a), bs.iter().map(|b| self.name(*b)).collect())).collect()
    }

    /// Turns a schedule decision into a concrete fault: node names for indices, and for
    /// a leader partition, the leader the system reports now.
    pub async fn resolve(&self, decision: &Decision) -> Result<Fault> {
        let n = self.nodes.len();
        let in_range = |i: &usize| *i < n;
        let check = |ok: bool| if ok { Ok(()) } else { Err(anyhow!("decision names a node index beyond the {n} nodes")) };
        Ok(match decision {
            Decision::Partition { kind: PartitionKind::Leader, fallback, .. } => {
                check(*fallback < n)?;
                let leader = self.control.leader().await;
                let target = leader.as_ref().and_then(|l| self.nodes.iter().position(|x| &x.id == l));
                let g = crate::grudge::isolate(n, target.unwrap_or(*fallback));
                Fault::Partition {
                    kind: PartitionKind::Leader,
                    grudge: self.named_grudge(&g),
                    leader: target.map(|i| self.name(i)),
                }
            }
            Decision::Partition { kind, grudge, .. } => {
                check(grudge.iter().all(|(a, bs)| in_range(a) && bs.iter().all(in_range)))?;
                Fault::Partition { kind: *kind, grudge: self.named_grudge(grudge), leader: None }
            }
            Decision::Kill { nodes } => {
                check(nodes.iter().all(in_range))?;
                Fault::Kill { nodes: nodes.iter().map(|i| self.name(*i)).collect() }
            }
            Decision::KillAll => Fault::KillAll { nodes: self.nodes.iter().map(|x| x.id.clone()).collect() },
            Decision::Pause { nodes } => {
                check(nodes.iter().all(in_range))?;
                Fault::Pause { nodes: nodes.iter().map(|i| self.name(*i)).collect() }
            }
            Decision::ClockBump { deltas_ms } => {
                check(deltas_ms.iter().all(|(i, _)| in_range(i)))?;
                Fault::ClockBump { deltas_ms: deltas_ms.iter().map(|(i, d)| (self.name(*i), *d)).collect() }
            }
            Decision::ClockStrobe { nodes, delta_ms, period_ms, duration_ms } => {
                check(nodes.iter().all(in_range))?;
                Fault::ClockStrobe {
                    nodes: nodes.iter().map(|i| self.name(*i)).collect(),
                    delta_ms: *delta_ms,
                    period_ms: *period_ms,
                    duration_ms: *duration_ms,
                }
            }
            Decision::Packet { kind, links } => {
                check(links.iter().all(|(a, b)| in_range(a) && in_range(b)))?;
                Fault::Packet {
                    kind: *kind,
                    links: links.iter().map(|(a, b)| Link { from: self.name(*a), to: self.name(*b) }).collect(),
                }
            }
        })
    }

    /// Puts `fault` in force. Returns once it is (rules committed, processes signalled,
    /// clock files written). On error, whatever part did take effect is remembered and
    /// healed by [`Nemesis::stop`] or [`Nemesis::heal_all`].
    pub async fn start(&mut self, fault: &Fault) -> Result<()> {
        let r = match fault {
            Fault::Partition { grudge, .. } => self.start_partition(fault, grudge).await,
            Fault::Kill { nodes } | Fault::KillAll { nodes } => self.kill(nodes).await,
            Fault::Pause { nodes } => self.pause(nodes).await,
            Fault::ClockBump { deltas_ms } => self.clock_bump(deltas_ms),
            Fault::ClockStrobe { nodes, delta_ms, period_ms, duration_ms } => {
                self.clock_strobe(nodes, *delta_ms, *period_ms, *duration_ms)
            }
            Fault::Packet { kind, links } => self.start_packet(fault, kind, links).await,
        };
        self.update_status();
        r
    }

    /// Heals `fault` (the counterpart of [`Nemesis::start`]): heals the partition,
    /// restarts killed nodes, resumes paused ones, resets clocks, removes the packet
    /// fault. Healing what is not in force does nothing.
    pub async fn stop(&mut self, fault: &Fault) -> Result<()> {
        let r = match fault {
            Fault::Partition { .. } => self.heal_partition().await,
            Fault::Kill { nodes } | Fault::KillAll { nodes } => self.restart(nodes).await,
            Fault::Pause { nodes } => self.resume(nodes).await,
            Fault::ClockBump { deltas_ms } => self.clock_reset(&deltas_ms.keys().cloned().collect::<Vec<_>>()),
            Fault::ClockStrobe { nodes, .. } => self.clock_reset(nodes),
            Fault::Packet { .. } => self.stop_packet(fault).await,
        };
        self.update_status();
        r
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
        self.update_status();
        combine(errors).map_err(|e| anyhow!("healing failed: {e:#}"))
    }

    /// [`Nemesis::heal_all`], then removes faultline's chains and jumps from every node
    /// namespace. Call at the end of a run.
    pub async fn teardown(&mut self) -> Result<()> {
        let healed = self.heal_all().await;
        let removed = self.netfilter.remove(&self.nodes).await;
        combine([healed.err(), removed.err()].into_iter().flatten().collect())
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
        let skews: Vec<String> =
            self.clocks.iter().filter(|(_, (_, ms))| *ms != 0).map(|(n, (_, ms))| format!("{n}{ms:+}ms")).collect();
        if !skews.is_empty() {
            parts.push(format!("clocks {}", skews.join(",")));
        }
        for p in &self.packets {
            parts.push(p.fault.describe());
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
    }

    fn update_status(&self) {
        if let Ok(mut s) = self.status.0.lock() {
            *s = self.describe();
        }
    }

    // ---- partitions ----

    async fn start_partition(&mut self, fault: &Fault, grudge: &Grudge) -> Result<()> {
        let mut scripts = Vec::new();
        for (dropper, _) in grudge.iter() {
            self.node(dropper)?;
        }
        for node in &self.nodes {
            let rules: Vec<Rule> = match grudge.get(&node.id) {
                Some(from) => {
                    from.iter().map(|f| self.node(f).map(|n| Rule::Drop { src: n.ip })).collect::<Result<_>>()?
                }
                None => Vec::new(),
            };
            // Nodes without a grudge get an empty chain too: that replaces any earlier
            // partition in one step.
            scripts.push((node.clone(), iptables::replace_chain(iptables::PARTITION_CHAIN, &rules)));
        }
        self.partition = Some(fault.clone());
        self.netfilter.apply(scripts).await
    }

    async fn heal_partition(&mut self) -> Result<()> {
        if self.partition.is_none() {
            return Ok(());
        }
        let scripts = self
            .nodes
            .iter()
            .map(|n| (n.clone(), iptables::replace_chain(iptables::PARTITION_CHAIN, &[])))
            .collect();
        self.netfilter.apply(scripts).await?;
        self.partition = None;
        Ok(())
    }

    // ---- processes ----

    async fn kill(&mut self, nodes: &[String]) -> Result<()> {
        for n in nodes {
            self.node(n)?;
        }
        let results = self.each_blocking(nodes, |c, n| c.kill(n)).await;
        let mut errors = Vec::new();
        for (n, r) in nodes.iter().zip(results) {
            match r {
                Ok(()) => {
                    // A killed process is no longer paused; restart brings a fresh one.
                    self.paused.remove(n);
                    self.killed.insert(n.clone());
                }
                Err(e) => errors.push(e.context(format!("killing node {n}"))),
            }
        }
        combine(errors)
    }

    async fn restart(&mut self, nodes: &[String]) -> Result<()> {
        let todo: Vec<String> = nodes.iter().filter(|n| self.killed.contains(*n)).cloned().collect();
        let mut set = tokio::task::JoinSet::new();
        for n in todo {
            let c = self.control.clone();
            set.spawn(async move {
                let r = c.restart(&n).await;
                (n, r)
            });
        }
        let mut errors = Vec::new();
        while let Some(j) = set.join_next().await {
            match j {
                Ok((n, Ok(()))) => {
                    self.killed.remove(&n);
                }
                Ok((n, Err(e))) => errors.push(e.context(format!("restarting node {n}"))),
                Err(e) => errors.push(anyhow!("restart task failed: {e}")),
            }
        }
        combine(errors)
    }

    async fn pause(&mut self, nodes: &[String]) -> Result<()> {
        for n in nodes {
            self.node(n)?;
        }
        let results = self.each_blocking(nodes, |c, n| c.pause(n)).await;
        let mut errors = Vec::new();
        for (n, r) in nodes.iter().zip(results) {
            match r {
                Ok(()) => {
                    self.paused.insert(n.clone());
                }
                Err(e) => errors.push(e.context(format!("pausing node {n}"))),
            }
        }
        combine(errors)
    }

    async fn resume(&mut self, nodes: &[String]) -> Result<()> {
        let todo: Vec<String> = nodes.iter().filter(|n| self.paused.contains(*n)).cloned().collect();
        let results = self.each_blocking(&todo, |c, n| c.resume(n)).await;
        let mut errors = Vec::new();
        for (n, r) in todo.iter().zip(results) {
            match r {
                Ok(()) => {
                    self.paused.remove(n);
                }
                Err(e) => errors.push(e.context(format!("resuming node {n}"))),
            }
        }
        combine(errors)
    }

    /// Runs a blocking control call for every node at once ("kill every node at once").
    async fn each_blocking(&self, nodes: &[String], f: fn(&C, &str) -> Result<()>) -> Vec<Result<()>> {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| {
                let c = self.control.clone();
                let n = n.clone();
                tokio::task::spawn_blocking(move || f(&c, &n))
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.unwrap_or_else(|e| Err(anyhow!("control task failed: {e}"))));
        }
        out
    }

    // ---- clocks ----

    fn clock_path(&mut self, node: &str) -> Result<(PathBuf, i64)> {
        self.node(node)?;
        if let Some(x) = self.clocks.get(node) {
            return Ok(x.clone());
        }
        let path = self.control.clock_file(node).with_context(|| format!("clock faults refused for node {node}"))?;
        Ok((path, 0))
    }

    fn clock_bump(&mut self, deltas: &BTreeMap<String, i64>) -> Result<()> {
        if self.strobe.is_some() {
            bail!("a clock strobe is in force; reset clocks before bumping them");
        }
        let mut errors = Vec::new();
        for (node, d) in deltas {
            match self.clock_path(node) {
                Ok((path, cur)) => match clock::write_offset(&path, cur + d) {
                    Ok(()) => {
                        self.clocks.insert(node.clone(), (path, cur + d));
                    }
                    Err(e) => errors.push(e.context(format!("bumping node {node}'s clock"))),
                },
                Err(e) => errors.push(e),
            }
        }
        combine(errors)
    }

    fn clock_strobe(&mut self, nodes: &[String], delta_ms: i64, period_ms: u64, duration_ms: u64) -> Result<()> {
        if self.strobe.is_some() {
            bail!("a clock strobe is already in force");
        }
        let mut files = Vec::new();
        for n in nodes {
            let (path, base) = self.clock_path(n)?;
            files.push((path.clone(), base));
            self.clocks.insert(n.clone(), (path, base));
        }
        let strobe = Strobe::start(
            files,
            delta_ms,
            std::time::Duration::from_millis(period_ms.max(1)),
            std::time::Duration::from_millis(duration_ms),
        )?;
        self.strobe = Some((strobe, nodes.to_vec()));
        Ok(())
    }

    /// Stops any strobe and writes `+0` for these nodes.
    fn clock_reset(&mut self, nodes: &[String]) -> Result<()> {
        let mut errors = Vec::new();
        if let Some((strobe, _)) = self.strobe.take() {
            if let Err(e) = strobe.stop() {
                errors.push(e);
            }
        }
        for n in nodes {
            if let Some((path, _)) = self.clocks.get(n).cloned() {
                match clock::write_offset(&path, 0) {
                    Ok(()) => {
                        self.clocks.remove(n);
                    }
                    Err(e) => errors.push(e.context(format!("resetting node {n}'s clock"))),
                }
            }
        }
        combine(errors)
    }

    // ---- packets ----

    async fn start_packet(&mut self, fault: &Fault, kind: &PacketKind, links: &[Link]) -> Result<()> {
        let mut pif = PacketInForce {
            fault: fault.clone(),
            input_rules: BTreeMap::new(),
            dup_rules: BTreeMap::new(),
            shapers: Vec::new(),
            netem: Vec::new(),
        };
        let mut resolved = Vec::new();
        for l in links {
            resolved.push((self.node(&l.from)?.clone(), self.node(&l.to)?.clone()));
        }
        match *kind {
            PacketKind::Loss { p } => {
                for (from, to) in &resolved {
                    pif.input_rules.entry(to.id.clone()).or_default().push(Rule::RandomDrop { src: from.ip, p });
                }
            }
            PacketKind::Duplicate { p } => {
                for (from, to) in &resolved {
                    pif.dup_rules.entry(from.id.clone()).or_default().push(Rule::Duplicate { dst: to.ip, p });
                }
            }
            PacketKind::Delay { ms, jitter_ms } => {
                self.start_hold(&mut pif, &resolved, Hold::Delay { ms, jitter_ms }).await?;
            }
            PacketKind::Reorder { p, ms } => {
                self.start_hold(&mut pif, &resolved, Hold::Reorder { p, ms }).await?;
            }
        }
        let touched: BTreeSet<String> = pif.input_rules.keys().chain(pif.dup_rules.keys()).cloned().collect();
        self.packets.push(pif);
        self.rewrite_packet_chains(&touched).await
    }

    async fn start_hold(&mut self, pif: &mut PacketInForce, links: &[(NodeRef, NodeRef)], hold: Hold) -> Result<()> {
        match self.backend()? {
            DelayBackend::Nfqueue => {
                self.next_queue = self.next_queue.wrapping_add(1).max(1);
                let queue = self.next_queue;
                let receivers: BTreeSet<String> = links.iter().map(|(_, to)| to.id.clone()).collect();
                for r in &receivers {
                    let node = self.node(r)?.clone();
                    let ns = Netns::open(&node.netns).with_context(|| format!("node {r}"))?;
                    let seed = self.shaper_seed ^ ((queue as u64) << 32) ^ crate::fault_hash(r);
                    // The shaper binds before any rule points at its queue.
                    let shaper = Shaper::start(&ns, queue, hold, seed).with_context(|| format!("node {r}"));
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
                    pif.input_rules.entry(to.id.clone()).or_default().push(Rule::Queue { src: from.ip, queue });
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
                    let ns = Netns::open(&node.netns).with_context(|| format!("node {sender}"))?;
                    let dev = netem::egress_device(&ns, dsts[0]).await?;
                    netem::apply(&ns, &dev, &hold, &dsts).await.with_context(|| format!("node {sender}"))?;
                    pif.netem.push((sender, dev));
                }
            }
        }
        Ok(())
    }

    async fn stop_packet(&mut self, fault: &Fault) -> Result<()> {
        let Some(pos) = self.packets.iter().position(|p| &p.fault == fault) else {
            return Ok(());
        };
        let pif = self.packets.remove(pos);
        let touched: BTreeSet<String> = pif.input_rules.keys().chain(pif.dup_rules.keys()).cloned().collect();
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
            let r = async {
                let ns = Netns::open(&self.node(node)?.netns)?;
                netem::remove(&ns, dev).await
            }
            .await;
            if let Err(e) = r {
                errors.push(e.context(format!("removing netem from node {node}")));
            }
        }
        combine(errors)
    }

    /// Rewrites the packet and duplication chains of `nodes` from every packet fault in
    /// force, one atomic commit per namespace.
    async fn rewrite_packet_chains(&mut self, nodes: &BTreeSet<String>) -> Result<()> {
        let mut scripts = Vec::new();
        for id in nodes {
            let node = self.node(id)?.clone();
            let input: Vec<Rule> =
                self.packets.iter().flat_map(|p| p.input_rules.get(id).cloned().unwrap_or_default()).collect();
            let dup: Vec<Rule> =
                self.packets.iter().flat_map(|p| p.dup_rules.get(id).cloned().unwrap_or_default()).collect();
            let script = iptables::replace_chain(iptables::PACKET_CHAIN, &input)
                + &iptables::replace_chain(iptables::DUPLICATE_CHAIN, &dup);
            scripts.push((node, script));
        }
        self.netfilter.apply(scripts).await
    }
}

impl<C: ClusterControl + 'static> Drop for Nemesis<C> {
    /// Best effort without a runtime: stops shapers and strobes, resumes paused nodes,
    /// resets clocks, removes chains. Killed nodes cannot be restarted here (restart is
    /// async); the cluster's own teardown reaps them.
    fn drop(&mut self) {
        if self.is_healthy() && self.strobe.is_none() && self.packets.is_empty() && self.netfilter_is_clean() {
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
            let _ = clock::write_offset(&path, 0);
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

fn kind_names(kinds: &[FaultKind], pred: fn(FaultKind) -> bool) -> String {
    kinds.iter().filter(|k| pred(**k)).map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).exists()))
        .unwrap_or(false)
}
