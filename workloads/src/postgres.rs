//! The PostgreSQL client of the transactional workloads (`txn-append`,
//! `txn-register`), over `tokio-postgres`.
//!
//! Storage is Jepsen's (its stolon/postgres append test): lists live in tables
//! `txn0`, `txn1`, `txn2` (key `k` in `txn{k mod 3}`), rows `(id, sk, val)` with the
//! list as comma-separated text in `val`. An append is one upsert,
//! `INSERT ... ON CONFLICT (id) DO UPDATE SET val = CONCAT(t.val, ',', e)`, and a read
//! is `SELECT val ... WHERE id = k`, split on commas (no row: the empty list).
//! Registers are the same with an integer `val` in tables `reg0..reg2`, written by
//! an upsert that overwrites. Spreading keys over several tables is Jepsen's way of
//! exercising more than one relation's locks and predicate locks.
//!
//! Every transaction is `BEGIN ISOLATION LEVEL ...`, its statements, `COMMIT`. How it
//! ends (`docs/systems.md`, PostgreSQL):
//! - `ok`: `COMMIT` succeeded; reads carry what they returned.
//! - `fail`: the server refused it (serialization failure 40001, deadlock 40P01, any
//!   error before or at `COMMIT`: PostgreSQL rolls the transaction back), or the
//!   connection broke before `COMMIT` was sent (an open transaction dies with its
//!   connection), or the node could not be reached.
//! - `info`: the connection broke or timed out while `COMMIT` was in flight: it may
//!   have committed. A read-only transaction is `fail` even then (it changed nothing).
//!
//! With streaming replicas, a process bound to a replica sends its read-only
//! transactions there (hot standby) and its writing ones to the primary, the first
//! node: reads may go to replicas.

use crate::client::{BoxFuture, Client, ClientFactory, Target};
use crate::op::{Completion, Op};
use crate::sql::{endpoint, outcome, parse_list, txn_mops, TxnError, TABLES};
use crate::txn::{Mop, ReadValue, TxnModel};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

pub use crate::sql::Isolation;

/// The port faultline's PostgreSQL nodes listen on.
pub const POSTGRES_PORT: u16 = 5432;

/// The client settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PgOptions {
    /// For a whole transaction, connecting included.
    pub timeout: Duration,
    pub isolation: Isolation,
    pub model: TxnModel,
}

/// The SQL that creates the tables of both models (idempotent).
pub fn schema_sql() -> String {
    let mut sql = String::new();
    for i in 0..TABLES {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS txn{i} (id bigint NOT NULL PRIMARY KEY, sk bigint NOT NULL, val text);\n\
             CREATE TABLE IF NOT EXISTS reg{i} (id bigint NOT NULL PRIMARY KEY, sk bigint NOT NULL, val bigint);\n"
        ));
    }
    sql
}

/// Opens a connection as the `postgres` superuser (faultline's clusters trust their
/// own namespaces' addresses), its driver task spawned on the runtime.
pub async fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .user("postgres")
        .dbname("postgres")
        .application_name("faultline")
        .connect_timeout(timeout);
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // Its end (an error included) shows up as a closed client.
        let _ = connection.await;
    });
    Ok(client)
}

/// Makes one client per process and node; knows the primary once told the nodes.
pub struct PgClientFactory {
    options: PgOptions,
    primary: Mutex<Option<Target>>,
}

impl PgClientFactory {
    pub fn new(options: PgOptions) -> PgClientFactory {
        PgClientFactory {
            options,
            primary: Mutex::new(None),
        }
    }
}

impl ClientFactory for PgClientFactory {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        let primary = self
            .primary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| target.clone());
        Ok(Arc::new(PgClient {
            options: self.options,
            on_primary: primary.id == target.id,
            node: Conn::new(endpoint(target, POSTGRES_PORT)),
            primary: Conn::new(endpoint(&primary, POSTGRES_PORT)),
        }))
    }

    /// The first node is the primary; the rest are its streaming replicas.
    fn prepare(&self, _run_dir: &std::path::Path, targets: &[Target]) -> anyhow::Result<()> {
        *self.primary.lock().unwrap_or_else(|e| e.into_inner()) = targets.first().cloned();
        Ok(())
    }
}

/// One lazily opened connection, dropped after any error that leaves its state
/// unknown, so the next transaction starts on a fresh one.
struct Conn {
    host: String,
    port: u16,
    client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl Conn {
    fn new((host, port): (String, u16)) -> Conn {
        Conn {
            host,
            port,
            client: tokio::sync::Mutex::new(None),
        }
    }
}

/// One client process's connections: to its node, and to the primary for writes.
pub struct PgClient {
    options: PgOptions,
    on_primary: bool,
    node: Conn,
    primary: Conn,
}

impl Client for PgClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

impl PgClient {
    async fn perform(&self, op: &Op) -> Completion {
        let mut mops = match txn_mops(op, "PostgreSQL") {
            Ok(m) => m,
            Err(refused) => return refused,
        };
        let read_only = mops.iter().all(Mop::is_read);
        let conn = if read_only || self.on_primary {
            &self.node
        } else {
            &self.primary
        };
        let committing = AtomicBool::new(false);
        let run = self.run(conn, &mut mops, &committing);
        let result = match tokio::time::timeout(self.options.timeout, run).await {
            Ok(r) => r,
            Err(_) => {
                // The transaction's state on the server is unknown: a new connection
                // next time (dropping this one aborts it if it was still open).
                *conn.client.lock().await = None;
                Err(TxnError::Broken(format!(
                    "timeout after {:?}",
                    self.options.timeout
                )))
            }
        };
        let in_commit = committing.load(Ordering::Relaxed);
        outcome(op, result.map(|()| mops), in_commit, read_only)
    }

    /// Runs the transaction on `conn`, filling in its reads.
    async fn run(
        &self,
        conn: &Conn,
        mops: &mut [Mop],
        committing: &AtomicBool,
    ) -> Result<(), TxnError> {
        let mut guard = conn.client.lock().await;
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            let c = connect(&conn.host, conn.port, self.options.timeout)
                .await
                .map_err(|e| TxnError::Unreached(format!("connect: {}", describe(&e))))?;
            *guard = Some(c);
        }
        let Some(client) = guard.as_ref() else {
            return Err(TxnError::Unreached("no connection".into()));
        };
        let result = self.statements(client, mops, committing).await;
        if let Err(TxnError::Refused(_) | TxnError::Garbled(_)) = &result {
            // Leave the connection idle for the next transaction; if even that fails
            // the connection is in an unknown state.
            if client.batch_execute("ROLLBACK").await.is_err() {
                *guard = None;
            }
        } else if result.is_err() {
            *guard = None;
        }
        result
    }

    async fn statements(
        &self,
        client: &tokio_postgres::Client,
        mops: &mut [Mop],
        committing: &AtomicBool,
    ) -> Result<(), TxnError> {
        let begin = format!("BEGIN ISOLATION LEVEL {}", self.options.isolation.sql());
        client.batch_execute(&begin).await.map_err(classify)?;
        for mop in mops.iter_mut() {
            self.mop(client, mop).await?;
        }
        committing.store(true, Ordering::Relaxed);
        client.batch_execute("COMMIT").await.map_err(classify)
    }

    /// One micro-op; a read's result is written into it.
    async fn mop(&self, client: &tokio_postgres::Client, mop: &mut Mop) -> Result<(), TxnError> {
        let table = |prefix: &str, key: u64| format!("{prefix}{}", key % TABLES);
        match mop {
            Mop::Append { key, value } => {
                let sql = format!(
                    "INSERT INTO {} AS t (id, sk, val) VALUES ($1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET val = CONCAT(t.val, ',', $2) WHERE t.id = $1",
                    table("txn", *key)
                );
                let id = *key as i64;
                client
                    .execute(&sql, &[&id, &value.to_string()])
                    .await
                    .map_err(classify)?;
            }
            Mop::Write { key, value } => {
                let sql = format!(
                    "INSERT INTO {} AS t (id, sk, val) VALUES ($1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET val = $2 WHERE t.id = $1",
                    table("reg", *key)
                );
                client
                    .execute(&sql, &[&(*key as i64), &*value])
                    .await
                    .map_err(classify)?;
            }
            Mop::Read { key, value } => {
                let id = *key as i64;
                *value = match self.options.model {
                    TxnModel::ListAppend => {
                        let sql = format!("SELECT val FROM {} WHERE id = $1", table("txn", *key));
                        let row = client.query_opt(&sql, &[&id]).await.map_err(classify)?;
                        let text: Option<String> = row.and_then(|r| r.get(0));
                        ReadValue::List(parse_list(*key, text.as_deref())?)
                    }
                    TxnModel::RwRegister => {
                        let sql = format!("SELECT val FROM {} WHERE id = $1", table("reg", *key));
                        let row = client.query_opt(&sql, &[&id]).await.map_err(classify)?;
                        ReadValue::Register(row.and_then(|r| r.get::<_, Option<i64>>(0)))
                    }
                };
            }
        }
        Ok(())
    }
}

/// A server error is a refusal (the transaction is rolled back); anything else broke
/// the connection.
fn classify(e: tokio_postgres::Error) -> TxnError {
    match e.code() {
        Some(code) if e.as_db_error().is_some() => {
            let kind = if *code == SqlState::T_R_SERIALIZATION_FAILURE {
                "serialization-failure"
            } else if *code == SqlState::T_R_DEADLOCK_DETECTED {
                "deadlock"
            } else {
                "refused"
            };
            TxnError::Refused(format!("{kind}: {}", describe(&e)))
        }
        _ => TxnError::Broken(describe(&e)),
    }
}

/// An error with its SQLSTATE and the server's message, on one line.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

/// Waits until the cluster on `hosts` (the primary first) is ready for a test: every
/// node accepts queries, the primary has the workload's tables, every replica
/// streams from it and has replayed them. Returns what is still missing on timeout.
pub async fn wait_ready(hosts: &[String], port: u16, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut missing;
    loop {
        missing = match ready_once(hosts, port).await {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(missing);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn ready_once(hosts: &[String], port: u16) -> Result<(), String> {
    let ask = Duration::from_secs(2);
    let Some((primary_host, replicas)) = hosts.split_first() else {
        return Err("no nodes".into());
    };
    let primary = connect(primary_host, port, ask).await.map_err(|e| {
        format!(
            "the primary {primary_host} does not answer: {}",
            describe(&e)
        )
    })?;
    primary
        .batch_execute(&schema_sql())
        .await
        .map_err(|e| format!("creating the tables: {}", describe(&e)))?;
    let streaming: i64 = primary
        .query_one(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            &[],
        )
        .await
        .map_err(|e| describe(&e))?
        .get(0);
    if streaming < replicas.len() as i64 {
        return Err(format!(
            "{streaming} of {} replicas stream from the primary",
            replicas.len()
        ));
    }
    for host in replicas {
        let replica = connect(host, port, ask)
            .await
            .map_err(|e| format!("the replica {host} does not answer: {}", describe(&e)))?;
        let row = replica
            .query_one("SELECT to_regclass('reg2') IS NOT NULL", &[])
            .await
            .map_err(|e| describe(&e))?;
        if !row.get::<_, bool>(0) {
            return Err(format!(
                "the replica {host} has not replayed the tables yet"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_jepsens_tables_for_both_models() {
        let sql = schema_sql();
        for t in ["txn0", "txn2", "reg1"] {
            assert!(
                sql.contains(&format!("IF NOT EXISTS {t} (id bigint")),
                "{sql}"
            );
        }
    }
}
