//! A compact, hashable stand-in for the JSON values models compare.
//!
//! Models hash and compare states millions of times per second, so they do not keep
//! `serde_json::Value`s (no `Hash`, heavy clones). Integers and nil, by far the most
//! common register values, are stored inline; anything else keeps its text behind an
//! `Arc`, so cloning a state never copies a string.

use serde_json::Value;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scalar {
    Nil,
    Int(i64),
    Bool(bool),
    Str(Arc<str>),
    /// Any other JSON value (float, list, map), compared by its canonical JSON text.
    Json(Arc<str>),
    /// Never read from JSON: what a register model puts in place of the value of a
    /// crashed write that no operation of its key reads or expects (see
    /// `cas_register::canonicalize_register`). All such values behave alike in every
    /// later step, so they are one value to the search.
    Unread,
}

/// How [`Scalar::Unread`] reads in a counterexample.
const UNREAD_TEXT: &str = "<a crashed write's value, never read>";

impl Scalar {
    pub fn from_json(v: &Value) -> Scalar {
        match v {
            Value::Null => Scalar::Nil,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => Scalar::Json(n.to_string().into()),
            },
            Value::String(s) => Scalar::Str(s.as_str().into()),
            other => Scalar::Json(other.to_string().into()),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Scalar::Nil => Value::Null,
            Scalar::Int(i) => Value::from(*i),
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Str(s) => Value::String(s.to_string()),
            Scalar::Json(s) => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
            }
            Scalar::Unread => Value::String(UNREAD_TEXT.into()),
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Scalar::Nil)
    }

    /// Bytes this value holds on the heap, for memory budgets.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Scalar::Str(s) | Scalar::Json(s) => s.len() + 16,
            _ => 0,
        }
    }
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Nil => f.write_str("nil"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Str(s) => write!(f, "{:?}", &**s),
            Scalar::Json(s) => f.write_str(s),
            Scalar::Unread => f.write_str(UNREAD_TEXT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_distinguishes_types() {
        for v in [
            json!(null),
            json!(3),
            json!("3"),
            json!(true),
            json!([1, 2]),
            json!(1.5),
        ] {
            assert_eq!(Scalar::from_json(&v).to_json(), v);
        }
        assert_ne!(Scalar::from_json(&json!(3)), Scalar::from_json(&json!("3")));
    }
}
