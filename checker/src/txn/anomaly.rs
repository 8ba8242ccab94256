//! The anomalies, named as Adya and Elle name them, and the isolation models each
//! rules out.
//!
//! A model is ruled out when it proscribes an anomaly found, and so is every model
//! stronger than it: [`IsolationModel::implies`] is the hierarchy, strongest at the
//! top (strict serializable) and read uncommitted at the bottom. Serializable is not
//! drawn above snapshot isolation (write skew is serializable's to forbid, but
//! snapshot isolation's start-order rules are not serializability's); each anomaly
//! names both where both forbid it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The isolation models, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsolationModel {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    SnapshotIsolation,
    StrongSessionSnapshotIsolation,
    StrongSnapshotIsolation,
    Serializable,
    StrongSessionSerializable,
    StrictSerializable,
}

use IsolationModel::*;

impl IsolationModel {
    pub const ALL: [IsolationModel; 9] = [
        ReadUncommitted,
        ReadCommitted,
        RepeatableRead,
        SnapshotIsolation,
        StrongSessionSnapshotIsolation,
        StrongSnapshotIsolation,
        Serializable,
        StrongSessionSerializable,
        StrictSerializable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReadUncommitted => "read uncommitted",
            ReadCommitted => "read committed",
            RepeatableRead => "repeatable read",
            SnapshotIsolation => "snapshot isolation",
            StrongSessionSnapshotIsolation => "strong session snapshot isolation",
            StrongSnapshotIsolation => "strong snapshot isolation",
            Serializable => "serializable",
            StrongSessionSerializable => "strong session serializable",
            StrictSerializable => "strict serializable",
        }
    }

    /// The models this one directly implies (the next ones down the hierarchy).
    pub fn implies(self) -> &'static [IsolationModel] {
        match self {
            ReadUncommitted => &[],
            ReadCommitted => &[ReadUncommitted],
            RepeatableRead | SnapshotIsolation => &[ReadCommitted],
            StrongSessionSnapshotIsolation => &[SnapshotIsolation],
            StrongSnapshotIsolation => &[StrongSessionSnapshotIsolation],
            Serializable => &[RepeatableRead],
            StrongSessionSerializable => &[Serializable, StrongSessionSnapshotIsolation],
            StrictSerializable => &[StrongSessionSerializable, StrongSnapshotIsolation],
        }
    }

    /// True when `self` implies `other` (reflexive, transitive).
    pub fn implies_model(self, other: IsolationModel) -> bool {
        self == other || self.implies().iter().any(|m| m.implies_model(other))
    }
}

impl fmt::Display for IsolationModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which extra orders a dependency cycle needed besides ww/wr/rw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Realm {
    /// Data dependencies only.
    Data,
    /// Also a process's own order.
    Process,
    /// Also real-time order.
    Realtime,
}

/// The shape of a dependency cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum CycleShape {
    /// Only write dependencies.
    G0,
    /// Write and read dependencies.
    G1c,
    /// Exactly one anti-dependency.
    GSingle,
    /// Several anti-dependencies, no two adjacent.
    GNonadjacent,
    /// Anti-dependencies, some adjacent.
    G2Item,
}

/// An anomaly kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub enum AnomalyKind {
    Cycle(CycleShape, Realm),
    /// A read of a value written by a transaction that failed.
    G1a,
    /// A read of a version a transaction wrote but then overwrote itself.
    G1b,
    InternalInconsistency,
    LostUpdate,
    DuplicateElements,
    GarbageRead,
    IncompatibleOrder,
    DirtyUpdate,
}

impl From<AnomalyKind> for String {
    fn from(k: AnomalyKind) -> String {
        k.name()
    }
}

impl AnomalyKind {
    /// The name Elle uses (`G-single-realtime`, `incompatible-order`).
    pub fn name(self) -> String {
        match self {
            AnomalyKind::Cycle(shape, realm) => {
                let base = match shape {
                    CycleShape::G0 => "G0",
                    CycleShape::G1c => "G1c",
                    CycleShape::GSingle => "G-single",
                    CycleShape::GNonadjacent => "G-nonadjacent",
                    CycleShape::G2Item => "G2-item",
                };
                match realm {
                    Realm::Data => base.to_string(),
                    Realm::Process => format!("{base}-process"),
                    Realm::Realtime => format!("{base}-realtime"),
                }
            }
            AnomalyKind::G1a => "G1a".into(),
            AnomalyKind::G1b => "G1b".into(),
            AnomalyKind::InternalInconsistency => "internal".into(),
            AnomalyKind::LostUpdate => "lost-update".into(),
            AnomalyKind::DuplicateElements => "duplicate-elements".into(),
            AnomalyKind::GarbageRead => "garbage-read".into(),
            AnomalyKind::IncompatibleOrder => "incompatible-order".into(),
            AnomalyKind::DirtyUpdate => "dirty-update".into(),
        }
    }

    /// What the anomaly is, in words.
    pub fn meaning(self) -> &'static str {
        match self {
            AnomalyKind::Cycle(CycleShape::G0, _) => "write cycle",
            AnomalyKind::Cycle(CycleShape::G1c, _) => "circular information flow",
            AnomalyKind::Cycle(CycleShape::GSingle, _) => "read skew (one anti-dependency)",
            AnomalyKind::Cycle(CycleShape::GNonadjacent, _) => {
                "anti-dependency cycle, no two anti-dependencies adjacent"
            }
            AnomalyKind::Cycle(CycleShape::G2Item, _) => "anti-dependency cycle (write skew)",
            AnomalyKind::G1a => "aborted read",
            AnomalyKind::G1b => "intermediate read",
            AnomalyKind::InternalInconsistency => {
                "a transaction disagrees with its own reads or writes"
            }
            AnomalyKind::LostUpdate => "lost update",
            AnomalyKind::DuplicateElements => "an element appears twice in a read",
            AnomalyKind::GarbageRead => "a read of a value nobody wrote",
            AnomalyKind::IncompatibleOrder => "two reads are not prefixes of one another",
            AnomalyKind::DirtyUpdate => "a committed write builds on an aborted one",
        }
    }

    /// The weakest models that forbid this anomaly outright.
    fn proscribed_by(self) -> &'static [IsolationModel] {
        use CycleShape::*;
        match self {
            AnomalyKind::Cycle(shape, Realm::Data) => match shape {
                G0 => &[ReadUncommitted],
                G1c => &[ReadCommitted],
                GSingle | GNonadjacent => &[RepeatableRead, SnapshotIsolation],
                G2Item => &[RepeatableRead],
            },
            AnomalyKind::Cycle(shape, Realm::Process) => match shape {
                G2Item => &[StrongSessionSerializable],
                _ => &[StrongSessionSnapshotIsolation],
            },
            AnomalyKind::Cycle(shape, Realm::Realtime) => match shape {
                G2Item => &[StrictSerializable],
                _ => &[StrongSnapshotIsolation],
            },
            AnomalyKind::G1a | AnomalyKind::G1b | AnomalyKind::DirtyUpdate => &[ReadCommitted],
            AnomalyKind::LostUpdate => &[RepeatableRead, SnapshotIsolation],
            // As Elle (after Cerone): a transaction that does not see its own
            // earlier reads and writes breaks snapshot isolation and serializability,
            // but read committed lets each statement see newer commits, and
            // repeatable read (Adya's PL-2.99) says nothing of it.
            AnomalyKind::InternalInconsistency => &[SnapshotIsolation, Serializable],
            // Two reads no single version order can explain: one of them read
            // state that was never committed in that order, a dirty read (G1a),
            // as Elle reads it.
            AnomalyKind::IncompatibleOrder => &[ReadCommitted],
            AnomalyKind::DuplicateElements | AnomalyKind::GarbageRead => &[ReadUncommitted],
        }
    }

    /// Every model this anomaly rules out: those that proscribe it and every model
    /// stronger than one of them.
    pub fn rules_out(self) -> Vec<IsolationModel> {
        let base = self.proscribed_by();
        IsolationModel::ALL
            .into_iter()
            .filter(|m| base.iter().any(|b| m.implies_model(*b)))
            .collect()
    }
}

/// The models ruled out by the anomalies found, and the weakest of them: those that
/// imply no other ruled-out model.
pub fn ruled_out(
    kinds: impl IntoIterator<Item = AnomalyKind>,
) -> (Vec<IsolationModel>, Vec<IsolationModel>) {
    let mut out: Vec<IsolationModel> = kinds.into_iter().flat_map(|k| k.rules_out()).collect();
    out.sort();
    out.dedup();
    let weakest = out
        .iter()
        .copied()
        .filter(|m| !out.iter().any(|o| o != m && m.implies_model(*o)))
        .collect();
    (out, weakest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_skew_rules_out_serializable_but_not_snapshot_isolation() {
        let (out, weakest) = ruled_out([AnomalyKind::Cycle(CycleShape::G2Item, Realm::Data)]);
        assert!(out.contains(&Serializable) && out.contains(&StrictSerializable));
        assert!(!out.contains(&SnapshotIsolation));
        assert_eq!(weakest, vec![RepeatableRead]);
    }

    #[test]
    fn an_internal_inconsistency_rules_out_snapshot_isolation_and_serializable_but_not_read_committed(
    ) {
        let (out, weakest) = ruled_out([AnomalyKind::InternalInconsistency]);
        assert!(out.contains(&SnapshotIsolation) && out.contains(&Serializable));
        assert!(!out.contains(&ReadCommitted) && !out.contains(&RepeatableRead));
        assert_eq!(weakest, vec![SnapshotIsolation, Serializable]);
        let (_, weakest) = ruled_out([AnomalyKind::IncompatibleOrder]);
        assert_eq!(weakest, vec![ReadCommitted]);
    }

    #[test]
    fn a_realtime_cycle_rules_out_only_the_strong_models() {
        let (out, _) = ruled_out([AnomalyKind::Cycle(CycleShape::G2Item, Realm::Realtime)]);
        assert_eq!(out, vec![StrictSerializable]);
        let (out, weakest) = ruled_out([AnomalyKind::Cycle(CycleShape::GSingle, Realm::Process)]);
        assert_eq!(weakest, vec![StrongSessionSnapshotIsolation]);
        assert!(out.contains(&StrongSessionSerializable) && !out.contains(&Serializable));
    }

    #[test]
    fn a_write_cycle_rules_out_every_model() {
        let (out, weakest) = ruled_out([AnomalyKind::Cycle(CycleShape::G0, Realm::Data)]);
        assert_eq!(out.len(), IsolationModel::ALL.len());
        assert_eq!(weakest, vec![ReadUncommitted]);
    }
}
