//! The services Maelstrom provides to nodes, served by the harness: `lin-kv`,
//! `seq-kv` and `lww-kv` (key-value stores with `read`, `write` and `cas`) and
//! `lin-tso` (a timestamp oracle). A node sends them messages like any other
//! (`dest: "lin-kv"`); its relay forwards them to the controller, which answers here.
//!
//! All three stores are served linearizably, one store each. That is allowed by
//! seq-kv's and lww-kv's contracts (linearizable is stronger than both) but it does
//! not inject their pathologies: Maelstrom's seq-kv may serve a stale read and its
//! lww-kv may lose a write to a concurrent one, and faultline's do neither, so a node
//! that wrongly relies on seq-kv being linearizable passes here (`docs/maelstrom.md`).

use serde_json::{json, Value};
use std::collections::HashMap;

/// The services' names, as nodes address them.
pub const SERVICES: &[&str] = &["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// Maelstrom's error codes the services answer with.
pub const NOT_SUPPORTED: u64 = 10;
pub const MALFORMED_REQUEST: u64 = 12;
pub const KEY_DOES_NOT_EXIST: u64 = 20;
pub const PRECONDITION_FAILED: u64 = 22;

/// Every service's state.
#[derive(Default)]
pub struct Services {
    stores: HashMap<&'static str, HashMap<String, Value>>,
    next_ts: u64,
    /// Requests answered, by service.
    pub requests: HashMap<&'static str, u64>,
}

impl Services {
    /// The answer body of service `service` to request `body` (with `in_reply_to`).
    pub fn handle(&mut self, service: &str, body: &Value) -> Value {
        let Some(name) = SERVICES.iter().copied().find(|s| *s == service) else {
            return error(NOT_SUPPORTED, format!("no service {service}"));
        };
        *self.requests.entry(name).or_default() += 1;
        let mut reply = if name == "lin-tso" {
            self.tso(body)
        } else {
            kv(self.stores.entry(name).or_default(), body)
        };
        if let (Some(r), Some(id)) = (reply.as_object_mut(), body.get("msg_id")) {
            r.insert("in_reply_to".into(), id.clone());
        }
        reply
    }

    fn tso(&mut self, body: &Value) -> Value {
        match body["type"].as_str() {
            Some("ts") => {
                self.next_ts += 1;
                json!({"type": "ts_ok", "ts": self.next_ts})
            }
            _ => error(NOT_SUPPORTED, "lin-tso answers `ts` only".into()),
        }
    }
}

/// One key-value store's answer.
fn kv(store: &mut HashMap<String, Value>, body: &Value) -> Value {
    let Some(key) = body.get("key") else {
        return error(MALFORMED_REQUEST, "no `key`".into());
    };
    let k = key.to_string();
    match body["type"].as_str() {
        Some("read") => match store.get(&k) {
            Some(v) => json!({"type": "read_ok", "value": v}),
            None => error(KEY_DOES_NOT_EXIST, format!("key {k} does not exist")),
        },
        Some("write") => {
            store.insert(k, body.get("value").cloned().unwrap_or(Value::Null));
            json!({"type": "write_ok"})
        }
        Some("cas") => {
            let (from, to) = (&body["from"], body["to"].clone());
            match store.get(&k) {
                None if body["create_if_not_exists"] == true => {
                    store.insert(k, to);
                    json!({"type": "cas_ok"})
                }
                None => error(KEY_DOES_NOT_EXIST, format!("key {k} does not exist")),
                Some(v) if v == from => {
                    store.insert(k, to);
                    json!({"type": "cas_ok"})
                }
                Some(v) => error(PRECONDITION_FAILED, format!("expected {from}, but had {v}")),
            }
        }
        _ => error(
            NOT_SUPPORTED,
            "key-value services answer read, write and cas".into(),
        ),
    }
}

fn error(code: u64, text: String) -> Value {
    json!({"type": "error", "code": code, "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lin_kv_reads_writes_and_compares_and_sets_with_maelstroms_error_codes() {
        let mut s = Services::default();
        let r = s.handle("lin-kv", &json!({"type": "read", "key": "a", "msg_id": 1}));
        assert_eq!(
            (r["code"].clone(), r["in_reply_to"].clone()),
            (json!(20), json!(1))
        );
        s.handle(
            "lin-kv",
            &json!({"type": "write", "key": "a", "value": 3, "msg_id": 2}),
        );
        let r = s.handle(
            "lin-kv",
            &json!({"type": "cas", "key": "a", "from": 4, "to": 5}),
        );
        assert_eq!(r["code"], json!(22));
        let r = s.handle(
            "lin-kv",
            &json!({"type": "cas", "key": "a", "from": 3, "to": 5}),
        );
        assert_eq!(r["type"], "cas_ok");
        let r = s.handle("lin-kv", &json!({"type": "read", "key": "a"}));
        assert_eq!(r["value"], json!(5));
        // seq-kv is another store.
        let r = s.handle("seq-kv", &json!({"type": "read", "key": "a"}));
        assert_eq!(r["code"], json!(20));
        let r = s.handle(
            "seq-kv",
            &json!({"type": "cas", "key": "b", "from": 0, "to": 1, "create_if_not_exists": true}),
        );
        assert_eq!(r["type"], "cas_ok");
    }

    #[test]
    fn lin_tso_hands_out_increasing_timestamps() {
        let mut s = Services::default();
        let a = s.handle("lin-tso", &json!({"type": "ts"}))["ts"]
            .as_u64()
            .unwrap();
        let b = s.handle("lin-tso", &json!({"type": "ts"}))["ts"]
            .as_u64()
            .unwrap();
        assert!(b > a);
    }
}
