//! `faultline test --system galera` end to end: a 3-node MariaDB Galera cluster of
//! faultline's own servers in namespaces (`scripts/setup.sh` installs mariadb-server
//! and galera-4), bootstrapped by faultline, the txn-append workload with every
//! client on its own node, and the run judged by Galera's isolation promise. Needs
//! root, as CI has.
//!
//!     cargo test -p faultline --test galera
//!
//! The findings with and without faults are in docs/systems.md (MariaDB Galera),
//! measured by the ignored test below.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs one test on the built-in galera system (3 nodes, six clients on four live
/// keys, no rate limit) with these settings; returns its run folder, the output and
/// how long the whole command took, after making sure nothing was left running.
fn run_galera(dir: &tempfile::TempDir, settings: &[&str]) -> (PathBuf, Output, Duration) {
    // The servers run as `mysql`, which must be able to reach their data directories.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let results = dir.path().join("results");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--results-dir",
            results.to_str().unwrap(),
            "--quiet",
        ])
        .args([
            "--name",
            "g",
            "--system",
            "galera",
            "--nodes",
            "3",
            "--keys",
            "4",
            "--concurrency",
            "6",
            "--rate",
            "0",
        ])
        .args(settings)
        .output()
        .expect("running faultline");
    let took = started.elapsed();
    let run_dir = std::fs::canonicalize(results.join("latest"))
        .unwrap_or_else(|e| panic!("{e}\n{}", text(&out)));
    assert_eq!(
        processes_mentioning(run_dir.to_str().unwrap()),
        Vec::<String>::new(),
        "MariaDB processes left behind"
    );
    (run_dir, out, took)
}

/// One model's entry in results.json's promise report.
fn model(results: &Value, name: &str) -> Value {
    results["promises"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == name)
        .unwrap_or_else(|| panic!("no {name} in {:#}", results["promises"]))
        .clone()
}

/// faultline boots three nodes into one synced cluster, runs transactions on every
/// node and judges them by what Galera promises at REPEATABLE READ (repeatable read,
/// not serializable): the exit code is that promise's verdict, whatever else the
/// checker finds.
#[test]
fn a_three_node_galera_cluster_runs_transactions_judged_by_its_isolation_promise() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, out, took) = run_galera(
        &dir,
        &[
            "--workload",
            "txn-append",
            "--isolation",
            "repeatable-read",
            "--time-limit",
            "8s",
            "--nemesis",
            "none",
            "--seed",
            "7",
        ],
    );
    let report = check_txn_run(&run_dir, "txn-append");
    assert!(
        report.committed > 50,
        "only {} transactions committed\n{}",
        report.committed,
        text(&out)
    );
    let log = std::fs::read_to_string(run_dir.join("nodes/n1.log")).unwrap();
    assert!(log.contains("the cluster is ready"), "{log}");
    // Every node is a primary: each serves transactions of its own clients.
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    for node in ["n1", "n2", "n3"] {
        let on = format!("\"node\":\"{node}\"");
        assert!(history.contains(&on), "no transaction on {node}");
    }
    let results = read_json(&run_dir.join("results.json"));
    assert_eq!(
        results["promises"]["promises"]["models"],
        json!(["repeatable-read"]),
        "{:#}",
        results["promises"]
    );
    let rr = model(&results, "repeatable-read");
    assert_eq!(rr["promised"], json!(true), "{rr:#}");
    let broken = report
        .ruled_out
        .iter()
        .any(|m| m.name() == "repeatable read");
    let (status, code) = if broken { ("broken", 1) } else { ("held", 0) };
    assert_eq!(rr["status"], status, "{rr:#}\n{:?}", report.counts);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

/// The figures of docs/systems.md (MariaDB Galera): each isolation level with no
/// faults, then repeatable read with partitions, kills and pauses, 30 s each on 3
/// nodes; prints one line per run with the first anomalies' explanations. About four
/// minutes.
///
///     cargo test -p faultline --test galera -- --ignored --nocapture
#[test]
#[ignore]
fn galera_findings_per_isolation_level_with_and_without_faults() {
    let runs: &[(&str, &[&str])] = &[
        (
            "serializable, no faults",
            &["--isolation", "serializable", "--nemesis", "none"],
        ),
        (
            "repeatable-read, no faults",
            &["--isolation", "repeatable-read", "--nemesis", "none"],
        ),
        (
            "read-committed, no faults",
            &["--isolation", "read-committed", "--nemesis", "none"],
        ),
        (
            "repeatable-read, partitions, kills, pauses",
            &[
                "--isolation",
                "repeatable-read",
                "--nemesis",
                "partition,kill,pause",
            ],
        ),
    ];
    for (label, settings) in runs {
        let dir = tempfile::tempdir().unwrap();
        let mut args = settings.to_vec();
        args.extend([
            "--workload",
            "txn-append",
            "--time-limit",
            "30s",
            "--seed",
            "7",
        ]);
        let (run_dir, out, _) = run_galera(&dir, &args);
        let r = check_txn_run(&run_dir, "txn-append");
        println!(
            "{label}: exit {:?}; {} txns, {} ok, {} fail, {} info; anomalies {:?}; weakest ruled out {:?}; not ruled out {:?}",
            out.status.code(), r.transactions, r.committed, r.failed, r.indeterminate, r.counts,
            r.weakest_ruled_out, r.strongest_not_ruled_out
        );
        for a in r.anomalies.iter().take(2) {
            println!("  {}: {}", a.kind.name(), a.explanation);
        }
        if r.committed == 0 {
            println!("  {}", text(&out));
        }
    }
}
