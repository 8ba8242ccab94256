//! HTTP: the faultline KV protocol (docs/protocol.md), the test hook, and the
//! node-to-node endpoints.
//!
//! Any node accepts any client request. The primary serves it; a backup forwards it once
//! to the primary of its epoch, marked with `x-pb-forwarded` so that it is never forwarded
//! twice, and passes the answer back verbatim.

// Handlers return a ready error `Response` from their parsing helpers; boxing it would
// only add noise on a path that runs once per request.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::node::{Node, Reject, Reply, Request, Role};
use crate::replication::{HeartbeatMsg, InstallMsg, ReplicateMsg};
use crate::store::Op;
use systems_common::kv_http::{bad_request, body_fields, error, forward, KvCall};

pub const FORWARDED: &str = "x-pb-forwarded";

pub fn router(node: Arc<Node>) -> Router {
    let internal = Router::new()
        .route("/internal/replicate", post(internal_replicate))
        .route("/internal/install", post(internal_install))
        .route("/internal/heartbeat", post(internal_heartbeat))
        .route("/internal/status", get(internal_status))
        .route("/internal/dump", get(internal_dump))
        .route_layer(middleware::from_fn_with_state(node.clone(), drop_isolated));
    Router::new()
        .route("/kv/:key", get(kv_get).put(kv_put))
        .route("/kv/:key/cas", post(kv_cas))
        .route("/kv/:key/append", post(kv_append))
        .route("/health", get(health))
        .route("/admin/replication", post(admin_replication))
        .route("/admin/isolate", post(admin_isolate))
        .route("/admin/heal", post(admin_heal))
        .merge(internal)
        .layer(DefaultBodyLimit::max(256 << 20))
        .with_state(node)
}

/// Refuses node-to-node messages from isolated peers (test hook), as a partition would.
async fn drop_isolated(
    State(n): State<Arc<Node>>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let from = req
        .headers()
        .get("x-pb-from")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if n.is_isolated_from(from) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "isolated",
            true,
            "this node is isolated from the sender (test hook)",
        );
    }
    next.run(req).await
}

/// Test hook: `{"peers": ["n2", ...]}` (or `{}` for every peer) cuts node-to-node traffic
/// with those peers both ways, as far as this node is concerned; client requests are
/// still served. Isolate both sides for a clean partition.
async fn admin_isolate(State(n): State<Arc<Node>>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let peers: Vec<String> = match &v["peers"] {
        Value::Null => n.cfg.others().map(|(id, _)| id.clone()).collect(),
        Value::Array(a) => {
            let mut out = Vec::new();
            for p in a {
                match p.as_str() {
                    Some(id) if n.cfg.addr_of(id).is_some() => out.push(id.to_string()),
                    _ => return bad_request(format!("\"peers\": {p} is not a peer")),
                }
            }
            out
        }
        other => {
            return bad_request(format!(
                "\"peers\" must be a list of peer ids, found {other}"
            ))
        }
    };
    let mut iso = n.isolated.lock().unwrap_or_else(|e| e.into_inner());
    iso.extend(peers);
    crate::logging::log("info", &n.cfg.id, "isolated", json!({"peers": *iso}));
    Json(json!({"isolated": *iso})).into_response()
}

async fn admin_heal(State(n): State<Arc<Node>>) -> Response {
    n.isolated.lock().unwrap_or_else(|e| e.into_inner()).clear();
    crate::logging::log("info", &n.cfg.id, "healed", json!({}));
    Json(json!({"isolated": []})).into_response()
}

async fn kv_get(State(n): State<Arc<Node>>, Path(key): Path<String>, h: HeaderMap) -> Response {
    client(&n, Request::Read(key), &h).await
}

async fn kv_put(
    State(n): State<Arc<Node>>,
    Path(key): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    match body_fields(&body, ["value"]) {
        Ok([value]) => client(&n, Request::Write(Op::Put { key, value }), &h).await,
        Err(r) => r,
    }
}

async fn kv_cas(
    State(n): State<Arc<Node>>,
    Path(key): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    match body_fields(&body, ["from", "to"]) {
        Ok([from, to]) => client(&n, Request::Write(Op::Cas { key, from, to }), &h).await,
        Err(r) => r,
    }
}

async fn kv_append(
    State(n): State<Arc<Node>>,
    Path(key): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    match body_fields(&body, ["value"]) {
        Ok([value]) => client(&n, Request::Write(Op::Append { key, value }), &h).await,
        Err(r) => r,
    }
}

async fn health(State(n): State<Arc<Node>>) -> Response {
    Json(n.health()).into_response()
}

/// Test hook: `{"paused": true}` stops the primary sending anything but heartbeats to its
/// backups (queued entries wait); `{"paused": false}` resumes.
async fn admin_replication(State(n): State<Arc<Node>>, body: Bytes) -> Response {
    match body_fields(&body, ["paused"]) {
        Ok([paused]) => match paused.as_bool() {
            Some(p) => {
                n.paused.send_replace(p);
                crate::logging::log(
                    "info",
                    &n.cfg.id,
                    "replication-paused",
                    json!({"paused": p}),
                );
                Json(json!({"paused": p})).into_response()
            }
            None => bad_request("\"paused\" must be true or false"),
        },
        Err(r) => r,
    }
}

async fn client(n: &Arc<Node>, req: Request, h: &HeaderMap) -> Response {
    let role = n.core().role;
    match role {
        Role::Primary => {}
        Role::Recovering => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no-leader",
                true,
                "this node is recovering or promoting itself",
            )
        }
        Role::Backup if h.contains_key(FORWARDED) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no-leader",
                true,
                "forwarded to a node that is not the primary",
            )
        }
        Role::Backup => return forward_to_primary(n, req).await,
    }
    let reply = match tokio::time::timeout(
        n.cfg.request_timeout + Duration::from_millis(200),
        n.serve(req),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Reply::Timeout,
    };
    match reply {
        Reply::Value(v) => Json(json!({"value": v})).into_response(),
        Reply::Done => Json(json!({})).into_response(),
        Reply::CasMismatch(v) => (StatusCode::CONFLICT, Json(json!({"error": "cas-mismatch", "definite": true, "value": v}))).into_response(),
        Reply::NotAList(v) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "bad-request", "definite": true, "detail": "append to a value that is not a list", "value": v})),
        )
            .into_response(),
        Reply::NotPrimary => error(StatusCode::SERVICE_UNAVAILABLE, "no-leader", true, "this node stopped being primary"),
        Reply::Timeout => error(StatusCode::GATEWAY_TIMEOUT, "timeout", false, "replication did not finish in time"),
        Reply::Deposed => error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", false, "this node was deposed by a newer primary while replicating"),
    }
}

async fn forward_to_primary(n: &Arc<Node>, req: Request) -> Response {
    let primary = n.cfg.owner(n.core().epoch).to_string();
    let Some(addr) = n.cfg.addr_of(&primary).map(str::to_string) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-leader",
            true,
            "unknown primary",
        );
    };
    let call = match &req {
        Request::Read(key) => KvCall::Read { key },
        Request::Write(Op::Put { key, value }) => KvCall::Put { key, value },
        Request::Write(Op::Cas { key, from, to }) => KvCall::Cas { key, from, to },
        Request::Write(Op::Append { key, value }) => KvCall::Append { key, value },
    };
    let limit = n.cfg.request_timeout + Duration::from_millis(700);
    forward(&n.http, &addr, call.resend(), (FORWARDED, &n.cfg.id), limit)
        .await
        .unwrap_or_else(|failure| failure.response("no-leader", &format!("primary {primary}")))
}

fn peer_answer<T: serde::Serialize>(r: Result<T, Reject>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(rej) => (StatusCode::CONFLICT, Json(rej)).into_response(),
    }
}

async fn internal_replicate(State(n): State<Arc<Node>>, body: Bytes) -> Response {
    match parse::<ReplicateMsg>(&body) {
        Ok(m) => peer_answer(n.on_replicate(m.epoch, m.entries)),
        Err(r) => r,
    }
}

async fn internal_install(State(n): State<Arc<Node>>, body: Bytes) -> Response {
    match parse::<InstallMsg>(&body) {
        Ok(m) => peer_answer(n.on_install(m.epoch, m.seq, m.store)),
        Err(r) => r,
    }
}

async fn internal_heartbeat(State(n): State<Arc<Node>>, body: Bytes) -> Response {
    match parse::<HeartbeatMsg>(&body) {
        Ok(m) => peer_answer(n.on_heartbeat(m.epoch)),
        Err(r) => r,
    }
}

async fn internal_status(State(n): State<Arc<Node>>) -> Response {
    Json(n.position()).into_response()
}

async fn internal_dump(State(n): State<Arc<Node>>) -> Response {
    let c = n.core();
    Json(json!({"synced_epoch": c.synced_epoch, "seq": c.seq, "store": c.store})).into_response()
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| bad_request(format!("body: {e}")))
}
