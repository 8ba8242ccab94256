//! What a system promises: the consistency models and invariants it claims to keep
//! under faults. A run's exit code follows the promises when there are some: a broken
//! promise fails the run, a broken model nobody promised is a finding.
//!
//! The models are the ones faultline's checks judge, each named once here so a system
//! file, `--expect`, `results.json` and the comparison matrix all spell them alike.

use checker::txn::IsolationModel;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A model a check judges (the session check judges four of them, the eventual check
/// two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    Linearizable,
    Sequential,
    MonotonicReads,
    MonotonicWrites,
    ReadYourWrites,
    WritesFollowReads,
    /// Convergence: after the final heal and the quiet period every node answers the
    /// same value for every key.
    Eventual,
    /// No acknowledged write (append, add) is gone from every node at the end.
    NoLostWrites,
    Bank,
    Counter,
    UniqueIds,
    /// The transactional isolation models, judged by the list-append and
    /// rw-register checks on the hierarchy they use (`checker::txn`), strongest
    /// first.
    StrictSerializable,
    Serializable,
    SnapshotIsolation,
    RepeatableRead,
    ReadCommitted,
    ReadUncommitted,
}

impl Model {
    /// Every model, in the order of the matrix's columns.
    pub const ALL: [Model; 17] = [
        Model::Linearizable,
        Model::Sequential,
        Model::MonotonicReads,
        Model::MonotonicWrites,
        Model::ReadYourWrites,
        Model::WritesFollowReads,
        Model::Eventual,
        Model::NoLostWrites,
        Model::Bank,
        Model::Counter,
        Model::UniqueIds,
        Model::StrictSerializable,
        Model::Serializable,
        Model::SnapshotIsolation,
        Model::RepeatableRead,
        Model::ReadCommitted,
        Model::ReadUncommitted,
    ];

    pub const SESSION: [Model; 4] = [
        Model::MonotonicReads,
        Model::MonotonicWrites,
        Model::ReadYourWrites,
        Model::WritesFollowReads,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Model::Linearizable => "linearizable",
            Model::Sequential => "sequential",
            Model::MonotonicReads => "monotonic-reads",
            Model::MonotonicWrites => "monotonic-writes",
            Model::ReadYourWrites => "read-your-writes",
            Model::WritesFollowReads => "writes-follow-reads",
            Model::Eventual => "eventual",
            Model::NoLostWrites => "no-lost-writes",
            Model::Bank => "bank",
            Model::Counter => "counter",
            Model::UniqueIds => "unique-ids",
            Model::StrictSerializable => "strict-serializable",
            Model::Serializable => "serializable",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::RepeatableRead => "repeatable-read",
            Model::ReadCommitted => "read-committed",
            Model::ReadUncommitted => "read-uncommitted",
        }
    }

    /// The transactional checks' model this one is, for an isolation model.
    pub fn isolation(self) -> Option<IsolationModel> {
        Some(match self {
            Model::StrictSerializable => IsolationModel::StrictSerializable,
            Model::Serializable => IsolationModel::Serializable,
            Model::SnapshotIsolation => IsolationModel::SnapshotIsolation,
            Model::RepeatableRead => IsolationModel::RepeatableRead,
            Model::ReadCommitted => IsolationModel::ReadCommitted,
            Model::ReadUncommitted => IsolationModel::ReadUncommitted,
            _ => return None,
        })
    }

    /// The models this one implies: a history that keeps `self` keeps each of them,
    /// so one of them broken breaks `self`, and `self` held holds them.
    ///
    /// Linearizability implies no lost writes (a read after an acknowledged append
    /// must see it) and the invariants of a linearizable object, but not convergence:
    /// an indeterminate write may take effect between two final reads.
    pub fn implies(self) -> &'static [Model] {
        use Model::*;
        match self {
            Linearizable => &[
                Sequential,
                MonotonicReads,
                MonotonicWrites,
                ReadYourWrites,
                WritesFollowReads,
                NoLostWrites,
                Counter,
                UniqueIds,
            ],
            Sequential => &[
                MonotonicReads,
                MonotonicWrites,
                ReadYourWrites,
                WritesFollowReads,
            ],
            // The transactional hierarchy (`checker::txn::IsolationModel::implies`):
            // serializable is not above snapshot isolation, strict serializable is.
            StrictSerializable => &[
                Serializable,
                SnapshotIsolation,
                RepeatableRead,
                ReadCommitted,
                ReadUncommitted,
            ],
            Serializable => &[RepeatableRead, ReadCommitted, ReadUncommitted],
            SnapshotIsolation | RepeatableRead => &[ReadCommitted, ReadUncommitted],
            ReadCommitted => &[ReadUncommitted],
            _ => &[],
        }
    }

    fn known() -> String {
        let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
        format!(
            "{}, `session` (the four guarantees) or `none`",
            names.join(", ")
        )
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Model::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown model `{s}` (known: {})", Model::known()))
    }
}

/// Parses a list of promised models: names, `session` for the four session
/// guarantees, or `none` alone (a system that promises nothing). Sorted, without
/// repeats. An empty item is refused: it is a typo that would drop a promise.
pub fn parse_models<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Model>, String> {
    let items: Vec<&str> = items.into_iter().map(str::trim).collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err("an empty item (two commas, or one at an end)".into());
    }
    if items.contains(&"none") {
        if items.len() > 1 {
            return Err("`none` promises nothing and cannot be combined with models".into());
        }
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for item in items {
        match item {
            "session" => out.extend(Model::SESSION),
            other => out.push(other.parse()?),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The promises a run is judged by, and who made them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Promises {
    pub models: Vec<Model>,
    pub from: PromiseSource,
}

/// Where a run's promises come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromiseSource {
    /// A built-in system, per its settings.
    Builtin,
    /// The `promises` field of the system file.
    SystemFile,
    /// `--expect` (or the test file's `expect`), for this run.
    Expect,
}

impl PromiseSource {
    pub fn describe(self) -> &'static str {
        match self {
            PromiseSource::Builtin => "the built-in system's, for these settings",
            PromiseSource::SystemFile => "the system file's",
            PromiseSource::Expect => "--expect",
        }
    }
}

/// Names a list of models, `none` for the empty one.
pub fn names(models: &[Model]) -> String {
    if models.is_empty() {
        return "none".into();
    }
    models
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_lists_parse_with_session_and_none() {
        assert_eq!(
            parse_models(["no-lost-writes", "linearizable"]).unwrap(),
            vec![Model::Linearizable, Model::NoLostWrites]
        );
        assert_eq!(parse_models(["session"]).unwrap(), Model::SESSION.to_vec());
        assert_eq!(parse_models(["none"]).unwrap(), Vec::<Model>::new());
        let e = parse_models(["linearisable"]).unwrap_err();
        assert!(
            e.contains("linearisable") && e.contains("monotonic-reads"),
            "{e}"
        );
        assert!(parse_models(["none", "eventual"]).is_err());
        assert!(parse_models(["eventual", ""]).is_err());
    }

    #[test]
    fn isolation_models_imply_what_the_transactional_checker_says_they_imply() {
        let isolation: Vec<Model> = Model::ALL
            .into_iter()
            .filter(|m| m.isolation().is_some())
            .collect();
        assert_eq!(isolation.len(), 6);
        for a in &isolation {
            for b in &isolation {
                let (x, y) = (a.isolation().unwrap(), b.isolation().unwrap());
                assert_eq!(
                    a.implies().contains(b),
                    a != b && x.implies_model(y),
                    "{a} implies {b}?"
                );
            }
        }
        assert!(Model::Linearizable.isolation().is_none());
    }

    #[test]
    fn every_model_name_round_trips() {
        for m in Model::ALL {
            assert_eq!(m.name().parse::<Model>().unwrap(), m);
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.name()));
        }
    }
}
