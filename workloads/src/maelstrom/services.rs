//! The services Maelstrom provides to nodes, served by the harness: `lin-kv`,
//! `seq-kv` and `lww-kv` (key-value stores with `read`, `write` and `cas`) and
//! `lin-tso` (a timestamp oracle). A node sends them messages like any other
//! (`dest: "lin-kv"`); its relay forwards them to the controller, which answers here.
//!
//! lin-kv is linearizable. seq-kv and lww-kv, by default ([`KvServices::Maelstrom`]),
//! have the pathologies Maelstrom documents, so that a node relying on more than
//! their contracts is caught: seq-kv is sequentially consistent and serves a client
//! (a node) reads from any state at or after the last one it observed, so a node
//! that has not itself seen a newer write may read an older value ([`SeqKv`]);
//! lww-kv keeps one replica per node, syncing them last-write-wins now and then, so
//! reads are stale and of two concurrent compare-and-sets on different replicas
//! both succeed and one is lost ([`LwwKv`]). Both converge: no read is staler than
//! [`STALE_HORIZON`], so once writes stop (the quiet period before the final
//! reads) every node reads the same. [`KvServices::Linearizable`] serves all three
//! linearizably (within both contracts), for comparison.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The services' names, as nodes address them.
pub const SERVICES: &[&str] = &["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// Maelstrom's error codes the services answer with.
pub const NOT_SUPPORTED: u64 = 10;
pub const MALFORMED_REQUEST: u64 = 12;
pub const KEY_DOES_NOT_EXIST: u64 = 20;
pub const PRECONDITION_FAILED: u64 = 22;

/// How seq-kv and lww-kv behave (`--kv-services`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvServices {
    /// As Maelstrom's: seq-kv serves stale reads, lww-kv loses concurrent writes.
    #[default]
    Maelstrom,
    /// All three stores linearizable.
    Linearizable,
}

impl KvServices {
    pub fn name(self) -> &'static str {
        match self {
            KvServices::Maelstrom => "maelstrom",
            KvServices::Linearizable => "linearizable",
        }
    }
}

impl fmt::Display for KvServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KvServices {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "maelstrom" => Ok(KvServices::Maelstrom),
            "linearizable" => Ok(KvServices::Linearizable),
            other => Err(format!(
                "unknown key-value services mode `{other}` (known: maelstrom, linearizable)"
            )),
        }
    }
}

/// How often lww-kv syncs the asking node's replica from the others before
/// answering: often enough that values spread, seldom enough that replicas diverge.
const LWW_SYNC_ODDS: f64 = 0.5;

/// The stalest seq-kv and lww-kv get: a seq-kv read sees every state this old, an
/// lww-kv replica not synced for this long is synced before it answers. Shorter
/// than the default quiet period (2 s), so final reads agree.
pub const STALE_HORIZON: Duration = Duration::from_secs(1);

/// Every service's state.
pub struct Services {
    lin: HashMap<String, Value>,
    seq: Store,
    lww: Store,
    rng: SmallRng,
    next_ts: u64,
    /// Requests answered, by service.
    pub requests: HashMap<&'static str, u64>,
}

/// seq-kv's or lww-kv's store, as the mode makes it.
enum Store {
    Plain(HashMap<String, Value>),
    Seq(SeqKv),
    Lww(LwwKv),
}

impl Default for Services {
    fn default() -> Self {
        Services::new(KvServices::default(), 0)
    }
}

impl Services {
    pub fn new(mode: KvServices, seed: u64) -> Services {
        let (seq, lww) = match mode {
            KvServices::Maelstrom => (Store::Seq(SeqKv::default()), Store::Lww(LwwKv::default())),
            KvServices::Linearizable => {
                (Store::Plain(HashMap::new()), Store::Plain(HashMap::new()))
            }
        };
        Services {
            lin: HashMap::new(),
            seq,
            lww,
            rng: SmallRng::seed_from_u64(seed),
            next_ts: 0,
            requests: HashMap::new(),
        }
    }

    /// The answer body of service `service` to request `body` (with `in_reply_to`)
    /// from node `client`.
    pub fn handle(&mut self, service: &str, client: &str, body: &Value) -> Value {
        self.handle_at(service, client, body, Instant::now())
    }

    /// [`Services::handle`] at the instant `now`.
    pub fn handle_at(&mut self, service: &str, client: &str, body: &Value, now: Instant) -> Value {
        let Some(name) = SERVICES.iter().copied().find(|s| *s == service) else {
            return error(NOT_SUPPORTED, format!("no service {service}"));
        };
        *self.requests.entry(name).or_default() += 1;
        let mut reply = match name {
            "lin-tso" => self.tso(body),
            "lin-kv" => plain(&mut self.lin, body),
            "seq-kv" => self.seq.handle(client, body, &mut self.rng, now),
            _ => self.lww.handle(client, body, &mut self.rng, now),
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

impl Store {
    fn handle(&mut self, client: &str, body: &Value, rng: &mut SmallRng, now: Instant) -> Value {
        match self {
            Store::Plain(map) => plain(map, body),
            Store::Seq(s) => s.handle(client, body, rng, now),
            Store::Lww(s) => s.handle(client, body, rng, now),
        }
    }
}

/// A linearizable store's answer.
fn plain(store: &mut HashMap<String, Value>, body: &Value) -> Value {
    with_key(body, |k| {
        let (reply, new) = step(store.get(k), body);
        if let Some(v) = new {
            store.insert(k.to_string(), v);
        }
        reply
    })
}

/// The request's key (as its JSON text), or a malformed-request error.
fn with_key(body: &Value, f: impl FnOnce(&str) -> Value) -> Value {
    match body.get("key") {
        Some(key) => f(&key.to_string()),
        None => error(MALFORMED_REQUEST, "no `key`".into()),
    }
}

/// One request against the value `current` a store shows: the answer, and the new
/// value when the request changes it.
fn step(current: Option<&Value>, body: &Value) -> (Value, Option<Value>) {
    let ok = |t: &str| json!({"type": t});
    match (body["type"].as_str(), current) {
        (Some("read"), Some(v)) => (json!({"type": "read_ok", "value": v}), None),
        (Some("read"), None) => (missing(body), None),
        (Some("write"), _) => (
            ok("write_ok"),
            Some(body.get("value").cloned().unwrap_or(Value::Null)),
        ),
        (Some("cas"), None) if body["create_if_not_exists"] == true => {
            (ok("cas_ok"), Some(body["to"].clone()))
        }
        (Some("cas"), None) => (missing(body), None),
        (Some("cas"), Some(v)) if *v == body["from"] => (ok("cas_ok"), Some(body["to"].clone())),
        (Some("cas"), Some(v)) => (
            error(
                PRECONDITION_FAILED,
                format!("expected {}, but had {v}", body["from"]),
            ),
            None,
        ),
        _ => (
            error(
                NOT_SUPPORTED,
                "key-value services answer read, write and cas".into(),
            ),
            None,
        ),
    }
}

fn missing(body: &Value) -> Value {
    error(
        KEY_DOES_NOT_EXIST,
        format!("key {} does not exist", body["key"]),
    )
}

/// seq-kv as Maelstrom's: one total order of states (every write or successful CAS
/// makes the next), each client at a position in it that only moves forward. A
/// read moves the client to a state drawn between its position and the latest, so
/// it may be stale but never goes back, nor before the last state older than
/// [`STALE_HORIZON`]; a write or CAS acts on the latest state and moves its client
/// there. Sequentially consistent, not linearizable.
#[derive(Default)]
struct SeqKv {
    /// Per key, its values with the state that wrote each (ascending).
    versions: HashMap<String, Vec<(u64, Value)>>,
    /// The latest state.
    latest: u64,
    /// When each state after the first was made (state `i + 1` at `made[i]`).
    made: Vec<Instant>,
    /// Per client, the state it last observed.
    seen: HashMap<String, u64>,
}

impl SeqKv {
    fn handle(&mut self, client: &str, body: &Value, rng: &mut SmallRng, now: Instant) -> Value {
        let old = now.checked_sub(STALE_HORIZON);
        let settled = old.map_or(0, |t| self.made.partition_point(|m| *m <= t)) as u64;
        with_key(body, |k| {
            let at = self.seen.get(client).copied().unwrap_or(0).max(settled);
            let versions = self.versions.entry(k.to_string()).or_default();
            if body["type"] == "read" {
                let p = rng.gen_range(at..=self.latest);
                self.seen.insert(client.to_string(), p);
                let visible = versions.partition_point(|(s, _)| *s <= p);
                let current = visible.checked_sub(1).map(|i| &versions[i].1);
                return step(current, body).0;
            }
            let (reply, new) = step(versions.last().map(|(_, v)| v), body);
            if let Some(v) = new {
                self.latest += 1;
                self.made.push(now);
                versions.push((self.latest, v));
            }
            self.seen.insert(client.to_string(), self.latest);
            reply
        })
    }
}

/// lww-kv as Maelstrom's: a replica per client, each value stamped with the time
/// it was written. Before answering, the asking client's replica is synced from
/// the others now and then (the newest stamp wins), and always when it has not been
/// for [`STALE_HORIZON`]; the request then acts on that replica alone. Reads are
/// stale, and two clients can each compare-and-set the same old value
/// successfully: the older stamp's write is lost at the next sync.
#[derive(Default)]
struct LwwKv {
    replicas: HashMap<String, HashMap<String, (u64, Value)>>,
    clock: u64,
    /// Per client, when its replica was last synced.
    synced: HashMap<String, Instant>,
}

impl LwwKv {
    fn handle(&mut self, client: &str, body: &Value, rng: &mut SmallRng, now: Instant) -> Value {
        let due = self
            .synced
            .get(client)
            .is_none_or(|t| now.saturating_duration_since(*t) >= STALE_HORIZON);
        if due || rng.gen_bool(LWW_SYNC_ODDS) {
            self.sync(client);
            self.synced.insert(client.to_string(), now);
        }
        with_key(body, |k| {
            let replica = self.replicas.entry(client.to_string()).or_default();
            let (reply, new) = step(replica.get(k).map(|(_, v)| v), body);
            if let Some(v) = new {
                self.clock += 1;
                replica.insert(k.to_string(), (self.clock, v));
            }
            reply
        })
    }

    /// Merges every other replica into `client`'s, the newest stamp winning.
    fn sync(&mut self, client: &str) {
        let mut merged = self.replicas.remove(client).unwrap_or_default();
        for replica in self.replicas.values() {
            for (k, (stamp, v)) in replica {
                if merged.get(k).is_none_or(|(mine, _)| mine < stamp) {
                    merged.insert(k.clone(), (*stamp, v.clone()));
                }
            }
        }
        self.replicas.insert(client.to_string(), merged);
    }
}

fn error(code: u64, text: String) -> Value {
    json!({"type": "error", "code": code, "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linearizable() -> Services {
        Services::new(KvServices::Linearizable, 1)
    }

    #[test]
    fn lin_kv_reads_writes_and_compares_and_sets_with_maelstroms_error_codes() {
        let mut s = Services::default();
        let r = s.handle(
            "lin-kv",
            "n1",
            &json!({"type": "read", "key": "a", "msg_id": 1}),
        );
        assert_eq!(
            (r["code"].clone(), r["in_reply_to"].clone()),
            (json!(20), json!(1))
        );
        s.handle(
            "lin-kv",
            "n1",
            &json!({"type": "write", "key": "a", "value": 3, "msg_id": 2}),
        );
        let cas = |from: i64| json!({"type": "cas", "key": "a", "from": from, "to": 5});
        assert_eq!(s.handle("lin-kv", "n2", &cas(4))["code"], json!(22));
        assert_eq!(s.handle("lin-kv", "n2", &cas(3))["type"], "cas_ok");
        let r = s.handle("lin-kv", "n3", &json!({"type": "read", "key": "a"}));
        assert_eq!(r["value"], json!(5));
        // seq-kv is another store.
        let mut s = linearizable();
        let r = s.handle("seq-kv", "n1", &json!({"type": "read", "key": "a"}));
        assert_eq!(r["code"], json!(20));
        let r = s.handle(
            "seq-kv",
            "n1",
            &json!({"type": "cas", "key": "b", "from": 0, "to": 1, "create_if_not_exists": true}),
        );
        assert_eq!(r["type"], "cas_ok");
    }

    fn write(v: i64) -> Value {
        json!({"type": "write", "key": "k", "value": v})
    }

    fn read_value(s: &mut Services, service: &str, client: &str) -> Value {
        s.handle(service, client, &json!({"type": "read", "key": "k"}))
            .get("value")
            .cloned()
            .unwrap_or(Value::Null)
    }

    #[test]
    fn seq_kv_serves_stale_reads_to_other_clients_but_never_goes_back_or_hides_a_clients_own_write()
    {
        let mut s = Services::default();
        let mut stale = 0;
        for i in 1..=200 {
            s.handle("seq-kv", "n1", &write(i));
            // The writer always sees its own write.
            assert_eq!(read_value(&mut s, "seq-kv", "n1"), json!(i));
        }
        let mut last = 0;
        for _ in 0..50 {
            let v = read_value(&mut s, "seq-kv", "n2").as_i64().unwrap_or(0);
            assert!(v >= last, "n2 read {v} after {last}");
            stale += u64::from(v < 200);
            last = v;
        }
        assert!(stale > 0, "n2 never read a stale value");
        // Switched off, every read is the latest.
        let mut s = linearizable();
        s.handle("seq-kv", "n1", &write(1));
        assert_eq!(read_value(&mut s, "seq-kv", "n2"), json!(1));
    }

    #[test]
    fn lww_kv_lets_two_nodes_compare_and_set_the_same_value_and_loses_one() {
        let mut s = Services::default();
        let cas = |to: i64| json!({"type": "cas", "key": "k", "from": 0, "to": to});
        let mut lost = 0;
        for round in 0..40 {
            let base = round * 10;
            s.handle("lww-kv", "n1", &write(0));
            // Let both replicas learn the 0.
            while read_value(&mut s, "lww-kv", "n2") != json!(0) {}
            let a = s.handle("lww-kv", "n1", &cas(base + 1))["type"] == "cas_ok";
            let b = s.handle("lww-kv", "n2", &cas(base + 2))["type"] == "cas_ok";
            lost += u64::from(a && b);
        }
        assert!(lost > 0, "no two compare-and-sets from 0 both succeeded");
        let mut s = linearizable();
        s.handle("lww-kv", "n1", &write(0));
        assert_eq!(s.handle("lww-kv", "n1", &cas(1))["type"], "cas_ok");
        assert_eq!(s.handle("lww-kv", "n2", &cas(2))["code"], json!(22));
    }

    #[test]
    fn seq_kv_and_lww_kv_reads_are_never_staler_than_the_horizon() {
        let mut s = Services::default();
        let t0 = Instant::now();
        let later = t0 + STALE_HORIZON;
        let read = json!({"type": "read", "key": "k"});
        for service in ["seq-kv", "lww-kv"] {
            s.handle_at(service, "n1", &write(0), t0);
            for client in ["n2", "n3"] {
                s.handle_at(service, client, &read, t0);
            }
            for i in 1..=50 {
                s.handle_at(service, "n1", &write(i), t0);
            }
            for client in ["n2", "n3"] {
                let r = s.handle_at(service, client, &read, later);
                assert_eq!(r["value"], json!(50), "{service} {client}");
            }
        }
    }

    #[test]
    fn lin_tso_hands_out_increasing_timestamps() {
        let mut s = Services::default();
        let a = s.handle("lin-tso", "n1", &json!({"type": "ts"}))["ts"]
            .as_u64()
            .unwrap();
        let b = s.handle("lin-tso", "n2", &json!({"type": "ts"}))["ts"]
            .as_u64()
            .unwrap();
        assert!(b > a);
    }
}
