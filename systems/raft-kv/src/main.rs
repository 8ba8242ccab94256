//! `raft-kv`: one node of the Raft reference system under test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::json;

use raft_kv::bugs::{Bug, Bugs};
use raft_kv::core::Membership;
use raft_kv::logging::log;
use raft_kv::node::{Driver, NodeOptions, Status};
use raft_kv::server::{router, AppState};
use raft_kv::transport::Transport;

/// One node of raft-kv, a Raft key-value store speaking the faultline KV protocol.
#[derive(Parser, Debug)]
#[command(version, about, args_override_self = true)]
struct Args {
    /// This node's id; must appear in --peers unless --join is given.
    #[arg(long)]
    id: String,
    /// Address to listen on (client API, admin API and peer messages), e.g. 127.0.0.1:7001.
    #[arg(long)]
    listen: String,
    /// The initial cluster as id=addr pairs: n1=127.0.0.1:7001,n2=127.0.0.1:7002,...
    /// Only used on first boot; afterwards the membership persisted in --data-dir wins.
    #[arg(long, default_value = "")]
    peers: String,
    /// Directory for the durable state (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Start as a node outside the configuration, waiting for the leader to add it
    /// (POST /admin/members). --peers then only tells it where existing members are.
    #[arg(long)]
    join: bool,
    /// Turn on a bug (repeatable).
    #[arg(long = "bug", value_enum)]
    bugs: Vec<Bug>,
    /// Tick length in ms; the leader sends heartbeats every tick.
    #[arg(long, default_value_t = 50)]
    tick_ms: u64,
    /// Election timeout range in ms, randomized per election (rounded to ticks).
    #[arg(long, default_value_t = 300)]
    election_min_ms: u64,
    #[arg(long, default_value_t = 600)]
    election_max_ms: u64,
    /// A client request not done within this time is answered {"error":"timeout","definite":false}.
    #[arg(long, default_value_t = 2000)]
    request_timeout_ms: u64,
    /// Compact the log into a snapshot once it holds this many bytes.
    #[arg(long, default_value_t = 4 << 20)]
    snapshot_threshold_bytes: usize,
    /// Size of InstallSnapshot chunks.
    #[arg(long, default_value_t = 256 << 10)]
    snapshot_chunk_bytes: usize,
}

fn parse_peers(spec: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((id, addr)) = item.split_once('=') else {
            bail!("--peers: `{item}` is not of the form id=host:port");
        };
        if id.is_empty() || addr.is_empty() {
            bail!("--peers: `{item}` has an empty id or address");
        }
        if addr.parse::<std::net::SocketAddr>().is_err() {
            bail!("--peers: address `{addr}` of {id} is not host:port (an IP address and a port)");
        }
        if out.insert(id.to_string(), addr.to_string()).is_some() {
            bail!("--peers: {id} is listed twice");
        }
    }
    Ok(out)
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("raft-kv: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let mut peers = parse_peers(&args.peers)?;
    if args.tick_ms == 0
        || args.election_min_ms < args.tick_ms
        || args.election_max_ms < args.election_min_ms
    {
        bail!("need 0 < --tick-ms <= --election-min-ms <= --election-max-ms");
    }
    let bootstrap = if args.join {
        Membership::default()
    } else {
        match peers.get(&args.id) {
            None if peers.is_empty() => {
                peers.insert(args.id.clone(), args.listen.clone());
            }
            None => bail!("--id {} does not appear in --peers (use --join to start outside the configuration)", args.id),
            Some(a) if a != &args.listen => {
                bail!("--peers gives {} the address {a} but --listen is {}", args.id, args.listen)
            }
            Some(_) => {}
        }
        Membership::new(peers.clone())
    };
    let bugs = Bugs::new(args.bugs.clone());
    let tick = Duration::from_millis(args.tick_ms);
    let opts = NodeOptions {
        id: args.id.clone(),
        listen: args.listen.clone(),
        bootstrap,
        data_dir: args.data_dir.clone(),
        bugs: bugs.clone(),
        tick,
        election_ticks_min: (args.election_min_ms / args.tick_ms).max(2) as u32,
        election_ticks_max: (args.election_max_ms / args.tick_ms).max(2) as u32,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        snapshot_threshold_bytes: args.snapshot_threshold_bytes,
        snapshot_chunk_bytes: args.snapshot_chunk_bytes.max(1),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(&args.listen))
        .with_context(|| format!("--listen {}: cannot bind", args.listen))?;
    let peer_timeout = Duration::from_millis(args.request_timeout_ms.max(500));
    peers.remove(&args.id);
    let transport = Transport::new(
        args.id.clone(),
        args.listen.clone(),
        peers,
        rt.handle().clone(),
        peer_timeout,
    );
    let status = Arc::new(RwLock::new(Status {
        id: args.id.clone(),
        role: "follower",
        ..Default::default()
    }));
    let driver = Driver::open(opts, transport.clone(), status.clone())
        .with_context(|| format!("--data-dir {}", args.data_dir.display()))?;
    let (events_tx, events_rx) = mpsc::channel();
    let driver_thread = std::thread::Builder::new()
        .name("raft".into())
        .spawn(move || driver.run(events_rx))?;
    log(
        "info",
        &args.id,
        "listening",
        json!({"addr": args.listen, "bugs": bugs.names(), "join": args.join}),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(args.request_timeout_ms * 11 + 1000))
        .connect_timeout(Duration::from_millis(500))
        .build()?;
    let state = AppState {
        id: args.id.clone(),
        events: events_tx,
        status,
        transport,
        client,
        bugs,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
    };
    rt.block_on(async move { axum::serve(listener, router(state)).await })?;
    drop(driver_thread);
    Ok(())
}
