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
    /// SIGSTOP these nodes; healed by SIGCONT.
    Pause { nodes: Vec<String> },
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
}

impl Fault {
    /// The history's `f` for this fault's start event.
    pub fn start_name(&self) -> String {
        match self {
            Fault::Partition { .. } => "start-partition".into(),
            Fault::Kill { .. } => "kill".into(),
            Fault::KillAll { .. } => "kill-all".into(),
            Fault::Pause { .. } => "pause".into(),
            Fault::ClockBump { .. } => "clock-bump".into(),
            Fault::ClockStrobe { .. } => "clock-strobe".into(),
            Fault::Packet { kind, .. } => format!("start-{}", kind.name()),
        }
    }

    /// The history's `f` for the event that heals this fault.
    pub fn stop_name(&self) -> String {
        match self {
            Fault::Partition { .. } => "stop-partition".into(),
            Fault::Kill { .. } => "restart".into(),
            Fault::KillAll { .. } => "restart-all".into(),
            Fault::Pause { .. } => "resume".into(),
            Fault::ClockBump { .. } | Fault::ClockStrobe { .. } => "clock-reset".into(),
            Fault::Packet { kind, .. } => format!("stop-{}", kind.name()),
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
            Fault::Pause { nodes } => format!("paused {}", nodes.join(",")),
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
        }
    }
}

/// A fault a user can ask the schedule for. Serialized as its name (`partition-ring`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    Partition(PartitionKind),
    Kill,
    KillAll,
    Pause,
    ClockBump,
    ClockStrobe,
    Loss,
    Delay,
    Reorder,
    Duplicate,
}

/// Group names that expand to several kinds, with what they expand to.
const GROUPS: &[(&str, &str)] = &[
    ("partition", "every partition-* kind the node count allows"),
    ("process", "kill, kill-all, pause"),
    ("clock", "clock-bump, clock-strobe"),
    ("packet", "loss, delay, reorder, duplicate"),
    ("all", "every kind the node count allows"),
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
            FaultKind::Pause,
            FaultKind::ClockBump,
            FaultKind::ClockStrobe,
            FaultKind::Loss,
            FaultKind::Delay,
            FaultKind::Reorder,
            FaultKind::Duplicate,
        ]);
        v
    }

    /// The name users type and events carry.
    pub fn name(self) -> String {
        match self {
            FaultKind::Partition(p) => format!("partition-{}", p.suffix()),
            FaultKind::Kill => "kill".into(),
            FaultKind::KillAll => "kill-all".into(),
            FaultKind::Pause => "pause".into(),
            FaultKind::ClockBump => "clock-bump".into(),
            FaultKind::ClockStrobe => "clock-strobe".into(),
            FaultKind::Loss => "loss".into(),
            FaultKind::Delay => "delay".into(),
            FaultKind::Reorder => "reorder".into(),
            FaultKind::Duplicate => "duplicate".into(),
        }
    }

    pub fn is_clock(self) -> bool {
        matches!(self, FaultKind::ClockBump | FaultKind::ClockStrobe)
    }

    /// Whether this kind needs iptables inside the node namespaces.
    pub fn is_network(self) -> bool {
        matches!(
            self,
            FaultKind::Partition(_)
                | FaultKind::Loss
                | FaultKind::Delay
                | FaultKind::Reorder
                | FaultKind::Duplicate
        )
    }

    /// The fewest nodes this kind is meaningful for.
    pub fn min_nodes(self) -> usize {
        match self {
            FaultKind::Partition(p) => p.min_nodes(),
            FaultKind::Loss | FaultKind::Delay | FaultKind::Reorder | FaultKind::Duplicate => 2,
            _ => 1,
        }
    }

    /// Parses a comma-separated list of kind and group names (`partition-ring,kill`,
    /// `partition,clock`). Groups expand to the kinds `node_count` allows; a kind named
    /// explicitly that needs more nodes is an error. Duplicates are removed, order kept.
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
                "process" => Some(vec![FaultKind::Kill, FaultKind::KillAll, FaultKind::Pause]),
                "clock" => Some(vec![FaultKind::ClockBump, FaultKind::ClockStrobe]),
                "packet" => Some(vec![
                    FaultKind::Loss,
                    FaultKind::Delay,
                    FaultKind::Reorder,
                    FaultKind::Duplicate,
                ]),
                "all" => Some(FaultKind::all()),
                "none" => Some(Vec::new()),
                _ => None,
            };
            if let Some(kinds) = group {
                for k in kinds.into_iter().filter(|k| k.min_nodes() <= node_count) {
                    push(k, &mut out);
                }
                continue;
            }
            let kind = name.parse::<FaultKind>()?;
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
        names.extend(FaultKind::all().into_iter().map(FaultKind::name));
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

    /// One single kind (not a group).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::all()
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| ParseKindError::Unknown {
                name: s.to_string(),
                valid: FaultKind::valid_names(),
            })
    }
}

/// Why a list of fault kind names was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseKindError {
    Unknown {
        name: String,
        valid: String,
    },
    TooFewNodes {
        kind: String,
        needs: usize,
        nodes: usize,
    },
}

impl fmt::Display for ParseKindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseKindError::Unknown { name, valid } => {
                write!(f, "unknown nemesis fault {name:?}; valid names: {valid}")
            }
            ParseKindError::TooFewNodes { kind, needs, nodes } => {
                write!(
                    f,
                    "nemesis fault {kind} needs at least {needs} nodes, the cluster has {nodes}"
                )
            }
        }
    }
}

impl std::error::Error for ParseKindError {}

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
}
