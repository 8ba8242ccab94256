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
        "qdisc replace dev {dev} root handle 1: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n\
         qdisc replace dev {dev} parent 1:4 handle 40: netem {}\n",
        netem_args(hold)
    );
    for d in dsts {
        s.push_str(&format!("filter add dev {dev} parent 1: protocol ip prio 1 u32 match ip dst {d}/32 flowid 1:4\n"));
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
    use crate::fault::{Fault, Link, PacketKind};
    use std::sync::{Arc, Mutex};

    /// Nodes on remote hosts (10.0.0.1-3) that record the commands sent to them.
    #[derive(Default)]
    struct Remote(Mutex<Vec<(String, String, Option<String>)>>);

    impl ClusterControl for Remote {
        fn nodes(&self) -> Vec<NodeRef> {
            (1..=3)
                .map(|i| NodeRef {
                    id: format!("n{i}"),
                    ip: Ipv4Addr::new(10, 0, 0, i),
                    netns: format!("ssh:10.0.0.{i}"),
                })
                .collect()
        }
        fn kill(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn restart(&self, _: &str) -> Result<()> {
            Ok(())
        }
        fn pause(&self, _: &str) -> Result<()> {
            Ok(())
        }
        fn resume(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn leader(&self) -> Option<String> {
            None
        }
        fn clock_file(&self, _: &str) -> Result<std::path::PathBuf> {
            bail!("no clocks")
        }
        fn run_in_node(
            &self,
            node: &NodeRef,
            command: NodeCommand,
        ) -> impl std::future::Future<Output = Result<String>> + Send + 'static {
            let line = format!("{} {}", command.program, command.args.join(" "));
            self.0
                .lock()
                .unwrap()
                .push((node.id.clone(), line, command.input));
            async { Ok("10.0.0.2 via 10.0.0.254 dev eth1 src 10.0.0.1 uid 0".to_string()) }
        }
        fn local_network(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_delay_on_remote_nodes_is_netem_on_the_senders_host_for_test_hosts_only() {
        let remote = Arc::new(Remote::default());
        let mut nemesis = crate::nemesis::Nemesis::new(remote.clone());
        let fault = Fault::Packet {
            kind: PacketKind::Delay {
                ms: 80,
                jitter_ms: 0,
            },
            links: ["n2", "n3"]
                .map(|to| Link {
                    from: "n1".into(),
                    to: to.into(),
                })
                .to_vec(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(nemesis.start(&fault)).unwrap();
        rt.block_on(nemesis.stop(&fault)).unwrap();
        let sent = remote.0.lock().unwrap().clone();
        let lines: Vec<(&str, &str)> = sent
            .iter()
            .map(|(n, l, _)| (n.as_str(), l.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                ("n1", "ip -o route get 10.0.0.2"),
                ("n1", "tc -batch -"),
                ("n1", "tc qdisc del dev eth1 root"),
            ]
        );
        let batch = sent[1].2.as_deref().unwrap();
        assert!(
            batch.contains("parent 1:4 handle 40: netem delay 80ms\n"),
            "{batch}"
        );
        // Only packets to the other test hosts reach netem's band: the controller's
        // own (ssh) traffic falls in the priomap's bands.
        let filters: Vec<&str> = batch.lines().filter(|l| l.starts_with("filter")).collect();
        assert_eq!(filters.len(), 2, "{batch}");
        assert!(
            filters[0].ends_with("match ip dst 10.0.0.2/32 flowid 1:4"),
            "{batch}"
        );
        assert!(
            filters[1].ends_with("match ip dst 10.0.0.3/32 flowid 1:4"),
            "{batch}"
        );
    }

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
        assert!(s.contains("parent 1:4 handle 40: netem delay 100ms 10ms\n"));
        assert!(s.contains("match ip dst 10.0.0.2/32 flowid 1:4"));
        assert_eq!(
            netem_args(&Hold::Reorder { p: 0.25, ms: 50 }),
            "delay 50ms reorder 25.00%"
        );
    }
}
