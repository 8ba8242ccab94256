//! Redis 7 with Sentinel from the distribution's packages: a redis-server and a
//! redis-sentinel per node; the primary is whichever the sentinels name.

use crate::adapter::ClientProtocol;
use crate::system::faults::FaultSet;
use crate::system::leader::LeaderLookup;
use crate::system::template::CommandTemplate;
use crate::system::{Readiness, SpecSource, SystemSpec};
use std::time::Duration;

/// Starts a Redis node: a redis-server and its sentinel, in one process group (so
/// kill and pause reach both), the sentinel dying with the server. The first start
/// writes both configuration files into the data directory; later starts reuse them,
/// so a restarted node comes back in the role the sentinels last gave it (they
/// rewrite both files on a failover), as a node of a real deployment would.
///
/// Arguments: ip, data dir, peers (`n1=ip:port,...`; the first node starts as the
/// primary), node count, redis port, sentinel port, master name, then any
/// `--system-arg`s, passed to redis-server as options (`--appendfsync always`).
const REDIS_NODE_SCRIPT: &str = r#"set -eu
ip=$1 dir=$2 peers=$3 count=$4 port=$5 sport=$6 name=$7
# The rest (--system-arg) goes to redis-server as options over redis.conf, e.g.
# --appendfsync always.
shift 7
first=${peers%%,*}; first=${first#*=}; primary=${first%:*}
quorum=$((count / 2 + 1))
cd "$dir"
if [ ! -f redis.conf ]; then
  {
    echo "bind $ip"
    echo "port $port"
    echo "protected-mode no"
    echo "dir $dir"
    echo 'save ""'
    echo "appendonly yes"
    echo "appendfsync everysec"
    if [ "$ip" != "$primary" ]; then echo "replicaof $primary $port"; fi
  } > redis.conf
fi
if [ ! -f sentinel.conf ]; then
  {
    echo "bind $ip"
    echo "port $sport"
    echo "protected-mode no"
    echo "dir $dir"
    echo "sentinel monitor $name $primary $port $quorum"
    echo "sentinel down-after-milliseconds $name 2000"
    echo "sentinel failover-timeout $name 6000"
    echo "sentinel parallel-syncs $name 1"
    # Named up front: a sentinel otherwise learns of replicas only from the
    # primary's INFO every 10 s, and with none known it cannot fail over.
    for peer in $(echo "$peers" | tr ',' ' '); do
      host=${peer#*=}; host=${host%:*}
      if [ "$host" != "$primary" ]; then echo "sentinel known-replica $name $host $port"; fi
    done
  } > sentinel.conf
fi
# Durable before either server reads them: a power loss (disk faults) must not
# bring a node back with an empty configuration.
sync redis.conf sentinel.conf
setpriv --pdeathsig KILL redis-sentinel sentinel.conf &
exec redis-server redis.conf "$@"
"#;

/// One redis-server and one redis-sentinel per node. The cluster runs one command
/// per node, so a small `sh` wrapper starts both: the sentinel in the background in
/// the same process group (pause and kill stop both, as they would a machine), the
/// server `exec`'d so its pid is the node's. Sentinels fail over on their own after
/// 2 s without the primary; a majority of them must agree.
pub fn spec() -> SystemSpec {
    let sentinel_port = workloads::redis::SENTINEL_PORT.to_string();
    let args = super::sh_script_args(
        REDIS_NODE_SCRIPT,
        "redis-node",
        &[
            "{ip}",
            "{data_dir}",
            "{peers}",
            "{node_count}",
            "{port}",
            &sentinel_port,
            workloads::redis::MASTER_NAME,
        ],
    );
    SystemSpec {
        name: "redis-sentinel".into(),
        command: CommandTemplate {
            program: "/bin/sh".into(),
            args,
        },
        restart: None,
        extra_args: Vec::new(),
        env: Vec::new(),
        working_dir: None,
        protocol: ClientProtocol::Redis,
        port: workloads::redis::REDIS_PORT,
        peer_port: None,
        readiness: Readiness::Tcp,
        cluster_ready: crate::system::ClusterReadiness::RedisReplication,
        ready_timeout: Duration::from_secs(20),
        leader: LeaderLookup::RedisSentinel,
        // redis is C and reads time through libc: libfaketime moves its clock.
        faults: FaultSet {
            membership: false,
            ..FaultSet::ALL
        },
        source: SpecSource::Builtin,
        unavailable: None,
        promises: None,
        client: None,
        membership: None,
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
    fn redis_nodes_run_a_script_with_their_own_addresses() {
        let spec = spec();
        spec.validate().unwrap();
        let m = members();
        let vars = NodeVars {
            id: "n3",
            index: 3,
            ip: m[2].1,
            data_dir: Path::new("/r/data/n3"),
            members: &m,
            port_shifts: &[],
        };
        let (program, args, _) = spec.render(&vars, false).unwrap();
        assert_eq!(program, "/bin/sh");
        // The script survives the template with its shell braces intact.
        assert_eq!(args[1], REDIS_NODE_SCRIPT);
        assert_eq!(
            &args[2..],
            &[
                "redis-node",
                "10.77.9.3",
                "/r/data/n3",
                "n1=10.77.9.1:6379,n2=10.77.9.2:6379,n3=10.77.9.3:6379",
                "3",
                "6379",
                "26379",
                "faultline"
            ]
        );
    }

    /// The wrapper, run for real outside any namespace: it writes both
    /// configurations as a replica of the first node would, and its sentinel goes
    /// when the server goes.
    #[test]
    fn the_redis_node_script_writes_its_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        // `exec` a harmless program in place of the servers: only the files are checked.
        let script = REDIS_NODE_SCRIPT
            .replace(
                "setpriv --pdeathsig KILL redis-sentinel sentinel.conf &\n",
                "",
            )
            .replace("exec redis-server redis.conf", "exit 0");
        let status = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                &script,
                "redis-node",
                "127.0.0.3",
                d,
                "n1=127.0.0.2:6379,n2=127.0.0.3:6379",
                "2",
                "6379",
                "26379",
                "fl",
            ])
            .status()
            .unwrap();
        assert!(status.success());
        let redis = std::fs::read_to_string(dir.path().join("redis.conf")).unwrap();
        assert!(
            redis.contains("bind 127.0.0.3\n") && redis.contains("replicaof 127.0.0.2 6379\n"),
            "{redis}"
        );
        let sentinel = std::fs::read_to_string(dir.path().join("sentinel.conf")).unwrap();
        assert!(
            sentinel.contains("sentinel monitor fl 127.0.0.2 6379 2\n"),
            "{sentinel}"
        );
        assert!(
            sentinel.contains("sentinel known-replica fl 127.0.0.3 6379\n"),
            "{sentinel}"
        );
        assert!(
            !sentinel.contains("known-replica fl 127.0.0.2"),
            "{sentinel}"
        );
        // A second start keeps what the sentinels may have rewritten.
        std::fs::write(dir.path().join("redis.conf"), "rewritten\n").unwrap();
        std::process::Command::new("/bin/sh")
            .args([
                "-c",
                &script,
                "redis-node",
                "127.0.0.3",
                d,
                "n1=127.0.0.2:6379",
                "2",
                "6379",
                "26379",
                "fl",
            ])
            .status()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("redis.conf")).unwrap(),
            "rewritten\n"
        );
    }
}
