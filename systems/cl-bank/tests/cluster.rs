//! Process-level tests: three real `cl-bank` nodes on loopback ports with delayed
//! channels, concurrent random transfers and concurrent snapshots. Every child is killed
//! by a Drop guard.

use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_cl-bank");
const ACCOUNTS: u64 = 9;
const INITIAL: i64 = 100;
const TOTAL: i64 = ACCOUNTS as i64 * INITIAL;

struct Cluster {
    dir: tempfile::TempDir,
    addrs: Vec<String>,
    children: Vec<Child>,
    http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            for i in 1..=self.addrs.len() {
                let log = std::fs::read_to_string(self.dir.path().join(format!("n{i}.log")))
                    .unwrap_or_default();
                eprintln!("---- n{i} ----\n{log}");
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    async fn start(extra: &[&str]) -> Cluster {
        let addrs: Vec<String> = (0..3)
            .map(|_| format!("127.0.0.1:{}", free_port()))
            .collect();
        let peers = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("n{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let dir = tempfile::tempdir().unwrap();
        let mut children = Vec::new();
        for (i, a) in addrs.iter().enumerate() {
            let id = format!("n{}", i + 1);
            let log = std::fs::File::create(dir.path().join(format!("{id}.log"))).unwrap();
            let child = Command::new(BIN)
                .args(["--id", &id, "--listen", a, "--peers", &peers])
                .args([
                    "--accounts",
                    &ACCOUNTS.to_string(),
                    "--initial-balance",
                    &INITIAL.to_string(),
                ])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn cl-bank");
            children.push(child);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let c = Cluster {
            dir,
            addrs,
            children,
            http,
        };
        for i in 0..3 {
            wait_for("node up", || async {
                c.get(i, "/health").await.map(|_| ())
            })
            .await;
        }
        c
    }

    async fn get(&self, i: usize, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("http://{}{path}", self.addrs[i]))
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    async fn post(&self, i: usize, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("http://{}{path}", self.addrs[i]))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Runs random transfers from four clients and snapshots from two, through random
    /// nodes, until `until` returns true for the snapshots taken so far.
    async fn load(&self, seed: u64, until: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..4u64 {
            let (stop, http, addrs) = (stop.clone(), self.http.clone(), self.addrs.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(seed.wrapping_add(w));
                let mut ok = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let from = rng.gen_range(0..ACCOUNTS);
                    let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
                    let body =
                        json!({"from": from, "to": to.to_string(), "amount": rng.gen_range(1..40)});
                    let addr = &addrs[rng.gen_range(0..addrs.len())];
                    let r = http
                        .post(format!("http://{addr}/transfer"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    match r.status().as_u16() {
                        200 => ok += 1,
                        409 => assert_eq!(
                            r.json::<Value>().await.unwrap()["error"],
                            "insufficient-funds"
                        ),
                        s => panic!("transfer {body}: status {s}: {}", r.text().await.unwrap()),
                    }
                }
                ok
            }));
        }
        let mut snaps = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut i = 0;
        while !until(&snaps) {
            if tasks.iter().any(|t| t.is_finished()) {
                break; // a client failed: its panic is raised below
            }
            assert!(
                Instant::now() < deadline,
                "condition not reached after {} snapshots",
                snaps.len()
            );
            // Two snapshots at once, from different nodes.
            let (a, b) = tokio::join!(
                self.post(i % 3, "/snapshot", json!({})),
                self.post((i + 1) % 3, "/snapshot", json!({}))
            );
            for (s, v) in [a, b] {
                assert_eq!(s, 200, "{v}");
                snaps.push(v);
            }
            i += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let mut transfers = 0;
        for t in tasks {
            transfers += t.await.unwrap();
        }
        assert!(until(&snaps));
        assert!(transfers > 0, "no transfer went through");
        eprintln!("{transfers} transfers, {} snapshots", snaps.len());
        snaps
    }

    /// Waits until every channel is empty and returns the sum of all local balances.
    async fn quiescent_total(&self) -> i64 {
        wait_for("channels to drain", || async {
            let mut total = 0;
            for i in 0..3 {
                let h = self.get(i, "/health").await?;
                if h["channels"]
                    .as_object()?
                    .values()
                    .any(|c| c["queued"] != 0)
                {
                    return None;
                }
                let b = self.get(i, "/balances").await?;
                total += b["balances"]
                    .as_object()?
                    .values()
                    .map(|v| v.as_i64().unwrap())
                    .sum::<i64>();
            }
            Some(total)
        })
        .await
    }
}

async fn wait_for<T, F: Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn total_of(s: &Value) -> i64 {
    let balances: i64 = s["balances"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    let channels: i64 = s["channels"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|c| c.as_array().unwrap())
        .map(|m| m["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(
        channels,
        s["in_flight"].as_i64().unwrap(),
        "in_flight is the channels' sum: {s}"
    );
    assert_eq!(
        balances + channels,
        s["total"].as_i64().unwrap(),
        "total is balances plus channels: {s}"
    );
    balances + channels
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chandy_lamport_snapshot_conserves_the_total_under_load() {
    let c = Cluster::start(&["--channel-delay-ms", "15", "--channel-jitter-ms", "25"]).await;
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    // At least 40 snapshots, five of which caught money in flight (so channel state
    // mattered); stop early at the first wrong total.
    let snaps = c
        .load(seed, |s| {
            let caught = s
                .iter()
                .filter(|v| v["in_flight"].as_i64().unwrap_or(0) > 0)
                .count();
            s.iter().any(|v| v["total"].as_i64() != Some(TOTAL)) || (s.len() >= 40 && caught >= 5)
        })
        .await;
    for s in &snaps {
        assert_eq!(total_of(s), TOTAL, "snapshot does not conserve money: {s}");
        let b = s["balances"].as_object().unwrap();
        assert_eq!(b.len(), ACCOUNTS as usize, "every account listed: {s}");
        assert!(
            b.values().all(|v| v.as_i64().unwrap() >= 0),
            "negative balance: {s}"
        );
        assert_eq!(
            s["channels"].as_object().unwrap().len(),
            6,
            "every ordered pair of 3 nodes: {s}"
        );
    }
    assert_eq!(c.quiescent_total().await, TOTAL);
    // A snapshot of the quiet system has nothing in flight.
    let (st, s) = c.post(2, "/snapshot", json!({})).await;
    assert_eq!(st, 200);
    assert_eq!(
        (s["in_flight"].as_i64(), s["total"].as_i64()),
        (Some(0), Some(TOTAL)),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_snapshot_misses_money_in_flight() {
    let c = Cluster::start(&[
        "--channel-delay-ms",
        "15",
        "--channel-jitter-ms",
        "25",
        "--bug",
        "naive-snapshot",
    ])
    .await;
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    let snaps = c
        .load(seed, |s| {
            s.iter().any(|v| v["total"].as_i64() != Some(TOTAL))
        })
        .await;
    let bad = snaps
        .iter()
        .find(|v| v["total"].as_i64() != Some(TOTAL))
        .unwrap();
    assert_eq!(bad["naive"], true);
    assert_ne!(total_of(bad), TOTAL);
    // Money is only in flight, never lost: once the channels drain, it is all back.
    assert_eq!(c.quiescent_total().await, TOTAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_refuse_overdrafts_and_bad_input() {
    let c = Cluster::start(&[]).await;
    // Account 4 lives on n2 (4 mod 3 = 1); ask n1, which forwards.
    let (s, v) = c
        .post(0, "/transfer", json!({"from": 4, "to": 0, "amount": 101}))
        .await;
    assert_eq!(
        (s, &v["error"], &v["definite"], &v["balance"]),
        (409, &json!("insufficient-funds"), &json!(true), &json!(100))
    );
    let (s, v) = c
        .post(0, "/transfer", json!({"from": 4, "to": 0, "amount": 100}))
        .await;
    assert_eq!((s, &v["balance"]), (200, &json!(0)), "{v}");
    for bad in [
        json!({"from": 4, "to": 99, "amount": 1}),
        json!({"from": 1, "to": 1, "amount": 1}),
        json!({"from": 1, "to": 2, "amount": -3}),
        json!({"from": "x", "to": 2, "amount": 1}),
        json!({"to": 2}),
    ] {
        let (s, v) = c.post(1, "/transfer", bad.clone()).await;
        assert_eq!(
            (s, &v["error"], &v["definite"]),
            (400, &json!("bad-request"), &json!(true)),
            "{bad}: {v}"
        );
    }
    assert_eq!(c.quiescent_total().await, TOTAL);
    let b = c.get(0, "/balances").await.unwrap();
    assert_eq!(b["balances"]["0"], json!(200));
    let b = c.get(1, "/balances").await.unwrap();
    assert_eq!(b["balances"]["4"], json!(0));
}
