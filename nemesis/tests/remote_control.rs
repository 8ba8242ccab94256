//! The nemesis reaches a node's network only through `ClusterControl::run_in_node`:
//! a cluster whose nodes have no local namespace (as on remote hosts) still gets its
//! partitions, as the commands its backend is asked to run. No root needed.

use nemesis::control::{ClusterControl, NodeCommand, NodeRef};
use nemesis::{Fault, Link, Nemesis, PacketKind, PartitionKind};
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A cluster elsewhere: it records every command and answers like iptables (and
/// `ip route get`) would.
#[derive(Default)]
struct Elsewhere {
    ran: Arc<Mutex<Vec<(String, NodeCommand)>>>,
    /// Puts partitions in force itself (nodes sharing hosts), recording each grudge.
    by_port: bool,
    grudges: Arc<Mutex<Vec<nemesis::Grudge>>>,
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
    async fn restart(&self, _: &str) -> anyhow::Result<()> {
        Ok(())
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
        let out = if command.program == "ip" {
            "192.0.2.2 via 192.0.2.254 dev eth1 src 192.0.2.1 uid 0\n"
        } else {
            ""
        };
        self.ran.lock().unwrap().push((node.id.clone(), command));
        async { Ok(out.to_string()) }
    }
    fn local_network(&self) -> bool {
        false
    }
    fn partitions_by_port(&self) -> bool {
        self.by_port
    }
    fn set_partition(
        &self,
        grudge: &nemesis::Grudge,
    ) -> impl Future<Output = anyhow::Result<()>> + Send {
        self.grudges.lock().unwrap().push(grudge.clone());
        async { Ok(()) }
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

#[tokio::test]
async fn a_cluster_that_partitions_by_port_is_handed_the_grudge_and_then_an_empty_one_to_heal() {
    let cluster = Arc::new(Elsewhere {
        by_port: true,
        ..Elsewhere::default()
    });
    let (ran, grudges) = (Arc::clone(&cluster.ran), Arc::clone(&cluster.grudges));
    let mut nemesis = Nemesis::new(Arc::clone(&cluster));
    let grudge: nemesis::Grudge = [("n1".to_string(), vec!["n3".to_string()])].into();
    let fault = Fault::Partition {
        kind: PartitionKind::One,
        grudge: grudge.clone(),
        leader: None,
    };
    nemesis.start(&fault).await.unwrap();
    nemesis.heal_all().await.unwrap();
    assert_eq!(*grudges.lock().unwrap(), [grudge, nemesis::Grudge::new()]);
    // No node's own partition chain was written.
    let restores: Vec<_> = ran
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, c)| c.input.clone())
        .filter(|i| i.contains("-A FAULTLINE-PART"))
        .collect();
    assert!(restores.is_empty(), "{restores:?}");
    let unknown = Fault::Partition {
        kind: PartitionKind::One,
        grudge: [("n1".to_string(), vec!["n9".to_string()])].into(),
        leader: None,
    };
    assert!(nemesis.start(&unknown).await.is_err());
}

#[tokio::test]
async fn a_delay_on_nodes_elsewhere_is_netem_on_the_senders_host_for_test_hosts_only() {
    let cluster = Arc::new(Elsewhere::default());
    let ran = Arc::clone(&cluster.ran);
    let mut nemesis = Nemesis::new(Arc::clone(&cluster));
    let fault = Fault::Packet {
        kind: PacketKind::Delay {
            ms: 80,
            jitter_ms: 0,
        },
        links: ["n2", "n3"]
            .map(|to| Link {
                from: "n1".into(),
                to: to.into(),
            })
            .to_vec(),
    };
    nemesis.start(&fault).await.unwrap();
    nemesis.stop(&fault).await.unwrap();
    let sent = ran.lock().unwrap().clone();
    let lines: Vec<(&str, String)> = sent
        .iter()
        .map(|(n, c)| (n.as_str(), format!("{} {}", c.program, c.args.join(" "))))
        .collect();
    assert_eq!(
        lines,
        [
            ("n1", "ip -o route get 192.0.2.2".to_string()),
            ("n1", "tc -batch -".to_string()),
            ("n1", "tc qdisc del dev eth1 root".to_string()),
        ]
    );
    let batch = sent[1].1.input.as_deref().unwrap();
    assert!(
        batch.contains("parent fa17:4 handle 40: netem delay 80ms\n"),
        "{batch}"
    );
    // Only packets to the other test hosts reach netem's band: the controller's own
    // (ssh) traffic falls in the priomap's bands.
    let filters: Vec<&str> = batch.lines().filter(|l| l.starts_with("filter")).collect();
    assert_eq!(filters.len(), 2, "{batch}");
    assert!(
        filters[0].ends_with("match ip dst 192.0.2.2/32 flowid fa17:4"),
        "{batch}"
    );
    assert!(
        filters[1].ends_with("match ip dst 192.0.2.3/32 flowid fa17:4"),
        "{batch}"
    );
}
