//! What each built-in system promises, per setting (docs/systems.md, "Promises").
//! The settings decide it: dynamo-kv with `--lww` gives up acknowledged writes under
//! clock skew by design, pb-kv with automatic failover gives up linearizability under
//! partitions, etcd's serializable reads are documented as possibly stale, and a SQL
//! database promises the isolation level its transactions ask for, as its manual
//! defines that level.

use crate::system::promise::Model;
use workloads::etcd::EtcdReads;
use workloads::sql::Isolation;

/// The promises of built-in system `name` run with `system_args` (the nodes' extra
/// arguments, bug switches included: a bug build still promises what the correct one
/// does, which is how a bug is caught), etcd read mode `etcd_reads` and SQL isolation
/// level `isolation`. `None` for a name that is not built in.
pub fn for_settings(
    name: &str,
    system_args: &[String],
    etcd_reads: EtcdReads,
    isolation: Isolation,
) -> Option<Vec<Model>> {
    use Model::*;
    let mut models = match name {
        "raft-kv" => vec![Linearizable, Eventual],
        "dynamo-kv" if flag_set(system_args, "--lww") => vec![Eventual],
        "dynamo-kv" => vec![Eventual, NoLostWrites],
        "pb-kv" if arg_value(system_args, "--failover") == Some("auto") => vec![Eventual],
        "pb-kv" => vec![Linearizable, NoLostWrites],
        "cl-bank" => vec![Bank],
        // etcd's API guarantees (v3.2-v3.3 docs, "Consistency"): "All API calls ensure
        // sequential consistency"; serializable reads "may access stale data with
        // respect to quorum" (v3.5 docs, "Linearizability"); "Any completed
        // operations are durable" (v3.5 docs, "Durability").
        "etcd" if etcd_reads == EtcdReads::Serializable => {
            vec![Sequential, Eventual, NoLostWrites]
        }
        "etcd" => vec![Linearizable, Eventual],
        // Asynchronous replication with failover: Redis documents that acknowledged
        // writes can be lost, with or without WAIT, so it promises no safety model.
        "redis-sentinel" => vec![],
        // PostgreSQL 15 manual, 13.2 "Transaction Isolation": Serializable "works
        // exactly the same as Repeatable Read except that it monitors for conditions
        // which could make execution of a concurrent set of serializable transactions
        // behave in a manner inconsistent with all possible serial (one at a time)
        // executions"; Repeatable Read is implemented as snapshot isolation ("a
        // snapshot as of the start of the first non-transaction-control statement");
        // Read Committed sees only data committed before each query began.
        "postgres" => vec![match isolation {
            Isolation::Serializable => Serializable,
            Isolation::RepeatableRead => SnapshotIsolation,
            Isolation::ReadCommitted => ReadCommitted,
        }],
        // Galera's documentation ("Isolation Levels"; MariaDB's "About Galera"):
        // within a node the InnoDB level applies, across nodes transactions are
        // certified first-committer-wins, which places the cluster "between
        // SERIALIZABLE and REPEATABLE-READ": at least repeatable read (no lost update,
        // which first-committer-wins rules out), but not serializable across nodes.
        "galera" => vec![match isolation {
            Isolation::Serializable | Isolation::RepeatableRead => RepeatableRead,
            Isolation::ReadCommitted => ReadCommitted,
        }],
        _ => return None,
    };
    models.sort();
    Some(models)
}

/// Whether a boolean switch is on: `--lww` or `--lww=true`, the last one winning.
fn flag_set(args: &[String], flag: &str) -> bool {
    let mut on = false;
    for a in args {
        if a == flag {
            on = true;
        } else if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            on = v == "true";
        }
    }
    on
}

/// The value of `--flag VALUE` or `--flag=VALUE`, the last one given (as clap keeps
/// it).
fn arg_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let mut value = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        if a == flag {
            value = it.peek().map(|v| v.as_str());
        } else if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            value = Some(v);
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use Model::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_setting_decides_the_promises() {
        let lin = EtcdReads::Linearizable;
        let ser = Isolation::default();
        assert_eq!(
            for_settings("raft-kv", &args(&["--bug=stale-read"]), lin, ser),
            Some(vec![Linearizable, Eventual])
        );
        assert_eq!(
            for_settings("dynamo-kv", &[], lin, ser),
            Some(vec![Eventual, NoLostWrites])
        );
        assert_eq!(
            for_settings("dynamo-kv", &args(&["--lww"]), lin, ser),
            Some(vec![Eventual])
        );
        assert_eq!(
            for_settings(
                "pb-kv",
                &args(&["--ack", "async", "--failover", "auto"]),
                lin,
                ser
            ),
            Some(vec![Eventual])
        );
        assert_eq!(
            for_settings(
                "pb-kv",
                &args(&["--failover=auto", "--failover=off"]),
                lin,
                ser
            ),
            Some(vec![Linearizable, NoLostWrites])
        );
        assert_eq!(
            for_settings("etcd", &[], EtcdReads::Serializable, ser),
            Some(vec![Sequential, Eventual, NoLostWrites])
        );
        assert_eq!(
            for_settings("etcd", &[], lin, ser),
            Some(vec![Linearizable, Eventual])
        );
        assert_eq!(for_settings("redis-sentinel", &[], lin, ser), Some(vec![]));
        assert_eq!(for_settings("cl-bank", &[], lin, ser), Some(vec![Bank]));
        assert_eq!(for_settings("my-kv", &[], lin, ser), None);
    }

    #[test]
    fn a_sql_database_promises_the_isolation_level_its_transactions_ask_for() {
        let lin = EtcdReads::Linearizable;
        let pg = |i| for_settings("postgres", &[], lin, i);
        assert_eq!(pg(Isolation::Serializable), Some(vec![Serializable]));
        assert_eq!(pg(Isolation::RepeatableRead), Some(vec![SnapshotIsolation]));
        assert_eq!(pg(Isolation::ReadCommitted), Some(vec![ReadCommitted]));
        let galera = |i| for_settings("galera", &[], lin, i);
        assert_eq!(galera(Isolation::Serializable), Some(vec![RepeatableRead]));
        assert_eq!(
            galera(Isolation::RepeatableRead),
            Some(vec![RepeatableRead])
        );
        assert_eq!(galera(Isolation::ReadCommitted), Some(vec![ReadCommitted]));
    }
}
