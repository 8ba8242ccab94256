//! Whether a Redis + Sentinel deployment is ready to do its job, which is more than
//! every process accepting connections.
//!
//! A replica that has not finished its first sync holds nothing; a sentinel that has
//! not yet learned of a replica cannot promote it. A fault injected before both are in
//! place tests a deployment that was never whole: a killed primary is then replaced by
//! an empty replica, or by nobody, and the "lost writes" are the test's doing. So the
//! deployment is ready when
//! - the sentinels all answer and name one and the same primary, which is one of the
//!   servers, says it is a primary, and is not flagged down by any sentinel;
//! - every other server is a replica of that primary with `master_link_status:up`
//!   (`INFO replication`): its initial sync is done;
//! - every sentinel lists every replica (`SENTINEL REPLICAS`), none flagged `s_down`,
//!   `o_down` or `disconnected`.
//!
//! [`check_ready`] checks all of it once and says what is missing, for the log of a
//! readiness wait that polls it.

use super::{connect, RedisOptions};
use ::redis::aio::MultiplexedConnection;
use ::redis::{cmd, Cmd, FromRedisValue};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

/// Where the processes of a Redis + Sentinel deployment listen, each as `ip:port`
/// exactly as Redis reports addresses (an IP address, not a host name), so that the
/// sentinels' answers can be matched against them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelDeployment {
    /// Every redis-server.
    pub servers: Vec<String>,
    /// Every redis-sentinel.
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the primary under.
    pub master_name: String,
}

impl SentinelDeployment {
    /// The harness's layout: every node's IP runs a redis-server on `redis_port` and a
    /// sentinel on `options.sentinel_port`, monitoring `options.master_name`.
    pub fn on_hosts(hosts: &[String], redis_port: u16, options: &RedisOptions) -> Self {
        SentinelDeployment {
            servers: hosts.iter().map(|h| format!("{h}:{redis_port}")).collect(),
            sentinels: hosts
                .iter()
                .map(|h| format!("{h}:{}", options.sentinel_port))
                .collect(),
            master_name: options.master_name.clone(),
        }
    }
}

/// A deployment found ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The primary every sentinel names, `ip:port`.
    pub primary: String,
}

/// One thing that keeps the deployment from being ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lag {
    /// A server did not answer `INFO replication`.
    ServerUnreachable { server: String, error: String },
    /// A server other than the primary is not a replica with its link up: its first
    /// sync is not done (`link` is its `master_link_status`, or its role if it is not
    /// a replica).
    ReplicaNotSynced { replica: String, link: String },
    /// A replica follows some other server than the primary the sentinels name.
    ReplicaOfAnother {
        replica: String,
        follows: String,
        primary: String,
    },
    /// The server the sentinels name does not say it is a primary.
    PrimaryNotPrimary { primary: String, role: String },
    /// The sentinels name a primary that is none of the servers.
    PrimaryUnknown { primary: String },
    /// A sentinel did not answer.
    SentinelUnreachable { sentinel: String, error: String },
    /// A sentinel names no primary (it does not monitor the master name).
    SentinelNamesNoPrimary { sentinel: String },
    /// The sentinels name different primaries: sentinel -> the primary it names.
    SentinelsDisagree { named: BTreeMap<String, String> },
    /// A sentinel flags the primary down.
    PrimaryFlaggedDown {
        sentinel: String,
        primary: String,
        flags: String,
    },
    /// A sentinel does not list a replica: it could not promote it.
    SentinelMissesReplica { sentinel: String, replica: String },
    /// A sentinel lists a replica as down or disconnected.
    ReplicaFlaggedDown {
        sentinel: String,
        replica: String,
        flags: String,
    },
}

impl fmt::Display for Lag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lag::ServerUnreachable { server, error } => {
                write!(f, "server {server} does not answer: {error}")
            }
            Lag::ReplicaNotSynced { replica, link } => {
                write!(
                    f,
                    "replica {replica} is not in sync (master_link_status: {link})"
                )
            }
            Lag::ReplicaOfAnother {
                replica,
                follows,
                primary,
            } => write!(
                f,
                "replica {replica} follows {follows}, not the primary {primary}"
            ),
            Lag::PrimaryNotPrimary { primary, role } => {
                write!(f, "the sentinels' primary {primary} says it is a {role}")
            }
            Lag::PrimaryUnknown { primary } => {
                write!(
                    f,
                    "the sentinels name {primary}, which is none of the servers"
                )
            }
            Lag::SentinelUnreachable { sentinel, error } => {
                write!(f, "sentinel {sentinel} does not answer: {error}")
            }
            Lag::SentinelNamesNoPrimary { sentinel } => {
                write!(f, "sentinel {sentinel} names no primary")
            }
            Lag::SentinelsDisagree { named } => {
                let pairs: Vec<String> = named.iter().map(|(s, p)| format!("{s} -> {p}")).collect();
                write!(
                    f,
                    "the sentinels name different primaries ({})",
                    pairs.join(", ")
                )
            }
            Lag::PrimaryFlaggedDown {
                sentinel,
                primary,
                flags,
            } => write!(f, "sentinel {sentinel} flags the primary {primary} {flags}"),
            Lag::SentinelMissesReplica { sentinel, replica } => {
                write!(f, "sentinel {sentinel} does not know replica {replica}")
            }
            Lag::ReplicaFlaggedDown {
                sentinel,
                replica,
                flags,
            } => write!(f, "sentinel {sentinel} flags replica {replica} {flags}"),
        }
    }
}

/// Everything that keeps a deployment from being ready (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    pub lags: Vec<Lag>,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all: Vec<String> = self.lags.iter().map(Lag::to_string).collect();
        write!(f, "not ready: {}", all.join("; "))
    }
}

impl std::error::Error for NotReady {}

/// What one sentinel says about the deployment.
struct SentinelView {
    primary: Option<String>,
    primary_flags: String,
    /// Replica `ip:port` -> its flags.
    replicas: BTreeMap<String, String>,
}

/// What one server says about itself (`INFO replication`).
struct ServerView {
    role: String,
    /// `master_host:master_port`, for a replica.
    follows: Option<String>,
    link: Option<String>,
}

/// Checks once whether `deployment` is ready (see the module documentation); every
/// request is bounded by `timeout`, and all processes are asked at once.
pub async fn check_ready(
    deployment: &SentinelDeployment,
    timeout: Duration,
) -> Result<Ready, NotReady> {
    let mut lags = Vec::new();
    let sentinels = ask_all(&deployment.sentinels, |addr| {
        sentinel_view(addr, deployment.master_name.clone(), timeout)
    })
    .await;
    let servers = ask_all(&deployment.servers, |addr| server_view(addr, timeout)).await;
    let sentinel_views = answered(sentinels, &mut lags, |sentinel, error| {
        Lag::SentinelUnreachable { sentinel, error }
    });
    let primary = agreed_primary(&sentinel_views, &mut lags);
    let server_views = answered(servers, &mut lags, |server, error| Lag::ServerUnreachable {
        server,
        error,
    });
    if let Some(primary) = &primary {
        check_servers(deployment, primary, &server_views, &mut lags);
        check_sentinels_know_replicas(deployment, primary, &sentinel_views, &mut lags);
    }
    match primary {
        Some(primary) if lags.is_empty() => Ok(Ready { primary }),
        _ => Err(NotReady { lags }),
    }
}

/// The views of the processes that answered, by address; a lag for each that did not.
fn answered<T>(
    answers: Vec<(String, Result<T, String>)>,
    lags: &mut Vec<Lag>,
    unreachable: impl Fn(String, String) -> Lag,
) -> BTreeMap<String, T> {
    let mut views = BTreeMap::new();
    for (addr, answer) in answers {
        match answer {
            Ok(view) => {
                views.insert(addr, view);
            }
            Err(error) => lags.push(unreachable(addr, error)),
        }
    }
    views
}

/// How often [`wait_ready`] checks.
const POLL: Duration = Duration::from_millis(100);

/// Checks until the deployment is ready or `within` has passed; on timeout, what the
/// last check found missing. Each check's requests get at most half a second.
pub async fn wait_ready(
    deployment: &SentinelDeployment,
    within: Duration,
) -> Result<Ready, NotReady> {
    let deadline = tokio::time::Instant::now() + within;
    let per_check = within.min(Duration::from_millis(500));
    loop {
        let not_ready = match check_ready(deployment, per_check).await {
            Ok(ready) => return Ok(ready),
            Err(n) => n,
        };
        if tokio::time::Instant::now() + POLL >= deadline {
            return Err(not_ready);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Asks every address at once, each in its own task; the answers in the order of
/// `addrs`.
async fn ask_all<T, F, Fut>(addrs: &[String], ask: F) -> Vec<(String, Result<T, String>)>
where
    T: Send + 'static,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (i, addr) in addrs.iter().enumerate() {
        let asked = ask(addr.clone());
        tasks.spawn(async move { (i, asked.await) });
    }
    let mut answers: Vec<(String, Result<T, String>)> = addrs
        .iter()
        .map(|a| (a.clone(), Err("no answer".to_string())))
        .collect();
    // A task that panicked leaves its address at "no answer".
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, answer)) = joined {
            answers[i].1 = answer;
        }
    }
    answers
}

/// The primary all answering sentinels name, or `None` with the reason recorded.
fn agreed_primary(views: &BTreeMap<String, SentinelView>, lags: &mut Vec<Lag>) -> Option<String> {
    let mut named = BTreeMap::new();
    for (sentinel, view) in views {
        match &view.primary {
            Some(p) => {
                named.insert(sentinel.clone(), p.clone());
            }
            None => lags.push(Lag::SentinelNamesNoPrimary {
                sentinel: sentinel.clone(),
            }),
        }
    }
    let mut distinct: Vec<&String> = named.values().collect();
    distinct.sort();
    distinct.dedup();
    match distinct.as_slice() {
        [one] => {
            let primary = (*one).clone();
            for (sentinel, view) in views {
                if is_down(&view.primary_flags) {
                    lags.push(Lag::PrimaryFlaggedDown {
                        sentinel: sentinel.clone(),
                        primary: primary.clone(),
                        flags: view.primary_flags.clone(),
                    });
                }
            }
            Some(primary)
        }
        [] => None,
        _ => {
            lags.push(Lag::SentinelsDisagree { named });
            None
        }
    }
}

/// The primary is a server and says so; every other server is its replica, in sync.
fn check_servers(
    deployment: &SentinelDeployment,
    primary: &str,
    views: &BTreeMap<String, ServerView>,
    lags: &mut Vec<Lag>,
) {
    if !deployment.servers.iter().any(|s| s == primary) {
        lags.push(Lag::PrimaryUnknown {
            primary: primary.to_string(),
        });
    }
    for (server, view) in views {
        if server == primary {
            if view.role != "master" {
                lags.push(Lag::PrimaryNotPrimary {
                    primary: primary.to_string(),
                    role: view.role.clone(),
                });
            }
            continue;
        }
        if view.role != "slave" {
            lags.push(Lag::ReplicaNotSynced {
                replica: server.clone(),
                link: format!("none, it is a {}", view.role),
            });
            continue;
        }
        let follows = view.follows.clone().unwrap_or_default();
        if follows != primary {
            lags.push(Lag::ReplicaOfAnother {
                replica: server.clone(),
                follows,
                primary: primary.to_string(),
            });
        }
        let link = view.link.as_deref().unwrap_or("absent");
        if link != "up" {
            lags.push(Lag::ReplicaNotSynced {
                replica: server.clone(),
                link: link.to_string(),
            });
        }
    }
}

/// Every sentinel lists every replica, none flagged down.
fn check_sentinels_know_replicas(
    deployment: &SentinelDeployment,
    primary: &str,
    views: &BTreeMap<String, SentinelView>,
    lags: &mut Vec<Lag>,
) {
    for (sentinel, view) in views {
        for replica in deployment.servers.iter().filter(|s| *s != primary) {
            match view.replicas.get(replica) {
                None => lags.push(Lag::SentinelMissesReplica {
                    sentinel: sentinel.clone(),
                    replica: replica.clone(),
                }),
                Some(flags) if is_down(flags) || flags.contains("disconnected") => {
                    lags.push(Lag::ReplicaFlaggedDown {
                        sentinel: sentinel.clone(),
                        replica: replica.clone(),
                        flags: flags.clone(),
                    })
                }
                Some(_) => {}
            }
        }
    }
}

/// Sentinel's flags for a subjectively or objectively down instance.
fn is_down(flags: &str) -> bool {
    flags.split(',').any(|f| f == "s_down" || f == "o_down")
}

async fn query<T: FromRedisValue>(
    conn: &mut MultiplexedConnection,
    command: &Cmd,
    timeout: Duration,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, command.query_async(conn)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

async fn sentinel_view(
    addr: String,
    name: String,
    timeout: Duration,
) -> Result<SentinelView, String> {
    let mut conn = connect(&addr, timeout).await?;
    let primary: Option<(String, u16)> = query(
        &mut conn,
        cmd("SENTINEL").arg("get-master-addr-by-name").arg(&name),
        timeout,
    )
    .await?;
    let Some((ip, port)) = primary else {
        return Ok(SentinelView {
            primary: None,
            primary_flags: String::new(),
            replicas: BTreeMap::new(),
        });
    };
    let master: HashMap<String, String> =
        query(&mut conn, cmd("SENTINEL").arg("master").arg(&name), timeout).await?;
    let listed: Vec<HashMap<String, String>> = query(
        &mut conn,
        cmd("SENTINEL").arg("replicas").arg(&name),
        timeout,
    )
    .await?;
    let replicas = listed
        .into_iter()
        .filter_map(|r| {
            let addr = format!("{}:{}", r.get("ip")?, r.get("port")?);
            Some((addr, r.get("flags").cloned().unwrap_or_default()))
        })
        .collect();
    Ok(SentinelView {
        primary: Some(format!("{ip}:{port}")),
        primary_flags: master.get("flags").cloned().unwrap_or_default(),
        replicas,
    })
}

async fn server_view(addr: String, timeout: Duration) -> Result<ServerView, String> {
    let mut conn = connect(&addr, timeout).await?;
    let info: String = query(&mut conn, cmd("INFO").arg("replication"), timeout).await?;
    let fields: HashMap<&str, &str> = info
        .lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .collect();
    let role = fields.get("role").copied().unwrap_or("unknown").to_string();
    let follows = match (fields.get("master_host"), fields.get("master_port")) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        _ => None,
    };
    Ok(ServerView {
        role,
        follows,
        link: fields.get("master_link_status").map(|s| s.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinel(primary: Option<&str>, replicas: &[(&str, &str)]) -> SentinelView {
        SentinelView {
            primary: primary.map(String::from),
            primary_flags: "master".into(),
            replicas: replicas
                .iter()
                .map(|(a, f)| (a.to_string(), f.to_string()))
                .collect(),
        }
    }

    fn deployment() -> SentinelDeployment {
        SentinelDeployment {
            servers: vec!["10.0.0.1:6379".into(), "10.0.0.2:6379".into()],
            sentinels: vec!["10.0.0.1:26379".into(), "10.0.0.2:26379".into()],
            master_name: "fl".into(),
        }
    }

    #[test]
    fn the_harness_layout_puts_a_server_and_a_sentinel_on_every_host() {
        let options = RedisOptions::new(Duration::from_secs(1), 0);
        let d = SentinelDeployment::on_hosts(&["10.0.0.1".into()], 6379, &options);
        assert_eq!(d.servers, vec!["10.0.0.1:6379"]);
        assert_eq!(
            d.sentinels,
            vec![format!("10.0.0.1:{}", options.sentinel_port)]
        );
        assert_eq!(d.master_name, options.master_name);
    }

    #[test]
    fn sentinels_naming_different_primaries_are_not_ready() {
        let mut views = BTreeMap::new();
        views.insert("s1".to_string(), sentinel(Some("10.0.0.1:6379"), &[]));
        views.insert("s2".to_string(), sentinel(Some("10.0.0.2:6379"), &[]));
        views.insert("s3".to_string(), sentinel(None, &[]));
        let mut lags = Vec::new();
        assert_eq!(agreed_primary(&views, &mut lags), None);
        assert_eq!(
            lags[0],
            Lag::SentinelNamesNoPrimary {
                sentinel: "s3".into()
            }
        );
        let Lag::SentinelsDisagree { named } = &lags[1] else {
            panic!("{lags:?}")
        };
        assert_eq!(named.len(), 2);
        assert!(lags[1].to_string().contains("s1 -> 10.0.0.1:6379"));
    }

    #[test]
    fn a_sentinel_that_misses_or_flags_a_replica_is_named() {
        let d = deployment();
        let mut views = BTreeMap::new();
        views.insert("s1".to_string(), sentinel(Some("10.0.0.1:6379"), &[]));
        views.insert(
            "s2".to_string(),
            sentinel(Some("10.0.0.1:6379"), &[("10.0.0.2:6379", "slave,s_down")]),
        );
        let mut lags = Vec::new();
        check_sentinels_know_replicas(&d, "10.0.0.1:6379", &views, &mut lags);
        assert_eq!(
            lags,
            vec![
                Lag::SentinelMissesReplica {
                    sentinel: "s1".into(),
                    replica: "10.0.0.2:6379".into()
                },
                Lag::ReplicaFlaggedDown {
                    sentinel: "s2".into(),
                    replica: "10.0.0.2:6379".into(),
                    flags: "slave,s_down".into()
                }
            ]
        );
        let mut lags = Vec::new();
        views.insert(
            "s1".to_string(),
            sentinel(Some("10.0.0.1:6379"), &[("10.0.0.2:6379", "slave")]),
        );
        views.remove("s2");
        check_sentinels_know_replicas(&d, "10.0.0.1:6379", &views, &mut lags);
        assert_eq!(lags, vec![]);
    }

    #[test]
    fn a_replica_must_follow_the_primary_with_its_link_up() {
        let d = deployment();
        let replica = |follows: &str, link: &str| ServerView {
            role: "slave".into(),
            follows: Some(follows.into()),
            link: Some(link.into()),
        };
        let primary = ServerView {
            role: "master".into(),
            follows: None,
            link: None,
        };
        let mut views = BTreeMap::new();
        views.insert("10.0.0.1:6379".to_string(), primary);
        views.insert(
            "10.0.0.2:6379".to_string(),
            replica("10.0.0.9:6379", "down"),
        );
        let mut lags = Vec::new();
        check_servers(&d, "10.0.0.1:6379", &views, &mut lags);
        assert_eq!(lags.len(), 2, "{lags:?}");
        assert!(
            matches!(&lags[0], Lag::ReplicaOfAnother { follows, .. } if follows == "10.0.0.9:6379")
        );
        assert_eq!(
            lags[1].to_string(),
            "replica 10.0.0.2:6379 is not in sync (master_link_status: down)"
        );
        views.insert("10.0.0.2:6379".to_string(), replica("10.0.0.1:6379", "up"));
        let mut lags = Vec::new();
        check_servers(&d, "10.0.0.1:6379", &views, &mut lags);
        assert_eq!(lags, vec![]);
        // A primary the sentinels name that is not a server is never ready.
        check_servers(&d, "10.0.0.7:6379", &views, &mut lags);
        assert!(lags.contains(&Lag::PrimaryUnknown {
            primary: "10.0.0.7:6379".into()
        }));
    }

    /// A redis-server on a loopback port, a replica of `replica_of` if given.
    fn spawn_server(
        dir: &std::path::Path,
        port: u16,
        replica_of: Option<u16>,
    ) -> std::process::Child {
        let mut c = std::process::Command::new("redis-server");
        c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", dir.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(p) = replica_of {
            c.args(["--replicaof", "127.0.0.1", &p.to_string()]);
        }
        c.spawn()
            .expect("redis-server is installed (scripts/setup.sh)")
    }

    /// A sentinel monitoring `primary` (quorum 2) and told of `replicas` up front, as
    /// the harness's sentinels are; its down-after is long so that it never fails over
    /// while a test keeps the primary absent.
    fn spawn_sentinel(
        dir: &std::path::Path,
        port: u16,
        primary: u16,
        replicas: &[u16],
    ) -> std::process::Child {
        let conf = dir.join(format!("sentinel-{port}.conf"));
        let mut text = format!(
            "port {port}\nbind 127.0.0.1\nsentinel monitor ready-test 127.0.0.1 {primary} 2\n\
             sentinel down-after-milliseconds ready-test 60000\n"
        );
        for r in replicas {
            text.push_str(&format!(
                "sentinel known-replica ready-test 127.0.0.1 {r}\n"
            ));
        }
        std::fs::write(&conf, text).unwrap();
        std::process::Command::new("redis-sentinel")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-sentinel is installed (scripts/setup.sh)")
    }

    /// Against real processes on loopback: two replicas and two sentinels start before
    /// their primary exists, so the replicas certainly cannot be in sync yet; once the
    /// primary is up the deployment becomes ready; a killed replica makes it unready.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deployment_is_ready_only_once_its_replicas_have_synced() {
        use crate::redis::tests::{free_port, wait_for, Procs};
        let dir = tempfile::tempdir().unwrap();
        let servers: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let sentinels: Vec<u16> = (0..2).map(|_| free_port()).collect();
        let d = SentinelDeployment {
            servers: servers.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            sentinels: sentinels.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            master_name: "ready-test".into(),
        };
        let mut procs = Procs {
            children: Vec::new(),
            _dir: tempfile::tempdir().unwrap(),
        };
        for replica in &servers[1..] {
            let child = spawn_server(dir.path(), *replica, Some(servers[0]));
            procs.children.push(child);
        }
        for port in &sentinels {
            let child = spawn_sentinel(dir.path(), *port, servers[0], &servers[1..]);
            procs.children.push(child);
        }
        let timeout = Duration::from_millis(500);
        // Every process but the primary answers, and the replicas report their link down.
        wait_for("the replicas and sentinels to answer", Duration::from_secs(10), async || {
            match check_ready(&d, timeout).await {
                Err(NotReady { lags }) => !lags.iter().any(|l| {
                    matches!(l, Lag::SentinelUnreachable { .. })
                        || matches!(l, Lag::ServerUnreachable { server, .. } if *server != d.servers[0])
                }),
                Ok(r) => panic!("ready without a primary: {r:?}"),
            }
        })
        .await;
        let lags = check_ready(&d, timeout).await.unwrap_err().lags;
        for replica in &d.servers[1..] {
            assert!(
                lags.iter()
                    .any(|l| matches!(l, Lag::ReplicaNotSynced { replica: r, .. } if r == replica)),
                "{replica}: {lags:?}"
            );
        }
        procs
            .children
            .push(spawn_server(dir.path(), servers[0], None));
        // Once the primary is up, the replicas sync and it is ready (every sentinel knew
        // the replicas from the start).
        assert_eq!(
            wait_ready(&d, Duration::from_secs(30)).await,
            Ok(Ready {
                primary: d.servers[0].clone()
            })
        );
        // A killed replica: not ready, and the reason names it, also when waiting.
        let mut replica = procs.children.remove(1);
        replica.kill().unwrap();
        replica.wait().unwrap();
        let lags = wait_ready(&d, Duration::from_millis(300))
            .await
            .unwrap_err()
            .lags;
        assert!(
            lags.iter().any(
                |l| matches!(l, Lag::ServerUnreachable { server, .. } if *server == d.servers[2])
            ),
            "{lags:?}"
        );
    }
}
