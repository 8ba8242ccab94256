//! When a whole system is ready to do its job, beyond each node answering on its own.
//! A node that accepts connections is not yet a cluster that keeps its promises: a
//! Redis replica accepts connections before its first sync, and a fault injected then
//! promotes an empty replica, so a test would find nothing but a broken setup.
//!
//! What "ready" means for each system is in `docs/systems.md`.

use super::leader::NodeAddr;
use anyhow::{anyhow, Result};
use std::time::Duration;

/// The system-level readiness check that follows the per-node one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterReadiness {
    /// Every node ready on its own is enough (the reference systems, etcd, whose
    /// `/health` answers 200 only with a leader).
    #[default]
    Nodes,
    /// Redis with Sentinel: every sentinel names the same primary, every replica's
    /// link to it is up (`master_link_status:up`), and every sentinel knows every
    /// replica (none down or disconnected).
    RedisReplication,
    /// PostgreSQL: the primary (first node) answers and has the workload's tables,
    /// every replica streams from it and has replayed them.
    PostgresReplication,
    /// MariaDB Galera: every node answers, sees every node in its cluster
    /// (`wsrep_cluster_size`), is synced (`wsrep_ready`), and has the workload's
    /// tables.
    GaleraCluster,
}

impl ClusterReadiness {
    /// Waits until the running nodes make a ready cluster, for at most `within`.
    pub async fn wait(self, nodes: &[NodeAddr], within: Duration) -> Result<()> {
        match self {
            ClusterReadiness::Nodes => Ok(()),
            ClusterReadiness::RedisReplication => {
                use workloads::redis::{wait_ready, RedisOptions, SentinelDeployment, REDIS_PORT};
                let hosts: Vec<String> = nodes.iter().map(|n| n.ip.to_string()).collect();
                let options = RedisOptions::new(Duration::from_millis(500), 0);
                let deployment = SentinelDeployment::on_hosts(&hosts, REDIS_PORT, &options);
                wait_ready(&deployment, within)
                    .await
                    .map(|_| ())
                    .map_err(|not| anyhow!("the Redis cluster is {not} after {within:?}"))
            }
            ClusterReadiness::PostgresReplication => {
                let hosts: Vec<String> = nodes.iter().map(|n| n.ip.to_string()).collect();
                let port = nodes
                    .first()
                    .map_or(workloads::postgres::POSTGRES_PORT, |n| n.port);
                workloads::postgres::wait_ready(&hosts, port, within)
                    .await
                    .map_err(|why| {
                        anyhow!("the PostgreSQL cluster is not ready after {within:?}: {why}")
                    })
            }
            ClusterReadiness::GaleraCluster => {
                let hosts: Vec<String> = nodes.iter().map(|n| n.ip.to_string()).collect();
                let port = nodes
                    .first()
                    .map_or(workloads::galera::MARIADB_PORT, |n| n.port);
                workloads::galera::wait_ready(&hosts, port, within)
                    .await
                    .map_err(|why| {
                        anyhow!("the Galera cluster is not ready after {within:?}: {why}")
                    })
            }
        }
    }
}
