//! Real clusters in network namespaces. These tests need root (CAP_NET_ADMIN); CI runs
//! as root. The nodes are a tiny Python HTTP server (below), not a reference system,
//! so the cluster layer is tested on its own.
//!
//! Every test uses its own run id, subnet and temporary run directory, so they run in
//! parallel; every one checks that what it made is gone afterwards.

use harness::backend::netns::{self as cluster, cleanup, network, state, Cluster, ClusterOptions};
use harness::system::SystemSpec;
use nemesis::control::ClusterControl;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The node: answers `/health` (n1 claims to lead), `/time` (its wall clock, its
/// monotonic clock and `date +%s` run as a child), `/probe` (whether it can open a TCP
/// connection to each other node), and counts its starts in its data directory.
const SERVER: &str = r#"
import json, os, signal, socket, subprocess, sys, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
node, ip, port, peers, data_dir, mode = sys.argv[1:7]
def stop(*_):
    open(os.path.join(data_dir, "stopped"), "w").write("SIGTERM")
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
peers = dict(p.split("=", 1) for p in peers.split(","))
leader = sorted(peers)[0]
os.makedirs(data_dir, exist_ok=True)
count_file = os.path.join(data_dir, "starts")
starts = int(open(count_file).read()) + 1 if os.path.exists(count_file) else 1
open(count_file, "w").write(str(starts))
print(f"{node} starting ({mode}), start number {starts}", flush=True)
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/health":
            self.reply({"node": node, "role": "leader" if node == leader else "follower", "term": 1,
                        "leader": leader, "starts": starts, "mode": mode, "pid": os.getpid()})
        elif self.path == "/time":
            date = int(subprocess.run(["date", "+%s"], capture_output=True, text=True).stdout)
            self.reply({"wall": time.time(), "mono": time.monotonic(), "date": date})
        elif self.path == "/probe":
            out = {}
            for other, addr in peers.items():
                if other == node: continue
                h, p = addr.rsplit(":", 1)
                try:
                    socket.create_connection((h, int(p)), timeout=1).close(); out[other] = True
                except OSError:
                    out[other] = False
            self.reply(out)
        else:
            self.send_error(404)
ThreadingHTTPServer((ip, int(port)), H).serve_forever()
"#;

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// The test server as a user would describe it: a TOML system file next to its
/// program (a relative program path is relative to the file).
fn test_system(dir: &Path, extra: &str) -> SystemSpec {
    let path = dir.join("test-server.toml");
    std::fs::write(dir.join("server.py"), SERVER).unwrap();
    let toml = format!(
        r#"name = "test-server"
command = "{py} ./server.py {{id}} {{ip}} {{port}} {{peers}} {{data_dir}} start"
restart = ["{py}", "./server.py", "{{id}}", "{{ip}}", "{{port}}", "{{peers}}", "{{data_dir}}", "restart"]
working_dir = "."
port = 7070
leader = "health"
{extra}
"#,
        py = python(),
    );
    std::fs::write(&path, toml).unwrap();
    SystemSpec::from_toml_file(&path).unwrap()
}

fn options(dir: &Path, system: SystemSpec, nodes: usize) -> ClusterOptions {
    let mut o = ClusterOptions::new(system, nodes, dir.join("run"));
    o.ready_timeout = Some(Duration::from_secs(15));
    o
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap()
}

async fn get_json(url: &str) -> Result<serde_json::Value, String> {
    let r = http().get(url).send().await.map_err(|e| e.to_string())?;
    r.json().await.map_err(|e| e.to_string())
}

/// Asserts nothing of run `id` is left: namespace, link, process, lease, state file.
fn assert_gone(id: &str, pids: &[i32]) {
    let ns: Vec<String> = network::list_netns()
        .into_iter()
        .filter(|n| n.starts_with(&format!("fl-{id}-")))
        .collect();
    assert!(ns.is_empty(), "namespaces of run {id} left: {ns:?}");
    let links: Vec<String> = network::list_host_links()
        .into_iter()
        .filter(|l| l.starts_with(&format!("fl{id}")))
        .collect();
    assert!(links.is_empty(), "links of run {id} left: {links:?}");
    for pid in pids {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        assert!(!alive, "process {pid} of run {id} still running");
    }
    assert!(
        !state::RunState::path_of(id).exists(),
        "state file of run {id} left"
    );
    assert!(
        !state::lease::all().iter().any(|(_, r)| r == id),
        "subnet lease of run {id} left"
    );
}

fn process_state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..].chars().next()
}

#[tokio::test]
async fn three_nodes_reachable_killable_pausable_and_torn_down_without_trace() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(options(dir.path(), test_system(dir.path(), ""), 3))
        .await
        .unwrap();
    let id = c.run_id().to_string();
    assert_eq!(c.nodes().len(), 3);
    assert!(network::link_exists(&c.host_link()));
    // The host namespace gains exactly one address: ours (no IPv6 link-local either).
    let addrs = network::ip(&["-o", "addr", "show", "dev", &c.host_link()]).unwrap();
    assert_eq!(addrs.lines().count(), 1, "{addrs}");
    assert!(
        addrs.contains(&format!("inet {}/24", c.host_ip())),
        "{addrs}"
    );
    assert_eq!(c.host_ip().octets()[3], 254);

    // Each node at its own address, from the host, in its own namespace.
    let mut pids = Vec::new();
    for (i, n) in c.nodes().iter().enumerate() {
        assert_eq!(n.ip.octets()[3] as usize, i + 1);
        assert_eq!(n.netns, format!("fl-{id}-{}", n.id));
        let h = get_json(&format!("{}/health", n.url())).await.unwrap();
        assert_eq!(h["node"], n.id.as_str());
        let pid = c.pid(&n.id).unwrap().unwrap();
        assert_eq!(
            h["pid"], pid,
            "the pid we hold is the node's own, not a wrapper's"
        );
        assert_eq!(cluster::process::pids_in_netns(&n.netns), vec![pid]);
        pids.push(pid);
        let log = std::fs::read_to_string(&n.log).unwrap();
        assert!(log.contains(&format!("{} starting (start)", n.id)), "{log}");
    }
    // ... and they reach each other.
    for n in c.nodes() {
        let p = get_json(&format!("{}/probe", n.url())).await.unwrap();
        assert_eq!(p.as_object().unwrap().len(), 2);
        assert!(
            p.as_object().unwrap().values().all(|v| v == true),
            "{} cannot reach every peer: {p}",
            n.id
        );
    }
    assert_eq!(c.leader().await.as_deref(), Some("n1"));

    // Kill: the node is gone, reaped, and killing it again is fine.
    let n2 = c.node("n2").unwrap().clone();
    c.kill("n2").unwrap();
    assert!(!c.is_running("n2").unwrap());
    assert!(get_json(&format!("{}/health", n2.url())).await.is_err());
    assert!(cluster::process::pids_in_netns(&n2.netns).is_empty());
    assert_eq!(
        process_state(pids[1]),
        None,
        "killed node must be reaped, not a zombie"
    );
    c.kill("n2").unwrap();
    // Probing from n1 now finds n2 unreachable.
    let p = get_json(&format!("{}/probe", c.nodes()[0].url()))
        .await
        .unwrap();
    assert_eq!(p["n2"], false);

    // Restart: the restart command, the same data directory.
    c.restart("n2").await.unwrap();
    assert!(
        c.restart("n2").await.is_err(),
        "restarting a running node is an error"
    );
    c.wait_ready("n2", Duration::from_secs(15)).await.unwrap();
    let h = get_json(&format!("{}/health", n2.url())).await.unwrap();
    assert_eq!(h["mode"], "restart");
    assert_eq!(h["starts"], 2);
    let new_pid = c.pid("n2").unwrap().unwrap();
    pids.push(new_pid);

    // Pause and resume.
    let n3 = c.node("n3").unwrap().clone();
    let pid3 = c.pid("n3").unwrap().unwrap();
    c.pause("n3").unwrap();
    assert_eq!(process_state(pid3), Some('T'));
    assert!(
        get_json(&format!("{}/health", n3.url())).await.is_err(),
        "a paused node must not answer"
    );
    c.resume("n3").unwrap();
    assert_ne!(process_state(pid3), Some('T'));
    get_json(&format!("{}/health", n3.url())).await.unwrap();

    let log = std::fs::read_to_string(&n2.log).unwrap();
    assert!(
        log.contains("n2 killed by faultline (SIGKILL)") && log.contains("n2 starting (restart)"),
        "{log}"
    );
    let log3 = std::fs::read_to_string(&n3.log).unwrap();
    assert!(
        log3.contains("paused (SIGSTOP)") && log3.contains("resumed (SIGCONT)"),
        "{log3}"
    );

    c.teardown().await.unwrap();
    assert_gone(&id, &pids);
    assert!(c.kill("n1").is_err(), "operations after teardown fail");
    c.teardown().await.unwrap();
}

#[tokio::test]
async fn clock_bump_moves_the_wall_clock_and_date_but_not_monotonic_time() {
    let dir = tempfile::tempdir().unwrap();
    let system = test_system(
        dir.path(),
        "faults = [\"partition\", \"kill\", \"pause\", \"clock\"]",
    );
    let mut opts = options(dir.path(), system, 1);
    opts.clock_faults = true;
    let c = Cluster::start(opts).await.unwrap();
    let url = format!("{}/time", c.nodes()[0].url());
    let file = c.clock_file("n1").unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), "+0");

    let wall = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let mono = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    };
    let t = get_json(&url).await.unwrap();
    assert!((t["wall"].as_f64().unwrap() - wall()).abs() < 2.0, "{t}");

    // The nemesis's format: seconds with a fraction, replaced by rename.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, "+3600.000\n").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let t = get_json(&url).await.unwrap();
    let skew = t["wall"].as_f64().unwrap() - wall();
    assert!(
        (skew - 3600.0).abs() < 2.0,
        "wall clock should be an hour ahead: {t}"
    );
    let date_skew = t["date"].as_f64().unwrap() - wall();
    assert!(
        (date_skew - 3600.0).abs() < 3.0,
        "`date` in the namespace should be an hour ahead: {t}"
    );
    assert!(
        (t["mono"].as_f64().unwrap() - mono()).abs() < 2.0,
        "monotonic time must stay real: {t}"
    );

    std::fs::write(&file, "-120\n").unwrap();
    let t = get_json(&url).await.unwrap();
    assert!(
        (t["wall"].as_f64().unwrap() - wall() + 120.0).abs() < 2.0,
        "{t}"
    );
    c.teardown().await.unwrap();
}

#[tokio::test]
async fn clock_faults_refused_clearly_when_the_system_cannot_have_them() {
    let dir = tempfile::tempdir().unwrap();
    let system = test_system(dir.path(), ""); // default faults: no clock
    let mut opts = options(dir.path(), system.clone(), 1);
    opts.clock_faults = true;
    let run_id = opts.run_id.clone();
    let e = format!(
        "{:#}",
        Cluster::start(opts).await.err().expect("must refuse")
    );
    assert!(
        e.contains("does not support clock faults") && e.contains("test-server"),
        "{e}"
    );
    assert_gone(&run_id, &[]);

    let c = Cluster::start(options(dir.path(), system, 1))
        .await
        .unwrap();
    let e = c.clock_file("n1").unwrap_err().to_string();
    assert!(e.contains("does not support clock faults"), "{e}");
    assert!(c
        .clock_file("n9")
        .unwrap_err()
        .to_string()
        .contains("no node \"n9\""));
    c.teardown().await.unwrap();
}

#[tokio::test]
async fn a_node_that_dies_at_start_is_named_with_its_log_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        "name = \"broken\"\ncommand = [\"/bin/sh\", \"-c\", \"echo booting $0 on $1; exit 3\", \"{id}\", \"{addr}\"]\nport = 7071\n",
    )
    .unwrap();
    let opts = options(dir.path(), SystemSpec::from_toml_file(&path).unwrap(), 2);
    let run_id = opts.run_id.clone();
    let started = Instant::now();
    let e = format!("{:#}", Cluster::start(opts).await.err().expect("must fail"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a dead node must fail the start at once"
    );
    assert!(e.contains("node n1 exited (exit code 3)"), "{e}");
    assert!(
        e.contains("nodes/n1.log") && e.contains("booting n1 on 10.77."),
        "{e}"
    );
    assert_gone(&run_id, &[]);
}

#[tokio::test]
async fn a_node_that_never_listens_times_out_with_the_last_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silent.toml");
    std::fs::write(
        &path,
        "name = \"silent\"\ncommand = \"sleep 300\"\nport = 7072\n[ready]\ntcp = true\n",
    )
    .unwrap();
    let mut opts = options(dir.path(), SystemSpec::from_toml_file(&path).unwrap(), 1);
    // Long enough for a connection attempt to be refused even on a loaded machine
    // (one attempt may wait up to a second for an answer).
    opts.ready_timeout = Some(Duration::from_millis(2500));
    let run_id = opts.run_id.clone();
    let e = format!("{:#}", Cluster::start(opts).await.err().expect("must fail"));
    assert!(
        e.contains("node n1 was not ready") && e.contains(":7072 (tcp) within 2.5s"),
        "{e}"
    );
    assert!(e.contains("Connection refused"), "{e}");
    assert!(
        e.contains("sleep 300"),
        "the log tail shows the command: {e}"
    );
    assert_gone(&run_id, &[]);
}

#[tokio::test]
async fn a_node_that_crashes_is_reaped_noted_and_can_be_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(options(dir.path(), test_system(dir.path(), ""), 1))
        .await
        .unwrap();
    let pid = c.pid("n1").unwrap().unwrap();
    unsafe { libc::kill(pid, libc::SIGSEGV) }; // a crash nobody asked for
                                               // The reaper collects it without anyone calling into the cluster: no zombie.
    let deadline = Instant::now() + Duration::from_secs(5);
    while process_state(pid).is_some() {
        assert!(
            Instant::now() < deadline,
            "crashed node left as {:?}",
            process_state(pid)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = std::fs::read_to_string(&c.nodes()[0].log).unwrap();
    assert!(log.contains("n1 exited on its own: signal 11"), "{log}");
    // The runner hears of it as a finding, and does not wait for the dead node.
    use harness::backend::RunningCluster;
    let exited = c.exited_nodes();
    assert_eq!(exited.len(), 1, "{exited:?}");
    assert_eq!(
        (exited[0].node.as_str(), exited[0].status.as_str()),
        ("n1", "signal 11")
    );
    let started = Instant::now();
    c.wait_recovered(Duration::from_secs(15)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?} for a dead node",
        started.elapsed()
    );
    // Pausing or killing a dead node is not an error; restarting it works.
    c.pause("n1").unwrap();
    c.kill("n1").unwrap();
    c.restart("n1").await.unwrap();
    c.wait_ready("n1", Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        get_json(&format!("{}/health", c.nodes()[0].url()))
            .await
            .unwrap()["starts"],
        2
    );
    assert!(
        c.exited_nodes().is_empty(),
        "a restarted node is not a crash"
    );
    c.teardown().await.unwrap();
}

/// Teardown asks nodes to stop (SIGTERM) and gives them a grace before SIGKILL, so a
/// node can flush and close what it holds.
#[tokio::test]
async fn teardown_stops_nodes_with_sigterm_before_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(options(dir.path(), test_system(dir.path(), ""), 2))
        .await
        .unwrap();
    let data: Vec<_> = c.nodes().iter().map(|n| n.data_dir.clone()).collect();
    let logs: Vec<_> = c.nodes().iter().map(|n| n.log.clone()).collect();
    c.teardown().await.unwrap();
    for (d, log) in data.iter().zip(&logs) {
        assert_eq!(
            std::fs::read_to_string(d.join("stopped")).unwrap(),
            "SIGTERM"
        );
        let log = std::fs::read_to_string(log).unwrap();
        assert!(log.contains("stopped at teardown: exit code 0"), "{log}");
    }
}

#[test]
fn without_root_faultline_says_it_needs_root_and_how_to_run_it() {
    if !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("setpriv missing; cannot drop privileges to test this");
        return;
    }
    let out = Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            env!("CARGO_BIN_EXE_faultline"),
            "clean",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("needs root")
            && stderr.contains("CAP_NET_ADMIN")
            && stderr.contains("sudo"),
        "{stderr}"
    );
}

#[tokio::test]
async fn two_clusters_at_once_get_different_subnets() {
    let dir = tempfile::tempdir().unwrap();
    let (d1, d2) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    let (a, b) = tokio::join!(
        Cluster::start(options(&d1, test_system(&d1, ""), 2)),
        Cluster::start(options(&d2, test_system(&d2, ""), 2))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.subnet(), b.subnet());
    for c in [&a, &b] {
        for n in c.nodes() {
            assert_eq!(
                get_json(&format!("{}/health", n.url())).await.unwrap()["node"],
                n.id.as_str()
            );
        }
    }
    let ids = [a.run_id().to_string(), b.run_id().to_string()];
    drop(a); // Drop tears down too.
    assert_gone(&ids[0], &[]);
    b.teardown().await.unwrap();
    assert_gone(&ids[1], &[]);
}

#[tokio::test]
async fn a_panic_while_the_cluster_runs_still_tears_it_down() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), test_system(dir.path(), ""), 1);
    let run_id = opts.run_id.clone();
    let task = tokio::spawn(async move {
        let c = Cluster::start(opts).await.unwrap();
        let pid = c.pid("n1").unwrap().unwrap();
        if pid > 0 {
            panic!("deliberate panic with a live cluster (pid {pid})");
        }
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_gone(&run_id, &[]);
}

/// Runs this test binary again as a child that starts a cluster and waits; returns
/// the child and the run id it printed.
fn child_with_cluster(dir: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holding_a_cluster",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FL_TEST_CHILD_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let id = loop {
        let line = lines
            .next()
            .expect("child ended before starting its cluster")
            .unwrap();
        // libtest may print "test child_holding_a_cluster ... " on the same line.
        if let Some(at) = line.find("CLUSTER-UP ") {
            break line[at + "CLUSTER-UP ".len()..].trim().to_string();
        }
    };
    (child, id)
}

/// Not a test on its own: the child process of the tests below.
#[tokio::test]
#[ignore = "helper: run by other tests as a child process"]
async fn child_holding_a_cluster() {
    let Some(dir) = std::env::var_os("FL_TEST_CHILD_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let c = Cluster::start(options(&dir, test_system(&dir, ""), 2))
        .await
        .unwrap();
    println!("CLUSTER-UP {}", c.run_id());
    tokio::time::sleep(Duration::from_secs(120)).await;
    drop(c);
}

#[tokio::test]
async fn sigterm_tears_the_cluster_down() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, id) = child_with_cluster(dir.path());
    assert!(network::netns_exists(&format!("fl-{id}-n1")));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "the child re-raises the signal after cleaning up"
    );
    assert_gone(&id, &[]);
}

#[tokio::test]
async fn faultline_clean_removes_a_killed_run_and_leaves_live_ones_alone() {
    let dir = tempfile::tempdir().unwrap();
    let live = Cluster::start(options(dir.path(), test_system(dir.path(), ""), 1))
        .await
        .unwrap();
    let child_dir = dir.path().join("child");
    std::fs::create_dir_all(&child_dir).unwrap();
    let (mut child, id) = child_with_cluster(&child_dir);
    child.kill().unwrap(); // SIGKILL: no teardown.
    child.wait().unwrap();
    assert!(
        network::netns_exists(&format!("fl-{id}-n1")),
        "a killed harness leaves its namespaces"
    );
    assert!(state::RunState::path_of(&id).exists());
    // A second leaked run whose state file is lost too: found by its names and marks.
    let orphan_dir = dir.path().join("orphan");
    std::fs::create_dir_all(&orphan_dir).unwrap();
    let (mut orphan_child, orphan) = child_with_cluster(&orphan_dir);
    orphan_child.kill().unwrap();
    orphan_child.wait().unwrap();
    std::fs::remove_file(state::RunState::path_of(&orphan)).unwrap();
    // Something still running inside the leaked namespace, as a node that forked would.
    let mut stray = Command::new("ip")
        .args(["netns", "exec", &format!("fl-{id}-n2"), "sleep", "300"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while cluster::process::pids_in_netns(&format!("fl-{id}-n2")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "stray process never entered the namespace"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // The leaked run's nodes died with their harness (or will be killed): the dry
    // run lists only the recorded processes that still run, none of the dead ones.
    let record = state::RunState::load(&state::RunState::path_of(&id)).unwrap();
    assert!(!record.processes.is_empty());
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--dry-run", "--run", &id])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    let alive: Vec<i32> = record
        .processes
        .iter()
        .filter(|p| state::process_alive(p.pid, p.start_time))
        .map(|p| p.pid)
        .collect();
    assert!(listed.contains(&format!("processes {alive:?}")), "{listed}");
    for p in record.processes.iter().filter(|p| !alive.contains(&p.pid)) {
        assert!(
            !listed.contains(&p.pid.to_string()),
            "dead {} listed: {listed}",
            p.pid
        );
    }

    let found = cleanup::find_runs();
    let leaked = found
        .iter()
        .find(|r| r.resources.run_id == id)
        .expect("the leaked run is found");
    assert!(leaked.live_owner.is_none());
    assert!(found
        .iter()
        .find(|r| r.resources.run_id == live.run_id())
        .unwrap()
        .live_owner
        .is_some());

    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("clean")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("run {id}: killed processes"))
            && stdout.contains(&format!("fl-{id}-n1")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("run {}: in use by faultline", live.run_id())),
        "{stdout}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(stray.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert_gone(&id, &[]);
    assert!(
        stdout.contains(&format!("run {orphan}: removed namespaces")),
        "{stdout}"
    );
    assert_gone(&orphan, &[]);

    // The live cluster is untouched, also by `--run` without `--force`.
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--run", live.run_id()])
        .output()
        .unwrap();
    assert!(out.status.success());
    get_json(&format!("{}/health", live.nodes()[0].url()))
        .await
        .unwrap();
    let live_id = live.run_id().to_string();
    live.teardown().await.unwrap();
    assert_gone(&live_id, &[]);

    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["clean", "--run", "BAD"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "a bad run id is bad input");
}

/// Harness overhead: building and removing a 5-node cluster's network.
/// `cargo test --release -p faultline --test cluster -- --ignored --nocapture bench_network_setup_teardown`
#[test]
#[ignore = "benchmark"]
fn bench_network_setup_teardown() {
    use cluster::naming::{self, RunNames};
    let mut setup = Vec::new();
    let mut teardown = Vec::new();
    for _ in 0..20 {
        let id = naming::new_run_id();
        let names = RunNames::new(&id);
        let t = Instant::now();
        let octet = network::lease_subnet(&id).unwrap();
        let nodes: Vec<_> = naming::node_ids(5)
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, network::subnet_ip(octet, i as u8 + 1)))
            .collect();
        network::create(&names, octet, &nodes).unwrap();
        setup.push(t.elapsed());
        let mut namespaces = vec![names.switch_netns()];
        namespaces.extend(nodes.iter().map(|(n, _)| names.node_netns(n)));
        let t = Instant::now();
        network::destroy(&names.host_link(), &namespaces).unwrap();
        state::lease::release(octet, &id);
        teardown.push(t.elapsed());
    }
    let stats = |v: &mut Vec<Duration>| {
        v.sort();
        (v[0], v[v.len() / 2], v[v.len() - 1])
    };
    let (smin, smed, smax) = stats(&mut setup);
    let (tmin, tmed, tmax) = stats(&mut teardown);
    println!("5-node network setup:    min {smin:?} median {smed:?} max {smax:?}");
    println!("5-node network teardown: min {tmin:?} median {tmed:?} max {tmax:?}");
}

/// The built-in reference systems come up as clusters (needs their binaries:
/// `cargo build -p raft-kv -p dynamo-kv`, then
/// `cargo test -p faultline --test cluster -- --ignored builtin_reference_systems`).
#[tokio::test]
#[ignore = "needs the reference systems' binaries"]
async fn builtin_reference_systems_come_up_and_raft_kv_has_a_leader() {
    for name in ["raft-kv", "dynamo-kv"] {
        let dir = tempfile::tempdir().unwrap();
        let system = harness::system::builtin::builtin(name).unwrap();
        let c = Cluster::start(options(dir.path(), system, 3))
            .await
            .unwrap();
        for n in c.nodes() {
            let h = get_json(&format!("{}/health", n.url())).await.unwrap();
            assert_eq!(h["node"], n.id.as_str(), "{name}: {h}");
        }
        if name == "raft-kv" {
            let deadline = Instant::now() + Duration::from_secs(10);
            let leader = loop {
                if let Some(l) = c.leader().await {
                    break l;
                }
                assert!(Instant::now() < deadline, "raft-kv elected no leader");
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            // Kill the leader: the others elect a new one; the old one rejoins.
            c.kill(&leader).unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match c.leader().await {
                    Some(l) if l != leader => break,
                    _ => assert!(
                        Instant::now() < deadline,
                        "no new leader after killing {leader}"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            c.restart(&leader).await.unwrap();
            c.wait_ready(&leader, Duration::from_secs(10))
                .await
                .unwrap();
        }
        c.teardown().await.unwrap();
    }
}

/// The worked example of docs/systems.md, exactly as a user runs it: a system file
/// and `faultline test`, with processes killed and paused under it.
///
/// Ignored by default: once in about six full-suite runs, with the other tests of this
/// file running in parallel, a tiny-kv node failed to bind its own address
/// (EADDRNOTAVAIL) in its fresh namespace. Not yet explained; run it alone with
/// `cargo test -p faultline --test cluster -- --ignored the_worked_example`.
/// This test was ignored for a rare EADDRNOTAVAIL at node start, only beside the
/// other tests of this file. The cause: `faultline clean` (run by
/// `faultline_clean_removes_a_killed_run_and_leaves_live_ones_alone`) listed state
/// files before namespaces and leases, so a run starting in between looked orphaned;
/// removing its switch namespace destroyed the peer ends of its nodes' veths, and a
/// node binding its address then found none. `cleanup::attach_late_states` closes
/// that window.
#[test]
fn the_worked_example_system_passes_faultline_test() {
    let results = tempfile::tempdir().unwrap();
    let system = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/systems/tiny-kv.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--system"])
        .arg(&system)
        .args([
            "--nodes",
            "3",
            "--time-limit",
            "3s",
            "--nemesis",
            "kill,pause",
            "--nemesis-interval",
            "1s",
        ])
        .args(["--quiet", "--results-dir"])
        .arg(results.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("verdict: valid"), "{stdout}");
    let both = format!("{stdout}\n{stderr}");
    let run_id = both
        .split_whitespace()
        .skip_while(|w| *w != "run")
        .nth(1)
        .map(|w| w.trim_end_matches(',').to_string())
        .expect("the run id is printed");
    assert_gone(&run_id, &[]);
}

/// Harness overhead for a whole cluster: network, 5 processes (the Python test server,
/// whose own start-up dominates), readiness, and teardown of it all.
/// `cargo test --release -p faultline --test cluster -- --ignored --nocapture bench_cluster_start_teardown`
#[tokio::test]
#[ignore = "benchmark"]
async fn bench_cluster_start_teardown() {
    let dir = tempfile::tempdir().unwrap();
    let system = test_system(dir.path(), "");
    let mut start = Vec::new();
    let mut teardown = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let c = Cluster::start(options(dir.path(), system.clone(), 5))
            .await
            .unwrap();
        start.push(t.elapsed());
        let t = Instant::now();
        c.teardown().await.unwrap();
        teardown.push(t.elapsed());
    }
    start.sort();
    teardown.sort();
    println!(
        "5-node cluster start (ready):  min {:?} median {:?} max {:?}",
        start[0], start[5], start[9]
    );
    println!(
        "5-node cluster teardown:       min {:?} median {:?} max {:?}",
        teardown[0], teardown[5], teardown[9]
    );
}

/// Killing a node kills what it spawned outside its process group too (everything in
/// its namespace), but not a command of the harness's own running there right then
/// (as the nemesis runs `iptables-restore`).
#[tokio::test]
async fn kill_takes_the_nodes_strays_but_spares_the_harness_own_commands() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(options(dir.path(), test_system(dir.path(), ""), 1))
        .await
        .unwrap();
    let netns = c.nodes()[0].netns.clone();
    // A stray: a process that left the node's group, as a daemonising node's would.
    let mut stray_parent = Command::new("ip")
        .args(["netns", "exec", &netns, "setsid", "-f", "sleep", "303"])
        .spawn()
        .unwrap();
    stray_parent.wait().unwrap();
    // The harness's own command in the namespace.
    let mut ours = Command::new("ip")
        .args(["netns", "exec", &netns, "sleep", "304"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while cluster::process::pids_in_netns(&netns).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "processes never appeared in {netns}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.kill("n1").unwrap();
    let left = cluster::process::pids_in_netns(&netns);
    assert_eq!(
        left,
        vec![ours.id() as i32],
        "only the harness's own command may survive"
    );
    ours.kill().unwrap();
    ours.wait().unwrap();
    c.teardown().await.unwrap();
}
