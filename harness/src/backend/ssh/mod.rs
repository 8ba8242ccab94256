//! Nodes on remote hosts, reached over SSH: one node per host, or several each on
//! ports of its own, in the order of the hosts file ([`hosts`]). The controller
//! keeps one OpenSSH master connection per host ([`conn`]) and runs small `sh`
//! scripts over it ([`remote`]): start a node under its supervisor, signal its
//! process group, swap iptables chains, fetch logs.
//!
//! A start is all or nothing: every host is connected and checked first
//! ([`preflight`]), and every problem of every host is reported before anything is
//! put on any of them. Teardown (also on error, on drop and after the runner's
//! Ctrl-C) stops every node, fetches logs and data into the results folder, removes
//! the run's chains and folder on every host and closes the connections. What a
//! controller killed with -9 leaves, `faultline clean --hosts FILE` removes
//! ([`clean`]).

pub mod clean;
pub mod conn;
pub mod damage;
pub mod hosts;
pub mod lazyfs;
mod membership;
pub mod netem;
mod ports;
pub mod preflight;
pub mod remote;

use super::netns::{naming, readiness, Node};
use crate::system::{leader::NodeAddr, NodeVars, SystemSpec};
use anyhow::{anyhow, bail, Context, Result};
use conn::Conn;
use hosts::Host;
use nemesis::control::{ClusterControl, NodeCommand, NodeRef};
use nemesis::FaultKind;
use ports::{check_sharing, PortPlan};
use remote::RemoteLaunch;
use std::collections::BTreeSet;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long nodes get to exit after SIGTERM at teardown before SIGKILL.
const STOP_GRACE_S: u32 = 3;

/// What cluster to start, and where.
#[derive(Debug, Clone)]
pub struct SshOptions {
    pub run_id: String,
    pub hosts: Vec<Host>,
    pub node_count: usize,
    /// Nodes placed after the members but not started: a membership change adds
    /// them (`--spare-nodes`).
    pub spare_nodes: usize,
    pub system: SystemSpec,
    /// The results folder: logs go to `nodes/`, data to `data/`.
    pub run_dir: PathBuf,
    /// The test's fault kinds, refused before anything starts when the hosts cannot
    /// do them.
    pub kinds: Vec<FaultKind>,
    /// Every node's data directory on faultline's lazy filesystem on its host
    /// (`--lazyfs`, or a disk fault that needs it): see [`lazyfs`].
    pub lazyfs: bool,
}

/// A running cluster on remote hosts.
pub struct SshCluster {
    inner: Arc<Inner>,
}

struct Inner {
    run_id: String,
    system: SystemSpec,
    run_dir: PathBuf,
    /// The local folder of the master connections' sockets.
    control_dir: PathBuf,
    /// The members, then the spares.
    nodes: Vec<Node>,
    /// How many of `nodes` are the initial members.
    members: usize,
    /// One per node, in node order; nodes on one host share its connection.
    conns: Vec<Arc<Conn>>,
    /// Per node: where it runs (its host's index in the hosts list, its port shift).
    slots: Vec<hosts::Slot>,
    /// When nodes share hosts: their ports and groups, and the partition in force.
    ports: Option<PortPlan>,
    /// (first start, restart) per node.
    launches: Vec<(RemoteLaunch, RemoteLaunch)>,
    /// Per node: the host's libfaketime, when the test has clock faults.
    faketime: Option<Vec<String>>,
    /// The local `faultline-lazyfs`, uploaded to every node's `bin/`, when data
    /// directories are lazy filesystems.
    lazyfs: Option<PathBuf>,
    /// The runtime the cluster started in, for [`Inner::run_blocking`] on threads
    /// outside it.
    runtime: Option<tokio::runtime::Handle>,
    /// Per node: the supervisor's process group while faultline believes it runs.
    groups: Vec<Mutex<Option<i32>>>,
    torn_down: Mutex<bool>,
    /// How long each phase of the start took, in seconds.
    timings: Mutex<Vec<(&'static str, f64)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SshCluster {
    /// Connects to and checks every host, uploads the system's binary, starts every
    /// node and waits until the cluster is ready. On any failure what was made so far
    /// is removed before the error is returned.
    pub async fn start(opts: SshOptions) -> Result<SshCluster> {
        let inner = tokio::task::spawn_blocking(move || Inner::connect_and_start(opts))
            .await
            .map_err(|e| anyhow!("starting the ssh cluster panicked: {e}"))??;
        let cluster = SshCluster {
            inner: Arc::new(inner),
        };
        let t0 = std::time::Instant::now();
        let started = cluster.wait_started().await;
        cluster.inner.phase("ready_s", t0);
        cluster.inner.write_timings();
        if let Err(e) = started {
            let e = e.context(format!(
                "run {}: the cluster did not come up",
                cluster.inner.run_id
            ));
            return Err(match cluster.teardown().await {
                Ok(()) => e,
                Err(t) => e.context(format!("(and cleaning up failed: {t:#})")),
            });
        }
        Ok(cluster)
    }

    async fn wait_started(&self) -> Result<()> {
        let timeout = self.inner.system.ready_timeout;
        for (i, node) in self.inner.members().iter().enumerate() {
            if let Err(e) = readiness::wait_ready(node, timeout).await {
                let tail = self.inner.log_tail(i);
                return Err(e.context(format!(
                    "the end of its log on {}:\n{tail}",
                    self.inner.conns[i].host.label()
                )));
            }
        }
        self.inner
            .system
            .cluster_ready
            .wait(&self.node_addrs(), timeout)
            .await
    }

    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    /// The members (not the spares).
    pub fn nodes(&self) -> &[Node] {
        self.inner.members()
    }

    fn node_addrs(&self) -> Vec<NodeAddr> {
        self.inner
            .nodes
            .iter()
            .zip(&self.inner.groups)
            .filter(|(_, g)| lock(g).is_some())
            .map(|(n, _)| NodeAddr {
                id: n.id.clone(),
                ip: n.ip,
                port: n.port,
            })
            .collect()
    }

    /// Stops every node, fetches logs and data, removes the run's chains and files
    /// on every host. Idempotent.
    pub async fn teardown(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.teardown_blocking())
            .await
            .map_err(|e| anyhow!("teardown panicked: {e}"))?
    }
}

impl Inner {
    fn connect_and_start(opts: SshOptions) -> Result<Inner> {
        naming::check_run_id(&opts.run_id)?;
        opts.system
            .validate()
            .with_context(|| opts.system.origin())?;
        let all = opts.node_count + opts.spare_nodes;
        let slots = hosts::place(&opts.hosts, all)?;
        let used: Vec<usize> = slots
            .iter()
            .map(|s| s.host)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let hosts: Vec<Host> = used.iter().map(|&h| opts.hosts[h].clone()).collect();
        let host_ips = hosts
            .iter()
            .map(Host::ipv4)
            .collect::<Result<Vec<Ipv4Addr>>>()?;
        // Per node, the index of its host among those used.
        let at: Vec<usize> = slots
            .iter()
            .map(|s| used.iter().position(|&h| h == s.host).unwrap_or(0))
            .collect();
        let ips: Vec<Ipv4Addr> = at.iter().map(|&h| host_ips[h]).collect();
        let shared = hosts.len() < all;
        if shared {
            check_sharing(&opts, &slots)?;
        }
        let logs = opts.run_dir.join("nodes");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let lazyfs = match opts.lazyfs {
            true => Some(super::netns::lazyfs::binary()?),
            false => None,
        };
        let control_dir = control_dir(&opts.run_id);
        std::fs::create_dir_all(&control_dir)
            .with_context(|| format!("creating {}", control_dir.display()))?;
        let t0 = std::time::Instant::now();
        let checked = preflight::connect_and_check(&opts, &hosts, &control_dir, shared);
        let preflight::Ready {
            conns,
            upload,
            faketime,
        } = match checked {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&control_dir);
                return Err(e);
            }
        };
        let conns: Vec<Arc<Conn>> = conns.into_iter().map(Arc::new).collect();
        let conns: Vec<Arc<Conn>> = at.iter().map(|&h| conns[h].clone()).collect();
        let faketime: Option<Vec<String>> =
            faketime.map(|libs| at.iter().map(|&h| libs[h].clone()).collect());
        let ids = naming::node_ids(all);
        let ports = shared.then(|| PortPlan::new(&opts, &ids, &slots));
        let planned = plan(
            &opts,
            &ids,
            &ips,
            &slots,
            upload.as_ref(),
            faketime.as_deref(),
        );
        let (nodes, launches) = match planned {
            Ok(p) => p,
            Err(e) => {
                drop(conns);
                let _ = std::fs::remove_dir_all(&control_dir);
                return Err(e);
            }
        };
        let inner = Inner {
            run_id: opts.run_id.clone(),
            system: opts.system.clone(),
            run_dir: opts.run_dir.clone(),
            control_dir,
            groups: nodes.iter().map(|_| Mutex::new(None)).collect(),
            nodes,
            members: opts.node_count,
            conns,
            slots,
            ports,
            launches,
            faketime,
            lazyfs,
            runtime: tokio::runtime::Handle::try_current().ok(),
            torn_down: Mutex::new(false),
            timings: Mutex::new(Vec::new()),
        };
        inner.phase("connect_and_check_s", t0);
        // From here on, dropping `inner` (an error below) tears it all down.
        let t0 = std::time::Instant::now();
        inner.prepare_hosts(&ids, upload.as_ref())?;
        if inner.ports.is_some() && opts.kinds.iter().any(FaultKind::is_network) {
            inner.on_each_host(|conn| {
                conn.run(&remote::install_port_chain(&inner.run_id), None)
                    .map(drop)
            })?;
        }
        inner.phase("prepare_and_upload_s", t0);
        let t0 = std::time::Instant::now();
        inner.start_all()?;
        inner.phase("start_s", t0);
        Ok(inner)
    }

    fn phase(&self, name: &'static str, since: std::time::Instant) {
        lock(&self.timings).push((name, since.elapsed().as_secs_f64()));
    }

    /// `ssh.json` in the results folder: how long each phase of the start took
    /// (the README's figures come from it).
    fn write_timings(&self) {
        let map: serde_json::Map<String, serde_json::Value> = lock(&self.timings)
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
            .collect();
        let _ = std::fs::write(
            self.run_dir.join("ssh.json"),
            format!("{:#}\n", serde_json::Value::Object(map)),
        );
    }

    /// The run's folders on every host, and the binary, in parallel.
    fn prepare_hosts(&self, ids: &[String], upload: Option<&preflight::Upload>) -> Result<()> {
        let owner = owner_record();
        self.on_every_host(|i, conn| {
            let clock = self.faketime.is_some();
            conn.run(&remote::prepare(&self.run_id, &ids[i], &owner, clock), None)?;
            if let Some((local, name)) = upload {
                conn.upload(local, &remote::binary(&self.run_id, &ids[i], name))
                    .with_context(|| format!("uploading {}", local.display()))?;
            }
            if let Some(local) = &self.lazyfs {
                conn.upload(
                    local,
                    &remote::binary(&self.run_id, &ids[i], lazyfs::BINARY),
                )
                .with_context(|| format!("uploading {}", local.display()))?;
            }
            // The long-lived shell, started now so the first fault does not wait
            // for it.
            self.run_blocking(i, "true").context("starting a shell")?;
            Ok(())
        })
    }

    /// Starts the members (a spare waits for a membership change).
    fn start_all(&self) -> Result<()> {
        self.on_every_host(|i, conn| {
            if self.lazyfs.is_some() {
                let node = &self.nodes[i].id;
                conn.run(&lazyfs::mount(&self.run_id, node), None)
                    .with_context(|| format!("node {node}: mounting its lazy filesystem"))?;
            }
            if i < self.members {
                self.start_node(i, false)
            } else {
                Ok(())
            }
        })
    }

    fn members(&self) -> &[Node] {
        &self.nodes[..self.members]
    }

    fn start_node(&self, i: usize, restart: bool) -> Result<()> {
        let launch = if restart {
            &self.launches[i].1
        } else {
            &self.launches[i].0
        };
        self.start_with(i, launch)
    }

    /// Starts node `i` with `launch` under a new supervisor on its host.
    fn start_with(&self, i: usize, launch: &RemoteLaunch) -> Result<()> {
        let node = &self.nodes[i].id;
        let out = self.conns[i]
            .run(&remote::start(&self.run_id, node, launch), None)
            .with_context(|| format!("node {node}: starting it"))?;
        let pgid: i32 = out
            .trim()
            .parse()
            .map_err(|_| anyhow!("node {node}: its supervisor reported {out:?}, not a pid"))?;
        *lock(&self.groups[i]) = Some(pgid);
        Ok(())
    }

    /// Runs `f` for every node's host at once; every host's error, each named.
    fn on_every_host(&self, f: impl Fn(usize, &Conn) -> Result<()> + Sync) -> Result<()> {
        let f = &f;
        let errors: Vec<String> = std::thread::scope(|s| {
            let running: Vec<_> = self
                .conns
                .iter()
                .enumerate()
                .map(|(i, c)| (i, s.spawn(move || f(i, c))))
                .collect();
            running
                .into_iter()
                .filter_map(|(i, h)| {
                    let r = h.join().unwrap_or_else(|_| Err(anyhow!("panicked")));
                    r.err()
                        .map(|e| format!("host {}: {e:#}", self.conns[i].host.label()))
                })
                .collect()
        });
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("{}", errors.join("; "))
        }
    }

    /// Runs `f` once for every host in use (through its first node's connection).
    fn on_each_host(&self, f: impl Fn(&Conn) -> Result<()> + Sync) -> Result<()> {
        self.on_every_host(|i, conn| {
            if self.slots[i].shift == 0 {
                f(conn)
            } else {
                Ok(())
            }
        })
    }

    fn index_of(&self, id: &str) -> Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| anyhow!("no node {id:?} in run {}", self.run_id))
    }

    fn check_live(&self) -> Result<()> {
        if *lock(&self.torn_down) {
            bail!("run {} has been torn down", self.run_id);
        }
        Ok(())
    }

    /// Runs `script` through host `i`'s long-lived shell from blocking code (the
    /// nemesis's kills, clock writes and disk faults): a fault in force in one round
    /// trip, not a new channel's session. From a thread outside the runtime (the
    /// clock strobe's, the start's per-host threads) it waits on the runtime the
    /// cluster started in; on a single-threaded runtime, which cannot wait, it opens
    /// a new channel.
    fn run_blocking(&self, i: usize, script: &str) -> Result<String> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let conn = &self.conns[i];
        match Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| rt.block_on(conn.run_in_shell(script, None)))
            }
            Ok(_) => conn.run(script, None),
            Err(_) => match &self.runtime {
                Some(rt) => rt.block_on(conn.run_in_shell(script, None)),
                None => conn.run(script, None),
            },
        }
    }

    /// Sends a signal to a node's process group over SSH and waits until it took.
    fn signal(&self, id: &str, signal: &str, what: &str) -> Result<()> {
        let i = self.index_of(id)?;
        self.check_live()?;
        self.run_blocking(i, &remote::signal(&self.run_id, id, signal, what))
            .with_context(|| format!("node {id} on {}", self.conns[i].host.label()))?;
        if signal == "KILL" {
            *lock(&self.groups[i]) = None;
        }
        Ok(())
    }

    fn restart(&self, id: &str) -> Result<()> {
        let i = self.index_of(id)?;
        self.check_live()?;
        if let Some(p) = *lock(&self.groups[i]) {
            bail!("node {id} is still running (process group {p}); kill it before restarting it");
        }
        self.start_node(i, true)
    }

    /// The last lines of a node's log on its host.
    fn log_tail(&self, i: usize) -> String {
        let log = format!("{}/log", remote::node_dir(&self.run_id, &self.nodes[i].id));
        self.conns[i]
            .run(&format!("tail -n 20 {}", shell_words::quote(&log)), None)
            .unwrap_or_else(|e| format!("(cannot read it: {e:#})"))
    }

    /// Nodes whose supervisor recorded an exit: they ended on their own.
    fn exited(&self) -> Vec<super::NodeExit> {
        let mut out = Vec::new();
        for (i, conn) in self.conns.iter().enumerate() {
            if lock(&self.groups[i]).is_none() {
                continue;
            }
            let id = &self.nodes[i].id;
            let Ok(text) = conn.run(
                &remote::status(&self.run_id, std::slice::from_ref(id)),
                None,
            ) else {
                continue;
            };
            if let Some(status) = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix(&format!("{id} exited ")))
            {
                let log_tail = text
                    .split_once("--- log\n")
                    .and_then(|(_, rest)| rest.split_once("--- end"))
                    .map(|(log, _)| log.to_string())
                    .unwrap_or_default();
                out.push(super::NodeExit {
                    node: id.clone(),
                    status: describe_status(status.trim()),
                    log_tail,
                });
            }
        }
        out
    }

    fn teardown_blocking(&self) -> Result<()> {
        let mut done = lock(&self.torn_down);
        if *done {
            return Ok(());
        }
        *done = true;
        let result = self.on_every_host(|i, conn| self.clear_host(i, conn));
        for c in &self.conns {
            c.close();
        }
        let _ = std::fs::remove_dir_all(&self.control_dir);
        result.map_err(|e| {
            anyhow!(
                "run {}: teardown incomplete: {e}; run `faultline clean --hosts FILE`",
                self.run_id
            )
        })
    }

    /// Stops the host's node, fetches its log and data, removes the run's chains
    /// and folder there.
    fn clear_host(&self, i: usize, conn: &Conn) -> Result<()> {
        let id = &self.nodes[i].id;
        let mut errors = Vec::new();
        if let Err(e) = conn.run(
            &remote::stop_all(&self.run_id, Some(id), STOP_GRACE_S),
            None,
        ) {
            errors.push(format!("stopping {id}: {e:#}"));
        }
        *lock(&self.groups[i]) = None;
        let dir = remote::node_dir(&self.run_id, id);
        let mut data_dir = format!("{dir}/data");
        // Removing the folder would reach through a mount still there.
        let mut mounted = false;
        if self.lazyfs.is_some() {
            // Synced and unmounted: what is durable is all in the backing folder.
            match conn.run(&lazyfs::unmount(&self.run_id, Some(id)), None) {
                Ok(_) => data_dir = lazyfs::backing_dir(&self.run_id, id),
                Err(e) => {
                    errors.push(format!("unmounting {id}'s lazy filesystem: {e:#}"));
                    mounted = true;
                }
            }
        }
        let logs = self.run_dir.join("nodes");
        let data = self.run_dir.join("data");
        for d in [&logs, &data] {
            let _ = std::fs::create_dir_all(d);
        }
        // A node that never started has no log: that is not a teardown failure.
        let fetched = logs.join(format!("{id}.host.log"));
        if conn.fetch(&format!("{dir}/log"), &fetched, false).is_ok() {
            merge_log(&fetched, &self.nodes[i].log);
        }
        let _ = conn.fetch(&data_dir, &data.join(id), true);
        // The chains are the host's, removed once (by its first node).
        let first_on_host = self.slots[i].shift == 0;
        if first_on_host {
            if let Err(e) = conn.run(
                &remote::remove_chains(&remote::chain_prefix(&self.run_id)),
                None,
            ) {
                errors.push(format!("removing the run's iptables chains: {e:#}"));
            }
        }
        // A delay the runner could not heal.
        if let Err(e) = conn.run(&netem::clean(&self.run_id, Some(id)), None) {
            errors.push(format!("removing the run's netem qdisc: {e:#}"));
        }
        if mounted {
            errors.push(format!("{dir} is left for `faultline clean --hosts`"));
        } else if let Err(e) = conn.run(&remote::remove_files(&self.run_id, Some(id)), None) {
            errors.push(format!("removing {dir}: {e:#}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("{}", errors.join("; "))
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.teardown_blocking() {
            eprintln!("faultline: {e:#}");
        }
    }
}

/// The local folder of a run's master sockets (short: socket paths are limited).
pub fn control_dir(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fl-ssh-{run_id}"))
}

/// `<boot id> <pid> <start time>` of this process: `clean` on this machine tells a
/// live run from a dead one by it.
pub fn owner_record() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let pid = std::process::id() as i32;
    let start = super::netns::state::proc_start_time(pid).unwrap_or(0);
    format!("{} {pid} {start}", boot.trim())
}

/// Puts a node's log from its host in `log`, followed by what the controller noted
/// there during the run (the network faults around the node, by the nemesis log).
fn merge_log(fetched: &Path, log: &Path) {
    let notes = std::fs::read_to_string(log).unwrap_or_default();
    let mut text = std::fs::read_to_string(fetched).unwrap_or_default();
    if !notes.is_empty() {
        text.push_str("--- noted by the controller during the run:\n");
        text.push_str(&notes);
    }
    if std::fs::write(log, text).is_ok() {
        let _ = std::fs::remove_file(fetched);
    }
}

/// `exit code 3`, `signal 9` from the supervisor's `$?`.
fn describe_status(code: &str) -> String {
    match code.parse::<i32>() {
        Ok(c) if c > 128 => format!("signal {}", c - 128),
        Ok(c) => format!("exit code {c}"),
        Err(_) => code.to_string(),
    }
}

/// The nodes, and (first start, restart) for each.
type Plan = (Vec<Node>, Vec<(RemoteLaunch, RemoteLaunch)>);

/// Nodes and their launches, with host paths, the binary swapped for its upload.
fn plan(
    opts: &SshOptions,
    ids: &[String],
    ips: &[Ipv4Addr],
    slots: &[hosts::Slot],
    upload: Option<&preflight::Upload>,
    faketime: Option<&[String]>,
) -> Result<Plan> {
    let system = &opts.system;
    let all: Vec<(String, Ipv4Addr)> = ids.iter().cloned().zip(ips.iter().copied()).collect();
    // `{peers}` and the like name the initial members only: a spare is no member
    // until a change adds it (and then starts with the membership after it).
    let members = &all[..opts.node_count];
    let shifts: Vec<(String, u16)> = ids
        .iter()
        .cloned()
        .zip(slots.iter().map(|s| s.shift))
        .collect();
    let shared = slots.iter().any(|s| s.shift > 0);
    let mut nodes = Vec::new();
    let mut launches = Vec::new();
    for (i, (id, ip)) in all.iter().enumerate() {
        let dir = remote::node_dir(&opts.run_id, id);
        let data_dir = PathBuf::from(format!("{dir}/data"));
        let vars = NodeVars {
            id,
            index: i + 1,
            ip: *ip,
            data_dir: &data_dir,
            members,
            port_shifts: &shifts,
        };
        let clock_env = faketime.map(|libs| {
            let file = remote::clock_file(&opts.run_id, id);
            super::netns::faketime::env(Path::new(&libs[i]), Path::new(&file))
        });
        let launch = |restart: bool| -> Result<RemoteLaunch> {
            let (program, args, mut env) = system
                .render(&vars, restart)
                .with_context(|| format!("{}: node {id}", system.origin()))?;
            env.extend(clock_env.iter().flatten().cloned());
            let program = match upload {
                Some((local, name)) if Path::new(&program) == local => {
                    remote::binary(&opts.run_id, id, name)
                }
                _ => program,
            };
            let cwd = system
                .working_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| data_dir.display().to_string());
            Ok(RemoteLaunch {
                program,
                args,
                env,
                cwd,
                group: shared.then(|| remote::node_group(&opts.run_id, i + 1)),
            })
        };
        launches.push((launch(false)?, launch(true)?));
        nodes.push(Node {
            id: id.clone(),
            ip: *ip,
            port: system.port + slots[i].shift,
            netns: format!("ssh:{}", opts.hosts[slots[i].host].address),
            log: opts.run_dir.join("nodes").join(format!("{id}.log")),
            data_dir,
            readiness: system.readiness.clone(),
        });
    }
    Ok((nodes, launches))
}

impl super::RunningCluster for SshCluster {
    fn targets(&self) -> Vec<workloads::client::Target> {
        self.inner.members().iter().map(Node::target).collect()
    }

    /// The members, and the spares a membership change started.
    fn final_targets(&self) -> Vec<workloads::client::Target> {
        let inner = &self.inner;
        let started =
            (inner.members..inner.nodes.len()).filter(|&i| lock(&inner.groups[i]).is_some());
        (0..inner.members)
            .chain(started)
            .map(|i| inner.nodes[i].target())
            .collect()
    }

    async fn wait_recovered(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        for (node, group) in self.inner.nodes.iter().zip(&self.inner.groups) {
            if lock(group).is_none() {
                continue;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            readiness::wait_ready(node, left.max(Duration::from_millis(1))).await?;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.inner
            .system
            .cluster_ready
            .wait(&self.node_addrs(), left.max(Duration::from_millis(1)))
            .await
    }

    fn exited_nodes(&self) -> Vec<super::NodeExit> {
        self.inner.exited()
    }

    fn teardown(&self) -> impl Future<Output = Result<()>> + Send {
        SshCluster::teardown(self)
    }
}

impl ClusterControl for SshCluster {
    fn nodes(&self) -> Vec<NodeRef> {
        self.inner.members().iter().map(Node::node_ref).collect()
    }

    fn spare_nodes(&self) -> Vec<String> {
        let inner = &self.inner;
        inner.nodes[inner.members..]
            .iter()
            .map(|n| n.id.clone())
            .collect()
    }

    fn kill(&self, node: &str) -> Result<()> {
        self.inner.signal(node, "KILL", "killed (SIGKILL)")
    }

    fn restart(&self, node: &str) -> impl Future<Output = Result<()>> + Send {
        let inner = self.inner.clone();
        let node = node.to_string();
        async move {
            tokio::task::spawn_blocking(move || inner.restart(&node))
                .await
                .map_err(|e| anyhow!("restart panicked: {e}"))?
        }
    }

    fn pause(&self, node: &str) -> Result<()> {
        self.inner.signal(node, "STOP", "paused (SIGSTOP)")
    }

    fn resume(&self, node: &str) -> Result<()> {
        self.inner.signal(node, "CONT", "resumed (SIGCONT)")
    }

    async fn leader(&self) -> Option<String> {
        self.inner.system.leader.find(&self.node_addrs()).await
    }

    /// The node's clock file on its host (a path there, not here).
    fn clock_file(&self, node: &str) -> Result<PathBuf> {
        let i = self.inner.index_of(node)?;
        match &self.inner.faketime {
            Some(_) => Ok(PathBuf::from(remote::clock_file(&self.inner.run_id, &self.inner.nodes[i].id))),
            None => bail!("clock faults are off for run {}: the test asked for none, so its nodes run without libfaketime", self.inner.run_id),
        }
    }

    /// Writes the clock file on the node's host, over its master connection (a
    /// blocking call, like the signals: the strobe calls it from its own thread).
    fn write_clock(&self, file: &Path, ms: i64) -> Result<()> {
        let inner = &self.inner;
        inner.check_live()?;
        let i = inner
            .nodes
            .iter()
            .position(|n| Path::new(&remote::clock_file(&inner.run_id, &n.id)) == file)
            .ok_or_else(|| {
                anyhow!(
                    "{} is no clock file of run {}",
                    file.display(),
                    inner.run_id
                )
            })?;
        let lib = inner
            .faketime
            .as_ref()
            .map(|l| l[i].as_str())
            .unwrap_or_default();
        let text = nemesis::clock::offset_text(ms);
        inner
            .run_blocking(
                i,
                &remote::write_clock(&file.display().to_string(), &text, lib),
            )
            .with_context(|| {
                format!(
                    "node {} on {}: setting its clock",
                    inner.nodes[i].id,
                    inner.conns[i].host.label()
                )
            })?;
        Ok(())
    }

    /// Runs the nemesis's command on the node's host over its master connection,
    /// with the nemesis's chains renamed to the run's own (see
    /// [`remote::chains_to_host`]).
    fn run_in_node(
        &self,
        node: &NodeRef,
        command: NodeCommand,
    ) -> impl Future<Output = Result<String>> + Send + 'static {
        let inner = self.inner.clone();
        let id = node.id.clone();
        async move {
            let i = inner.index_of(&id)?;
            let run_id = &inner.run_id;
            let argv: Vec<String> = std::iter::once(command.program.clone())
                .chain(
                    command
                        .args
                        .iter()
                        .map(|a| remote::chains_to_host(a, run_id)),
                )
                .collect();
            // netem keeps a record of the host's qdisc (see [`netem`]).
            let script = netem::guard(run_id, &id, &command).unwrap_or_else(|| {
                format!(
                    "PATH=$PATH:/usr/sbin:/sbin exec {}",
                    shell_words::join(&argv)
                )
            });
            let input = command.input.map(|s| remote::chains_to_host(&s, run_id));
            let out = inner.conns[i]
                .run_in_shell(&script, input)
                .await
                .with_context(|| {
                    format!(
                        "node {id} on {}: {}",
                        inner.conns[i].host.label(),
                        command.program
                    )
                })?;
            Ok(remote::chains_from_host(&out, run_id))
        }
    }

    fn local_network(&self) -> bool {
        false
    }

    fn has_lazy_disk(&self) -> bool {
        self.inner.lazyfs.is_some()
    }

    /// Listed on the node's host (see [`damage`]).
    fn data_files(&self, node: &str) -> Result<Vec<(String, u64)>> {
        self.inner.data_files(node)
    }

    /// Done on the node's host (see [`damage`]).
    fn damage_file(&self, node: &str, file: &str, how: nemesis::control::Damage) -> Result<()> {
        self.inner.damage_file(node, file, how)
    }

    /// Sends the fault to the node's mount through its host's long-lived shell (a
    /// blocking call: the nemesis makes it from a blocking task).
    fn disk(
        &self,
        node: &str,
        fault: nemesis::control::DiskFault,
    ) -> Result<nemesis::control::DiskReport> {
        self.inner.disk(node, fault)
    }

    async fn remove_members(&self, nodes: &[String], members: &[String]) -> Result<()> {
        self.inner.check_live()?;
        super::netns::membership::remove(self, nodes, members).await
    }

    async fn add_members(&self, nodes: &[String], members: &[String]) -> Result<()> {
        self.inner.check_live()?;
        super::netns::membership::add_back(self, nodes, members).await
    }

    fn partitions_by_port(&self) -> bool {
        self.inner.ports.is_some()
    }

    fn set_partition(&self, grudge: &nemesis::Grudge) -> impl Future<Output = Result<()>> + Send {
        let inner = self.inner.clone();
        let grudge = grudge.clone();
        async move { inner.set_partition(&grudge).await }
    }
}
