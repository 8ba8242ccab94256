//! The client-facing HTTP API (docs/protocol.md), the admin endpoints and the peer endpoint.
//!
//! Any node accepts any request: a node that is not the leader forwards it once to the node it
//! believes leads (marking it with `x-faultline-forwarded` so it is never forwarded twice) and
//! passes the answer back verbatim.

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::bugs::{Bug, Bugs};
use crate::core::NodeId;
use crate::kv::Command;
use crate::node::{Event, Reply, Status};
use crate::transport::{Batch, Transport};
use systems_common::kv_http::{
    self, bad_request, body_fields, encode_segment, error, KvCall, RelayFailure, Resend,
};

pub const FORWARDED: &str = "x-faultline-forwarded";

#[derive(Clone)]
pub struct AppState {
    pub id: NodeId,
    pub events: Sender<Event>,
    pub status: Arc<RwLock<Status>>,
    pub transport: Arc<Transport>,
    pub client: reqwest::Client,
    pub bugs: Bugs,
    pub request_timeout: Duration,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/kv/:key", get(kv_get).put(kv_put))
        .route("/kv/:key/cas", post(kv_cas))
        .route("/kv/:key/append", post(kv_append))
        .route("/health", get(health))
        .route("/admin/members", post(admin_add).put(admin_set))
        .route("/admin/members/:id", delete(admin_remove))
        .route(
            "/raft/messages",
            post(raft_messages).layer(DefaultBodyLimit::max(256 << 20)),
        )
        .with_state(state)
}

/// A request as the driver sees it, and as it is re-sent when forwarded.
enum Op {
    Read(String),
    Write(Command),
    Add { id: NodeId, addr: String },
    Remove(NodeId),
    Set(BTreeMap<NodeId, String>),
}

impl Op {
    fn is_read(&self) -> bool {
        matches!(self, Op::Read(_))
    }

    /// The request that performs this operation on another node (the leader).
    fn http(&self) -> Resend {
        let kv = match self {
            Op::Read(key) => KvCall::Read { key },
            Op::Write(Command::Put { key, value }) => KvCall::Put { key, value },
            Op::Write(Command::Cas { key, from, to }) => KvCall::Cas { key, from, to },
            Op::Write(Command::Append { key, value }) => KvCall::Append { key, value },
            Op::Add { id, addr } => {
                return Resend {
                    method: Method::POST,
                    path: "/admin/members".into(),
                    body: Some(json!({"id": id, "addr": addr})),
                }
            }
            Op::Set(members) => {
                return Resend {
                    method: Method::PUT,
                    path: "/admin/members".into(),
                    body: Some(json!({ "members": members })),
                }
            }
            Op::Remove(id) => {
                return Resend {
                    method: Method::DELETE,
                    path: format!("/admin/members/{}", encode_segment(id)),
                    body: None,
                }
            }
        };
        kv.resend()
    }

    fn event(self, reply: oneshot::Sender<Reply>, local: bool) -> Event {
        match self {
            Op::Read(key) => Event::Read { key, local, reply },
            Op::Write(cmd) => Event::Write { cmd, reply },
            Op::Add { id, addr } => Event::AddMember { id, addr, reply },
            Op::Remove(id) => Event::RemoveMember { id, reply },
            Op::Set(members) => Event::SetMembers { members, reply },
        }
    }
}

async fn kv_get(State(s): State<AppState>, Path(key): Path<String>, h: HeaderMap) -> Response {
    run(&s, Op::Read(key), &h).await
}

async fn kv_put(
    State(s): State<AppState>,
    Path(key): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    match body_fields(&body, ["value"]) {
        Ok([value]) => run(&s, Op::Write(Command::Put { key, value }), &h).await,
        Err(r) => r,
    }
}

async fn kv_cas(
    State(s): State<AppState>,
    Path(key): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    match body_fields(&body, ["from", "to"]) {
        Ok([from, to]) => run(&s, Op::Write(Command::Cas { key, from, to }), &h).await,
        Err(r) => r,
    }
}

async fn kv_append(
    State(s): State<AppState>,
    Path(key): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    match body_fields(&body, ["value"]) {
        Ok([value]) => run(&s, Op::Write(Command::Append { key, value }), &h).await,
        Err(r) => r,
    }
}

async fn admin_add(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Response {
    match body_fields(&body, ["id", "addr"]) {
        Ok([Value::String(id), Value::String(addr)]) if !id.is_empty() && !addr.is_empty() => {
            run(&s, Op::Add { id, addr }, &h).await
        }
        Ok(_) => bad_request("\"id\" and \"addr\" must be non-empty strings"),
        Err(r) => r,
    }
}

/// `PUT /admin/members {"members": {"n1": "10.0.0.1:8080", ...}}`: the voters become
/// exactly these, in one change however many differ (through joint consensus).
async fn admin_set(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Response {
    let members = match body_fields(&body, ["members"]) {
        Ok([m]) => serde_json::from_value::<BTreeMap<NodeId, String>>(m),
        Err(r) => return r,
    };
    match members {
        Ok(m) if !m.is_empty() && m.iter().all(|(k, v)| !k.is_empty() && !v.is_empty()) => {
            run(&s, Op::Set(m), &h).await
        }
        _ => bad_request("\"members\" must be a non-empty object of node id -> address"),
    }
}

async fn admin_remove(State(s): State<AppState>, Path(id): Path<String>, h: HeaderMap) -> Response {
    run(&s, Op::Remove(id), &h).await
}

async fn health(State(s): State<AppState>) -> Response {
    let st = s.status.read().unwrap().clone();
    Json(st.to_json(&s.bugs)).into_response()
}

async fn raft_messages(State(s): State<AppState>, body: Bytes) -> Response {
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("peer batch: {e}")),
    };
    s.transport.learn(
        &[(batch.from.clone(), batch.from_addr.clone())]
            .into_iter()
            .collect(),
    );
    if s.events.send(Event::Peer(batch.messages)).is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            true,
            "this node is shutting down",
        );
    }
    Json(json!({})).into_response()
}

/// Routes `op` to the leader (forwarding if needed) and turns the driver's reply into HTTP.
async fn run(s: &AppState, op: Op, headers: &HeaderMap) -> Response {
    let forwarded = headers.contains_key(FORWARDED);
    // BUG (stale-read): any node answers reads from its own state machine.
    let local = op.is_read() && s.bugs.has(Bug::StaleRead);
    if !local && !forwarded {
        match wait_for_leader(s).await {
            None => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no-leader",
                    true,
                    "no leader known",
                )
            }
            Some(leader) if leader != s.id => return forward(s, &op, &leader).await,
            Some(_) => {}
        }
    }
    let is_read = op.is_read();
    let (tx, rx) = oneshot::channel();
    let resend = op.http();
    if s.events.send(op.event(tx, local)).is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            true,
            "this node is shutting down",
        );
    }
    let reply = match tokio::time::timeout(budget(s, &resend.path), rx).await {
        Ok(Ok(r)) => r,
        _ => {
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                false,
                "not done in time",
            )
        }
    };
    match reply {
        Reply::NotLeader(Some(leader)) if !forwarded && leader != s.id => {
            forward_raw(s, resend, &leader).await
        }
        r => to_response(r, is_read),
    }
}

/// How long a request may take end to end: membership changes wait for a new node to catch
/// up, so they get ten request timeouts; everything else one (plus slack for the driver's tick).
fn budget(s: &AppState, path: &str) -> Duration {
    let n = if path.starts_with("/admin") { 10 } else { 1 };
    s.request_timeout * n + Duration::from_millis(500)
}

/// The current leader, waiting briefly for an election to finish if none is known.
async fn wait_for_leader(s: &AppState) -> Option<NodeId> {
    let deadline = Instant::now() + s.request_timeout.min(Duration::from_secs(1));
    loop {
        if let Some(l) = s.status.read().unwrap().leader.clone() {
            return Some(l);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn forward(s: &AppState, op: &Op, leader: &str) -> Response {
    forward_raw(s, op.http(), leader).await
}

async fn forward_raw(s: &AppState, req: Resend, leader: &str) -> Response {
    let Some(addr) = s.transport.addr_of(leader) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-leader",
            true,
            format!("no address known for leader {leader}"),
        );
    };
    let limit = budget(s, &req.path) + Duration::from_millis(500);
    match kv_http::forward(&s.client, &addr, req, (FORWARDED, &s.id), limit).await {
        Ok(answer) => answer,
        // Never reached the leader: certainly not applied. Says which leader it tried,
        // so a client (and a test) can tell a stale leader hint from no leader.
        Err(RelayFailure::Unreachable) => {
            let r = json!({"error": "unavailable", "definite": true,
                           "detail": format!("cannot reach leader {leader}"), "forwarded_to": leader});
            (StatusCode::SERVICE_UNAVAILABLE, Json(r)).into_response()
        }
        Err(failure) => failure.response("unavailable", &format!("leader {leader}")),
    }
}

fn to_response(r: Reply, is_read: bool) -> Response {
    match r {
        Reply::Value(v, version) => Json(json!({"value": v, "version": version})).into_response(),
        Reply::Written(version) => Json(json!({"version": version})).into_response(),
        Reply::Done => Json(json!({})).into_response(),
        Reply::CasMismatch(v) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "cas-mismatch", "definite": true, "value": v})),
        )
            .into_response(),
        Reply::NotAList(v) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "not-a-list", "definite": true, "value": v})),
        )
            .into_response(),
        Reply::NotLeader(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-leader",
            true,
            "this node is not the leader",
        ),
        Reply::Indeterminate("timeout") => error(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            false,
            "not committed in time",
        ),
        Reply::Indeterminate(code) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            is_read,
            "leadership changed while the request was in flight",
        ),
        Reply::Failed(detail) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "rejected", "definite": true, "detail": detail})),
        )
            .into_response(),
    }
}
