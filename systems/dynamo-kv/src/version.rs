//! Versions of a value, how sibling sets reconcile, and what a client sees of them.

use crate::dots::{Dot, DotSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One stored version of a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub value: Value,
    /// The write event that created this version (unique in the cluster).
    pub dot: Dot,
    /// Exactly the versions this one supersedes: the dots its writer read (its own dot
    /// not included). See `dots` for why this is a set and not a vector clock.
    /// `default` lets a data dir written by the older vector-clock format still load
    /// (its versions then supersede nothing, which can only leave extra siblings).
    #[serde(default)]
    pub seen: DotSet,
    /// Coordinator's wall clock (ms since the epoch) at the write; only `--lww` uses it.
    pub ts_ms: u64,
}

/// How a replica decides which versions of a key survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// Causal: drop versions whose dot another version has seen; keep the rest as
    /// siblings.
    Causal,
    /// Wall-clock last-write-wins: keep only the version with the largest
    /// `(ts_ms, dot)`. Loses acknowledged writes under clock skew.
    Lww,
}

/// Merges `incoming` into `existing` and returns the surviving versions in canonical
/// (dot) order. Deterministic and order-independent, so replicas that saw the same
/// versions in any order hold the same set.
pub fn reconcile(existing: &[Version], incoming: &[Version], resolver: Resolver) -> Vec<Version> {
    let mut all: Vec<Version> = Vec::with_capacity(existing.len() + incoming.len());
    for v in existing.iter().chain(incoming) {
        if !all.iter().any(|w| w.dot == v.dot) {
            all.push(v.clone());
        }
    }
    match resolver {
        Resolver::Causal => {
            let survivors: Vec<Version> = all
                .iter()
                .filter(|v| !all.iter().any(|w| w.dot != v.dot && w.seen.covers(&v.dot)))
                .cloned()
                .collect();
            canonical(survivors)
        }
        Resolver::Lww => all
            .into_iter()
            .max_by(|a, b| (a.ts_ms, &a.dot).cmp(&(b.ts_ms, &b.dot)))
            .into_iter()
            .collect(),
    }
}

fn canonical(mut versions: Vec<Version>) -> Vec<Version> {
    versions.sort_by(|a, b| a.dot.cmp(&b.dot));
    versions
}

/// The context a read hands out: the dots of exactly the versions it returned. A
/// write with this context supersedes those and nothing else, so it never retires a
/// version whose value the reader did not see.
pub fn context_of(versions: &[Version]) -> DotSet {
    let mut c = DotSet::new();
    for v in versions {
        c.add(&v.dot);
    }
    c
}

/// Whether two version sets hold exactly the same versions (by dot).
pub fn same_dots(a: &[Version], b: &[Version]) -> bool {
    a.len() == b.len() && a.iter().all(|v| b.iter().any(|w| w.dot == v.dot))
}

/// Encodes a context as an opaque token (hex of its JSON).
pub fn encode_context(context: &DotSet) -> String {
    let json = serde_json::to_vec(context).expect("a dot set always serializes");
    json.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a token made by [`encode_context`]; the error says what is wrong with it.
pub fn decode_context(token: &str) -> Result<DotSet, String> {
    if !token.len().is_multiple_of(2) {
        return Err("context has an odd number of hex digits".into());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| "context is not a hex string from a read of this store".to_string())?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("context does not decode to a set of dots: {e}"))
}

/// Reads a value as a list for `append`: absent (`null`) is the empty list.
pub fn as_list(value: &Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items.clone()),
        other => Err(format!(
            "cannot append to a value that is not a list: {other}"
        )),
    }
}

/// Merges sibling lists into one: the first sibling (canonical order) as is, then,
/// from each further sibling in order, the elements it has more often than the result
/// so far. No element any sibling holds is lost, and every replica computes the same
/// list from the same siblings.
pub fn merge_lists(lists: &[Vec<Value>]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for list in lists {
        for (i, item) in list.iter().enumerate() {
            let wanted = list[..=i].iter().filter(|x| *x == item).count();
            let have = out.iter().filter(|x| *x == item).count();
            if have < wanted {
                out.push(item.clone());
            }
        }
    }
    out
}

/// The single `value` a read reports: `null` when absent; the merged list when every
/// sibling is a list (or null); otherwise the sibling with the latest `(ts_ms, dot)`.
pub fn resolved_value(siblings: &[Version]) -> Value {
    if siblings.is_empty() {
        return Value::Null;
    }
    if siblings.len() > 1
        && siblings
            .iter()
            .all(|v| v.value.is_array() || v.value.is_null())
    {
        let lists: Vec<Vec<Value>> = siblings
            .iter()
            .map(|v| as_list(&v.value).unwrap_or_default())
            .collect();
        return Value::Array(merge_lists(&lists));
    }
    siblings
        .iter()
        .max_by(|a, b| (a.ts_ms, &a.dot).cmp(&(b.ts_ms, &b.dot)))
        .map(|v| v.value.clone())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A version whose writer read exactly the dots `seen`.
    fn version(value: Value, node: &str, counter: u64, seen: &[(&str, u64)], ts: u64) -> Version {
        let dot = Dot {
            node: node.into(),
            counter,
        };
        let seen = DotSet(
            seen.iter()
                .map(|(n, c)| Dot {
                    node: n.to_string(),
                    counter: *c,
                })
                .collect(),
        );
        Version {
            value,
            dot,
            seen,
            ts_ms: ts,
        }
    }

    /// The loss the harness found under partitions (`faultline --system dynamo-kv
    /// --workload append --nemesis partition`): n1 coordinates two appends to one key
    /// at once, so neither reads the other (dots n1:5 and n1:6). A partition lets n2
    /// read only n1:6 and append on top of it. With vector clocks n2's context
    /// `{n1: 6}` "covered" n1:5 as well, and every replica that merged n2's write
    /// dropped n1:5 and its acknowledged element "x". The write must retire only what
    /// it read.
    #[test]
    fn a_write_never_retires_a_concurrent_version_it_did_not_read() {
        let x = version(json!(["x"]), "n1", 5, &[], 1);
        let y = version(json!(["y"]), "n1", 6, &[], 2);
        let replica = reconcile(
            std::slice::from_ref(&x),
            std::slice::from_ref(&y),
            Resolver::Causal,
        );
        assert_eq!(
            replica,
            vec![x.clone(), y.clone()],
            "concurrent appends are siblings"
        );
        // n2, cut off from the replica holding n1:5, reads only n1:6.
        let ctx = context_of(std::slice::from_ref(&y));
        assert!(!ctx.covers(&x.dot));
        let seen: Vec<(&str, u64)> = ctx.0.iter().map(|d| (d.node.as_str(), d.counter)).collect();
        let z = version(json!(["y", "z"]), "n2", 1, &seen, 3);
        // After the heal, every replica converges on the siblings and keeps "x".
        let healed = reconcile(&replica, std::slice::from_ref(&z), Resolver::Causal);
        assert_eq!(healed, vec![x, z]);
        assert_eq!(resolved_value(&healed), json!(["x", "y", "z"]));
    }

    #[test]
    fn blind_writes_by_one_coordinator_stay_siblings() {
        let a = version(json!(1), "n1", 5, &[], 10);
        let b = version(json!(2), "n1", 6, &[], 20);
        let set = reconcile(
            std::slice::from_ref(&a),
            std::slice::from_ref(&b),
            Resolver::Causal,
        );
        assert_eq!(set, vec![a, b]);
    }

    #[test]
    fn write_with_context_supersedes_exactly_what_it_saw() {
        let a = version(json!("a"), "n1", 1, &[], 1);
        let b = version(json!("b"), "n2", 1, &[], 2);
        let c = version(json!("c"), "n3", 1, &[], 3);
        // The context saw a and b but not c.
        let ctx = context_of(&[a.clone(), b.clone()]);
        let seen: Vec<(&str, u64)> = ctx.0.iter().map(|d| (d.node.as_str(), d.counter)).collect();
        let d = version(json!("d"), "n1", 2, &seen, 4);
        let set = reconcile(
            &[a, b, c.clone()],
            std::slice::from_ref(&d),
            Resolver::Causal,
        );
        assert_eq!(set, vec![d, c]);
    }

    #[test]
    fn reconcile_is_order_independent_and_idempotent() {
        let a = version(json!(1), "n1", 1, &[], 1);
        let b = version(json!(2), "n2", 1, &[("n1", 1)], 2);
        let c = version(json!(3), "n3", 1, &[], 3);
        let x = reconcile(
            &reconcile(
                std::slice::from_ref(&a),
                std::slice::from_ref(&b),
                Resolver::Causal,
            ),
            std::slice::from_ref(&c),
            Resolver::Causal,
        );
        let y = reconcile(
            &[c.clone(), b.clone()],
            std::slice::from_ref(&a),
            Resolver::Causal,
        );
        assert_eq!(x, y);
        assert_eq!(x, vec![b, c]);
        assert_eq!(reconcile(&x, &x, Resolver::Causal), x);
    }

    #[test]
    fn lww_keeps_the_latest_timestamp_even_against_causality() {
        let old = version(json!("old"), "n1", 1, &[], 100);
        // Causally later but stamped by a node whose clock runs behind.
        let newer = version(json!("new"), "n2", 1, &[("n1", 1)], 50);
        let set = reconcile(std::slice::from_ref(&old), &[newer], Resolver::Lww);
        assert_eq!(set, vec![old]);
    }

    #[test]
    fn context_round_trips_and_rejects_garbage() {
        let c = context_of(&[
            version(json!(1), "n1", 7, &[], 0),
            version(json!(2), "n2", 1, &[("n1", 7)], 0),
        ]);
        assert_eq!(c.len(), 2);
        assert_eq!(decode_context(&encode_context(&c)).unwrap(), c);
        assert!(decode_context("zz").is_err());
        assert!(decode_context("abc").is_err());
        assert!(decode_context("7b").is_err());
    }

    #[test]
    fn list_siblings_merge_without_losing_elements() {
        let merged = merge_lists(&[
            vec![json!(1), json!(2)],
            vec![json!(1), json!(3)],
            vec![json!(1), json!(2), json!(2)],
        ]);
        assert_eq!(merged, vec![json!(1), json!(2), json!(3), json!(2)]);
        let a = version(json!([1, 2]), "n1", 1, &[], 1);
        let b = version(json!([1, 3]), "n2", 1, &[], 2);
        assert_eq!(resolved_value(&[a.clone(), b.clone()]), json!([1, 2, 3]));
        let s = version(json!("x"), "n3", 1, &[], 0);
        assert_eq!(resolved_value(&[a, b, s]), json!([1, 3]));
        assert_eq!(resolved_value(&[]), Value::Null);
        assert!(as_list(&json!(5)).is_err());
    }
}
