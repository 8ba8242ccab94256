//! Promises end to end: a real dynamo-kv cluster under partitions breaks monotonic
//! reads, which it never promised, and keeps what it promises (convergence, no lost
//! acknowledged appends), so `faultline test` exits 0 and reports the broken model as
//! a finding. Needs root (network namespaces); builds dynamo-kv first.
//!
//!     cargo test -p faultline --test promises

mod common;
use common::*;
use std::process::Command;

#[test]
fn dynamo_kv_under_partitions_keeps_its_promises_and_reports_broken_monotonic_reads() {
    build(&["dynamo-kv"]);
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--system",
            "dynamo-kv",
            "--workload",
            "append",
            "--nemesis",
            "partition",
            "--quiet-period",
            "10s",
            "--time-limit",
            "10s",
            "--seed",
            "8001",
            "--quiet",
            "--results-dir",
        ])
        .arg(&results)
        .current_dir(dir.path())
        .output()
        .expect("running faultline");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = read_json(&results.join("latest/results.json"));
    let promises = &r["promises"];
    assert_eq!(promises["verdict"], "valid", "{promises:#}");
    assert_eq!(
        promises["promises"]["models"],
        serde_json::json!(["eventual", "no-lost-writes"])
    );
    let model = |name: &str| {
        promises["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == name)
            .unwrap_or_else(|| panic!("no {name} in {promises:#}"))
            .clone()
    };
    let mr = model("monotonic-reads");
    assert_eq!(
        (&mr["promised"], &mr["status"]),
        (&serde_json::json!(false), &serde_json::json!("broken")),
        "{mr:#}"
    );
    assert!(mr["first_violation_s"].as_f64().unwrap() >= 0.0, "{mr:#}");
    for kept in ["eventual", "no-lost-writes"] {
        let m = model(kept);
        assert_eq!(
            (&m["promised"], &m["status"]),
            (&serde_json::json!(true), &serde_json::json!("held")),
            "{m:#}"
        );
    }
    // The checks' own verdict still says what they found; the console says both.
    assert_eq!(r["verdict"], "invalid");
    assert!(
        stdout.contains(
            "verdict: valid (promises kept: eventual, no-lost-writes; findings, not promised:"
        ) && stdout.contains("monotonic-reads"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains(
            "promises (the built-in system's, for these settings): eventual, no-lost-writes"
        ),
        "{}",
        text(&out)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("monotonic-reads "))
        .unwrap_or_else(|| panic!("no model line: {}", text(&out)));
    assert!(line.contains(" no ") && line.contains("broken"), "{line}");
}
