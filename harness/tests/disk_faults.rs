//! Disk faults end to end on real raft-kv clusters whose data directories are lazy
//! filesystems (root and /dev/fuse, as CI has; builds raft-kv and lazyfs first):
//! `--bug no-fsync` is caught by a power loss of every node and not by `kill -9` of
//! every node, the correct build survives a power loss of every node, and every
//! mount is gone afterwards.
//!
//!     cargo test -p faultline --test disk_faults

mod common;
use common::{build, faultline, text};
use std::path::Path;

/// Runs a 3-node raft-kv test with `nemesis` and `extra` flags; returns the exit
/// code, the output and the run folder.
fn run(dir: &Path, nemesis: &str, extra: &[&str]) -> (i32, String, std::path::PathBuf) {
    let results = dir.join("results");
    let mut args = vec![
        "test",
        "--nodes",
        "3",
        "--time-limit",
        "9s",
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        "3s",
        "--seed",
        "7",
        "--quiet",
        "--results-dir",
        results.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = faultline(&args, dir);
    let run_dir = results.join("latest").canonicalize().unwrap();
    (out.status.code().unwrap_or(-1), text(&out), run_dir)
}

/// Nothing of the run is mounted or running any more.
fn assert_nothing_left(run_dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let needle = run_dir.to_string_lossy().to_string();
    assert!(!mounts.contains(&needle), "a mount is left: {mounts}");
    let left = common::processes_mentioning(&needle);
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// A fresh directory to run in, with raft-kv and lazyfs built; `None` (skipped)
/// without root and /dev/fuse.
fn prepare() -> Option<tempfile::TempDir> {
    if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/fuse").exists() {
        eprintln!("skipped: needs root and /dev/fuse");
        return None;
    }
    build(&["raft-kv", "lazyfs"]);
    Some(tempfile::tempdir().unwrap())
}

#[test]
fn no_fsync_is_caught_by_power_loss_of_every_node() {
    let Some(dir) = prepare() else { return };
    let (code, out, run_dir) = run(
        dir.path(),
        "power-loss-all",
        &["--system-arg=--bug=no-fsync"],
    );
    assert_eq!(code, 1, "acknowledged writes lost: {out}");
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""f":"power-loss-all""#),
        "the fault is in the history"
    );
    assert!(history.contains(r#""f":"restart-all""#), "and its heal");
    let log = std::fs::read_to_string(run_dir.join("nodes/n1.log")).unwrap();
    assert!(log.contains("LoseUnsynced by faultline"), "{log}");
    assert!(
        run_dir.join("data/n1/log.bin").exists(),
        "the durable data is kept"
    );
    assert_nothing_left(&run_dir);
}

#[test]
fn no_fsync_is_not_caught_by_kill_9_of_every_node() {
    let Some(dir) = prepare() else { return };
    let (code, out, run_dir) = run(
        dir.path(),
        "kill-all",
        &["--system-arg=--bug=no-fsync", "--lazyfs"],
    );
    assert_eq!(code, 0, "a kill loses nothing the kernel holds: {out}");
    assert_nothing_left(&run_dir);
}

#[test]
fn the_correct_build_survives_power_loss_of_every_node() {
    let Some(dir) = prepare() else { return };
    let (code, out, run_dir) = run(dir.path(), "power-loss-all", &[]);
    assert_eq!(code, 0, "{out}");
    assert_nothing_left(&run_dir);
}
