//! Clients: how an operation reaches a node, and how what came back maps onto
//! ok / fail / info.
//!
//! The mapping is the heart of a sound history. `fail` is a promise that the
//! operation did not take effect, so it is used only when that is certain: the system
//! said so (`"definite": true`), or the connection was refused before the request was
//! sent. Everything else that is not a success (a timeout, a reset after the request
//! went out, a 5xx without a definite body, a garbled answer) is `info`. The one
//! exception is reads: a read changes nothing, so an indeterminate read is recorded as
//! `fail` (as Jepsen's clients do), which spares retiring its process.
//!
//! A `200` answer's optional `version` (`docs/protocol.md`, Versions) is recorded as
//! the completion's [`Completion::version`], which the history keeps beside the value.
//!
//! [`Client`] is the seam for other systems: etcd and Redis clients implement the same
//! trait, and the runner neither knows nor cares which one it drives.

use crate::op::{Completion, Op, OpFn};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future, so that clients can be chosen at run time (`dyn Client`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A node as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The node's name in the test (`n1`, ...), recorded with each operation.
    pub id: String,
    /// Where it listens, e.g. `http://10.77.0.2:8000`.
    pub url: String,
}

/// One logical client process's connection to one node.
pub trait Client: Send + Sync {
    /// Performs `op` and says how it ended. Never panics and never returns an error:
    /// every failure is a [`Completion`] with the right outcome.
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion>;

    /// Gets ready before the workload starts (an external adapter's `init`), so that
    /// a client that cannot work at all stops the run before anything is recorded.
    /// Most clients have nothing to do.
    fn ready(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Whether the client performs workload operations (a `generate`, a counter
    /// read) itself, as one request, instead of through the KV requests of
    /// [`crate::composite`]: a Maelstrom node answers `generate` and counter reads.
    fn whole_operations(&self) -> bool {
        false
    }
}

/// Opens a [`Client`] for a process bound to a node.
pub trait ClientFactory: Send + Sync {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>>;

    /// Opens the client of logical process `process` to `target`. Clients that keep
    /// one session per process (an external adapter: one OS process per logical
    /// process, whatever nodes it visits) need the id; the rest ignore it.
    fn open_process(&self, process: u64, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        let _ = process;
        self.open(target)
    }

    /// Told, once the cluster is up, where the run's files go and which nodes it
    /// has (all of them, which an adapter's `init` lists).
    fn prepare(&self, run_dir: &std::path::Path, targets: &[Target]) -> anyhow::Result<()> {
        let _ = (run_dir, targets);
        Ok(())
    }

    /// What went wrong on the client side without stopping the run (an adapter that
    /// hung, crashed or answered garbage), for the results' warnings.
    fn incidents(&self) -> Vec<String> {
        Vec::new()
    }

    /// Statistics of the network the clients saw, for results.json (Maelstrom's
    /// messages per operation and per node); `None` for protocols without them.
    fn network_stats(&self) -> Option<serde_json::Value> {
        None
    }
}

/// The per-request timeout when none is given: long enough for a leader election on
/// one machine, short enough that a partitioned process gives up within the test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Clients for the faultline KV protocol (`docs/protocol.md`), sharing one connection
/// pool.
#[derive(Clone)]
pub struct KvClientFactory {
    http: reqwest::Client,
}

/// The HTTP client every workload client shares its connections through: `timeout`
/// bounds each request (and its connect), and test traffic never goes through a
/// proxy from the environment.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
}

impl KvClientFactory {
    pub fn new(timeout: Duration) -> anyhow::Result<KvClientFactory> {
        Ok(KvClientFactory {
            http: http_client(timeout)?,
        })
    }
}

impl ClientFactory for KvClientFactory {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        Ok(Arc::new(KvClient {
            http: self.http.clone(),
            base: target.url.trim_end_matches('/').to_string(),
        }))
    }
}

/// A client of one node of a KV-protocol system.
pub struct KvClient {
    http: reqwest::Client,
    base: String,
}

impl KvClient {
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<KvClient> {
        let factory = KvClientFactory::new(timeout)?;
        Ok(KvClient {
            http: factory.http,
            base: url.trim_end_matches('/').to_string(),
        })
    }

    async fn perform(&self, op: &Op) -> Completion {
        let key = op.key;
        let request = match op.f {
            OpFn::Read | OpFn::FinalRead => self.http.get(format!("{}/kv/{key}", self.base)),
            OpFn::Write => self
                .http
                .put(format!("{}/kv/{key}", self.base))
                .json(&json!({ "value": op.value })),
            OpFn::Cas => {
                let (from, to) = match &op.value {
                    Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                    other => {
                        return Completion::fail(
                            other.clone(),
                            "bad-request: cas value must be [from, to]",
                        )
                    }
                };
                self.http
                    .post(format!("{}/kv/{key}/cas", self.base))
                    .json(&json!({ "from": from, "to": to }))
            }
            OpFn::Append => self
                .http
                .post(format!("{}/kv/{key}/append", self.base))
                .json(&json!({ "value": op.value })),
            OpFn::Txn => return Completion::no_transactions(op, "the KV protocol"),
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return transport_error(op, &e),
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(b) => b,
            // The answer was cut off: whatever it said is lost.
            Err(e) => return indeterminate(op, error_name("body", &e)),
        };
        if status == reqwest::StatusCode::OK {
            let parsed = serde_json::from_slice::<Value>(&body);
            if !op.f.is_read() {
                // The write took effect whatever else the body says; a version that is
                // not an integer is simply not recorded (the session check then says
                // it cannot judge that write).
                let version = parsed
                    .ok()
                    .and_then(|b| version_field(b.get("version")))
                    .and_then(Result::ok);
                return Completion::ok(op.value.clone()).with_version(version);
            }
            return match parsed {
                Ok(Value::Object(mut fields)) if fields.contains_key("value") => {
                    let version = match version_field(fields.get("version")) {
                        None => None,
                        Some(Ok(v)) => Some(v),
                        Some(Err(found)) => {
                            return indeterminate(
                                op,
                                format!("malformed-response: a 200 read whose \"version\" is {found}, not a non-negative integer"),
                            )
                        }
                    };
                    Completion::ok(fields.remove("value").unwrap_or(Value::Null))
                        .with_version(version)
                }
                _ => indeterminate(
                    op,
                    "malformed-response: a 200 read without {\"value\": ...}".to_string(),
                ),
            };
        }
        // An error body says whether the operation certainly did not take effect;
        // anything less than an explicit `"definite": true` is indeterminate.
        let parsed: Option<(String, bool)> =
            serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                let code = v.get("error")?.as_str()?.to_string();
                let definite = v.get("definite").and_then(Value::as_bool).unwrap_or(false);
                Some((code, definite))
            });
        match parsed {
            Some((code, true)) => Completion::fail(op.value.clone(), code),
            Some((code, false)) => indeterminate(op, code),
            None => indeterminate(op, format!("http-{}", status.as_u16())),
        }
    }
}

impl Client for KvClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

/// The optional `version` field of a 200 answer (`docs/protocol.md`): `None` when
/// absent or `null`, the integer, or what was found instead.
fn version_field(field: Option<&Value>) -> Option<Result<u64, String>> {
    match field? {
        Value::Null => None,
        v => Some(v.as_u64().ok_or_else(|| v.to_string())),
    }
}

/// An outcome nobody knows: `info`, except for reads, which changed nothing and so
/// can be `fail`ed.
pub(crate) fn indeterminate(op: &Op, error: String) -> Completion {
    if op.f.is_read() {
        Completion::fail(op.value.clone(), error)
    } else {
        Completion::info(op.value.clone(), error)
    }
}

/// Maps a failure to send or to hear back.
pub(crate) fn transport_error(op: &Op, e: &reqwest::Error) -> Completion {
    if e.is_timeout() {
        return indeterminate(op, "timeout".to_string());
    }
    if e.is_connect() {
        // The connection was never established, so the request was never sent.
        return Completion::unreached(op.value.clone(), error_name("connect", e));
    }
    indeterminate(op, error_name("connection", e))
}

/// A short error code with the innermost cause (`connect: Connection refused`).
pub(crate) fn error_name(what: &str, e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    let detail = source.to_string();
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_node::{self, Mode};
    use crate::op::Outcome;

    fn client(url: &str) -> KvClient {
        KvClient::new(url, Duration::from_millis(500)).unwrap()
    }

    #[tokio::test]
    async fn versions_are_recorded_when_the_node_reports_them() {
        let (url, fake) = fake_node::start().await;
        fake.set_versions(true);
        let c = client(&url);
        let never = c.perform(&Op::read(1)).await;
        assert_eq!((never.value, never.version), (Value::Null, Some(0)));
        let w = c.perform(&Op::write(1, 5)).await;
        assert_eq!(
            (w.outcome, w.value, w.version),
            (Outcome::Ok, json!(5), Some(1))
        );
        c.perform(&Op::write(2, 9)).await;
        let cas = c.perform(&Op::cas(1, json!(5), 6)).await;
        assert_eq!((cas.outcome, cas.version), (Outcome::Ok, Some(3)));
        let r = c.perform(&Op::read(1)).await;
        assert_eq!((r.value, r.version), (json!(6), Some(3)));
        let miss = c.perform(&Op::cas(1, json!(5), 7)).await;
        assert_eq!((miss.outcome, miss.version), (Outcome::Fail, None));
        let a = c.perform(&Op::append(4, 1)).await;
        assert_eq!(a.version, Some(4));
    }

    #[tokio::test]
    async fn no_version_is_recorded_when_the_node_has_none() {
        let (url, _fake) = fake_node::start().await;
        let c = client(&url);
        assert_eq!(c.perform(&Op::write(1, 5)).await, Completion::ok(json!(5)));
        assert_eq!(c.perform(&Op::read(1)).await, Completion::ok(json!(5)));
    }

    /// A node that answers every request 200 with this body.
    async fn answering(body: Value) -> String {
        let app = axum::Router::new().fallback(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_version_that_is_not_an_integer_is_never_recorded() {
        let c = client(&answering(json!({"value": 1, "version": "seven"})).await);
        let r = c.perform(&Op::read(1)).await;
        assert_eq!(r.outcome, Outcome::Fail, "a read with a garbled answer");
        assert_eq!(
            r.error.as_deref(),
            Some("malformed-response: a 200 read whose \"version\" is \"seven\", not a non-negative integer")
        );
        // The write took effect (200) whatever the body says; only its version is lost.
        let w = c.perform(&Op::write(1, 2)).await;
        assert_eq!((w.outcome, w.version), (Outcome::Ok, None));
        let c = client(&answering(json!({"value": 1, "version": null})).await);
        assert_eq!(c.perform(&Op::read(1)).await, Completion::ok(json!(1)));
    }

    #[tokio::test]
    async fn a_store_that_loses_writes_reports_versions_it_never_applied() {
        let (url, fake) = fake_node::start().await;
        fake.set_versions(true);
        let c = client(&url);
        c.perform(&Op::write(1, 1)).await;
        fake.set_mode(Mode::LoseWrites);
        let lost = c.perform(&Op::write(1, 2)).await;
        assert_eq!((lost.outcome, lost.version), (Outcome::Ok, Some(2)));
        let r = c.perform(&Op::read(1)).await;
        assert_eq!((r.value, r.version), (json!(1), Some(1)));
    }
}
