//! Node data directories on faultline's lazy filesystem (`--lazyfs`): one
//! `faultline-lazyfs` daemon per node, in the host's namespaces (mounts are not
//! per network namespace), mounting `mnt/<id>` (the node's data directory) over
//! `data/<id>` (what is durable; what `--keep-data` keeps). Each mount is recorded in
//! the run's state file before anything relies on it, so teardown and `faultline
//! clean` unmount it; its control socket lives in the state directory, named with
//! the run id and node (a Unix socket path must stay short).

use super::state::{self, MountRecord};
use anyhow::{bail, Context, Result};
use lazyfs::control::{self, Command, Reply};
use nemesis::control::{DiskFault, DiskReport};
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon gets to mount and answer, and to sync and unmount at the end.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);
const UNMOUNT_GRACE: Duration = Duration::from_secs(10);
/// How long a control command may take (a torn write writes to the disk).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The `faultline-lazyfs` binary, next to faultline or in the workspace's target.
pub fn binary() -> Result<PathBuf> {
    crate::system::builtin::find_workspace_binary("faultline-lazyfs").context(
        "--lazyfs and disk faults need the faultline-lazyfs binary: build it with `cargo build -p lazyfs` (add --release for a release faultline)",
    )
}

pub fn control_socket(run_id: &str, node: &str) -> PathBuf {
    state::state_dir().join(format!("{run_id}-{node}.lazyfs"))
}

/// Starts the daemon for one node and waits until its mount answers; returns the
/// child (to reap) and its record. `record` is handed the record as soon as the
/// daemon exists, before it mounts: a faultline killed in between leaves a mount
/// that `faultline clean` knows of.
pub fn mount(
    binary: &Path,
    run_id: &str,
    node: &str,
    mountpoint: &Path,
    backing: &Path,
    log: &Path,
    record: impl FnOnce(&MountRecord) -> Result<()>,
) -> Result<(Child, MountRecord)> {
    for d in [mountpoint, backing] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let control = control_socket(run_id, node);
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let mut cmd = std::process::Command::new(binary);
    cmd.arg(mountpoint)
        .arg(backing)
        .arg("--control")
        .arg(&control)
        .arg("--name")
        .arg(mount_name(run_id, node))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    // Its own session: a Ctrl-C at the terminal reaches faultline, which tears down
    // in order (nodes first, then mounts), not the daemon behind the nodes' backs.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id() as i32;
    let mount = MountRecord {
        node: node.to_string(),
        mountpoint: mountpoint.to_path_buf(),
        control,
        pid,
        start_time: state::proc_start_time(pid).unwrap_or(0),
    };
    if let Err(e) = record(&mount) {
        let _ = unmount(&mount);
        let _ = child.wait();
        return Err(e);
    }
    let record = mount;
    let deadline = Instant::now() + MOUNT_TIMEOUT;
    loop {
        if control::request(&record.control, Command::Stats, Duration::from_secs(2)).is_ok() {
            return Ok((child, record));
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "node {node}: faultline-lazyfs exited ({status}) before mounting {}: {}",
                mountpoint.display(),
                super::process::log_tail(log, 5)
            );
        }
        if Instant::now() > deadline {
            let _ = unmount(&record);
            let _ = child.wait();
            bail!(
                "node {node}: faultline-lazyfs did not mount {} within {MOUNT_TIMEOUT:?}",
                mountpoint.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The name a node's mount carries in the mount table (`faultline-lazyfs:<name>`).
fn mount_name(run_id: &str, node: &str) -> String {
    format!("{run_id}-{node}")
}

/// The filesystem types a lazy filesystem shows in the mount table: `fuse` when
/// mounted with mount(2) as root (the subtype is libfuse's to add), `fuse.<subtype>`
/// through fusermount.
const FSTYPES: [&str; 2] = ["fuse", "fuse.faultline-lazyfs"];

/// A lazy filesystem found mounted: whose it is, and the faultline process that
/// started its daemon if that still runs.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub run_id: String,
    pub mount: MountRecord,
    pub owner: Option<i32>,
}

/// Every lazy filesystem of faultline's mounted now, from `/proc/self/mountinfo`:
/// how `faultline clean` finds mounts a killed faultline left even when the run's
/// state file is gone. The run comes from the mount's name (`mount_name`), the
/// daemon from the control socket on its command line.
pub fn leftovers() -> Vec<Leftover> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let found: Vec<(String, String, PathBuf)> = info.lines().filter_map(parse_mountinfo).collect();
    if found.is_empty() {
        return Vec::new();
    }
    let daemons = daemons();
    found
        .into_iter()
        .map(|(run_id, node, mountpoint)| {
            let control = control_socket(&run_id, &node);
            let pid = daemons
                .iter()
                .find(|(_, c)| *c == control)
                .map_or(0, |(pid, _)| *pid);
            Leftover {
                owner: faultline_parent(pid),
                mount: MountRecord {
                    node,
                    mountpoint,
                    start_time: state::proc_start_time(pid).unwrap_or(0),
                    pid,
                    control,
                },
                run_id,
            }
        })
        .collect()
}

/// A mountinfo line's run id, node and mountpoint, if it is a lazy filesystem of
/// faultline's (`... MOUNTPOINT ... - fuse faultline-lazyfs:RUN-NODE ...`).
fn parse_mountinfo(line: &str) -> Option<(String, String, PathBuf)> {
    let (left, right) = line.split_once(" - ")?;
    let mountpoint = unescape(left.split(' ').nth(4)?);
    let mut fields = right.split(' ');
    if !FSTYPES.contains(&fields.next()?) {
        return None;
    }
    let name = fields.next()?.strip_prefix("faultline-lazyfs:")?;
    let (run_id, node) = name.split_once('-')?;
    super::naming::is_run_id(run_id).then(|| {
        (
            run_id.to_string(),
            node.to_string(),
            PathBuf::from(mountpoint),
        )
    })
}

/// The pid and control socket of every running `faultline-lazyfs`.
fn daemons() -> Vec<(i32, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if !args
            .first()
            .is_some_and(|a| a.ends_with(b"faultline-lazyfs"))
        {
            continue;
        }
        let control = args
            .windows(2)
            .find(|w| w[0] == b"--control")
            .map(|w| PathBuf::from(String::from_utf8_lossy(w[1]).into_owned()));
        if let Some(c) = control {
            out.push((pid, c));
        }
    }
    out
}

/// The daemon's parent when that is a faultline process (the run is in progress),
/// else `None` (a killed faultline's daemons are reparented).
fn faultline_parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ppid: i32 = stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
    (pid > 0 && comm.trim() == "faultline").then_some(ppid)
}

/// Sends a disk fault to a node's mount.
pub fn disk_fault(record: &MountRecord, fault: DiskFault) -> Result<DiskReport> {
    let command = match fault {
        DiskFault::LoseUnsynced => Command::LoseUnsynced,
        DiskFault::TornWrite => Command::TornWrite,
    };
    match control::request(&record.control, command, COMMAND_TIMEOUT)? {
        Reply::Dropped(r) => Ok(DiskReport {
            files: r.files,
            bytes_lost: r.bytes_lost,
            bytes_kept: r.bytes_kept,
        }),
        other => bail!("lazyfs answered {other:?} to {}", command.name()),
    }
}

/// Whether `path` is a mountpoint now.
pub fn is_mounted(path: &Path) -> bool {
    let want = path.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines()
                .any(|l| l.split(' ').nth(4).map(unescape).as_deref() == Some(&*want))
        })
        .unwrap_or(false)
}

/// mountinfo escapes spaces and a few other bytes as octal.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Stops a mount's daemon (SIGTERM: it syncs and unmounts), waits for it, and
/// detaches the mount if it is still there (a killed daemon leaves a dead one).
/// Returns whether there was anything to remove.
pub fn unmount(record: &MountRecord) -> Result<bool> {
    let alive = || state::process_alive(record.pid, record.start_time);
    let mut found = false;
    if alive() {
        found = true;
        unsafe { libc::kill(record.pid, libc::SIGTERM) };
        let deadline = Instant::now() + UNMOUNT_GRACE;
        while alive() && Instant::now() < deadline {
            // Reaps it when it is our child; harmless otherwise.
            unsafe { libc::waitpid(record.pid, std::ptr::null_mut(), libc::WNOHANG) };
            std::thread::sleep(Duration::from_millis(20));
        }
        if alive() {
            unsafe { libc::kill(record.pid, libc::SIGKILL) };
            unsafe { libc::waitpid(record.pid, std::ptr::null_mut(), 0) };
        }
    }
    if is_mounted(&record.mountpoint) {
        found = true;
        let c = std::ffi::CString::new(record.mountpoint.as_os_str().as_encoded_bytes())?;
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            bail!(
                "unmounting {}: {}",
                record.mountpoint.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    let _ = std::fs::remove_file(&record.control);
    // The empty mountpoint; the data stays in the backing directory.
    let _ = std::fs::remove_dir(&record.mountpoint);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_of_lazy_filesystems_name_their_run_node_and_mountpoint() {
        let ours = "812 29 0:75 / /tmp/r\\040x/mnt/n2 rw,nosuid,nodev,relatime shared:400 - fuse.faultline-lazyfs faultline-lazyfs:ab12cd-n2 rw,user_id=0,group_id=0,allow_other";
        assert_eq!(
            parse_mountinfo(ours),
            Some((
                "ab12cd".into(),
                "n2".into(),
                PathBuf::from("/tmp/r x/mnt/n2")
            ))
        );
        let as_root = "812 29 0:75 / /tmp/r/mnt/n1 rw,relatime - fuse faultline-lazyfs:ab12cd-n1 rw,allow_other";
        assert_eq!(
            parse_mountinfo(as_root),
            Some(("ab12cd".into(), "n1".into(), PathBuf::from("/tmp/r/mnt/n1")))
        );
        let other_fuse = "813 29 0:76 / /mnt/x rw - fuse.sshfs host:/ rw";
        let old_name =
            "814 29 0:77 / /mnt/y rw - fuse.faultline-lazyfs faultline-lazyfs:/data/n1 rw";
        let proc = "22 1 0:5 / /proc rw,nosuid - proc proc rw";
        for line in [other_fuse, old_name, proc] {
            assert_eq!(parse_mountinfo(line), None, "{line}");
        }
    }
}
