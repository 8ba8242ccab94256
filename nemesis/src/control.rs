//! The contract between the nemesis and the cluster it acts on.

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// A node as the nemesis sees it: enough to address its namespace and its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    /// The node's name in the test (`n1`, `n2`, ...).
    pub id: String,
    /// The node's address on the test network.
    pub ip: Ipv4Addr,
    /// The network namespace the node runs in (for `ip netns exec`).
    pub netns: String,
}

/// A command to run in a node's network context: a program, its arguments and what
/// to feed it on standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCommand {
    pub program: String,
    pub args: Vec<String>,
    pub input: Option<String>,
}

impl NodeCommand {
    pub fn new(program: &str, args: &[&str], input: Option<String>) -> NodeCommand {
        NodeCommand {
            program: program.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            input,
        }
    }
}

/// What the nemesis needs from a running cluster. Implemented by the harness's
/// cluster; tests may implement it with fakes.
pub trait ClusterControl: Send + Sync {
    /// Every node of the cluster, in a stable order.
    fn nodes(&self) -> Vec<NodeRef>;

    /// `kill -9` the node's process and reap it. Killing a dead node is not an error.
    fn kill(&self, node: &str) -> anyhow::Result<()>;

    /// Start a killed node again from its data directory (with the system's restart
    /// arguments). Returns once the process is running; readiness is not awaited,
    /// because a node may legitimately stay unready while faults are in force.
    fn restart(&self, node: &str) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// SIGSTOP the node's process (and its children).
    fn pause(&self, node: &str) -> anyhow::Result<()>;

    /// SIGCONT the node's process (and its children).
    fn resume(&self, node: &str) -> anyhow::Result<()>;

    /// The node the system reports as its leader or primary, if it has one and it
    /// can be asked now.
    fn leader(&self) -> impl Future<Output = Option<String>> + Send;

    /// The libfaketime timestamp file that sets this node's wall clock, or an error
    /// saying why clock faults are impossible for this system (e.g. a Go binary that
    /// reads the clock without libc).
    fn clock_file(&self, node: &str) -> anyhow::Result<PathBuf>;

    /// Sets a clock file (as [`ClusterControl::clock_file`] named it) to an offset of
    /// `ms` from real time. The default writes it here; a backend whose nodes run on
    /// another machine writes it there.
    fn write_clock(&self, file: &Path, ms: i64) -> anyhow::Result<()> {
        crate::clock::write_offset(file, ms)
    }

    /// Runs `command` in the node's network context and returns its standard output;
    /// fails with its standard error when it fails. This is how partitions and packet
    /// rules reach a node: the default enters the node's local network namespace
    /// (`setns` between fork and exec); a backend whose nodes live elsewhere (a remote
    /// host) runs it there instead, and the nemesis does not change.
    fn run_in_node(
        &self,
        node: &NodeRef,
        command: NodeCommand,
    ) -> impl Future<Output = anyhow::Result<String>> + Send + 'static {
        crate::netns::run_command(node.clone(), command)
    }

    /// The node's data directory, for disk faults (`corrupt`, `truncate`), which act
    /// on its files directly (through a FUSE mount, if one sits on it).
    fn data_dir(&self, node: &str) -> anyhow::Result<PathBuf> {
        Err(anyhow::anyhow!(
            "this cluster does not expose node {node}'s data directory"
        ))
    }

    /// The non-empty files of the node's data directory, relative to it, with their
    /// sizes, sorted by path: what `corrupt` and `truncate` choose from. The default
    /// lists [`data_dir`](ClusterControl::data_dir) here; a backend whose nodes run
    /// elsewhere lists it there.
    fn data_files(&self, node: &str) -> anyhow::Result<Vec<(String, u64)>> {
        crate::nemesis::disk::local_files(&self.data_dir(node)?)
    }

    /// Damages `file` (relative to the node's data directory) and makes the damage
    /// durable. The default does it on the local path; a backend whose nodes run
    /// elsewhere does it there.
    fn damage_file(&self, node: &str, file: &str, damage: Damage) -> anyhow::Result<()> {
        crate::nemesis::disk::damage_local(&self.data_dir(node)?.join(file), damage)
    }

    /// Removes `nodes` from the cluster through the system's own admin interface, so
    /// that the members are `members`. The removed nodes keep running (as non-members
    /// that may not know it yet) until [`add_members`](ClusterControl::add_members)
    /// brings them back. An error leaves it unknown whether they left.
    fn remove_members(
        &self,
        nodes: &[String],
        members: &[String],
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = (nodes, members);
        no_membership()
    }

    /// Nodes that exist but were never members: not started, not in
    /// [`nodes`](ClusterControl::nodes). [`add_members`](ClusterControl::add_members)
    /// may name one, which then starts with empty data and joins under its own id.
    fn spare_nodes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Adds `nodes` back so that the members are `members`: first makes sure they are
    /// out (asking again to remove them, which must be harmless when they are), then
    /// stops them, wipes their data directories, starts them fresh as nodes waiting to
    /// join, and adds them through the system's admin interface. Nothing is wiped
    /// unless the system confirmed the removal.
    fn add_members(
        &self,
        nodes: &[String],
        members: &[String],
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = (nodes, members);
        no_membership()
    }

    /// Whether this cluster puts partitions in force itself
    /// ([`set_partition`](ClusterControl::set_partition)) instead of each node's
    /// `FAULTLINE-PART` chain dropping packets from the other nodes' addresses: where
    /// several nodes share an address, only the cluster knows their ports.
    fn partitions_by_port(&self) -> bool {
        false
    }

    /// Puts `grudge` in force (each node gets nothing from the nodes listed for it;
    /// empty: healed), replacing the partition in force, for a cluster whose
    /// [`partitions_by_port`](ClusterControl::partitions_by_port) is true.
    fn set_partition(
        &self,
        grudge: &crate::fault::Grudge,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        let _ = grudge;
        async {
            Err(anyhow::anyhow!(
                "this cluster leaves partitions to the nodes' own chains"
            ))
        }
    }

    /// Whether [`run_in_node`](ClusterControl::run_in_node) runs commands on this
    /// machine, in the nodes' local namespaces (the default): then the nemesis checks
    /// before the first fault that it is root, has iptables and can enter them. A
    /// backend that runs them elsewhere checks its hosts itself.
    fn local_network(&self) -> bool {
        true
    }

    // --- Disk faults (faultline's lazy filesystem under each node's data directory).

    /// Whether every node's data directory is on a lazy filesystem, so that
    /// [`disk`](ClusterControl::disk) can act on it.
    fn has_lazy_disk(&self) -> bool {
        false
    }

    /// Drops the node's unsynced writes, whole or torn ([`DiskFault`]); the node's
    /// process is not touched (the nemesis kills it first for a power loss).
    fn disk(&self, node: &str, fault: DiskFault) -> anyhow::Result<DiskReport> {
        let _ = fault;
        anyhow::bail!(
            "node {node}'s data directory is not on faultline's lazy filesystem (run with --lazyfs)"
        )
    }
}

/// Damage to a file a node wrote (`corrupt`, `truncate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Every bit of `len` bytes at `offset` inverted (so each byte certainly changes).
    Flip { offset: u64, len: u64 },
    /// The file cut to `to` bytes.
    Truncate { to: u64 },
}

/// What a disk fault does to a node's unsynced writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFault {
    /// Every write not yet fsync'd is lost.
    LoseUnsynced,
    /// Unsynced writes reach the disk except the tail of each file's last one, cut
    /// at a page boundary.
    TornWrite,
}

/// What a disk fault dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskReport {
    pub files: u64,
    pub bytes_lost: u64,
    pub bytes_kept: u64,
}

/// The answer of a cluster that has no membership interface.
fn no_membership() -> std::future::Ready<anyhow::Result<()>> {
    std::future::ready(Err(anyhow::anyhow!(
        "this cluster cannot change its membership"
    )))
}
