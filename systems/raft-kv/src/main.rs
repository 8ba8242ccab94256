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
use systems_common::node;
use systems_common::peers::{self, PeersError};

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

fn main() {
    node::main_with("raft-kv", run);
}

/// The cluster to bootstrap with: `--peers` (this node included, at its `--listen`
/// address), just this node when `--peers` is empty, or nobody with `--join` (the
/// leader adds it later).
fn bootstrap_membership(args: &Args, peers: &mut BTreeMap<String, String>) -> Result<Membership> {
    if args.join {
        return Ok(Membership::default());
    }
    if peers.is_empty() {
        peers.insert(args.id.clone(), args.listen.clone());
    }
    let listed: Vec<(String, String)> = peers.clone().into_iter().collect();
    match peers::position_of(&listed, &args.id, &args.listen) {
        Ok(_) => Ok(Membership::new(peers.clone())),
        Err(e @ PeersError::NotListed { .. }) => {
            bail!("{e} (use --join to start outside the configuration)")
        }
        Err(e) => Err(e.into()),
    }
}

fn run(args: Args) -> Result<()> {
    let mut peers: BTreeMap<String, String> =
        peers::parse_peers(&args.peers)?.into_iter().collect();
    if args.tick_ms == 0
        || args.election_min_ms < args.tick_ms
        || args.election_max_ms < args.election_min_ms
    {
        bail!("need 0 < --tick-ms <= --election-min-ms <= --election-max-ms");
    }
    let bootstrap = bootstrap_membership(&args, &mut peers)?;
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
    let rt = node::runtime(Some(2))?;
    let listener = rt.block_on(node::bind(&args.listen))?;
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
