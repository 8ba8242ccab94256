//! HTTP: transfers, snapshots, local balances, health, and the node-to-node endpoints.
//!
//! Errors follow docs/protocol.md: `{"error": code, "definite": bool, ...}`.

// Handlers return a ready error `Response` from their parsing helpers; boxing it would
// only add noise on a path that runs once per request.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::bank::TransferError;
use crate::channel::{self, Ack, Delivery};
use crate::config::Bug;
use crate::node::Node;
use crate::snapshot::{self, SnapshotError};
use systems_common::kv_http::{bad_request, error, relay};

pub const FORWARDED: &str = "x-clbank-forwarded";

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/transfer", post(transfer))
        .route("/snapshot", post(snapshot))
        .route("/balances", get(balances))
        .route("/health", get(health))
        .route("/internal/channel", post(internal_channel))
        .route("/internal/snapshot/:id", get(internal_snapshot))
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(node)
}

async fn health(State(n): State<Arc<Node>>) -> Response {
    Json(n.health()).into_response()
}

async fn balances(State(n): State<Arc<Node>>) -> Response {
    let st = n.state();
    let b: serde_json::Map<String, Value> = st
        .bank
        .balances()
        .iter()
        .map(|(a, v)| (a.to_string(), json!(v)))
        .collect();
    Json(json!({"node": n.cfg.id, "balances": b})).into_response()
}

async fn snapshot(State(n): State<Arc<Node>>) -> Response {
    let res = if n.cfg.has(Bug::NaiveSnapshot) {
        snapshot::naive(&n).await
    } else {
        snapshot::chandy_lamport(&n).await
    };
    match res {
        Ok(v) => Json(v).into_response(),
        Err(SnapshotError::Timeout(detail)) => {
            error(StatusCode::GATEWAY_TIMEOUT, "timeout", false, &detail)
        }
    }
}

/// An account number, as a JSON integer or a string of digits.
fn account(v: &Value, name: &str) -> Result<u64, Response> {
    match v {
        Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap()),
        Value::String(s) if s.parse::<u64>().is_ok() => Ok(s.parse().unwrap()),
        _ => Err(bad_request(format!(
            "\"{name}\" must be an account number, found {v}"
        ))),
    }
}

async fn transfer(State(n): State<Arc<Node>>, h: HeaderMap, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("body is not JSON: {e}")),
    };
    let (from, to) = match (account(&v["from"], "from"), account(&v["to"], "to")) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let Some(amount) = v["amount"].as_i64() else {
        return bad_request(format!(
            "\"amount\" must be an integer, found {}",
            v["amount"]
        ));
    };
    if from >= n.cfg.accounts || to >= n.cfg.accounts {
        return bad_request(format!("accounts are 0..{}", n.cfg.accounts));
    }
    let owner = (from % n.cfg.peers.len() as u64) as usize;
    if owner != n.cfg.index {
        if h.contains_key(FORWARDED) {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                true,
                "forwarded to a node that does not hold the account",
            );
        }
        return forward(&n, owner, body).await;
    }
    let id = n.mint("t");
    let mut st = n.state();
    match st.bank.transfer(from, to, amount, &id) {
        Ok(out) => {
            n.emit(&mut st, out);
            let balance = st.bank.balances()[&from];
            Json(json!({"transfer": id, "from": from, "to": to, "amount": amount, "balance": balance})).into_response()
        }
        Err(TransferError::InsufficientFunds { account, balance }) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "insufficient-funds", "definite": true, "account": account, "balance": balance})),
        )
            .into_response(),
        Err(TransferError::UnknownAccount(a)) => bad_request(format!("account {a} does not exist (accounts are 0..{})", n.cfg.accounts)),
        Err(TransferError::SameAccount) => bad_request("\"from\" and \"to\" are the same account"),
        Err(TransferError::NonPositive(x)) => bad_request(format!("\"amount\" must be positive, found {x}")),
        Err(TransferError::NotLocal { account, node }) => {
            error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", true, format!("account {account} lives on {}", n.cfg.peers[node].0))
        }
    }
}

async fn forward(n: &Arc<Node>, owner: usize, body: Bytes) -> Response {
    let (id, addr) = &n.cfg.peers[owner];
    let sent = n
        .http
        .post(format!("http://{addr}/transfer"))
        .header(FORWARDED, n.cfg.id.as_str())
        .header("content-type", "application/json")
        .timeout(n.cfg.request_timeout + Duration::from_millis(500))
        .body(body)
        .send()
        .await;
    relay(sent)
        .await
        .unwrap_or_else(|failure| failure.response("unavailable", id))
}

async fn internal_channel(State(n): State<Arc<Node>>, body: Bytes) -> Response {
    let d: Delivery = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return bad_request(format!("channel delivery: {e}")),
    };
    match channel::receive(&n, d) {
        Ok(acked) => Json(Ack { acked }).into_response(),
        Err(e) => bad_request(&e),
    }
}

async fn internal_snapshot(State(n): State<Arc<Node>>, Path(id): Path<String>) -> Response {
    let st = n.state();
    match st.bank.snapshot(&id) {
        Some(part) => Json(part).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "not-found",
            true,
            "no marker of this snapshot has reached this node yet",
        ),
    }
}
