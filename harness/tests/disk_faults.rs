//! `--nemesis corrupt` end to end: bits flipped in a file raft-kv has written are
//! detected when the node restarts (its checksums), and the node refuses to serve
//! from the damaged store instead of serving it. Needs root, as CI has.
//!
//!     cargo test -p faultline --test disk_faults

mod common;
use common::*;

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
