//! MariaDB Galera Cluster from the distribution's packages (`mariadb-server`,
//! `galera-4`): one `mariadbd` per node, every node a primary, replicating through
//! the wsrep provider. faultline bootstraps the cluster itself: the first node's
//! first start makes a new cluster (`--wsrep-new-cluster`), every other node joins
//! it and receives its state by SST (rsync); a node restarted after a kill rejoins
//! and catches up by IST or SST.
//!
//! Each node is faultline's own server in its own namespace with its own data
//! directory, run as the `mysql` user (the rsync SST daemon drops root to `nobody`,
//! who cannot write the data); no system service is used or changed.

use crate::adapter::ClientProtocol;
use crate::system::faults::FaultSet;
use crate::system::leader::LeaderLookup;
use crate::system::template::CommandTemplate;
use crate::system::{ClusterReadiness, Readiness, SpecSource, SystemSpec};
use std::time::Duration;

/// MariaDB's server, which Debian keeps outside most users' PATH.
pub const MARIADBD: &str = "/usr/sbin/mariadbd";
/// The wsrep provider `galera-4` installs.
pub const PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";

/// Starts a Galera node. The first start makes the node's data in `$dir/db`: the
/// first node runs `mariadb-install-db`, creates the clients' account (an init file
/// run once) and makes a new cluster; the others start empty and wait until a peer's
/// group port answers (a joiner that finds nobody gives up), then join and get the
/// data by SST. A later start (after a kill) joins the running peers; a node that
/// knows the last primary component (`gvwstate.dat`, as after the whole cluster was
/// killed) starts at once and restores it with its peers (`pc.recovery`). Small
/// InnoDB logs and buffers keep a node's first start quick. The socket path is
/// relative (the server runs in its data directory): an absolute one under a deep
/// results folder passes the 107-byte limit of a socket's path and the server
/// refuses to start. The server is `exec`'d so its pid is the node's.
///
/// Arguments: ip, data dir, peers (`n1=ip:port,...`; the first bootstraps), port,
/// provider.
const GALERA_NODE_SCRIPT: &str = r#"set -eu
ip=$1 dir=$2 peers=$3 port=$4 provider=$5
members=$(echo "$peers" | tr ',' '\n' | sed 's/^[^=]*=//; s/:[0-9]*$//' | paste -sd, -)
first=${members%%,*}
db=$dir/db
chown mysql: "$dir"
if ! setpriv --reuid=mysql --regid=mysql --init-groups test -w "$dir"; then
  echo "the mysql user cannot reach $dir: every directory above it must be searchable by others (chmod o+x), or choose a --results-dir that is" >&2
  exit 1
fi
small="--innodb-log-file-size=8M --innodb-buffer-pool-size=32M"
extra=()
if [ ! -f "$db/grastate.dat" ]; then
  rm -rf "$db"; mkdir "$db"; chown mysql: "$db"
  if [ "$ip" = "$first" ]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$db" --auth-root-authentication-method=normal --skip-test-db $small >"$dir/install.log" 2>&1
    printf '%s\n' "CREATE USER IF NOT EXISTS 'faultline'@'%';" "GRANT ALL ON *.* TO 'faultline'@'%';" >"$dir/init.sql"
    extra=(--wsrep-new-cluster "--init-file=$dir/init.sql")
  fi
fi
a_peer_answers() {
  for p in ${members//,/ }; do
    if [ "$p" != "$ip" ] && timeout 1 bash -c "exec 3<>/dev/tcp/$p/4567" 2>/dev/null; then return 0; fi
  done
  return 1
}
if [ ${#extra[@]} -eq 0 ] && [ ! -f "$db/gvwstate.dat" ]; then
  until a_peer_answers; do sleep 0.3; done
fi
exec /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$db" --tmpdir="$dir" \
  --socket=mysqld.sock --pid-file="$dir/mysqld.pid" --log-error="$dir/mariadbd.log" \
  --bind-address="$ip" --port="$port" --skip-name-resolve $small \
  --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
  --wsrep-on=ON --wsrep-provider="$provider" --wsrep-cluster-name=faultline \
  --wsrep-cluster-address="gcomm://$members" --wsrep-node-address="$ip" --wsrep-node-name="$ip" \
  --wsrep-sst-method=rsync --wsrep-sst-receive-address="$ip:4444" \
  "--wsrep-provider-options=gmcast.listen_addr=tcp://$ip:4567;ist.recv_addr=$ip:4568;gcache.size=16M" \
  "${extra[@]}"
"#;

/// One `mariadbd` per node, started by a small `bash` wrapper.
pub fn spec() -> SystemSpec {
    let args = super::sh_script_args(
        GALERA_NODE_SCRIPT,
        "galera-node",
        &["{ip}", "{data_dir}", "{peers}", "{port}", PROVIDER],
    );
    SystemSpec {
        name: "galera".into(),
        command: CommandTemplate {
            program: "/bin/bash".into(),
            args,
        },
        restart: None,
        extra_args: Vec::new(),
        env: Vec::new(),
        working_dir: None,
        protocol: ClientProtocol::Mysql,
        port: workloads::galera::MARIADB_PORT,
        peer_port: None,
        readiness: Readiness::Tcp,
        cluster_ready: ClusterReadiness::GaleraCluster,
        // A joiner's first start waits for the first node, then copies its data.
        ready_timeout: Duration::from_secs(90),
        leader: LeaderLookup::None,
        // No admin interface the harness knows for changing its members.
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

/// Unavailable, saying how to install it, when the wsrep provider is missing (a
/// library, not a program `needs` can look for).
pub fn needs_provider(spec: SystemSpec) -> SystemSpec {
    if spec.unavailable.is_some() || std::path::Path::new(PROVIDER).is_file() {
        return spec;
    }
    SystemSpec {
        unavailable: Some(format!(
            "galera needs the wsrep provider {PROVIDER}, which this machine does not have; scripts/setup.sh installs it (Debian's galera-4)"
        )),
        ..spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::template::NodeVars;
    use std::net::Ipv4Addr;
    use std::path::Path;

    #[test]
    fn galera_nodes_run_a_script_given_every_member_with_the_bootstrapper_first() {
        let spec = spec();
        spec.validate().unwrap();
        let m: Vec<(String, Ipv4Addr)> = (1..=3)
            .map(|i| (format!("n{i}"), Ipv4Addr::new(10, 77, 9, i)))
            .collect();
        let vars = NodeVars {
            id: "n3",
            index: 3,
            ip: m[2].1,
            data_dir: Path::new("/r/data/n3"),
            members: &m,
            port_shifts: &[],
        };
        let (program, args, _) = spec.render(&vars, false).unwrap();
        assert_eq!(program, "/bin/bash");
        assert_eq!(args[1], GALERA_NODE_SCRIPT);
        assert_eq!(
            &args[2..],
            &[
                "galera-node",
                "10.77.9.3",
                "/r/data/n3",
                "n1=10.77.9.1:3306,n2=10.77.9.2:3306,n3=10.77.9.3:3306",
                "3306",
                PROVIDER
            ]
        );
    }
}
