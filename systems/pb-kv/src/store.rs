//! The replicated state machine: a map from keys to JSON values, and the deterministic
//! operations of the KV protocol. Request replication relies on the determinism: a
//! backup that executes the same operations in the same order holds the same map.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub type Store = BTreeMap<String, Value>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    Put { key: String, value: Value },
    Cas { key: String, from: Value, to: Value },
    Append { key: String, value: Value },
}

#[derive(Clone, Debug, PartialEq)]
pub enum OpError {
    /// The comparison of a cas failed; carries the current value.
    CasMismatch(Value),
    /// Append to a value that is not a list; carries the current value.
    NotAList(Value),
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Cas { key, .. } | Op::Append { key, .. } => key,
        }
    }

    /// The key's new value, computed from the current store without changing it.
    pub fn execute(&self, store: &Store) -> Result<Value, OpError> {
        let current = store.get(self.key()).cloned().unwrap_or(Value::Null);
        match self {
            Op::Put { value, .. } => Ok(value.clone()),
            Op::Cas { from, to, .. } if current == *from => Ok(to.clone()),
            Op::Cas { .. } => Err(OpError::CasMismatch(current)),
            Op::Append { value, .. } => match current {
                Value::Null => Ok(Value::Array(vec![value.clone()])),
                Value::Array(mut items) => {
                    items.push(value.clone());
                    Ok(Value::Array(items))
                }
                other => Err(OpError::NotAList(other)),
            },
        }
    }
}

/// Sets a key; `null` removes it, so an absent key and a key put to null read alike.
pub fn set(store: &mut Store, key: &str, value: Value) {
    if value.is_null() {
        store.remove(key);
    } else {
        store.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations_follow_the_protocol() {
        let mut s = Store::new();
        let app = |v| Op::Append {
            key: "k".into(),
            value: v,
        };
        let v = app(json!(1)).execute(&s).unwrap();
        assert_eq!(v, json!([1]));
        set(&mut s, "k", v);
        assert_eq!(app(json!(2)).execute(&s).unwrap(), json!([1, 2]));
        let cas = Op::Cas {
            key: "k".into(),
            from: json!(3),
            to: json!(4),
        };
        assert_eq!(cas.execute(&s), Err(OpError::CasMismatch(json!([1]))));
        let cas = Op::Cas {
            key: "x".into(),
            from: Value::Null,
            to: json!(4),
        };
        assert_eq!(cas.execute(&s), Ok(json!(4)));
        set(&mut s, "x", json!("str"));
        let bad = Op::Append {
            key: "x".into(),
            value: json!(1),
        };
        assert_eq!(bad.execute(&s), Err(OpError::NotAList(json!("str"))));
        set(&mut s, "x", Value::Null);
        assert!(!s.contains_key("x"));
    }

    #[test]
    fn ops_round_trip_through_json() {
        let op = Op::Cas {
            key: "a/b".into(),
            from: json!(null),
            to: json!({"x": 1}),
        };
        let text = serde_json::to_string(&op).unwrap();
        assert_eq!(serde_json::from_str::<Op>(&text).unwrap(), op);
    }
}
