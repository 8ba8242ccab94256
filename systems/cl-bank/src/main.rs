//! `cl-bank`: one node of the Chandy-Lamport bank reference system under test.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use systems_common::node;

use cl_bank::config::{Args, Config};
use cl_bank::logging::log;
use cl_bank::node::Node;
use cl_bank::{api, channel};

fn main() {
    node::main_with("cl-bank", run);
}

fn run(args: Args) -> Result<()> {
    let cfg = Config::from_args(args)?;
    let rt = node::runtime(Some(2))?;
    let listener = rt.block_on(node::bind(&cfg.listen))?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(500))
        .build()?;
    let node = Node::new(cfg.clone(), http);
    log(
        "info",
        &cfg.id,
        "listening",
        json!({"addr": cfg.listen, "accounts": cfg.accounts, "initial_balance": cfg.initial_balance,
               "channel_delay_ms": cfg.channel_delay.as_millis() as u64, "bugs": cfg.bug_names()}),
    );
    rt.block_on(async move {
        for to in node.wake.keys().copied().collect::<Vec<_>>() {
            tokio::spawn(channel::run_sender(node.clone(), to));
        }
        axum::serve(listener, api::router(node)).await
    })?;
    Ok(())
}
