//! Workload operations made of protocol requests: what the runner calls instead of
//! [`Client::invoke`] so that every client (KV, etcd, Redis) supports the set,
//! counter and unique-ID workloads without knowing about them.
//!
//! - Set and counter operations are one request each; only the completion changes
//!   ([`Op::interpret`]: a counter's list becomes its sum).
//! - A unique-ID `generate` is an allocation on a counter key: read it (`null` is 0),
//!   CAS it from what was read to one more, and hand out `"<key>:<new value>"`. Two
//!   acknowledged generates return the same ID only if two CASes from the same value
//!   both succeeded, that is, only if the store's CAS is not atomic; so the unique-ID
//!   checker tests exactly that. A CAS mismatch (another process won) is retried,
//!   up to [`GENERATE_ATTEMPTS`] times; an indeterminate CAS makes the generate
//!   indeterminate (no ID was handed out; the slot may or may not be used).

use crate::client::Client;
use crate::op::{Completion, Kind, Op, Outcome};
use serde_json::Value;

/// CAS attempts a `generate` makes before it gives up (a definite `fail`: every
/// attempt's CAS certainly had no effect).
pub const GENERATE_ATTEMPTS: usize = 20;

/// Performs a workload operation through `client`.
pub async fn perform(client: &dyn Client, op: &Op) -> Completion {
    if client.whole_operations() {
        return client.invoke(op).await;
    }
    match op.kind {
        Kind::Generate => generate(client, op.key).await,
        _ => op.interpret(client.invoke(op).await),
    }
}

async fn generate(client: &dyn Client, key: u64) -> Completion {
    let mut last_error = String::new();
    for _ in 0..GENERATE_ATTEMPTS {
        let read = client.invoke(&Op::read(key)).await;
        if read.outcome != Outcome::Ok {
            let error = format!(
                "read of the allocation key: {}",
                read.error.unwrap_or_default()
            );
            // Nothing reached the node: say so, so that the runner backs off.
            return Completion {
                unreached: read.unreached,
                ..Completion::fail(Value::Null, error)
            };
        }
        let current = match &read.value {
            Value::Null => 0,
            v => match v.as_i64() {
                Some(i) => i,
                None => {
                    return Completion::fail(
                        Value::Null,
                        format!(
                        "malformed-response: the allocation key {key} holds {v}, not an integer"
                    ),
                    )
                }
            },
        };
        let Some(next) = current.checked_add(1) else {
            return Completion::fail(Value::Null, "the allocation counter overflowed");
        };
        let cas = client.invoke(&Op::cas(key, read.value.clone(), next)).await;
        match cas.outcome {
            Outcome::Ok => return Completion::ok(Value::String(format!("{key}:{next}"))),
            Outcome::Info => {
                return Completion::info(
                    Value::Null,
                    format!("cas: {}", cas.error.unwrap_or_default()),
                )
            }
            Outcome::Fail => {
                let error = cas.error.unwrap_or_default();
                if error != "cas-mismatch" {
                    return Completion::fail(Value::Null, format!("cas: {error}"));
                }
                last_error = error;
            }
        }
    }
    Completion::fail(
        Value::Null,
        format!("{GENERATE_ATTEMPTS} CAS attempts lost the race ({last_error})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::KvClient;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn generates_are_unique_and_counters_sum_against_an_atomic_store() {
        let (url, _fake) = crate::fake_node::start().await;
        let client = KvClient::new(&url, Duration::from_secs(2)).unwrap();
        let mut tasks = Vec::new();
        let client = std::sync::Arc::new(client);
        for _ in 0..4 {
            let c = std::sync::Arc::clone(&client);
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..25 {
                    let done = perform(&*c, &Op::generate(7)).await;
                    if done.outcome == Outcome::Ok {
                        ids.push(done.value);
                    }
                }
                ids
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let distinct: std::collections::HashSet<String> =
            all.iter().map(|v| v.to_string()).collect();
        assert!(all.len() >= 50, "only {} generates succeeded", all.len());
        assert_eq!(distinct.len(), all.len());
        for inc in [2, 3, 4] {
            assert_eq!(
                perform(&*client, &Op::counter_add(9, inc)).await.outcome,
                Outcome::Ok
            );
        }
        let read = perform(&*client, &Op::read(9).with_kind(Kind::CounterRead)).await;
        assert_eq!(read.value, Value::from(9));
        let empty = perform(&*client, &Op::read(10).with_kind(Kind::CounterRead)).await;
        assert_eq!(empty.value, Value::from(0));
        let set = perform(&*client, &Op::read(11).with_kind(Kind::SetRead)).await;
        assert_eq!(set.value, Value::Array(vec![]));
    }
}
