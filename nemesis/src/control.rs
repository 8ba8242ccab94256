//! The contract between the nemesis and the cluster it acts on.

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;

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
}
