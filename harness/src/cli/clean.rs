//! `faultline clean`: removes what a killed faultline left behind (node processes,
//! network namespaces, links, subnet leases, state files), and nothing else.
//!
//! Runs are found by their state files and by objects that carry faultline's marker
//! (see `cluster::cleanup`). A run whose faultline process is still alive is left
//! alone unless `--force`: removing its network would break a test in progress.

use super::{exit, outln};
use crate::backend::netns::{cleanup, naming, network, state};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct CleanArgs {
    /// Only this run (its 6-character id, as in `fl-<id>-n1`).
    #[arg(long = "run", value_name = "ID")]
    pub run: Option<String>,
    /// Also remove runs whose faultline process is still running.
    #[arg(long)]
    pub force: bool,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Clean the hosts of ssh runs instead (a hosts file, as for `faultline test
    /// --hosts`): node processes, iptables chains and files of dead runs.
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<std::path::PathBuf>,
}

/// `clean --hosts FILE`: the runs dead controllers left on the hosts.
fn clean_hosts(args: &CleanArgs, file: &std::path::Path) -> ExitCode {
    use crate::backend::ssh::{clean, hosts};
    let hosts = match hosts::read_file(file) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("faultline clean: --hosts: {e:#}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    let mode = clean::CleanMode {
        only: args.run.as_deref(),
        force: args.force,
        dry_run: args.dry_run,
    };
    match clean::clean_hosts(&hosts, mode) {
        Ok(lines) => {
            for l in lines {
                outln!("{l}");
            }
            exit::code(exit::VALID)
        }
        Err(e) => {
            eprintln!("faultline clean: {e:#}");
            exit::code(exit::HARNESS_ERROR)
        }
    }
}

pub fn run(args: CleanArgs) -> ExitCode {
    if let Some(id) = &args.run {
        if let Err(e) = naming::check_run_id(id) {
            eprintln!("faultline clean: --run: {e}");
            return exit::code(exit::BAD_INPUT);
        }
    }
    if let Some(file) = &args.hosts {
        return clean_hosts(&args, file);
    }
    if !args.dry_run {
        if let Err(e) = network::check_privileges() {
            eprintln!("faultline clean: {e}");
            return exit::code(exit::HARNESS_ERROR);
        }
    }
    let runs: Vec<_> = cleanup::find_runs()
        .into_iter()
        .filter(|r| args.run.as_ref().is_none_or(|id| *id == r.resources.run_id))
        .collect();
    if runs.is_empty() {
        match &args.run {
            Some(id) => outln!("faultline clean: nothing of run {id} found"),
            None => outln!("faultline clean: nothing to clean"),
        }
        return exit::code(exit::VALID);
    }
    let mut failed = false;
    for run in runs {
        let id = &run.resources.run_id;
        if let Some(pid) = run.live_owner {
            if !args.force {
                outln!("run {id}: in use by faultline (pid {pid}); left alone (use --force to remove it anyway)");
                continue;
            }
        }
        if args.dry_run {
            let r = &run.resources;
            outln!(
                "run {id}: would remove namespaces [{}], link [{}], mounts [{}], processes {:?}{}",
                r.namespaces.join(", "),
                r.host_link,
                r.mounts
                    .iter()
                    .map(|m| m.mountpoint.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                // Only the ones still running: a recorded pid that exited (or was
                // reused by another program) is not faultline's to kill.
                r.processes
                    .iter()
                    .filter(|p| state::process_alive(p.pid, p.start_time))
                    .map(|p| p.pid)
                    .collect::<Vec<_>>(),
                r.octet
                    .map(|o| format!(", subnet {}", network::subnet_text(o)))
                    .unwrap_or_default()
            );
            continue;
        }
        match cleanup::remove(&run.resources) {
            Ok(removed) if removed.is_empty() => outln!("run {id}: nothing left to remove"),
            Ok(removed) => {
                let mut parts = Vec::new();
                if !removed.processes.is_empty() {
                    parts.push(format!("killed processes {:?}", removed.processes));
                }
                if !removed.namespaces.is_empty() {
                    parts.push(format!(
                        "removed namespaces {}",
                        removed.namespaces.join(", ")
                    ));
                }
                if !removed.links.is_empty() {
                    parts.push(format!("removed link {}", removed.links.join(", ")));
                }
                if !removed.mounts.is_empty() {
                    parts.push(format!("unmounted {}", removed.mounts.join(", ")));
                }
                if let Some(o) = removed.lease {
                    parts.push(format!("released subnet {}", network::subnet_text(o)));
                }
                if removed.state_file {
                    parts.push("removed its state file".to_string());
                }
                outln!("run {id}: {}", parts.join("; "));
            }
            Err(e) => {
                failed = true;
                eprintln!("faultline clean: {e:#}");
            }
        }
    }
    exit::code(if failed {
        exit::HARNESS_ERROR
    } else {
        exit::VALID
    })
}
