//! Disk faults through the cluster control: a power loss is a kill followed by the
//! loss of the node's unsynced writes (whole, or torn at a page boundary); restarts
//! heal it as they heal a kill. `lose-unsynced` drops them under a running node.

use super::Nemesis;
use crate::control::{ClusterControl, DiskFault};
use crate::fault::Fault;
use crate::netfilter::combine;
use crate::schedule::DiskKind;
use anyhow::{anyhow, Result};

/// The fault a disk decision names.
pub(super) fn fault(kind: DiskKind, nodes: Vec<String>) -> Fault {
    match kind {
        DiskKind::PowerLoss => Fault::PowerLoss { nodes },
        DiskKind::LoseUnsynced => Fault::LoseUnsynced { nodes },
        DiskKind::TornWrite => Fault::TornWrite { nodes },
    }
}

impl<C: ClusterControl + 'static> Nemesis<C> {
    /// Kills the nodes (unless only their unsynced writes go), then drops those
    /// writes on every node at once. A node whose kill failed keeps its writes: a
    /// running process must not see them vanish under a power loss it survived.
    pub(super) async fn start_disk(&mut self, fault: &Fault) -> Result<()> {
        let (nodes, kill, what) = match fault {
            Fault::PowerLoss { nodes } | Fault::PowerLossAll { nodes } => {
                (nodes, true, DiskFault::LoseUnsynced)
            }
            Fault::TornWrite { nodes } => (nodes, true, DiskFault::TornWrite),
            Fault::LoseUnsynced { nodes } => (nodes, false, DiskFault::LoseUnsynced),
            other => return Err(anyhow!("{} is not a disk fault", other.start_name())),
        };
        let mut errors = Vec::new();
        let targets: Vec<String> = if kill {
            if let Err(e) = self.kill(nodes).await {
                errors.push(e);
            }
            nodes
                .iter()
                .filter(|n| self.killed.contains(*n))
                .cloned()
                .collect()
        } else {
            nodes.clone()
        };
        let mut set = tokio::task::JoinSet::new();
        for n in targets {
            let c = self.control.clone();
            set.spawn_blocking(move || {
                let r = c.disk(&n, what);
                (n, r)
            });
        }
        while let Some(j) = set.join_next().await {
            match j {
                Ok((_, Ok(_))) => {}
                Ok((n, Err(e))) => errors.push(e.context(format!("disk fault on node {n}"))),
                Err(e) => errors.push(anyhow!("disk fault task failed: {e}")),
            }
        }
        combine(errors)
    }
}
