//! Process-level tests: real `pb-kv` processes on loopback ports, killed with SIGKILL and
//! restarted from their data directories. Every child is killed by a Drop guard, so
//! nothing is left behind when an assertion fails.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_pb-kv");

struct Cluster {
    dir: tempfile::TempDir,
    ids: Vec<String>,
    addrs: BTreeMap<String, String>,
    children: BTreeMap<String, Child>,
    args: Vec<String>,
    http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.children) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() || std::env::var_os("PB_TEST_LOG").is_some() {
            for id in &self.ids {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{id}.log")))
                    .unwrap_or_default();
                eprintln!("---- {id} ----\n{log}");
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
    /// Three nodes with fast heartbeats (50 ms) and failover after 400 ms of silence.
    fn start(args: &[&str]) -> Cluster {
        let ids: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
        let addrs = ids
            .iter()
            .map(|id| (id.clone(), format!("127.0.0.1:{}", free_port())))
            .collect();
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            ids: ids.clone(),
            addrs,
            children: BTreeMap::new(),
            args: args.iter().map(|s| s.to_string()).collect(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        };
        for id in &ids {
            c.spawn(id);
        }
        c
    }

    fn spawn(&mut self, id: &str) {
        let peers = self
            .ids
            .iter()
            .map(|i| format!("{i}={}", self.addrs[i]))
            .collect::<Vec<_>>()
            .join(",");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{id}.log")))
            .unwrap();
        let child = Command::new(BIN)
            .args(["--id", id, "--listen", &self.addrs[id], "--peers", &peers])
            .arg("--data-dir")
            .arg(self.dir.path().join(id))
            .args([
                "--heartbeat-ms",
                "50",
                "--failover-timeout-ms",
                "400",
                "--peer-timeout-ms",
                "300",
            ])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn pb-kv");
        self.children.insert(id.to_string(), child);
    }

    fn kill(&mut self, id: &str) {
        if let Some(mut c) = self.children.remove(id) {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }

    async fn call(
        &self,
        via: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("http://{}{}", self.addrs[via], path));
        if let Some(b) = body {
            r = r.json(&b);
        }
        match r.send().await {
            Ok(resp) => {
                let s = resp.status().as_u16();
                (s, resp.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({"transport": e.to_string()})),
        }
    }

    async fn health(&self, id: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("http://{}/health", self.addrs[id]))
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    async fn put(&self, via: &str, key: &str, v: Value) -> (u16, Value) {
        self.call(
            via,
            reqwest::Method::PUT,
            &format!("/kv/{key}"),
            Some(json!({ "value": v })),
        )
        .await
    }

    async fn append(&self, via: &str, key: &str, v: Value) -> (u16, Value) {
        self.call(
            via,
            reqwest::Method::POST,
            &format!("/kv/{key}/append"),
            Some(json!({ "value": v })),
        )
        .await
    }

    async fn get(&self, via: &str, key: &str) -> (u16, Value) {
        self.call(via, reqwest::Method::GET, &format!("/kv/{key}"), None)
            .await
    }

    /// Waits until `id` reports itself primary, returning its epoch.
    async fn wait_primary(&self, id: &str) -> u64 {
        wait_for(&format!("{id} to be primary"), || async {
            let h = self.health(id).await?;
            (h["role"] == "primary").then(|| h["epoch"].as_u64().unwrap())
        })
        .await
    }

    /// Waits until every running node names `primary` as leader in its epoch and the
    /// primary sees every running backup in sync.
    async fn wait_settled(&self, primary: &str) {
        let backups: Vec<String> = self
            .children
            .keys()
            .filter(|i| *i != primary)
            .cloned()
            .collect();
        self.wait_following(primary, &backups).await
    }

    /// Waits until `backups` name `primary` as leader and it sees them in sync.
    async fn wait_following(&self, primary: &str, backups: &[String]) {
        wait_for("the cluster to settle", || async {
            let p = self.health(primary).await?;
            for id in backups {
                let h = self.health(id).await?;
                if h["leader"] != primary
                    || h["epoch"] != p["epoch"]
                    || p["backups"][id]["state"] != "in-sync"
                {
                    return None;
                }
            }
            Some(())
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
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_protocol_through_any_node() {
    let c = Cluster::start(&[]);
    c.wait_primary("n1").await;
    c.wait_settled("n1").await;
    assert_eq!(c.get("n2", "k").await, (200, json!({"value": null})));
    assert_eq!(c.put("n2", "k", json!(1)).await, (200, json!({})));
    assert_eq!(c.get("n3", "k").await, (200, json!({"value": 1})));
    let (s, v) = c
        .call(
            "n3",
            reqwest::Method::POST,
            "/kv/k/cas",
            Some(json!({"from": 2, "to": 3})),
        )
        .await;
    assert_eq!(
        (s, &v["error"], &v["definite"], &v["value"]),
        (409, &json!("cas-mismatch"), &json!(true), &json!(1))
    );
    let (s, _) = c
        .call(
            "n1",
            reqwest::Method::POST,
            "/kv/k/cas",
            Some(json!({"from": 1, "to": 3})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(c.get("n2", "k").await.1["value"], json!(3));
    assert_eq!(c.append("n2", "a%2Fb", json!("x")).await.0, 200);
    assert_eq!(c.append("n3", "a%2Fb", json!("y")).await.0, 200);
    assert_eq!(c.get("n1", "a%2Fb").await.1["value"], json!(["x", "y"]));
    let (s, v) = c.append("n2", "k", json!(1)).await;
    assert_eq!(
        (s, &v["error"], &v["definite"]),
        (400, &json!("bad-request"), &json!(true))
    );
    let (s, v) = c
        .call(
            "n2",
            reqwest::Method::PUT,
            "/kv/k",
            Some(json!({"nope": 1})),
        )
        .await;
    assert_eq!((s, &v["error"]), (400, &json!("bad-request")));
    let h = c.health("n2").await.unwrap();
    assert_eq!(
        (&h["role"], &h["leader"], &h["epoch"]),
        (&json!("backup"), &json!("n1"), &json!(1))
    );
}

/// Appends from four concurrent clients through every node while the primary is killed:
/// every append acknowledged under `--ack sync` must be in the list the new primary serves.
async fn sync_writes_survive_primary_kill(replicate: &str) {
    let mut c = Cluster::start(&[
        "--ack",
        "sync",
        "--failover",
        "auto",
        "--replicate",
        replicate,
    ]);
    c.wait_primary("n1").await;
    c.wait_settled("n1").await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (acked, stop) = (acked.clone(), stop.clone());
        let http = c.http.clone();
        let addrs: Vec<String> = c.addrs.values().cloned().collect();
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let el = format!("w{w}-{i}");
                let addr = &addrs[(w + i) % addrs.len()];
                let r = http
                    .post(format!("http://{addr}/kv/list/append"))
                    .json(&json!({"value": el}))
                    .send()
                    .await;
                if matches!(&r, Ok(r) if r.status() == 200) {
                    acked.lock().unwrap().push(el);
                }
                i += 1;
            }
        }));
    }
    wait_for("some acknowledged appends", || async {
        (acked.lock().unwrap().len() >= 40).then_some(())
    })
    .await;
    c.kill("n1");
    let before = acked.lock().unwrap().len();
    let epoch = c.wait_primary("n2").await;
    assert!(epoch > 1);
    wait_for("appends acknowledged by the new primary", || async {
        (acked.lock().unwrap().len() >= before + 20).then_some(())
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let (s, v) = c.get("n3", "list").await;
    assert_eq!(s, 200, "{v}");
    let list: Vec<String> = serde_json::from_value(v["value"].clone()).unwrap();
    let acked = acked.lock().unwrap().clone();
    let missing: Vec<&String> = acked.iter().filter(|e| !list.contains(e)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged appends lost after failover: {missing:?}"
    );
    // No element twice: a forwarded append is applied once.
    let mut sorted = list.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), list.len(), "duplicate elements in {list:?}");

    // The old primary comes back from disk, learns of the newer epoch and follows.
    c.spawn("n1");
    c.wait_settled("n2").await;
    let h = c.health("n1").await.unwrap();
    assert_eq!(
        (&h["role"], &h["leader"], &h["epoch"]),
        (&json!("backup"), &json!("n2"), &json!(epoch))
    );
    assert_eq!(c.get("n1", "list").await.1["value"], json!(list));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_acknowledged_appends_survive_kill_and_failover_with_request_replication() {
    sync_writes_survive_primary_kill("requests").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_acknowledged_appends_survive_kill_and_failover_with_state_replication() {
    sync_writes_survive_primary_kill("state").await;
}

/// The deterministic loss of `--ack async`: the primary acknowledges a write that its
/// backups never received, then dies; the backup that takes over never had it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_ack_loses_an_acknowledged_write_when_the_primary_dies() {
    let mut c = Cluster::start(&["--ack", "async", "--failover", "auto"]);
    c.wait_primary("n1").await;
    c.wait_settled("n1").await;
    assert_eq!(c.put("n2", "k", json!("replicated")).await.0, 200);
    wait_for("the first write on both backups", || async {
        let p = c.health("n1").await?;
        (p["backups"]["n2"]["acked"] == p["seq"] && p["backups"]["n3"]["acked"] == p["seq"])
            .then_some(())
    })
    .await;
    let (s, _) = c
        .call(
            "n1",
            reqwest::Method::POST,
            "/admin/replication",
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        c.put("n1", "k", json!("lost")).await,
        (200, json!({})),
        "async acknowledges without the backups"
    );
    assert_eq!(c.get("n1", "k").await.1["value"], json!("lost"));
    c.kill("n1");
    c.wait_primary("n2").await;
    c.wait_settled("n2").await;
    assert_eq!(
        c.get("n3", "k").await,
        (200, json!({"value": "replicated"})),
        "the acknowledged write should be lost"
    );
    // When the old primary returns it is deposed and its extra write is overwritten.
    c.spawn("n1");
    c.wait_settled("n2").await;
    assert_eq!(c.get("n1", "k").await.1["value"], json!("replicated"));
}

/// The same schedule under `--ack sync`: with replication paused the primary cannot
/// acknowledge (the client gets an indeterminate timeout), so nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_ack_does_not_acknowledge_while_replication_is_paused() {
    let c = Cluster::start(&[
        "--ack",
        "sync",
        "--failover",
        "auto",
        "--request-timeout-ms",
        "500",
    ]);
    c.wait_primary("n1").await;
    c.wait_settled("n1").await;
    let (s, _) = c
        .call(
            "n1",
            reqwest::Method::POST,
            "/admin/replication",
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = c.put("n1", "k", json!(1)).await;
    assert_eq!(
        (s, &v["error"], &v["definite"]),
        (504, &json!("timeout"), &json!(false))
    );
    let (s, _) = c
        .call(
            "n1",
            reqwest::Method::POST,
            "/admin/replication",
            Some(json!({"paused": false})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(c.put("n1", "k", json!(2)).await.0, 200);
}

/// Every node killed with SIGKILL and restarted: acknowledged writes come back from disk,
/// and a backup that was down is brought up to date with a full install.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_disk_after_kill_9_of_every_node() {
    let mut c = Cluster::start(&["--failover", "off"]);
    c.wait_primary("n1").await;
    c.wait_settled("n1").await;
    for i in 0..20 {
        assert_eq!(c.put("n2", &format!("k{i}"), json!(i)).await.0, 200);
    }
    c.kill("n3");
    for i in 20..30 {
        assert_eq!(
            c.put("n1", &format!("k{i}"), json!(i)).await.0,
            200,
            "a dead backup must not block sync writes"
        );
    }
    c.kill("n1");
    c.kill("n2");
    let (s, v) = c.put("n3", "x", json!(1)).await; // n3 is down too
    assert_eq!(s, 0, "{v}");
    for id in ["n1", "n2", "n3"] {
        c.spawn(id);
    }
    c.wait_primary("n1").await;
    c.wait_settled("n1").await;
    for i in 0..30 {
        assert_eq!(
            c.get("n3", &format!("k{i}")).await,
            (200, json!({"value": i}))
        );
    }
    // With failover off a dead primary is not replaced: requests fail definitely.
    c.kill("n1");
    let (s, v) = c.put("n2", "k0", json!(9)).await;
    assert_eq!((s, &v["definite"]), (503, &json!(true)), "{v}");
}

/// Under `--failover auto` a partitioned (here: paused) primary is replaced; when it
/// resumes it is deposed by the first message it exchanges with the newer epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_primary_is_replaced_and_deposed_when_it_resumes() {
    let c = Cluster::start(&["--failover", "auto"]);
    c.wait_primary("n1").await;
    c.wait_settled("n1").await;
    assert_eq!(c.put("n1", "k", json!(1)).await.0, 200);
    let pid = c.children["n1"].id().to_string();
    let stop = |sig: &str| Command::new("kill").args([sig, &pid]).status().unwrap();
    assert!(stop("-STOP").success());
    let epoch = c.wait_primary("n2").await;
    c.wait_following("n2", &["n3".to_string()]).await;
    assert_eq!(c.put("n3", "k", json!(2)).await.0, 200);
    assert!(stop("-CONT").success());
    c.wait_settled("n2").await;
    let h = c.health("n1").await.unwrap();
    assert_eq!((&h["role"], &h["epoch"]), (&json!("backup"), &json!(epoch)));
    assert_eq!(c.get("n1", "k").await.1["value"], json!(2));
}

/// What `--failover auto` does not keep without consensus: a partition separates the
/// primary from both backups; the primary declares them dead and acknowledges a write
/// alone while a backup promotes itself; when the partition heals, the old primary is
/// deposed and the acknowledged write is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_primary_acknowledges_writes_that_are_lost_after_the_heal() {
    let c = Cluster::start(&["--ack", "sync", "--failover", "auto"]);
    c.wait_primary("n1").await;
    c.wait_settled("n1").await;
    assert_eq!(c.put("n1", "k", json!("before")).await.0, 200);
    let post = |id: &'static str, path: &'static str, body: Value| {
        c.call(id, reqwest::Method::POST, path, Some(body))
    };
    assert_eq!(post("n1", "/admin/isolate", json!({})).await.0, 200);
    assert_eq!(
        post("n2", "/admin/isolate", json!({"peers": ["n1"]}))
            .await
            .0,
        200
    );
    assert_eq!(
        post("n3", "/admin/isolate", json!({"peers": ["n1"]}))
            .await
            .0,
        200
    );
    assert_eq!(
        c.put("n1", "k", json!("minority")).await,
        (200, json!({})),
        "the cut-off primary acknowledges alone"
    );
    let epoch = c.wait_primary("n2").await;
    c.wait_following("n2", &["n3".to_string()]).await;
    assert_eq!(c.put("n3", "other", json!("majority")).await.0, 200);
    // Two primaries at once: the old one still serves its own copy.
    assert_eq!(c.health("n1").await.unwrap()["role"], "primary");
    assert_eq!(c.get("n1", "k").await.1["value"], json!("minority"));
    assert_eq!(c.get("n3", "k").await.1["value"], json!("before"));
    for id in ["n1", "n2", "n3"] {
        assert_eq!(post(id, "/admin/heal", json!({})).await.0, 200);
    }
    c.wait_settled("n2").await;
    let h = c.health("n1").await.unwrap();
    assert_eq!((&h["role"], &h["epoch"]), (&json!("backup"), &json!(epoch)));
    assert_eq!(
        c.get("n1", "k").await.1["value"],
        json!("before"),
        "the acknowledged minority write is lost"
    );
    assert_eq!(c.get("n1", "other").await.1["value"], json!("majority"));
}

/// A figure, not a target: `cargo test -p pb-kv --test cluster -- --ignored --nocapture
/// throughput`. Four sequential clients append through all nodes for two seconds under
/// each replication mode with `--ack sync`; prints appends per second and the bytes the
/// primary sent to its backups per append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_and_replicated_bytes() {
    for replicate in ["requests", "state"] {
        let c = Cluster::start(&["--ack", "sync", "--replicate", replicate]);
        c.wait_primary("n1").await;
        c.wait_settled("n1").await;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..4usize {
            let http = c.http.clone();
            let addrs: Vec<String> = c.addrs.values().cloned().collect();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < Duration::from_secs(2) {
                    let addr = &addrs[(w + n as usize) % addrs.len()];
                    let r = http
                        .post(format!("http://{addr}/kv/k{w}/append"))
                        .json(&json!({"value": n}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let h = c.health("n1").await.unwrap();
        let bytes = h["replicated_bytes"].as_u64().unwrap();
        println!(
            "--replicate {replicate}: {total} appends in {secs:.1} s = {:.0}/s; {} bytes to backups per append",
            total as f64 / secs,
            bytes / total.max(1)
        );
    }
}
