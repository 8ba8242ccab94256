//! The MariaDB Galera client of the transactional workloads (`txn-append`,
//! `txn-register`), over `mysql_async`.
//!
//! Storage is Jepsen's (its MariaDB Galera append test), the same as PostgreSQL's
//! ([`crate::postgres`]): tables `txn0..txn2` and `reg0..reg2` in database
//! `faultline`, rows `(id, sk, val)`, a list as comma-separated text. An append is
//! `INSERT ... ON DUPLICATE KEY UPDATE val = CONCAT(val, ',', e)`, a read is
//! `SELECT val ... WHERE id = k`.
//!
//! Galera is multi-primary: every process sends all of its transactions to its own
//! node, so transactions from different nodes meet only at certification, which is
//! what its isolation claims are about. Every transaction is `SET TRANSACTION
//! ISOLATION LEVEL ...`, `START TRANSACTION`, its statements, `COMMIT`. How it ends
//! (`docs/systems.md`, MariaDB Galera):
//! - `ok`: `COMMIT` succeeded.
//! - `fail`: the server refused a statement or the commit (a certification conflict
//!   or deadlock is error 1213, a node outside the primary component answers 1047);
//!   MariaDB rolls a refused commit back, and the client rolls back the rest; or the
//!   connection broke before `COMMIT` was sent, or the node could not be reached.
//! - `info`: the connection broke or timed out while `COMMIT` was in flight.

use crate::client::{BoxFuture, Client, ClientFactory, Target};
use crate::op::{Completion, Op};
use crate::sql::{endpoint, outcome, parse_list, txn_mops, Isolation, TxnError, TABLES};
use crate::txn::{Mop, ReadValue, TxnModel};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The port faultline's MariaDB nodes listen on for clients.
pub const MARIADB_PORT: u16 = 3306;
/// The database the workload's tables live in.
pub const DATABASE: &str = "faultline";
/// The account faultline's nodes create for their clients (any host, no password:
/// the nodes listen only inside faultline's namespaces).
pub const USER: &str = "faultline";

/// The client settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaleraOptions {
    /// For a whole transaction, connecting included.
    pub timeout: Duration,
    pub isolation: Isolation,
    pub model: TxnModel,
}

/// The SQL that creates the database and the tables of both models (idempotent).
pub fn schema_sql() -> Vec<String> {
    let mut sql = vec![format!("CREATE DATABASE IF NOT EXISTS {DATABASE}")];
    for i in 0..TABLES {
        for (prefix, kind) in [("txn", "text"), ("reg", "bigint")] {
            sql.push(format!(
                "CREATE TABLE IF NOT EXISTS {DATABASE}.{prefix}{i} \
                 (id bigint NOT NULL PRIMARY KEY, sk bigint NOT NULL, val {kind}) ENGINE=InnoDB"
            ));
        }
    }
    sql
}

/// Opens a connection over TCP (never the node's socket, which a partition would
/// not cut), within `timeout`.
pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Conn, String> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(USER))
        .prefer_socket(false)
        .stmt_cache_size(0);
    match tokio::time::timeout(timeout, Conn::new(opts)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(describe(&e)),
        Err(_) => Err(format!("no connection within {timeout:?}")),
    }
}

/// Makes one client per process, bound to the process's node.
pub struct GaleraClientFactory {
    options: GaleraOptions,
}

impl GaleraClientFactory {
    pub fn new(options: GaleraOptions) -> GaleraClientFactory {
        GaleraClientFactory { options }
    }
}

impl ClientFactory for GaleraClientFactory {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        let (host, port) = endpoint(target, MARIADB_PORT);
        Ok(Arc::new(GaleraClient {
            options: self.options,
            host,
            port,
            conn: tokio::sync::Mutex::new(None),
        }))
    }
}

/// One client process's lazily opened connection to its node, dropped after any
/// error that leaves its state unknown.
pub struct GaleraClient {
    options: GaleraOptions,
    host: String,
    port: u16,
    conn: tokio::sync::Mutex<Option<Conn>>,
}

impl Client for GaleraClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

impl GaleraClient {
    async fn perform(&self, op: &Op) -> Completion {
        let mut mops = match txn_mops(op, "MariaDB") {
            Ok(m) => m,
            Err(refused) => return refused,
        };
        let read_only = mops.iter().all(Mop::is_read);
        let committing = AtomicBool::new(false);
        let run = self.run(&mut mops, &committing);
        let result = match tokio::time::timeout(self.options.timeout, run).await {
            Ok(r) => r,
            Err(_) => {
                // Unknown state on the server: a new connection next time.
                *self.conn.lock().await = None;
                Err(TxnError::Broken(format!(
                    "timeout after {:?}",
                    self.options.timeout
                )))
            }
        };
        let in_commit = committing.load(Ordering::Relaxed);
        outcome(op, result.map(|()| mops), in_commit, read_only)
    }

    /// Runs the transaction, filling in its reads.
    async fn run(&self, mops: &mut [Mop], committing: &AtomicBool) -> Result<(), TxnError> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let c = connect(&self.host, self.port, self.options.timeout)
                .await
                .map_err(|e| TxnError::Unreached(format!("connect: {e}")))?;
            *guard = Some(c);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(TxnError::Unreached("no connection".into()));
        };
        let result = self.statements(conn, mops, committing).await;
        if let Err(TxnError::Refused(_) | TxnError::Garbled(_)) = &result {
            // MariaDB rolls back only the statement for most errors: end the
            // transaction, or drop a connection that cannot.
            if conn.query_drop("ROLLBACK").await.is_err() {
                *guard = None;
            }
        } else if result.is_err() {
            *guard = None;
        }
        result
    }

    async fn statements(
        &self,
        conn: &mut Conn,
        mops: &mut [Mop],
        committing: &AtomicBool,
    ) -> Result<(), TxnError> {
        let level = format!(
            "SET TRANSACTION ISOLATION LEVEL {}",
            self.options.isolation.sql()
        );
        conn.query_drop(level).await.map_err(classify)?;
        conn.query_drop("START TRANSACTION")
            .await
            .map_err(classify)?;
        for mop in mops.iter_mut() {
            self.mop(conn, mop).await?;
        }
        committing.store(true, Ordering::Relaxed);
        conn.query_drop("COMMIT").await.map_err(classify)
    }

    /// One micro-op; a read's result is written into it.
    async fn mop(&self, conn: &mut Conn, mop: &mut Mop) -> Result<(), TxnError> {
        let table = |prefix: &str, key: u64| format!("{DATABASE}.{prefix}{}", key % TABLES);
        match mop {
            Mop::Append { key, value } => {
                let sql = format!(
                    "INSERT INTO {} (id, sk, val) VALUES (?, ?, ?) \
                     ON DUPLICATE KEY UPDATE val = CONCAT(val, ',', ?)",
                    table("txn", *key)
                );
                let (id, v) = (*key as i64, value.to_string());
                conn.exec_drop(sql, (id, id, v.clone(), v))
                    .await
                    .map_err(classify)?;
            }
            Mop::Write { key, value } => {
                let sql = format!(
                    "INSERT INTO {} (id, sk, val) VALUES (?, ?, ?) \
                     ON DUPLICATE KEY UPDATE val = ?",
                    table("reg", *key)
                );
                let id = *key as i64;
                conn.exec_drop(sql, (id, id, *value, *value))
                    .await
                    .map_err(classify)?;
            }
            Mop::Read { key, value } => {
                let id = *key as i64;
                *value = match self.options.model {
                    TxnModel::ListAppend => {
                        let sql = format!("SELECT val FROM {} WHERE id = ?", table("txn", *key));
                        let row: Option<Option<String>> =
                            conn.exec_first(sql, (id,)).await.map_err(classify)?;
                        ReadValue::List(parse_list(*key, row.flatten().as_deref())?)
                    }
                    TxnModel::RwRegister => {
                        let sql = format!("SELECT val FROM {} WHERE id = ?", table("reg", *key));
                        let row: Option<Option<i64>> =
                            conn.exec_first(sql, (id,)).await.map_err(classify)?;
                        ReadValue::Register(row.flatten())
                    }
                };
            }
        }
        Ok(())
    }
}

/// A server error is a refusal (the statement or transaction is rolled back);
/// anything else broke the connection.
fn classify(e: mysql_async::Error) -> TxnError {
    match &e {
        mysql_async::Error::Server(s) => {
            let kind = match s.code {
                // Galera reports a lost certification as a deadlock.
                1213 => "deadlock",
                1205 => "lock-wait-timeout",
                1047 => "not-ready",
                _ => "refused",
            };
            TxnError::Refused(format!("{kind}: {}", describe(&e)))
        }
        _ => TxnError::Broken(describe(&e)),
    }
}

/// An error with its code and the server's message, on one line.
fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("{} ({}) {}", s.code, s.state, s.message),
        other => other.to_string().replace('\n', " "),
    }
}

/// One `SHOW STATUS` value.
async fn status(conn: &mut Conn, name: &str) -> Result<String, String> {
    let row: Option<(String, String)> = conn
        .query_first(format!("SHOW STATUS LIKE '{name}'"))
        .await
        .map_err(|e| describe(&e))?;
    Ok(row.map(|(_, v)| v).unwrap_or_default())
}

/// Waits until the cluster on `hosts` is ready for a test: every node answers, sees
/// all `hosts.len()` members (`wsrep_cluster_size`), is synced (`wsrep_ready` ON),
/// and has the workload's tables (created through the first node). Returns what is
/// still missing on timeout.
pub async fn wait_ready(hosts: &[String], port: u16, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let missing = match ready_once(hosts, port).await {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(missing);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn ready_once(hosts: &[String], port: u16) -> Result<(), String> {
    let ask = Duration::from_secs(2);
    let mut conns = Vec::new();
    for host in hosts {
        let mut c = connect(host, port, ask)
            .await
            .map_err(|e| format!("node {host} does not answer: {e}"))?;
        let size = status(&mut c, "wsrep_cluster_size").await?;
        if size != hosts.len().to_string() {
            return Err(format!(
                "node {host} sees a cluster of {size:?} nodes, not {}",
                hosts.len()
            ));
        }
        let ready = status(&mut c, "wsrep_ready").await?;
        if ready != "ON" {
            return Err(format!("node {host} is not synced (wsrep_ready {ready})"));
        }
        conns.push((host, c));
    }
    if let Some((_, first)) = conns.first_mut() {
        for sql in schema_sql() {
            first
                .query_drop(sql)
                .await
                .map_err(|e| format!("creating the tables: {}", describe(&e)))?;
        }
    }
    for (host, c) in &mut conns {
        let n: Option<i64> = c
            .query_first(format!(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{DATABASE}'"
            ))
            .await
            .map_err(|e| describe(&e))?;
        if n != Some(2 * TABLES as i64) {
            return Err(format!("node {host} does not have the tables yet"));
        }
    }
    for (_, c) in conns {
        let _ = c.disconnect().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_jepsens_tables_for_both_models_in_their_database() {
        let sql = schema_sql();
        assert_eq!(sql[0], "CREATE DATABASE IF NOT EXISTS faultline");
        assert_eq!(sql.len(), 1 + 2 * TABLES as usize);
        assert!(sql
            .iter()
            .any(|s| s.contains("faultline.txn2 (id bigint") && s.contains("val text")));
        assert!(sql
            .iter()
            .any(|s| s.contains("faultline.reg0 (id bigint") && s.contains("val bigint")));
    }

    #[test]
    fn certification_conflicts_are_refusals_and_io_errors_break_the_connection() {
        let server = mysql_async::Error::Server(mysql_async::ServerError {
            code: 1213,
            message: "Deadlock found when trying to get lock".into(),
            state: "40001".into(),
        });
        match classify(server) {
            TxnError::Refused(e) => assert!(e.starts_with("deadlock: 1213 (40001)"), "{e}"),
            _ => panic!("a server error is a refusal"),
        }
        let io = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(matches!(classify(io), TxnError::Broken(_)));
    }
}
