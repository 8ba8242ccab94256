//! Example Maelstrom nodes, one binary: `maelstrom-nodes WORKLOAD` with WORKLOAD one
//! of echo, unique-ids, broadcast, g-counter, lin-kv (`docs/maelstrom.md`). Each is
//! the correct design the Python examples' default is:
//!
//! - unique-ids: node id, a random number drawn at start, and a counter;
//! - broadcast: acknowledged once a majority holds the message, plus anti-entropy
//!   (every node's whole set to every other node every half second);
//! - g-counter: one counter in the lin-kv service, added to by compare-and-set;
//! - lin-kv: requests passed to the lin-kv service.
//!
//! `flood [RATE]` is the relay benchmark's node: it sends RATE messages a second
//! (default 5000) to the other nodes in turn, counts what it receives, prints the
//! count of every second to stderr (`received N`), and answers `generate`.

mod node;

use node::{Handler, Node, RpcError};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let workload = std::env::args().nth(1).unwrap_or_default();
    let handlers: Vec<(&str, Handler)> = match workload.as_str() {
        "echo" => vec![(
            "echo",
            Arc::new(|n: &Arc<Node>, m: Value| {
                n.reply(&m, json!({"type": "echo_ok", "echo": m["body"]["echo"]}))
            }),
        )],
        "unique-ids" => unique_ids(),
        "broadcast" => return broadcast(),
        "flood" => return flood(),
        "g-counter" => g_counter(),
        "lin-kv" => ["read", "write", "cas"]
            .map(|k| (k, Arc::new(forward) as Handler))
            .to_vec(),
        other => {
            eprintln!(
                "usage: maelstrom-nodes echo|unique-ids|broadcast|g-counter|lin-kv (got {other:?})"
            );
            std::process::exit(2);
        }
    };
    let handlers = handlers
        .into_iter()
        .map(|(k, h)| (k.to_string(), h))
        .collect();
    Node::new(handlers).run(|_| {});
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    u64::from_le_bytes(b)
}

fn unique_ids() -> Vec<(&'static str, Handler)> {
    let incarnation = random_u64();
    let counter = Arc::new(AtomicU64::new(0));
    vec![(
        "generate",
        Arc::new(move |n: &Arc<Node>, m: Value| {
            let c = counter.fetch_add(1, Ordering::Relaxed);
            n.reply(
                &m,
                json!({"type": "generate_ok", "id": format!("{}-{incarnation:x}-{c}", n.id())}),
            );
        }),
    )]
}

const SERVICE_TIMEOUT: Duration = Duration::from_secs(1);

/// lin-kv: the request as it came, to the lin-kv service; its answer back.
fn forward(n: &Arc<Node>, m: Value) {
    let mut body = m["body"].clone();
    if let Some(b) = body.as_object_mut() {
        b.remove("msg_id");
    }
    match n.rpc("lin-kv", body, SERVICE_TIMEOUT) {
        Ok(mut answer) => {
            if let Some(a) = answer.as_object_mut() {
                a.remove("in_reply_to");
            }
            n.reply(&m, answer)
        }
        Err(RpcError::Code(c)) => n.error(&m, c, "from lin-kv"),
        Err(RpcError::Timeout) => n.error(&m, 0, "lin-kv did not answer"),
    }
}

fn g_counter() -> Vec<(&'static str, Handler)> {
    fn current(n: &Node) -> Result<i64, RpcError> {
        match n.rpc(
            "lin-kv",
            json!({"type": "read", "key": "counter"}),
            SERVICE_TIMEOUT,
        ) {
            Ok(b) => Ok(b["value"].as_i64().unwrap_or(0)),
            Err(RpcError::Code(20)) => Ok(0),
            Err(e) => Err(e),
        }
    }
    let add: Handler = Arc::new(|n: &Arc<Node>, m: Value| {
        let delta = m["body"]["delta"].as_i64().unwrap_or(0);
        for _ in 0..50 {
            let now = match current(n) {
                Ok(v) => v,
                Err(_) => return n.error(&m, 11, "cannot read the counter"),
            };
            let cas = json!({"type": "cas", "key": "counter", "from": now, "to": now + delta,
                "create_if_not_exists": true});
            match n.rpc("lin-kv", cas, SERVICE_TIMEOUT) {
                Ok(_) => return n.reply(&m, json!({"type": "add_ok"})),
                Err(RpcError::Code(22)) => continue,
                // The add may or may not have happened.
                Err(_) => return n.error(&m, 0, "the counter service did not answer"),
            }
        }
        n.error(&m, 11, "too much contention");
    });
    let read: Handler = Arc::new(|n: &Arc<Node>, m: Value| match current(n) {
        Ok(v) => n.reply(&m, json!({"type": "read_ok", "value": v})),
        Err(_) => n.error(&m, 11, "cannot read the counter"),
    });
    vec![("add", add), ("read", read)]
}

fn broadcast() {
    let seen: Arc<Mutex<BTreeSet<i64>>> = Arc::default();
    let add_all = |seen: &Mutex<BTreeSet<i64>>, v: &Value| {
        let mut s = seen.lock().unwrap();
        s.extend(v.as_array().into_iter().flatten().filter_map(Value::as_i64));
    };
    let mut h: HashMap<String, Handler> = HashMap::new();
    h.insert(
        "topology".into(),
        Arc::new(|n: &Arc<Node>, m: Value| n.reply(&m, json!({"type": "topology_ok"}))),
    );
    let s = Arc::clone(&seen);
    h.insert(
        "read".into(),
        Arc::new(move |n: &Arc<Node>, m: Value| {
            let all: Vec<i64> = s.lock().unwrap().iter().copied().collect();
            n.reply(&m, json!({"type": "read_ok", "messages": all}));
        }),
    );
    let s = Arc::clone(&seen);
    h.insert(
        "gossip".into(),
        Arc::new(move |_: &Arc<Node>, m: Value| add_all(&s, &m["body"]["messages"])),
    );
    let s = Arc::clone(&seen);
    h.insert(
        "replicate".into(),
        Arc::new(move |n: &Arc<Node>, m: Value| {
            add_all(&s, &m["body"]["messages"]);
            n.reply(&m, json!({"type": "replicate_ok"}));
        }),
    );
    let s = Arc::clone(&seen);
    h.insert(
        "broadcast".into(),
        Arc::new(move |n: &Arc<Node>, m: Value| {
            let v = m["body"]["message"].clone();
            add_all(&s, &json!([v]));
            let need = n.all().len() / 2 + 1;
            let mut holders = 1;
            let mut pending = n.others();
            let deadline = Instant::now() + Duration::from_secs(2);
            while holders < need && Instant::now() < deadline && !pending.is_empty() {
                pending.retain(|p| {
                    if holders >= need {
                        return true;
                    }
                    let ok = n
                        .rpc(
                            p,
                            json!({"type": "replicate", "messages": [v]}),
                            Duration::from_millis(200),
                        )
                        .is_ok();
                    holders += usize::from(ok);
                    !ok
                });
            }
            if holders >= need {
                n.reply(&m, json!({"type": "broadcast_ok"}));
            } else {
                n.error(&m, 0, "not replicated to a majority in time");
            }
        }),
    );
    let node = Node::new(h);
    node.run(move |n| {
        let n = Arc::clone(n);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let all: Vec<i64> = seen.lock().unwrap().iter().copied().collect();
            if !all.is_empty() {
                for p in n.others() {
                    n.send(&p, json!({"type": "gossip", "messages": all}));
                }
            }
        });
    });
}

fn flood() {
    let rate: u64 = std::env::args()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5000);
    let received = Arc::new(AtomicU64::new(0));
    let mut h: HashMap<String, Handler> = unique_ids()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let r = Arc::clone(&received);
    h.insert(
        "flood".into(),
        Arc::new(move |_: &Arc<Node>, _: Value| {
            r.fetch_add(1, Ordering::Relaxed);
        }),
    );
    Node::with_inline(h, &["flood"]).run(move |n| {
        let n = Arc::clone(n);
        std::thread::spawn(move || {
            let others = n.others();
            let start = Instant::now();
            let (mut sent, mut i) = (0u64, 0usize);
            loop {
                let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
                while sent < due && !others.is_empty() {
                    n.send(
                        &others[i % others.len()],
                        json!({"type": "flood", "n": sent}),
                    );
                    sent += 1;
                    i += 1;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            eprintln!("received {}", received.swap(0, Ordering::Relaxed));
        });
    });
}
