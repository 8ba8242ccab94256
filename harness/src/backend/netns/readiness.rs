//! Waiting for a node to come up: `GET /health` (or a TCP connect) until it answers
//! or a deadline passes, and then an error a person can act on: which node, what the
//! last attempt said, and the end of the node's log.

use super::process::log_tail;
use super::Node;
use crate::system::Readiness;
use anyhow::{bail, Result};
use std::time::Duration;
use tokio::time::Instant;

const POLL: Duration = Duration::from_millis(25);
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1000);

/// Waits until `node` is ready, for at most `timeout`.
pub async fn wait_ready(node: &Node, timeout: Duration) -> Result<()> {
    wait_ready_while(node, timeout, || None).await
}

/// As [`wait_ready`], giving up early when `exited` reports the process is gone.
pub(crate) async fn wait_ready_while(
    node: &Node,
    timeout: Duration,
    exited: impl Fn() -> Option<String>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(ATTEMPT_TIMEOUT)
        .build()?;
    let mut last_error;
    loop {
        match probe(&client, node).await {
            Ok(()) => return Ok(()),
            Err(e) => last_error = e,
        }
        if let Some(how) = exited() {
            bail!(
                "node {} exited ({how}) before it became ready at {}; last check: {last_error}\n  log {}:\n{}",
                node.id,
                target(node),
                node.log.display(),
                log_tail(&node.log, 20)
            );
        }
        if Instant::now() + POLL >= deadline {
            bail!(
                "node {} was not ready at {} within {:.1}s; last check: {last_error}\n  log {}:\n{}",
                node.id,
                target(node),
                timeout.as_secs_f64(),
                node.log.display(),
                log_tail(&node.log, 20)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn target(node: &Node) -> String {
    match &node.readiness {
        Readiness::Http { path } => format!("{}{path}", node.url()),
        Readiness::Tcp => format!("{}:{} (tcp)", node.ip, node.port),
    }
}

async fn probe(client: &reqwest::Client, node: &Node) -> std::result::Result<(), String> {
    match &node.readiness {
        Readiness::Http { path } => {
            let url = format!("{}{path}", node.url());
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("GET {url} answered {}", r.status())),
                Err(e) => Err(format!("GET {url}: {}", error_chain(&e))),
            }
        }
        Readiness::Tcp => {
            let addr = (node.ip, node.port);
            match tokio::time::timeout(ATTEMPT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect {}:{}: {e}", node.ip, node.port)),
                Err(_) => Err(format!("connect {}:{}: timed out", node.ip, node.port)),
            }
        }
    }
}

/// reqwest's Display stops at the outermost error; the cause is what helps.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
