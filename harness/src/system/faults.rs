//! The faults a system supports, in coarse classes: a system declares which classes
//! make sense for it (`faults = [...]` in a system file), and the nemesis's fault
//! kinds map onto them. The default fault set of a test is the default kinds the
//! system supports.

use std::fmt;

/// A class of faults, as a system declares support for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultClass {
    Partition,
    Kill,
    Pause,
    Clock,
    Packet,
    /// Removing and adding members through the system's admin interface.
    Membership,
}

impl FaultClass {
    pub const ALL: [FaultClass; 6] = [
        FaultClass::Partition,
        FaultClass::Kill,
        FaultClass::Pause,
        FaultClass::Clock,
        FaultClass::Packet,
        FaultClass::Membership,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultClass::Partition => "partition",
            FaultClass::Kill => "kill",
            FaultClass::Pause => "pause",
            FaultClass::Clock => "clock",
            FaultClass::Packet => "packet",
            FaultClass::Membership => "membership",
        }
    }

    pub fn parse(s: &str) -> Option<FaultClass> {
        FaultClass::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for FaultClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The faults a system supports. Clock faults are opt-in because libfaketime only
/// moves clocks read through libc: a Go binary, or anything reading the vDSO or
/// `rdtsc` itself, would silently ignore them and the test would prove nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSet {
    pub partition: bool,
    pub kill: bool,
    pub pause: bool,
    pub clock: bool,
    pub packet: bool,
    /// Only where the harness knows how to change the membership: raft-kv, etcd, a
    /// system file with `[membership]` commands.
    pub membership: bool,
}

impl FaultSet {
    pub const ALL: FaultSet = FaultSet {
        partition: true,
        kill: true,
        pause: true,
        clock: true,
        packet: true,
        membership: true,
    };
    /// Everything but clock faults: the default for a system described by a file.
    pub const ALL_BUT_CLOCK: FaultSet = FaultSet {
        clock: false,
        membership: false,
        ..FaultSet::ALL
    };

    pub fn supports(&self, kind: FaultClass) -> bool {
        match kind {
            FaultClass::Partition => self.partition,
            FaultClass::Kill => self.kill,
            FaultClass::Pause => self.pause,
            FaultClass::Clock => self.clock,
            FaultClass::Packet => self.packet,
            FaultClass::Membership => self.membership,
        }
    }

    pub fn kinds(&self) -> Vec<FaultClass> {
        FaultClass::ALL
            .into_iter()
            .filter(|k| self.supports(*k))
            .collect()
    }

    pub(crate) fn from_classes(classes: &[FaultClass]) -> FaultSet {
        let has = |k| classes.contains(&k);
        FaultSet {
            partition: has(FaultClass::Partition),
            kill: has(FaultClass::Kill),
            pause: has(FaultClass::Pause),
            clock: has(FaultClass::Clock),
            packet: has(FaultClass::Packet),
            membership: has(FaultClass::Membership),
        }
    }
}

/// The classes a nemesis kind needs: one for a single kind, one per part for a
/// composition.
pub fn classes_of(kind: &nemesis::FaultKind) -> Vec<FaultClass> {
    use nemesis::FaultKind as K;
    match kind {
        K::Partition(_) => vec![FaultClass::Partition],
        // Disk faults kill (or, for lose-unsynced, wound) a node that must come
        // back from what it made durable: the same support as kills.
        K::Kill | K::KillAll | K::KillLeader => vec![FaultClass::Kill],
        K::PowerLoss | K::PowerLossAll | K::PowerLossLeader | K::LoseUnsynced | K::TornWrite => {
            vec![FaultClass::Kill]
        }
        K::Pause | K::PauseLeader => vec![FaultClass::Pause],
        K::ClockBump | K::ClockStrobe => vec![FaultClass::Clock],
        K::Loss | K::Delay | K::Reorder | K::Duplicate => vec![FaultClass::Packet],
        K::Membership => vec![FaultClass::Membership],
        // Any system writes its data directory; whether it notices damage is the test.
        K::Corrupt | K::Truncate => Vec::new(),
        K::Composed(parts) => parts.iter().flat_map(classes_of).collect(),
    }
}

impl FaultSet {
    /// Whether every class `kind` needs is supported.
    pub fn allows(&self, kind: &nemesis::FaultKind) -> bool {
        classes_of(kind).into_iter().all(|c| self.supports(c))
    }

    /// The supported classes, comma-separated, or `none`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.kinds().iter().map(|k| k.name()).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

/// The fault kinds of a test that gives no `--nemesis`: partitions, kills and pauses,
/// those of them the system supports, and the ones left out (so the run can say so).
pub fn default_kinds(
    set: &FaultSet,
    nodes: usize,
) -> (Vec<nemesis::FaultKind>, Vec<nemesis::FaultKind>) {
    let all = nemesis::FaultKind::parse_list(DEFAULT_NEMESIS, nodes).unwrap_or_default();
    all.into_iter().partition(|k| set.allows(k))
}

/// The nemesis of a test that names none.
pub const DEFAULT_NEMESIS: &str = "partition,kill,pause";
