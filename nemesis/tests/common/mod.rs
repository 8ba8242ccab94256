//! Test scaffolding: a throwaway network of namespaces, sockets inside them, and a
//! fake cluster control that records what the nemesis asked of it.
#![allow(dead_code)]

use anyhow::{anyhow, Result};
use nemesis::control::{ClusterControl, DiskFault, DiskReport, NodeRef};
use nemesis::netns::Netns;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub fn require_root() {
    // SAFETY: no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test builds network namespaces and needs root (run as root / sudo)"
    );
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("running ip (package iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `n` node namespaces `fl-nmt-<pid>-<k>-n<i>` on one bridge (in its own hub
/// namespace), addresses 10.78.<k>.<i+1>/24. Everything lives inside namespaces this
/// guard created, and is deleted when it drops.
pub struct TestNet {
    pub prefix: String,
    pub nodes: Vec<NodeRef>,
    created: Vec<String>,
}

impl TestNet {
    pub fn new(n: usize) -> TestNet {
        require_root();
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("fl-nmt-{}-{k}", std::process::id());
        let mut net = TestNet {
            prefix: prefix.clone(),
            nodes: Vec::new(),
            created: Vec::new(),
        };
        let hub = format!("{prefix}-hub");
        ip(&["netns", "add", &hub]);
        net.created.push(hub.clone());
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &hub, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("{prefix}-n{}", i + 1);
            ip(&["netns", "add", &ns]);
            net.created.push(ns.clone());
            let port = format!("v{}", i + 1);
            ip(&[
                "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]);
            ip(&["-n", &hub, "link", "set", &port, "master", "br0", "up"]);
            let addr: Ipv4Addr = format!("10.78.{}.{}", k % 250, i + 1).parse().unwrap();
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            net.nodes.push(NodeRef {
                id: format!("n{}", i + 1),
                ip: addr,
                netns: ns,
            });
        }
        net
    }

    pub fn node(&self, id: &str) -> &NodeRef {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    pub fn namespaces(&self) -> Vec<String> {
        self.created.clone()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A UDP socket bound inside a node's namespace.
pub fn udp_in(node: &NodeRef, port: u16) -> UdpSocket {
    let ns = Netns::open(&node.netns).unwrap();
    let s = ns
        .run(|| UdpSocket::bind(SocketAddr::from((node.ip, port))))
        .unwrap()
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    // Bursts of hundreds of datagrams (twice that when duplicated) must not overflow
    // the default receive buffer, or the test would measure its own socket's drops.
    let size: libc::c_int = 8 << 20;
    // SAFETY: valid fd and option value.
    unsafe {
        use std::os::fd::AsRawFd;
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &size as *const _ as *const libc::c_void,
            4,
        );
    }
    s
}

/// Sends `count` numbered datagrams from `from` to `to` and returns the numbers `to`
/// received (in arrival order), waiting until `settle` passes with nothing new.
pub fn transfer(
    from: &NodeRef,
    to: &NodeRef,
    port: u16,
    count: u32,
    gap: Duration,
    settle: Duration,
) -> Vec<u32> {
    let rx = udp_in(to, port);
    let tx = udp_in(from, 0);
    for i in 0..count {
        tx.send_to(&i.to_be_bytes(), SocketAddr::from((to.ip, port)))
            .unwrap();
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    let mut got = Vec::new();
    let mut last = Instant::now();
    let mut buf = [0u8; 64];
    while last.elapsed() < settle {
        if let Ok(n) = rx.recv(&mut buf) {
            if n == 4 {
                got.push(u32::from_be_bytes(buf[..4].try_into().unwrap()));
                last = Instant::now();
            }
        }
    }
    got
}

/// Whether a datagram from `from` reaches `to` (a few tries within ~0.5 s).
pub fn reaches(from: &NodeRef, to: &NodeRef, port: u16) -> bool {
    !transfer(
        from,
        to,
        port,
        3,
        Duration::from_millis(5),
        Duration::from_millis(300),
    )
    .is_empty()
}

/// Round trip of one UDP echo from `from` to `to` and back.
pub fn echo_rtt(from: &NodeRef, to: &NodeRef, port: u16) -> Option<Duration> {
    let server = udp_in(to, port);
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        if let Ok((n, peer)) = server.recv_from(&mut buf) {
            let _ = server.send_to(&buf[..n], peer);
        }
    });
    let client = udp_in(from, 0);
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let t0 = Instant::now();
    client
        .send_to(b"ping", SocketAddr::from((to.ip, port)))
        .unwrap();
    let mut buf = [0u8; 64];
    let r = client.recv(&mut buf).ok().map(|_| t0.elapsed());
    handle.join().unwrap();
    r
}

/// Whether a TCP connection from `from` to a listener in `to` succeeds within 1 s.
pub fn tcp_connects(from: &NodeRef, to: &NodeRef, port: u16) -> bool {
    let lns = Netns::open(&to.netns).unwrap();
    let listener = lns
        .run(|| std::net::TcpListener::bind(SocketAddr::from((to.ip, port))))
        .unwrap()
        .unwrap();
    let cns = Netns::open(&from.netns).unwrap();
    let addr = SocketAddr::from((to.ip, port));
    let r = cns
        .run(move || std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)))
        .unwrap();
    drop(listener);
    r.is_ok()
}

/// Every call the nemesis made, in order.
#[derive(Default)]
pub struct Calls(pub Mutex<Vec<String>>);

/// A cluster control that runs nothing: it records calls, can be told to fail for
/// given nodes, reports a configurable leader, and hands out clock files in a temp dir
/// (or refuses clock faults like a Go binary would).
pub struct FakeControl {
    pub nodes: Vec<NodeRef>,
    pub calls: Arc<Calls>,
    pub leader: Mutex<Option<String>>,
    pub fail: Mutex<Vec<String>>,
    pub clock_dir: Option<PathBuf>,
    pub running: Mutex<BTreeMap<String, &'static str>>,
    /// What `spare_nodes` answers.
    pub spares: Vec<String>,
}

impl FakeControl {
    pub fn new(nodes: Vec<NodeRef>, clock_dir: Option<PathBuf>) -> FakeControl {
        let running = nodes.iter().map(|n| (n.id.clone(), "running")).collect();
        FakeControl {
            nodes,
            calls: Arc::new(Calls::default()),
            leader: Mutex::new(None),
            fail: Mutex::new(Vec::new()),
            clock_dir,
            running: Mutex::new(running),
            spares: Vec::new(),
        }
    }

    /// Nodes with no namespace behind them, for tests of process and clock faults.
    pub fn offline(n: usize, clock_dir: Option<PathBuf>) -> FakeControl {
        let nodes = (1..=n)
            .map(|i| NodeRef {
                id: format!("n{i}"),
                ip: Ipv4Addr::new(10, 79, 0, i as u8),
                netns: format!("fl-nmt-none-{i}"),
            })
            .collect();
        FakeControl::new(nodes, clock_dir)
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.0.lock().unwrap().clone()
    }

    pub fn state(&self, node: &str) -> &'static str {
        self.running.lock().unwrap()[node]
    }

    fn record(&self, what: &str, node: &str, new_state: Option<&'static str>) -> Result<()> {
        self.calls.0.lock().unwrap().push(format!("{what} {node}"));
        if self.fail.lock().unwrap().iter().any(|f| f == node) {
            return Err(anyhow!("{what} {node}: injected failure"));
        }
        if let Some(s) = new_state {
            self.running.lock().unwrap().insert(node.to_string(), s);
        }
        Ok(())
    }
}

impl ClusterControl for FakeControl {
    fn nodes(&self) -> Vec<NodeRef> {
        self.nodes.clone()
    }

    fn spare_nodes(&self) -> Vec<String> {
        self.spares.clone()
    }
    fn kill(&self, node: &str) -> Result<()> {
        self.record("kill", node, Some("dead"))
    }
    fn restart(&self, node: &str) -> impl Future<Output = Result<()>> + Send {
        let r = self.record("restart", node, Some("running"));
        async move { r }
    }
    fn pause(&self, node: &str) -> Result<()> {
        self.record("pause", node, Some("paused"))
    }
    fn resume(&self, node: &str) -> Result<()> {
        self.record("resume", node, Some("running"))
    }
    fn leader(&self) -> impl Future<Output = Option<String>> + Send {
        let l = self.leader.lock().unwrap().clone();
        async move { l }
    }
    fn remove_members(
        &self,
        nodes: &[String],
        members: &[String],
    ) -> impl Future<Output = Result<()>> + Send {
        let r = self.record(
            "remove-members",
            &format!("{} -> {}", nodes.join(","), members.join(",")),
            None,
        );
        async move { r }
    }
    fn add_members(
        &self,
        nodes: &[String],
        members: &[String],
    ) -> impl Future<Output = Result<()>> + Send {
        let r = self.record(
            "add-members",
            &format!("{} -> {}", nodes.join(","), members.join(",")),
            None,
        );
        async move { r }
    }
    fn has_lazy_disk(&self) -> bool {
        true
    }
    /// Records the drop as `lose-unsynced n1` (or `torn-write n1`); drops nothing.
    fn disk(&self, node: &str, fault: DiskFault) -> Result<DiskReport> {
        let what = match fault {
            DiskFault::LoseUnsynced => "lose-unsynced",
            DiskFault::TornWrite => "torn-write",
        };
        self.record(what, node, None)?;
        Ok(DiskReport::default())
    }
    fn clock_file(&self, node: &str) -> Result<PathBuf> {
        match &self.clock_dir {
            Some(d) => Ok(d.join(format!("{node}.faketime"))),
            None => Err(anyhow!("this system is a Go binary that reads the clock without libc; libfaketime cannot change its clock")),
        }
    }
}
