//! Removing a run's processes, namespaces, links, subnet lease and state file: at
//! teardown, and later by `faultline clean` for runs whose harness was killed.
//!
//! A leftover is recognised as ours by its state file, or else by name *and* marker:
//! a namespace or host link named like ours (`fl-<runid>-…`, `fl<runid>h`) that holds
//! an interface whose alias is `faultline:<runid>`. Names alone are not enough: other
//! tools (and other tests) may use an `fl` prefix too.

use super::naming::{self, RunNames};
use super::network;
use super::process;
use super::state::{self, lease, RunState};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a removal did, for `faultline clean` to report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub processes: Vec<i32>,
    pub namespaces: Vec<String>,
    pub links: Vec<String>,
    pub state_file: bool,
    pub lease: Option<u8>,
    /// Mountpoints of lazy filesystems unmounted.
    pub mounts: Vec<String>,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
            && self.namespaces.is_empty()
            && self.links.is_empty()
            && !self.state_file
            && self.lease.is_none()
            && self.mounts.is_empty()
    }
}

/// Everything of one run that could be left over.
#[derive(Debug, Clone)]
pub struct RunResources {
    pub run_id: String,
    pub namespaces: Vec<String>,
    pub host_link: String,
    pub processes: Vec<state::ProcRecord>,
    pub octet: Option<u8>,
    pub mounts: Vec<state::MountRecord>,
}

impl RunResources {
    pub fn from_state(s: &RunState) -> RunResources {
        RunResources {
            run_id: s.run_id.clone(),
            namespaces: s.namespaces.clone(),
            host_link: s.host_link.clone(),
            processes: s.processes.clone(),
            octet: s.subnet_octet,
            mounts: s.mounts.clone(),
        }
    }
}

/// Kills, deletes and releases everything in `r`, whatever is still there. Keeps going
/// past failures and reports them all at the end.
pub fn remove(r: &RunResources) -> Result<Removed> {
    let mut removed = Removed::default();
    let mut errors = Vec::new();
    // Recorded pids first (checked against their start time, so a recycled pid is
    // never hit), then anything else living in the run's namespaces.
    for p in &r.processes {
        if state::process_alive(p.pid, p.start_time) {
            unsafe {
                libc::killpg(p.pid, libc::SIGKILL);
                libc::kill(p.pid, libc::SIGKILL);
            }
            removed.processes.push(p.pid);
        }
    }
    // Node processes are gone: their lazy filesystems can be unmounted (after
    // everything unsynced is made durable, as at a clean shutdown).
    for m in &r.mounts {
        match super::lazyfs::unmount(m) {
            Ok(true) => removed.mounts.push(m.mountpoint.display().to_string()),
            Ok(false) => {}
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    for ns in &r.namespaces {
        match process::kill_netns_processes(ns, process::Sweep::All, Duration::from_secs(5)) {
            Ok(pids) => {
                for pid in pids {
                    if !removed.processes.contains(&pid) {
                        removed.processes.push(pid);
                    }
                }
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let present_ns: Vec<String> = r
        .namespaces
        .iter()
        .filter(|n| network::netns_exists(n))
        .cloned()
        .collect();
    let link_present = network::link_exists(&r.host_link);
    match network::destroy(&r.host_link, &r.namespaces) {
        Ok(()) => {
            removed.namespaces = present_ns;
            if link_present {
                removed.links.push(r.host_link.clone());
            }
        }
        Err(e) => errors.push(format!("{e:#}")),
    }
    if let Some(octet) = r.octet {
        if lease::holder(octet).as_deref() == Some(r.run_id.as_str()) {
            lease::release(octet, &r.run_id);
            removed.lease = Some(octet);
        }
    }
    // The state file goes last, and only when everything else is gone, so a failed
    // removal can be retried by `faultline clean`.
    if errors.is_empty() {
        let path = RunState::path_of(&r.run_id);
        if path.exists() {
            match std::fs::remove_file(&path) {
                Ok(()) => removed.state_file = true,
                Err(e) => errors.push(format!("removing {}: {e}", path.display())),
            }
        }
    }
    if !errors.is_empty() {
        bail!("run {}: {}", r.run_id, errors.join("; "));
    }
    Ok(removed)
}

/// Gives every run found without a state file the state file it has now, if any.
///
/// A run writes its state file before it makes anything else (lease, namespaces,
/// links), but the state files are listed before the other objects: a run that
/// started in between shows up with objects and no state, as if its harness were
/// dead, and `faultline clean` would release its lease or remove its network while
/// it starts (another run could then lease the same subnet). Looking again, after
/// the objects were found, closes that window.
fn attach_late_states(runs: &mut BTreeMap<String, FoundRun>) {
    for (id, run) in runs.iter_mut().filter(|(_, r)| r.state.is_none()) {
        let Ok(s) = RunState::load(&RunState::path_of(id)) else {
            continue;
        };
        let mut resources = RunResources::from_state(&s);
        for ns in &run.resources.namespaces {
            if !resources.namespaces.contains(ns) {
                resources.namespaces.push(ns.clone());
            }
        }
        resources.octet = resources.octet.or(run.resources.octet);
        run.live_owner = s.owner_alive().then_some(s.owner_pid);
        run.resources = resources;
        run.state = Some(s);
    }
}

/// Adds the lazy filesystems mounted now that no state file lists (its run's state
/// file is gone, or there never was one), under the run their name gives. A run
/// known only so is in progress while the faultline that started its daemons lives.
fn attach_leftover_mounts(runs: &mut BTreeMap<String, FoundRun>, empty: impl Fn(&str) -> FoundRun) {
    for left in super::lazyfs::leftovers() {
        let run = runs
            .entry(left.run_id.clone())
            .or_insert_with(|| empty(&left.run_id));
        let known = run
            .resources
            .mounts
            .iter()
            .any(|m| m.mountpoint == left.mount.mountpoint || m.control == left.mount.control);
        if known {
            continue;
        }
        if run.state.is_none() {
            run.live_owner = run.live_owner.or(left.owner);
        }
        run.resources.mounts.push(left.mount);
    }
}

/// A run found on the machine, and whether its harness still lives.
#[derive(Debug, Clone)]
pub struct FoundRun {
    pub resources: RunResources,
    pub state: Option<RunState>,
    /// The pid of the faultline process that owns the run, if it is still running.
    pub live_owner: Option<i32>,
}

/// Every run of ours on this machine: from state files, from marked namespaces and
/// host links, and from subnet leases.
pub fn find_runs() -> Vec<FoundRun> {
    let mut runs: BTreeMap<String, FoundRun> = BTreeMap::new();
    let empty = |id: &str| FoundRun {
        resources: RunResources {
            run_id: id.to_string(),
            namespaces: Vec::new(),
            // Set below only if the link carries our mark: without a state file, a
            // name alone does not make an interface ours.
            host_link: String::new(),
            processes: Vec::new(),
            octet: None,
            mounts: Vec::new(),
        },
        state: None,
        live_owner: None,
    };
    for (path, s) in RunState::list() {
        match s {
            Ok(s) if naming::is_run_id(&s.run_id) => {
                let live_owner = s.owner_alive().then_some(s.owner_pid);
                runs.insert(
                    s.run_id.clone(),
                    FoundRun {
                        resources: RunResources::from_state(&s),
                        state: Some(s),
                        live_owner,
                    },
                );
            }
            Ok(s) => eprintln!(
                "faultline clean: ignoring {}: bad run id {:?}",
                path.display(),
                s.run_id
            ),
            Err(e) => eprintln!("faultline clean: ignoring {}: {e:#}", path.display()),
        }
    }
    for ns in network::list_netns() {
        let Some(id) = naming::run_id_of_netns(&ns) else {
            continue;
        };
        let known = runs
            .get(id)
            .is_some_and(|r| r.resources.namespaces.contains(&ns));
        if known {
            continue;
        }
        if network::netns_has_alias(&ns, &RunNames::new(id).alias()) || runs.contains_key(id) {
            let id = id.to_string();
            runs.entry(id.clone())
                .or_insert_with(|| empty(&id))
                .resources
                .namespaces
                .push(ns);
        }
    }
    for link in network::list_host_links() {
        let Some(id) = naming::run_id_of_host_link(&link) else {
            continue;
        };
        if network::host_link_alias(&link).as_deref() == Some(RunNames::new(id).alias().as_str()) {
            let id = id.to_string();
            let run = runs.entry(id.clone()).or_insert_with(|| empty(&id));
            run.resources.host_link = link.clone();
        }
    }
    for (octet, id) in lease::all() {
        if naming::is_run_id(&id) {
            let run = runs.entry(id.clone()).or_insert_with(|| empty(&id));
            run.resources.octet.get_or_insert(octet);
        }
    }
    attach_leftover_mounts(&mut runs, empty);
    attach_late_states(&mut runs);
    // A switch namespace always exists alongside node namespaces; make sure it is
    // included even if it lost its marker.
    for run in runs.values_mut() {
        let sw = RunNames::new(&run.resources.run_id).switch_netns();
        if network::netns_exists(&sw) && !run.resources.namespaces.contains(&sw) {
            run.resources.namespaces.push(sw);
        }
    }
    runs.into_values().collect()
}

#[cfg(test)]
mod late_state_tests {
    use super::*;

    /// A run seen first by its lease alone, whose state file appears before the
    /// search ends, is the live run it is, not an orphan to remove.
    #[test]
    fn a_run_whose_state_file_appears_during_the_search_is_not_an_orphan() {
        let id = "zz9lat";
        let me = std::process::id() as i32;
        let state = RunState {
            run_id: id.into(),
            owner_pid: me,
            owner_start_time: state::proc_start_time(me).unwrap_or(0),
            created_unix: state::now_unix(),
            system: "test".into(),
            run_dir: std::env::temp_dir(),
            subnet_octet: Some(201),
            namespaces: vec![format!("fl-{id}-sw")],
            host_link: String::new(),
            processes: Vec::new(),
            mounts: Vec::new(),
        };
        let mut runs = BTreeMap::new();
        runs.insert(
            id.to_string(),
            FoundRun {
                resources: RunResources {
                    run_id: id.into(),
                    namespaces: Vec::new(),
                    host_link: String::new(),
                    processes: Vec::new(),
                    octet: Some(201),
                    mounts: Vec::new(),
                },
                state: None,
                live_owner: None,
            },
        );
        state.save().unwrap();
        attach_late_states(&mut runs);
        let _ = std::fs::remove_file(RunState::path_of(id));
        let run = &runs[id];
        assert_eq!(run.live_owner, Some(me));
        assert!(run.state.is_some());
        assert_eq!(run.resources.namespaces, vec![format!("fl-{id}-sw")]);
    }
}
