//! Maelstrom nodes end to end: `faultline test --system maelstrom:PATH` runs the
//! Python nodes of `examples/maelstrom/python/` as real processes under their relays,
//! with real faults, and checks their histories. A correct node passes; a weak one
//! is caught by the check its weakness breaks. Needs root (network namespaces) and
//! python3.
//!
//!     cargo test -p faultline --test maelstrom
//!     cargo test -p faultline --test maelstrom -- --ignored   # the longer runs: g-counter, txn-rw-register, seq-kv made linearizable, a line topology, the Rust nodes, the relay benchmark

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn node(name: &str) -> String {
    format!(
        "maelstrom:{}/../examples/maelstrom/python/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// One run: its exit code, results.json and the output.
fn run(dir: &Path, node_file: &str, args: &[&str]) -> (Option<i32>, Value, PathBuf, String) {
    let results = dir.join("results");
    let system = node(node_file);
    let mut all = vec!["test", "--system", &system, "--quiet", "--nodes", "3"];
    all.extend_from_slice(&["--results-dir", results.to_str().unwrap()]);
    all.extend_from_slice(args);
    let out = faultline(&all, dir);
    let run_dir = results
        .join("latest")
        .canonicalize()
        .unwrap_or_else(|e| panic!("no results folder ({e}): {}", text(&out)));
    let r = read_json(&run_dir.join("results.json"));
    (out.status.code(), r, run_dir, text(&out))
}

fn verdict_of(r: &Value, check: &str) -> String {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == check)
        .map(|c| c["verdict"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no {check} check in {}", r["checks"]))
}

#[test]
fn a_maelstrom_workload_on_a_system_that_is_not_a_maelstrom_node_is_refused_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let kv = dir.path().join("kv.toml");
    std::fs::write(&kv, "name = \"kv\"\ncommand = \"/bin/cat\"\nport = 8000\n").unwrap();
    let out = faultline(
        &[
            "test",
            "--system",
            kv.to_str().unwrap(),
            "--workload",
            "broadcast",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("--workload broadcast") && t.contains("maelstrom:PATH"),
        "{t}"
    );
    let out = faultline(
        &[
            "test",
            "--system",
            "maelstrom:/no/such/node",
            "--workload",
            "broadcast",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("/no/such/node"), "{}", text(&out));
    // Maelstrom's settings: a topology outside broadcast, or an unknown one.
    let echo = node("echo.py");
    for (args, says) in [
        (
            &["--workload", "echo", "--topology", "line"][..],
            "only the broadcast workload",
        ),
        (
            &["--workload", "broadcast", "--topology", "ring"][..],
            "unknown topology `ring`",
        ),
        (
            &["--workload", "echo", "--kv-services", "eventual"][..],
            "kv-services",
        ),
    ] {
        let all = [&["test", "--system", echo.as_str()][..], args].concat();
        let out = faultline(&all, dir.path());
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
}

#[test]
fn a_correct_broadcast_node_converges_under_partitions_and_its_messages_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (code, r, run_dir, out) = run(
        dir.path(),
        "broadcast.py",
        &[
            "--workload",
            "broadcast",
            "--time-limit",
            "6s",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "2s",
            "--rate",
            "50",
            "--seed",
            "1",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(verdict_of(&r, "eventual"), "valid", "{out}");
    let net = &r["network"];
    assert!(net["server_messages"].as_u64().unwrap() > 0, "{net}");
    assert!(
        net["nodes"]["n2"]["received"].as_u64().unwrap() > 0,
        "{net}"
    );
    assert!(r["nemesis"]["schedule"].is_object(), "{}", r["nemesis"]);
    // The node's stderr and the relay's notes are in the node log.
    assert!(run_dir.join("nodes/n1.log").exists());
    // Nodes ran in their folders inside the run; none outlived it (relay or child).
    assert_eq!(processes_working_in(&run_dir), Vec::<String>::new());
}

/// Processes whose working directory is inside `dir` (a node runs in
/// `data/<id>/node` of its run), with their command lines.
fn processes_working_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(dir) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    found
}

#[test]
fn a_broadcast_without_retries_loses_acknowledged_messages_under_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (code, r, _, out) = run(
        dir.path(),
        "broadcast.py",
        &[
            "--workload",
            "broadcast",
            "--system-arg=--weak",
            "--time-limit",
            "6s",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "1s",
            "--rate",
            "50",
            "--seed",
            "1",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(verdict_of(&r, "eventual"), "invalid", "{out}");
}

#[test]
fn unique_ids_from_a_counter_alone_collide_after_a_kill_and_random_incarnations_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--workload",
        "unique-ids",
        "--time-limit",
        "4s",
        "--nemesis",
        "kill",
        "--nemesis-interval",
        "1s",
        "--rate",
        "100",
        "--seed",
        "2",
    ];
    correct_passes_and_weak_is_caught(dir.path(), "unique_ids.py", &args, "unique-ids");
}

#[test]
fn an_echo_node_answers_every_echo_with_its_text_under_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let (code, r, _, out) = run(
        dir.path(),
        "echo.py",
        &[
            "--workload",
            "echo",
            "--time-limit",
            "3s",
            "--nemesis",
            "pause",
            "--nemesis-interval",
            "1s",
            "--rate",
            "100",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(verdict_of(&r, "echo"), "valid", "{out}");
    assert!(
        r["stats"]["counts"]["echo"]["ok"].as_u64().unwrap() > 100,
        "{out}"
    );
}

#[test]
fn a_lin_kv_node_over_the_lin_kv_service_is_linearizable_under_packet_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (code, r, _, out) = run(
        dir.path(),
        "lin_kv.py",
        &[
            "--workload",
            "lin-kv",
            "--time-limit",
            "5s",
            "--nemesis",
            "loss",
            "--nemesis-interval",
            "1s",
            "--rate",
            "100",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(verdict_of(&r, "linearizable"), "valid", "{out}");
    assert!(r["network"]["service_requests"]["lin-kv"].as_u64().unwrap() > 0);
}

#[test]
fn a_txn_list_append_node_over_lin_kv_is_serializable_and_its_blind_write_variant_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = quick("txn-list-append", "kill", "4");
    // The blind write loses an update only when two transactions overlap; at 80 a
    // second on an idle machine they rarely do (missed once in a clean-clone run),
    // at 300 every one of seeds 4-8 showed several anomalies.
    args[9] = "300";
    correct_passes_and_weak_is_caught(dir.path(), "txn.py", &args, "list-append");
}

#[test]
fn a_kafka_node_over_lin_kv_keeps_its_logs_and_one_in_memory_per_node_loses_them_on_kill() {
    let dir = tempfile::tempdir().unwrap();
    let args = quick("kafka", "kill", "5");
    let r = correct_passes_and_weak_is_caught(dir.path(), "kafka.py", &args, "kafka");
    // Every node's final poll read its whole logs; the weak node's killed logs show
    // as acknowledged sends missing from every final poll.
    let report = &r["checks"][0]["report"];
    assert_eq!(report["final_polls_acknowledged"], 3, "{report}");
    let lost = &report["examples"]["lost-writes"];
    assert!(
        lost.as_array().is_some_and(|l| l.iter().any(|e| e["what"]
            .as_str()
            .is_some_and(|w| w.contains("missing from every final poll")))),
        "{report}"
    );
}

/// A 4-second run of `workload` at 80 operations a second, a fault every second.
fn quick<'a>(workload: &'a str, nemesis: &'a str, seed: &'a str) -> [&'a str; 12] {
    [
        "--workload",
        workload,
        "--time-limit",
        "4s",
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        "1s",
        "--rate",
        "80",
        "--seed",
        seed,
    ]
}

#[test]
fn a_node_that_takes_seq_kv_for_linearizable_is_caught_by_its_stale_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (code, r, run_dir, out) = run(
        dir.path(),
        "lin_kv.py",
        &[
            "--workload",
            "lin-kv",
            "--system-arg=--service",
            "--system-arg=seq-kv",
            "--time-limit",
            "4s",
            "--nemesis",
            "pause",
            "--rate",
            "100",
            "--seed",
            "3",
        ],
    );
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(verdict_of(&r, "linearizable"), "invalid", "{out}");
    assert!(r["network"]["service_requests"]["seq-kv"].as_u64().unwrap() > 0);
    // The network section: per node latency in results.json and the report.
    assert!(
        r["network"]["latency_ms_per_node"]["n1"]["completed"]
            .as_u64()
            .unwrap()
            > 0,
        "{}",
        r["network"]
    );
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    assert!(
        html.contains("<section id=\"network\">"),
        "no network section"
    );
}

#[test]
#[ignore = "about 40 s: txn-rw-register, seq-kv switched to linearizable, a line topology"]
fn txn_rw_register_seq_kv_made_linearizable_and_a_line_topology_pass_with_correct_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["--time-limit", "5s", "--rate", "80", "--seed", "6"];
    let txn = [
        &["--workload", "txn-rw-register", "--nemesis", "kill"][..],
        &base,
    ]
    .concat();
    correct_passes_and_weak_is_caught(dir.path(), "txn.py", &txn, "rw-register");
    let kv = [
        &[
            "--workload",
            "lin-kv",
            "--system-arg=--service",
            "--system-arg=seq-kv",
            "--kv-services",
            "linearizable",
            "--nemesis",
            "pause",
        ][..],
        &base,
    ]
    .concat();
    let (code, r, _, out) = run(dir.path(), "lin_kv.py", &kv);
    assert_eq!(
        (code, verdict_of(&r, "linearizable")),
        (Some(0), "valid".into()),
        "{out}"
    );
    let line = [
        &[
            "--workload",
            "broadcast",
            "--topology",
            "line",
            "--nemesis",
            "partition",
        ][..],
        &base,
    ]
    .concat();
    let (code, r, _, out) = run(dir.path(), "broadcast.py", &line);
    assert_eq!(
        (code, verdict_of(&r, "eventual")),
        (Some(0), "valid".into()),
        "{out}"
    );
}

#[test]
#[ignore = "about 30 s: g-counter under kills, correct and weak"]
fn a_g_counter_kept_in_memory_loses_counts_on_kill_and_one_in_lin_kv_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--workload",
        "g-counter",
        "--time-limit",
        "8s",
        "--nemesis",
        "kill",
        "--nemesis-interval",
        "1s",
        "--rate",
        "50",
        "--seed",
        "4",
    ];
    correct_passes_and_weak_is_caught(dir.path(), "g_counter.py", &args, "counter");
}

/// The relay path's throughput: five flood nodes (`maelstrom-nodes flood RATE`) each
/// send RATE messages a second to the others in turn, through their relays over UDP,
/// and print what they received each second; the figure is the sum over the nodes of
/// each node's median second. Goal: 20,000 messages a second between 5 nodes.
///
///     cargo test --release -p faultline --test maelstrom -- --ignored --nocapture relay_path
#[test]
#[ignore = "benchmark: about 20 s, meaningful in release builds"]
fn relay_path_carries_twenty_thousand_messages_a_second_between_five_nodes() {
    let bin = rust_nodes();
    let rate = std::env::var("FL_FLOOD_RATE").unwrap_or_else(|_| "5000".into());
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let system = format!("maelstrom:{bin}");
    let args = [
        "test",
        "--system",
        &system,
        "--system-arg=flood",
        "--system-arg",
        &rate,
        "--workload",
        "unique-ids",
        "--nodes",
        "5",
        "--nemesis",
        "none",
        "--time-limit",
        "10s",
        "--rate",
        "10",
        "--quiet",
        "--keep-data",
        "always",
        "--results-dir",
        results.to_str().unwrap(),
    ];
    let out = faultline(&args, dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let run_dir = results.join("latest").canonicalize().unwrap();
    let mut total = 0u64;
    for i in 1..=5 {
        let log = std::fs::read_to_string(run_dir.join(format!("nodes/n{i}.log"))).unwrap();
        let mut seconds: Vec<u64> = log
            .lines()
            .filter_map(|l| l.strip_prefix("received ")?.trim().parse().ok())
            .collect();
        assert!(
            seconds.len() >= 5,
            "n{i} logged {} seconds:\n{log}",
            seconds.len()
        );
        seconds.sort_unstable();
        total += seconds[seconds.len() / 2];
    }
    println!(
        "relay path: {total} messages/s delivered between 5 nodes (offered {rate}/s per node)"
    );
    assert!(total >= 20_000, "{total} messages/s");
}

/// The Rust nodes (`examples/maelstrom/rust/`, one binary) under the default faults
/// (partitions, kills, pauses) and packet loss, every workload.
///
///     cargo test -p faultline --test maelstrom -- --ignored rust_nodes
#[test]
#[ignore = "about 60 s: five runs of the Rust nodes"]
fn the_rust_nodes_pass_every_workload_under_partitions_kills_pauses_and_loss() {
    let bin = rust_nodes();
    let system = format!("maelstrom:{bin}");
    for workload in ["echo", "unique-ids", "broadcast", "g-counter", "lin-kv"] {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        let arg = format!("--system-arg={workload}");
        let args = [
            "test",
            "--system",
            &system,
            &arg,
            "--workload",
            workload,
            "--nodes",
            "5",
            "--time-limit",
            "8s",
            "--nemesis",
            "partition,kill,pause,loss",
            "--nemesis-interval",
            "1s",
            "--rate",
            "100",
            "--seed",
            "5",
            "--quiet",
            "--results-dir",
            results.to_str().unwrap(),
        ];
        let out = faultline(&args, dir.path());
        assert_eq!(out.status.code(), Some(0), "{workload}: {}", text(&out));
    }
}

/// The node passes with `args`, and its `--weak` variant fails `check` (exit 1).
/// Runs `node` and its `--weak` variant; returns the weak run's results.
fn correct_passes_and_weak_is_caught(dir: &Path, node: &str, args: &[&str], check: &str) -> Value {
    let (code, r, _, out) = run(dir, node, args);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(verdict_of(&r, check), "valid", "{out}");
    let mut weak = args.to_vec();
    weak.push("--system-arg=--weak");
    let (code, r, _, out) = run(dir, node, &weak);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(verdict_of(&r, check), "invalid", "{out}");
    r
}

/// The Rust nodes' binary, built as this test binary was (debug or release).
fn rust_nodes() -> String {
    build(&["maelstrom-nodes"]);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "{}/../target/{profile}/maelstrom-nodes",
        env!("CARGO_MANIFEST_DIR")
    )
}
