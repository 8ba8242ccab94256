//! A fake node for tests and benchmarks: the faultline KV protocol
//! (`docs/protocol.md`) served from one in-memory map on 127.0.0.1, linearizable by
//! construction (one lock), answering at once, with a switch to make it answer every
//! request in a chosen broken way. Several "nodes" may share one fake: they are then
//! one linearizable store reached at several addresses.
//!
//! With [`Fake::set_versions`] it also reports the protocol's optional per-key
//! `version`: a counter of applied writes over the whole store, so a key's version is
//! the position of its last write (like a Raft log index). Off by default, like a
//! system that has none.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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
    data: Arc<Mutex<Store>>,
    mode: Arc<Mutex<Mode>>,
    versions: Arc<AtomicBool>,
}

/// The store's contents: each key's value and version, and the last version given.
#[derive(Default)]
struct Store {
    values: HashMap<String, Value>,
    versions: HashMap<String, u64>,
    last_version: u64,
}

impl Store {
    fn get(&self, key: &str) -> (Value, u64) {
        (
            self.values.get(key).cloned().unwrap_or(Value::Null),
            self.versions.get(key).copied().unwrap_or(0),
        )
    }

    /// A new version for a write to `key`, recorded unless the write is `lost`.
    fn next_version(&mut self, key: &str, lost: bool) -> u64 {
        self.last_version += 1;
        if !lost {
            self.versions.insert(key.to_string(), self.last_version);
        }
        self.last_version
    }
}

impl Fake {
    /// Whether answers carry the per-key `version` (a lost write under
    /// [`Mode::LoseWrites`] still reports the version it pretends to have created).
    pub fn set_versions(&self, on: bool) {
        self.versions.store(on, Ordering::SeqCst);
    }

    /// A success body: `fields`, plus `version` when versions are on.
    fn ok(&self, mut fields: Value, version: u64) -> Reply {
        if self.versions.load(Ordering::SeqCst) {
            fields["version"] = json!(version);
        }
        (StatusCode::OK, Json(fields))
    }

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
    let (v, version) = fake
        .data
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key);
    fake.ok(json!({ "value": v }), version)
}

async fn write(
    State(fake): State<Fake>,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Reply {
    if let Some(r) = gate(&fake).await {
        return r;
    }
    let lost = fake.mode() == Mode::LoseWrites;
    let mut data = fake.data.lock().unwrap_or_else(|e| e.into_inner());
    let version = data.next_version(&key, lost);
    if !lost {
        data.values.insert(key, body["value"].clone());
    }
    drop(data);
    fake.ok(json!({}), version)
}

async fn cas(State(fake): State<Fake>, Path(key): Path<String>, Json(body): Json<Value>) -> Reply {
    if let Some(r) = gate(&fake).await {
        return r;
    }
    let lost = fake.mode() == Mode::LoseWrites;
    let mut data = fake.data.lock().unwrap_or_else(|e| e.into_inner());
    let (current, _) = data.get(&key);
    if current == body["from"] || lost {
        let version = data.next_version(&key, lost);
        if !lost {
            data.values.insert(key, body["to"].clone());
        }
        drop(data);
        fake.ok(json!({}), version)
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
    let version = data.next_version(&key, false);
    let entry = data.values.entry(key).or_insert(Value::Array(vec![]));
    if let Value::Array(items) = entry {
        items.push(body["value"].clone());
    }
    drop(data);
    fake.ok(json!({}), version)
}

/// Starts a fake node on an ephemeral loopback port, serving until the runtime it was
/// started on shuts down. Returns its URL and its handle.
pub async fn start() -> (String, Fake) {
    let fake = Fake {
        data: Arc::default(),
        mode: Arc::new(Mutex::new(Mode::Normal)),
        versions: Arc::default(),
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
