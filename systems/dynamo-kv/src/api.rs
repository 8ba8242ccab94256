//! HTTP routes: the faultline KV protocol for clients, `/local/` views for convergence
//! checks, `/admin/` test controls, and `/internal/` node-to-node messages.

use crate::anti_entropy::hex;
use crate::coordinator::{self, OpError};
use crate::dots::DotSet;
use crate::node::Node;
use crate::rpc::{
    Empty, GetRequest, GetResponse, GossipMessage, MergeRequest, MerkleRequest, MerkleResponse,
    RangeRequest, RangeResponse, FROM_HEADER,
};
use crate::version::{context_of, decode_context, encode_context, resolved_value};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use systems_common::kv_http::{bad_request, body_fields, error, json_object, required};

type Shared = State<Arc<Node>>;

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/kv/:key", get(kv_get).put(kv_put))
        .route("/kv/:key/cas", post(kv_cas))
        .route("/kv/:key/append", post(kv_append))
        .route("/health", get(health))
        .route("/local/kv/:key", get(local_get))
        .route("/admin/isolate", post(admin_isolate))
        .route("/admin/heal", post(admin_heal))
        .route("/internal/get", post(internal_get))
        .route("/internal/merge", post(internal_merge))
        .route("/internal/gossip", post(internal_gossip))
        .route("/internal/merkle", post(internal_merkle))
        .route("/internal/range", post(internal_range))
        // Anti-entropy and handoff batches can be larger than axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .with_state(node)
}

fn op_error(e: OpError) -> Response {
    match e {
        OpError::Unavailable { definite, detail } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            definite,
            detail,
        ),
        OpError::Timeout { detail } => error(StatusCode::GATEWAY_TIMEOUT, "timeout", false, detail),
        OpError::BadRequest(detail) => bad_request(detail),
        OpError::CasMismatch(value) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "cas-mismatch", "definite": true, "value": value})),
        )
            .into_response(),
    }
}

impl From<Refusal> for Response {
    fn from(r: Refusal) -> Response {
        r.into_response()
    }
}

/// A request refused before it did anything (so always definite).
enum Refusal {
    BadRequest(String),
    Isolated(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::BadRequest(detail) => bad_request(detail),
            Refusal::Isolated(detail) => {
                error(StatusCode::SERVICE_UNAVAILABLE, "isolated", true, detail)
            }
        }
    }
}

fn context(map: &serde_json::Map<String, Value>) -> Result<Option<DotSet>, Refusal> {
    match map.get("context") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => decode_context(s)
            .map(Some)
            .map_err(|e| Refusal::BadRequest(format!("\"context\": {e}"))),
        Some(other) => Err(Refusal::BadRequest(format!(
            "\"context\" must be a string from a read, got {other}"
        ))),
    }
}

async fn kv_get(State(node): Shared, Path(key): Path<String>) -> Response {
    match coordinator::read(&node, &key).await {
        Ok(versions) => Json(json!({
            "value": resolved_value(&versions),
            "siblings": versions.iter().map(|v| v.value.clone()).collect::<Vec<_>>(),
            "context": encode_context(&context_of(&versions)),
        }))
        .into_response(),
        Err(e) => op_error(e),
    }
}

async fn kv_put(State(node): Shared, Path(key): Path<String>, body: Bytes) -> Response {
    let result = async {
        let mut map = json_object(&body)?;
        let value = required(&mut map, "value")?;
        let ctx = context(&map)?;
        coordinator::put(&node, &key, value, ctx)
            .await
            .map_err(op_error)
    };
    match result.await {
        Ok(()) => Json(json!({})).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn kv_append(State(node): Shared, Path(key): Path<String>, body: Bytes) -> Response {
    let result = async {
        let mut map = json_object(&body)?;
        let value = required(&mut map, "value")?;
        let ctx = context(&map)?;
        coordinator::append(&node, &key, value, ctx)
            .await
            .map_err(op_error)
    };
    match result.await {
        Ok(()) => Json(json!({})).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn kv_cas(State(node): Shared, Path(key): Path<String>, body: Bytes) -> Response {
    let result = async {
        let [from, to] = body_fields(&body, ["from", "to"])?;
        coordinator::cas(&node, &key, from, to)
            .await
            .map_err(op_error)
    };
    match result.await {
        Ok(()) => Json(json!({})).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn health(State(node): Shared) -> Response {
    let (members, alive, heartbeats) = {
        let m = node.membership.lock().unwrap();
        (m.members(), m.alive(Instant::now()), m.view())
    };
    let cfg = &node.cfg;
    let bugs: Vec<&str> = [
        ("no-handoff", cfg.bugs.no_handoff),
        ("no-merge", cfg.bugs.no_merge),
    ]
    .into_iter()
    .filter_map(|(n, on)| on.then_some(n))
    .collect();
    Json(json!({
        "node": node.id(),
        "role": "replica",
        "leader": null,
        "members": members,
        "alive": alive,
        "heartbeats": heartbeats,
        "incarnation": node.incarnation,
        "n": cfg.n, "r": cfg.r, "w": cfg.w,
        "quorum": if cfg.sloppy { "sloppy" } else { "strict" },
        "resolver": if cfg.lww { "lww" } else { "causal" },
        "bugs": bugs,
        "keys": node.store.with_entries(|m| m.len()),
        "hints": node.hint_count(),
        "isolated_from": node.peers.isolated(),
    }))
    .into_response()
}

/// This node's own versions of a key, without any quorum: what a convergence check
/// compares across replicas. `versions` is replica data; `hinted` what it holds as a
/// stand-in, by owner.
async fn local_get(State(node): Shared, Path(key): Path<String>) -> Response {
    let versions = node.store.get(&key);
    Json(json!({
        "node": node.id(),
        "key": key,
        "preference_list": node.ring.preference_list(&key, node.cfg.n),
        "siblings": versions.iter().map(|v| v.value.clone()).collect::<Vec<_>>(),
        "versions": versions,
        "hinted": node.local_hints(&key),
    }))
    .into_response()
}

async fn admin_isolate(State(node): Shared, body: Bytes) -> Response {
    let peers: Vec<String> = if body.iter().all(|b| b.is_ascii_whitespace()) {
        Vec::new()
    } else {
        let map = match json_object(&body) {
            Ok(m) => m,
            Err(r) => return r,
        };
        match map.get("peers") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => match serde_json::from_value::<Vec<String>>(v.clone()) {
                Ok(p) => p,
                Err(_) => return bad_request("\"peers\" must be a list of node ids"),
            },
        }
    };
    if let Some(unknown) = peers.iter().find(|p| !node.cfg.members.contains_key(*p)) {
        return bad_request(format!("unknown node {unknown:?} in \"peers\""));
    }
    node.peers.isolate(&peers);
    Json(json!({"isolated_from": node.peers.isolated()})).into_response()
}

async fn admin_heal(State(node): Shared) -> Response {
    node.peers.heal();
    Json(json!({"isolated_from": []})).into_response()
}

/// Parses an internal request, refusing it when we are isolated from its sender.
fn internal<T: DeserializeOwned>(
    node: &Node,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, Refusal> {
    let from = headers
        .get(FROM_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if node.peers.is_isolated_from(from) {
        return Err(Refusal::Isolated(format!("isolated from {from}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| Refusal::BadRequest(format!("bad internal request: {e}")))
}

async fn internal_get(State(node): Shared, headers: HeaderMap, body: Bytes) -> Response {
    match internal::<GetRequest>(&node, &headers, &body) {
        Ok(req) => Json(GetResponse {
            versions: node.local_versions(&req.key),
        })
        .into_response(),
        Err(r) => r.into_response(),
    }
}

async fn internal_merge(State(node): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let req = match internal::<MergeRequest>(&node, &headers, &body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    let n = node.clone();
    match tokio::task::spawn_blocking(move || n.apply_merge(&req.entries, req.hint_for.as_deref()))
        .await
    {
        Ok(Ok(())) => Json(Empty {}).into_response(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
            false,
            format!("{e:#}"),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
            false,
            e.to_string(),
        ),
    }
}

async fn internal_gossip(State(node): Shared, headers: HeaderMap, body: Bytes) -> Response {
    match internal::<GossipMessage>(&node, &headers, &body) {
        Ok(msg) => {
            let mut m = node.membership.lock().unwrap();
            m.merge(&msg.view, Instant::now());
            Json(GossipMessage { view: m.view() }).into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn internal_merkle(State(node): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let req = match internal::<MerkleRequest>(&node, &headers, &body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    if req.depth != node.cfg.merkle_depth {
        return bad_request(format!(
            "merkle depth {} differs from ours ({})",
            req.depth, node.cfg.merkle_depth
        ));
    }
    let n = node.clone();
    let tree = match tokio::task::spawn_blocking(move || n.merkle_tree(&req.peer, req.depth)).await
    {
        Ok(t) => t,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                false,
                e.to_string(),
            )
        }
    };
    let hashes = req.nodes.iter().map(|i| tree.hash(*i).map(hex)).collect();
    Json(MerkleResponse { hashes }).into_response()
}

async fn internal_range(State(node): Shared, headers: HeaderMap, body: Bytes) -> Response {
    match internal::<RangeRequest>(&node, &headers, &body) {
        Ok(req) => {
            let n = node.clone();
            match tokio::task::spawn_blocking(move || n.range(&req.peer, req.depth, &req.leaves))
                .await
            {
                Ok(entries) => Json(RangeResponse { entries }).into_response(),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    false,
                    e.to_string(),
                ),
            }
        }
        Err(r) => r.into_response(),
    }
}
