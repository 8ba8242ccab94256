//! The checks by name.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A check a test can run on its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    Linearizable,
    Sequential,
    Session,
    Eventual,
    Bank,
    Counter,
    UniqueIds,
    /// Transactional isolation on list-append transactions (Elle's list-append).
    ListAppend,
    /// Transactional isolation on read-write register transactions.
    RwRegister,
    /// Maelstrom's echo: every acknowledged echo returned what was sent.
    Echo,
    /// Maelstrom's kafka: no lost, duplicated or reordered messages, committed
    /// offsets never going backwards (`checker::kafka`).
    Kafka,
}

impl CheckKind {
    pub const ALL: [CheckKind; 11] = [
        CheckKind::Linearizable,
        CheckKind::Sequential,
        CheckKind::Session,
        CheckKind::Eventual,
        CheckKind::Bank,
        CheckKind::Counter,
        CheckKind::UniqueIds,
        CheckKind::ListAppend,
        CheckKind::RwRegister,
        CheckKind::Echo,
        CheckKind::Kafka,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Linearizable => "linearizable",
            CheckKind::Sequential => "sequential",
            CheckKind::Session => "session",
            CheckKind::Eventual => "eventual",
            CheckKind::Bank => "bank",
            CheckKind::Counter => "counter",
            CheckKind::UniqueIds => "unique-ids",
            CheckKind::ListAppend => "list-append",
            CheckKind::RwRegister => "rw-register",
            CheckKind::Echo => "echo",
            CheckKind::Kafka => "kafka",
        }
    }

    /// The transactional isolation checks: they read `txn` operations, whatever the
    /// workload that wrote them.
    pub fn is_transactional(self) -> bool {
        matches!(self, CheckKind::ListAppend | CheckKind::RwRegister)
    }

    fn known() -> String {
        CheckKind::ALL.map(CheckKind::name).join(", ")
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CheckKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CheckKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown check `{s}` (known: {}, or `default`)",
                    CheckKind::known()
                )
            })
    }
}
