//! The state file of a run: everything it created, written before it is created, so
//! that `faultline clean` can remove exactly that after a harness was killed.
//!
//! Files live in `/run/faultline` (a tmpfs: they vanish with the namespaces at reboot),
//! or in `$FAULTLINE_STATE_DIR`. Writes go through a rename, so a reader never sees
//! half a file.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATE_DIR_ENV: &str = "FAULTLINE_STATE_DIR";

pub fn state_dir() -> PathBuf {
    std::env::var_os(STATE_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/faultline"))
}

/// One node process as recorded: the start time tells a recycled pid from ours.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcRecord {
    pub node: String,
    pub pid: i32,
    pub start_time: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    /// The faultline process that owns the run; while it lives, `clean` leaves the run
    /// alone unless forced.
    pub owner_pid: i32,
    pub owner_start_time: u64,
    pub created_unix: u64,
    pub system: String,
    pub run_dir: PathBuf,
    /// The third octet of the run's 10.77.X.0/24, once leased.
    pub subnet_octet: Option<u8>,
    pub namespaces: Vec<String>,
    pub host_link: String,
    pub processes: Vec<ProcRecord>,
    /// Lazy filesystems mounted over node data directories (`--lazyfs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountRecord>,
}

/// A node's lazy filesystem: its daemon (pid and start time, as for a node) and
/// where it is mounted, so teardown and `faultline clean` can unmount it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountRecord {
    pub node: String,
    pub mountpoint: PathBuf,
    pub control: PathBuf,
    pub pid: i32,
    pub start_time: u64,
}

impl RunState {
    pub fn path_of(run_id: &str) -> PathBuf {
        state_dir().join(format!("{run_id}.json"))
    }

    pub fn path(&self) -> PathBuf {
        RunState::path_of(&self.run_id)
    }

    pub fn save(&self) -> Result<()> {
        let dir = state_dir();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating state directory {}", dir.display()))?;
        let path = self.path();
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(path: &Path) -> Result<RunState> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("parsing state file {}", path.display()))
    }

    /// Every state file, parsed or not.
    pub fn list() -> Vec<(PathBuf, Result<RunState>)> {
        let Ok(entries) = std::fs::read_dir(state_dir()) else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, Result<RunState>)> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let s = RunState::load(&p);
                (p, s)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn owner_alive(&self) -> bool {
        process_alive(self.owner_pid, self.owner_start_time)
    }
}

/// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat).
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start_time` (and not a zombie).
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 2..].split_whitespace();
    let state = fields.next();
    let start = fields.nth(18).and_then(|s| s.parse::<u64>().ok());
    state != Some("Z") && start == Some(start_time)
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Subnet leases: one file per 10.77.X.0/24 in use, created with O_EXCL, so two runs
/// starting at the same moment can never pick the same subnet.
pub mod lease {
    use super::*;

    fn dir() -> PathBuf {
        state_dir().join("subnets")
    }

    fn file_name(octet: u8) -> String {
        format!("10.77.{octet}.0")
    }

    fn path(octet: u8) -> PathBuf {
        dir().join(file_name(octet))
    }

    /// Takes the lease on 10.77.`octet`.0/24 for `run_id`; false if someone holds it.
    ///
    /// The lease file appears with its holder already in it (written to a private file,
    /// then hard-linked into place, which fails if the lease exists): a lease created
    /// empty and filled afterwards would, in between, look like the lease of a dead run
    /// to a concurrent [`super::super::network::lease_subnet`], which would take it over
    /// and put two runs on one subnet.
    pub fn claim(octet: u8, run_id: &str) -> Result<bool> {
        claim_in(&dir(), octet, run_id)
    }

    pub(super) fn claim_in(dir: &Path, octet: u8, run_id: &str) -> Result<bool> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let lease = dir.join(file_name(octet));
        let private = dir.join(format!(".claim-{run_id}-{}", std::process::id()));
        std::fs::write(&private, run_id.as_bytes())
            .with_context(|| format!("creating {}", private.display()))?;
        let linked = std::fs::hard_link(&private, &lease);
        let _ = std::fs::remove_file(&private);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e).with_context(|| format!("creating {}", lease.display())),
        }
    }

    /// The run holding the lease, if any.
    pub fn holder(octet: u8) -> Option<String> {
        std::fs::read_to_string(path(octet))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Gives the lease back, if `run_id` holds it.
    pub fn release(octet: u8, run_id: &str) {
        if holder(octet).as_deref() == Some(run_id) {
            let _ = std::fs::remove_file(path(octet));
        }
    }

    /// Every lease as (octet, run id).
    pub fn all() -> Vec<(u8, String)> {
        let Ok(entries) = std::fs::read_dir(dir()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let octet = name
                    .strip_prefix("10.77.")?
                    .strip_suffix(".0")?
                    .parse()
                    .ok()?;
                Some((octet, holder(octet)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_claimed_once_and_never_seen_without_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let winners: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let dir = dir.path();
                    s.spawn(move || {
                        let id = format!("run00{i}");
                        // Every reader sees either no lease or a whole one.
                        let seen = std::fs::read_to_string(dir.join("10.77.9.0")).ok();
                        assert!(
                            seen.as_deref().is_none_or(|h| h.starts_with("run00")),
                            "{seen:?}"
                        );
                        lease::claim_in(dir, 9, &id).unwrap().then_some(id)
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect()
        });
        assert_eq!(winners.len(), 1, "{winners:?}");
        let holder = std::fs::read_to_string(dir.path().join("10.77.9.0")).unwrap();
        assert_eq!(holder, winners[0]);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1, "no private claim files are left: {left:?}");
    }

    #[test]
    fn own_process_is_alive_and_recognised() {
        let pid = std::process::id() as i32;
        let start = proc_start_time(pid).unwrap();
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 1));
        assert!(!process_alive(-1, 0));
    }
}
