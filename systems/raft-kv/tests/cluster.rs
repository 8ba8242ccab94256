//! Process-level tests: real `raft-kv` processes on loopback ports, killed with SIGKILL and
//! restarted from their data directories. Every child is killed by a Drop guard, so nothing is
//! left behind even when an assertion fails.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_raft-kv");

struct Cluster {
    dir: tempfile::TempDir,
    addrs: BTreeMap<String, String>,
    children: BTreeMap<String, Child>,
    extra_args: Vec<String>,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn new(n: usize, extra_args: &[&str]) -> Cluster {
        let addrs = (1..=n)
            .map(|i| (format!("n{i}"), format!("127.0.0.1:{}", free_port())))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            addrs,
            children: BTreeMap::new(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            http,
        };
        for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
            c.start(&id);
        }
        c
    }

    fn peers(&self) -> String {
        self.addrs
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.dir.path().join(format!("{id}.log"))
    }

    fn spawn(&mut self, id: &str, peers: &str, join: bool) {
        let addr = self.addrs[id].clone();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["--id", id, "--listen", &addr, "--peers", peers])
            .arg("--data-dir")
            .arg(self.dir.path().join(id))
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log);
        for (flag, default) in [
            ("--tick-ms", "20"),
            ("--election-min-ms", "300"),
            ("--election-max-ms", "600"),
        ] {
            if !self.extra_args.iter().any(|a| a == flag) {
                cmd.args([flag, default]);
            }
        }
        if join {
            cmd.arg("--join");
        }
        let child = cmd.spawn().expect("spawn raft-kv");
        self.children.insert(id.to_string(), child);
    }

    fn start(&mut self, id: &str) {
        let peers = self.peers();
        self.spawn(id, &peers, false);
    }

    fn kill(&mut self, id: &str) {
        if let Some(mut c) = self.children.remove(id) {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn url(&self, id: &str, path: &str) -> String {
        format!("http://{}{}", self.addrs[id], path)
    }

    async fn health(&self, id: &str) -> Option<Value> {
        let r = self
            .http
            .get(self.url(id, "/health"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// The leader that a majority of the running nodes agree on.
    async fn leader(&self) -> Option<String> {
        let mut votes: BTreeMap<String, usize> = BTreeMap::new();
        for id in self.children.keys() {
            if let Some(h) = self.health(id).await {
                if let Some(l) = h["leader"].as_str() {
                    *votes.entry(l.to_string()).or_default() += 1;
                }
            }
        }
        let (l, n) = votes.into_iter().max_by_key(|(_, n)| *n)?;
        (n * 2 > self.children.len()).then_some(l)
    }

    async fn wait_leader(&self) -> String {
        wait_for("a leader", Duration::from_secs(20), || self.leader()).await
    }

    /// A leader other than `old` (survivors keep naming a killed leader until they time out).
    async fn wait_new_leader(&self, old: &str) -> String {
        wait_for("a new leader", Duration::from_secs(20), || async {
            self.leader().await.filter(|l| l != old)
        })
        .await
    }

    async fn put(&self, via: &str, key: &str, value: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::PUT,
            via,
            &format!("/kv/{key}"),
            Some(json!({ "value": value })),
        )
        .await
    }

    async fn get(&self, via: &str, key: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, via, &format!("/kv/{key}"), None)
            .await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        via: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(via, path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, json!({ "transport-error": e.to_string() })),
        }
    }

    /// Retries a membership change like an operator would (an election can interrupt it)
    /// until it succeeds or the cluster says it is already done (`done_marker` in the detail).
    async fn admin_until_done(
        &self,
        method: reqwest::Method,
        via: &str,
        path: &str,
        body: Option<Value>,
        done_marker: &str,
    ) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let (s, b) = self.call(method.clone(), via, path, body.clone()).await;
            if s == 200
                || b["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains(done_marker))
            {
                return;
            }
            eprintln!("{method} {path} via {via}: {s} {b}; retrying");
            assert!(
                Instant::now() < deadline,
                "{method} {path} kept failing: {s} {b}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Writes until one is acknowledged (elections may be under way).
    async fn put_ok(&self, via: &str, key: &str, value: Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (s, b) = self.put(via, key, value.clone()).await;
            if s == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "put {key} via {via} kept failing: {s} {b}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn get_ok(&self, via: &str, key: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (s, b) = self.get(via, key).await;
            if s == 200 {
                return b["value"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "get {key} via {via} kept failing: {s} {b}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut c) in std::mem::take(&mut self.children) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_the_protocol_from_any_node() {
    let c = Cluster::new(3, &[]);
    let leader = c.wait_leader().await;
    let follower = c.addrs.keys().find(|id| **id != leader).unwrap().clone();
    c.put_ok(&follower, "a%2Fb", json!({"x": 1})).await;
    assert_eq!(c.get_ok(&leader, "a%2Fb").await, json!({"x": 1}));
    assert_eq!(c.get_ok(&follower, "missing").await, Value::Null);
    // CAS: success, then a mismatch that reports the current value.
    let (s, b) = c
        .call(
            reqwest::Method::POST,
            &follower,
            "/kv/k/cas",
            Some(json!({"from": null, "to": 1})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["version"].as_u64().is_some_and(|v| v > 0), "{b}");
    let (s, b) = c
        .call(
            reqwest::Method::POST,
            &leader,
            "/kv/k/cas",
            Some(json!({"from": 5, "to": 6})),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        b,
        json!({"error": "cas-mismatch", "definite": true, "value": 1})
    );
    for e in ["a", "b"] {
        let (s, _) = c
            .call(
                reqwest::Method::POST,
                &follower,
                "/kv/l/append",
                Some(json!({ "value": e })),
            )
            .await;
        assert_eq!(s, 200);
    }
    assert_eq!(c.get_ok(&follower, "l").await, json!(["a", "b"]));
    let (s, b) = c
        .call(
            reqwest::Method::PUT,
            &follower,
            "/kv/k",
            Some(json!({"nope": 1})),
        )
        .await;
    assert_eq!(
        (s, b["error"].clone(), b["definite"].clone()),
        (400, json!("bad-request"), json!(true))
    );
    // Followers learn the commit index from the next heartbeat.
    let h = wait_for(
        "the follower to learn the commit index",
        Duration::from_secs(10),
        || async {
            let h = c.health(&follower).await?;
            (h["commit_index"].as_u64()? >= 5).then_some(h)
        },
    )
    .await;
    for field in [
        "node",
        "role",
        "term",
        "leader",
        "commit_index",
        "applied_index",
        "members",
    ] {
        assert!(h.get(field).is_some(), "/health lacks {field}: {h}");
    }
    assert_eq!(h["members"], json!(["n1", "n2", "n3"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_kill_9_of_the_leader_and_of_all_nodes() {
    let mut c = Cluster::new(3, &[]);
    let leader = c.wait_leader().await;
    for i in 0..20 {
        c.put_ok(&leader, &format!("k{i}"), json!(i)).await;
    }
    c.kill(&leader);
    let other = c.addrs.keys().find(|id| **id != leader).unwrap().clone();
    c.wait_new_leader(&leader).await;
    for i in 0..20 {
        assert_eq!(
            c.get_ok(&other, &format!("k{i}")).await,
            json!(i),
            "k{i} lost after killing the leader"
        );
    }
    c.put_ok(&other, "after", json!("leader-kill")).await;
    c.start(&leader);
    // Now kill every node at once and restart them all from disk.
    for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
        c.kill(&id);
    }
    for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
        c.start(&id);
    }
    c.wait_leader().await;
    for i in 0..20 {
        assert_eq!(
            c.get_ok(&leader, &format!("k{i}")).await,
            json!(i),
            "k{i} lost after killing all nodes"
        );
    }
    assert_eq!(c.get_ok(&leader, "after").await, json!("leader-kill"));
}

/// Sends a request until it gets a 200 (elections may be under way) and returns the body.
async fn call_ok(
    c: &Cluster,
    method: reqwest::Method,
    via: &str,
    path: &str,
    body: Value,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, b) = c.call(method.clone(), via, path, Some(body.clone())).await;
        if s == 200 {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "{method} {path} via {via} kept failing: {s} {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The protocol's `version` is the log index of the key's last write: it grows with every
/// write, every node reports the same one, and it is in snapshots, so it survives kill -9 of
/// every node and a restore from a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_are_log_indices_that_grow_and_survive_restarts_and_snapshots() {
    let mut c = Cluster::new(3, &["--snapshot-threshold-bytes", "4000"]);
    let leader = c.wait_leader().await;
    let follower = c.addrs.keys().find(|id| **id != leader).unwrap().clone();
    let version = |b: &Value| {
        b["version"]
            .as_u64()
            .unwrap_or_else(|| panic!("no integer version in {b}"))
    };
    let (s, b) = c.get(&leader, "never-written").await;
    assert_eq!((s, b), (200, json!({"value": null, "version": 0})));

    let put = reqwest::Method::PUT;
    let v1 = version(&call_ok(&c, put.clone(), &follower, "/kv/v", json!({"value": 1})).await);
    assert!(v1 > 0);
    let (s, b) = c.get(&follower, "v").await;
    assert_eq!((s, b), (200, json!({"value": 1, "version": v1})));
    // Enough other writes to make every node compact its log into a snapshot.
    let filler = "x".repeat(100);
    for i in 0..40 {
        c.put_ok(&leader, &format!("f{i}"), json!(filler)).await;
    }
    let v2 = version(&call_ok(&c, put.clone(), &leader, "/kv/v", json!({"value": 1})).await);
    assert!(
        v2 > v1 + 40,
        "rewriting the same value is a new, later version: {v1} then {v2}"
    );
    let cas = reqwest::Method::POST;
    let v3 = version(
        &call_ok(
            &c,
            cas.clone(),
            &leader,
            "/kv/v/cas",
            json!({"from": 1, "to": 3}),
        )
        .await,
    );
    assert!(v3 > v2);
    let (s, b) = c
        .call(cas, &leader, "/kv/v/cas", Some(json!({"from": 1, "to": 4})))
        .await;
    assert_eq!((s, b["error"].clone()), (409, json!("cas-mismatch")));
    for i in 40..80 {
        c.put_ok(&leader, &format!("f{i}"), json!(filler)).await;
    }
    let h = c.health(&leader).await.unwrap();
    assert!(
        h["snapshot_index"].as_u64().unwrap() > v3,
        "no snapshot covers the last write of v: {h}"
    );

    for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
        c.kill(&id);
    }
    for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
        c.start(&id);
    }
    c.wait_leader().await;
    for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
        let b = wait_for(
            "a read after the restart",
            Duration::from_secs(20),
            || async {
                let (s, b) = c.get(&id, "v").await;
                (s == 200).then_some(b)
            },
        )
        .await;
        assert_eq!(b, json!({"value": 3, "version": v3}), "read via {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_tolerate_two_failures() {
    let mut c = Cluster::new(5, &[]);
    let leader = c.wait_leader().await;
    c.put_ok(&leader, "x", json!(1)).await;
    let victims: Vec<String> = c
        .addrs
        .keys()
        .filter(|id| **id != leader)
        .take(2)
        .cloned()
        .collect();
    for v in &victims {
        c.kill(v);
    }
    c.put_ok(&leader, "x", json!(2)).await;
    let survivor = c.children.keys().find(|id| **id != leader).unwrap().clone();
    assert_eq!(c.get_ok(&survivor, "x").await, json!(2));
    // Kill the leader too: two of five left, no quorum, so a write must not be acknowledged.
    c.kill(&leader);
    let (s, b) = c.put(&survivor, "x", json!(3)).await;
    assert_ne!(s, 200, "write acknowledged without a quorum: {b}");
    for v in &victims {
        c.start(v);
    }
    c.wait_leader().await;
    let x = c.get_ok(&survivor, "x").await;
    assert!(x == json!(2) || x == json!(3), "x = {x}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_far_behind_catches_up_by_install_snapshot() {
    let mut c = Cluster::new(
        3,
        &[
            "--snapshot-threshold-bytes",
            "4000",
            "--snapshot-chunk-bytes",
            "1000",
        ],
    );
    let leader = c.wait_leader().await;
    let lagger = c.addrs.keys().find(|id| **id != leader).unwrap().clone();
    c.kill(&lagger);
    for i in 0..150 {
        c.put_ok(&leader, &format!("key{i}"), json!(format!("value-{i}")))
            .await;
    }
    let leader_health = c.health(&leader).await.unwrap();
    assert!(
        leader_health["snapshot_index"].as_u64().unwrap() > 0,
        "leader never compacted: {leader_health}"
    );
    let target = leader_health["commit_index"].as_u64().unwrap();
    c.start(&lagger);
    wait_for(
        "the lagging node to catch up",
        Duration::from_secs(20),
        || async {
            let h = c.health(&lagger).await?;
            (h["applied_index"].as_u64()? >= target).then_some(())
        },
    )
    .await;
    let log = std::fs::read_to_string(c.log_path(&lagger)).unwrap();
    assert!(
        log.contains("\"snapshot-installed\""),
        "no InstallSnapshot in {lagger}'s log"
    );
    // Now make it the only way to a quorum: kill the other follower and read through it.
    let other = c
        .addrs
        .keys()
        .find(|id| **id != leader && **id != lagger)
        .unwrap()
        .clone();
    c.kill(&other);
    assert_eq!(c.get_ok(&lagger, "key149").await, json!("value-149"));
    c.put_ok(&lagger, "key0", json!("new")).await;
    assert_eq!(c.get_ok(&leader, "key0").await, json!("new"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_added_by_reconfiguration_serves_reads_and_a_removed_one_leaves() {
    let mut c = Cluster::new(3, &[]);
    let leader = c.wait_leader().await;
    c.put_ok(&leader, "before", json!("join")).await;
    let n4 = "n4".to_string();
    let addr4 = format!("127.0.0.1:{}", free_port());
    c.addrs.insert(n4.clone(), addr4.clone());
    let peers = c.peers();
    c.spawn(&n4, &peers, true);
    let follower = c
        .addrs
        .keys()
        .find(|id| **id != leader && **id != n4)
        .unwrap()
        .clone();
    c.admin_until_done(
        reqwest::Method::POST,
        &follower,
        "/admin/members",
        Some(json!({"id": n4, "addr": addr4})),
        "already a member",
    )
    .await;
    wait_for(
        "n4 to see itself a voter",
        Duration::from_secs(10),
        || async {
            let h = c.health(&n4).await?;
            (h["members"] == json!(["n1", "n2", "n3", "n4"])).then_some(())
        },
    )
    .await;
    assert_eq!(c.get_ok(&n4, "before").await, json!("join"));
    c.put_ok(&n4, "after", json!(4)).await;
    // Four voters: with n4 and two others a quorum stays even when the leader is removed.
    c.admin_until_done(
        reqwest::Method::DELETE,
        &n4,
        &format!("/admin/members/{leader}"),
        None,
        "not a member",
    )
    .await;
    c.kill(&leader);
    let new_leader = c.wait_new_leader(&leader).await;
    let h = c.health(&new_leader).await.unwrap();
    assert_eq!(h["members"].as_array().unwrap().len(), 3, "{h}");
    assert_eq!(c.get_ok(&n4, "after").await, json!(4));
    let (s, b) = c
        .call(
            reqwest::Method::POST,
            &n4,
            "/admin/members",
            Some(json!({"id": "", "addr": "x"})),
        )
        .await;
    assert_eq!((s, b["error"].clone()), (400, json!("bad-request")));
}

#[test]
fn bad_flags_get_clear_errors() {
    let out = Command::new(BIN)
        .args([
            "--id",
            "n9",
            "--listen",
            "127.0.0.1:1",
            "--peers",
            "n1=127.0.0.1:2",
            "--data-dir",
            "/tmp/unused-raft-kv",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--id n9 does not appear in --peers"), "{err}");
    let out = Command::new(BIN)
        .args([
            "--id",
            "n1",
            "--listen",
            "127.0.0.1:1",
            "--peers",
            "n1=nowhere",
            "--data-dir",
            "/tmp/unused-raft-kv",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("address `nowhere` of n1"));
    let out = Command::new(BIN)
        .args([
            "--id",
            "n1",
            "--listen",
            "127.0.0.1:1",
            "--data-dir",
            "/tmp/x",
            "--bug",
            "nope",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'nope'"));
}

/// Adding a node that never answers times out (indeterminate) and is abandoned, so the
/// next membership change is not blocked by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_an_unreachable_node_times_out_and_unblocks_later_changes() {
    let c = Cluster::new(3, &["--request-timeout-ms", "400"]);
    let leader = c.wait_leader().await;
    let ghost = format!("127.0.0.1:{}", free_port()); // nothing listens there
    let (s, b) = c
        .call(
            reqwest::Method::POST,
            &leader,
            "/admin/members",
            Some(json!({"id": "n9", "addr": ghost})),
        )
        .await;
    assert_eq!(
        (s, b["error"].clone(), b["definite"].clone()),
        (504, json!("timeout"), json!(false)),
        "{b}"
    );
    let (s, b) = c
        .call(reqwest::Method::DELETE, &leader, "/admin/members/n9", None)
        .await;
    assert_eq!(s, 409, "n9 never became a member: {b}");
    let victim = c.addrs.keys().find(|id| **id != leader).unwrap().clone();
    // Retried only across elections: a change still blocked by the abandoned add would keep
    // answering "already in progress" until the deadline.
    c.admin_until_done(
        reqwest::Method::DELETE,
        &leader,
        &format!("/admin/members/{victim}"),
        None,
        "not a member",
    )
    .await;
    wait_for("two voters left", Duration::from_secs(10), || async {
        let h = c.health(&leader).await?;
        (h["members"].as_array()?.len() == 2).then_some(())
    })
    .await;
}

/// SIGSTOP of the leader: the others elect a new one and keep serving; after SIGCONT the old
/// leader steps down and forwards to the new one, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_rejoins() {
    let mut c = Cluster::new(3, &["--request-timeout-ms", "1000"]);
    let leader = c.wait_leader().await;
    c.put_ok(&leader, "k", json!(1)).await;
    let pid = c.children[&leader].id() as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let other = c.addrs.keys().find(|id| **id != leader).unwrap().clone();
    // The paused leader cannot answer; ask a running node.
    let new_leader = wait_for(
        "a leader among the running nodes",
        Duration::from_secs(20),
        || async {
            let h = c.health(&other).await?;
            h["leader"]
                .as_str()
                .filter(|l| *l != leader)
                .map(str::to_string)
        },
    )
    .await;
    c.put_ok(&other, "k", json!(2)).await;
    unsafe { libc::kill(pid, libc::SIGCONT) };
    wait_for(
        "the old leader to follow the new one",
        Duration::from_secs(20),
        || async {
            let h = c.health(&leader).await?;
            (h["role"] == json!("follower") && h["leader"] == json!(new_leader)).then_some(())
        },
    )
    .await;
    assert_eq!(c.get_ok(&leader, "k").await, json!(2));
    c.kill(&leader); // SIGKILL also ends a stopped process; the guard would too
}

/// With both followers dead the leader has no quorum: the correct build neither acknowledges
/// writes nor answers reads; `early-ack` acknowledges the write and `stale-read` answers the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_switches_bypass_the_quorum() {
    for bug in [None, Some("early-ack"), Some("stale-read")] {
        // Long election timeouts: the leader must not step down (check-quorum) before the
        // requests below reach it.
        let mut args = vec![
            "--request-timeout-ms",
            "500",
            "--election-min-ms",
            "1500",
            "--election-max-ms",
            "2500",
        ];
        if let Some(b) = bug {
            args.extend(["--bug", b]);
        }
        let mut c = Cluster::new(3, &args);
        let leader = c.wait_leader().await;
        c.put_ok(&leader, "k", json!(1)).await;
        for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
            if id != leader {
                c.kill(&id);
            }
        }
        let (ws, wb) = c.put(&leader, "k", json!(2)).await;
        let (rs, rb) = c.get(&leader, "k").await;
        match bug {
            None => {
                assert_ne!(
                    ws, 200,
                    "correct build acknowledged a write without a quorum: {wb}"
                );
                assert_eq!(
                    wb["definite"],
                    json!(false),
                    "an unreplicated write's fate is unknown: {wb}"
                );
                assert_ne!(
                    rs, 200,
                    "correct build answered a read without a quorum: {rb}"
                );
            }
            Some("early-ack") => assert_eq!(ws, 200, "early-ack should acknowledge at once: {wb}"),
            Some(_) => assert_eq!(
                (rs, rb["value"].clone()),
                (200, json!(1)),
                "stale-read should answer locally"
            ),
        }
    }
}

/// `lease-read`: with a long lease the leader keeps answering reads alone after its followers
/// died, which the correct build refuses (see above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_read_answers_without_a_quorum_inside_the_lease() {
    let mut c = Cluster::new(
        3,
        &[
            "--bug",
            "lease-read",
            "--election-min-ms",
            "3000",
            "--election-max-ms",
            "4000",
            "--request-timeout-ms",
            "500",
        ],
    );
    let leader = c.wait_leader().await;
    c.put_ok(&leader, "k", json!(1)).await;
    // Let a lease probe confirm after the write.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
        if id != leader {
            c.kill(&id);
        }
    }
    let (s, b) = c.get(&leader, "k").await;
    assert_eq!(
        (s, b["value"].clone()),
        (200, json!(1)),
        "lease-read should answer inside the lease: {b}"
    );
}

/// `volatile-state`: after every node is killed and restarted, acknowledged writes are gone
/// (the correct build keeps them: `writes_survive_kill_9_of_the_leader_and_of_all_nodes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_state_forgets_acknowledged_writes() {
    let mut c = Cluster::new(3, &["--bug", "volatile-state"]);
    let leader = c.wait_leader().await;
    c.put_ok(&leader, "k", json!(1)).await;
    for id in c.addrs.keys().cloned().collect::<Vec<_>>() {
        c.kill(&id);
        c.start(&id);
    }
    c.wait_leader().await;
    assert_eq!(c.get_ok(&leader, "k").await, Value::Null);
}

/// Throughput and latency of a 3-node cluster on loopback. Run in release:
/// `cargo test --release -p raft-kv --test cluster bench_writes -- --ignored --nocapture`
/// (RAFT_BENCH_CLIENTS, RAFT_BENCH_SECS to change the load; RAFT_BENCH_OP=read measures
/// linearizable ReadIndex reads instead of writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn bench_writes() {
    let clients: usize = std::env::var("RAFT_BENCH_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let secs: u64 = std::env::var("RAFT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let reads = std::env::var("RAFT_BENCH_OP").is_ok_and(|op| op == "read");
    let c = Cluster::new(3, &[]);
    let leader = c.wait_leader().await;
    c.put_ok(&leader, "warmup", json!(0)).await;
    let end = Instant::now() + Duration::from_secs(secs);
    let url = c.url(&leader, "");
    let mut tasks = Vec::new();
    for w in 0..clients {
        let http = reqwest::Client::new();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            let mut i = 0u64;
            while Instant::now() < end {
                let t = Instant::now();
                let key = format!("{url}/kv/w{w}-{}", i % 100);
                let r = if reads {
                    http.get(key).send().await
                } else {
                    http.put(key).json(&json!({ "value": i })).send().await
                };
                match r {
                    Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    lat.sort();
    let op = if reads { "reads" } else { "writes" };
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "raft-kv bench: 3 nodes, {clients} clients, {secs}s: {} {op} ({:.0} {op}/s), p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
        lat.len(),
        lat.len() as f64 / secs as f64,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    assert!(!lat.is_empty());
}
