//! PostgreSQL 15 from the distribution's packages: the first node a primary, every
//! other node a streaming replica of it (hot standby, so reads may go there). With
//! `--nodes 1` it is a single primary. There is no failover: the primary is always
//! the first node, as in a plain streaming-replication deployment.
//!
//! Each node is faultline's own server in its own namespace, with its data under the
//! node's data directory, run as the `postgres` user (PostgreSQL refuses to run as
//! root); no system service is used or changed.

use crate::adapter::ClientProtocol;
use crate::system::faults::FaultSet;
use crate::system::leader::LeaderLookup;
use crate::system::template::CommandTemplate;
use crate::system::{ClusterReadiness, Readiness, SpecSource, SystemSpec};
use std::time::Duration;

/// Where Debian's PostgreSQL 15 keeps its programs.
pub const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Starts a PostgreSQL node. The first start makes its cluster in `$dir/pg`: the
/// primary with `initdb` (trusting the namespaces' addresses, WAL kept for replicas
/// that were cut off), a replica with `pg_basebackup -R` from the primary, retried
/// until the primary is up. Later starts (after a kill) reuse the cluster: a
/// replica comes back as a replica, the primary runs crash recovery. The server is
/// `exec`'d so its pid is the node's.
///
/// Arguments: ip, data dir, peers (`n1=ip:port,...`; the first is the primary),
/// port, bin dir.
const POSTGRES_NODE_SCRIPT: &str = r#"set -eu
ip=$1 dir=$2 peers=$3 port=$4 bin=$5
first=${peers%%,*}; first=${first#*=}; primary=${first%:*}
pg=$dir/pg
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
chown postgres: "$dir"
if ! as_pg test -w "$dir"; then
  echo "the postgres user cannot reach $dir: every directory above it must be searchable by others (chmod o+x), or choose a --results-dir that is" >&2
  exit 1
fi
cd "$dir"
if [ ! -f "$pg/PG_VERSION" ]; then
  if [ "$ip" = "$primary" ]; then
    as_pg "$bin/initdb" -D "$pg" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >initdb.log 2>&1
    {
      echo "host all all 0.0.0.0/0 trust"
      echo "host replication all 0.0.0.0/0 trust"
    } >> "$pg/pg_hba.conf"
    {
      echo "shared_buffers = 32MB"
      echo "wal_keep_size = 256MB"
      echo "max_connections = 200"
      # Deadlocks reported (40P01) well within the client timeout.
      echo "deadlock_timeout = 100ms"
    } >> "$pg/postgresql.conf"
  else
    until as_pg "$bin/pg_basebackup" -h "$primary" -p "$port" -U postgres -D "$pg" -R -X stream -c fast >basebackup.log 2>&1; do
      rm -rf "$pg"; sleep 0.3
    done
  fi
fi
# No Unix socket: everything reaches the server over TCP, and a socket in a deep
# results folder (a campaign's) passes the 107-byte limit of its path and stops it.
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$pg" -c "listen_addresses=$ip" -c "port=$port" -c "unix_socket_directories="
"#;

/// One PostgreSQL server per node, started by a small `sh` wrapper.
pub fn spec() -> SystemSpec {
    let args = super::sh_script_args(
        POSTGRES_NODE_SCRIPT,
        "postgres-node",
        &["{ip}", "{data_dir}", "{peers}", "{port}", POSTGRES_BIN],
    );
    SystemSpec {
        name: "postgres".into(),
        command: CommandTemplate {
            program: "/bin/sh".into(),
            args,
        },
        restart: None,
        extra_args: Vec::new(),
        env: Vec::new(),
        working_dir: None,
        protocol: ClientProtocol::Postgres,
        port: workloads::postgres::POSTGRES_PORT,
        peer_port: None,
        readiness: Readiness::Tcp,
        cluster_ready: ClusterReadiness::PostgresReplication,
        // A replica's first start copies the primary, which must be up first.
        ready_timeout: Duration::from_secs(60),
        leader: LeaderLookup::FirstNode,
        // No admin interface the harness knows for changing its replicas.
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

    #[test]
    fn postgres_nodes_run_a_script_naming_the_primary_first() {
        let spec = spec();
        spec.validate().unwrap();
        let m: Vec<(String, Ipv4Addr)> = (1..=2)
            .map(|i| (format!("n{i}"), Ipv4Addr::new(10, 77, 9, i)))
            .collect();
        let vars = NodeVars {
            id: "n2",
            index: 2,
            ip: m[1].1,
            data_dir: Path::new("/r/data/n2"),
            members: &m,
            port_shifts: &[],
        };
        let (program, args, _) = spec.render(&vars, false).unwrap();
        assert_eq!(program, "/bin/sh");
        assert_eq!(args[1], POSTGRES_NODE_SCRIPT);
        assert_eq!(
            &args[2..],
            &[
                "postgres-node",
                "10.77.9.2",
                "/r/data/n2",
                "n1=10.77.9.1:5432,n2=10.77.9.2:5432",
                "5432",
                POSTGRES_BIN
            ]
        );
    }
}
