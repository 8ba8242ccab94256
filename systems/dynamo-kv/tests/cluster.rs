//! Process-level tests: real dynamo-kv processes on 127.0.0.1, killed by a Drop guard.

use serde_json::{json, Value};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dynamo-kv");

struct NodeProc {
    id: String,
    addr: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

/// A running cluster; dropping it kills every process and removes the data dirs.
struct Cluster {
    nodes: Vec<NodeProc>,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill(); // SIGKILL works on SIGSTOPped processes too
                let _ = c.wait();
            }
        }
    }
}

fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

impl Cluster {
    /// Starts `size` nodes n1..nSIZE with the given extra flags and waits until every
    /// one answers /health.
    async fn start(size: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with(size, extra, true).await
    }

    /// `fast_timing` shortens gossip, failure detection and timeouts so tests run
    /// quickly; without it every node runs with the defaults a user gets.
    async fn start_with(size: usize, extra: &[&str], fast_timing: bool) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(size);
        let peers: Vec<String> = (0..size)
            .map(|i| format!("n{}=127.0.0.1:{}", i + 1, ports[i]))
            .collect();
        let mut nodes = Vec::new();
        for (i, port) in ports.iter().enumerate().take(size) {
            let id = format!("n{}", i + 1);
            let addr = format!("127.0.0.1:{port}");
            let mut args: Vec<String> = vec![
                "--id".into(),
                id.clone(),
                "--listen".into(),
                addr.clone(),
                "--peers".into(),
                peers.join(","),
                "--data-dir".into(),
                dir.path().join(&id).display().to_string(),
            ];
            let timing: Vec<String> = vec![
                "--gossip-interval-ms".into(),
                "200".into(),
                "--fail-after-ms".into(),
                "1000".into(),
                "--rpc-timeout-ms".into(),
                "1000".into(),
                "--request-timeout-ms".into(),
                "3000".into(),
                "--handoff-interval-ms".into(),
                "200".into(),
            ];
            if fast_timing {
                args.extend(timing);
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            nodes.push(NodeProc {
                id,
                addr,
                args,
                env: Vec::new(),
                child: None,
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut c = Cluster {
            nodes,
            _dir: dir,
            http,
        };
        for i in 0..size {
            c.spawn(i);
        }
        for i in 0..size {
            c.wait_healthy(i).await;
        }
        c
    }

    fn idx(&self, id: &str) -> usize {
        self.nodes.iter().position(|n| n.id == id).unwrap()
    }

    fn spawn(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let child = Command::new(BIN)
            .args(&n.args)
            .envs(n.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            // DYNAMO_TEST_LOG=1 shows the nodes' logs when a test needs debugging.
            .stderr(if std::env::var_os("DYNAMO_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("start dynamo-kv");
        n.child = Some(child);
    }

    fn kill(&mut self, id: &str) {
        let i = self.idx(id);
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Environment for the node's next start.
    fn set_env(&mut self, id: &str, env: &[(&str, &str)]) {
        let i = self.idx(id);
        self.nodes[i].env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    async fn restart(&mut self, id: &str) {
        let i = self.idx(id);
        self.spawn(i);
        self.wait_healthy(i).await;
    }

    /// Sends `sig`; for SIGSTOP also waits until every thread of the node is stopped
    /// (kill() returns before the target has actually stopped).
    async fn signal(&self, id: &str, sig: i32) {
        let pid = self.nodes[self.idx(id)].child.as_ref().unwrap().id() as i32;
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        if sig == libc::SIGSTOP {
            eventually(Duration::from_secs(5), &format!("{id} stopped"), || async {
                let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
                tasks.flatten().all(|t| {
                    let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                    // The state follows the parenthesised command name.
                    stat.rsplit(") ")
                        .next()
                        .is_some_and(|rest| rest.starts_with('T'))
                })
            })
            .await;
        }
    }

    async fn wait_healthy(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let url = format!("http://{}/health", self.nodes[i].addr);
        loop {
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become healthy",
                self.nodes[i].id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, id: &str, path: &str) -> String {
        format!("http://{}{}", self.nodes[self.idx(id)].addr, path)
    }

    async fn get(&self, id: &str, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(id, path)).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        id: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let r = self
            .http
            .request(method, self.url(id, path))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, id: &str, key: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, id, &format!("/kv/{key}"), body)
            .await
    }

    async fn post(&self, id: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, id, path, body).await
    }

    /// A quorum read: (value, siblings sorted as strings, context).
    async fn read(&self, id: &str, key: &str) -> (Value, Vec<String>, String) {
        let (status, body) = self.get(id, &format!("/kv/{key}")).await;
        assert_eq!(status, 200, "read {key} via {id}: {body}");
        let mut siblings: Vec<String> = body["siblings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        siblings.sort();
        (
            body["value"].clone(),
            siblings,
            body["context"].as_str().unwrap().to_string(),
        )
    }

    /// A node's own versions of a key, as sorted "node:counter" dots.
    async fn local_dots(&self, id: &str, key: &str) -> Vec<String> {
        let (_, body) = self.get(id, &format!("/local/kv/{key}")).await;
        let mut dots: Vec<String> = body["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                format!(
                    "{}:{}",
                    v["dot"]["node"].as_str().unwrap(),
                    v["dot"]["counter"]
                )
            })
            .collect();
        dots.sort();
        dots
    }
}

/// Polls `check` until it returns true or `limit` passes; returns the time it took.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_operations_and_restart_from_disk() {
    let mut c = Cluster::start(3, &["--n", "3", "--r", "2", "--w", "2"]).await;
    let (s, h) = c.get("n2", "/health").await;
    assert_eq!(s, 200);
    assert_eq!(h["node"], "n2");
    assert_eq!(h["role"], "replica");
    assert_eq!(h["leader"], Value::Null);
    assert_eq!(h["members"], json!(["n1", "n2", "n3"]));

    // Absent key.
    let (s, body) = c.get("n1", "/kv/missing").await;
    assert_eq!(s, 200);
    assert_eq!(body["value"], Value::Null);
    assert_eq!(body["siblings"], json!([]));

    // A write through one node is read through every other.
    assert_eq!(c.put("n1", "x", json!({"value": {"a": 1}})).await.0, 200);
    for id in ["n1", "n2", "n3"] {
        assert_eq!(c.read(id, "x").await.0, json!({"a": 1}));
    }
    // Overwrite with the read's context: one version remains.
    let (_, _, ctx) = c.read("n3", "x").await;
    assert_eq!(
        c.put("n2", "x", json!({"value": 2, "context": ctx}))
            .await
            .0,
        200
    );
    let (v, sib, _) = c.read("n1", "x").await;
    assert_eq!((v, sib), (json!(2), vec!["2".to_string()]));

    // Append builds a list from an absent key.
    for (id, e) in [("n1", 1), ("n2", 2), ("n3", 3)] {
        assert_eq!(c.post(id, "/kv/l/append", json!({"value": e})).await.0, 200);
    }
    assert_eq!(c.read("n2", "l").await.0, json!([1, 2, 3]));
    let (s, body) = c.post("n1", "/kv/x/append", json!({"value": 1})).await;
    assert_eq!((s, body["definite"].clone()), (400, json!(true)), "{body}");

    // cas: mismatch is definite and reports the value; a match applies.
    let (s, body) = c.post("n1", "/kv/x/cas", json!({"from": 7, "to": 8})).await;
    assert_eq!(
        (s, &body["error"], &body["definite"], &body["value"]),
        (409, &json!("cas-mismatch"), &json!(true), &json!(2))
    );
    assert_eq!(
        c.post("n3", "/kv/x/cas", json!({"from": 2, "to": 3}))
            .await
            .0,
        200
    );
    assert_eq!(c.read("n1", "x").await.0, json!(3));

    // Bad input is a definite bad-request, never a panic.
    let (s, body) = c.put("n1", "x", json!({"nothing": 1})).await;
    assert_eq!((s, &body["error"]), (400, &json!("bad-request")));
    let (s, body) = c
        .put("n1", "x", json!({"value": 1, "context": "not-hex"}))
        .await;
    assert_eq!((s, &body["error"]), (400, &json!("bad-request")), "{body}");

    // kill -9 every node, restart from the data dirs: acknowledged writes are there.
    for id in ["n1", "n2", "n3"] {
        c.kill(id);
    }
    for id in ["n1", "n2", "n3"] {
        c.restart(id).await;
    }
    assert_eq!(c.read("n2", "x").await.0, json!(3));
    assert_eq!(c.read("n3", "l").await.0, json!([1, 2, 3]));
    let (_, h) = c.get("n1", "/health").await;
    assert_eq!(h["incarnation"], json!(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_peers_make_requests_time_out_not_hang() {
    let c = Cluster::start(3, &["--strict"]).await;
    assert_eq!(c.put("n1", "k", json!({"value": 1})).await.0, 200);
    c.signal("n3", libc::SIGSTOP).await;
    // One paused replica: quorums of two still work.
    assert_eq!(c.put("n1", "k", json!({"value": 2})).await.0, 200);
    c.signal("n2", libc::SIGSTOP).await;
    // Two paused: the write times out, indeterminate, within the request deadline.
    let start = Instant::now();
    let (s, body) = c.put("n1", "k", json!({"value": 3})).await;
    let took = start.elapsed();
    c.signal("n2", libc::SIGCONT).await;
    c.signal("n3", libc::SIGCONT).await;
    assert!(s == 503 || s == 504, "{s} {body}");
    assert_eq!(body["definite"], json!(false), "{body}");
    // The request deadline is 3 s; allow scheduling slack, but not a hang.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// Finds a key whose preference list includes `owner`, and the stand-in that is not
/// in it (4 nodes, N=3: exactly one).
async fn key_owned_by(c: &Cluster, owner: &str) -> (String, String) {
    for i in 0..1000 {
        let key = format!("k{i}");
        let (_, body) = c.get("n1", &format!("/local/kv/{key}")).await;
        let pref: Vec<String> = serde_json::from_value(body["preference_list"].clone()).unwrap();
        if pref.iter().any(|p| p == owner) && !pref.iter().any(|p| p == "n1") {
            let standin = ["n1", "n2", "n3", "n4"]
                .into_iter()
                .find(|n| !pref.iter().any(|p| p == n))
                .unwrap();
            return (key, standin.to_string());
        }
    }
    panic!("no key for {owner}");
}

/// Waits until every node in `watchers` considers `down` dead *and* they all hold the
/// same last heartbeat of it: then no late gossip can make it look alive again.
async fn wait_until_everyone_sees_down(c: &Cluster, watchers: &[&str], down: &str) {
    eventually(
        Duration::from_secs(10),
        &format!("{watchers:?} agree {down} is down"),
        || async {
            let mut beats = Vec::new();
            for id in watchers {
                let (_, h) = c.get(id, "/health").await;
                if h["alive"].as_array().unwrap().contains(&json!(down)) {
                    return false;
                }
                beats.push(h["heartbeats"][down].clone());
            }
            beats.windows(2).all(|w| w[0] == w[1])
        },
    )
    .await;
}

/// Writes a key while one of its replicas is down; returns (cluster, key, stand-in).
async fn write_with_owner_down(extra: &[&str]) -> (Cluster, String, String) {
    let mut args = vec![
        "--n",
        "3",
        "--r",
        "2",
        "--w",
        "2",
        "--anti-entropy-ms",
        "0",
        "--no-read-repair",
    ];
    args.extend_from_slice(extra);
    let mut c = Cluster::start(4, &args).await;
    let (key, standin) = key_owned_by(&c, "n4").await;
    assert_eq!(
        standin, "n1",
        "n1 coordinates and is the only node outside the list"
    );
    c.kill("n4");
    wait_until_everyone_sees_down(&c, &["n1", "n2", "n3"], "n4").await;
    let (s, body) = c.put("n2", &key, json!({"value": "while-down"})).await;
    assert_eq!(s, 200, "{body}");
    // The stand-in holds the write as a hint for n4 (its slot may finish after W acks,
    // and on a loaded 2-core machine running the other cluster tests of this file at
    // once, that took over 5 s once).
    eventually(
        Duration::from_secs(15),
        "the stand-in stores a hint for n4",
        || async {
            let (_, local) = c.get(&standin, &format!("/local/kv/{key}")).await;
            local["hinted"]["n4"][0]["value"] == json!("while-down")
        },
    )
    .await;
    c.restart("n4").await;
    (c, key, standin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hinted_handoff_delivers_a_write_made_while_a_replica_was_down() {
    let (c, key, standin) = write_with_owner_down(&[]).await;
    let took = eventually(
        Duration::from_secs(10),
        "n4 receives the hinted write",
        || async {
            let (_, local) = c.get("n4", &format!("/local/kv/{key}")).await;
            local["siblings"] == json!(["while-down"])
        },
    )
    .await;
    eprintln!("handoff reached n4 {took:?} after its restart");
    eventually(
        Duration::from_secs(5),
        "the stand-in deletes the delivered hint",
        || async {
            let (_, local) = c.get(&standin, &format!("/local/kv/{key}")).await;
            local["hinted"] == json!({})
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_no_handoff_drops_the_hint_and_the_owner_never_gets_it() {
    let (c, key, standin) = write_with_owner_down(&["--bug", "no-handoff"]).await;
    eventually(
        Duration::from_secs(10),
        "the stand-in drops its hint once n4 is back",
        || async {
            let (_, local) = c.get(&standin, &format!("/local/kv/{key}")).await;
            local["hinted"] == json!({})
        },
    )
    .await;
    let (_, local) = c.get("n4", &format!("/local/kv/{key}")).await;
    assert_eq!(local["versions"], json!([]), "{local}");
}

async fn two_blind_writes_then_read(extra: &[&str]) -> (Cluster, Vec<String>) {
    let c = Cluster::start(3, extra).await;
    assert_eq!(c.put("n1", "s", json!({"value": "a"})).await.0, 200);
    assert_eq!(c.put("n2", "s", json!({"value": "b"})).await.0, 200);
    let (_, siblings, _) = c.read("n3", "s").await;
    (c, siblings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_become_siblings_that_a_context_write_resolves() {
    let (c, siblings) = two_blind_writes_then_read(&[]).await;
    assert_eq!(siblings, vec!["\"a\"", "\"b\""]);
    // Concurrent appends keep both elements too.
    assert_eq!(c.put("n1", "l", json!({"value": [0]})).await.0, 200);
    let (_, _, ctx) = c.read("n1", "l").await;
    assert_eq!(
        c.put("n1", "l", json!({"value": [0, 1], "context": ctx}))
            .await
            .0,
        200
    );
    assert_eq!(
        c.put("n2", "l", json!({"value": [0, 2], "context": ctx}))
            .await
            .0,
        200
    );
    let (value, sib, _) = c.read("n3", "l").await;
    assert_eq!(sib.len(), 2);
    assert_eq!(value, json!([0, 1, 2]));
    // A write with the merged context replaces both siblings, everywhere.
    let (_, _, ctx) = c.read("n3", "s").await;
    assert_eq!(
        c.put("n3", "s", json!({"value": "merged", "context": ctx}))
            .await
            .0,
        200
    );
    for id in ["n1", "n2", "n3"] {
        let (value, sib, _) = c.read(id, "s").await;
        assert_eq!(
            (value, sib),
            (json!("merged"), vec!["\"merged\"".to_string()])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_no_merge_and_lww_lose_a_concurrent_write() {
    let (_c, siblings) = two_blind_writes_then_read(&["--bug", "no-merge"]).await;
    assert_eq!(
        siblings,
        vec!["\"b\""],
        "no-merge overwrites the concurrent sibling"
    );
    drop(_c);
    let (_c, siblings) = two_blind_writes_then_read(&["--lww"]).await;
    assert_eq!(siblings.len(), 1, "lww keeps one version: {siblings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_after_a_partition_heals() {
    // Read repair off: convergence must come from anti-entropy alone.
    let c = Cluster::start(3, &["--anti-entropy-ms", "300", "--no-read-repair"]).await;
    let keys: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    assert_eq!(c.post("n3", "/admin/isolate", json!({})).await.0, 200);
    for k in &keys {
        assert_eq!(
            c.put("n1", k, json!({"value": "majority"})).await.0,
            200,
            "{k}"
        );
    }
    // n3 alone cannot reach W=2: indeterminate failures, but its own copy persists.
    for k in &keys[..5] {
        let (s, body) = c.put("n3", k, json!({"value": "minority"})).await;
        assert_eq!((s, &body["definite"]), (503, &json!(false)), "{k}: {body}");
    }
    assert_eq!(c.post("n3", "/admin/heal", json!({})).await.0, 200);
    let healed = Instant::now();
    for k in &keys {
        eventually(
            Duration::from_secs(15),
            &format!("all replicas hold the same versions of {k}"),
            || async {
                let a = c.local_dots("n1", k).await;
                a == c.local_dots("n2", k).await && a == c.local_dots("n3", k).await
            },
        )
        .await;
    }
    eprintln!("converged {:?} after the heal", healed.elapsed());
    for k in &keys[..5] {
        let (_, body) = c.get("n2", &format!("/local/kv/{k}")).await;
        let mut sib: Vec<String> = body["siblings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        sib.sort();
        assert_eq!(sib, vec!["\"majority\"", "\"minority\""], "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_repair_fixes_a_replica_that_missed_a_write() {
    // Anti-entropy off; 3 nodes and N=3 leave no stand-in, so there is no hint either.
    let mut c = Cluster::start(3, &["--anti-entropy-ms", "0"]).await;
    c.kill("n3");
    assert_eq!(c.put("n1", "r", json!({"value": "missed"})).await.0, 200);
    c.restart("n3").await;
    assert_eq!(c.local_dots("n3", "r").await, Vec::<String>::new());
    eventually(Duration::from_secs(10), "a read repairs n3", || async {
        let (value, _, _) = c.read("n3", "r").await;
        assert_eq!(value, json!("missed"));
        c.local_dots("n3", "r").await == c.local_dots("n1", "r").await
    })
    .await;
}

/// Kills two of a key's three owners (4 nodes) and writes through the fourth node.
async fn write_with_two_owners_down(extra: &[&str]) -> u16 {
    let mut c = Cluster::start(4, extra).await;
    let (key, _) = key_owned_by(&c, "n4").await;
    let (_, body) = c.get("n1", &format!("/local/kv/{key}")).await;
    let pref: Vec<String> = serde_json::from_value(body["preference_list"].clone()).unwrap();
    let down: Vec<&String> = pref.iter().filter(|p| *p != "n2").take(2).collect();
    for d in &down {
        c.kill(d);
    }
    for d in &down {
        wait_until_everyone_sees_down(&c, &["n1", "n2"], d).await;
    }
    c.put("n1", &key, json!({"value": 1})).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sloppy_quorum_accepts_what_a_strict_quorum_refuses() {
    // The owner left (n2) and the stand-in n1 make W=2 only under a sloppy quorum.
    assert_eq!(write_with_two_owners_down(&[]).await, 200);
    assert_eq!(write_with_two_owners_down(&["--strict"]).await, 503);
}

/// The bound docs/systems.md states: with default settings, replicas hold the same
/// versions within 10 s of a partition healing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convergence_within_the_documented_bound_with_default_settings() {
    let c = Cluster::start_with(3, &[], false).await;
    let keys: Vec<String> = (0..30).map(|i| format!("d{i}")).collect();
    assert_eq!(c.post("n3", "/admin/isolate", json!({})).await.0, 200);
    for k in &keys {
        assert_eq!(
            c.put("n1", k, json!({"value": "majority"})).await.0,
            200,
            "{k}"
        );
    }
    for k in &keys[..5] {
        let (s, _) = c.put("n3", k, json!({"value": "minority"})).await;
        assert_ne!(s, 200, "{k}: n3 alone cannot reach W=2");
    }
    assert_eq!(c.post("n3", "/admin/heal", json!({})).await.0, 200);
    let healed = Instant::now();
    for k in &keys {
        let left = Duration::from_secs(10).saturating_sub(healed.elapsed());
        eventually(
            left,
            &format!("{k} converges within 10 s of the heal"),
            || async {
                let a = c.local_dots("n1", k).await;
                a == c.local_dots("n2", k).await && a == c.local_dots("n3", k).await
            },
        )
        .await;
    }
    eprintln!("converged {:?} after the heal (defaults)", healed.elapsed());
}

/// Throughput figure for docs/systems.md (not a pass/fail target):
/// `cargo test -p dynamo-kv --release --test cluster -- --ignored --nocapture throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_benchmark() {
    let c = std::sync::Arc::new(Cluster::start_with(3, &[], false).await);
    let (clients, per_client) = (8usize, 250usize);
    for (label, write) in [("PUT", true), ("GET", false)] {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for client in 0..clients {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per_client {
                    let key = format!("b{client}-{i}");
                    let node = format!("n{}", (client + i) % 3 + 1);
                    let status = if write {
                        c.put(&node, &key, json!({"value": i})).await.0
                    } else {
                        c.get(&node, &format!("/kv/{key}")).await.0
                    };
                    assert_eq!(status, 200);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let ops = clients * per_client;
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{label}: {ops} ops by {clients} clients in {secs:.2} s = {:.0} ops/s",
            ops as f64 / secs
        );
    }
}

/// libfaketime, which scripts/setup.sh installs for the harness's clock faults.
fn libfaketime() -> String {
    let mut candidates: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("faketime/libfaketime.so.1"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push("/usr/lib/faketime/libfaketime.so.1".into());
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .expect("this test needs libfaketime: run scripts/setup.sh (apt-get install faketime)")
        .display()
        .to_string()
}

/// n2's wall clock runs 60 s behind; n1 writes, then n2 overwrites with n1's context
/// (so the second write causally follows the first). Returns the value a read sees.
async fn overwrite_from_a_slow_clock(extra: &[&str]) -> Value {
    let mut c = Cluster::start(3, extra).await;
    let lib = libfaketime();
    c.kill("n2");
    c.set_env(
        "n2",
        &[
            ("LD_PRELOAD", &lib),
            ("FAKETIME", "-60"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    c.restart("n2").await;
    assert_eq!(c.put("n1", "skew", json!({"value": "first"})).await.0, 200);
    let (_, _, ctx) = c.read("n1", "skew").await;
    let (s, body) = c
        .put("n2", "skew", json!({"value": "second", "context": ctx}))
        .await;
    assert_eq!(s, 200, "the second write is acknowledged: {body}");
    // The skew really reached the timestamps (libfaketime intercepts SystemTime).
    assert_eq!(c.put("n2", "probe", json!({"value": 0})).await.0, 200);
    // n2's own copy may land after the two acknowledgements the write waited for.
    let stamped = std::sync::atomic::AtomicU64::new(0);
    eventually(
        Duration::from_secs(5),
        "n2 stores its probe write",
        || async {
            let (_, local) = c.get("n2", "/local/kv/probe").await;
            let ts = local["versions"][0]["ts_ms"].as_u64();
            ts.map(|t| stamped.store(t, std::sync::atomic::Ordering::SeqCst))
                .is_some()
        },
    )
    .await;
    let stamped = stamped.into_inner();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        now - stamped > 55_000,
        "n2's clock is not 60 s behind: {stamped} vs {now}"
    );
    c.read("n3", "skew").await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lww_loses_an_acknowledged_write_under_clock_skew() {
    assert_eq!(
        overwrite_from_a_slow_clock(&[]).await,
        json!("second"),
        "causal siblings keep the later write"
    );
    assert_eq!(
        overwrite_from_a_slow_clock(&["--lww"]).await,
        json!("first"),
        "lww drops the later write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_through_every_node_lose_nothing() {
    let c = std::sync::Arc::new(Cluster::start(3, &[]).await);
    let mut tasks = Vec::new();
    for (n, id) in ["n1", "n2", "n3"].into_iter().enumerate() {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                let (s, body) = c
                    .post(id, "/kv/list/append", json!({"value": n * 100 + i}))
                    .await;
                assert_eq!(s, 200, "{body}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut expected: Vec<u64> = (0..3)
        .flat_map(|n| (0..15).map(move |i| n * 100 + i))
        .collect();
    expected.sort();
    for id in ["n1", "n2", "n3"] {
        let (value, _, _) = c.read(id, "list").await;
        let mut got: Vec<u64> = value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, expected, "read via {id}");
    }
}
