//! A composed fault on a real cluster in network namespaces (needs root; CI runs as
//! root): `pause-leader+clock-bump` stops the node the cluster reports as leader and
//! sets its wall clock back; healing resumes it and resets the clock; tearing down
//! leaves nothing behind. The nodes are a tiny Python HTTP server, so this tests the
//! nemesis and the cluster layer, not a reference system.

mod common;

use harness::backend::netns::{network, state, Cluster, ClusterOptions};
use harness::system::SystemSpec;
use nemesis::control::ClusterControl;
use nemesis::{Fault, FaultKind, FaultParams, Nemesis, Schedule};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `/health` (n2 claims to lead, so the leader is not the first node) and `/time`
/// (the node's wall clock, as libfaketime shows it).
const SERVER: &str = r#"
import json, os, sys, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
node, ip, port, data_dir = sys.argv[1:5]
os.makedirs(data_dir, exist_ok=True)
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/health":
            obj = {"node": node, "role": "leader" if node == "n2" else "follower", "term": 1,
                   "leader": "n2", "pid": os.getpid()}
        elif self.path == "/time":
            obj = {"wall": time.time()}
        else:
            return self.send_error(404)
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer((ip, int(port)), H).serve_forever()
"#;

fn system(dir: &Path) -> SystemSpec {
    let py = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    std::fs::write(dir.join("server.py"), SERVER).unwrap();
    let path = dir.join("leader-server.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "leader-server"
command = "{py} ./server.py {{id}} {{ip}} {{port}} {{data_dir}}"
working_dir = "."
port = 7070
leader = "health"
faults = ["partition", "kill", "pause", "clock"]
"#
        ),
    )
    .unwrap();
    SystemSpec::from_toml_file(&path).unwrap()
}

fn process_state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..].chars().next()
}

/// The node's wall clock minus ours, in seconds.
async fn skew(url: &str) -> f64 {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let v: serde_json::Value = client
        .get(format!("{url}/time"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    v["wall"].as_f64().unwrap() - now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_leader_with_clock_bump_pauses_the_leader_sets_its_clock_back_and_heals() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ClusterOptions::new(system(dir.path()), 3, dir.path().join("run"));
    options.ready_timeout = Some(Duration::from_secs(15));
    options.clock_faults = true;
    let cluster = Arc::new(Cluster::start(options).await.unwrap());
    let id = cluster.run_id().to_string();
    let pids: Vec<i32> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| cluster.pid(n).unwrap().unwrap())
        .collect();
    let n2_url = cluster.node("n2").unwrap().url();

    let mut nemesis = Nemesis::new(Arc::clone(&cluster)).with_seed(5);
    let kinds = FaultKind::parse_list("pause-leader+clock-bump", 3).unwrap();
    nemesis.prepare(&kinds).await.unwrap();
    let params = FaultParams {
        clock_bump: Some("-30s..-6s".parse().unwrap()),
        ..FaultParams::default()
    };
    let mut schedule = Schedule::new(5, Duration::from_secs(5), kinds, 3)
        .unwrap()
        .with_params(params);
    let fault = nemesis.resolve(&schedule.next_decision()).await.unwrap();
    let Fault::Composed { faults } = &fault else {
        panic!("{fault:?}")
    };
    assert_eq!(
        faults[0],
        Fault::PauseLeader {
            nodes: vec!["n2".into()],
            leader: Some("n2".into())
        },
        "the leader /health reports, not a fallback"
    );
    let Fault::ClockBump { deltas_ms } = &faults[1] else {
        panic!("{fault:?}")
    };
    let delta = deltas_ms["n2"];
    assert_eq!(deltas_ms.len(), 1);

    nemesis.start(&fault).await.unwrap();
    assert_eq!(process_state(pids[1]), Some('T'), "the leader is stopped");
    assert_ne!(process_state(pids[0]), Some('T'));
    assert_ne!(process_state(pids[2]), Some('T'));
    let file = cluster.clock_file("n2").unwrap();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{:+.3}\n", delta as f64 / 1000.0)
    );

    // The heal resumes the node, then resets its clock: it answers with the real time.
    nemesis.stop(&fault).await.unwrap();
    assert_ne!(process_state(pids[1]), Some('T'));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "+0.000\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = loop {
        let s = skew(&n2_url).await;
        if s.abs() < 1.0 || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(s.abs() < 1.0, "n2's clock is reset: skew {s}");
    assert!(nemesis.is_healthy());

    nemesis.teardown().await.unwrap();
    drop(nemesis);
    cluster.teardown().await.unwrap();
    for pid in &pids {
        assert_eq!(process_state(*pid), None, "process {pid} left");
    }
    assert!(network::list_netns()
        .iter()
        .all(|n| !n.starts_with(&format!("fl-{id}-"))));
    assert!(!state::RunState::path_of(&id).exists());
}
