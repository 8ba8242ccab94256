//! dynamo-kv: the Dynamo reference system under test. See docs/systems.md.

use anyhow::Context;
use systems_common::node;

fn main() {
    node::main_with("dynamo-kv", run);
}

fn run(cli: dynamo_kv::config::Cli) -> anyhow::Result<()> {
    let cfg = dynamo_kv::config::Config::from_cli(cli)?;
    node::runtime(None)?.block_on(async move {
        let listen = cfg.listen;
        let node = dynamo_kv::node::Node::open(cfg)?;
        let listener = node::bind(&listen.to_string()).await?;
        eprintln!(
            "dynamo-kv {}: listening on {listen} (incarnation {}, {} keys, {} hints)",
            node.id(),
            node.incarnation,
            node.store.with_entries(|m| m.len()),
            node.hint_count()
        );
        tokio::spawn(dynamo_kv::gossip::run(node.clone()));
        tokio::spawn(dynamo_kv::handoff::run(node.clone()));
        if let Some(period) = node.cfg.anti_entropy {
            tokio::spawn(dynamo_kv::anti_entropy::run(node.clone(), period));
        }
        axum::serve(listener, dynamo_kv::api::router(node))
            .await
            .context("serving HTTP")
    })
}
