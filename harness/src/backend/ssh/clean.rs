//! `faultline clean --hosts FILE`: what dead ssh runs left on the hosts (node
//! processes, lazy filesystems, iptables chains, `/tmp/faultline-<id>/`), found by
//! run id, removed.
//!
//! A run is dead when the controller process recorded in its `owner` file (boot id,
//! pid, start time) is no longer alive on this machine. A run owned by another
//! machine cannot be judged from here: it is left alone unless named (`--run`) or
//! forced.

use super::conn::Conn;
use super::hosts::Host;
use super::remote;
use crate::backend::netns::state::process_alive;
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

/// What `clean` does on each host.
#[derive(Debug, Clone, Copy)]
pub struct CleanMode<'a> {
    pub only: Option<&'a str>,
    pub force: bool,
    pub dry_run: bool,
}

/// A run found on a host, with why it may or may not be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// Its controller is alive on this machine (pid).
    LiveHere(i32),
    /// Owned by another machine: not ours to judge.
    Elsewhere,
    Dead,
}

/// Cleans every host; one line per host and run, or per failure. `Err` only when
/// something could not be removed (after trying every host).
pub fn clean_hosts(hosts: &[Host], mode: CleanMode) -> Result<Vec<String>> {
    let control_dir = std::env::temp_dir().join(format!("fl-ssh-clean-{}", std::process::id()));
    std::fs::create_dir_all(&control_dir)?;
    let results: Vec<(String, Result<Vec<String>>)> = std::thread::scope(|s| {
        let running: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let control = control_dir.join(i.to_string());
                (
                    host.label(),
                    s.spawn(move || clean_host(host, &control, mode)),
                )
            })
            .collect();
        running
            .into_iter()
            .map(|(l, h)| (l, h.join().unwrap_or_else(|_| Err(anyhow!("panicked")))))
            .collect()
    });
    let _ = std::fs::remove_dir_all(&control_dir);
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for (label, r) in results {
        match r {
            Ok(found) if found.is_empty() => lines.push(format!("host {label}: nothing to clean")),
            Ok(found) => lines.extend(found.into_iter().map(|l| format!("host {label}: {l}"))),
            Err(e) => failed.push(format!("host {label}: {e:#}")),
        }
    }
    if failed.is_empty() {
        Ok(lines)
    } else {
        lines.extend(failed);
        Err(anyhow!("{}", lines.join("\n")))
    }
}

fn clean_host(host: &Host, control: &std::path::Path, mode: CleanMode) -> Result<Vec<String>> {
    let conn = Conn::open(host, control)?;
    let who = conn.run("id -u", None)?;
    conn.set_sudo(who.trim() != "0");
    let listing = remote::list_runs() + &super::lazyfs::list_mounts();
    let runs = parse_runs(&conn.run(&listing, None)?);
    let mut lines = Vec::new();
    for (id, owner) in runs {
        if mode.only.is_some_and(|o| o != id) {
            continue;
        }
        let named = mode.only.is_some();
        match judge(owner.as_deref()) {
            Owner::LiveHere(pid) if !mode.force => {
                lines.push(format!("run {id}: in use by faultline (pid {pid}); left alone (use --force to remove it anyway)"));
                continue;
            }
            Owner::Elsewhere if !mode.force && !named => {
                lines.push(format!("run {id}: started by another machine; left alone (name it with --run {id}, or --force)"));
                continue;
            }
            _ => {}
        }
        if mode.dry_run {
            lines.push(format!(
                "run {id}: would stop its nodes, unmount its lazy filesystems and remove its chains, netem qdiscs and {}",
                remote::run_root(&id)
            ));
            continue;
        }
        let killed = conn.run(&remote::stop_all(&id, None, 1), None)?;
        // Before the folder goes: removing it would reach through a live mount.
        let unmounted = conn.run(&super::lazyfs::unmount(&id, None), None)?;
        let chains = conn.run(&remote::remove_chains(&remote::chain_prefix(&id)), None)?;
        let qdiscs = conn.run(&super::netem::clean(&id, None), None)?;
        conn.run(&remote::remove_files(&id, None), None)?;
        let _ = std::fs::remove_dir_all(super::control_dir(&id));
        // What was restored, or must be by hand.
        let notes: Vec<&str> = qdiscs
            .lines()
            .filter(|l| !l.starts_with("removed"))
            .collect();
        let notes = match notes.is_empty() {
            true => String::new(),
            false => format!(" ({})", notes.join("; ")),
        };
        lines.push(format!(
            "run {id}: killed {} process groups, unmounted {} lazy filesystems, removed {} iptables entries, {} netem qdiscs and {}{}",
            killed.lines().count(),
            unmounted.lines().filter(|l| l.starts_with("unmounted")).count(),
            chains.lines().count(),
            qdiscs.lines().filter(|l| l.starts_with("removed")).count(),
            remote::run_root(&id),
            notes
        ));
    }
    conn.close();
    Ok(lines)
}

/// Run ids from [`remote::list_runs`]'s output, with their owner records.
fn parse_runs(text: &str) -> BTreeMap<String, Option<String>> {
    let mut runs = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next()) {
            (Some("run"), Some(id)) if crate::backend::netns::naming::is_run_id(id) => {
                let owner = words.next().map(str::trim).filter(|o| !o.is_empty());
                runs.insert(id.to_string(), owner.map(String::from));
            }
            (Some("chain" | "mount"), Some(id)) if crate::backend::netns::naming::is_run_id(id) => {
                runs.entry(id.to_string()).or_insert(None);
            }
            _ => {}
        }
    }
    runs
}

/// Whether a run's controller lives, from its owner record.
fn judge(owner: Option<&str>) -> Owner {
    let Some(owner) = owner else {
        return Owner::Dead;
    };
    let mut w = owner.split_whitespace();
    let (Some(boot), Some(pid), Some(start)) = (w.next(), w.next(), w.next()) else {
        return Owner::Dead;
    };
    let here = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    if boot != here.trim() {
        return Owner::Elsewhere;
    }
    match (pid.parse(), start.parse()) {
        (Ok(pid), Ok(start)) if process_alive(pid, start) => Owner::LiveHere(pid),
        _ => Owner::Dead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_found_by_folder_chain_or_mount_alone() {
        let runs = parse_runs(
            "run abc123 b 1 2\nchain abc123\nchain zzz999\nrun bad!\nmount yyy888\nmount abc123\n",
        );
        assert_eq!(runs.len(), 3);
        assert_eq!(runs["yyy888"], None);
        assert_eq!(runs["abc123"].as_deref(), Some("b 1 2"));
        assert_eq!(runs["zzz999"], None);
    }

    #[test]
    fn a_run_whose_controller_is_this_process_is_live_and_a_gone_one_is_dead() {
        assert!(matches!(
            judge(Some(&super::super::owner_record())),
            Owner::LiveHere(_)
        ));
        assert_eq!(judge(Some("another-boot 1 1")), Owner::Elsewhere);
        assert_eq!(judge(None), Owner::Dead);
    }
}
