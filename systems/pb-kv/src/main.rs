//! `pb-kv`: one node of the primary-backup reference system under test.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use systems_common::node;

use pb_kv::config::{Args, Config};
use pb_kv::logging::log;
use pb_kv::node::Node;
use pb_kv::replication::{run_link, Link};
use pb_kv::wal::Wal;
use pb_kv::{api, failover};

fn main() {
    node::main_with("pb-kv", run);
}

fn run(args: Args) -> Result<()> {
    let cfg = Config::from_args(args)?;
    let rt = node::runtime(Some(2))?;
    let _guard = rt.enter();
    let listener = rt.block_on(node::bind(&cfg.listen))?;
    let (wal, rec) = Wal::open(&cfg.data_dir)
        .with_context(|| format!("--data-dir {}", cfg.data_dir.display()))?;
    let links = cfg
        .others()
        .map(|(id, addr)| Link::new(id, addr))
        .collect::<Vec<_>>();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(
            cfg.peer_timeout.as_millis().min(1000) as u64,
        ))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()?;
    let node = Node::new(cfg.clone(), wal, rec, links.clone(), http)?;
    let p = node.position();
    log(
        "info",
        &cfg.id,
        "listening",
        json!({"addr": cfg.listen, "epoch": p.epoch, "seq": p.seq, "role": p.role,
               "replicate": format!("{:?}", cfg.replicate), "ack": format!("{:?}", cfg.ack), "failover": format!("{:?}", cfg.failover)}),
    );
    rt.block_on(async move {
        for link in links {
            tokio::spawn(run_link(node.clone(), link));
        }
        tokio::spawn(failover::recover(node.clone()));
        tokio::spawn(failover::monitor(node.clone()));
        axum::serve(listener, api::router(node)).await
    })?;
    Ok(())
}
