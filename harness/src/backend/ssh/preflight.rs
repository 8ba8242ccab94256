//! Before anything is put on any host: every host is connected and checked (root or
//! passwordless sudo, the tools the run needs, the system's binary, a free run id,
//! netem for packet faults), and the fault kinds the backend cannot do are refused.
//! Every problem of every host is reported at once, so a user fixes a fleet in one
//! round, not one host per attempt.

use super::conn::Conn;
use super::hosts::Host;
use super::{remote, SshOptions};
use crate::error::bad_input;
use anyhow::Result;
use nemesis::FaultKind;
use std::path::{Path, PathBuf};

/// The system's binary, uploaded to every node's `bin/`: (local path, file name).
pub type Upload = (PathBuf, String);

/// A host connected, with its problems and its libfaketime (when clock faults are
/// asked for and it has one).
type Checked = (Conn, Vec<String>, Option<String>);

/// The checked hosts: connections (sudo set where needed), the binary to upload, and
/// each host's libfaketime when the test has clock faults.
pub struct Ready {
    pub conns: Vec<Conn>,
    pub upload: Option<Upload>,
    pub faketime: Option<Vec<String>>,
}

/// The hosts, checked, or every problem found.
/// With `shared`, several nodes run on one host (each with a group of its own, for
/// the partitions).
pub fn connect_and_check(
    opts: &SshOptions,
    hosts: &[Host],
    control_dir: &Path,
    shared: bool,
) -> Result<Ready> {
    let mut problems = Vec::new();
    let clock = named(&opts.kinds, FaultKind::is_clock);
    if !clock.is_empty() && !opts.system.faults.clock {
        problems.push(format!(
            "--nemesis: {} does not support clock faults ({clock}): libfaketime only moves clocks read through libc",
            opts.system.origin()
        ));
    }
    let clock = (!clock.is_empty()).then_some(clock.as_str());
    let upload = upload_of(&opts.system.command.program);
    let on_path = upload
        .is_none()
        .then_some(opts.system.command.program.as_str());
    let needs_iptables = opts.kinds.iter().any(FaultKind::is_network);
    // Loss and duplication are iptables rules, like partitions; delay and
    // reordering are netem qdiscs on the sender's host.
    let delays = named(&opts.kinds, FaultKind::delays_packets);
    let damage = named(&opts.kinds, |k| k.is_disk() && !k.needs_lazy_disk());
    let lazy = match named(&opts.kinds, FaultKind::needs_lazy_disk) {
        k if k.is_empty() => "--lazyfs".to_string(),
        k => k,
    };
    let checked: Vec<(String, Result<Checked>)> = std::thread::scope(|s| {
        let running: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let control = control_dir.join(i.to_string());
                let node = crate::backend::netns::naming::node_ids(i + 1)
                    .pop()
                    .unwrap_or_default();
                let mut script =
                    remote::preflight(&opts.run_id, &node, needs_iptables, clock, on_path, shared);
                if opts.lazyfs {
                    script.push_str(&super::lazyfs::preflight(&lazy));
                }
                if !damage.is_empty() {
                    script.push_str(&super::damage::preflight(&damage));
                }
                let delays = delays.as_str();
                (
                    host.label(),
                    s.spawn(move || check_host(host, &control, &script, delays)),
                )
            })
            .collect();
        running
            .into_iter()
            .map(|(label, h)| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("checking it panicked")));
                (label, r)
            })
            .collect()
    });
    let mut conns = Vec::new();
    let mut libs = Vec::new();
    for (label, result) in checked {
        match result {
            Ok((conn, found, lib)) => {
                problems.extend(found.into_iter().map(|p| format!("host {label}: {p}")));
                conns.push(conn);
                libs.push(lib.unwrap_or_default());
            }
            Err(e) => problems.push(format!("host {label}: {e:#}")),
        }
    }
    if !problems.is_empty() {
        for c in &conns {
            c.close();
        }
        return Err(bad_input(format!(
            "the hosts are not ready for this test ({} problem{}):\n  {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  ")
        )));
    }
    let faketime = clock.map(|_| libs);
    Ok(Ready {
        conns,
        upload,
        faketime,
    })
}

/// Connects to one host and lists its problems.
fn check_host(host: &Host, control: &Path, script: &str, delays: &str) -> Result<Checked> {
    let conn = Conn::open(host, control)?;
    let out = conn.run(script, None)?;
    conn.set_sudo(out.lines().any(|l| l == "ok sudo"));
    let mut problems: Vec<String> = out
        .lines()
        .filter_map(|l| l.strip_prefix("problem: "))
        .map(String::from)
        .collect();
    if !delays.is_empty() {
        let netem = conn.run(&remote::netem_probe(), None)?;
        if let Some(why) = netem.trim().strip_prefix("none: ") {
            problems.push(format!("packet faults ({delays}) need netem here: {why}"));
        }
    }
    let lib = out
        .lines()
        .find_map(|l| l.strip_prefix("faketime "))
        .map(String::from);
    Ok((conn, problems, lib))
}

/// The kinds among `kinds` that `pred` picks, by name (empty: none).
fn named(kinds: &[FaultKind], pred: fn(&FaultKind) -> bool) -> String {
    kinds
        .iter()
        .filter(|k| pred(k))
        .map(FaultKind::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The system's binary and its file name, when it is a local file: uploaded to
/// each node's `bin/`.
fn upload_of(program: &str) -> Option<Upload> {
    let local = Path::new(program);
    if !local.is_absolute() || !local.is_file() {
        return None;
    }
    let name = local.file_name()?.to_string_lossy().into_owned();
    Some((local.to_path_buf(), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_and_reordering_are_the_kinds_that_need_netem_on_the_hosts() {
        let kinds = FaultKind::parse_list(
            "partition,kill,clock-bump,membership,power-loss-all,torn-write,corrupt,truncate",
            5,
        )
        .unwrap();
        assert_eq!(named(&kinds, FaultKind::delays_packets), "");
        let kinds = FaultKind::parse_list("loss,delay,duplicate,reorder", 3).unwrap();
        assert_eq!(named(&kinds, FaultKind::delays_packets), "delay, reorder");
    }
}
