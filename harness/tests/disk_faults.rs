//! Disk faults end to end on real raft-kv clusters (root, as CI has; builds raft-kv,
//! and lazyfs for the lazy-filesystem faults, first).
//!
//! On lazy filesystems (and /dev/fuse): `--bug no-fsync` is caught by a power loss of
//! every node and not by `kill -9` of every node, the correct build survives a power
//! loss of every node, and every mount is gone afterwards.
//!
//! `corrupt` and `truncate`: bits flipped in a file raft-kv or dynamo-kv has written,
//! or raft-kv's log cut short, are detected when the node restarts (checksums; the
//! log's durable end), and the node refuses to serve from the damaged store, saying
//! why in its log and in results.json, instead of serving it. `faultline clean`
//! unmounts what a killed faultline left, with or without the run's state file.
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

/// How many mounts under `needle` the mount table lists.
fn mounts_under(needle: &str) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// Cleans a run when dropped, so a failing assertion leaves nothing behind.
struct Cleaned(String);

impl Drop for Cleaned {
    fn drop(&mut self) {
        let _ = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["clean", "--run", &self.0])
            .output();
    }
}

/// Starts a 3-node run on lazy filesystems, kills faultline (SIGKILL) once the three
/// mounts are up, and returns the run's id (with a guard that cleans it) and the
/// results folder the mounts are under.
fn kill_a_run_with_mounts(dir: &Path) -> (Cleaned, String) {
    let results = dir.join("results");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--nodes", "3", "--time-limit", "60s"])
        .args(["--nemesis", "lose-unsynced", "--quiet", "--results-dir"])
        .arg(&results)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let needle = results.to_string_lossy().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while mounts_under(&needle) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the three mounts never came up"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        mounts_under(&needle),
        3,
        "a killed faultline leaves its mounts"
    );
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
    (Cleaned(run_id), needle)
}

/// `faultline clean --run ID` unmounts every mount under `needle` and ends their
/// daemons.
fn assert_clean_unmounts(dir: &Path, run_id: &str, needle: &str) {
    let out = faultline(&["clean", "--run", run_id], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("unmounted"), "{}", text(&out));
    assert_eq!(mounts_under(needle), 0, "{}", text(&out));
    let left = common::processes_mentioning(needle);
    assert!(left.is_empty(), "processes left: {left:?}");
}

#[test]
fn faultline_clean_unmounts_what_a_killed_faultline_left() {
    let Some(dir) = prepare() else { return };
    let (run, needle) = kill_a_run_with_mounts(dir.path());
    assert_clean_unmounts(dir.path(), &run.0, &needle);
}

#[test]
fn faultline_clean_finds_a_killed_runs_mounts_in_the_mount_table_when_its_state_file_is_gone() {
    let Some(dir) = prepare() else { return };
    let (run, needle) = kill_a_run_with_mounts(dir.path());
    let state_dir = std::env::var_os("FAULTLINE_STATE_DIR").unwrap_or("/run/faultline".into());
    let state = Path::new(&state_dir).join(format!("{}.json", run.0));
    std::fs::remove_file(&state).unwrap_or_else(|e| panic!("{}: {e}", state.display()));
    assert_clean_unmounts(dir.path(), &run.0, &needle);
}

/// Runs 3 nodes of `system` with `fault+kill` on files matching `files`: the node
/// whose file was damaged is killed and restarted, must refuse to start from it with
/// an error naming the file and containing `says`, in its log and in results.json's
/// crashed nodes, while what the other nodes served stays `model` (valid).
fn damaged_node_refuses_to_start(
    system: &str,
    fault: &str,
    files: &str,
    seed: &str,
    says: &str,
    model: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let nemesis = format!("{fault}+kill");
    let out = faultline(
        &[
            "test",
            "--system",
            system,
            "--nodes",
            "3",
            "--seed",
            seed,
            "--quiet",
            "--time-limit",
            "5s",
            "--nemesis",
            &nemesis,
            "--nemesis-interval",
            "2s",
            "--disk-files",
            files,
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
        .find(|l| l.contains(&format!("\"f\":\"{nemesis}\"")))
        .expect("the damage is recorded in the history");
    let e: serde_json::Value = serde_json::from_str(event).unwrap();
    let damage = &e["value"]["faults"][0];
    assert_eq!(damage["fault"], fault, "{e}");
    let node = damage["node"].as_str().unwrap();
    let file = damage["file"].as_str().unwrap();
    let pattern = files.trim_start_matches('*');
    assert!(
        file.ends_with(pattern),
        "--disk-files {files} picked {file}"
    );
    // The node refused to start from the damaged file, saying which, and exited.
    let crashed = r["crashed_nodes"].as_array().unwrap();
    let Some(crash) = crashed.iter().find(|c| c["node"] == node) else {
        panic!("{node} did not refuse to start: {:#}", r["crashed_nodes"]);
    };
    let tail = crash["log_tail"].as_str().unwrap_or_default();
    assert!(
        tail.contains(says) && tail.contains(file),
        "results.json: {crash:#}"
    );
    let log = std::fs::read_to_string(run_dir.join(format!("nodes/{node}.log"))).unwrap();
    assert!(
        log.contains(says) && log.contains(file) && log.contains("refusing to start"),
        "{log}"
    );
    // What the others served still holds.
    let check = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == model)
        .unwrap_or_else(|| panic!("a {model} check"));
    assert_eq!(check["verdict"], "valid", "{check:#}");
}

#[test]
fn raft_kv_detects_a_corrupted_file_and_refuses_to_start_from_it() {
    build_raft_kv();
    damaged_node_refuses_to_start(
        "raft-kv",
        "corrupt",
        "*.bin",
        "5",
        "corrupt data file",
        "linearizable",
    );
}

/// The log is cut while the node runs, then it is killed: it refuses either because
/// its log ends before its durable end ("cut short"), or, when it appended again in
/// between (at its old end, past the cut: a hole of zeros), because a record runs into
/// the hole ("checksum mismatch"). Either is the node refusing the damage.
#[test]
fn raft_kv_detects_a_truncated_log_and_refuses_to_start_from_it() {
    build_raft_kv();
    damaged_node_refuses_to_start(
        "raft-kv",
        "truncate",
        "log.bin",
        "5",
        "corrupt data file",
        "linearizable",
    );
}

#[test]
fn dynamo_kv_detects_a_corrupted_record_and_refuses_to_start_from_it() {
    build(&["dynamo-kv"]);
    damaged_node_refuses_to_start(
        "dynamo-kv",
        "corrupt",
        "data.log",
        "5",
        "corrupt record",
        "eventual",
    );
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
