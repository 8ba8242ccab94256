//! A fake node for tests and benchmarks: the faultline KV protocol
//! (`docs/protocol.md`) served from one in-memory map on 127.0.0.1, linearizable by
//! construction (one lock), answering at once, with a switch to make it answer every
//! request in a chosen broken way. Several "nodes" may share one fake: they are then
//! one linearizable store reached at several addresses.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A correct, instant KV store.
    Normal,
    /// Every request: this status with `{"error": code, "definite": definite}`.
    Error {
        status: u16,
        code: &'static str,
        definite: bool,
    },
    /// Every request: this status with a body that is not the protocol's error shape.
    Garbage { status: u16 },
    /// Every request: wait this long, then answer normally.
    Slow(Duration),
    /// A broken store, for showing that checks catch bugs: writes and CASes are
    /// acknowledged but never applied.
    LoseWrites,
}

#[derive(Clone)]
pub struct Fake {
    data: Arc<Mutex<HashMap<String, Value>>>,
    mode: Arc<Mutex<Mode>>,
}

impl Fake {
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    pub fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Reply = (StatusCode, Json<Value>);

async fn gate(fake: &Fake) -> Option<Reply> {
    let mode = fake.mode();
    match mode {
        Mode::Normal => None,
        Mode::Error {
            status,
            code,
            definite,
        } => Some((
            StatusCode::from_u16(status).unwrap(),
            Json(json!({ "error": code, "definite": definite })),
        )),
        Mode::Garbage { status } => Some((
            StatusCode::from_u16(status).unwrap(),
            Json(json!(["not", "an", "error"])),
        )),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Mode::LoseWrites => None,
    }
}

async fn read(State(fake): State<Fake>, Path(key): Path<String>) -> Reply {
    if let Some(r) = gate(&fake).await {
        return r;
    }
    let v = fake
        .data
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .cloned()
        .unwrap_or(Value::Null);
    (StatusCode::OK, Json(json!({ "value": v })))
}

async fn write(
    State(fake): State<Fake>,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Reply {
    if let Some(r) = gate(&fake).await {
        return r;
    }
    if fake.mode() != Mode::LoseWrites {
        fake.data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, body["value"].clone());
    }
    (StatusCode::OK, Json(json!({})))
}

async fn cas(State(fake): State<Fake>, Path(key): Path<String>, Json(body): Json<Value>) -> Reply {
    if let Some(r) = gate(&fake).await {
        return r;
    }
    let mut data = fake.data.lock().unwrap_or_else(|e| e.into_inner());
    let current = data.get(&key).cloned().unwrap_or(Value::Null);
    if current == body["from"] || fake.mode() == Mode::LoseWrites {
        if fake.mode() != Mode::LoseWrites {
            data.insert(key, body["to"].clone());
        }
        (StatusCode::OK, Json(json!({})))
    } else {
        (
            StatusCode::CONFLICT,
            Json(json!({ "error": "cas-mismatch", "definite": true, "value": current })),
        )
    }
}

async fn append(
    State(fake): State<Fake>,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Reply {
    if let Some(r) = gate(&fake).await {
        return r;
    }
    let mut data = fake.data.lock().unwrap_or_else(|e| e.into_inner());
    let entry = data.entry(key).or_insert(Value::Array(vec![]));
    if let Value::Array(items) = entry {
        items.push(body["value"].clone());
    }
    (StatusCode::OK, Json(json!({})))
}

/// Starts a fake node on an ephemeral loopback port, serving until the runtime it was
/// started on shuts down. Returns its URL and its handle.
pub async fn start() -> (String, Fake) {
    let fake = Fake {
        data: Arc::default(),
        mode: Arc::new(Mutex::new(Mode::Normal)),
    };
    let app = Router::new()
        .route("/kv/:key", get(read).put(write))
        .route("/kv/:key/cas", post(cas))
        .route("/kv/:key/append", post(append))
        .route(
            "/health",
            get(|| async { Json(json!({ "node": "n1", "role": "leader" })) }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let addr: SocketAddr = listener
        .local_addr()
        .expect("a bound listener has an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}
