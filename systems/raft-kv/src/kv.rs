//! The replicated state machine: a map from keys to JSON values with the faultline protocol's
//! operations. Commands are applied in log order on every node, so `apply` must be
//! deterministic, and CAS compares at apply time (the leader returns the apply result).
//!
//! Every key also has a version: the Raft log index of the entry that last wrote it
//! (docs/protocol.md, `version`). Log indices grow and every node applies the same entry at
//! the same index, so the version is one total order per key that all nodes agree on, and
//! it is kept in snapshots so that it survives restarts and InstallSnapshot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Command {
    Put { key: String, value: Value },
    Cas { key: String, from: Value, to: Value },
    Append { key: String, value: Value },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Applied; the key's new version is the entry's log index.
    Ok {
        version: u64,
    },
    CasMismatch {
        current: Value,
    },
    /// Append to a key whose value is not a list: nothing changes.
    NotAList {
        current: Value,
    },
}

/// The snapshot format is this struct as JSON: `{"map": {...}, "versions": {...}}`.
/// Snapshots written before versions were kept have no `versions`; see
/// [`Kv::from_snapshot`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Kv {
    map: BTreeMap<String, Value>,
    /// The log index of the entry that last wrote each key; a key never written has none.
    #[serde(default)]
    versions: BTreeMap<String, u64>,
}

impl Kv {
    pub fn get(&self, key: &str) -> Value {
        self.map.get(key).cloned().unwrap_or(Value::Null)
    }

    /// A key's value and version; a key never written reads as `null` at version 0 (no
    /// log entry has index 0).
    pub fn read(&self, key: &str) -> (Value, u64) {
        (self.get(key), self.versions.get(key).copied().unwrap_or(0))
    }

    /// Applies the command of the log entry at `index`. A write that takes effect sets the
    /// key's version to `index`; a refused one (CAS mismatch, append to a non-list) changes
    /// nothing.
    pub fn apply(&mut self, cmd: &Command, index: u64) -> Outcome {
        let outcome = match cmd {
            Command::Put { key, value } => {
                self.map.insert(key.clone(), value.clone());
                Outcome::Ok { version: index }
            }
            Command::Cas { key, from, to } => {
                let current = self.get(key);
                if &current == from {
                    self.map.insert(key.clone(), to.clone());
                    Outcome::Ok { version: index }
                } else {
                    Outcome::CasMismatch { current }
                }
            }
            Command::Append { key, value } => match self.map.get_mut(key) {
                None | Some(Value::Null) => {
                    self.map
                        .insert(key.clone(), Value::Array(vec![value.clone()]));
                    Outcome::Ok { version: index }
                }
                Some(Value::Array(list)) => {
                    list.push(value.clone());
                    Outcome::Ok { version: index }
                }
                Some(other) => Outcome::NotAList {
                    current: other.clone(),
                },
            },
        };
        if let Outcome::Ok { version } = outcome {
            self.versions.insert(command_key(cmd).clone(), version);
        }
        outcome
    }

    /// What `apply` would answer now for an entry at `index`, without changing anything
    /// (used by `--bug early-ack`).
    pub fn predict(&self, cmd: &Command, index: u64) -> Outcome {
        self.clone_key(cmd).apply(cmd, index)
    }

    fn clone_key(&self, cmd: &Command) -> Kv {
        let key = command_key(cmd);
        let mut kv = Kv::default();
        if let Some(v) = self.map.get(key) {
            kv.map.insert(key.clone(), v.clone());
        }
        if let Some(n) = self.versions.get(key) {
            kv.versions.insert(key.clone(), *n);
        }
        kv
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a map of JSON values serializes")
    }

    /// Decodes a snapshot taken at log index `snapshot_index` (empty bytes: no snapshot).
    /// A snapshot from before versions were kept has keys without one: they get
    /// `snapshot_index`, the latest index at which they can have been written, so that every
    /// later write still creates a higher version.
    pub fn from_snapshot(bytes: &[u8], snapshot_index: u64) -> anyhow::Result<Kv> {
        if bytes.is_empty() {
            return Ok(Kv::default());
        }
        let mut kv: Kv = serde_json::from_slice(bytes)?;
        for key in kv.map.keys() {
            if !kv.versions.contains_key(key) {
                kv.versions.insert(key.clone(), snapshot_index);
            }
        }
        Ok(kv)
    }
}

fn command_key(cmd: &Command) -> &String {
    match cmd {
        Command::Put { key, .. } | Command::Cas { key, .. } | Command::Append { key, .. } => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(key: &str, value: Value) -> Command {
        Command::Put {
            key: key.into(),
            value,
        }
    }

    #[test]
    fn operations_follow_the_protocol() {
        let mut kv = Kv::default();
        assert_eq!(kv.get("k"), Value::Null);
        let cas = Command::Cas {
            key: "k".into(),
            from: json!(1),
            to: json!(2),
        };
        assert_eq!(
            kv.apply(&cas, 1),
            Outcome::CasMismatch {
                current: Value::Null
            }
        );
        kv.apply(&put("k", json!(1)), 2);
        assert_eq!(kv.predict(&cas, 3), Outcome::Ok { version: 3 });
        assert_eq!(kv.read("k"), (json!(1), 2), "predict changes nothing");
        assert_eq!(kv.apply(&cas, 3), Outcome::Ok { version: 3 });
        assert_eq!(kv.get("k"), json!(2));
        kv.apply(
            &Command::Append {
                key: "l".into(),
                value: json!("a"),
            },
            4,
        );
        kv.apply(
            &Command::Append {
                key: "l".into(),
                value: json!("b"),
            },
            5,
        );
        assert_eq!(kv.get("l"), json!(["a", "b"]));
        assert_eq!(
            kv.apply(
                &Command::Append {
                    key: "k".into(),
                    value: json!(3)
                },
                6
            ),
            Outcome::NotAList { current: json!(2) }
        );
        let back = Kv::from_snapshot(&kv.to_bytes(), 6).unwrap();
        assert_eq!(back, kv);
    }

    #[test]
    fn a_key_is_versioned_by_the_log_index_of_its_last_write() {
        let mut kv = Kv::default();
        assert_eq!(kv.read("k"), (Value::Null, 0), "never written: version 0");
        assert_eq!(kv.apply(&put("k", json!(1)), 4), Outcome::Ok { version: 4 });
        assert_eq!(
            kv.apply(&put("other", json!(9)), 5),
            Outcome::Ok { version: 5 }
        );
        assert_eq!(
            kv.read("k"),
            (json!(1), 4),
            "another key's write leaves it alone"
        );
        let stale_cas = Command::Cas {
            key: "k".into(),
            from: json!(7),
            to: json!(8),
        };
        assert!(matches!(
            kv.apply(&stale_cas, 6),
            Outcome::CasMismatch { .. }
        ));
        assert_eq!(kv.read("k").1, 4, "a refused CAS creates no version");
        let append = Command::Append {
            key: "k".into(),
            value: json!(2),
        };
        assert!(matches!(kv.apply(&append, 7), Outcome::NotAList { .. }));
        assert_eq!(kv.read("k").1, 4, "a refused append creates no version");
        kv.apply(&put("k", json!(1)), 8);
        assert_eq!(
            kv.read("k"),
            (json!(1), 8),
            "rewriting the same value is a new version"
        );
    }

    #[test]
    fn versions_survive_snapshots_and_old_snapshots_get_their_index() {
        let mut kv = Kv::default();
        kv.apply(&put("a", json!(1)), 3);
        kv.apply(&put("b", json!(2)), 9);
        let bytes = kv.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text, r#"{"map":{"a":1,"b":2},"versions":{"a":3,"b":9}}"#);
        let back = Kv::from_snapshot(&bytes, 20).unwrap();
        assert_eq!(
            (back.read("a"), back.read("b")),
            ((json!(1), 3), (json!(2), 9))
        );

        // A snapshot written before versions existed decodes; its keys take the
        // snapshot's index, so later writes still create higher versions.
        let old = Kv::from_snapshot(br#"{"map":{"a":1}}"#, 12).unwrap();
        assert_eq!(old.read("a"), (json!(1), 12));
        assert_eq!(old.read("never"), (Value::Null, 0));
        assert_eq!(Kv::from_snapshot(b"", 0).unwrap(), Kv::default());
        assert!(Kv::from_snapshot(b"not json", 1).is_err());
    }
}
