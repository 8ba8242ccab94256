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
use crate::op::{Completion, Op, OpFn};
use crate::txn::{self, Mop, ReadValue, TxnModel};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// The port faultline's PostgreSQL nodes listen on.
pub const POSTGRES_PORT: u16 = 5432;
/// Tables per model, as in Jepsen's test.
pub const TABLES: u64 = 3;

/// The isolation level every transaction asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    #[default]
    Serializable,
    RepeatableRead,
    ReadCommitted,
}

impl Isolation {
    pub const NAMES: &'static [&'static str] =
        &["serializable", "repeatable-read", "read-committed"];

    pub fn name(self) -> &'static str {
        match self {
            Isolation::Serializable => "serializable",
            Isolation::RepeatableRead => "repeatable-read",
            Isolation::ReadCommitted => "read-committed",
        }
    }

    /// SQL's name of the level.
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::Serializable => "SERIALIZABLE",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::ReadCommitted => "READ COMMITTED",
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "serializable" => Ok(Isolation::Serializable),
            "repeatable-read" => Ok(Isolation::RepeatableRead),
            "read-committed" => Ok(Isolation::ReadCommitted),
            other => Err(format!(
                "unknown isolation level `{other}` (known: {})",
                Isolation::NAMES.join(", ")
            )),
        }
    }
}

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

/// `host` and `port` of a target's `http://ip:port` address.
fn endpoint(target: &Target) -> (String, u16) {
    let rest = target
        .url
        .split_once("://")
        .map_or(target.url.as_str(), |(_, r)| r);
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap_or(POSTGRES_PORT)),
        None => (rest.to_string(), POSTGRES_PORT),
    }
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
            node: Conn::new(endpoint(target)),
            primary: Conn::new(endpoint(&primary)),
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

/// How a transaction went wrong, before the outcome is decided.
enum TxnError {
    /// No connection could be opened: nothing was sent.
    Unreached(String),
    /// The server answered with an error: the transaction is rolled back.
    Refused(String),
    /// The connection broke.
    Broken(String),
    /// A read returned something that is not a list or register of integers.
    Garbled(String),
}

impl Client for PgClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

impl PgClient {
    async fn perform(&self, op: &Op) -> Completion {
        if op.f != OpFn::Txn {
            return Completion::fail(
                op.value.clone(),
                format!("unsupported: the PostgreSQL client runs transactions (txn-append, txn-register), not {}", op.f),
            );
        }
        let mut mops = match txn::from_json(&op.value) {
            Ok(m) => m,
            Err(e) => return Completion::fail(op.value.clone(), format!("bad-request: {e}")),
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

/// How a transaction ended: `ok` with its reads; `fail` when it certainly had no
/// effect (refused by the server, which rolled it back; broken before `COMMIT` was
/// sent; never sent; or read-only); `info` when the connection broke while `COMMIT`
/// was in flight.
fn outcome(
    op: &Op,
    result: Result<Vec<Mop>, TxnError>,
    in_commit: bool,
    read_only: bool,
) -> Completion {
    match result {
        Ok(mops) => Completion::ok(txn::to_json(&mops)),
        Err(TxnError::Unreached(e)) => Completion::unreached(op.value.clone(), e),
        Err(TxnError::Refused(e)) | Err(TxnError::Garbled(e)) => {
            Completion::fail(op.value.clone(), e)
        }
        Err(TxnError::Broken(e)) if in_commit && !read_only => Completion::info(
            op.value.clone(),
            format!("connection lost during COMMIT: {e}"),
        ),
        Err(TxnError::Broken(e)) => Completion::fail(op.value.clone(), e),
    }
}

/// A list's text (`"1,2,3"`) as its elements; no row or no text is the empty list.
fn parse_list(key: u64, text: Option<&str>) -> Result<Vec<i64>, TxnError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|e| e.trim().parse::<i64>())
        .collect::<Result<Vec<i64>, _>>()
        .map_err(|_| {
            TxnError::Garbled(format!(
                "malformed-response: key {key} holds {text:?}, not a list of integers"
            ))
        })
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
    fn isolation_levels_parse_and_name_their_sql() {
        for name in Isolation::NAMES {
            let level: Isolation = name.parse().unwrap();
            assert_eq!(level.name(), *name);
        }
        assert_eq!(Isolation::RepeatableRead.sql(), "REPEATABLE READ");
        let e = "snapshot".parse::<Isolation>().unwrap_err();
        assert!(e.contains("known: serializable"), "{e}");
    }

    #[test]
    fn aborts_fail_and_only_a_commit_in_doubt_of_a_writing_transaction_is_info() {
        use crate::op::Outcome;
        let write = Op::txn(&[Mop::Append { key: 1, value: 2 }]);
        let broken = || Err(TxnError::Broken("connection reset".into()));
        let refused = Err(TxnError::Refused("serialization-failure: 40001".into()));
        let c = outcome(&write, refused, true, false);
        assert_eq!((c.outcome, c.value), (Outcome::Fail, write.value.clone()));
        assert_eq!(
            outcome(&write, broken(), false, false).outcome,
            Outcome::Fail
        );
        let c = outcome(&write, broken(), true, false);
        assert_eq!(c.outcome, Outcome::Info);
        assert!(c.error.unwrap().contains("during COMMIT"));
        assert_eq!(outcome(&write, broken(), true, true).outcome, Outcome::Fail);
        let c = outcome(
            &write,
            Err(TxnError::Unreached("connect".into())),
            false,
            false,
        );
        assert!(c.outcome == Outcome::Fail && c.unreached);
        let read = vec![Mop::Read {
            key: 1,
            value: ReadValue::List(vec![2]),
        }];
        let c = outcome(&write, Ok(read), true, false);
        assert_eq!(c.value.to_string(), r#"[["r",1,[2]]]"#);
    }

    #[test]
    fn lists_are_read_from_comma_separated_text() {
        assert_eq!(parse_list(1, None).ok(), Some(vec![]));
        assert_eq!(parse_list(1, Some("")).ok(), Some(vec![]));
        assert_eq!(parse_list(1, Some("3,1,2")).ok(), Some(vec![3, 1, 2]));
        match parse_list(7, Some("1,x")) {
            Err(TxnError::Garbled(e)) => assert!(e.contains("key 7"), "{e}"),
            _ => panic!("a garbled list must be refused"),
        }
    }

    #[test]
    fn endpoints_come_from_the_targets_address() {
        let t = |url: &str| Target {
            id: "n1".into(),
            url: url.into(),
        };
        assert_eq!(
            endpoint(&t("http://10.1.2.3:5432")),
            ("10.1.2.3".into(), 5432)
        );
        assert_eq!(endpoint(&t("10.1.2.3")), ("10.1.2.3".into(), 5432));
    }

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
