//! netem, where the kernel has it: delay and reordering on a sender's egress.
//!
//! Only the chosen destinations are affected: a `prio` root qdisc with a fourth band
//! that normal traffic never maps to, netem on that band, and one u32 filter per
//! destination steering its packets there. Healing deletes the root qdisc.
//! One netem fault per sender namespace at a time.
//!
//! `tc` and `ip` run through [`ClusterControl::run_in_node`]: in the sender's
//! namespace here, or on the sender's host for a remote backend, where the filters
//! (test hosts' addresses only) keep the controller's own traffic out of netem.

use crate::control::{ClusterControl, NodeCommand, NodeRef};
use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;

/// Whether the qdiscs faultline's netem recipe needs (`prio` and `netem`) work, tried
/// in a private, throwaway namespace (a thread that unshares its network namespace; it
/// vanishes with the thread).
pub fn available() -> Result<bool> {
    let out = std::thread::scope(|s| {
        s.spawn(|| -> Result<std::process::Output> {
            // SAFETY: changes only this thread's namespace; the thread ends right after.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .context("unshare(CLONE_NEWNET) (needs root)");
            }
            let mut child = std::process::Command::new(crate::netns::tool("tc"))
                .args(["-batch", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .context("running tc (package iproute2)")?;
            {
                use std::io::Write;
                let mut stdin = child.stdin.take().expect("piped stdin");
                stdin.write_all(
                    b"qdisc add dev lo root handle 1: prio bands 4\n\
                      qdisc add dev lo parent 1:4 handle 40: netem delay 1ms\n",
                )?;
            }
            Ok(child.wait_with_output()?)
        })
        .join()
        .unwrap_or_else(|_| bail!("netem probe thread panicked"))
    })?;
    if out.status.success() {
        return Ok(true);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Specified qdisc kind is unknown") || err.contains("unknown qdisc") {
        return Ok(false);
    }
    bail!(
        "probing for netem with tc failed unexpectedly: {}",
        err.trim()
    )
}

/// faultline's root qdisc handle (hex `fa17`): unlike the usual `1:`, it tells
/// faultline's qdisc from one the host had, so a cleanup removes only its own.
pub const ROOT_HANDLE: &str = "fa17:";

/// netem's arguments for a delay or reordering.
pub fn netem_args(hold: &super::shaper::Hold) -> String {
    match *hold {
        super::shaper::Hold::Delay { ms, jitter_ms } if jitter_ms > 0 => {
            format!("delay {ms}ms {jitter_ms}ms")
        }
        super::shaper::Hold::Delay { ms, .. } => format!("delay {ms}ms"),
        // netem's reorder: that percentage goes at once, the rest waits `ms`.
        super::shaper::Hold::Reorder { p, ms } => format!("delay {ms}ms reorder {:.2}%", p * 100.0),
    }
}

/// The `tc -batch` script that applies `hold` to packets leaving on `dev` for `dsts`.
pub fn batch(dev: &str, hold: &super::shaper::Hold, dsts: &[Ipv4Addr]) -> String {
    let mut s = format!(
        "qdisc replace dev {dev} root handle {ROOT_HANDLE} prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n\
         qdisc replace dev {dev} parent {ROOT_HANDLE}4 handle 40: netem {}\n",
        netem_args(hold)
    );
    for d in dsts {
        s.push_str(&format!("filter add dev {dev} parent {ROOT_HANDLE} protocol ip prio 1 u32 match ip dst {d}/32 flowid {ROOT_HANDLE}4\n"));
    }
    s
}

/// The device `node` sends packets for `dst` on.
pub async fn egress_device<C: ClusterControl>(
    control: &C,
    node: &NodeRef,
    dst: Ipv4Addr,
) -> Result<String> {
    let cmd = NodeCommand::new("ip", &["-o", "route", "get", &dst.to_string()], None);
    let out = control.run_in_node(node, cmd).await?;
    let mut words = out.split_whitespace();
    while let Some(w) = words.next() {
        if w == "dev" {
            if let Some(dev) = words.next() {
                return Ok(dev.to_string());
            }
        }
    }
    bail!("node {}: no route to {dst}: {}", node.id, out.trim())
}

pub async fn apply<C: ClusterControl>(
    control: &C,
    node: &NodeRef,
    dev: &str,
    hold: &super::shaper::Hold,
    dsts: &[Ipv4Addr],
) -> Result<()> {
    let cmd = NodeCommand::new("tc", &["-batch", "-"], Some(batch(dev, hold, dsts)));
    let r = control.run_in_node(node, cmd).await;
    if r.is_err() {
        // tc stops at the first failing line; the qdiscs before it must not stay.
        let _ = remove(control, node, dev).await;
    }
    r.map(|_| ())
}

pub async fn remove<C: ClusterControl>(control: &C, node: &NodeRef, dev: &str) -> Result<()> {
    let cmd = NodeCommand::new("tc", &["qdisc", "del", "dev", dev, "root"], None);
    control.run_in_node(node, cmd).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::super::shaper::Hold;
    use super::*;
    #[test]
    fn batch_steers_only_the_chosen_destinations_to_netem() {
        let s = batch(
            "eth0",
            &Hold::Delay {
                ms: 100,
                jitter_ms: 10,
            },
            &["10.0.0.2".parse().unwrap()],
        );
        assert!(s.contains("root handle fa17: prio bands 4"));
        assert!(s.contains("parent fa17:4 handle 40: netem delay 100ms 10ms\n"));
        assert!(s.contains("match ip dst 10.0.0.2/32 flowid fa17:4"));
        assert_eq!(
            netem_args(&Hold::Reorder { p: 0.25, ms: 50 }),
            "delay 50ms reorder 25.00%"
        );
    }
}
