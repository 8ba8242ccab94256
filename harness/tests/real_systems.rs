//! `faultline test` against the real systems from the distribution's packages (etcd,
//! Redis with Sentinel; `scripts/setup.sh` installs them), one short run each. They
//! need root (network namespaces), as CI has.
//!
//!     cargo test -p faultline --test real_systems
//!
//! The multi-run campaign whose matrix is in docs/systems.md is a plan:
//! `faultline compare campaigns/real.toml` (about 10 minutes).

mod common;
use common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("running faultline")
}

/// Runs one test and returns its run folder and results, after checking that the
/// run left no process and no namespace behind.
fn run(dir: &tempfile::TempDir, args: &[&str]) -> (PathBuf, Value, Output) {
    let results = dir.path().join("results");
    let mut all = vec![
        "test",
        "--results-dir",
        results.to_str().unwrap(),
        "--name",
        "t",
        "--quiet",
    ];
    all.extend_from_slice(args);
    let out = faultline(&all);
    let run_dir = std::fs::canonicalize(results.join("latest"))
        .unwrap_or_else(|e| panic!("{e}\n{}", text(&out)));
    let results = read_json(&run_dir.join("results.json"));
    let run_id = results["run_id"].as_str().expect("a run id").to_string();
    assert_eq!(
        processes_mentioning(run_dir.to_str().unwrap()),
        Vec::<String>::new(),
        "node processes left behind"
    );
    assert_eq!(
        namespaces_of(&run_id),
        Vec::<String>::new(),
        "namespaces left behind"
    );
    (run_dir, results, out)
}

fn nemesis_fs(results: &Value) -> Vec<String> {
    results["nemesis"]["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["f"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// etcd with its default (linearizable) reads stays linearizable while members are
/// killed and restarted (as members of the existing cluster), and the run leaves
/// nothing behind.
#[test]
fn etcd_under_kills_is_linearizable_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, results, out) = run(
        &dir,
        &[
            "--system",
            "etcd",
            "--nodes",
            "3",
            "--time-limit",
            "8s",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "2s",
            "--seed",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(results["verdict"], "valid", "{}", text(&out));
    let fs = nemesis_fs(&results);
    assert!(
        fs.iter().any(|f| f == "kill"),
        "no member was killed: {fs:?}"
    );
    // The restarted member rejoined the existing cluster rather than bootstrapping.
    let logs: String = ["n1", "n2", "n3"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(run_dir.join("nodes").join(format!("{n}.log")))
                .unwrap_or_default()
        })
        .collect();
    assert!(
        logs.contains("--initial-cluster-state existing"),
        "no restart as an existing member"
    );
    let writes_ok = results["stats"]["counts"]["write"]["ok"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        writes_ok > 100,
        "too few writes succeeded: {writes_ok}\n{}",
        text(&out)
    );
}

/// The clock nemesis is refused for etcd before anything starts, saying why.
#[test]
fn etcd_refuses_clock_faults_with_the_reason() {
    let out = faultline(&[
        "test",
        "--system",
        "etcd",
        "--nemesis",
        "clock",
        "--time-limit",
        "1s",
        "--quiet",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("clock") && err.contains("libfaketime") && err.contains("etcd"),
        "{err}"
    );
}

/// Redis with Sentinel: when the primary is cut off, the sentinels of the majority
/// promote a replica and the clients follow them there; the run leaves nothing
/// behind. (Whether the history is linearizable is left to the campaigns: it
/// usually is not.)
#[test]
fn redis_sentinels_fail_over_when_the_primary_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, results, out) = run(
        &dir,
        &[
            "--system",
            "redis-sentinel",
            "--nodes",
            "3",
            "--time-limit",
            "12s",
            "--nemesis",
            "partition-leader",
            "--nemesis-interval",
            "5s",
            "--seed",
            "4",
        ],
    );
    assert!(
        results["verdict"] == "valid" || results["verdict"] == "invalid",
        "{}",
        text(&out)
    );
    let fs = nemesis_fs(&results);
    assert!(fs.iter().any(|f| f == "start-partition"), "{fs:?}");
    let logs: String = ["n1", "n2", "n3"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(run_dir.join("nodes").join(format!("{n}.log")))
                .unwrap_or_default()
        })
        .collect();
    assert!(
        logs.contains("+switch-master faultline"),
        "the sentinels never failed over\n{}",
        text(&out)
    );
    // Every node answered its final reads: after the heal, all of them follow one primary.
    assert_eq!(
        results["final_reads"]["unread"],
        serde_json::json!([]),
        "{}",
        text(&out)
    );
    assert!(results["final_reads"]["ok"].as_u64().unwrap_or(0) > 0);
}

/// A Redis cluster is started when it can do its job, not when its ports accept
/// connections: right after start every replica is in sync with the primary and every
/// sentinel knows every replica, so a fault at once cannot promote an empty replica.
#[test]
fn a_started_redis_cluster_has_every_replica_in_sync() {
    use harness::backend::netns::{Cluster, ClusterOptions};
    use workloads::redis::{check_ready, RedisOptions, SentinelDeployment, REDIS_PORT};
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let spec = harness::system::builtin::builtin("redis-sentinel").unwrap();
        let cluster = Cluster::start(ClusterOptions::new(spec, 3, dir.path().join("run")))
            .await
            .unwrap();
        let hosts: Vec<String> = cluster.nodes().iter().map(|n| n.ip.to_string()).collect();
        let options = RedisOptions::new(std::time::Duration::from_millis(500), 0);
        let deployment = SentinelDeployment::on_hosts(&hosts, REDIS_PORT, &options);
        let ready = check_ready(&deployment, std::time::Duration::from_secs(2)).await;
        let log = std::fs::read_to_string(&cluster.nodes()[0].log).unwrap();
        cluster.teardown().await.unwrap();
        assert!(ready.is_ok(), "{:?}", ready.err().map(|e| e.to_string()));
        assert!(log.contains("the cluster is ready"), "{log}");
    });
}
