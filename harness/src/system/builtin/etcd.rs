//! etcd 3.x from the distribution's `etcd-server` package, one member per node.
//! Its client speaks the HTTP JSON gateway; its leader comes from
//! `/v3/maintenance/status`.

use crate::adapter::ClientProtocol;
use crate::system::faults::FaultSet;
use crate::system::leader::LeaderLookup;
use crate::system::template::CommandTemplate;
use crate::system::{Readiness, SpecSource, SystemSpec};
use std::time::Duration;

/// etcd's client and peer ports on every node's own address.
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;

/// One etcd member per node: `--initial-cluster` from the node addresses, data under
/// the run's folder, and after a kill a restart as a member of the existing cluster
/// (a fresh `new` start would try to bootstrap a second cluster).
///
/// No clock faults: etcd is a Go binary, which reads time through the vDSO without
/// libc, so libfaketime cannot move its clock and such a test would prove nothing.
pub fn spec() -> SystemSpec {
    let words = |state: &str| -> Vec<String> {
        [
            "--name",
            "{id}",
            "--data-dir",
            "{data_dir}",
            "--listen-client-urls",
            "http://{ip}:{port}",
            "--advertise-client-urls",
            "http://{ip}:{port}",
            "--listen-peer-urls",
            "http://{ip}:{peer_port}",
            "--initial-advertise-peer-urls",
            "http://{ip}:{peer_port}",
            "--initial-cluster",
            "{initial_cluster}",
            "--initial-cluster-token",
            "faultline",
            "--initial-cluster-state",
            state,
        ]
        .map(String::from)
        .to_vec()
    };
    SystemSpec {
        name: "etcd".into(),
        command: CommandTemplate {
            program: "etcd".into(),
            args: words("new"),
        },
        restart: Some(CommandTemplate {
            program: "etcd".into(),
            args: words("existing"),
        }),
        extra_args: Vec::new(),
        env: Vec::new(),
        working_dir: None,
        protocol: ClientProtocol::Etcd,
        port: ETCD_CLIENT_PORT,
        peer_port: Some(ETCD_PEER_PORT),
        // 200 only while the member knows a leader.
        readiness: Readiness::Http {
            path: "/health".into(),
        },
        cluster_ready: crate::system::ClusterReadiness::Nodes,
        ready_timeout: Duration::from_secs(30),
        leader: LeaderLookup::EtcdStatus,
        faults: FaultSet {
            membership: true,
            ..FaultSet::ALL_BUT_CLOCK
        },
        source: SpecSource::Builtin,
        unavailable: None,
        promises: None,
        client: None,
        // A fresh member joins the running cluster: the restart command, rendered
        // with the membership after the change as --initial-cluster.
        membership: Some(crate::system::membership::MembershipSpec {
            api: crate::system::membership::MembershipApi::Etcd,
            join: CommandTemplate {
                program: "etcd".into(),
                args: words("existing"),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::template::NodeVars;
    use std::net::Ipv4Addr;
    use std::path::Path;

    fn members() -> Vec<(String, Ipv4Addr)> {
        (1..=3)
            .map(|i| (format!("n{i}"), Ipv4Addr::new(10, 77, 9, i)))
            .collect()
    }

    #[test]
    fn etcd_starts_new_and_restarts_existing() {
        let spec = spec();
        spec.validate().unwrap();
        let m = members();
        let vars = NodeVars {
            id: "n2",
            index: 2,
            ip: m[1].1,
            data_dir: Path::new("/r/data/n2"),
            members: &m,
            port_shifts: &[],
        };
        let (program, args, _) = spec.render(&vars, false).unwrap();
        assert_eq!(program, "etcd");
        let joined = args.join(" ");
        assert!(
            joined.contains("--listen-client-urls http://10.77.9.2:2379"),
            "{joined}"
        );
        assert!(
            joined.contains("--initial-cluster n1=http://10.77.9.1:2380,n2=http://10.77.9.2:2380,n3=http://10.77.9.3:2380"),
            "{joined}"
        );
        assert!(joined.ends_with("--initial-cluster-state new"), "{joined}");
        let (_, again, _) = spec.render(&vars, true).unwrap();
        assert!(again
            .join(" ")
            .ends_with("--initial-cluster-state existing"));
        assert!(!spec.faults.clock);
    }
}
