//! `faultline test` end to end: the built binary against a real raft-kv cluster, and
//! its handling of bad input. The cluster test needs root (network namespaces), as CI
//! has, and builds raft-kv first if needed.
//!
//!     cargo test -p faultline --test test_command
//!     cargo test -p faultline --test test_command -- --ignored   # the longer runs

mod common;
use checker::history::parse_jsonl;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a short test against raft-kv and checks the verdict, the results folder, the
/// replay files, and that nothing is left behind.
fn run_and_verify(dir: &tempfile::TempDir, extra: &[&str], seed: &str) -> PathBuf {
    build_raft_kv();
    let results = dir.path().join("results");
    let mut args = vec![
        "test",
        "--nodes",
        "3",
        "--seed",
        seed,
        "--quiet",
        "--results-dir",
    ];
    args.push(results.to_str().unwrap());
    args.extend_from_slice(extra);
    let out = faultline(&args, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict: valid"), "{}", text(&out));

    // results/latest points at the run, and the run has every file.
    let run_dir = results.join("latest").canonicalize().unwrap();
    assert!(
        stdout.contains(run_dir.file_name().unwrap().to_str().unwrap()),
        "the results path is not printed"
    );
    for f in [
        "test.json",
        "test.toml",
        "history.jsonl",
        "results.json",
        "report.html",
        "junit.xml",
        "nodes/n1.log",
        "nodes/n2.log",
        "nodes/n3.log",
    ] {
        assert!(
            run_dir.join(f).is_file(),
            "{f} missing in {}",
            run_dir.display()
        );
    }
    let test_json = read_json(&run_dir.join("test.json"));
    assert_eq!(test_json["config"]["seed"].to_string(), seed);
    let run_id = test_json["run_id"].as_str().unwrap().to_string();
    let results_json = read_json(&run_dir.join("results.json"));
    assert_eq!(results_json["verdict"], "valid", "{results_json:#}");
    let stats = &results_json["stats"];
    assert!(stats["total"]["ok"].as_u64().unwrap() > 100, "{stats:#}");
    assert!(stats["latency_ms"]["write"]["p99"].as_f64().unwrap() > 0.0);

    // The stored history is well-formed, with the nemesis's events and the final reads.
    let history =
        parse_jsonl(&std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap()).unwrap();
    let nemesis: Vec<&str> = history.nemesis_events().map(|e| e.f.as_str()).collect();
    assert_eq!(nemesis.last(), Some(&"heal-all"), "{nemesis:?}");
    assert!(history
        .ops
        .iter()
        .any(|o| o.f == "final-read" && o.node.as_deref() == Some("n3")));
    // Nothing left behind.
    assert_eq!(namespaces_of(&run_id), Vec::<String>::new());
    assert_eq!(
        processes_mentioning(run_dir.to_str().unwrap()),
        Vec::<String>::new()
    );
    run_dir
}

/// `faultline check`, run as results.json says (`checks[].replay`), agrees with the
/// run's verdict on the stored history.
fn assert_check_agrees(dir: &Path, run_dir: &Path) {
    let results_json = read_json(&run_dir.join("results.json"));
    let mut replayed = 0;
    for check in results_json["checks"].as_array().unwrap() {
        let Some(replay) = check["replay"].as_str() else {
            continue;
        };
        let words: Vec<&str> = replay.split_whitespace().collect();
        assert_eq!(words[..2], ["faultline", "check"]);
        let again = faultline(&words[1..], dir);
        let verdict = check["verdict"].as_str().unwrap();
        assert_eq!(
            again.status.code(),
            Some(0),
            "`{replay}` disagrees with the run's {verdict}: {}",
            text(&again)
        );
        assert!(
            String::from_utf8_lossy(&again.stdout).contains(verdict),
            "{}",
            text(&again)
        );
        replayed += 1;
    }
    assert!(replayed > 0, "no check named a replay command");
}

#[test]
fn a_short_raft_kv_test_with_kills_and_partitions_is_valid_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    run_and_verify(
        &dir,
        &[
            "--time-limit",
            "8s",
            "--nemesis",
            "kill,partition-halves,partition-one",
            "--nemesis-interval",
            "2s",
            "--quiet-period",
            "500ms",
        ],
        "20261123",
    );
}

#[test]
fn faultline_check_on_the_stored_history_agrees_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = run_and_verify(
        &dir,
        &[
            "--time-limit",
            "5s",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "1s",
        ],
        "7",
    );
    assert_check_agrees(dir.path(), &run_dir);
}

#[test]
#[ignore = "the README's main job: 30 s, 5 nodes; run with --ignored"]
fn the_default_test_is_valid() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let out = faultline(&["test", "--quiet"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(dir.path().join("results/latest/results.json").is_file());
}

#[test]
#[ignore = "three 15 s tests; run with --ignored"]
fn test_count_runs_independent_tests_with_consecutive_seeds() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let out = faultline(
        &[
            "test",
            "--nodes",
            "3",
            "--time-limit",
            "15s",
            "--nemesis",
            "all",
            "--nemesis-interval",
            "3s",
            "--test-count",
            "3",
            "--seed",
            "100",
            "--quiet",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("results/raft-kv-cas-register"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for seed in ["100", "101", "102"] {
        assert!(stdout.contains(seed), "{stdout}");
    }
}

#[test]
fn bad_flags_and_test_files_exit_3_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let out = faultline(&["test", "--nodes", "0"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--nodes"),
        "{}",
        text(&out)
    );

    let file = dir.path().join("t.toml");
    std::fs::write(&file, "nodes = 3\nnemesis-intervall = \"5s\"\n").unwrap();
    let out = faultline(&["test", "--config", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("t.toml") && stderr.contains("nemesis-intervall"),
        "{stderr}"
    );

    let out = faultline(&["test", "--workload", "bank"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = faultline(&["test", "--frobnicate"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // A negative number after a space is a value, and the message says what is wrong
    // with it (clap alone would call it an unexpected argument).
    let out = faultline(&["test", "--rate", "-1"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--rate") && stderr.contains("not -1"),
        "{stderr}"
    );
    let out = faultline(&["test", "--nemesis", "partition,,kill"], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // Nothing was started, so nothing was written.
    assert!(!dir.path().join("results").exists());
}

#[test]
fn a_fault_the_system_does_not_support_is_bad_input_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let system = dir.path().join("no-pause.toml");
    std::fs::write(
        &system,
        "name = \"no-pause\"\ncommand = \"/bin/true {id} {addr} {peers} {data_dir}\"\nport = 8080\nfaults = [\"partition\", \"kill\"]\n",
    )
    .unwrap();
    let out = faultline(
        &[
            "test",
            "--system",
            system.to_str().unwrap(),
            "--nemesis",
            "pause",
            "--quiet",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--nemesis") && stderr.contains("pause"),
        "{stderr}"
    );
    assert!(!dir.path().join("results").exists());
}

/// Ctrl-C in the middle of a run: the harness heals, tears the cluster down, keeps and
/// checks the partial history, and exits 4 (the run did not finish).
#[test]
fn ctrl_c_tears_down_keeps_the_history_and_exits_4() {
    interrupt_mid_run(|pid| unsafe {
        libc::kill(pid, libc::SIGINT);
    });
}

/// `timeout(1)` and CI cancellation signal faultline and its process group at once:
/// one request to stop, handled as one (healed, checked, results.json written), not
/// as a second, forcing interrupt.
#[test]
fn a_burst_of_signals_is_one_interrupt() {
    interrupt_mid_run(|pid| unsafe {
        libc::kill(pid, libc::SIGTERM);
        libc::kill(pid, libc::SIGTERM);
        libc::kill(pid, libc::SIGINT);
    });
}

fn interrupt_mid_run(send: impl Fn(i32)) {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--nodes",
            "3",
            "--time-limit",
            "60s",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "1s",
        ])
        .args([
            "--seed",
            "5",
            "--quiet",
            "--results-dir",
            results.to_str().unwrap(),
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (with a deadline) until operations are being recorded.
    let history = results.join("latest/history.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&history)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < 200
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no operations recorded within 60 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "faultline exited early"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    send(child.id() as i32);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("interrupted again"),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("interrupted"),
        "{}",
        text(&out)
    );
    let run_dir = results.join("latest").canonicalize().unwrap();
    let results_json = read_json(&run_dir.join("results.json"));
    // Interrupted before the final reads: what was recorded is still checked (and is
    // linearizable), but convergence cannot be judged, so the run as a whole is unknown.
    let check = |name: &str| {
        results_json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        check("linearizable")["verdict"],
        "valid",
        "{results_json:#}"
    );
    assert_eq!(check("eventual")["verdict"], "unknown", "{results_json:#}");
    assert_eq!(results_json["verdict"], "unknown", "{results_json:#}");
    let h = parse_jsonl(&std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap()).unwrap();
    assert_eq!(
        h.nemesis_events().last().map(|e| e.f.as_str()),
        Some("heal-all")
    );
    let run_id = read_json(&run_dir.join("test.json"))["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(namespaces_of(&run_id), Vec::<String>::new());
    assert_eq!(
        processes_mentioning(run_dir.to_str().unwrap()),
        Vec::<String>::new()
    );
}

/// A run that cannot start as a non-root user refuses before it creates anything:
/// no results folder, no `latest` moved.
#[test]
fn a_run_without_privileges_fails_before_it_writes_anything() {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let results = dir.path().join("results");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--quiet",
            "--results-dir",
            results.to_str().unwrap(),
        ])
        .current_dir(dir.path())
        .output()
        .expect("running setpriv");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("root"),
        "{}",
        text(&out)
    );
    assert!(!results.exists(), "the results folder was created");
}

/// `faultline check | head`: a reader that closes its end early is no reason to
/// panic; the exit code is still the verdict's.
#[test]
fn a_closed_standard_output_does_not_change_the_exit_code() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read); // every write to the pipe now fails with EPIPE
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/histories/porcupine/jepsen"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", corpus])
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

/// A history in a run's results folder re-checks with no flags, whatever the run's
/// workload: `faultline check` reads the run's `test.json`.
#[test]
fn a_stored_append_run_rechecks_with_no_flags() {
    let dir = tempfile::tempdir().unwrap();
    let config = harness::config::resolve(&harness::config::TestArgs {
        workload: Some("append".into()),
        nodes: Some(2),
        quiet_period: Some("10ns".into()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    let record = serde_json::json!({ "config": config });
    std::fs::write(dir.path().join("test.json"), record.to_string()).unwrap();
    // Process 0's second read goes back: monotonic reads broken; both nodes agree.
    let history = include_str!("fixtures/stale-append.jsonl");
    let path = dir.path().join("history.jsonl");
    std::fs::write(&path, history).unwrap();
    let out = faultline(&["check", path.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("session") && stdout.contains("monotonic-reads invalid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("eventual") && stdout.contains("convergence valid"),
        "{stdout}"
    );
}
