//! Several nodes on one host: each serves on ports of its own (the system's, shifted
//! by [`hosts::PORT_STEP`] per node before it on the host) and runs with a
//! supplementary group of its own ([`remote::node_group`]), so that a partition can
//! be put in force by what one node sends to another's ports (the run's
//! `FL-<id>-PORTS` chain in `OUTPUT`), where an address no longer names a node.

use super::{hosts, lock, remote, Inner, SshOptions};
use anyhow::{anyhow, Context, Result};
use nemesis::FaultKind;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Where nodes share hosts: what tells their packets apart.
pub(super) struct PortPlan {
    /// Per node: the ports it serves on (the client port, and the peer port if any).
    ports: Vec<Vec<u16>>,
    /// Per node: the supplementary group it runs with ([`remote::node_group`]).
    groups: Vec<u32>,
    /// Per host (by its first node's index): the partition rules in force there.
    in_force: Mutex<BTreeMap<usize, Vec<String>>>,
}

impl PortPlan {
    /// Ports were checked to fit by [`check_sharing`].
    pub(super) fn new(opts: &SshOptions, ids: &[String], slots: &[hosts::Slot]) -> PortPlan {
        let system = &opts.system;
        let ports = slots
            .iter()
            .map(|s| {
                std::iter::once(system.port)
                    .chain(system.peer_port)
                    .map(|p| p.saturating_add(s.shift))
                    .collect()
            })
            .collect();
        PortPlan {
            ports,
            groups: (1..=ids.len())
                .map(|i| remote::node_group(&opts.run_id, i))
                .collect(),
            in_force: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Whether nodes can share hosts in this test: the system takes its ports from its
/// command's placeholders, every node's ports fit and differ from its host-mates',
/// and the faults asked for can be told apart by port (partitions can; packet
/// faults, which match addresses only, cannot yet).
pub(super) fn check_sharing(opts: &SshOptions, slots: &[hosts::Slot]) -> Result<()> {
    let bad = crate::error::bad_input;
    opts.system
        .check_port_shifts()
        .map_err(|e| bad(format!("--hosts: several nodes on one host: {e:#}")))?;
    let packets: Vec<String> = opts
        .kinds
        .iter()
        .filter(|k| {
            k.parts()
                .iter()
                .any(|p| p.is_network() && !matches!(p, FaultKind::Partition(_)))
        })
        .map(FaultKind::name)
        .collect();
    if !packets.is_empty() {
        return Err(bad(format!(
            "--nemesis: packet faults ({}) match node addresses only, and several nodes share a host here: give each node a host of its own",
            packets.join(", ")
        )));
    }
    let mut taken: BTreeMap<(usize, u16), usize> = BTreeMap::new();
    let system = &opts.system;
    for (i, slot) in slots.iter().enumerate() {
        let host = opts.hosts[slot.host].label();
        for base in std::iter::once(system.port).chain(system.peer_port) {
            let port = base.checked_add(slot.shift).ok_or_else(|| {
                bad(format!(
                    "--hosts: node n{} on host {host}: port {base} + {} is beyond 65535",
                    i + 1,
                    slot.shift
                ))
            })?;
            if let Some(other) = taken.insert((slot.host, port), i) {
                return Err(bad(format!(
                    "--hosts: nodes n{} and n{} on host {host} would both listen on port {port} (ports are {}'s + {} per node on a host)",
                    other + 1,
                    i + 1,
                    system.name,
                    hosts::PORT_STEP
                )));
            }
        }
    }
    Ok(())
}

impl Inner {
    /// Puts `grudge` in force where nodes share hosts: on each host, drops of what
    /// its nodes send to the ports of the nodes they are cut from. Only hosts whose
    /// rules change are touched, all at once.
    pub(super) async fn set_partition(&self, grudge: &nemesis::Grudge) -> Result<()> {
        let plan = self
            .ports
            .as_ref()
            .ok_or_else(|| anyhow!("run {}: nodes do not share hosts", self.run_id))?;
        let rules = self.port_rules(plan, grudge)?;
        let changed: Vec<(usize, Vec<String>)> = {
            let in_force = lock(&plan.in_force);
            rules
                .into_iter()
                .filter(|(h, r)| in_force.get(h).map_or(!r.is_empty(), |cur| cur != r))
                .collect()
        };
        let chain = remote::port_chain(&self.run_id);
        let runs: Vec<_> = changed
            .iter()
            .map(|(h, r)| {
                let script = remote::port_chain_script(&chain, r);
                let conn = self.conns[*h].clone();
                tokio::spawn(async move {
                    conn.run_in_shell(
                        "PATH=$PATH:/usr/sbin:/sbin exec iptables-restore -w --noflush",
                        Some(script),
                    )
                    .await
                    .with_context(|| format!("host {}: setting the partition", conn.host.label()))
                })
            })
            .collect();
        let mut errors = Vec::new();
        for ((h, r), run) in changed.into_iter().zip(runs) {
            let result = run
                .await
                .unwrap_or_else(|e| Err(anyhow!("a partition task failed: {e}")));
            let mut in_force = lock(&plan.in_force);
            match result {
                Ok(_) => {
                    in_force.insert(h, r);
                }
                Err(e) => {
                    // Unknown now: rewritten whatever comes next.
                    in_force.remove(&h);
                    errors.push(e);
                }
            }
        }
        nemesis::netfilter::combine(errors)
    }

    /// The rules of every host (by its first node's index) for `grudge`. A grudge
    /// is made symmetric (`a` gets nothing from `b`: neither reaches the other's
    /// ports), as a TCP connection needs both directions anyway.
    fn port_rules(
        &self,
        plan: &PortPlan,
        grudge: &nemesis::Grudge,
    ) -> Result<BTreeMap<usize, Vec<String>>> {
        let chain = remote::port_chain(&self.run_id);
        let mut rules: BTreeMap<usize, BTreeSet<String>> = (0..self.nodes.len())
            .filter(|&i| self.slots[i].shift == 0)
            .map(|i| (i, BTreeSet::new()))
            .collect();
        for (a, bs) in grudge {
            let a = self.index_of(a)?;
            for b in bs {
                let b = self.index_of(b)?;
                for (from, to) in [(a, b), (b, a)] {
                    let drops = remote::port_drops(
                        plan.groups[from],
                        self.nodes[to].ip,
                        &plan.ports[to],
                        &chain,
                    );
                    rules
                        .entry(self.host_first_node(from))
                        .or_default()
                        .extend(drops);
                }
            }
        }
        Ok(rules
            .into_iter()
            .map(|(h, r)| (h, r.into_iter().collect()))
            .collect())
    }

    /// The index of the first node on node `i`'s host.
    fn host_first_node(&self, i: usize) -> usize {
        let host = self.slots[i].host;
        self.slots.iter().position(|s| s.host == host).unwrap_or(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::SystemSpec;
    use std::path::Path;

    fn options(system: &str, kinds: &str, per_host: &[usize]) -> (SshOptions, Vec<hosts::Slot>) {
        let text: String = per_host
            .iter()
            .enumerate()
            .map(|(i, n)| format!("[[hosts]]\naddress = \"10.9.0.{}\"\nnodes = {n}\n", i + 1))
            .collect();
        let hosts = hosts::parse(&text, Path::new("/tmp/hosts.toml")).unwrap();
        let count = per_host.iter().sum();
        let slots = hosts::place(&hosts, count).unwrap();
        let opts = SshOptions {
            run_id: "abc123".into(),
            hosts,
            node_count: count,
            spare_nodes: 0,
            system: SystemSpec::from_toml_str(system, Path::new("/tmp/s.toml")).unwrap(),
            run_dir: "/tmp/r".into(),
            kinds: FaultKind::parse_list(kinds, count).unwrap(),
            lazyfs: false,
        };
        (opts, slots)
    }

    const TWO_PORTS: &str =
        "name = \"s\"\ncommand = \"/bin/sh {addr} {peer_addr}\"\nport = 7000\npeer_port = 7005\n";

    #[test]
    fn nodes_share_a_host_on_distinct_ports_and_groups_with_partitions_and_kills() {
        let (opts, slots) = options(TWO_PORTS, "partition,kill", &[3, 2]);
        check_sharing(&opts, &slots).unwrap();
        let plan = PortPlan::new(
            &opts,
            &["n1", "n2", "n3", "n4", "n5"].map(String::from),
            &slots,
        );
        assert_eq!(plan.ports[2], [7020, 7025]);
        assert_eq!(plan.ports[4], [7010, 7015]);
        assert_eq!(plan.groups.iter().collect::<BTreeSet<_>>().len(), 5);
    }

    #[test]
    fn clashing_ports_and_packet_faults_are_refused_when_nodes_share_a_host() {
        let clash = TWO_PORTS.replace("7005", "7010");
        let (opts, slots) = options(&clash, "partition", &[2]);
        let e = format!("{:#}", check_sharing(&opts, &slots).unwrap_err());
        assert!(
            e.contains("nodes n1 and n2 on host root@10.9.0.1:22 would both listen on port 7010"),
            "{e}"
        );
        let (opts, slots) = options(TWO_PORTS, "partition,loss", &[2]);
        let e = format!("{:#}", check_sharing(&opts, &slots).unwrap_err());
        assert!(
            e.contains("packet faults (loss) match node addresses only"),
            "{e}"
        );
        let high = TWO_PORTS.replace("7000", "65530");
        let (opts, slots) = options(&high, "kill", &[2]);
        let e = format!("{:#}", check_sharing(&opts, &slots).unwrap_err());
        assert!(e.contains("beyond 65535"), "{e}");
    }
}
