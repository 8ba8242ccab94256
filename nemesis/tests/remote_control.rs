//! The nemesis reaches a node's network only through `ClusterControl::run_in_node`:
//! a cluster whose nodes have no local namespace (as on remote hosts) still gets its
//! partitions, as the commands its backend is asked to run. No root needed.

use nemesis::control::{ClusterControl, NodeCommand, NodeRef};
use nemesis::{Fault, Nemesis, PartitionKind};
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A cluster elsewhere: it records every command and answers like iptables would.
#[derive(Default)]
struct Elsewhere {
    ran: Arc<Mutex<Vec<(String, NodeCommand)>>>,
}

impl ClusterControl for Elsewhere {
    fn nodes(&self) -> Vec<NodeRef> {
        (1..=3)
            .map(|i| NodeRef {
                id: format!("n{i}"),
                ip: Ipv4Addr::new(192, 0, 2, i),
                netns: format!("remote-host-{i}"),
            })
            .collect()
    }
    fn kill(&self, _: &str) -> anyhow::Result<()> {
        Ok(())
    }
    fn restart(&self, _: &str) -> impl Future<Output = anyhow::Result<()>> + Send {
        async { Ok(()) }
    }
    fn pause(&self, _: &str) -> anyhow::Result<()> {
        Ok(())
    }
    fn resume(&self, _: &str) -> anyhow::Result<()> {
        Ok(())
    }
    async fn leader(&self) -> Option<String> {
        None
    }
    fn clock_file(&self, _: &str) -> anyhow::Result<PathBuf> {
        anyhow::bail!("no clocks here")
    }
    fn run_in_node(
        &self,
        node: &NodeRef,
        command: NodeCommand,
    ) -> impl Future<Output = anyhow::Result<String>> + Send + 'static {
        self.ran.lock().unwrap().push((node.id.clone(), command));
        async { Ok(String::new()) }
    }
    fn local_network(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn a_partition_on_nodes_without_local_namespaces_goes_through_the_backend() {
    let cluster = Arc::new(Elsewhere::default());
    let ran = Arc::clone(&cluster.ran);
    let mut nemesis = Nemesis::new(Arc::clone(&cluster));
    nemesis
        .prepare(&[nemesis::FaultKind::Partition(PartitionKind::One)])
        .await
        .unwrap();
    let grudge = [(
        "n1".to_string(),
        ["n2".to_string(), "n3".to_string()].into(),
    )]
    .into_iter()
    .collect();
    let fault = Fault::Partition {
        kind: PartitionKind::One,
        grudge,
        leader: None,
    };
    nemesis.start(&fault).await.unwrap();
    let commands = ran.lock().unwrap().clone();
    // Every node's chains were installed (a save, then a restore), and n1's partition
    // chain now drops traffic from the other two nodes' addresses.
    for n in ["n1", "n2", "n3"] {
        assert!(
            commands
                .iter()
                .any(|(id, c)| id == n && c.program == "iptables-save"),
            "{commands:?}"
        );
    }
    let n1_rules: String = commands
        .iter()
        .filter(|(id, c)| id == "n1" && c.program == "iptables-restore")
        .filter_map(|(_, c)| c.input.clone())
        .collect();
    assert!(
        n1_rules.contains("192.0.2.2") && n1_rules.contains("192.0.2.3"),
        "{n1_rules}"
    );
    nemesis.teardown().await.unwrap();
}
