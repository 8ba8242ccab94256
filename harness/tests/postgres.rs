//! `faultline test --system postgres` end to end: faultline's own PostgreSQL 15
//! servers in namespaces (`scripts/setup.sh` installs the package), the txn-append
//! workload, and Elle-style checking of the history it records. Needs root, as CI has.
//!
//!     cargo test -p faultline --test postgres
//!
//! The findings with faults, per isolation level, are in docs/systems.md with their
//! commands.

mod common;
use checker::txn::TxnReport;
use common::*;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs one short test on a single PostgreSQL primary at `isolation`, no faults, and
/// returns its run folder, the output and how long the whole command took.
fn run_postgres(dir: &tempfile::TempDir, isolation: &str) -> (PathBuf, Output, Duration) {
    run_with(
        dir,
        &[
            "--nodes",
            "1",
            "--workload",
            "txn-append",
            "--isolation",
            isolation,
            "--time-limit",
            "10s",
            "--nemesis",
            "none",
        ],
    )
}

/// `faultline test --results-dir RESULTS --quiet ARGS...`.
fn faultline_test(results: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--results-dir",
            results.to_str().unwrap(),
            "--quiet",
        ])
        .args(args)
        .output()
        .expect("running faultline")
}

/// Runs one test on the built-in postgres system with these settings (ten clients,
/// four live keys, no rate limit, seed 7 unless given).
fn run_with(dir: &tempfile::TempDir, settings: &[&str]) -> (PathBuf, Output, Duration) {
    // The server runs as `postgres`, which must be able to reach its data directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let results = dir.path().join("results");
    let started = Instant::now();
    let mut args = vec![
        "--name",
        "t",
        "--system",
        "postgres",
        "--keys",
        "4",
        "--concurrency",
        "10",
        "--rate",
        "0",
        "--seed",
        "7",
    ];
    args.extend_from_slice(settings);
    let out = faultline_test(&results, &args);
    let took = started.elapsed();
    let run_dir = std::fs::canonicalize(results.join("latest"))
        .unwrap_or_else(|e| panic!("{e}\n{}", text(&out)));
    assert_eq!(
        processes_mentioning(run_dir.to_str().unwrap()),
        Vec::<String>::new(),
        "PostgreSQL processes left behind"
    );
    (run_dir, out, took)
}

/// The run's history, checked as Elle checks list-append histories, after making
/// sure the run did enough to judge.
fn check_busy_run(run_dir: &std::path::Path, out: &Output) -> TxnReport {
    let report = check_txn_run(run_dir, "txn-append");
    assert!(
        report.committed > 100,
        "only {} transactions committed\n{}",
        report.committed,
        text(out)
    );
    report
}

/// Snapshot isolation lets two transactions each read what the other writes and both
/// commit: write skew, a G2-item cycle of two anti-dependencies. PostgreSQL's
/// REPEATABLE READ is snapshot isolation, so ten clients on four keys show it, and
/// the run keeps its promise (snapshot isolation), so it exits 0.
#[test]
fn postgres_repeatable_read_shows_write_skew_within_thirty_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, out, took) = run_postgres(&dir, "repeatable-read");
    let report = check_busy_run(&run_dir, &out);
    assert!(
        report.counts.get("G2-item").copied().unwrap_or(0) > 0,
        "no write skew in {} committed transactions: {:?}\n{}",
        report.committed,
        report.counts,
        text(&out)
    );
    let g2 = report
        .anomalies
        .iter()
        .find(|a| a.kind.name() == "G2-item")
        .unwrap();
    assert!(
        g2.explanation.contains("before"),
        "unexplained: {}",
        g2.explanation
    );
    // Snapshot isolation forbids everything else Elle looks for in one history.
    for kind in ["G0", "G1a", "G1b", "G1c", "G-single", "lost-update"] {
        assert_eq!(report.counts.get(kind), None, "{kind}: {:?}", report.counts);
    }
    assert!(took < Duration::from_secs(30), "took {took:?}");
    // What the user sees: the run's own list-append check says so.
    let results = read_json(&run_dir.join("results.json"));
    let check = &results["checks"][0];
    assert_eq!(
        (check["name"].as_str(), check["verdict"].as_str()),
        (Some("list-append"), Some("invalid")),
        "{check}"
    );
    assert!(
        check["summary"].as_str().unwrap().contains("G2-item")
            && check["report"]["weakest_ruled_out"] == serde_json::json!(["repeatable-read"]),
        "{check}"
    );
    // REPEATABLE READ promises snapshot isolation, which write skew does not break:
    // serializability ruled out is a finding, and the run exits 0.
    let promises = &results["promises"];
    assert_eq!(
        promises["promises"]["models"],
        serde_json::json!(["snapshot-isolation"]),
        "{promises:#}"
    );
    let status = |name: &str| {
        promises["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == name)
            .map(|m| m["status"].clone())
    };
    assert_eq!(
        status("snapshot-isolation"),
        Some("held".into()),
        "{promises:#}"
    );
    assert_eq!(
        status("serializable"),
        Some("broken".into()),
        "{promises:#}"
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// SERIALIZABLE (serializable snapshot isolation) aborts one of every pair that
/// would make a cycle: the same workload shows no anomaly at all, and the aborted
/// transactions are recorded as failed with PostgreSQL's serialization failure.
#[test]
fn postgres_serializable_shows_no_anomaly_and_aborts_as_failures() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, out, _) = run_postgres(&dir, "serializable");
    let report = check_busy_run(&run_dir, &out);
    assert!(
        report.counts.is_empty() && report.unnamed_cycles.is_empty(),
        "{:?}\n{:?}",
        report.counts,
        report.anomalies.first()
    );
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    assert!(
        history.contains("\"type\":\"fail\"") && history.contains("serialization-failure: 40001"),
        "no serialization failure recorded"
    );
    let results = read_json(&run_dir.join("results.json"));
    assert_eq!(
        results["checks"][0]["verdict"], "valid",
        "{}",
        results["checks"]
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// What does not fit is refused before anything starts, exit 3, naming the flag: a
/// transactional workload on a system without transactions, another workload on
/// PostgreSQL, an unknown isolation level, an isolation level for another system.
#[test]
fn transactions_on_the_wrong_system_and_bad_isolation_levels_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let refuse = |args: &[&str], wanted: &[&str]| {
        let out = faultline_test(&results, args);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {t}");
        for w in wanted {
            assert!(t.contains(w), "{args:?}: no {w:?} in {t}");
        }
    };
    refuse(
        &["--system", "etcd", "--workload", "txn-append"],
        &["--workload txn-append", "etcd", "--system postgres"],
    );
    refuse(
        &["--system", "postgres", "--workload", "register"],
        &["--workload register", "txn-append or txn-register"],
    );
    refuse(
        &[
            "--system",
            "postgres",
            "--workload",
            "txn-append",
            "--isolation",
            "snapshot",
        ],
        &["--isolation", "unknown isolation level `snapshot`"],
    );
    refuse(
        &["--system", "etcd", "--isolation", "read-committed"],
        &["--isolation", "does not apply"],
    );
    assert!(!results.exists(), "a refused test made a results folder");
}

/// The figures of docs/systems.md (PostgreSQL): each isolation level, with and
/// without faults, 30 s each; prints one line per run. About four minutes.
///
///     cargo test -p faultline --test postgres -- --ignored --nocapture
#[test]
#[ignore]
fn postgres_findings_per_isolation_level() {
    let runs: &[(&str, &[&str])] = &[
        (
            "serializable, kills",
            &[
                "--isolation",
                "serializable",
                "--nodes",
                "1",
                "--workload",
                "txn-append",
                "--nemesis",
                "kill",
            ],
        ),
        (
            "serializable, kills+pauses+partitions, 2 replicas",
            &[
                "--isolation",
                "serializable",
                "--nodes",
                "3",
                "--workload",
                "txn-append",
            ],
        ),
        (
            "repeatable-read",
            &[
                "--isolation",
                "repeatable-read",
                "--nodes",
                "1",
                "--workload",
                "txn-append",
                "--nemesis",
                "none",
            ],
        ),
        (
            "repeatable-read, kills+pauses+partitions, 2 replicas",
            &[
                "--isolation",
                "repeatable-read",
                "--nodes",
                "3",
                "--workload",
                "txn-append",
            ],
        ),
        (
            "read-committed, append",
            &[
                "--isolation",
                "read-committed",
                "--nodes",
                "1",
                "--workload",
                "txn-append",
                "--nemesis",
                "none",
            ],
        ),
        (
            "read-committed, register",
            &[
                "--isolation",
                "read-committed",
                "--nodes",
                "1",
                "--workload",
                "txn-register",
                "--nemesis",
                "none",
            ],
        ),
        (
            "serializable, register, kills",
            &[
                "--isolation",
                "serializable",
                "--nodes",
                "1",
                "--workload",
                "txn-register",
                "--nemesis",
                "kill",
            ],
        ),
    ];
    for (label, settings) in runs {
        let dir = tempfile::tempdir().unwrap();
        let mut args = settings.to_vec();
        args.extend(["--time-limit", "30s"]);
        let (run_dir, out, _) = run_with(&dir, &args);
        let workload = args[args.iter().position(|a| *a == "--workload").unwrap() + 1];
        let r = check_txn_run(&run_dir, workload);
        let faults = std::fs::read_to_string(run_dir.join("history.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"process\":\"nemesis\"") && l.contains("\"type\":\"info\""))
            .count();
        println!(
            "{label}: {} txns, {} ok, {} fail, {} info; {faults} nemesis events; anomalies {:?}; ruled out {:?}; not ruled out {:?}",
            r.transactions, r.committed, r.failed, r.indeterminate, r.counts, r.weakest_ruled_out, r.strongest_not_ruled_out
        );
        if let Some(a) = r.anomalies.first() {
            println!("  e.g. {}: {}", a.kind.name(), a.explanation);
        }
        if !out.status.success() && r.committed == 0 {
            println!("  {}", text(&out));
        }
    }
}
