//! Helpers shared by the harness's integration tests: reading a run's output and
//! finding what a run may have left behind.
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

pub fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn read_json(path: &Path) -> Value {
    let t = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Processes whose command line mentions `needle` (every node's data directory is
/// inside the run folder, so this finds any node process left behind).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

pub fn namespaces_of(run_id: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(run_id))
        .map(String::from)
        .collect()
}

/// Builds workspace packages (reference systems) the way this test binary was built:
/// release for a release test run, debug otherwise.
pub fn build(packages: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec!["build"];
    if cfg!(not(debug_assertions)) {
        args.push("--release");
    }
    for p in packages {
        args.extend(["-p", p]);
    }
    let status = Command::new(cargo)
        .args(&args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("running cargo build");
    assert!(status.success(), "cargo {args:?} failed");
}

/// Builds raft-kv (the tests that run it start its binary from target/).
pub fn build_raft_kv() {
    build(&["raft-kv"]);
}

/// Runs the built faultline in `cwd`.
pub fn faultline(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("running faultline")
}

/// Debian's chromium, or the test fails saying it is missing.
pub fn chromium() -> &'static str {
    for name in ["chromium", "chromium-browser"] {
        let found = Command::new(name).arg("--version").output();
        if found.is_ok_and(|o| o.status.success()) {
            return name;
        }
    }
    panic!("Chromium is missing: pages are tested in headless Chromium; install Debian's `chromium` (sudo scripts/setup.sh)");
}

/// Headless Chromium on `url` with `args` (as root it needs --no-sandbox), in a
/// profile of its own; fails the test if Chromium does.
pub fn headless(args: &[&str], url: &str) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A transactional run's history checked as Elle checks it: `list-append` for
/// `txn-append`, `rw-register` otherwise.
pub fn check_txn_run(run_dir: &Path, workload: &str) -> checker::txn::TxnReport {
    use checker::txn::{check_list_append, check_rw_register, TxnOptions};
    let text = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let history = checker::history::parse_jsonl(&text).unwrap();
    match workload {
        "txn-append" => check_list_append(&history, &TxnOptions::default()).unwrap(),
        _ => check_rw_register(&history, &TxnOptions::default()).unwrap(),
    }
}
