//! A client for Redis behind Sentinel, as a real application talks to it: ask the
//! sentinels which node is the primary, check that node agrees (`ROLE`), send every
//! read and write there, and go back to the sentinels when the primary stops
//! answering, refuses a write, or a sentinel announces a failover on `+switch-master`
//! (see [`switches`]). A client cut off with an old primary (and with the sentinels
//! that announce the new one) keeps using it, exactly the situation in which Redis's
//! asynchronous replication loses acknowledged writes.
//!
//! Values are JSON text under the decimal key. A `cas` is one Lua script (a
//! server-side compare and set, atomic on the primary); an `append` is a Lua script
//! that extends the JSON list in place.
//!
//! `wait_replicas` > 0 follows every write with `WAIT n timeout`: the write is `ok`
//! only once `n` replicas acknowledged it, and `info` otherwise (it did apply on the
//! primary, and may or may not survive a failover). That closes the window for
//! losing acknowledged writes to a failover, but not for stale reads from a primary
//! that was cut off and does not know it has been replaced.
//!
//! Outcome mapping (the rules of [`crate::client`]): `fail` when nothing was sent to
//! the primary (no sentinel answered, the named primary is not one, it refused the
//! connection) or the primary refused before executing (`READONLY`, `NOREPLICAS`,
//! `MASTERDOWN`, `LOADING`, `BUSY`); a lost compare is `fail` too. A timeout or a
//! dropped connection after the command was sent is `info` (a read, `fail`).

mod readiness;
mod switches;

pub use readiness::{check_ready, wait_ready, Lag, NotReady, Ready, SentinelDeployment};

use crate::client::{BoxFuture, Client, ClientFactory, Target};
use crate::op::{Completion, Op, OpFn};
use ::redis::aio::MultiplexedConnection;
use ::redis::{cmd, RedisError};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use switches::Switches;

/// The name the sentinels monitor the primary under.
pub const MASTER_NAME: &str = "faultline";
/// Where each node's sentinel listens.
pub const SENTINEL_PORT: u16 = 26379;
/// Where each node's redis-server listens.
pub const REDIS_PORT: u16 = 6379;

/// Compare-and-set on the primary: `ARGV[1]` is the expected JSON text (`""` for "no
/// value yet"), `ARGV[2]` the new one. Returns 1 if it set.
const CAS_SCRIPT: &str = r#"
local v = redis.call('GET', KEYS[1])
if (v == false and ARGV[1] == '') or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Appends `ARGV[1]` (JSON text) to the JSON list held at `KEYS[1]`.
const APPEND_SCRIPT: &str = r#"
local v = redis.call('GET', KEYS[1])
if v == false then
  v = '[' .. ARGV[1] .. ']'
elseif string.sub(v, 1, 1) == '[' and string.sub(v, -1) == ']' then
  v = string.sub(v, 1, -2) .. ',' .. ARGV[1] .. ']'
else
  return redis.error_reply('WRONGVALUE key holds a value that is not a list')
end
redis.call('SET', KEYS[1], v)
return 1
"#;

/// Server errors that mean the command was refused before it ran.
const DEFINITE_CODES: &[&str] = &[
    "READONLY",
    "NOREPLICAS",
    "MASTERDOWN",
    "LOADING",
    "BUSY",
    "WRONGVALUE",
];

/// How a client finds its primary.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Per request, and for finding the primary.
    pub timeout: Duration,
    /// Replicas every write waits for (`WAIT`); 0 for Redis's default (none).
    pub wait_replicas: u32,
    pub sentinel_port: u16,
    pub master_name: String,
}

impl RedisOptions {
    pub fn new(timeout: Duration, wait_replicas: u32) -> RedisOptions {
        RedisOptions {
            timeout,
            wait_replicas,
            sentinel_port: SENTINEL_PORT,
            master_name: MASTER_NAME.to_string(),
        }
    }
}

/// Clients for a Redis-with-Sentinel deployment. Every node runs a sentinel; a client
/// asks its own node's sentinel first and then every other one the factory has seen.
/// The factory subscribes to every sentinel it has seen (once it runs inside tokio),
/// and its clones share those subscriptions; they end when the last clone is dropped.
#[derive(Clone)]
pub struct RedisClientFactory {
    options: RedisOptions,
    sentinels: Arc<Mutex<Vec<String>>>,
    switches: Arc<Switches>,
}

impl RedisClientFactory {
    pub fn new(options: RedisOptions) -> RedisClientFactory {
        let switches = Switches::new(
            options.master_name.clone(),
            options.sentinel_port,
            options.timeout,
        );
        RedisClientFactory {
            options,
            sentinels: Arc::default(),
            switches: Arc::new(switches),
        }
    }

    /// Sentinel hosts to know of up front, beyond the nodes clients are opened for.
    pub fn with_sentinels(self, hosts: impl IntoIterator<Item = String>) -> RedisClientFactory {
        {
            let mut known = self.sentinels.lock().unwrap_or_else(|e| e.into_inner());
            for h in hosts {
                if !known.contains(&h) {
                    known.push(h);
                }
            }
            self.switches.follow(&known);
        }
        self
    }
}

/// The host of a target URL (`http://10.0.0.2:6379` -> `10.0.0.2`).
fn host_of(url: &str) -> anyhow::Result<String> {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority);
    anyhow::ensure!(!host.is_empty(), "no host in node address {url:?}");
    Ok(host.to_string())
}

impl ClientFactory for RedisClientFactory {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        let own = host_of(&target.url)?;
        {
            let mut known = self.sentinels.lock().unwrap_or_else(|e| e.into_inner());
            if !known.contains(&own) {
                known.push(own.clone());
            }
            self.switches.follow(&known);
        }
        Ok(Arc::new(RedisClient {
            own,
            options: self.options.clone(),
            sentinels: Arc::clone(&self.sentinels),
            primary: tokio::sync::Mutex::new(None),
            epoch: self.switches.epoch(),
            switches: Arc::downgrade(&self.switches),
        }))
    }
}

/// The primary a client believes in, its connection to it, and the switch epoch it
/// was found in (a later announced switch makes the client look again).
struct Primary {
    addr: String,
    conn: MultiplexedConnection,
    epoch: u64,
}

/// Why a client has no primary to send to: in every case nothing was sent, so the
/// operation fails. `unreached` when no node could even be connected to (every
/// sentinel, or the primary they name, is down): the runner then backs off.
struct NoPrimary {
    message: String,
    unreached: bool,
}

impl NoPrimary {
    fn unreached(message: String) -> NoPrimary {
        NoPrimary {
            message,
            unreached: true,
        }
    }

    fn answered(message: String) -> NoPrimary {
        NoPrimary {
            message,
            unreached: false,
        }
    }
}

/// One client process's view of the deployment.
pub struct RedisClient {
    own: String,
    options: RedisOptions,
    sentinels: Arc<Mutex<Vec<String>>>,
    primary: tokio::sync::Mutex<Option<Primary>>,
    /// Advanced by the factory's subscriptions on every `+switch-master` for us.
    epoch: Arc<AtomicU64>,
    /// Weak, so that a client left over does not keep the subscriptions running.
    switches: Weak<Switches>,
}

async fn connect(addr: &str, timeout: Duration) -> Result<MultiplexedConnection, String> {
    let client = ::redis::Client::open(format!("redis://{addr}/")).map_err(|e| e.to_string())?;
    let config = ::redis::AsyncConnectionConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    match tokio::time::timeout(
        timeout,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: connect timed out")),
    }
}

/// Asks one sentinel where the primary is.
async fn ask_sentinel(
    host: &str,
    options: &RedisOptions,
    timeout: Duration,
) -> Result<String, String> {
    let addr = format!("{host}:{}", options.sentinel_port);
    let mut conn = connect(&addr, timeout).await?;
    let query = cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(&options.master_name)
        .clone();
    let answer: Option<(String, u16)> =
        match tokio::time::timeout(timeout, query.query_async(&mut conn)).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(format!("sentinel {addr}: {e}")),
            Err(_) => return Err(format!("sentinel {addr}: timed out")),
        };
    match answer {
        Some((ip, port)) => Ok(format!("{ip}:{port}")),
        None => Err(format!(
            "sentinel {addr} monitors no {:?}",
            options.master_name
        )),
    }
}

/// `ROLE`'s first word: `master` or `slave`.
async fn role(conn: &mut MultiplexedConnection, timeout: Duration) -> Result<String, String> {
    let reply: Vec<::redis::Value> =
        match tokio::time::timeout(timeout, cmd("ROLE").query_async(conn)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("ROLE timed out".into()),
        };
    reply
        .first()
        .and_then(|v| ::redis::from_redis_value::<String>(v).ok())
        .ok_or_else(|| "ROLE gave no role".into())
}

impl RedisClient {
    /// The sentinels to ask, own node first.
    fn sentinel_hosts(&self) -> Vec<String> {
        let known = self
            .sentinels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        std::iter::once(self.own.clone())
            .chain(known.into_iter().filter(|h| *h != self.own))
            .collect()
    }

    /// Finds the primary as a Sentinel client does: the first sentinel that answers
    /// names it, and the named node must say it is a primary.
    async fn discover(&self) -> Result<Primary, NoPrimary> {
        // Read before asking: a switch announced while we ask makes us ask again.
        let epoch = self.epoch.load(Ordering::SeqCst);
        let per_try = self.options.timeout.min(Duration::from_millis(500));
        let mut tried = Vec::new();
        for host in self.sentinel_hosts() {
            let addr = match ask_sentinel(&host, &self.options, per_try).await {
                Ok(a) => a,
                Err(e) => {
                    tried.push(e);
                    continue;
                }
            };
            let mut conn = connect(&addr, self.options.timeout)
                .await
                .map_err(|e| NoPrimary::unreached(format!("no-primary: {e}")))?;
            return match role(&mut conn, self.options.timeout).await {
                Ok(r) if r == "master" => Ok(Primary { addr, conn, epoch }),
                Ok(r) => Err(NoPrimary::answered(format!(
                    "no-primary: the sentinels name {addr}, which is a {r}"
                ))),
                Err(e) => Err(NoPrimary::answered(format!("no-primary: {addr}: {e}"))),
            };
        }
        Err(NoPrimary::unreached(format!(
            "no-primary: no sentinel answered ({})",
            tried.join("; ")
        )))
    }

    async fn execute(
        &self,
        conn: &mut MultiplexedConnection,
        op: &Op,
    ) -> Result<Completion, RedisError> {
        let key = op.key.to_string();
        match op.f {
            OpFn::Read | OpFn::FinalRead => {
                let text: Option<String> = cmd("GET").arg(&key).query_async(conn).await?;
                Ok(match text {
                    None => Completion::ok(Value::Null),
                    Some(t) => match serde_json::from_str(&t) {
                        Ok(v) => Completion::ok(v),
                        Err(_) => Completion::fail(
                            Value::Null,
                            format!("key {key} holds {t:?}, which faultline did not write"),
                        ),
                    },
                })
            }
            OpFn::Write => {
                let () = cmd("SET")
                    .arg(&key)
                    .arg(op.value.to_string())
                    .query_async(conn)
                    .await?;
                self.replicated(conn, op).await
            }
            OpFn::Cas => {
                let (from, to) = match &op.value {
                    Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                    other => {
                        return Ok(Completion::fail(
                            other.clone(),
                            "bad-request: cas value must be [from, to]",
                        ))
                    }
                };
                let expected = if from.is_null() {
                    String::new()
                } else {
                    from.to_string()
                };
                let set: i64 = cmd("EVAL")
                    .arg(CAS_SCRIPT)
                    .arg(1)
                    .arg(&key)
                    .arg(expected)
                    .arg(to.to_string())
                    .query_async(conn)
                    .await?;
                if set == 1 {
                    self.replicated(conn, op).await
                } else {
                    Ok(Completion::fail(op.value.clone(), "cas-mismatch"))
                }
            }
            OpFn::Append => {
                let _: i64 = cmd("EVAL")
                    .arg(APPEND_SCRIPT)
                    .arg(1)
                    .arg(&key)
                    .arg(op.value.to_string())
                    .query_async(conn)
                    .await?;
                self.replicated(conn, op).await
            }
            OpFn::Txn => Ok(Completion::no_transactions(op, "this Redis client")),
        }
    }

    /// With `wait_replicas`, a write the primary applied is `ok` only once enough
    /// replicas have it.
    async fn replicated(
        &self,
        conn: &mut MultiplexedConnection,
        op: &Op,
    ) -> Result<Completion, RedisError> {
        let n = self.options.wait_replicas;
        if n == 0 {
            return Ok(Completion::ok(op.value.clone()));
        }
        // Half the request timeout, so WAIT answers before the client gives up.
        let ms = (self.options.timeout.as_millis() / 2).max(1) as u64;
        let acked: i64 = cmd("WAIT").arg(n).arg(ms).query_async(conn).await?;
        if acked >= n as i64 {
            Ok(Completion::ok(op.value.clone()))
        } else {
            Ok(Completion::info(
                op.value.clone(),
                format!("wait: {acked} of {n} replicas acknowledged within {ms} ms"),
            ))
        }
    }

    async fn perform(&self, op: &Op) -> Completion {
        if let Some(switches) = self.switches.upgrade() {
            switches.follow(&self.sentinel_hosts());
        }
        let mut slot = self.primary.lock().await;
        // A failover was announced since this primary was found: only where this
        // operation goes changes, so dropping it here cannot change any outcome.
        if slot
            .as_ref()
            .is_some_and(|p| p.epoch != self.epoch.load(Ordering::SeqCst))
        {
            *slot = None;
        }
        if slot.is_none() {
            match tokio::time::timeout(self.options.timeout * 2, self.discover()).await {
                Ok(Ok(p)) => *slot = Some(p),
                // Nothing reached a primary: certainly not applied.
                Ok(Err(NoPrimary { message, unreached })) => {
                    return Completion {
                        unreached,
                        ..Completion::fail(op.value.clone(), message)
                    }
                }
                Err(_) => {
                    return Completion::fail(
                        op.value.clone(),
                        "no-primary: finding the primary timed out",
                    )
                }
            }
        }
        let primary = slot.as_mut().expect("just set");
        let result =
            tokio::time::timeout(self.options.timeout, self.execute(&mut primary.conn, op)).await;
        match result {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                let definite = is_definite(&e);
                let message = format!("{e} (primary {})", primary.addr);
                // A refusal that means "not the primary (any more)", or a broken
                // connection: ask the sentinels again next time.
                if e.code() != Some("WRONGVALUE") {
                    *slot = None;
                }
                if definite || op.f.is_read() {
                    Completion::fail(op.value.clone(), message)
                } else {
                    Completion::info(op.value.clone(), message)
                }
            }
            Err(_) => {
                *slot = None;
                if op.f.is_read() {
                    Completion::fail(op.value.clone(), "timeout")
                } else {
                    Completion::info(op.value.clone(), "timeout")
                }
            }
        }
    }
}

fn is_definite(e: &RedisError) -> bool {
    if e.is_connection_refusal() {
        return true;
    }
    let code = e.code().unwrap_or("");
    DEFINITE_CODES.contains(&code) || e.to_string().contains("READONLY")
}

impl Client for RedisClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

/// The index (into `hosts`) of the node most sentinels name as primary; `None` when
/// no sentinel answers or the primary is not one of `hosts`.
pub async fn primary_index(hosts: &[String], options: &RedisOptions) -> Option<usize> {
    let mut tasks = tokio::task::JoinSet::new();
    for host in hosts {
        let (host, options) = (host.clone(), options.clone());
        tasks.spawn(async move { ask_sentinel(&host, &options, options.timeout).await.ok() });
    }
    let mut votes: std::collections::BTreeMap<String, usize> = Default::default();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Some(addr)) = joined {
            *votes.entry(addr).or_default() += 1;
        }
    }
    let (addr, _) = votes.into_iter().max_by_key(|(_, n)| *n)?;
    let host = host_of(&addr).ok()?;
    hosts.iter().position(|h| *h == host)
}

#[cfg(test)]
mod tests {
    //! Against real `redis-server` and `redis-sentinel` processes on loopback ports,
    //! killed by a guard when the test ends, however it ends.

    use super::*;
    use crate::op::Outcome;
    use serde_json::json;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// Child processes killed (and reaped) when the guard drops, however the test ends.
    pub(super) struct Procs {
        pub(super) children: Vec<Child>,
        pub(super) _dir: tempfile::TempDir,
    }

    impl Drop for Procs {
        fn drop(&mut self) {
            for c in &mut self.children {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    pub(super) fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    pub(super) async fn wait_for(
        what: &str,
        deadline: Duration,
        mut check: impl AsyncFnMut() -> bool,
    ) {
        let until = Instant::now() + deadline;
        while !check().await {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A primary, `replicas` replicas and one sentinel watching them.
    async fn deployment(replicas: usize) -> (Procs, Vec<u16>, u16) {
        let dir = tempfile::tempdir().unwrap();
        let mut procs = Procs {
            children: Vec::new(),
            _dir: tempfile::tempdir().unwrap(),
        };
        let ports: Vec<u16> = (0..=replicas).map(|_| free_port()).collect();
        for (i, port) in ports.iter().enumerate() {
            let mut c = Command::new("redis-server");
            c.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            if i > 0 {
                c.args(["--replicaof", "127.0.0.1", &ports[0].to_string()]);
            }
            procs.children.push(
                c.spawn()
                    .expect("redis-server is installed (scripts/setup.sh)"),
            );
        }
        let sentinel_port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\nsentinel monitor {MASTER_NAME} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {MASTER_NAME} 1000\nsentinel failover-timeout {MASTER_NAME} 5000\n",
                ports[0]
            ),
        )
        .unwrap();
        procs.children.push(
            Command::new("redis-sentinel")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        procs._dir = dir;
        // Ready when the replicas are in sync and the sentinel names the primary.
        let primary = format!("127.0.0.1:{}", ports[0]);
        wait_for(
            "replication and the sentinel",
            Duration::from_secs(10),
            async || {
                let Ok(mut c) = connect(&primary, Duration::from_millis(200)).await else {
                    return false;
                };
                let info: String = cmd("INFO")
                    .arg("replication")
                    .query_async(&mut c)
                    .await
                    .unwrap_or_default();
                let synced = info.matches("state=online").count() == replicas;
                let options = RedisOptions {
                    sentinel_port,
                    ..RedisOptions::new(Duration::from_millis(200), 0)
                };
                synced
                    && ask_sentinel("127.0.0.1", &options, Duration::from_millis(200))
                        .await
                        .is_ok()
            },
        )
        .await;
        (procs, ports, sentinel_port)
    }

    fn factory(sentinel_port: u16, wait: u32) -> RedisClientFactory {
        RedisClientFactory::new(RedisOptions {
            sentinel_port,
            ..RedisOptions::new(Duration::from_millis(1000), wait)
        })
    }

    fn target() -> Target {
        Target {
            id: "n1".into(),
            url: "http://127.0.0.1:1".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn operations_reach_the_primary_the_sentinel_names() {
        let (_procs, ports, sentinel_port) = deployment(1).await;
        let c = factory(sentinel_port, 0).open(&target()).unwrap();
        assert_eq!(c.invoke(&Op::read(1)).await, Completion::ok(Value::Null));
        assert_eq!(c.invoke(&Op::write(1, 5)).await, Completion::ok(json!(5)));
        assert_eq!(c.invoke(&Op::read(1)).await, Completion::ok(json!(5)));
        assert_eq!(
            c.invoke(&Op::cas(1, json!(5), 6)).await,
            Completion::ok(json!([5, 6]))
        );
        assert_eq!(
            c.invoke(&Op::cas(1, json!(5), 7)).await,
            Completion::fail(json!([5, 7]), "cas-mismatch")
        );
        assert_eq!(
            c.invoke(&Op::cas(2, Value::Null, 1)).await.outcome,
            Outcome::Ok
        );
        assert_eq!(
            c.invoke(&Op::cas(2, Value::Null, 3)).await.outcome,
            Outcome::Fail
        );
        for e in [4, 2, 9] {
            assert_eq!(c.invoke(&Op::append(3, e)).await, Completion::ok(json!(e)));
        }
        assert_eq!(
            c.invoke(&Op::read(3)).await,
            Completion::ok(json!([4, 2, 9]))
        );
        // Appending to a register is refused before anything changes.
        assert_eq!(c.invoke(&Op::append(1, 1)).await.outcome, Outcome::Fail);
        // It all went to the primary: the replica has it (replication), and refuses writes.
        let mut replica = connect(&format!("127.0.0.1:{}", ports[1]), Duration::from_secs(1))
            .await
            .unwrap();
        let e = cmd("SET")
            .arg("1")
            .arg("0")
            .query_async::<()>(&mut replica)
            .await
            .unwrap_err();
        assert!(is_definite(&e), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wait_makes_a_write_ok_only_when_replicas_have_it() {
        let (_procs, _ports, sentinel_port) = deployment(1).await;
        // WAIT gets half the request timeout. The replica is online, but on a loaded
        // machine its acknowledgement can take longer than the 500 ms of the default
        // test factory, which would make this write `info` for a reason not under test.
        let patient = |wait| {
            RedisClientFactory::new(RedisOptions {
                sentinel_port,
                ..RedisOptions::new(Duration::from_secs(6), wait)
            })
        };
        let one = patient(1).open(&target()).unwrap();
        assert_eq!(one.invoke(&Op::write(1, 1)).await, Completion::ok(json!(1)));
        assert_eq!(
            one.invoke(&Op::cas(1, json!(1), 2)).await.outcome,
            Outcome::Ok
        );
        // Two replicas will never acknowledge: applied on the primary, so indeterminate.
        let two = patient(2).open(&target()).unwrap();
        let w = two.invoke(&Op::write(1, 3)).await;
        assert_eq!(w.outcome, Outcome::Info, "{w:?}");
        assert!(
            w.error.as_deref().unwrap().contains("1 of 2 replicas"),
            "{w:?}"
        );
        assert_eq!(one.invoke(&Op::read(1)).await, Completion::ok(json!(3)));
    }

    /// `SENTINEL FAILOVER`, retried until the sentinel accepts it.
    async fn fail_over(sentinel_port: u16) {
        let mut s = connect(
            &format!("127.0.0.1:{sentinel_port}"),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
        // The sentinel learns of replicas from the primary's INFO; until then it has
        // none to promote (NOGOODSLAVE).
        wait_for(
            "the sentinel to accept a failover",
            Duration::from_secs(15),
            async || {
                cmd("SENTINEL")
                    .arg("failover")
                    .arg(MASTER_NAME)
                    .query_async::<()>(&mut s)
                    .await
                    .is_ok()
            },
        )
        .await;
    }

    /// The sentinel's count of connected clients (this query's own included).
    async fn sentinel_clients(sentinel_port: u16) -> usize {
        let Ok(mut s) = connect(
            &format!("127.0.0.1:{sentinel_port}"),
            Duration::from_millis(500),
        )
        .await
        else {
            return 0;
        };
        let info: String = cmd("INFO")
            .arg("clients")
            .query_async(&mut s)
            .await
            .unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failover_is_followed_to_the_new_primary() {
        let (_procs, ports, sentinel_port) = deployment(1).await;
        // The factory is dropped at once, and with it the subscriptions: this client
        // hears no announcement and must find the failover on its own.
        let c = factory(sentinel_port, 0).open(&target()).unwrap();
        assert_eq!(c.invoke(&Op::write(1, 1)).await.outcome, Outcome::Ok);
        fail_over(sentinel_port).await;
        let new_primary = format!("127.0.0.1:{}", ports[1]);
        let options = RedisOptions {
            sentinel_port,
            ..RedisOptions::new(Duration::from_millis(500), 0)
        };
        wait_for("the failover", Duration::from_secs(15), async || {
            ask_sentinel("127.0.0.1", &options, Duration::from_millis(500))
                .await
                .ok()
                .as_deref()
                == Some(new_primary.as_str())
        })
        .await;
        wait_for(
            "the old primary to become a replica",
            Duration::from_secs(15),
            async || {
                let Ok(mut old) = connect(
                    &format!("127.0.0.1:{}", ports[0]),
                    Duration::from_millis(500),
                )
                .await
                else {
                    return false;
                };
                role(&mut old, Duration::from_millis(500))
                    .await
                    .ok()
                    .as_deref()
                    == Some("slave")
            },
        )
        .await;
        // The client still believes in the old primary, which dropped its clients when
        // it was demoted (or, had the connection survived, refuses with READONLY).
        let refused = c.invoke(&Op::write(1, 2)).await;
        assert_ne!(refused.outcome, Outcome::Ok, "{refused:?}");
        // And then it asks the sentinels again.
        assert_eq!(c.invoke(&Op::write(1, 3)).await.outcome, Outcome::Ok);
        assert_eq!(c.invoke(&Op::read(1)).await, Completion::ok(json!(3)));
        let mut p = connect(&new_primary, Duration::from_secs(1)).await.unwrap();
        assert_eq!(
            role(&mut p, Duration::from_secs(1)).await.unwrap(),
            "master"
        );
        assert_eq!(
            primary_index(&["127.0.0.2".into(), "127.0.0.1".into()], &options).await,
            Some(1)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_announced_switch_sends_the_next_operation_to_the_new_primary() {
        let (_procs, ports, sentinel_port) = deployment(1).await;
        // A second sentinel host where nothing listens: its subscription keeps
        // retrying without holding up the other.
        let f = factory(sentinel_port, 0).with_sentinels(["127.0.0.2".to_string()]);
        let c = f.open(&target()).unwrap();
        assert_eq!(c.invoke(&Op::write(1, 1)).await.outcome, Outcome::Ok);
        let before = f.switches.epoch().load(Ordering::SeqCst);
        // The subscription is up before the failover, or the announcement is missed.
        wait_for(
            "the subscription to connect",
            Duration::from_secs(10),
            async || sentinel_clients(sentinel_port).await >= 2,
        )
        .await;
        fail_over(sentinel_port).await;
        wait_for(
            "the +switch-master announcement",
            Duration::from_secs(20),
            async || f.switches.epoch().load(Ordering::SeqCst) > before,
        )
        .await;
        // Without the announcement this write would go to the old primary and fail
        // (it dropped its clients when demoted); now it goes to the new one at once.
        assert_eq!(c.invoke(&Op::write(1, 2)).await, Completion::ok(json!(2)));
        let mut p = connect(&format!("127.0.0.1:{}", ports[1]), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            role(&mut p, Duration::from_secs(1)).await.unwrap(),
            "master"
        );
        let on_new: String = cmd("GET").arg("1").query_async(&mut p).await.unwrap();
        assert_eq!(on_new, "2");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_factory_ends_its_subscriptions() {
        let (_procs, _ports, sentinel_port) = deployment(0).await;
        let f = factory(sentinel_port, 0).with_sentinels(["127.0.0.2".to_string()]);
        let c = f.open(&target()).unwrap();
        assert_eq!(f.switches.running(), 2);
        let alive = f.switches.alive_token();
        wait_for(
            "the subscription to connect",
            Duration::from_secs(10),
            async || sentinel_clients(sentinel_port).await == 2,
        )
        .await;
        let copy = f.clone();
        drop(f);
        assert_eq!(copy.switches.running(), 2, "a clone keeps them running");
        drop(copy);
        wait_for("the tasks to end", Duration::from_secs(10), async || {
            alive.strong_count() == 0
        })
        .await;
        wait_for(
            "the subscription connection to close",
            Duration::from_secs(10),
            async || sentinel_clients(sentinel_port).await == 1,
        )
        .await;
        // A client left over does not start them again.
        assert_eq!(c.invoke(&Op::write(1, 1)).await.outcome, Outcome::Ok);
        assert_eq!(alive.strong_count(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_refused_by_a_replica_is_a_definite_fail() {
        let (_procs, ports, _sentinel_port) = deployment(1).await;
        let mut replica = connect(&format!("127.0.0.1:{}", ports[1]), Duration::from_secs(1))
            .await
            .unwrap();
        for script in [CAS_SCRIPT, APPEND_SCRIPT] {
            let e = cmd("EVAL")
                .arg(script)
                .arg(1)
                .arg("1")
                .arg("")
                .arg("2")
                .query_async::<i64>(&mut replica)
                .await
                .unwrap_err();
            assert!(is_definite(&e), "{e}");
        }
    }

    #[tokio::test]
    async fn without_a_sentinel_nothing_is_sent_and_the_op_fails() {
        let c = factory(free_port(), 0).open(&target()).unwrap();
        let w = c.invoke(&Op::write(1, 1)).await;
        assert_eq!(w.outcome, Outcome::Fail, "{w:?}");
        assert!(w.unreached, "the runner backs off after it: {w:?}");
        assert!(
            w.error
                .as_deref()
                .unwrap()
                .starts_with("no-primary: no sentinel answered"),
            "{w:?}"
        );
    }

    #[test]
    fn hosts_come_from_node_urls() {
        assert_eq!(host_of("http://10.77.3.2:6379").unwrap(), "10.77.3.2");
        assert_eq!(host_of("10.0.0.1:1").unwrap(), "10.0.0.1");
        assert!(host_of("http://:1").is_err());
    }
}
