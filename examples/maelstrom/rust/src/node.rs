//! A small Maelstrom node runtime: JSON lines on stdin and stdout, a handler thread
//! per request (so a handler may wait for an RPC while the reader keeps reading),
//! replies and RPCs with a timeout.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub type Handler = Arc<dyn Fn(&Arc<Node>, Value) + Send + Sync>;

pub struct Node {
    ids: OnceLock<(String, Vec<String>)>,
    handlers: HashMap<String, Handler>,
    /// Message types handled on the reader thread (handlers that never wait).
    inline: Vec<String>,
    waiting: Mutex<HashMap<u64, Sender<Value>>>,
    next_id: AtomicU64,
    out: Mutex<std::io::Stdout>,
}

/// An RPC that got no answer in time, or an `error` answer (its code).
#[derive(Debug)]
pub enum RpcError {
    Timeout,
    Code(u64),
}

impl Node {
    pub fn new(handlers: HashMap<String, Handler>) -> Arc<Node> {
        Node::with_inline(handlers, &[])
    }

    /// A node whose `inline` message types are handled without a thread each.
    pub fn with_inline(handlers: HashMap<String, Handler>, inline: &[&str]) -> Arc<Node> {
        Arc::new(Node {
            ids: OnceLock::new(),
            handlers,
            inline: inline.iter().map(|s| s.to_string()).collect(),
            waiting: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            out: Mutex::new(std::io::stdout()),
        })
    }

    pub fn id(&self) -> &str {
        self.ids.get().map_or("", |i| i.0.as_str())
    }

    pub fn all(&self) -> &[String] {
        self.ids.get().map_or(&[], |i| i.1.as_slice())
    }

    pub fn others(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter(|n| *n != self.id())
            .cloned()
            .collect()
    }

    pub fn send(&self, dest: &str, body: Value) {
        let line = json!({"src": self.id(), "dest": dest, "body": body}).to_string();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    pub fn reply(&self, req: &Value, mut body: Value) {
        body["in_reply_to"] = req["body"]["msg_id"].clone();
        self.send(req["src"].as_str().unwrap_or(""), body);
    }

    pub fn error(&self, req: &Value, code: u64, text: &str) {
        self.reply(req, json!({"type": "error", "code": code, "text": text}));
    }

    /// Sends `body` and waits up to `timeout` for the answer.
    pub fn rpc(&self, dest: &str, mut body: Value, timeout: Duration) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        body["msg_id"] = json!(id);
        let (tx, rx) = channel();
        self.waiting.lock().unwrap().insert(id, tx);
        self.send(dest, body);
        let answer = rx.recv_timeout(timeout);
        self.waiting.lock().unwrap().remove(&id);
        match answer {
            Ok(b) if b["type"] == "error" => Err(RpcError::Code(b["code"].as_u64().unwrap_or(0))),
            Ok(b) => Ok(b),
            Err(_) => Err(RpcError::Timeout),
        }
    }

    /// Reads stdin until it closes; `started` runs once the node knows its id.
    pub fn run(self: &Arc<Node>, started: impl FnOnce(&Arc<Node>)) {
        let mut started = Some(started);
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                eprintln!("not JSON: {line}");
                continue;
            };
            let body = &msg["body"];
            if let Some(to) = body["in_reply_to"].as_u64() {
                if let Some(tx) = self.waiting.lock().unwrap().remove(&to) {
                    let _ = tx.send(body.clone());
                }
                continue;
            }
            let kind = body["type"].as_str().unwrap_or("").to_string();
            if kind == "init" {
                let ids = body["node_ids"].as_array().into_iter().flatten();
                let ids = ids.filter_map(|v| v.as_str().map(String::from)).collect();
                let me = body["node_id"].as_str().unwrap_or("").to_string();
                let _ = self.ids.set((me, ids));
                self.reply(&msg, json!({"type": "init_ok"}));
                if let Some(f) = started.take() {
                    f(self);
                }
                continue;
            }
            match self.handlers.get(&kind) {
                Some(h) if self.inline.contains(&kind) => h(self, msg),
                Some(h) => {
                    let (h, node) = (Arc::clone(h), Arc::clone(self));
                    std::thread::spawn(move || h(&node, msg));
                }
                None => self.error(&msg, 10, &format!("unsupported message type {kind:?}")),
            }
        }
    }
}
