//! `faultline test --summary json` as a script and a CI job see it: a real 3-node
//! raft-kv run with its `stale-read` bug (root, as CI has; raft-kv is built first if
//! needed); standard output is one JSON object and nothing else, the console
//! summary (with the report's path) is on standard error, and the markdown summary
//! is appended to the file `GITHUB_STEP_SUMMARY` names.
//!
//!     cargo test -p faultline --test summary_json

mod common;
use common::{build_raft_kv, text};
use serde_json::Value;
use std::process::Command;

#[test]
fn summary_json_is_the_only_standard_output_and_the_step_summary_is_appended() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let step = dir.path().join("step-summary.md");
    std::fs::write(&step, "earlier step\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--nodes", "3", "--time-limit", "6s", "--seed", "5"])
        .args(["--system-arg=--bug=stale-read", "--nemesis", "partition"])
        .args(["--summary", "json", "--results-dir"])
        .arg(&results)
        .env("GITHUB_STEP_SUMMARY", &step)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line only: {}", text(&out));
    let summary: Value = serde_json::from_str(&stdout).expect("stdout is one JSON object");
    assert_eq!(summary["verdict"], "invalid");
    assert_eq!(summary["exit_code"], 1);
    let test = &summary["tests"][0];
    assert_eq!(test["seed"], 5);
    assert_eq!(test["verdict"], "invalid");
    let lin = test["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "linearizable")
        .unwrap();
    assert_eq!(lin["verdict"], "invalid");
    let ce = test["counterexample"].as_str().unwrap();
    assert!(ce.starts_with("linearizable: "), "{ce}");
    let report = test["report"].as_str().unwrap();
    assert!(std::path::Path::new(report).is_file(), "{report}");
    // What the console shows is on standard error, the report's path with it.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("report: {report}")), "{stderr}");
    assert!(stderr.contains("verdict: invalid"), "{stderr}");

    let md = std::fs::read_to_string(&step).unwrap();
    assert!(
        md.starts_with("earlier step\n### faultline: invalid\n"),
        "{md}"
    );
    assert!(md.contains("| **invalid** |"), "{md}");
    assert!(md.contains(&format!("- report: `{report}`")), "{md}");
    assert!(md.contains("- counterexample: `linearizable: "), "{md}");
}

#[test]
fn an_unknown_summary_format_is_bad_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--summary", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--summary"),
        "{}",
        text(&out)
    );
}

/// A stale read: the write of 2 returned before the read of 1 was invoked.
const STALE: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time":5,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"time":10,"process":0,"type":"invoke","f":"write","value":2}
{"index":3,"time":15,"process":0,"type":"ok","f":"write","value":2}
{"index":4,"time":20,"process":1,"type":"invoke","f":"read","value":null}
{"index":5,"time":25,"process":1,"type":"ok","f":"read","value":1}
"#;

fn check_summary(args: &[&str]) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .args(args)
        .args(["--summary", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line only: {}", text(&out));
    (out.status.code(), serde_json::from_str(&stdout).unwrap())
}

#[test]
fn check_summary_json_gives_each_historys_verdict_and_counterexample_in_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.jsonl");
    std::fs::write(&stale, STALE).unwrap();
    let valid = dir.path().join("valid.jsonl");
    std::fs::write(&valid, STALE.lines().take(4).collect::<Vec<_>>().join("\n")).unwrap();
    let (code, doc) = check_summary(&[
        stale.to_str().unwrap(),
        valid.to_str().unwrap(),
        "--model",
        "cas-register",
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(doc["verdict"], "invalid");
    assert_eq!(doc["exit_code"], 1);
    let histories = doc["histories"].as_array().unwrap();
    let of = |p: &std::path::Path| {
        histories
            .iter()
            .find(|h| h["path"] == p.to_str().unwrap())
            .unwrap()
            .clone()
    };
    assert_eq!(of(&stale)["verdict"], "invalid");
    let ce = of(&stale)["counterexample"].as_str().unwrap().to_string();
    assert!(ce.contains("read null -> ok 1"), "{ce}");
    assert_eq!(of(&valid)["verdict"], "valid");
    assert!(of(&valid)["counterexample"].is_null());

    // A run's folder: the run's own checks, each with its verdict.
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/volatile-state");
    for f in ["history.jsonl", "test.json"] {
        std::fs::copy(std::path::Path::new(fixture).join(f), run.join(f)).unwrap();
    }
    let (code, doc) = check_summary(&[run.join("history.jsonl").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let h = &doc["histories"][0];
    let checks: Vec<(String, String)> = h["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().into(),
                c["verdict"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            ("linearizable".to_string(), "invalid".to_string()),
            ("sequential".into(), "invalid".into()),
            ("eventual".into(), "valid".into())
        ]
    );
    let ce = h["counterexample"].as_str().unwrap();
    assert!(
        ce.starts_with("linearizable: key 0: linearizable until op 452"),
        "{ce}"
    );
}
