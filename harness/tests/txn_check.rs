//! `faultline check --check list-append|rw-register` end to end on Elle's EDN, the
//! JSON form elle-cli reads and faultline's own synthetic histories; and `faultline
//! synth` for transactions.
//!
//!     cargo test -p faultline --test txn_check

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("running faultline")
}

fn write(dir: &tempfile::TempDir, name: &str, content: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn all(out: &Output) -> String {
    format!("{}{}", stdout(out), String::from_utf8_lossy(&out.stderr))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Write skew as Elle writes histories: both read two empty keys, each appends to one.
const WRITE_SKEW_EDN: &str = "\
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil] [:append 1 1]], :process 0, :time 0, :index 0}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil] [:append 2 1]], :process 1, :time 1, :index 1}
{:type :ok, :f :txn, :value [[:r 1 []] [:r 2 nil] [:append 1 1]], :process 0, :time 2, :index 2}
{:type :ok, :f :txn, :value [[:r 1 nil] [:r 2 []] [:append 2 1]], :process 1, :time 3, :index 3}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]], :process 0, :time 4, :index 4}
{:type :ok, :f :txn, :value [[:r 1 [1]] [:r 2 [1]]], :process 0, :time 5, :index 5}
";

/// Read skew in the JSON elle-cli reads.
const READ_SKEW_JSON: &str = r#"[
{"type": "invoke", "f": "txn", "value": [["w", "x", 1], ["w", "y", 1]], "process": 0, "time": 0, "index": 0},
{"type": "invoke", "f": "txn", "value": [["r", "x", null], ["r", "y", null]], "process": 1, "time": 1, "index": 1},
{"type": "ok", "f": "txn", "value": [["w", "x", 1], ["w", "y", 1]], "process": 0, "time": 2, "index": 2},
{"type": "ok", "f": "txn", "value": [["r", "x", 1], ["r", "y", null]], "process": 1, "time": 3, "index": 3}
]"#;

#[test]
fn write_skew_in_elle_edn_is_explained_and_rules_out_serializable() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "history.edn", WRITE_SKEW_EDN);
    let out = faultline(&["check", "--check", "list-append", path(&file)]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("G2-item"), "{text}");
    assert!(
        text.contains("T0 read key 2 = [] before T1's append of 1"),
        "{text}"
    );
    assert!(
        text.contains("T1 (process 1, ok): [r 1 []] [r 2 []] [append 2 1]"),
        "{text}"
    );
    assert!(
        text.contains("strongest isolation not ruled out: strong snapshot isolation"),
        "{text}"
    );
}

#[test]
fn read_skew_in_elle_cli_json_is_g_single_on_registers() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "history.json", READ_SKEW_JSON);
    let out = faultline(&["check", "--check", "rw-register", "--json", path(&file)]);
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &doc["histories"][0]["checks"][0]["report"];
    assert_eq!(report["counts"]["G-single"], 1, "{report:#}");
    assert_eq!(
        report["weakest_ruled_out"],
        serde_json::json!(["repeatable-read", "snapshot-isolation"])
    );
}

#[test]
fn synthetic_transactions_check_valid_and_each_injected_anomaly_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.jsonl");
    let out = faultline(&[
        "synth",
        "--model",
        "list-append",
        "--ops",
        "3000",
        "--clients",
        "10",
        "--crash-rate",
        "0.01",
        "-o",
        path(&clean),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let out = faultline(&["check", "--check", "list-append", path(&clean)]);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    for (model, anomaly) in [
        ("list-append", "G0"),
        ("list-append", "G1c"),
        ("list-append", "G-single"),
        ("list-append", "G2-item"),
        ("rw-register", "G2-item"),
    ] {
        let file = dir.path().join(format!("{model}-{anomaly}.jsonl"));
        let out = faultline(&[
            "synth",
            "--model",
            model,
            "--ops",
            "2000",
            "--clients",
            "8",
            "--anomaly",
            anomaly,
            "-o",
            path(&file),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", all(&out));
        let out = faultline(&["check", "--check", model, path(&file)]);
        let text = all(&out);
        assert_eq!(out.status.code(), Some(1), "{model} {anomaly}: {text}");
        assert!(
            text.contains(&format!("{anomaly} (")),
            "{model} {anomaly}: {text}"
        );
    }
}

/// One valid transaction on lines 1-2, then `bad` events from line 3 on.
fn after_a_good_txn(bad: &[&str]) -> String {
    let mut lines = vec![
        r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"txn","value":[["append",1,1],["r",1,null]]}"#.to_string(),
        r#"{"index":1,"time":1,"process":0,"type":"ok","f":"txn","value":[["append",1,1],["r",1,[1]]]}"#.to_string(),
    ];
    lines.extend(bad.iter().map(|l| l.to_string()));
    lines.join("\n") + "\n"
}

#[test]
fn a_malformed_transaction_is_bad_input_naming_the_file_line_and_what_is_wrong() {
    let invoke = |value: &str| {
        format!(r#"{{"index":2,"time":2,"process":1,"type":"invoke","f":"txn","value":{value}}}"#)
    };
    let ok = |value: &str| {
        format!(r#"{{"index":3,"time":3,"process":1,"type":"ok","f":"txn","value":{value}}}"#)
    };
    let cases = [
        (
            vec![invoke(r#"[["append",1]]"#)],
            r#":3: the txn invoked at index 2: micro-operation 0 (["append",1]): a micro-operation is a list [f, key, value]"#,
        ),
        (
            vec![invoke(r#"[["r",1,null],["incr",1,2]]"#)],
            ":3: the txn invoked at index 2: micro-operation 1 ([\"incr\",1,2]): unknown function `incr` (known: append, r, w)",
        ),
        (
            vec![invoke("5")],
            ":3: the txn invoked at index 2: a txn's value must be a list of micro-operations, found 5",
        ),
        (
            vec![invoke(r#"[["r",1,null]]"#), ok(r#"[["r",1,7]]"#)],
            ":4: the txn invoked at index 2: micro-operation 0 ([\"r\",1,7]): a list-append read must be a list or null, found 7",
        ),
        (
            vec![invoke(r#"[["append",[1],2]]"#)],
            ":3: the txn invoked at index 2: micro-operation 0 ([\"append\",[1],2]): a key must be an integer or a string, found [1]",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (bad, expected)) in cases.iter().enumerate() {
        let lines: Vec<&str> = bad.iter().map(String::as_str).collect();
        let file = write(&dir, &format!("bad{i}.jsonl"), &after_a_good_txn(&lines));
        let out = faultline(&["check", "--check", "list-append", path(&file)]);
        let text = all(&out);
        assert_eq!(out.status.code(), Some(3), "case {i}: {text}");
        assert!(
            text.contains(&format!("{}{expected}", path(&file))),
            "case {i}: {text}"
        );
        assert!(!text.contains("panicked"), "case {i}: {text}");
    }
}

#[test]
fn a_malformed_transaction_in_elle_edn_is_bad_input_naming_the_operation() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "bad.edn",
        "{:type :invoke, :f :txn, :value [[:append 1]], :process 0, :time 0, :index 0}\n",
    );
    let out = faultline(&["check", "--check", "list-append", path(&file)]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "{}: operation invoked at index 0: micro-operation 0",
            path(&file)
        )),
        "{text}"
    );
}

#[test]
fn an_unpaired_completion_in_a_transactional_history_is_bad_input_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let content =
        after_a_good_txn(&[r#"{"index":2,"time":2,"process":4,"type":"ok","f":"txn","value":[]}"#]);
    let file = write(&dir, "unpaired.jsonl", &content);
    let out = faultline(&["check", "--check", "list-append", path(&file)]);
    let text = all(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains(&format!(
            "{}:3: process 4 completes `txn` (ok) but has no pending invoke",
            path(&file)
        )),
        "{text}"
    );
}
