//! Faults as data: what the nemesis can do, named the way users type it and shaped the
//! way the history records it.
//!
//! A [`FaultKind`] is what a user asks for (`--nemesis partition-ring,kill`); a
//! [`Fault`] is one concrete decision (which nodes, which grudge, which delay), and is
//! what the runner writes as the value of a nemesis event, so a reader of the history
//! knows exactly what was in force.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Who drops traffic from whom: `grudge[a]` lists the nodes whose packets `a` drops.
/// Nodes that drop nothing are absent. A partition is symmetric when every grudge is
/// returned; one-way partitions are not.
pub type Grudge = BTreeMap<String, Vec<String>>;

/// The shape of a network partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionKind {
    /// A random split into two halves (a majority and a minority when the count is odd).
    Halves,
    /// One random node cut off from all others.
    One,
    /// The node the system reports as its leader cut off from all others.
    Leader,
    /// Every node sees a majority, and no two nodes see the same majority.
    Ring,
    /// Two halves joined by one node that sees both.
    Bridge,
    /// A random split into two non-empty groups of any sizes.
    Random,
    /// One group drops the other's packets, the other still receives the first's.
    OneWay,
}

impl PartitionKind {
    pub const ALL: [PartitionKind; 7] = [
        PartitionKind::Halves,
        PartitionKind::One,
        PartitionKind::Leader,
        PartitionKind::Ring,
        PartitionKind::Bridge,
        PartitionKind::Random,
        PartitionKind::OneWay,
    ];

    /// The fewest nodes this shape is meaningful for.
    pub fn min_nodes(self) -> usize {
        match self {
            PartitionKind::Ring => 4,
            PartitionKind::Bridge => 3,
            _ => 2,
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            PartitionKind::Halves => "halves",
            PartitionKind::One => "one",
            PartitionKind::Leader => "leader",
            PartitionKind::Ring => "ring",
            PartitionKind::Bridge => "bridge",
            PartitionKind::Random => "random",
            PartitionKind::OneWay => "one-way",
        }
    }
}

/// What a packet fault does to the packets of its links.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PacketKind {
    /// Drop each packet with probability `p`.
    Loss { p: f64 },
    /// Hold each packet for `ms` plus a uniform random amount in `[-jitter_ms, +jitter_ms]`
    /// (never below zero). Jitter larger than the gaps between packets reorders them.
    Delay { ms: u64, jitter_ms: u64 },
    /// Let a fraction `p` of packets through at once and hold the rest for `ms`, so the
    /// ones let through overtake those held (netem's `reorder`).
    Reorder { p: f64, ms: u64 },
    /// Deliver each packet twice with probability `p`.
    Duplicate { p: f64 },
}

impl PacketKind {
    /// The short name used in event names (`start-loss`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            PacketKind::Loss { .. } => "loss",
            PacketKind::Delay { .. } => "delay",
            PacketKind::Reorder { .. } => "reorder",
            PacketKind::Duplicate { .. } => "duplicate",
        }
    }
}

/// A directed link: the packets `from` sends to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub from: String,
    pub to: String,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.from, self.to)
    }
}

/// One concrete fault, as applied and as recorded in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    Partition {
        kind: PartitionKind,
        grudge: Grudge,
        /// For [`PartitionKind::Leader`]: the leader the system reported, or `None`
        /// when it reported none and a node picked by the schedule was isolated instead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<String>,
    },
    /// `kill -9` these nodes; healed by restarting them.
    Kill { nodes: Vec<String> },
    /// `kill -9` every node at once; healed by restarting them all.
    KillAll { nodes: Vec<String> },
    /// `kill -9` the node the system reported as leader; healed by restarting it.
    KillLeader {
        /// The node killed (one).
        nodes: Vec<String>,
        /// The leader the system reported, or `None` when it reported none and a node
        /// picked by the schedule was killed instead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<String>,
    },
    /// SIGSTOP these nodes; healed by SIGCONT.
    Pause { nodes: Vec<String> },
    /// SIGSTOP the node the system reported as leader; healed by SIGCONT.
    PauseLeader {
        /// The node paused (one).
        nodes: Vec<String>,
        /// As for [`Fault::KillLeader`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<String>,
    },
    /// Move these nodes' wall clocks by the given amounts (ms, added to any offset
    /// already in force); healed by resetting them.
    ClockBump { deltas_ms: BTreeMap<String, i64> },
    /// Flip these nodes' wall clocks between their offset and offset + `delta_ms`
    /// every `period_ms`, for `duration_ms`; healed by resetting them.
    ClockStrobe {
        nodes: Vec<String>,
        delta_ms: i64,
        period_ms: u64,
        duration_ms: u64,
    },
    /// Loss, delay, reordering or duplication on these links.
    Packet { kind: PacketKind, links: Vec<Link> },
    /// A membership change through the system's own admin interface: `change` says
    /// whether `nodes` leave the cluster or come back (with empty data, as fresh
    /// nodes), `members` is the membership asked for. Not healed by its stop: a
    /// membership change stays until the next one (the nemesis alternates removing
    /// and adding back, and the final heal adds back whatever is out).
    Membership {
        change: MembershipChange,
        nodes: Vec<String>,
        members: Vec<String>,
    },
    /// Flip bits in `len` bytes at `offset` of `file` (a path inside `node`'s data
    /// directory, relative to it). Not healed: the node must notice.
    Corrupt {
        node: String,
        file: String,
        offset: u64,
        len: u64,
    },
    /// Cut `file` of `node`'s data directory to `to` bytes (it had `from`). Not healed.
    Truncate {
        node: String,
        file: String,
        from: u64,
        to: u64,
    },
    /// Disk faults (the node's data directory on faultline's lazy filesystem):
    /// `kill -9` these nodes and drop their unsynced writes; healed by restarting them.
    PowerLoss { nodes: Vec<String> },
    /// As [`Fault::PowerLoss`], every node at once.
    PowerLossAll { nodes: Vec<String> },
    /// As [`Fault::PowerLoss`], on the node the system reported as leader or
    /// primary: what a primary acknowledged and had not fsync'd (or sent) is at stake.
    PowerLossLeader {
        /// The node whose power went (one).
        nodes: Vec<String>,
        /// As for [`Fault::KillLeader`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<String>,
    },
    /// Drop these nodes' unsynced writes while they run; nothing to heal.
    LoseUnsynced { nodes: Vec<String> },
    /// `kill -9` these nodes; their unsynced writes reach the disk except the tail of
    /// each file's last write, cut at a page boundary; healed by restarting them.
    TornWrite { nodes: Vec<String> },
    /// Several faults in force together, started in this order and healed together
    /// (in the same order). The parts after the first act only on the nodes the first
    /// singled out ([`Fault::singled_out`]).
    Composed { faults: Vec<Fault> },
}

impl Fault {
    /// The history's `f` for this fault's start event.
    pub fn start_name(&self) -> String {
        match self {
            Fault::Partition { .. } => "start-partition".into(),
            Fault::Kill { .. } | Fault::KillLeader { .. } => "kill".into(),
            Fault::KillAll { .. } => "kill-all".into(),
            Fault::Pause { .. } | Fault::PauseLeader { .. } => "pause".into(),
            Fault::ClockBump { .. } => "clock-bump".into(),
            Fault::ClockStrobe { .. } => "clock-strobe".into(),
            Fault::Packet { kind, .. } => format!("start-{}", kind.name()),
            Fault::Membership { change, .. } => change.name().into(),
            Fault::Corrupt { .. } => "corrupt".into(),
            Fault::Truncate { .. } => "truncate".into(),
            Fault::PowerLoss { .. } | Fault::PowerLossLeader { .. } => "power-loss".into(),
            Fault::PowerLossAll { .. } => "power-loss-all".into(),
            Fault::LoseUnsynced { .. } => "lose-unsynced".into(),
            Fault::TornWrite { .. } => "torn-write".into(),
            Fault::Composed { faults } => join_names(faults, Fault::start_name),
        }
    }

    /// The history's `f` for the event that heals this fault.
    pub fn stop_name(&self) -> String {
        match self {
            Fault::Partition { .. } => "stop-partition".into(),
            Fault::Kill { .. } | Fault::KillLeader { .. } => "restart".into(),
            Fault::KillAll { .. } => "restart-all".into(),
            Fault::Pause { .. } | Fault::PauseLeader { .. } => "resume".into(),
            Fault::ClockBump { .. } | Fault::ClockStrobe { .. } => "clock-reset".into(),
            Fault::Packet { kind, .. } => format!("stop-{}", kind.name()),
            Fault::Membership { .. } => "membership-held".into(),
            Fault::Corrupt { .. } | Fault::Truncate { .. } => "disk-held".into(),
            Fault::PowerLoss { .. } | Fault::PowerLossLeader { .. } | Fault::TornWrite { .. } => {
                "restart".into()
            }
            Fault::PowerLossAll { .. } => "restart-all".into(),
            Fault::LoseUnsynced { .. } => "stop-lose-unsynced".into(),
            Fault::Composed { faults } => join_names(faults, Fault::stop_name),
        }
    }

    /// One line for a progress display.
    pub fn describe(&self) -> String {
        match self {
            Fault::Partition {
                kind,
                grudge,
                leader,
            } => {
                let cut: usize = grudge.values().map(Vec::len).sum();
                let who = leader
                    .as_ref()
                    .map(|l| format!(" (leader {l})"))
                    .unwrap_or_default();
                format!("partition-{}{who}: {cut} directed links cut", kind.suffix())
            }
            Fault::Kill { nodes } => format!("killed {}", nodes.join(",")),
            Fault::KillAll { .. } => "all nodes killed".into(),
            Fault::KillLeader { nodes, leader } => {
                format!("killed {}{}", nodes.join(","), leader_note(leader))
            }
            Fault::Pause { nodes } => format!("paused {}", nodes.join(",")),
            Fault::PauseLeader { nodes, leader } => {
                format!("paused {}{}", nodes.join(","), leader_note(leader))
            }
            Fault::ClockBump { deltas_ms } => {
                let parts: Vec<String> = deltas_ms
                    .iter()
                    .map(|(n, d)| format!("{n}{d:+}ms"))
                    .collect();
                format!("clocks bumped {}", parts.join(","))
            }
            Fault::ClockStrobe {
                nodes,
                delta_ms,
                period_ms,
                ..
            } => {
                format!(
                    "clocks strobing {} by {delta_ms:+}ms every {period_ms}ms",
                    nodes.join(",")
                )
            }
            Fault::Packet { kind, links } => {
                let what = match kind {
                    PacketKind::Loss { p } => format!("loss {:.0}%", p * 100.0),
                    PacketKind::Delay { ms, jitter_ms } => format!("delay {ms}±{jitter_ms}ms"),
                    PacketKind::Reorder { p, ms } => {
                        format!("reorder {:.0}% past {ms}ms", p * 100.0)
                    }
                    PacketKind::Duplicate { p } => format!("duplicate {:.0}%", p * 100.0),
                };
                format!("{what} on {} links", links.len())
            }
            Fault::Membership {
                change,
                nodes,
                members,
            } => format!(
                "{} {}: members {}",
                change.name(),
                nodes.join(","),
                members.join(",")
            ),
            Fault::Corrupt {
                node,
                file,
                offset,
                len,
            } => format!("{node}: {len} bytes of {file} corrupted at {offset}"),
            Fault::Truncate {
                node,
                file,
                from,
                to,
            } => format!("{node}: {file} cut from {from} to {to} bytes"),
            Fault::PowerLoss { nodes } => format!("power lost on {}", nodes.join(",")),
            Fault::PowerLossAll { .. } => "power lost on all nodes".into(),
            Fault::PowerLossLeader { nodes, leader } => {
                format!("power lost on {}{}", nodes.join(","), leader_note(leader))
            }
            Fault::LoseUnsynced { nodes } => {
                format!("unsynced writes dropped on {}", nodes.join(","))
            }
            Fault::TornWrite { nodes } => format!("power lost mid-write on {}", nodes.join(",")),
            Fault::Composed { faults } => faults
                .iter()
                .map(Fault::describe)
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }

    /// The nodes this fault singles out, which the later parts of a composition act
    /// on: the killed or paused nodes, the nodes whose clocks move, and for a
    /// partition the cut-off side: the isolated node, the minority side of a split
    /// (on a tie, the side without the first of `all`), the dropping side of a one-way
    /// partition, the bridge node of a bridge. Empty for faults that single out no
    /// nodes (a ring partition, packet faults, which act on links). `all` is every
    /// node, in the cluster's order.
    pub fn singled_out(&self, all: &[String]) -> Vec<String> {
        match self {
            Fault::Partition { kind, grudge, .. } => match kind {
                PartitionKind::Ring => Vec::new(),
                PartitionKind::OneWay => grudge.keys().cloned().collect(),
                PartitionKind::Bridge => all
                    .iter()
                    .filter(|n| !grudge.contains_key(*n))
                    .cloned()
                    .collect(),
                _ => {
                    let Some(first) = all.first() else {
                        return Vec::new();
                    };
                    let Some(other_side) = grudge.get(first) else {
                        return grudge.keys().cloned().collect();
                    };
                    let own_side: Vec<String> = all
                        .iter()
                        .filter(|n| !other_side.contains(*n))
                        .cloned()
                        .collect();
                    if own_side.len() < other_side.len() {
                        own_side
                    } else {
                        all.iter()
                            .filter(|n| other_side.contains(*n))
                            .cloned()
                            .collect()
                    }
                }
            },
            Fault::Kill { nodes }
            | Fault::KillAll { nodes }
            | Fault::KillLeader { nodes, .. }
            | Fault::Pause { nodes }
            | Fault::PauseLeader { nodes, .. }
            | Fault::ClockStrobe { nodes, .. }
            | Fault::PowerLoss { nodes }
            | Fault::PowerLossAll { nodes }
            | Fault::PowerLossLeader { nodes, .. }
            | Fault::LoseUnsynced { nodes }
            | Fault::TornWrite { nodes } => nodes.clone(),
            Fault::ClockBump { deltas_ms } => deltas_ms.keys().cloned().collect(),
            Fault::Membership { nodes, .. } => nodes.clone(),
            Fault::Corrupt { node, .. } | Fault::Truncate { node, .. } => vec![node.clone()],
            Fault::Packet { .. } => Vec::new(),
            Fault::Composed { faults } => faults
                .first()
                .map(|f| f.singled_out(all))
                .unwrap_or_default(),
        }
    }

    /// This fault restricted to `nodes`: the part of a composition that acts on the
    /// nodes its first part singled out. Process and clock faults keep only those
    /// nodes; packet faults keep the links to and from them; other faults are returned
    /// unchanged.
    pub fn narrowed_to(&self, nodes: &[String]) -> Fault {
        let keep = |v: &Vec<String>| -> Vec<String> {
            v.iter().filter(|n| nodes.contains(n)).cloned().collect()
        };
        match self {
            Fault::Kill { nodes: n } => Fault::Kill { nodes: keep(n) },
            Fault::Pause { nodes: n } => Fault::Pause { nodes: keep(n) },
            Fault::PowerLoss { nodes: n } => Fault::PowerLoss { nodes: keep(n) },
            Fault::LoseUnsynced { nodes: n } => Fault::LoseUnsynced { nodes: keep(n) },
            Fault::TornWrite { nodes: n } => Fault::TornWrite { nodes: keep(n) },
            Fault::ClockBump { deltas_ms } => Fault::ClockBump {
                deltas_ms: deltas_ms
                    .iter()
                    .filter(|(n, _)| nodes.contains(n))
                    .map(|(n, d)| (n.clone(), *d))
                    .collect(),
            },
            Fault::ClockStrobe {
                nodes: n,
                delta_ms,
                period_ms,
                duration_ms,
            } => Fault::ClockStrobe {
                nodes: keep(n),
                delta_ms: *delta_ms,
                period_ms: *period_ms,
                duration_ms: *duration_ms,
            },
            Fault::Packet { kind, links } => Fault::Packet {
                kind: *kind,
                links: links
                    .iter()
                    .filter(|l| nodes.contains(&l.from) || nodes.contains(&l.to))
                    .cloned()
                    .collect(),
            },
            other => other.clone(),
        }
    }
}

/// Which way a membership change goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MembershipChange {
    /// The nodes are removed from the cluster (they keep running, as non-members,
    /// until they are added back).
    Remove,
    /// The nodes are stopped, their data wiped, started fresh and added back.
    Add,
}

impl MembershipChange {
    /// The history's `f` for the change.
    pub fn name(self) -> &'static str {
        match self {
            MembershipChange::Remove => "remove-members",
            MembershipChange::Add => "add-members",
        }
    }
}

fn join_names(faults: &[Fault], name: fn(&Fault) -> String) -> String {
    faults.iter().map(name).collect::<Vec<_>>().join("+")
}

fn leader_note(leader: &Option<String>) -> String {
    match leader {
        Some(_) => " (the leader)".into(),
        None => " (no leader reported; chosen by the schedule)".into(),
    }
}

/// A fault a user can ask the schedule for. Serialized as its name (`partition-ring`,
/// `pause-leader+clock-bump`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    Partition(PartitionKind),
    Kill,
    KillAll,
    /// `kill -9` the node the system reports as leader (a node chosen by the schedule
    /// when there is none).
    KillLeader,
    Pause,
    /// SIGSTOP the node the system reports as leader (as for `KillLeader`).
    PauseLeader,
    ClockBump,
    ClockStrobe,
    Loss,
    Delay,
    Reorder,
    Duplicate,
    /// Remove one or two members through the system's admin interface, or add back
    /// those out (fresh, with empty data), in turns.
    Membership,
    /// Flip bits in a random byte range of a file in one node's data directory.
    Corrupt,
    /// Cut a file in one node's data directory short.
    Truncate,
    /// Disk faults: they need each node's data directory on faultline's lazy
    /// filesystem (`--lazyfs`, on by itself when one is asked for).
    PowerLoss,
    PowerLossAll,
    /// Power loss of the node the system reports as leader or primary (a node
    /// chosen by the schedule when there is none).
    PowerLossLeader,
    LoseUnsynced,
    TornWrite,
    /// Several single kinds started together as one fault and healed together
    /// (`pause-leader+clock-bump`). Built only through [`FaultKind::compose`], which
    /// refuses compositions that cannot work; the parts after the first act on the
    /// nodes the first singles out.
    Composed(Vec<FaultKind>),
}

/// Group names that expand to several kinds, with what they expand to.
const GROUPS: &[(&str, &str)] = &[
    ("partition", "every partition-* kind the node count allows"),
    (
        "process",
        "kill, kill-all, kill-leader, pause, pause-leader",
    ),
    ("clock", "clock-bump, clock-strobe"),
    ("packet", "loss, delay, reorder, duplicate"),
    (
        "disk",
        "power-loss, power-loss-all, power-loss-leader, lose-unsynced, torn-write, corrupt, truncate",
    ),
    (
        "all",
        "every single kind the node count allows but membership and the disk kinds",
    ),
    ("none", "no faults"),
];

impl FaultKind {
    /// Every single kind, in a stable order.
    pub fn all() -> Vec<FaultKind> {
        let mut v: Vec<FaultKind> = PartitionKind::ALL
            .iter()
            .map(|k| FaultKind::Partition(*k))
            .collect();
        v.extend([
            FaultKind::Kill,
            FaultKind::KillAll,
            FaultKind::KillLeader,
            FaultKind::Pause,
            FaultKind::PauseLeader,
            FaultKind::ClockBump,
            FaultKind::ClockStrobe,
            FaultKind::Loss,
            FaultKind::Delay,
            FaultKind::Reorder,
            FaultKind::Duplicate,
            FaultKind::Membership,
        ]);
        v.extend(FaultKind::DISK);
        v
    }

    /// The disk kinds (the `disk` group, which `all` leaves out): the first five
    /// need the lazy filesystem under every node, `corrupt` and `truncate` act on
    /// the files of the data directory wherever it is.
    pub const DISK: [FaultKind; 7] = [
        FaultKind::PowerLoss,
        FaultKind::PowerLossAll,
        FaultKind::PowerLossLeader,
        FaultKind::LoseUnsynced,
        FaultKind::TornWrite,
        FaultKind::Corrupt,
        FaultKind::Truncate,
    ];

    /// The disk kinds that drop or tear unsynced writes, which only faultline's
    /// lazy filesystem knows about.
    pub const LAZY_DISK: [FaultKind; 5] = [
        FaultKind::PowerLoss,
        FaultKind::PowerLossAll,
        FaultKind::PowerLossLeader,
        FaultKind::LoseUnsynced,
        FaultKind::TornWrite,
    ];

    /// Whether this kind acts on the nodes' disks (a composition: whether any part
    /// does).
    pub fn is_disk(&self) -> bool {
        self.parts().iter().any(|k| FaultKind::DISK.contains(k))
    }

    /// Whether this kind (or a part of it) needs the nodes' data directories on the
    /// lazy filesystem.
    pub fn needs_lazy_disk(&self) -> bool {
        self.parts()
            .iter()
            .any(|k| FaultKind::LAZY_DISK.contains(k))
    }

    /// The name users type and events carry.
    pub fn name(&self) -> String {
        match self {
            FaultKind::Partition(p) => format!("partition-{}", p.suffix()),
            FaultKind::Kill => "kill".into(),
            FaultKind::KillAll => "kill-all".into(),
            FaultKind::KillLeader => "kill-leader".into(),
            FaultKind::Pause => "pause".into(),
            FaultKind::PauseLeader => "pause-leader".into(),
            FaultKind::ClockBump => "clock-bump".into(),
            FaultKind::ClockStrobe => "clock-strobe".into(),
            FaultKind::Loss => "loss".into(),
            FaultKind::Delay => "delay".into(),
            FaultKind::Reorder => "reorder".into(),
            FaultKind::Duplicate => "duplicate".into(),
            FaultKind::Membership => "membership".into(),
            FaultKind::Corrupt => "corrupt".into(),
            FaultKind::Truncate => "truncate".into(),
            FaultKind::PowerLoss => "power-loss".into(),
            FaultKind::PowerLossAll => "power-loss-all".into(),
            FaultKind::PowerLossLeader => "power-loss-leader".into(),
            FaultKind::LoseUnsynced => "lose-unsynced".into(),
            FaultKind::TornWrite => "torn-write".into(),
            FaultKind::Composed(parts) => parts
                .iter()
                .map(FaultKind::name)
                .collect::<Vec<_>>()
                .join("+"),
        }
    }

    /// The single kinds this kind is made of: itself, or a composition's parts.
    pub fn parts(&self) -> &[FaultKind] {
        match self {
            FaultKind::Composed(parts) => parts,
            single => std::slice::from_ref(single),
        }
    }

    /// Whether this kind moves clocks (a composition: whether any part does).
    pub fn is_clock(&self) -> bool {
        self.parts()
            .iter()
            .any(|k| matches!(k, FaultKind::ClockBump | FaultKind::ClockStrobe))
    }

    /// Whether this kind needs iptables inside the node namespaces (a composition:
    /// whether any part does).
    pub fn is_network(&self) -> bool {
        self.parts().iter().any(|k| {
            matches!(
                k,
                FaultKind::Partition(_)
                    | FaultKind::Loss
                    | FaultKind::Delay
                    | FaultKind::Reorder
                    | FaultKind::Duplicate
            )
        })
    }

    /// Whether this kind holds packets back (delay or reorder, alone or composed).
    pub fn delays_packets(&self) -> bool {
        self.parts()
            .iter()
            .any(|k| matches!(k, FaultKind::Delay | FaultKind::Reorder))
    }

    /// The fewest nodes this kind is meaningful for.
    pub fn min_nodes(&self) -> usize {
        match self {
            FaultKind::Partition(p) => p.min_nodes(),
            FaultKind::Loss | FaultKind::Delay | FaultKind::Reorder | FaultKind::Duplicate => 2,
            FaultKind::Membership => 3,
            FaultKind::Composed(parts) => parts.iter().map(FaultKind::min_nodes).max().unwrap_or(1),
            _ => 1,
        }
    }

    /// Builds a composition, refusing what cannot work. The first part must single
    /// out nodes (a partition other than a ring, a pause, a clock fault); the parts
    /// after it act on those nodes, so each must be node-targeted (kill, pause, a
    /// clock or packet fault), a kill only last (nothing acts on a dead node), with at
    /// most one process part and one clock part. `item` names the composition in
    /// errors, as the user wrote it.
    pub fn compose(parts: Vec<FaultKind>, item: &str) -> Result<FaultKind, ParseKindError> {
        let refuse = |reason: String| ParseKindError::Composition {
            item: item.to_string(),
            reason,
        };
        if parts.len() < 2 {
            return Err(refuse("a composition needs at least two parts".into()));
        }
        for (i, part) in parts.iter().enumerate() {
            let name = part.name();
            let why_not = match (i, part) {
                (_, FaultKind::Composed(_)) => Some("compositions cannot be nested".to_string()),
                (0, FaultKind::Partition(PartitionKind::Ring)) => Some(format!(
                    "{name} singles out no nodes (every node sees a different majority), so the parts after it would have none to act on"
                )),
                (0, FaultKind::Kill | FaultKind::KillAll | FaultKind::KillLeader | FaultKind::PowerLoss | FaultKind::PowerLossAll | FaultKind::PowerLossLeader | FaultKind::TornWrite) => Some(format!(
                    "{name} kills the nodes it singles out, so nothing after it can act on them (put a kill last, e.g. partition-leader+kill)"
                )),
                (0, FaultKind::Loss | FaultKind::Delay | FaultKind::Reorder | FaultKind::Duplicate) => Some(format!(
                    "{name} acts on links, not nodes, so it singles out none for the parts after it (put it after a part that does, e.g. partition-one+{name})"
                )),
                (0, FaultKind::Membership) => Some(format!(
                    "{name} singles out no nodes for the parts after it; put it after a part that does (e.g. partition-halves+{name}, which changes the membership while the partition is in force)"
                )),
                (0, _) => None,
                (_, FaultKind::Partition(_)) => Some(format!(
                    "{name} can only be the first part: the parts after the first act on the nodes it singled out"
                )),
                (_, FaultKind::KillLeader | FaultKind::PauseLeader | FaultKind::PowerLossLeader) => Some(format!(
                    "{name} can only be the first part: the parts after the first act on the nodes it singled out, not on the leader"
                )),
                (_, FaultKind::KillAll | FaultKind::PowerLossAll) => Some(format!(
                    "{name} acts on every node, not on the nodes the first part singled out"
                )),
                _ => None,
            };
            if let Some(reason) = why_not {
                return Err(refuse(reason));
            }
            if parts[..i].contains(part) {
                return Err(refuse(format!("{name} appears twice")));
            }
            let kills = matches!(
                part,
                FaultKind::Kill | FaultKind::PowerLoss | FaultKind::TornWrite
            );
            if i + 1 < parts.len() && kills {
                return Err(refuse(format!(
                    "{name} must be the last part: the nodes it kills are down until the heal, so {} would act on nothing",
                    parts[i + 1].name()
                )));
            }
        }
        let process = |k: &FaultKind| {
            matches!(
                k,
                FaultKind::Kill
                    | FaultKind::KillLeader
                    | FaultKind::Pause
                    | FaultKind::PauseLeader
                    | FaultKind::PowerLoss
                    | FaultKind::TornWrite
            )
        };
        let count = |pred: &dyn Fn(&FaultKind) -> bool| parts.iter().filter(|k| pred(k)).count();
        if count(&process) > 1 {
            return Err(refuse(
                "at most one process part (kill, pause, kill-leader, pause-leader, power-loss, torn-write)".into(),
            ));
        }
        if count(&|k| k.is_clock()) > 1 {
            return Err(refuse(
                "at most one clock part (clock-bump or clock-strobe)".into(),
            ));
        }
        Ok(FaultKind::Composed(parts))
    }

    /// Parses one item of a list that is a single kind or a composition (`a+b`), not a
    /// group.
    fn parse_item(item: &str) -> Result<FaultKind, ParseKindError> {
        if !item.contains('+') {
            return FaultKind::all()
                .into_iter()
                .find(|k| k.name() == item)
                .ok_or_else(|| ParseKindError::Unknown {
                    name: item.to_string(),
                    valid: FaultKind::valid_names(),
                });
        }
        let mut parts = Vec::new();
        for raw in item.split('+') {
            let part = raw.trim();
            if part.is_empty() {
                return Err(ParseKindError::Composition {
                    item: item.to_string(),
                    reason: "an empty part (write kinds joined by +, e.g. pause-leader+clock-bump)"
                        .into(),
                });
            }
            if GROUPS.iter().any(|(g, _)| *g == part) {
                return Err(ParseKindError::Composition {
                    item: item.to_string(),
                    reason: format!(
                        "{part} is a group; only single kinds can be composed (e.g. pause-leader+clock-bump)"
                    ),
                });
            }
            match FaultKind::all().into_iter().find(|k| k.name() == part) {
                Some(k) => parts.push(k),
                None => {
                    let singles: Vec<String> =
                        FaultKind::all().iter().map(FaultKind::name).collect();
                    return Err(ParseKindError::Composition {
                        item: item.to_string(),
                        reason: format!(
                            "unknown part {part:?}; parts are single kinds: {}",
                            singles.join(", ")
                        ),
                    });
                }
            }
        }
        FaultKind::compose(parts, item)
    }

    /// Parses a comma-separated list of kind and group names (`partition-ring,kill`,
    /// `partition,clock`), where an item may also be a composition of single kinds
    /// (`pause-leader+clock-bump`). Groups expand to the kinds `node_count` allows; a
    /// kind named explicitly that needs more nodes is an error. Duplicates are
    /// removed, order kept.
    pub fn parse_list(list: &str, node_count: usize) -> Result<Vec<FaultKind>, ParseKindError> {
        let mut out: Vec<FaultKind> = Vec::new();
        let push = |k: FaultKind, out: &mut Vec<FaultKind>| {
            if !out.contains(&k) {
                out.push(k);
            }
        };
        for raw in list.split(',') {
            let name = raw.trim();
            if name.is_empty() {
                continue;
            }
            let group: Option<Vec<FaultKind>> = match name {
                "partition" => Some(
                    PartitionKind::ALL
                        .iter()
                        .map(|k| FaultKind::Partition(*k))
                        .collect(),
                ),
                "process" => Some(vec![
                    FaultKind::Kill,
                    FaultKind::KillAll,
                    FaultKind::KillLeader,
                    FaultKind::Pause,
                    FaultKind::PauseLeader,
                ]),
                "clock" => Some(vec![FaultKind::ClockBump, FaultKind::ClockStrobe]),
                "packet" => Some(vec![
                    FaultKind::Loss,
                    FaultKind::Delay,
                    FaultKind::Reorder,
                    FaultKind::Duplicate,
                ]),
                "disk" => Some(FaultKind::DISK.to_vec()),
                "all" => Some(
                    FaultKind::all()
                        .into_iter()
                        .filter(|k| !k.is_disk() && *k != FaultKind::Membership)
                        .collect(),
                ),
                "none" => Some(Vec::new()),
                _ => None,
            };
            if let Some(kinds) = group {
                for k in kinds.into_iter().filter(|k| k.min_nodes() <= node_count) {
                    push(k, &mut out);
                }
                continue;
            }
            let kind = FaultKind::parse_item(name)?;
            if kind.min_nodes() > node_count {
                return Err(ParseKindError::TooFewNodes {
                    kind: kind.name(),
                    needs: kind.min_nodes(),
                    nodes: node_count,
                });
            }
            push(kind, &mut out);
        }
        Ok(out)
    }

    /// Every name [`FaultKind::parse_list`] accepts, for help texts and errors.
    pub fn valid_names() -> String {
        let mut names: Vec<String> = GROUPS.iter().map(|(g, _)| g.to_string()).collect();
        names.extend(FaultKind::all().iter().map(FaultKind::name));
        names.push("A+B (a composition, e.g. pause-leader+clock-bump)".into());
        names.join(", ")
    }

    /// The group names with what each expands to.
    pub fn groups() -> &'static [(&'static str, &'static str)] {
        GROUPS
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for FaultKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for FaultKind {
    type Err = ParseKindError;

    /// One single kind or one composition (not a group).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::parse_item(s.trim())
    }
}

/// Why a list of fault kind names was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseKindError {
    #[error("unknown nemesis fault {name:?}; valid names: {valid}")]
    Unknown { name: String, valid: String },
    #[error("nemesis fault {kind} needs at least {needs} nodes, the cluster has {nodes}")]
    TooFewNodes {
        kind: String,
        needs: usize,
        nodes: usize,
    },
    /// A composition (`a+b`) that cannot work, with the reason.
    #[error("cannot compose nemesis fault {item:?}: {reason}")]
    Composition { item: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_name_round_trips() {
        for k in FaultKind::all() {
            assert_eq!(k.name().parse::<FaultKind>().unwrap(), k);
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<FaultKind>(&json).unwrap(), k);
        }
    }

    #[test]
    fn groups_expand_and_respect_node_count() {
        let kinds = FaultKind::parse_list("partition", 3).unwrap();
        assert!(kinds.contains(&FaultKind::Partition(PartitionKind::Bridge)));
        assert!(
            !kinds.contains(&FaultKind::Partition(PartitionKind::Ring)),
            "ring needs 4 nodes"
        );
        let kinds = FaultKind::parse_list("partition, kill,partition-halves,clock", 5).unwrap();
        assert_eq!(kinds.len(), 7 + 1 + 2);
        assert_eq!(FaultKind::parse_list("none", 5).unwrap(), vec![]);
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = FaultKind::parse_list("kill,partiton", 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"partiton\""), "{err}");
        assert!(
            err.contains("partition-one-way") && err.contains("duplicate"),
            "{err}"
        );
    }

    #[test]
    fn explicit_kind_needing_more_nodes_is_refused() {
        let err = FaultKind::parse_list("partition-ring", 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 4 nodes"), "{err}");
    }

    #[test]
    fn faults_serialize_with_a_tag_for_the_history() {
        let f = Fault::Packet {
            kind: PacketKind::Delay {
                ms: 100,
                jitter_ms: 20,
            },
            links: vec![Link {
                from: "n1".into(),
                to: "n2".into(),
            }],
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["fault"], "packet");
        assert_eq!(v["kind"]["type"], "delay");
        let back: Fault = serde_json::from_value(v).unwrap();
        assert_eq!(back, f);
        assert_eq!(f.start_name(), "start-delay");
        assert_eq!(f.stop_name(), "stop-delay");
    }

    #[test]
    fn compositions_parse_round_trip_and_count_as_one_item() {
        let kinds = FaultKind::parse_list(
            "pause-leader+clock-bump, partition-leader + clock-bump,pause",
            5,
        )
        .unwrap();
        assert_eq!(
            kinds,
            vec![
                FaultKind::Composed(vec![FaultKind::PauseLeader, FaultKind::ClockBump]),
                FaultKind::Composed(vec![
                    FaultKind::Partition(PartitionKind::Leader),
                    FaultKind::ClockBump
                ]),
                FaultKind::Pause,
            ]
        );
        assert_eq!(kinds[1].name(), "partition-leader+clock-bump");
        let json = serde_json::to_string(&kinds).unwrap();
        assert_eq!(
            json,
            r#"["pause-leader+clock-bump","partition-leader+clock-bump","pause"]"#
        );
        assert_eq!(
            serde_json::from_str::<Vec<FaultKind>>(&json).unwrap(),
            kinds
        );
        assert!(kinds[0].is_clock() && !kinds[0].is_network());
        assert!(kinds[1].is_clock() && kinds[1].is_network());
        let big = FaultKind::parse_list("partition-bridge+delay", 5).unwrap();
        assert_eq!(big[0].min_nodes(), 3);
        assert!(big[0].delays_packets());
        let e = FaultKind::parse_list("partition-bridge+delay", 2).unwrap_err();
        assert!(e.to_string().contains("at least 3 nodes"), "{e}");
    }

    #[test]
    fn nonsense_compositions_are_refused_naming_the_item() {
        let err = |list: &str| FaultKind::parse_list(list, 5).unwrap_err().to_string();
        let cases = [
            (
                "pause,pause-leadr+clock-bump",
                "unknown part \"pause-leadr\"",
            ),
            (
                "kill-all+clock-bump",
                "kill-all kills the nodes it singles out",
            ),
            ("kill+pause", "kill kills the nodes it singles out"),
            ("pause-leader+clock", "clock is a group"),
            ("process+clock-bump", "process is a group"),
            ("pause-leader+", "an empty part"),
            ("partition-ring+clock-bump", "singles out no nodes"),
            ("loss+clock-bump", "acts on links, not nodes"),
            (
                "pause+partition-one",
                "partition-one can only be the first part",
            ),
            (
                "partition-one+pause-leader",
                "pause-leader can only be the first part",
            ),
            ("pause+kill-all", "kill-all acts on every node"),
            (
                "partition-one+clock-bump+clock-bump",
                "clock-bump appears twice",
            ),
            (
                "partition-one+kill+clock-bump",
                "kill must be the last part",
            ),
            ("pause-leader+pause", "at most one process part"),
            (
                "partition-one+clock-bump+clock-strobe",
                "at most one clock part",
            ),
        ];
        for (list, want) in cases {
            let e = err(list);
            let item = list.rsplit(',').next().unwrap();
            assert!(
                e.contains(want) && e.contains(&format!("{item:?}")),
                "{list}: {e}"
            );
        }
        // What is allowed.
        for ok in [
            "pause-leader+clock-bump",
            "partition-leader+clock-bump",
            "partition-halves+kill",
            "partition-one-way+delay+loss",
            "clock-bump+pause",
            "pause+clock-strobe+duplicate",
            "partition-leader+clock-bump+kill",
        ] {
            FaultKind::parse_list(ok, 5).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn the_process_group_has_the_leader_kinds_and_all_has_no_compositions() {
        let p = FaultKind::parse_list("process", 3).unwrap();
        assert_eq!(
            p,
            vec![
                FaultKind::Kill,
                FaultKind::KillAll,
                FaultKind::KillLeader,
                FaultKind::Pause,
                FaultKind::PauseLeader
            ]
        );
        let all = FaultKind::parse_list("all", 5).unwrap();
        assert!(all.iter().all(|k| !matches!(k, FaultKind::Composed(_))));
        assert_eq!(all.len(), 7 + 5 + 2 + 4);
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn split(kind: PartitionKind, a: &[&str], b: &[&str]) -> Fault {
        let mut grudge = Grudge::new();
        for x in a {
            grudge.insert(x.to_string(), names(b));
        }
        for x in b {
            grudge.insert(x.to_string(), names(a));
        }
        Fault::Partition {
            kind,
            grudge,
            leader: None,
        }
    }

    #[test]
    fn partitions_single_out_the_cut_off_side() {
        let all = names(&["n1", "n2", "n3", "n4", "n5"]);
        let one = split(PartitionKind::Leader, &["n3"], &["n1", "n2", "n4", "n5"]);
        assert_eq!(one.singled_out(&all), names(&["n3"]));
        let halves = split(PartitionKind::Halves, &["n1", "n4", "n5"], &["n2", "n3"]);
        assert_eq!(halves.singled_out(&all), names(&["n2", "n3"]));
        let halves = split(PartitionKind::Halves, &["n1", "n4"], &["n2", "n3", "n5"]);
        assert_eq!(halves.singled_out(&all), names(&["n1", "n4"]));
        // A tie: the side without the first node.
        let four = names(&["n1", "n2", "n3", "n4"]);
        let tie = split(PartitionKind::Random, &["n1", "n3"], &["n2", "n4"]);
        assert_eq!(tie.singled_out(&four), names(&["n2", "n4"]));
        let one_way = Fault::Partition {
            kind: PartitionKind::OneWay,
            grudge: Grudge::from([("n2".to_string(), names(&["n1", "n3"]))]),
            leader: None,
        };
        assert_eq!(
            one_way.singled_out(&names(&["n1", "n2", "n3"])),
            names(&["n2"])
        );
        let mut bridge = split(PartitionKind::Bridge, &["n1", "n2"], &["n4", "n5"]);
        assert_eq!(bridge.singled_out(&all), names(&["n3"]));
        if let Fault::Partition { kind, .. } = &mut bridge {
            *kind = PartitionKind::Ring;
        }
        assert!(bridge.singled_out(&all).is_empty());
    }

    #[test]
    fn later_parts_are_narrowed_to_the_singled_out_nodes() {
        let bump = Fault::ClockBump {
            deltas_ms: BTreeMap::from([
                ("n1".to_string(), -7_000),
                ("n2".to_string(), -9_000),
                ("n3".to_string(), -11_000),
            ]),
        };
        assert_eq!(
            bump.narrowed_to(&names(&["n2"])),
            Fault::ClockBump {
                deltas_ms: BTreeMap::from([("n2".to_string(), -9_000)])
            }
        );
        let link = |a: &str, b: &str| Link {
            from: a.into(),
            to: b.into(),
        };
        let delay = Fault::Packet {
            kind: PacketKind::Delay {
                ms: 100,
                jitter_ms: 0,
            },
            links: vec![link("n1", "n2"), link("n2", "n3"), link("n3", "n1")],
        };
        let Fault::Packet { links, .. } = delay.narrowed_to(&names(&["n1"])) else {
            panic!()
        };
        assert_eq!(links, vec![link("n1", "n2"), link("n3", "n1")]);
        let pause = Fault::Pause {
            nodes: names(&["n1", "n2", "n3"]),
        };
        assert_eq!(
            pause.narrowed_to(&names(&["n3"])),
            Fault::Pause {
                nodes: names(&["n3"])
            }
        );
    }

    #[test]
    fn a_composed_fault_names_and_records_every_part() {
        let f = Fault::Composed {
            faults: vec![
                Fault::PauseLeader {
                    nodes: names(&["n2"]),
                    leader: Some("n2".into()),
                },
                Fault::ClockBump {
                    deltas_ms: BTreeMap::from([("n2".to_string(), -12_000)]),
                },
            ],
        };
        assert_eq!(f.start_name(), "pause+clock-bump");
        assert_eq!(f.stop_name(), "resume+clock-reset");
        assert_eq!(
            f.describe(),
            "paused n2 (the leader) + clocks bumped n2-12000ms"
        );
        assert_eq!(f.singled_out(&names(&["n1", "n2", "n3"])), names(&["n2"]));
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"fault": "composed", "faults": [
                {"fault": "pause-leader", "nodes": ["n2"], "leader": "n2"},
                {"fault": "clock-bump", "deltas_ms": {"n2": -12000}},
            ]})
        );
        assert_eq!(serde_json::from_value::<Fault>(v).unwrap(), f);
        let fallback = Fault::KillLeader {
            nodes: names(&["n1"]),
            leader: None,
        };
        assert_eq!(
            serde_json::to_value(&fallback).unwrap(),
            serde_json::json!({"fault": "kill-leader", "nodes": ["n1"]})
        );
        assert_eq!(
            (
                fallback.start_name().as_str(),
                fallback.stop_name().as_str()
            ),
            ("kill", "restart")
        );
        assert!(fallback.describe().contains("no leader reported"));
    }

    #[test]
    fn the_disk_group_names_the_disk_kinds_and_all_leaves_them_out() {
        assert_eq!(
            FaultKind::parse_list("disk", 3).unwrap(),
            FaultKind::DISK.to_vec()
        );
        let all = FaultKind::parse_list("all", 5).unwrap();
        assert!(all.iter().all(|k| !k.is_disk()), "{all:?}");
        assert!(!all.contains(&FaultKind::Membership), "{all:?}");
        // File damage is in the group but needs no lazy filesystem.
        assert!(FaultKind::Truncate.is_disk() && !FaultKind::Truncate.needs_lazy_disk());
        assert!("corrupt+kill".parse::<FaultKind>().unwrap().is_disk());
        assert!("partition-halves+power-loss"
            .parse::<FaultKind>()
            .unwrap()
            .needs_lazy_disk());
        assert!(FaultKind::parse_list("partition,power-loss", 5).unwrap()[7].is_disk());
    }

    #[test]
    fn a_power_loss_composes_as_a_kill_does() {
        let k: FaultKind = "partition-halves+power-loss".parse().unwrap();
        assert!(k.is_disk() && k.is_network());
        assert!("pause+lose-unsynced".parse::<FaultKind>().is_ok());
        for (item, why) in [
            ("power-loss+clock-bump", "kills the nodes it singles out"),
            (
                "partition-one+power-loss+clock-bump",
                "power-loss must be the last part",
            ),
            ("partition-one+power-loss-all", "acts on every node"),
            (
                "power-loss-leader+clock-bump",
                "kills the nodes it singles out",
            ),
            (
                "partition-one+power-loss-leader",
                "can only be the first part",
            ),
            ("pause+torn-write", "at most one process part"),
        ] {
            let e = item.parse::<FaultKind>().unwrap_err().to_string();
            assert!(e.contains(why), "{item}: {e}");
        }
    }

    #[test]
    fn disk_faults_start_and_heal_under_their_own_names() {
        let n = vec!["n1".to_string()];
        let names = |f: Fault| (f.start_name(), f.stop_name());
        assert_eq!(
            names(Fault::PowerLoss { nodes: n.clone() }),
            ("power-loss".into(), "restart".into())
        );
        assert_eq!(
            names(Fault::PowerLossAll { nodes: n.clone() }),
            ("power-loss-all".into(), "restart-all".into())
        );
        assert_eq!(
            names(Fault::TornWrite { nodes: n.clone() }),
            ("torn-write".into(), "restart".into())
        );
        assert_eq!(
            names(Fault::LoseUnsynced { nodes: n.clone() }),
            ("lose-unsynced".into(), "stop-lose-unsynced".into())
        );
        let json = serde_json::to_string(&Fault::PowerLoss { nodes: n }).unwrap();
        assert_eq!(json, r#"{"fault":"power-loss","nodes":["n1"]}"#);
    }
}
