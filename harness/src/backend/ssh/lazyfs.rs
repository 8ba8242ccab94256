//! Disk faults over ssh: each node's data directory on faultline's lazy filesystem,
//! mounted on the node's host by the `faultline-lazyfs` binary uploaded there (as
//! the namespace backend does locally, `backend/netns/lazyfs.rs`).
//!
//! On the host, in the node's folder: `data/` is the mount (the node's data
//! directory, the same path as without disk faults), `disk/` what is durable behind
//! it, `lazyfs.sock` the mount's control socket and `lazyfs.log` the daemon's output.
//! The mount carries the run and node in the mount table
//! (`faultline-lazyfs:<run id>-<node>`), so `faultline clean --hosts` finds a dead
//! run's mounts from `/proc/self/mountinfo` alone, and the daemon is found by its
//! control socket on its command line (no pid file to trust).
//!
//! A fault is `faultline-lazyfs --control SOCKET --request COMMAND` sent through the
//! host's long-lived shell (one round trip; no `socat` needed on the host), whose
//! JSON answer says what was dropped.

use super::remote::{node_dir, run_root};
use anyhow::{anyhow, bail, Context, Result};
use lazyfs::control::{Command, Reply};
use nemesis::control::{DiskFault, DiskReport};
use shell_words::quote;

/// The binary's name, on this machine and in each node's `bin/` on its host.
pub const BINARY: &str = "faultline-lazyfs";

/// How long a daemon gets to mount, and to sync and unmount at the end (in 20 ms
/// and 100 ms ticks).
const MOUNT_TICKS: u32 = 500;
const UNMOUNT_TICKS: u32 = 100;

/// The mount's name in the mount table, after `faultline-lazyfs:` (as locally).
fn mount_name(run_id: &str, node: &str) -> String {
    format!("{run_id}-{node}")
}

/// The folder behind the mount: what is durable, and what `--keep-data` keeps.
pub fn backing_dir(run_id: &str, node: &str) -> String {
    format!("{}/disk", node_dir(run_id, node))
}

/// Problems that stop a host from running the lazy filesystem (one `problem:` line
/// each), for the preflight script: `/dev/fuse`, a way to unmount a dead mount, and
/// the binary's architecture.
pub fn preflight(kinds: &str) -> String {
    let k = kinds.replace('\'', "");
    format!(
        "[ -c /dev/fuse ] || echo 'problem: disk faults ({k}) need /dev/fuse, which is not here (modprobe fuse, or a kernel with FUSE)'\n\
         PATH=$PATH:/usr/sbin:/sbin; command -v umount >/dev/null 2>&1 || command -v fusermount >/dev/null 2>&1 || command -v fusermount3 >/dev/null 2>&1 || echo 'problem: disk faults ({k}) need umount or fusermount to remove a dead mount'\n\
         for c in grep cut; do command -v $c >/dev/null 2>&1 || echo \"problem: $c is not installed (disk faults need it)\"; done\n\
         [ \"$(uname -m)\" = {arch} ] || echo \"problem: disk faults ({k}) need {BINARY}, built here for {arch}, and this host is $(uname -m)\"\n",
        arch = std::env::consts::ARCH,
    )
}

/// Mounts the node's lazy filesystem over its `data/` (behind it, `disk/`) and waits
/// until the mount answers on its control socket.
pub fn mount(run_id: &str, node: &str) -> String {
    format!(
        "d={d}\nb=\"$d/bin/{BINARY}\"\nmkdir -p \"$d/data\" \"$d/disk\"\n\
         setsid \"$b\" \"$d/data\" \"$d/disk\" --control \"$d/lazyfs.sock\" --name {name} >> \"$d/lazyfs.log\" 2>&1 < /dev/null &\n\
         p=$!; i=0\n\
         until \"$b\" --control \"$d/lazyfs.sock\" --request stats >/dev/null 2>&1; do\n\
         ps -o stat= -p $p 2>/dev/null | grep -qv '^Z' || {{ echo \"{BINARY} exited before mounting $d/data: $(tail -n 5 \"$d/lazyfs.log\")\" >&2; exit 1; }}\n\
         i=$((i+1)); [ $i -lt {MOUNT_TICKS} ] || {{ echo \"{BINARY} did not mount $d/data within 10 s\" >&2; exit 1; }}; sleep 0.02; done\n",
        d = quote(&node_dir(run_id, node)),
        name = quote(&mount_name(run_id, node)),
    )
}

/// Sends a disk fault to the node's mount; prints the mount's JSON answer.
pub fn request(run_id: &str, node: &str, fault: DiskFault) -> String {
    let d = node_dir(run_id, node);
    format!(
        "exec {} --control {} --request {}",
        quote(&format!("{d}/bin/{BINARY}")),
        quote(&format!("{d}/lazyfs.sock")),
        command(fault).name()
    )
}

fn command(fault: DiskFault) -> Command {
    match fault {
        DiskFault::LoseUnsynced => Command::LoseUnsynced,
        DiskFault::TornWrite => Command::TornWrite,
    }
}

/// What a mount's answer to a fault says was dropped.
pub fn report(answer: &str, fault: DiskFault) -> Result<DiskReport> {
    let reply: Reply = serde_json::from_str(answer.trim())
        .with_context(|| format!("lazyfs answered {:?}", answer.trim()))?;
    match reply {
        Reply::Dropped(r) => Ok(DiskReport {
            files: r.files,
            bytes_lost: r.bytes_lost,
            bytes_kept: r.bytes_kept,
        }),
        other => Err(anyhow!(
            "lazyfs answered {other:?} to {}",
            command(fault).name()
        )),
    }
}

/// Stops the lazy filesystems of a node (`Some`) or of the whole run on this host:
/// SIGTERM to each daemon (it syncs and unmounts), 10 s, SIGKILL; then detaches any
/// mount of theirs still in the mount table (a killed daemon's). Prints one line per
/// daemon stopped (`stopped lazyfs <pid>`) and per mount gone (`unmounted <path>`);
/// fails if a mount stays.
pub fn unmount(run_id: &str, node: Option<&str>) -> String {
    // Daemons by their control socket's folder (those serving this mount namespace:
    // a container, or the tests' namespace-hosts, shares the pids but not the
    // mounts); mounts by their name.
    let (folder, name) = match node {
        Some(n) => (
            format!("{}/lazyfs.sock", node_dir(run_id, n)),
            format!("{} ", mount_name(run_id, n)),
        ),
        None => (format!("{}/", run_root(run_id)), mount_name(run_id, "")),
    };
    format!(
        "PATH=$PATH:/usr/sbin:/sbin\nsock={sock}\nname={name}\n\
         mounts=$(grep -F \" faultline-lazyfs:$name\" /proc/self/mountinfo | cut -d' ' -f5)\n\
         ns=$(readlink /proc/self/ns/mnt)\n\
         pids=''; for f in $(grep -l -F -- \"$sock\" /proc/[0-9]*/cmdline 2>/dev/null); do\n\
         p=${{f#/proc/}}; p=${{p%/cmdline}}; [ \"$(readlink /proc/$p/ns/mnt)\" = \"$ns\" ] || continue\n\
         case \"$(tr '\\0' '\\n' < \"$f\" 2>/dev/null | head -n 1)\" in *{BINARY}) pids=\"$pids $p\";; esac; done\n\
         for p in $pids; do kill -TERM $p 2>/dev/null && echo \"stopped lazyfs $p\"; done\n\
         i=0; while [ $i -lt {UNMOUNT_TICKS} ]; do left=''; for p in $pids; do [ -d /proc/$p ] && left=1; done; [ -z \"$left\" ] && break; i=$((i+1)); sleep 0.1; done\n\
         for p in $pids; do [ -d /proc/$p ] && kill -KILL $p 2>/dev/null; done\n\
         for m in $mounts; do\n\
         grep -qF \" $m \" /proc/self/mountinfo && {{ umount -l \"$m\" 2>/dev/null || fusermount -uz \"$m\" 2>/dev/null || fusermount3 -uz \"$m\" 2>/dev/null; }}\n\
         if grep -qF \" $m \" /proc/self/mountinfo; then echo \"cannot unmount $m\" >&2; fail=1; else echo \"unmounted $m\"; fi; done\n\
         [ -z \"$fail\" ]\n",
        sock = quote(&folder),
        name = quote(&name),
    )
}

/// Lists the runs that have a lazy filesystem mounted on this host, as
/// `mount <run id>` lines (for `faultline clean --hosts`).
pub fn list_mounts() -> String {
    "grep -o ' faultline-lazyfs:[a-z0-9]*-' /proc/self/mountinfo 2>/dev/null | sed 's/^ faultline-lazyfs:\\(.*\\)-$/mount \\1/' | sort -u\n"
        .to_string()
}

impl super::Inner {
    /// Sends a disk fault to the node's mount through its host's long-lived shell,
    /// and notes what it dropped in the node's log.
    pub(super) fn disk(&self, node: &str, fault: DiskFault) -> Result<DiskReport> {
        self.check_live()?;
        let i = self.index_of(node)?;
        if self.lazyfs.is_none() {
            bail!("node {node}'s data directory is not on a lazy filesystem (run with --lazyfs)");
        }
        let report = self
            .run_blocking(i, &request(&self.run_id, node, fault))
            .and_then(|a| report(&a, fault))
            .with_context(|| {
                format!(
                    "node {node}'s lazy filesystem on {}",
                    self.conns[i].host.label()
                )
            })?;
        crate::backend::netns::process::note(
            &self.nodes[i].log,
            &format!(
                "{node}: {fault:?} by faultline: {} bytes of unsynced writes lost, {} kept, in {} files",
                report.bytes_lost, report.bytes_kept, report.files
            ),
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_mount_is_named_for_its_run_and_node_and_serves_its_data_dir() {
        let s = mount("abc123", "n2");
        assert!(s.starts_with("d=/tmp/faultline-abc123/n2\n"), "{s}");
        assert!(
            s.contains("\"$d/data\" \"$d/disk\" --control \"$d/lazyfs.sock\" --name abc123-n2"),
            "{s}"
        );
        assert_eq!(backing_dir("abc123", "n2"), "/tmp/faultline-abc123/n2/disk");
        assert_eq!(
            request("abc123", "n2", DiskFault::TornWrite),
            "exec /tmp/faultline-abc123/n2/bin/faultline-lazyfs --control /tmp/faultline-abc123/n2/lazyfs.sock --request torn-write"
        );
    }

    #[test]
    fn unmounting_a_node_touches_only_its_mount_and_a_run_every_mount_of_the_run() {
        let node = unmount("abc123", Some("n1"));
        assert!(
            node.contains("sock=/tmp/faultline-abc123/n1/lazyfs.sock\n"),
            "{node}"
        );
        // The trailing space: n1 must not match n10.
        assert!(node.contains("name='abc123-n1 '\n"), "{node}");
        let run = unmount("abc123", None);
        assert!(run.contains("sock=/tmp/faultline-abc123/\n"), "{run}");
        assert!(run.contains("name=abc123-\n"), "{run}");
    }

    #[test]
    fn a_dropped_answer_is_a_report_and_anything_else_an_error() {
        let r = report(
            r#"{"result":"dropped","files":2,"bytes_lost":10,"bytes_kept":3}"#,
            DiskFault::LoseUnsynced,
        )
        .unwrap();
        assert_eq!((r.files, r.bytes_lost, r.bytes_kept), (2, 10, 3));
        let e = report(r#"{"result":"synced"}"#, DiskFault::LoseUnsynced).unwrap_err();
        assert!(format!("{e}").contains("lose-unsynced"), "{e}");
        assert!(report("sh: not found", DiskFault::TornWrite).is_err());
    }

    #[test]
    fn this_machine_passes_the_lazy_filesystem_and_damage_preflight_and_a_missing_tool_is_named() {
        // It has /dev/fuse, umount, the tools and the binary's own architecture.
        for script in [
            preflight("power-loss-all"),
            super::super::damage::preflight("corrupt"),
        ] {
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            assert!(out.status.success(), "{script}: {out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{script}");
        }
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", &super::super::damage::preflight("truncate")])
            .env("PATH", "/nonexistent")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("problem: find is not installed (disk faults (truncate) need it)"),
            "{text}"
        );
    }

    #[test]
    fn the_mount_list_and_unmount_scripts_run_in_sh_and_find_nothing_of_an_unknown_run() {
        for script in [
            list_mounts(),
            unmount("zz0000", None),
            unmount("zz0000", Some("n1")),
        ] {
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{script}: {out:?}");
            assert!(!text.contains("zz0000"), "{text}");
        }
    }
}
