//! Where nodes run. A backend starts a system's nodes, gives the nemesis its
//! [`ClusterControl`], tells the runner where clients connect, and removes everything
//! it made. Today's backend is [`netns`]: every node a local process in its own
//! network namespace. The runner only sees [`RunningCluster`], so another backend
//! (nodes on remote hosts) plugs in without touching it.

pub mod netns;
pub mod ssh;

use anyhow::Result;
use nemesis::control::ClusterControl;
use std::future::Future;
use std::time::Duration;
use workloads::client::Target;

/// A node that exited on its own (not killed by the nemesis): a finding in itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeExit {
    pub node: String,
    /// How it ended: `exit code 101`, `signal 6`.
    pub status: String,
    /// The last lines of its log.
    pub log_tail: String,
}

/// What the runner needs from a running cluster, beyond what the nemesis needs.
pub trait RunningCluster: ClusterControl + 'static {
    /// Where clients send requests, one per node, in node order.
    fn targets(&self) -> Vec<Target>;
    /// Where the final reads go: the targets, and the spare nodes a membership change
    /// started (`--spare-nodes`), so that the checks see what they converged to.
    fn final_targets(&self) -> Vec<Target> {
        self.targets()
    }
    /// Waits until every node that is running is ready again after the final heal.
    fn wait_recovered(&self, timeout: Duration) -> impl Future<Output = Result<()>> + Send;
    /// Nodes whose process ended on its own and was not restarted.
    fn exited_nodes(&self) -> Vec<NodeExit>;
    /// Removes everything the cluster created. Idempotent.
    fn teardown(&self) -> impl Future<Output = Result<()>> + Send;
}
