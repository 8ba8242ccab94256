//! Real clusters on one machine: every node a real process in its own network
//! namespace, with its own address on a private bridge, as if it were a separate
//! machine; the controller reaches the nodes from one interface in the host namespace.
//!
//! A [`Cluster`] owns everything it creates (namespaces, links, processes, a subnet
//! lease, a state file) and removes all of it on [`Cluster::teardown`], on drop (so a
//! harness error or a panic cleans up too) and on Ctrl-C/SIGTERM/SIGHUP (unless
//! [`ClusterOptions::handle_signals`] is off). What a harness killed with -9 leaves
//! behind, `faultline clean` removes, guided by the state file.
//!
//! Files of a run, under its `run_dir`: `nodes/<id>.log` (the node's stdout and
//! stderr, with the harness's own notes: starts, kills, pauses, exits),
//! `data/<id>/` (the node's data directory, kept across restarts), `clock/<id>`
//! (the node's libfaketime offset, when clock faults are on).

pub mod cleanup;
pub mod faketime;
pub mod lazyfs;
pub(crate) mod membership;
pub mod naming;
pub mod network;
pub mod process;
pub mod readiness;
pub mod signals;
pub mod state;

pub use readiness::wait_ready;
pub use signals::teardown_all;

use crate::system::{leader::NodeAddr, NodeVars, Readiness, SystemSpec};
use anyhow::{anyhow, bail, Context, Result};
use naming::RunNames;
use nemesis::control::{ClusterControl, NodeRef};
use process::{Launch, NodeProcess};
use state::{ProcRecord, RunState};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// 6 lowercase letters or digits; names every object of the run.
    pub run_id: String,
    pub node_count: usize,
    /// Nodes after the initial members whose namespaces, addresses and data
    /// directories exist but which are not started: a membership change adds them
    /// under their own ids (`membership` module). Not in [`Cluster::nodes`].
    pub spare_nodes: usize,
    pub system: SystemSpec,
    /// Where logs, data directories and clock files go.
    pub run_dir: PathBuf,
    /// Start nodes under libfaketime so the nemesis can move their clocks.
    pub clock_faults: bool,
    /// Put every node's data directory on faultline's lazy filesystem, so disk
    /// faults can drop what the node has not fsync'd (`lazyfs` module).
    pub lazyfs: bool,
    /// Overrides the system's own readiness timeout at start.
    pub ready_timeout: Option<Duration>,
    /// Tear the cluster down on SIGINT/SIGTERM/SIGHUP (see [`signals`]). A runner
    /// that handles signals itself turns this off and calls [`Cluster::teardown`].
    pub handle_signals: bool,
}

impl ClusterOptions {
    /// Options with a fresh run id, no clock faults and signal handling on.
    pub fn new(
        system: SystemSpec,
        node_count: usize,
        run_dir: impl Into<PathBuf>,
    ) -> ClusterOptions {
        ClusterOptions {
            run_id: naming::new_run_id(),
            node_count,
            spare_nodes: 0,
            system,
            run_dir: run_dir.into(),
            clock_faults: false,
            lazyfs: false,
            ready_timeout: None,
            handle_signals: true,
        }
    }
}

/// One node as the harness sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub ip: Ipv4Addr,
    /// The client port.
    pub port: u16,
    /// The node's network namespace (`ip netns` name).
    pub netns: String,
    /// The node's stdout and stderr.
    pub log: PathBuf,
    pub data_dir: PathBuf,
    pub readiness: Readiness,
}

impl Node {
    /// `http://ip:port`
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.ip, self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.port))
    }

    /// The node as clients address it.
    pub fn target(&self) -> workloads::client::Target {
        workloads::client::Target {
            id: self.id.clone(),
            url: self.url(),
        }
    }

    pub fn node_ref(&self) -> NodeRef {
        NodeRef {
            id: self.id.clone(),
            ip: self.ip,
            netns: self.netns.clone(),
        }
    }
}

/// A running cluster. Cheap to share by reference; all operations take `&self`.
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    run_id: String,
    names: RunNames,
    system: SystemSpec,
    run_dir: PathBuf,
    octet: u8,
    /// The initial members, then the spares.
    nodes: Vec<Node>,
    /// How many of `nodes` are initial members (started at setup).
    initial: usize,
    /// Per node, in the order of `nodes`.
    procs: Vec<Mutex<NodeProcess>>,
    launches: Vec<(Launch, Launch)>,
    clock_files: Option<Vec<PathBuf>>,
    /// The faultline-lazyfs binary, when data directories are lazy filesystems.
    lazyfs: Option<PathBuf>,
    /// The lazy filesystems' daemons, to reap (their records are in `state`).
    mount_children: Mutex<Vec<std::process::Child>>,
    state: Mutex<RunState>,
    torn_down: Mutex<bool>,
    /// Held while the network is built and nodes spawned; teardown (from a signal,
    /// say) waits for it, so it never races half-built objects into a leak.
    setup_lock: Mutex<()>,
}

/// How long nodes get to exit after SIGTERM at teardown before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cluster {
    /// Builds the network, starts every node and waits until all are ready. On any
    /// failure everything made so far is removed before the error is returned.
    pub async fn start(opts: ClusterOptions) -> Result<Cluster> {
        let faketime_lib = check_options(&opts)?;
        let lazyfs_bin = if opts.lazyfs {
            Some(lazyfs::binary()?)
        } else {
            None
        };
        let run_id = opts.run_id.clone();
        let names = RunNames::new(&run_id);
        let ids = naming::node_ids(opts.node_count + opts.spare_nodes);
        let state_path = RunState::path_of(&run_id);
        if state_path.exists() || network::netns_exists(&names.switch_netns()) {
            bail!(
                "run id {run_id} is already in use on this machine ({}); pick another, or remove a dead run with `faultline clean --run {run_id}`",
                state_path.display()
            );
        }
        let run_dir = prepare_run_dir(&opts.run_dir, &ids, opts.lazyfs)?;
        let claim = Claim::take(&run_id, &names, &opts.system, &run_dir, &ids).await?;
        let plan = plan_nodes(
            &opts.system,
            &names,
            &run_dir,
            claim.octet,
            (&ids, opts.node_count),
            faketime_lib.as_deref(),
            opts.lazyfs,
        )?;
        let (octet, state) = claim.into_parts();
        let inner = Arc::new(Inner {
            run_id: run_id.clone(),
            names,
            system: opts.system.clone(),
            run_dir,
            octet,
            procs: plan
                .nodes
                .iter()
                .map(|_| Mutex::new(NodeProcess::default()))
                .collect(),
            nodes: plan.nodes,
            initial: opts.node_count,
            launches: plan.launches,
            clock_files: plan.clock_files,
            lazyfs: lazyfs_bin,
            mount_children: Mutex::new(Vec::new()),
            state: Mutex::new(state),
            torn_down: Mutex::new(false),
            setup_lock: Mutex::new(()),
        });
        // From here on, dropping `inner` (an error below, a panic) tears it all down.
        if opts.handle_signals {
            signals::install();
        }
        signals::register(Arc::downgrade(&inner) as Weak<dyn signals::Teardown>);
        let setup = tokio::task::spawn_blocking({
            let inner = inner.clone();
            move || inner.setup()
        });
        match setup.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(fail_start(inner, e).await),
            Err(e) => return Err(fail_start(inner, anyhow!("cluster setup panicked: {e}")).await),
        }
        let cluster = Cluster { inner };
        cluster.spawn_reaper();
        cluster.wait_started(opts.ready_timeout).await?;
        Ok(cluster)
    }

    /// Waits for every node's first readiness, then the whole cluster's; tears down
    /// if it never gets there.
    async fn wait_started(&self, timeout: Option<Duration>) -> Result<()> {
        let timeout = timeout.unwrap_or(self.inner.system.ready_timeout);
        let mut ready = Ok(());
        for node in self.nodes() {
            ready = self.wait_ready(&node.id, timeout).await;
            if ready.is_err() {
                break;
            }
        }
        if ready.is_ok() {
            ready = self.wait_cluster_ready(timeout).await;
        }
        let Err(e) = ready else { return Ok(()) };
        let e = e.context(format!(
            "run {}: the cluster did not come up",
            self.inner.run_id
        ));
        Err(match self.teardown().await {
            Ok(()) => e,
            Err(t) => e.context(format!("(and cleaning up failed: {t:#})")),
        })
    }

    /// The system's own test that the running nodes make a cluster ready for work
    /// (`SystemSpec::cluster_ready`), noted in the first node's log.
    pub async fn wait_cluster_ready(&self, timeout: Duration) -> Result<()> {
        let nodes: Vec<NodeAddr> = self.node_addrs();
        let result = self.inner.system.cluster_ready.wait(&nodes, timeout).await;
        if self.inner.system.cluster_ready != crate::system::ClusterReadiness::Nodes {
            let how = match &result {
                Ok(()) => "the cluster is ready".to_string(),
                Err(e) => format!("{e:#}"),
            };
            process::note(&self.inner.nodes[0].log, &how);
        }
        result
    }

    /// The running nodes as the system's own lookups address them.
    fn node_addrs(&self) -> Vec<NodeAddr> {
        self.nodes()
            .iter()
            .filter(|n| self.is_running(&n.id).unwrap_or(false))
            .map(|n| NodeAddr {
                id: n.id.clone(),
                ip: n.ip,
                port: n.port,
            })
            .collect()
    }

    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    /// The initial members (the nodes started with the cluster).
    pub fn nodes(&self) -> &[Node] {
        &self.inner.nodes[..self.inner.initial]
    }

    /// The spare nodes, not started until a membership change adds them.
    pub fn spare_nodes(&self) -> &[Node] {
        &self.inner.nodes[self.inner.initial..]
    }

    pub fn node(&self, id: &str) -> Result<&Node> {
        self.inner.index_of(id).map(|i| &self.inner.nodes[i])
    }

    pub fn system(&self) -> &SystemSpec {
        &self.inner.system
    }

    pub fn run_dir(&self) -> &Path {
        &self.inner.run_dir
    }

    /// The run's subnet, e.g. `10.77.42.0/24`.
    pub fn subnet(&self) -> String {
        network::subnet_text(self.inner.octet)
    }

    /// The controller's address on the run's subnet (the host end, `.254`).
    pub fn host_ip(&self) -> Ipv4Addr {
        network::subnet_ip(self.inner.octet, network::HOST_OCTET)
    }

    /// The host-namespace interface of this run.
    pub fn host_link(&self) -> String {
        self.inner.names.host_link()
    }

    /// Every namespace of this run (the switch's first).
    pub fn namespaces(&self) -> Vec<String> {
        lock(&self.inner.state).namespaces.clone()
    }

    /// The pid of the node's process, if it is running.
    pub fn pid(&self, id: &str) -> Result<Option<i32>> {
        let i = self.inner.index_of(id)?;
        let mut p = lock(&self.inner.procs[i]);
        Ok(if p.is_running() { p.pid() } else { None })
    }

    pub fn is_running(&self, id: &str) -> Result<bool> {
        Ok(self.pid(id)?.is_some())
    }

    /// Waits until node `id` is ready; fails early, with its log, if it exits.
    pub async fn wait_ready(&self, id: &str, timeout: Duration) -> Result<()> {
        let i = self.inner.index_of(id)?;
        let node = self.inner.nodes[i].clone();
        let inner = self.inner.clone();
        readiness::wait_ready_while(&node, timeout, move || {
            let mut p = lock(&inner.procs[i]);
            if p.is_running() {
                None
            } else {
                Some(
                    p.last_exit
                        .as_ref()
                        .map(process::describe_exit)
                        .unwrap_or_else(|| "not running".into()),
                )
            }
        })
        .await
    }

    /// Waits until every node is ready (after the final heal of a test, say).
    pub async fn wait_all_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        for node in self.nodes() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.wait_ready(&node.id, left.max(Duration::from_millis(1)))
                .await?;
        }
        Ok(())
    }

    /// Kills every process and removes every namespace, link, lease and the state
    /// file. Idempotent; later operations on the cluster fail.
    pub async fn teardown(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.teardown_blocking())
            .await
            .map_err(|e| anyhow!("teardown panicked: {e}"))?
    }

    /// Reaps nodes that exit on their own (no zombies) and notes it in their logs.
    fn spawn_reaper(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Some(inner) = weak.upgrade() else { return };
                for (i, p) in inner.procs.iter().enumerate() {
                    // Held while reaping: teardown holds it throughout, so a node that
                    // obeys teardown's SIGTERM is never taken for one that crashed.
                    let torn_down = lock(&inner.torn_down);
                    if *torn_down {
                        return;
                    }
                    let reaped = lock(p).reap();
                    drop(torn_down);
                    if let Some(status) = reaped {
                        let node = &inner.nodes[i];
                        process::note(
                            &node.log,
                            &format!(
                                "{} exited on its own: {}",
                                node.id,
                                process::describe_exit(&status)
                            ),
                        );
                    }
                }
            }
        });
    }
}

impl crate::backend::RunningCluster for Cluster {
    fn targets(&self) -> Vec<workloads::client::Target> {
        self.nodes().iter().map(Node::target).collect()
    }

    fn final_targets(&self) -> Vec<workloads::client::Target> {
        let started = self
            .spare_nodes()
            .iter()
            .filter(|n| self.is_running(&n.id).unwrap_or(false));
        self.nodes()
            .iter()
            .chain(started)
            .map(Node::target)
            .collect()
    }

    /// Waits for the nodes that are running; one that exited on its own is reported
    /// by [`exited_nodes`](crate::backend::RunningCluster::exited_nodes), not waited
    /// for.
    async fn wait_recovered(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        for node in self.nodes() {
            if !self.is_running(&node.id)? {
                continue;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.wait_ready(&node.id, left.max(Duration::from_millis(1)))
                .await?;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.wait_cluster_ready(left.max(Duration::from_millis(1)))
            .await
    }

    fn exited_nodes(&self) -> Vec<crate::backend::NodeExit> {
        let mut out = Vec::new();
        for (i, p) in self.inner.procs.iter().enumerate() {
            let mut p = lock(p);
            if p.is_running() || !p.exited_on_its_own {
                continue;
            }
            let node = &self.inner.nodes[i];
            out.push(crate::backend::NodeExit {
                node: node.id.clone(),
                status: p
                    .last_exit
                    .as_ref()
                    .map(process::describe_exit)
                    .unwrap_or_default(),
                log_tail: process::log_tail(&node.log, 20),
            });
        }
        out
    }

    fn teardown(&self) -> impl std::future::Future<Output = Result<()>> + Send {
        Cluster::teardown(self)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The reaper holds only a weak reference; other strong ones are transient, so
        // tear down now rather than whenever the last one goes.
        if let Err(e) = self.inner.teardown_blocking() {
            eprintln!("faultline: tearing down run {}: {e:#}", self.inner.run_id);
        }
    }
}

impl ClusterControl for Cluster {
    fn nodes(&self) -> Vec<NodeRef> {
        Cluster::nodes(self).iter().map(Node::node_ref).collect()
    }

    fn spare_nodes(&self) -> Vec<String> {
        Cluster::spare_nodes(self)
            .iter()
            .map(|n| n.id.clone())
            .collect()
    }

    fn kill(&self, node: &str) -> Result<()> {
        self.inner.kill(node)
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
        self.inner.signal(node, libc::SIGSTOP, "paused (SIGSTOP)")
    }

    fn data_dir(&self, node: &str) -> Result<PathBuf> {
        Ok(self.node(node)?.data_dir.clone())
    }

    async fn remove_members(&self, nodes: &[String], members: &[String]) -> Result<()> {
        Cluster::remove_members(self, nodes, members).await
    }

    async fn add_members(&self, nodes: &[String], members: &[String]) -> Result<()> {
        Cluster::add_members(self, nodes, members).await
    }

    fn resume(&self, node: &str) -> Result<()> {
        self.inner.signal(node, libc::SIGCONT, "resumed (SIGCONT)")
    }

    async fn leader(&self) -> Option<String> {
        self.inner.system.leader.find(&self.node_addrs()).await
    }

    fn has_lazy_disk(&self) -> bool {
        self.inner.lazyfs.is_some()
    }

    fn disk(
        &self,
        node: &str,
        fault: nemesis::control::DiskFault,
    ) -> Result<nemesis::control::DiskReport> {
        self.inner.check_live()?;
        let record = self.inner.lazy_mount(node)?;
        let report = lazyfs::disk_fault(&record, fault)
            .with_context(|| format!("node {node}'s lazy filesystem"))?;
        let i = self.inner.index_of(node)?;
        process::note(
            &self.inner.nodes[i].log,
            &format!(
                "{node}: {fault:?} by faultline: {} bytes of unsynced writes lost, {} kept, in {} files",
                report.bytes_lost, report.bytes_kept, report.files
            ),
        );
        Ok(report)
    }

    fn clock_file(&self, node: &str) -> Result<PathBuf> {
        let i = self.inner.index_of(node)?;
        match &self.inner.clock_files {
            Some(files) => Ok(files[i].clone()),
            None if !self.inner.system.faults.clock => bail!(
                "{} does not support clock faults: libfaketime only moves clocks read through libc (a Go binary such as etcd bypasses it)",
                self.inner.system.origin()
            ),
            None => bail!("clock faults are off for run {}: start the cluster with clock faults on (ClusterOptions::clock_faults)", self.inner.run_id),
        }
    }
}

/// Checks the options before anything exists; the libfaketime library, when clock
/// faults are on.
fn check_options(opts: &ClusterOptions) -> Result<Option<PathBuf>> {
    network::check_privileges()?;
    naming::check_run_id(&opts.run_id)?;
    if opts.node_count == 0 || opts.node_count > 253 {
        bail!("a cluster has 1 to 253 nodes, not {}", opts.node_count);
    }
    let system = &opts.system;
    system.validate().with_context(|| system.origin())?;
    if !opts.clock_faults {
        return Ok(None);
    }
    if !system.faults.clock {
        bail!(
            "{} does not support clock faults: libfaketime can only move clocks read through libc \
             (a Go binary, for instance, bypasses it); list \"clock\" in the system's `faults` if its clock does go through libc",
            system.origin()
        );
    }
    Ok(Some(faketime::library()?))
}

/// The run directory, absolute, with its subfolders, and without data or clock
/// offsets an earlier cluster left in it (logs are appended to).
fn prepare_run_dir(run_dir: &Path, ids: &[String], lazyfs: bool) -> Result<PathBuf> {
    let run_dir = absolute(run_dir)?;
    let subs: &[&str] = if lazyfs {
        &["nodes", "data", "clock", "mnt"]
    } else {
        &["nodes", "data", "clock"]
    };
    for sub in subs {
        let d = run_dir.join(sub);
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    for id in ids {
        for stale in [
            run_dir.join("data").join(id),
            run_dir.join("clock").join(id),
        ] {
            let removed = if stale.is_dir() {
                std::fs::remove_dir_all(&stale)
            } else if stale.exists() {
                std::fs::remove_file(&stale)
            } else {
                Ok(())
            };
            removed.with_context(|| format!("clearing {}", stale.display()))?;
        }
    }
    Ok(run_dir)
}

/// A run's claim on the machine before its network exists: the state file (written
/// before anything else, so nothing can exist without a record) and the subnet
/// lease. Dropped unclaimed, it gives both back: one guard instead of the same
/// cleanup at every early return.
struct Claim {
    state: Option<RunState>,
    octet: u8,
}

impl Claim {
    async fn take(
        run_id: &str,
        names: &RunNames,
        system: &SystemSpec,
        run_dir: &Path,
        ids: &[String],
    ) -> Result<Claim> {
        let mut namespaces = vec![names.switch_netns()];
        namespaces.extend(ids.iter().map(|id| names.node_netns(id)));
        let me = std::process::id() as i32;
        let mut state = RunState {
            run_id: run_id.to_string(),
            owner_pid: me,
            owner_start_time: state::proc_start_time(me).unwrap_or(0),
            created_unix: state::now_unix(),
            system: system.name.clone(),
            run_dir: run_dir.to_path_buf(),
            subnet_octet: None,
            namespaces,
            host_link: names.host_link(),
            processes: Vec::new(),
            mounts: Vec::new(),
        };
        state
            .save()
            .context("faultline keeps a record of each run's network in its state directory")?;
        let id = run_id.to_string();
        let leased = tokio::task::spawn_blocking(move || network::lease_subnet(&id)).await;
        let octet = match leased {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Err(Claim::abandon(&state, None, e)),
            Err(e) => {
                return Err(Claim::abandon(
                    &state,
                    None,
                    anyhow!("leasing a subnet panicked: {e}"),
                ))
            }
        };
        state.subnet_octet = Some(octet);
        if let Err(e) = state.save() {
            return Err(Claim::abandon(&state, Some(octet), e));
        }
        Ok(Claim {
            state: Some(state),
            octet,
        })
    }

    /// Gives back what was claimed so far, and returns the error.
    fn abandon(state: &RunState, octet: Option<u8>, e: anyhow::Error) -> anyhow::Error {
        if let Some(o) = octet {
            state::lease::release(o, &state.run_id);
        }
        let _ = std::fs::remove_file(RunState::path_of(&state.run_id));
        e
    }

    /// The claim, kept: from now on the cluster's teardown gives it back.
    fn into_parts(mut self) -> (u8, RunState) {
        (self.octet, self.state.take().expect("claimed once"))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            Claim::abandon(&state, Some(self.octet), anyhow!("abandoned"));
        }
    }
}

/// The nodes of a run and how each is launched, before anything is started.
struct NodePlan {
    nodes: Vec<Node>,
    /// (first start, restart) per node.
    launches: Vec<(Launch, Launch)>,
    clock_files: Option<Vec<PathBuf>>,
}

fn plan_nodes(
    system: &SystemSpec,
    names: &RunNames,
    run_dir: &Path,
    octet: u8,
    (ids, initial): (&[String], usize),
    faketime_lib: Option<&Path>,
    lazyfs: bool,
) -> Result<NodePlan> {
    let all: Vec<(String, Ipv4Addr)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), network::subnet_ip(octet, i as u8 + 1)))
        .collect();
    // `{peers}` and the like name the initial members only: a spare is no member
    // until a change adds it (and then starts with the membership after it).
    let members = &all[..initial];
    let mut nodes = Vec::new();
    let mut launches = Vec::new();
    let mut clock_files = faketime_lib.map(|_| Vec::new());
    let cwd_default = |data_dir: &Path| {
        system
            .working_dir
            .clone()
            .unwrap_or_else(|| data_dir.to_path_buf())
    };
    for (i, (id, ip)) in all.iter().enumerate() {
        // On a lazy filesystem the node works in the mount; `data/<id>` behind it
        // holds what is durable.
        let data_dir = run_dir.join(if lazyfs { "mnt" } else { "data" }).join(id);
        let log = run_dir.join("nodes").join(format!("{id}.log"));
        let node = Node {
            id: id.clone(),
            ip: *ip,
            port: system.port,
            netns: names.node_netns(id),
            log: log.clone(),
            data_dir: data_dir.clone(),
            readiness: system.readiness.clone(),
        };
        let vars = NodeVars {
            id,
            index: i + 1,
            ip: *ip,
            data_dir: &data_dir,
            members,
            port_shifts: &[],
        };
        let mut extra_env = Vec::new();
        if let (Some(lib), Some(files)) = (faketime_lib, clock_files.as_mut()) {
            let f = run_dir.join("clock").join(id);
            extra_env = faketime::env(lib, &f);
            files.push(f);
        }
        let launch = |restart: bool| -> Result<Launch> {
            let (program, args, mut env) = system
                .render(&vars, restart)
                .with_context(|| format!("{}: node {id}", system.origin()))?;
            env.extend(extra_env.iter().cloned());
            Ok(Launch {
                node: id.clone(),
                netns: node.netns.clone(),
                program,
                args,
                env,
                cwd: cwd_default(&data_dir),
                log: log.clone(),
            })
        };
        launches.push((launch(false)?, launch(true)?));
        nodes.push(node);
    }
    Ok(NodePlan {
        nodes,
        launches,
        clock_files,
    })
}

async fn fail_start(inner: Arc<Inner>, error: anyhow::Error) -> anyhow::Error {
    let result = tokio::task::spawn_blocking(move || inner.teardown_blocking()).await;
    match result {
        Ok(Ok(())) => error,
        Ok(Err(e)) => error.context(format!(
            "(and cleaning up failed: {e:#}; run `faultline clean`)"
        )),
        Err(e) => error.context(format!(
            "(and cleaning up panicked: {e}; run `faultline clean`)"
        )),
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .context("reading the current directory")?
            .join(p))
    }
}

impl Inner {
    fn index_of(&self, id: &str) -> Result<usize> {
        self.nodes.iter().position(|n| n.id == id).ok_or_else(|| {
            let ids: Vec<&str> = self.nodes.iter().map(|n| n.id.as_str()).collect();
            anyhow!(
                "no node {id:?} in run {} (nodes: {})",
                self.run_id,
                ids.join(", ")
            )
        })
    }

    fn check_live(&self) -> Result<()> {
        if *lock(&self.torn_down) {
            bail!("run {} has been torn down", self.run_id);
        }
        Ok(())
    }

    /// Network, clock files, processes.
    fn setup(&self) -> Result<()> {
        let _setup = lock(&self.setup_lock);
        self.check_live()?;
        let members: Vec<(String, Ipv4Addr)> =
            self.nodes.iter().map(|n| (n.id.clone(), n.ip)).collect();
        network::create(&self.names, self.octet, &members)
            .with_context(|| format!("run {}: building the network", self.run_id))?;
        if let Some(files) = &self.clock_files {
            for f in files {
                faketime::init_clock_file(f)?;
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            std::fs::create_dir_all(&node.data_dir)
                .with_context(|| format!("creating {}", node.data_dir.display()))?;
            self.check_live()?;
            if let Some(bin) = &self.lazyfs {
                self.mount_lazyfs(bin, node)?;
            }
            if i >= self.initial {
                continue; // a spare starts when a change adds it
            }
            let child = process::spawn(&self.launches[i].0)?;
            self.record_pid(&node.id, child.id() as i32);
            lock(&self.procs[i]).set(child);
        }
        Ok(())
    }

    /// Mounts the node's lazy filesystem over its data directory, recording it in
    /// the state file as soon as the daemon exists.
    fn mount_lazyfs(&self, bin: &Path, node: &Node) -> Result<()> {
        let backing = self.run_dir.join("data").join(&node.id);
        let log = self
            .run_dir
            .join("nodes")
            .join(format!("{}.lazyfs.log", node.id));
        let (child, _) = lazyfs::mount(
            bin,
            &self.run_id,
            &node.id,
            &node.data_dir,
            &backing,
            &log,
            |record| {
                let mut s = lock(&self.state);
                s.mounts.push(record.clone());
                s.save()
            },
        )?;
        lock(&self.mount_children).push(child);
        Ok(())
    }

    fn lazy_mount(&self, node: &str) -> Result<state::MountRecord> {
        self.index_of(node)?;
        lock(&self.state)
            .mounts
            .iter()
            .find(|m| m.node == node)
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "node {node}'s data directory is not on a lazy filesystem (run with --lazyfs)"
                )
            })
    }

    fn record_pid(&self, node: &str, pid: i32) {
        let mut s = lock(&self.state);
        s.processes.retain(|p| p.node != node);
        s.processes.push(ProcRecord {
            node: node.to_string(),
            pid,
            start_time: state::proc_start_time(pid).unwrap_or(0),
        });
        if let Err(e) = s.save() {
            eprintln!(
                "faultline: updating the state file of run {}: {e:#}",
                self.run_id
            );
        }
    }

    fn kill(&self, id: &str) -> Result<()> {
        let i = self.index_of(id)?;
        self.check_live()?;
        let node = &self.nodes[i];
        let status = lock(&self.procs[i]).kill()?;
        // Anything the node forked outside its process group lives in its namespace.
        let strays = process::kill_netns_processes(
            &node.netns,
            process::Sweep::NodeStrays,
            Duration::from_secs(5),
        )?;
        match status {
            Some(s) => process::note(
                &node.log,
                &format!(
                    "{id} killed by faultline (SIGKILL): {}",
                    process::describe_exit(&s)
                ),
            ),
            None if !strays.is_empty() => process::note(
                &node.log,
                &format!("{id}: killed stray processes {strays:?}"),
            ),
            None => {}
        }
        Ok(())
    }

    fn restart(&self, id: &str) -> Result<()> {
        let i = self.index_of(id)?;
        self.check_live()?;
        let mut p = lock(&self.procs[i]);
        if p.is_running() {
            bail!(
                "node {id} is still running (pid {}); kill it before restarting it",
                p.pid().unwrap_or(0)
            );
        }
        let child = process::spawn(&self.launches[i].1)?;
        self.record_pid(id, child.id() as i32);
        p.set(child);
        Ok(())
    }

    fn signal(&self, id: &str, sig: libc::c_int, what: &str) -> Result<()> {
        let i = self.index_of(id)?;
        self.check_live()?;
        let mut p = lock(&self.procs[i]);
        if p.signal_group(sig).with_context(|| format!("node {id}"))? {
            let pgid = p.pid().expect("running");
            process::wait_group_stopped(pgid, sig == libc::SIGSTOP, Duration::from_secs(2))
                .with_context(|| format!("node {id}"))?;
            process::note(&self.nodes[i].log, &format!("{id} {what} by faultline"));
        }
        Ok(())
    }

    fn teardown_blocking(&self) -> Result<()> {
        let _setup = lock(&self.setup_lock);
        let mut done = lock(&self.torn_down);
        if *done {
            return Ok(());
        }
        *done = true;
        let mut errors = Vec::new();
        // Every node is asked to stop at once, then each gets what is left of the
        // grace: one slow node costs the grace once, not once per node.
        for p in &self.procs {
            if let Some(pid) = lock(p).pid() {
                // The child is not reaped while we hold it: its group id is still its.
                unsafe { libc::killpg(pid, libc::SIGTERM) };
            }
        }
        let deadline = std::time::Instant::now() + STOP_GRACE;
        for (i, p) in self.procs.iter().enumerate() {
            let grace = deadline.saturating_duration_since(std::time::Instant::now());
            match lock(p).stop(grace) {
                Ok(Some(s)) => process::note(
                    &self.nodes[i].log,
                    &format!(
                        "{} stopped at teardown: {}",
                        self.nodes[i].id,
                        process::describe_exit(&s)
                    ),
                ),
                Ok(None) => {}
                Err(e) => errors.push(format!("node {}: {e:#}", self.nodes[i].id)),
            }
        }
        let resources = cleanup::RunResources::from_state(&lock(&self.state));
        if let Err(e) = cleanup::remove(&resources) {
            errors.push(format!("{e:#}"));
        }
        if self.lazyfs.is_some() {
            // The mountpoints' folder, empty once they are unmounted and removed.
            let _ = std::fs::remove_dir(self.run_dir.join("mnt"));
        }
        if !errors.is_empty() {
            bail!(
                "run {}: teardown incomplete: {}; run `faultline clean --run {}`",
                self.run_id,
                errors.join("; "),
                self.run_id
            );
        }
        Ok(())
    }
}

impl signals::Teardown for Inner {
    fn teardown_blocking(&self) -> Result<()> {
        Inner::teardown_blocking(self)
    }

    fn describe(&self) -> String {
        format!("run {}", self.run_id)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.teardown_blocking() {
            eprintln!("faultline: {e:#}");
        }
    }
}
