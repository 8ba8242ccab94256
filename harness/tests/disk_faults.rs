//! Disk faults end to end on real raft-kv clusters (root, as CI has; builds raft-kv,
//! and lazyfs for the lazy-filesystem faults, first).
//!
//! On lazy filesystems (and /dev/fuse): `--bug no-fsync` is caught by a power loss of
//! every node and not by `kill -9` of every node, the correct build survives a power
//! loss of every node, and every mount is gone afterwards.
//!
//! `--nemesis corrupt`: bits flipped in a file raft-kv has written are detected when
//! the node restarts (its checksums), and the node refuses to serve from the damaged
//! store instead of serving it.
//!
//!     cargo test -p faultline --test disk_faults

mod common;
use common::{build, build_raft_kv, faultline, read_json, text};
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

#[test]
fn faultline_clean_unmounts_what_a_killed_faultline_left() {
    let Some(dir) = prepare() else { return };
    let results = dir.path().join("results");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--nodes",
            "3",
            "--time-limit",
            "60s",
            "--nemesis",
            "lose-unsynced",
        ])
        .args(["--quiet", "--results-dir", results.to_str().unwrap()])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let needle = results.to_string_lossy().to_string();
    let mounted = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while mounted() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the three mounts never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(mounted(), 3, "a killed faultline leaves its mounts");
    // Only this run: other runs on the machine are not this test's to clean. Its id
    // names the mounts' control sockets (`<state dir>/<run id>-n1.lazyfs`), which
    // the daemons' command lines give.
    let daemons = common::processes_mentioning(&needle);
    let run_id = daemons
        .iter()
        .find_map(|p| {
            let sock = p.split_whitespace().find(|w| w.ends_with("-n1.lazyfs"))?;
            let name = std::path::Path::new(sock).file_name()?.to_str()?;
            Some(name.trim_end_matches("-n1.lazyfs").to_string())
        })
        .unwrap_or_else(|| panic!("no lazyfs daemon among {daemons:?}"));
    // Should an assertion below fail, the run is still cleaned.
    struct Cleaned(String);
    impl Drop for Cleaned {
        fn drop(&mut self) {
            let _ = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
                .args(["clean", "--run", &self.0])
                .output();
        }
    }
    let _guard = Cleaned(run_id.clone());
    let out = faultline(&["clean", "--run", &run_id], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("unmounted"), "{}", text(&out));
    assert_eq!(mounted(), 0, "{}", text(&out));
    let left = common::processes_mentioning(&needle);
    assert!(left.is_empty(), "processes left: {left:?}");
}

#[test]
fn raft_kv_detects_a_corrupted_file_and_refuses_to_start_from_it() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = faultline(
        &[
            "test",
            "--nodes",
            "3",
            "--seed",
            "5",
            "--quiet",
            "--time-limit",
            "5s",
            "--nemesis",
            "corrupt+kill",
            "--nemesis-interval",
            "2s",
            "--disk-files",
            "*.bin",
            "--results-dir",
            results.to_str().unwrap(),
        ],
        dir.path(),
    );
    let code = out.status.code().unwrap_or(-1);
    // One node of three is down at the end, so its final reads are missing (unknown).
    assert!(code == 0 || code == 2, "{}", text(&out));
    let run_dir = results.join("latest").canonicalize().unwrap();
    let r = read_json(&run_dir.join("results.json"));
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let event = history
        .lines()
        .find(|l| l.contains("\"f\":\"corrupt+kill\""))
        .expect("the corruption is recorded in the history");
    let e: serde_json::Value = serde_json::from_str(event).unwrap();
    let corrupt = &e["value"]["faults"][0];
    assert_eq!(corrupt["fault"], "corrupt", "{e}");
    let node = corrupt["node"].as_str().unwrap();
    let file = corrupt["file"].as_str().unwrap();
    assert!(file.ends_with(".bin"), "--disk-files *.bin picked {file}");
    // The node refused to start from the corrupted file, saying which, and exited.
    let crashed = r["crashed_nodes"].as_array().unwrap();
    assert!(
        crashed.iter().any(|c| c["node"] == node),
        "{node} did not refuse to start: {:#}",
        r["crashed_nodes"]
    );
    let log = std::fs::read_to_string(run_dir.join(format!("nodes/{node}.log"))).unwrap();
    assert!(
        log.contains("corrupt data file")
            && log.contains(file)
            && log.contains("refusing to start"),
        "{log}"
    );
    // What the others served is still linearizable.
    let lin = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linearizable")
        .expect("a linearizable check");
    assert_eq!(lin["verdict"], "valid", "{lin:#}");
}

#[test]
fn an_empty_disk_files_pattern_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = faultline(
        &["test", "--nemesis", "corrupt", "--disk-files", " "],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--disk-files"), "{}", text(&out));
}
