//! Process-level proof of the `--bug lease-read` mechanism: real `raft-kv` processes on loopback,
//! each under libfaketime with its own clock file (as faultline runs them). The leader is cut
//! off by pausing both followers (SIGSTOP); with its wall clock set back it keeps leading and
//! answering reads alone, while without the skew, or in the correct build, it steps down.
//!
//! Needs libfaketime (`apt-get install faketime`, done by scripts/setup.sh), or
//! `FAULTLINE_LIBFAKETIME` pointing at libfaketime.so.1. Every child is resumed and killed by a
//! Drop guard, and the temporary directory goes with it, also when an assertion fails.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_raft-kv");
const TICK_MS: u64 = 20;
const ELECTION_MIN_MS: u64 = 300;
const ELECTION_MAX_MS: u64 = 600;

/// `$FAULTLINE_LIBFAKETIME`, or the distribution's libfaketime; a clear failure without it.
fn libfaketime() -> PathBuf {
    if let Some(p) = std::env::var_os("FAULTLINE_LIBFAKETIME") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "FAULTLINE_LIBFAKETIME={} does not exist",
            p.display()
        );
        return p;
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("faketime/libfaketime.so.1"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.push("/usr/lib/faketime/libfaketime.so.1".into());
    found.push("/usr/local/lib/faketime/libfaketime.so.1".into());
    found.into_iter().find(|p| p.is_file()).expect(
        "libfaketime is not installed: these tests skew a node's wall clock with it. \
         Run scripts/setup.sh or `apt-get install faketime`, \
         or point FAULTLINE_LIBFAKETIME at libfaketime.so.1",
    )
}

/// Sets the wall clock of the processes reading `file` to real time plus `ms`, atomically
/// (libfaketime reads the file on every clock call; offsets are seconds with a fraction).
fn set_clock(file: &Path, ms: i64) {
    let sign = if ms < 0 { '-' } else { '+' };
    let a = ms.unsigned_abs();
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{sign}{}.{:03}\n", a / 1000, a % 1000)).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Three nodes, each with its own libfaketime clock file.
struct Cluster {
    dir: tempfile::TempDir,
    addrs: BTreeMap<String, String>,
    children: BTreeMap<String, Child>,
    http: reqwest::Client,
    lease_read: bool,
}

impl Cluster {
    fn new(bugs: &[&str]) -> Cluster {
        let lib = libfaketime();
        let dir = tempfile::tempdir().unwrap();
        let addrs: BTreeMap<String, String> = (1..=3)
            .map(|i| (format!("n{i}"), format!("127.0.0.1:{}", free_port())))
            .collect();
        let peers = addrs
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut children = BTreeMap::new();
        for (id, addr) in &addrs {
            let clock = dir.path().join(format!("{id}.faketime"));
            set_clock(&clock, 0);
            let log = std::fs::File::create(dir.path().join(format!("{id}.log"))).unwrap();
            let mut cmd = Command::new(BIN);
            cmd.args(["--id", id, "--listen", addr, "--peers", &peers])
                .arg("--data-dir")
                .arg(dir.path().join(id))
                .args(["--tick-ms", &TICK_MS.to_string()])
                .args(["--election-min-ms", &ELECTION_MIN_MS.to_string()])
                .args(["--election-max-ms", &ELECTION_MAX_MS.to_string()])
                .env("LD_PRELOAD", &lib)
                .env("FAKETIME_TIMESTAMP_FILE", &clock)
                .env("FAKETIME_NO_CACHE", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .stdout(Stdio::null())
                .stderr(log);
            for b in bugs {
                cmd.args(["--bug", b]);
            }
            children.insert(id.clone(), cmd.spawn().expect("spawn raft-kv"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        Cluster {
            dir,
            addrs,
            children,
            http,
            lease_read: bugs.contains(&"lease-read"),
        }
    }

    fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{id}.log"))).unwrap_or_default()
    }

    fn clock_file(&self, id: &str) -> PathBuf {
        self.dir.path().join(format!("{id}.faketime"))
    }

    fn signal(&self, id: &str, sig: libc::c_int) {
        let pid = self.children[id].id() as libc::pid_t;
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed for {id}");
    }

    fn url(&self, id: &str, path: &str) -> String {
        format!("http://{}{}", self.addrs[id], path)
    }

    async fn health(&self, id: &str) -> Option<Value> {
        let r = self
            .http
            .get(self.url(id, "/health"))
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    async fn role(&self, id: &str) -> Option<String> {
        Some(self.health(id).await?["role"].as_str()?.to_string())
    }

    /// The node that every node names as leader and that says it leads.
    async fn leader(&self) -> Option<String> {
        let mut named = Vec::new();
        for id in self.addrs.keys() {
            named.push(self.health(id).await?["leader"].as_str()?.to_string());
        }
        let l = named[0].clone();
        (named.iter().all(|n| *n == l) && self.role(&l).await.as_deref() == Some("leader"))
            .then_some(l)
    }

    /// (status, body) of a read through `via`, with a budget shorter than a quorum read would
    /// need on a cut-off node (its ReadIndex can never be confirmed).
    async fn get(&self, via: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(via, &format!("/kv/{key}")))
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        match r {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(e) => (0, json!({ "transport-error": e.to_string() })),
        }
    }

    async fn put_ok(&self, via: &str, key: &str, value: Value) {
        wait_for(
            "a write to be acknowledged",
            Duration::from_secs(10),
            || {
                let value = value.clone();
                async move {
                    let r = self
                        .http
                        .put(self.url(via, &format!("/kv/{key}")))
                        .json(&json!({ "value": value }))
                        .send()
                        .await
                        .ok()?;
                    (r.status().as_u16() == 200).then_some(())
                }
            },
        )
        .await
    }

    /// Elects a leader, writes `k = 1` through it, then cuts it off by pausing both followers.
    /// With `--bug lease-read` it first waits for the leader's first quorum-confirmed lease
    /// (its `lease-held` log line), since a leader cut off before that never had one.
    /// `clock_back_ms` then sets the leader's wall clock back while it is still in touch, so
    /// the lease it holds, confirmed on the true clock, is live when the followers stop.
    async fn cut_off_leader(&self, clock_back_ms: i64) -> (String, Instant) {
        let leader = wait_for("a leader", Duration::from_secs(20), || self.leader()).await;
        self.put_ok(&leader, "k", json!(1)).await;
        let (s, b) = self.get(&leader, "k").await;
        assert_eq!((s, &b["value"]), (200, &json!(1)), "{b}");
        if self.lease_read {
            wait_for(
                "the leader's lease-held log line",
                Duration::from_secs(5),
                || async {
                    let term = self.health(&leader).await?["term"].as_u64()?;
                    let held = format!(r#""event":"lease-held","term":{term}"#);
                    self.log(&leader).contains(&held).then_some(())
                },
            )
            .await;
        }
        if clock_back_ms != 0 {
            set_clock(&self.clock_file(&leader), -clock_back_ms);
        }
        for id in self.addrs.keys().filter(|id| **id != leader) {
            self.signal(id, libc::SIGSTOP);
        }
        (leader, Instant::now())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for id in self.addrs.keys() {
                eprintln!("--- {id}.log ---\n{}", self.log(id));
            }
        }
        for (_, mut c) in std::mem::take(&mut self.children) {
            // SAFETY: kill(2) on our own unreaped child; a stopped child is resumed first so
            // nothing lingers stopped if the kill were ever to fail.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGCONT) };
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until `id` no longer says it leads; returns how long that took from `since`.
async fn wait_step_down(c: &Cluster, id: &str, since: Instant, limit: Duration) -> Duration {
    wait_for(
        &format!("{id} to step down (limit {limit:?})"),
        limit,
        || async {
            let role = c.role(id).await?;
            (role != "leader").then(|| since.elapsed())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_with_its_clock_set_back_keeps_serving_reads() {
    let c = Cluster::new(&["lease-read"]);
    let (leader, cut) = c.cut_off_leader(20_000).await;
    // Several minimum election timeouts: check-quorum would have deposed it within one, and
    // the followers, were they running, would have elected someone else.
    let hold = Duration::from_millis(8 * ELECTION_MIN_MS);
    let mut reads = 0;
    while cut.elapsed() < hold {
        let role = c.role(&leader).await;
        assert_eq!(
            role.as_deref(),
            Some("leader"),
            "{leader} stopped leading {:?} after its followers were paused",
            cut.elapsed()
        );
        let (s, b) = c.get(&leader, "k").await;
        let read = (s, b["value"].clone());
        assert_eq!(
            read,
            (200, json!(1)),
            "{leader} did not answer a read alone {:?} after being cut off",
            cut.elapsed()
        );
        reads += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{leader}: clock -20 s, still leading and served {reads} local reads over {:?} cut off",
        cut.elapsed()
    );
    // Put its clock right: the lease it still holds ended long ago in true time, so it must
    // step down at its next tick.
    let reset = Instant::now();
    set_clock(&c.clock_file(&leader), 0);
    let took = wait_step_down(&c, &leader, reset, Duration::from_secs(2)).await;
    eprintln!("{leader}: clock reset, stepped down after {took:?}");
    assert!(
        c.log(&leader).contains(r#""event":"lease-lapsed""#),
        "{leader} stepped down, but not because its lease lapsed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_with_a_true_clock_steps_down_when_its_lease_lapses() {
    let c = Cluster::new(&["lease-read"]);
    let (leader, cut) = c.cut_off_leader(0).await;
    // The lease is one minimum election timeout less a tick from the last confirmed probe.
    let took = wait_step_down(&c, &leader, cut, Duration::from_secs(3)).await;
    eprintln!("lease-read, true clock: {leader} stepped down {took:?} after being cut off");
    assert!(
        c.log(&leader).contains(r#""event":"lease-lapsed""#),
        "{leader} stepped down, but not because its lease lapsed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_correct_build_deposes_a_cut_off_leader_whatever_its_clock() {
    let c = Cluster::new(&[]);
    let (leader, cut) = c.cut_off_leader(20_000).await;
    // Check-quorum runs on ticks of the monotonic clock: within two minimum election timeouts.
    let took = wait_step_down(&c, &leader, cut, Duration::from_secs(3)).await;
    eprintln!("correct build, clock -20 s: {leader} stepped down {took:?} after being cut off");
    let (status, body) = c.get(&leader, "k").await;
    assert_ne!(
        status, 200,
        "a deposed leader of the correct build answered a read: {body}"
    );
}
