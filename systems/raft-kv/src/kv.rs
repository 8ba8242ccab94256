//! The replicated state machine: a map from keys to JSON values with the faultline protocol's
//! operations. Commands are applied in log order on every node, so `apply` must be
//! deterministic, and CAS compares at apply time (the leader returns the apply result).

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
    Ok,
    CasMismatch {
        current: Value,
    },
    /// Append to a key whose value is not a list: nothing changes.
    NotAList {
        current: Value,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Kv {
    map: BTreeMap<String, Value>,
}

impl Kv {
    pub fn get(&self, key: &str) -> Value {
        self.map.get(key).cloned().unwrap_or(Value::Null)
    }

    pub fn apply(&mut self, cmd: &Command) -> Outcome {
        match cmd {
            Command::Put { key, value } => {
                self.map.insert(key.clone(), value.clone());
                Outcome::Ok
            }
            Command::Cas { key, from, to } => {
                let current = self.get(key);
                if &current == from {
                    self.map.insert(key.clone(), to.clone());
                    Outcome::Ok
                } else {
                    Outcome::CasMismatch { current }
                }
            }
            Command::Append { key, value } => match self.map.get_mut(key) {
                None | Some(Value::Null) => {
                    self.map
                        .insert(key.clone(), Value::Array(vec![value.clone()]));
                    Outcome::Ok
                }
                Some(Value::Array(list)) => {
                    list.push(value.clone());
                    Outcome::Ok
                }
                Some(other) => Outcome::NotAList {
                    current: other.clone(),
                },
            },
        }
    }

    /// What `apply` would answer now, without changing anything (used by `--bug early-ack`).
    pub fn predict(&self, cmd: &Command) -> Outcome {
        self.clone_key(cmd).apply(cmd)
    }

    fn clone_key(&self, cmd: &Command) -> Kv {
        let key = match cmd {
            Command::Put { key, .. } | Command::Cas { key, .. } | Command::Append { key, .. } => {
                key
            }
        };
        let mut kv = Kv::default();
        if let Some(v) = self.map.get(key) {
            kv.map.insert(key.clone(), v.clone());
        }
        kv
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a map of JSON values serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Kv> {
        if bytes.is_empty() {
            return Ok(Kv::default());
        }
        Ok(serde_json::from_slice(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            kv.apply(&cas),
            Outcome::CasMismatch {
                current: Value::Null
            }
        );
        kv.apply(&Command::Put {
            key: "k".into(),
            value: json!(1),
        });
        assert_eq!(kv.predict(&cas), Outcome::Ok);
        assert_eq!(kv.get("k"), json!(1));
        assert_eq!(kv.apply(&cas), Outcome::Ok);
        assert_eq!(kv.get("k"), json!(2));
        kv.apply(&Command::Append {
            key: "l".into(),
            value: json!("a"),
        });
        kv.apply(&Command::Append {
            key: "l".into(),
            value: json!("b"),
        });
        assert_eq!(kv.get("l"), json!(["a", "b"]));
        assert_eq!(
            kv.apply(&Command::Append {
                key: "k".into(),
                value: json!(3)
            }),
            Outcome::NotAList { current: json!(2) }
        );
        let back = Kv::from_bytes(&kv.to_bytes()).unwrap();
        assert_eq!(back, kv);
    }
}
