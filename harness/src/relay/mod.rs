//! The Maelstrom relay: the process a Maelstrom node runs as in its namespace
//! (`faultline maelstrom-relay`, hidden). It starts the user's binary as its child,
//! in its own process group (so `kill -9` of the group, a pause or a restart acts on
//! both), sends it Maelstrom's `init`, and bridges its stdin and stdout to the real
//! network: every line the node writes is one UDP datagram, to the peer's relay when
//! `dest` is a node, to the controller (clients `c1`, `c2`, ... and the services
//! `lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`) otherwise; every datagram received is one
//! line on the node's stdin. The node's stderr goes to the node log.
//!
//! Why UDP: Maelstrom's network promises nothing (messages may be lost, delayed,
//! reordered or duplicated) and nodes are written for that. UDP keeps that: a
//! dropped, delayed or duplicated packet is a dropped, delayed or duplicated message,
//! and a partition loses messages instead of stalling a TCP stream that would
//! retransmit them after the heal (which would hide a node that never retries).
//!
//! Readiness: the relay accepts TCP connections on its port (carrying nothing) once
//! the node answered `init_ok`, so the harness's TCP readiness check waits for init.
//!
//! The relay uses nothing of the harness: it runs inside a node's namespace.

pub mod args;

use anyhow::{anyhow, bail, Context, Result};
use args::RelayArgs;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest UDP payload: a longer message cannot travel and is dropped (logged).
pub const MAX_DATAGRAM: usize = 65_507;

/// The last octet of the controller's address on a run's subnet (the harness's side
/// of the test network: `backend::netns::network::HOST_OCTET`).
pub const CONTROLLER_OCTET: u8 = 254;

/// The `src` of the relay's own `init`; its `init_ok` is not forwarded.
pub const INIT_SRC: &str = "c0";

/// The `dest` of the relay's statistics datagrams to the controller.
pub const STATS_DEST: &str = "faultline";

/// Messages this relay carried since it started, sent to the controller every half
/// second (cumulative, so a lost datagram costs nothing).
#[derive(Default)]
struct Counts {
    /// To other nodes, by node.
    to_nodes: BTreeMap<String, u64>,
    /// To clients and services.
    to_controller: u64,
    /// Received from anyone.
    received: u64,
    /// Lines that were not JSON or had no `dest`, or were too long for a datagram.
    dropped: u64,
}

/// Runs the relay until the node exits; the relay's exit code is the node's.
pub fn run(args: RelayArgs) -> Result<i32> {
    let listen: SocketAddrV4 = args.listen;
    let peers = args.peers()?;
    let controller = SocketAddr::V4(SocketAddrV4::new(
        controller_ip(*listen.ip()),
        listen.port(),
    ));
    let node_dir = args.node_dir();
    prepare_dir(&node_dir, args.keep_data)?;
    let socket = UdpSocket::bind(listen).with_context(|| format!("binding UDP {listen}"))?;
    let mut child = spawn_node(&args, &node_dir)?;
    let stdin = Arc::new(Mutex::new(child.stdin.take().context("the node's stdin")?));
    let stdout = child.stdout.take().context("the node's stdout")?;
    let mut ids: Vec<&String> = peers.keys().collect();
    ids.sort_by_key(|id| node_number(id));
    let init = json!({"src": INIT_SRC, "dest": args.id, "body": {
        "type": "init", "msg_id": 0, "node_id": args.id, "node_ids": ids}});
    write_line(&stdin, &init.to_string()).context("sending init to the node")?;
    let counts = Arc::new(Mutex::new(Counts::default()));
    let ready = Arc::new(AtomicBool::new(false));
    let route = Router {
        socket: socket.try_clone()?,
        peers,
        controller,
        counts: Arc::clone(&counts),
    };
    let (ready_out, listen_out) = (Arc::clone(&ready), listen);
    std::thread::spawn(move || route.pump(stdout, ready_out, listen_out));
    let (socket_in, counts_in, stdin_in) = (socket.try_clone()?, Arc::clone(&counts), stdin);
    std::thread::spawn(move || inbound(socket_in, stdin_in, counts_in));
    let (stats_socket, id) = (socket, args.id.clone());
    std::thread::spawn(move || report_stats(stats_socket, controller, id, counts));
    let status = child.wait().context("waiting for the node")?;
    eprintln!("[relay] node exited: {status}");
    Ok(status.code().unwrap_or(1))
}

/// The controller sits at `.254` of the node's /24.
pub fn controller_ip(node: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = node.octets();
    Ipv4Addr::new(a, b, c, CONTROLLER_OCTET)
}

/// `n12` -> 12, so node ids sort as numbers; anything else sorts last.
fn node_number(id: &str) -> u64 {
    id.trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(u64::MAX)
}

/// The node's working directory: emptied at every start (Maelstrom's crash
/// semantics: a restarted node has lost its state) unless data is kept.
fn prepare_dir(dir: &std::path::Path, keep: bool) -> Result<()> {
    if !keep && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

fn spawn_node(args: &RelayArgs, dir: &std::path::Path) -> Result<std::process::Child> {
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| anyhow!("no node command after `--`"))?;
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // SAFETY: prctl is async-signal-safe; the node dies if the relay is killed alone.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .with_context(|| format!("starting the node `{program}`"))
}

fn write_line(stdin: &Mutex<ChildStdin>, line: &str) -> std::io::Result<()> {
    let mut w = stdin.lock().unwrap_or_else(|e| e.into_inner());
    w.write_all(line.as_bytes())?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Where the node's messages go.
struct Router {
    socket: UdpSocket,
    peers: HashMap<String, SocketAddr>,
    controller: SocketAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Router {
    /// Reads the node's stdout until it closes: the `init_ok` opens the readiness
    /// port, every other line is sent where its `dest` says.
    fn pump(self, stdout: std::process::ChildStdout, ready: Arc<AtomicBool>, listen: SocketAddrV4) {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            match self.route(&line) {
                Ok(Some(Route::InitOk)) if !ready.swap(true, Ordering::SeqCst) => {
                    if let Err(e) = open_readiness(listen) {
                        eprintln!("[relay] readiness port: {e:#}");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    self.counts
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .dropped += 1;
                    eprintln!("[relay] dropped a message from the node: {e:#}");
                }
            }
        }
    }

    fn route(&self, line: &str) -> Result<Option<Route>> {
        let msg: Value =
            serde_json::from_str(line).with_context(|| format!("not JSON: {}", clip(line)))?;
        let dest = msg
            .get("dest")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("no \"dest\": {}", clip(line)))?;
        if dest == INIT_SRC {
            let body = &msg["body"];
            if body["type"] == "init_ok" {
                return Ok(Some(Route::InitOk));
            }
            if body["type"] == "error" {
                bail!("the node refused init: {}", clip(line));
            }
            return Ok(None);
        }
        if line.len() > MAX_DATAGRAM {
            bail!("{} bytes, more than a UDP datagram holds", line.len());
        }
        let (to, node) = match self.peers.get(dest) {
            Some(addr) => (*addr, Some(dest)),
            None => (self.controller, None),
        };
        // A send error (no route during a fault, a full buffer) is a lost message.
        let _ = self.socket.send_to(line.as_bytes(), to);
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        match node {
            Some(n) => *c.to_nodes.entry(n.to_string()).or_default() += 1,
            None => c.to_controller += 1,
        }
        Ok(Some(Route::Sent))
    }
}

enum Route {
    InitOk,
    Sent,
}

/// Accepts (and closes) TCP connections on the node's port: the harness's readiness
/// check, answered only once the node is initialised.
fn open_readiness(listen: SocketAddrV4) -> Result<()> {
    let l = TcpListener::bind(listen).with_context(|| format!("binding TCP {listen}"))?;
    std::thread::spawn(move || {
        for conn in l.incoming() {
            drop(conn);
        }
    });
    Ok(())
}

/// Every datagram received becomes one line on the node's stdin.
fn inbound(socket: UdpSocket, stdin: Arc<Mutex<ChildStdin>>, counts: Arc<Mutex<Counts>>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let line = text.trim_end();
        if line.is_empty() || line.contains('\n') {
            continue;
        }
        counts.lock().unwrap_or_else(|e| e.into_inner()).received += 1;
        if write_line(&stdin, line).is_err() {
            // The node closed its stdin or exited: the relay ends with it.
            return;
        }
    }
}

/// Sends the cumulative counts to the controller every half second.
fn report_stats(socket: UdpSocket, controller: SocketAddr, id: String, counts: Arc<Mutex<Counts>>) {
    let incarnation = std::process::id();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let body = {
            let c = counts.lock().unwrap_or_else(|e| e.into_inner());
            json!({"type": "relay_stats", "incarnation": incarnation,
                "to_nodes": c.to_nodes, "to_controller": c.to_controller,
                "received": c.received, "dropped": c.dropped})
        };
        let msg = json!({"src": id, "dest": STATS_DEST, "body": body});
        let _ = socket.send_to(msg.to_string().as_bytes(), controller);
    }
}

fn clip(s: &str) -> String {
    if s.len() <= 200 {
        return s.to_string();
    }
    let mut end = 200;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controller_is_the_254_of_the_nodes_subnet() {
        assert_eq!(
            controller_ip(Ipv4Addr::new(10, 77, 9, 3)),
            Ipv4Addr::new(10, 77, 9, 254)
        );
    }

    #[test]
    fn a_restarted_nodes_folder_is_emptied_unless_its_data_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("node");
        prepare_dir(&node, false).unwrap();
        std::fs::write(node.join("state"), "42").unwrap();
        prepare_dir(&node, true).unwrap();
        assert!(node.join("state").exists());
        prepare_dir(&node, false).unwrap();
        assert!(node.is_dir() && !node.join("state").exists());
    }

    #[test]
    fn node_ids_sort_by_their_number() {
        let mut ids = vec!["n10", "n2", "n1"];
        ids.sort_by_key(|i| node_number(i));
        assert_eq!(ids, vec!["n1", "n2", "n10"]);
    }
}
