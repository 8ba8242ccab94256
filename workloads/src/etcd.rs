//! A client for etcd v3 over its HTTP JSON gateway (`/v3/kv/range`, `/v3/kv/put`,
//! `/v3/kv/txn`), and the leader lookup through `/v3/maintenance/status`.
//!
//! The gateway is gRPC transcoded to JSON, which shapes everything here: keys and
//! values travel base64-encoded; 64-bit numbers (revisions, member ids) arrive as
//! strings; fields holding their default value are left out, so an absent key is a
//! range answer without `kvs`, and a compare that failed is a txn answer without
//! `succeeded`. Errors come as `{"error", "message", "code"}` with the gRPC code.
//!
//! Values are stored as JSON text (`5`, `[1, 2]`), so what a read returns is exactly
//! what the history holds.
//!
//! Versions (the history's `version`, `docs/history.md`): a read records the key's
//! `mod_revision` (0 when the key is absent); a successful put or txn records the
//! revision in its response header, which is the revision that put created and so the
//! key's new `mod_revision`. Revisions grow with every write to the store, so they
//! order each key's writes, as the register session check needs.
//!
//! Outcome mapping (the rules of [`crate::client`]): `fail` only when the operation
//! certainly did not apply: a compare that did not hold, a connection refused before
//! the request went out, or an error etcd returns before it proposes anything (an
//! invalid argument, no leader, too many requests). Everything else, notably the
//! gateway's `503 "etcdserver: request timed out"` and `500 "context deadline
//! exceeded"`, is indeterminate: the proposal may already be in the log and commit
//! later.

use crate::client::{BoxFuture, Client, ClientFactory, Target};
use crate::op::{Completion, Op, OpFn};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How reads are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EtcdReads {
    /// Through the leader's read index: linearizable (etcd's default).
    #[default]
    Linearizable,
    /// From the local member's state, whatever it is: fast, and stale when the member
    /// is cut off from the leader.
    Serializable,
}

impl EtcdReads {
    pub fn name(self) -> &'static str {
        match self {
            EtcdReads::Linearizable => "linearizable",
            EtcdReads::Serializable => "serializable",
        }
    }
}

impl fmt::Display for EtcdReads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EtcdReads {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linearizable" => Ok(EtcdReads::Linearizable),
            "serializable" => Ok(EtcdReads::Serializable),
            other => Err(format!(
                "unknown etcd read mode `{other}` (known: linearizable, serializable)"
            )),
        }
    }
}

/// How many compare-and-swap rounds an `append` may take before it gives up (a
/// definite `fail`: no round that lost its compare applied anything).
const APPEND_ATTEMPTS: usize = 20;

/// Error messages etcd returns before a request is proposed to raft, so the request
/// certainly did not apply. Anything not listed is indeterminate.
const DEFINITE_MESSAGES: &[&str] = &[
    "etcdserver: no leader",
    "etcdserver: too many requests",
    "etcdserver: unhealthy cluster",
    "etcdserver: not capable",
    "etcdserver: request is too large",
];

/// The gRPC code for an invalid argument: the request was rejected as malformed.
const GRPC_INVALID_ARGUMENT: i64 = 3;

/// Clients for etcd members, sharing one connection pool.
#[derive(Clone)]
pub struct EtcdClientFactory {
    http: reqwest::Client,
    reads: EtcdReads,
}

impl EtcdClientFactory {
    pub fn new(timeout: Duration, reads: EtcdReads) -> anyhow::Result<EtcdClientFactory> {
        Ok(EtcdClientFactory {
            http: crate::client::http_client(timeout)?,
            reads,
        })
    }
}

impl ClientFactory for EtcdClientFactory {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        Ok(Arc::new(EtcdClient {
            http: self.http.clone(),
            base: target.url.trim_end_matches('/').to_string(),
            reads: self.reads,
        }))
    }
}

/// A client of one etcd member.
pub struct EtcdClient {
    http: reqwest::Client,
    base: String,
    reads: EtcdReads,
}

/// How a compare-and-put txn ended.
#[derive(Debug, PartialEq)]
enum Txn {
    /// The compare held and the put applied, at this revision (if the header said).
    Applied(Option<u64>),
    /// The compare did not hold: nothing applied.
    CompareFailed,
}

/// Why a gateway call brought back no usable answer.
#[derive(Debug)]
struct CallError {
    message: String,
    /// The request certainly did not apply: etcd said so, or it was never sent.
    definite: bool,
    /// It was never sent: the connection was refused (or had no route).
    unreached: bool,
}

impl CallError {
    /// etcd answered with an error.
    fn answered(message: String, definite: bool) -> CallError {
        CallError {
            message,
            definite,
            unreached: false,
        }
    }

    /// The completion of `op` that failed this way: `fail` when definite (or a read,
    /// which changed nothing), otherwise `info`.
    fn completion(self, op: &Op) -> Completion {
        let c = if self.definite || op.f.is_read() {
            Completion::fail(op.value.clone(), self.message)
        } else {
            Completion::info(op.value.clone(), self.message)
        };
        Completion {
            unreached: self.unreached,
            ..c
        }
    }
}

/// What one gateway call came back with: the JSON object of a success.
type Reply = Result<Value, CallError>;

impl EtcdClient {
    pub fn new(url: &str, timeout: Duration, reads: EtcdReads) -> anyhow::Result<EtcdClient> {
        let f = EtcdClientFactory::new(timeout, reads)?;
        Ok(EtcdClient {
            http: f.http,
            base: url.trim_end_matches('/').to_string(),
            reads,
        })
    }

    async fn call(&self, path: &str, body: Value) -> Reply {
        let response = match self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let unreached = e.is_connect() && !e.is_timeout();
                let message = if e.is_timeout() {
                    "timeout".to_string()
                } else {
                    chain(&e)
                };
                return Err(CallError {
                    message,
                    definite: unreached,
                    unreached,
                });
            }
        };
        let status = response.status();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Err(CallError::answered(format!("body: {}", chain(&e)), false)),
        };
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return match parsed {
                Some(v @ Value::Object(_)) => Ok(v),
                _ => Err(CallError::answered(
                    format!("malformed {path} answer"),
                    false,
                )),
            };
        }
        let (message, code) = match &parsed {
            Some(v) => (
                v.get("message")
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                v.get("code").and_then(Value::as_i64),
            ),
            None => (String::new(), None),
        };
        let definite =
            code == Some(GRPC_INVALID_ARGUMENT) || DEFINITE_MESSAGES.contains(&message.as_str());
        let message = if message.is_empty() {
            format!("http-{}", status.as_u16())
        } else {
            format!("{message} (http {})", status.as_u16())
        };
        Err(CallError::answered(message, definite))
    }

    /// The value and mod revision of `key` (`None` for an absent key).
    async fn range(&self, key: u64, serializable: bool) -> Result<Option<(Value, i64)>, CallError> {
        let mut body = json!({ "key": encode_key(key) });
        if serializable {
            body["serializable"] = json!(true);
        }
        match self.call("/v3/kv/range", body).await {
            Ok(v) => parse_range(&v).map_err(|e| CallError::answered(e, false)),
            Err(e) => Err(e),
        }
    }

    /// A txn that puts `value` if `compare` holds.
    async fn txn_put(&self, key: u64, compare: Value, value: &Value) -> Result<Txn, CallError> {
        let body = json!({
            "compare": [compare],
            "success": [{ "requestPut": { "key": encode_key(key), "value": encode_value(value) } }],
        });
        match self.call("/v3/kv/txn", body).await {
            // A failed compare is `succeeded: false`, which the gateway leaves out.
            Ok(v) => Ok(
                if v.get("succeeded").and_then(Value::as_bool).unwrap_or(false) {
                    Txn::Applied(header_revision(&v))
                } else {
                    Txn::CompareFailed
                },
            ),
            Err(e) => Err(e),
        }
    }

    async fn perform(&self, op: &Op) -> Completion {
        let key = op.key;
        match op.f {
            OpFn::Read | OpFn::FinalRead => {
                // Final reads too follow the chosen mode: they are part of the
                // linearizability check, so they must promise what other reads do.
                let serializable = self.reads == EtcdReads::Serializable;
                match self.range(key, serializable).await {
                    Ok(Some((value, rev))) => {
                        Completion::ok(value).with_version(u64::try_from(rev).ok())
                    }
                    // An absent key: never written (faultline never deletes).
                    Ok(None) => Completion::ok(Value::Null).with_version(Some(0)),
                    // A read changed nothing: fail whatever went wrong.
                    Err(e) => e.completion(op),
                }
            }
            OpFn::Write => {
                let body = json!({ "key": encode_key(key), "value": encode_value(&op.value) });
                match self.call("/v3/kv/put", body).await {
                    Ok(v) => Completion::ok(op.value.clone()).with_version(header_revision(&v)),
                    Err(e) => e.completion(op),
                }
            }
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
                let compare = if from.is_null() {
                    // "Still unwritten": the key has never been created.
                    json!({ "key": encode_key(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0" })
                } else {
                    json!({ "key": encode_key(key), "target": "VALUE", "result": "EQUAL", "value": encode_value(from) })
                };
                match self.txn_put(key, compare, to).await {
                    Ok(Txn::Applied(rev)) => Completion::ok(op.value.clone()).with_version(rev),
                    Ok(Txn::CompareFailed) => Completion::fail(op.value.clone(), "cas-mismatch"),
                    Err(e) => e.completion(op),
                }
            }
            OpFn::Append => self.append(op).await,
            OpFn::Txn => Completion::no_transactions(op, "this etcd client"),
        }
    }

    /// Read, extend, and put back only if nobody wrote in between (compare on
    /// `mod_revision`, or on the key still being absent); retried on contention.
    async fn append(&self, op: &Op) -> Completion {
        let key = op.key;
        for _ in 0..APPEND_ATTEMPTS {
            let current = match self.range(key, false).await {
                Ok(c) => c,
                // Nothing was written yet: a failed read fails the append definitely.
                Err(e) => {
                    return CallError {
                        message: format!("reading for append: {}", e.message),
                        definite: true,
                        ..e
                    }
                    .completion(op)
                }
            };
            let (mut list, compare) = match current {
                None => (
                    Vec::new(),
                    json!({ "key": encode_key(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0" }),
                ),
                Some((Value::Array(items), rev)) => (
                    items,
                    json!({ "key": encode_key(key), "target": "MOD", "result": "EQUAL", "mod_revision": rev.to_string() }),
                ),
                Some((other, _)) => {
                    return Completion::fail(
                        op.value.clone(),
                        format!("key {key} holds {other}, not a list"),
                    );
                }
            };
            list.push(op.value.clone());
            match self.txn_put(key, compare, &Value::Array(list)).await {
                Ok(Txn::Applied(rev)) => return Completion::ok(op.value.clone()).with_version(rev),
                Ok(Txn::CompareFailed) => continue,
                Err(e) => return e.completion(op),
            }
        }
        Completion::fail(
            op.value.clone(),
            format!("contention: {APPEND_ATTEMPTS} compare-and-swap rounds lost"),
        )
    }
}

impl Client for EtcdClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

pub fn encode_key(key: u64) -> String {
    B64.encode(key.to_string())
}

fn encode_value(v: &Value) -> String {
    B64.encode(v.to_string())
}

/// A 64-bit number from the gateway: a string, or (from other gateways) a number.
pub fn int64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The revision in an answer's header: after a put, or a txn that put, the revision
/// the write created (the key's new `mod_revision`). `None` when absent or not positive.
fn header_revision(v: &Value) -> Option<u64> {
    int64(v.get("header")?.get("revision"))
        .and_then(|r| u64::try_from(r).ok())
        .filter(|r| *r > 0)
}

/// A range answer: `None` when there is no `kvs` (the key is absent).
fn parse_range(v: &Value) -> Result<Option<(Value, i64)>, String> {
    let Some(kv) = v
        .get("kvs")
        .and_then(Value::as_array)
        .and_then(|kvs| kvs.first())
    else {
        return Ok(None);
    };
    // An empty value is the default and so left out.
    let raw = kv.get("value").and_then(Value::as_str).unwrap_or("");
    let bytes = B64
        .decode(raw)
        .map_err(|e| format!("malformed range answer: value is not base64: {e}"))?;
    let value = serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "key holds {:?}, which faultline did not write",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    let rev = int64(kv.get("mod_revision")).ok_or("malformed range answer: no mod_revision")?;
    Ok(Some((value, rev)))
}

fn chain(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    let detail = source.to_string();
    if e.is_connect() {
        format!("connect: {detail}")
    } else {
        format!("connection: {detail}")
    }
}

/// What one member says about itself and the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    pub member_id: String,
    /// The leader's member id; `None` when the member knows no leader.
    pub leader: Option<String>,
    pub raft_term: i64,
}

/// `POST /v3/maintenance/status` on one member.
pub async fn member_status(http: &reqwest::Client, url: &str) -> Option<MemberStatus> {
    let v: Value = http
        .post(format!(
            "{}/v3/maintenance/status",
            url.trim_end_matches('/')
        ))
        .json(&json!({}))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .await
        .ok()?;
    parse_status(&v)
}

fn parse_status(v: &Value) -> Option<MemberStatus> {
    let member_id = v.get("header")?.get("member_id")?.as_str()?.to_string();
    let leader = v
        .get("leader")
        .and_then(Value::as_str)
        .filter(|l| *l != "0")
        .map(str::to_string);
    let raft_term = int64(v.get("raftTerm").or_else(|| v.get("raft_term"))).unwrap_or(0);
    Some(MemberStatus {
        member_id,
        leader,
        raft_term,
    })
}

/// The index (into `urls`) of the member the cluster reports as leader: the claim of
/// the highest term, among members that can be reached. `None` when no member knows
/// a leader, or the leader is not one of `urls`.
pub async fn leader_index(urls: &[String], timeout: Duration) -> Option<usize> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .ok()?;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, url) in urls.iter().enumerate() {
        let (http, url) = (http.clone(), url.clone());
        tasks.spawn(async move { (i, member_status(&http, &url).await) });
    }
    let mut statuses = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, Some(s))) = joined {
            statuses.push((i, s));
        }
    }
    let (_, best) = statuses
        .iter()
        .filter(|(_, s)| s.leader.is_some())
        .max_by_key(|(_, s)| s.raft_term)?;
    let leader = best.leader.clone()?;
    statuses
        .iter()
        .find(|(_, s)| s.member_id == leader)
        .map(|(i, _)| *i)
}

#[cfg(test)]
mod tests {
    //! Against a tiny fake of the gateway with etcd's real shapes (strings for
    //! 64-bit numbers, default fields left out), as seen from etcd 3.4.23.

    use super::*;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::{Json, Router};
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Store {
        /// key (base64) -> (value (base64), create_revision, mod_revision)
        kvs: HashMap<String, (String, i64, i64)>,
        revision: i64,
        /// When set, every request gets this status and error body.
        error: Option<(u16, &'static str, i64)>,
        /// Range requests seen, with whether they asked to be serializable.
        ranges: Vec<bool>,
    }

    type Shared = Arc<Mutex<Store>>;

    fn header(s: &Store) -> Value {
        json!({ "cluster_id": "1", "member_id": "42", "revision": s.revision.to_string(), "raft_term": "2" })
    }

    fn gate(s: &Store) -> Option<(StatusCode, Json<Value>)> {
        s.error.map(|(status, msg, code)| {
            (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({ "error": msg, "message": msg, "code": code })),
            )
        })
    }

    async fn range(State(st): State<Shared>, Json(req): Json<Value>) -> (StatusCode, Json<Value>) {
        let mut s = st.lock().unwrap();
        s.ranges.push(
            req.get("serializable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        );
        if let Some(e) = gate(&s) {
            return e;
        }
        let key = req["key"].as_str().unwrap().to_string();
        let mut out = json!({ "header": header(&s) });
        if let Some((v, c, m)) = s.kvs.get(&key) {
            out["kvs"] = json!([{ "key": key, "create_revision": c.to_string(), "mod_revision": m.to_string(), "version": "1", "value": v }]);
            out["count"] = json!("1");
        }
        (StatusCode::OK, Json(out))
    }

    fn put(s: &mut Store, key: &str, value: &str) {
        s.revision += 1;
        let rev = s.revision;
        let create = s.kvs.get(key).map(|e| e.1).unwrap_or(rev);
        s.kvs
            .insert(key.to_string(), (value.to_string(), create, rev));
    }

    async fn put_handler(
        State(st): State<Shared>,
        Json(req): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        let mut s = st.lock().unwrap();
        if let Some(e) = gate(&s) {
            return e;
        }
        put(
            &mut s,
            req["key"].as_str().unwrap(),
            req["value"].as_str().unwrap_or(""),
        );
        (StatusCode::OK, Json(json!({ "header": header(&s) })))
    }

    async fn txn(State(st): State<Shared>, Json(req): Json<Value>) -> (StatusCode, Json<Value>) {
        let mut s = st.lock().unwrap();
        if let Some(e) = gate(&s) {
            return e;
        }
        let holds = req["compare"].as_array().unwrap().iter().all(|c| {
            let entry = s.kvs.get(c["key"].as_str().unwrap());
            match c["target"].as_str().unwrap() {
                "VALUE" => entry.map(|e| e.0.as_str()) == c["value"].as_str(),
                "CREATE" => {
                    entry.map(|e| e.1).unwrap_or(0).to_string()
                        == c["create_revision"].as_str().unwrap()
                }
                "MOD" => {
                    entry.map(|e| e.2).unwrap_or(0).to_string()
                        == c["mod_revision"].as_str().unwrap()
                }
                other => panic!("unexpected target {other}"),
            }
        });
        let mut out = json!({ "header": header(&s) });
        if holds {
            for r in req["success"].as_array().unwrap() {
                let p = &r["requestPut"];
                put(
                    &mut s,
                    p["key"].as_str().unwrap(),
                    p["value"].as_str().unwrap(),
                );
            }
            out["succeeded"] = json!(true);
            out["header"] = header(&s);
        }
        (StatusCode::OK, Json(out))
    }

    async fn fake() -> (String, Shared) {
        let shared: Shared = Arc::default();
        let app = Router::new()
            .route("/v3/kv/range", post(range))
            .route("/v3/kv/put", post(put_handler))
            .route("/v3/kv/txn", post(txn))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, shared)
    }

    fn client(url: &str, reads: EtcdReads) -> EtcdClient {
        EtcdClient::new(url, Duration::from_millis(500), reads).unwrap()
    }

    #[tokio::test]
    async fn register_operations_round_trip() {
        let (url, store) = fake().await;
        let c = client(&url, EtcdReads::Linearizable);
        let ok = |v: Value, rev: u64| Completion::ok(v).with_version(Some(rev));
        // Absent: version 0. The fake's store revision starts at 0, as etcd's at 1.
        assert_eq!(c.perform(&Op::read(1)).await, ok(Value::Null, 0));
        assert_eq!(c.perform(&Op::write(1, 5)).await, ok(json!(5), 1));
        assert_eq!(c.perform(&Op::read(1)).await, ok(json!(5), 1));
        // The stored bytes are the JSON text, base64'd, under the decimal key.
        assert_eq!(
            store.lock().unwrap().kvs[&B64.encode("1")].0,
            B64.encode("5")
        );
        // Another key's write moves the store's revision, not key 1's mod_revision.
        assert_eq!(c.perform(&Op::write(3, 0)).await, ok(json!(0), 2));
        assert_eq!(c.perform(&Op::read(1)).await, ok(json!(5), 1));
        let hit = c.perform(&Op::cas(1, json!(5), 6)).await;
        assert_eq!(hit, ok(json!([5, 6]), 3));
        let miss = c.perform(&Op::cas(1, json!(5), 7)).await;
        assert_eq!(miss, Completion::fail(json!([5, 7]), "cas-mismatch"));
        assert_eq!(c.perform(&Op::read(1)).await, ok(json!(6), 3));
        // From nil: only while the key was never written.
        assert_eq!(
            c.perform(&Op::cas(2, Value::Null, 1)).await,
            ok(json!([null, 1]), 4)
        );
        assert_eq!(
            c.perform(&Op::cas(2, Value::Null, 3)).await.outcome,
            crate::op::Outcome::Fail
        );
        assert_eq!(c.perform(&Op::read(2)).await, ok(json!(1), 4));
        assert_eq!(
            store.lock().unwrap().ranges.iter().filter(|s| **s).count(),
            0,
            "linearizable reads asked for serializable"
        );
    }

    #[test]
    fn a_header_without_a_usable_revision_gives_no_version() {
        assert_eq!(
            header_revision(&json!({"header": {"revision": "17"}})),
            Some(17)
        );
        assert_eq!(
            header_revision(&json!({"header": {"revision": 17}})),
            Some(17)
        );
        assert_eq!(header_revision(&json!({"header": {}})), None);
        assert_eq!(
            header_revision(&json!({"header": {"revision": "-1"}})),
            None
        );
        assert_eq!(header_revision(&json!({})), None);
    }

    #[tokio::test]
    async fn appends_build_a_list_and_serializable_reads_say_so() {
        let (url, store) = fake().await;
        let c = client(&url, EtcdReads::Serializable);
        for (e, rev) in [(3, 1), (1, 2), (2, 3)] {
            assert_eq!(
                c.perform(&Op::append(9, e)).await,
                Completion::ok(json!(e)).with_version(Some(rev))
            );
        }
        assert_eq!(
            c.perform(&Op::read(9)).await,
            Completion::ok(json!([3, 1, 2])).with_version(Some(3))
        );
        let ranges = store.lock().unwrap().ranges.clone();
        // Appends read linearizably (their compare guards them anyway); the read did not.
        assert_eq!(ranges.last(), Some(&true));
        assert!(ranges[..ranges.len() - 1].iter().all(|s| !s));
        // Final reads follow the mode.
        c.perform(&Op::final_read(9)).await;
        assert_eq!(store.lock().unwrap().ranges.last(), Some(&true));
        client(&url, EtcdReads::Linearizable)
            .perform(&Op::final_read(9))
            .await;
        assert_eq!(store.lock().unwrap().ranges.last(), Some(&false));
    }

    #[tokio::test]
    async fn errors_map_to_fail_only_when_certain() {
        let (url, store) = fake().await;
        let c = client(&url, EtcdReads::Linearizable);
        let set = |e| store.lock().unwrap().error = Some(e);
        // The gateway's timeout: the proposal may still commit.
        set((503, "etcdserver: request timed out", 14));
        let w = c.perform(&Op::write(1, 1)).await;
        assert_eq!(w.outcome, crate::op::Outcome::Info, "{w:?}");
        assert!(w.error.unwrap().contains("request timed out"));
        assert_eq!(
            c.perform(&Op::cas(1, json!(1), 2)).await.outcome,
            crate::op::Outcome::Info
        );
        assert_eq!(
            c.perform(&Op::append(1, 2)).await.outcome,
            crate::op::Outcome::Fail,
            "its read failed first"
        );
        // A read that timed out changed nothing.
        assert_eq!(
            c.perform(&Op::read(1)).await.outcome,
            crate::op::Outcome::Fail
        );
        set((500, "context deadline exceeded", 2));
        assert_eq!(
            c.perform(&Op::write(1, 1)).await.outcome,
            crate::op::Outcome::Info
        );
        // Refused before anything was proposed.
        set((503, "etcdserver: no leader", 14));
        assert_eq!(
            c.perform(&Op::write(1, 1)).await.outcome,
            crate::op::Outcome::Fail
        );
        set((400, "illegal base64 data at input byte 0", 3));
        assert_eq!(
            c.perform(&Op::write(1, 1)).await.outcome,
            crate::op::Outcome::Fail
        );
        // Nothing listening: the request never left.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let w = client(&dead, EtcdReads::Linearizable)
            .perform(&Op::write(1, 1))
            .await;
        assert_eq!(w.outcome, crate::op::Outcome::Fail, "{w:?}");
        assert!(w.unreached, "the runner backs off after it: {w:?}");
        // An error etcd answered is not one the runner backs off after.
        set((503, "etcdserver: no leader", 14));
        assert!(!c.perform(&Op::write(1, 1)).await.unreached);
    }

    #[tokio::test]
    async fn a_slow_member_is_indeterminate_for_writes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // Accepts and never answers.
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                held.push(s);
            }
        });
        let c = EtcdClient::new(&url, Duration::from_millis(200), EtcdReads::Linearizable).unwrap();
        let w = c.perform(&Op::write(1, 1)).await;
        assert_eq!(
            (w.outcome, w.error.as_deref()),
            (crate::op::Outcome::Info, Some("timeout"))
        );
        hold.abort();
    }

    #[test]
    fn status_answers_name_the_leader() {
        let with = json!({"header":{"cluster_id":"8570459336700167655","member_id":"8645782499530242234","revision":"3","raft_term":"2"},
            "version":"3.4.23","leader":"11539305337000706507","raftIndex":"11","raftTerm":"2"});
        assert_eq!(
            parse_status(&with),
            Some(MemberStatus {
                member_id: "8645782499530242234".into(),
                leader: Some("11539305337000706507".into()),
                raft_term: 2
            })
        );
        // Without a leader the field is left out and `errors` says why.
        let without = json!({"header":{"member_id":"8645782499530242234"},"raftTerm":"2","errors":["etcdserver: no leader"]});
        assert_eq!(parse_status(&without).unwrap().leader, None);
    }

    #[test]
    fn read_modes_parse_with_a_clear_error() {
        assert_eq!(
            "serializable".parse::<EtcdReads>(),
            Ok(EtcdReads::Serializable)
        );
        assert!("stale"
            .parse::<EtcdReads>()
            .unwrap_err()
            .contains("linearizable, serializable"));
    }
}
