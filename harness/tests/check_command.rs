//! `faultline check` end to end on small histories written here: the readings each
//! format brings (Jepsen's failed CAS and nil read), the flags that override them,
//! `--initial`, the bank check's total, and import warnings.
//!
//!     cargo test -p faultline --test check_command

mod common;
use common::text;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str], files: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .args(files)
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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", text(out)))
}

/// A CAS of 1 fails while the register certainly holds 1: possible only if the
/// failure means the CAS never happened (Jepsen's reading).
const FAILED_CAS_EDN: &str = "\
{:type :invoke, :f :write, :value 1, :process 0, :time 0, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :time 1, :index 1}
{:type :invoke, :f :cas, :value [1 2], :process 1, :time 2, :index 2}
{:type :fail, :f :cas, :value [1 2], :process 1, :time 3, :index 3}
{:type :invoke, :f :read, :value nil, :process 0, :time 4, :index 4}
{:type :ok, :f :read, :value 1, :process 0, :time 5, :index 5}
";

/// A register read as 0 before anything was written: valid only if it started at 0.
/// Time goes back by 3 s on line 6.
const STARTS_AT_ZERO_EDN: &str = "\
{:type :invoke, :f :read, :value nil, :process 0, :time 0, :index 0}
{:type :ok, :f :read, :value 0, :process 0, :time 1, :index 1}
{:type :invoke, :f :write, :value 1, :process 0, :time 2, :index 2}
{:type :ok, :f :write, :value 1, :process 0, :time 3, :index 3}
{:type :invoke, :f :read, :value nil, :process 1, :time 5000000000, :index 4}
{:type :ok, :f :read, :value 1, :process 1, :time 2000000000, :index 5}
";

/// Jepsen's JSON form: a read of nil after a write of 1, which constrains nothing as
/// Knossos reads it, and is a stale read if nil is a value.
const NIL_READ_JSON: &str = r#"[{"type":"invoke","f":"write","value":1,"process":0,"time":0,"index":0},
{"type":"ok","f":"write","value":1,"process":0,"time":1,"index":1},
{"type":"invoke","f":"read","value":null,"process":0,"time":4,"index":2},
{"type":"ok","f":"read","value":null,"process":0,"time":5,"index":3}]
"#;

/// Three accounts holding 100 in all, before and after a transfer.
const BANK_JSONL: &str = include_str!("histories/bank.jsonl");

#[test]
fn a_failed_cas_in_edn_had_no_effect_unless_told_it_compared() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "cas.edn", FAILED_CAS_EDN);
    let out = faultline(&["check"], &[&path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("cas-fail=no-effect (edn default), nil-read=unknown (edn default)"),
        "{}",
        text(&out)
    );
    let out = faultline(&["check", "--cas-fail", "compared"], &[&path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("cas-fail=compared (given)"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_register_that_starts_at_zero_is_valid_with_initial_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "zero.edn", STARTS_AT_ZERO_EDN);
    let out = faultline(&["check"], &[&path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = faultline(&["check", "--initial", "0", "--json"], &[&path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    let model = doc["histories"][0]["report"]["model"].as_str().unwrap();
    assert!(model.contains("initial 0"), "{model}");
}

#[test]
fn a_bad_initial_value_exits_3_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "zero.edn", STARTS_AT_ZERO_EDN);
    // Not JSON at all.
    let out = faultline(&["check", "--initial", "{bad"], &[&path]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("--initial: `{bad` is not a JSON value"),
        "{}",
        text(&out)
    );
    // JSON, but for a model that has no initial value.
    let out = faultline(&["check", "--initial", "0", "--model", "set"], &[&path]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stdout(&out).contains("--initial: the set model has no initial-value option"),
        "{}",
        text(&out)
    );
    // A model check's flag, given to the checks mode.
    let out = faultline(
        &[
            "check",
            "--initial",
            "0",
            "--check",
            "linearizable",
            "--workload",
            "register",
        ],
        &[&path],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("--initial applies to a model check"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_unknown_reading_exits_3_naming_the_flag_and_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "cas.edn", FAILED_CAS_EDN);
    let out = faultline(&["check", "--nil-read", "maybe"], &[&path]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("--nil-read: unknown meaning `maybe` (expected value, unknown)"),
        "{}",
        text(&out)
    );
    let out = faultline(&["check", "--cas-fail", "sometimes"], &[&path]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("expected from-error, compared, no-effect"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_jepsen_json_history_is_read_as_jepsen_means_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "history.json", NIL_READ_JSON);
    let out = faultline(&["check", "--json"], &[&path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let readings = &json(&out)["histories"][0]["readings"];
    assert_eq!(readings["format"], "jepsen-json", "{readings}");
    assert_eq!(readings["nil_read"], "unknown", "{readings}");
    assert_eq!(readings["nil_read_given"], false, "{readings}");
    let out = faultline(&["check", "--nil-read", "value"], &[&path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("nil-read=value (given)"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_checks_mode_reads_an_imported_history_with_its_formats_readings() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "history.json", NIL_READ_JSON);
    let checks = [
        "check",
        "--check",
        "linearizable,sequential",
        "--workload",
        "cas-register",
    ];
    let out = faultline(&checks, &[&path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("nil-read=unknown (jepsen-json default)"),
        "{}",
        text(&out)
    );
    let mut given = checks.to_vec();
    given.extend(["--nil-read", "value"]);
    let out = faultline(&given, &[&path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out_text = stdout(&out);
    assert!(
        out_text.contains("linearizable   invalid") && out_text.contains("sequential     invalid"),
        "{out_text}"
    );
}

#[test]
fn a_bank_history_is_held_to_the_total_given_or_else_the_first_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "bank.jsonl", BANK_JSONL);
    let bank = ["check", "--check", "bank", "--workload", "bank"];
    let out = faultline(&bank, &[&path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("expected 100, from the first read"),
        "{}",
        text(&out)
    );
    let mut given = bank.to_vec();
    given.extend(["--bank-total", "100", "--bank-accounts", "0,1,2"]);
    let out = faultline(&given, &[&path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("expected 100, given") && stdout(&out).contains("3 accounts, given"),
        "{}",
        text(&out)
    );
    let mut wrong = bank.to_vec();
    wrong.extend(["--bank-total", "90", "--json"]);
    let out = faultline(&wrong, &[&path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let check = &json(&out)["histories"][0]["checks"][0];
    assert_eq!(check["report"]["wrong_totals"], 2, "{check:#}");
    assert_eq!(check["report"]["expected_total"], 90, "{check:#}");
    let mut empty = bank.to_vec();
    empty.extend(["--bank-accounts", ","]);
    let out = faultline(&empty, &[&path]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("--bank-accounts: no account named"),
        "{}",
        text(&out)
    );
    // Without --check the bank flags would be ignored: refused instead.
    let out = faultline(&["check", "--bank-total", "100"], &[&path]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("--bank-total applies to the bank check"),
        "{}",
        text(&out)
    );
}

#[test]
fn time_going_back_is_warned_about_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "zero.edn", STARTS_AT_ZERO_EDN);
    let out = faultline(&["check", "--initial", "0", "--json"], &[&path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let warning = format!(
        "{}: warning: line 6: time goes back by 3.000 s",
        path.display()
    );
    assert!(stderr(&out).contains(&warning), "{}", text(&out));
    let warnings = &json(&out)["histories"][0]["warnings"];
    assert_eq!(warnings.as_array().map(Vec::len), Some(1), "{warnings}");
    // The checks mode warns the same way.
    let out = faultline(
        &["check", "--check", "linearizable", "--workload", "register"],
        &[&path],
    );
    assert!(stderr(&out).contains(&warning), "{}", text(&out));
}

#[test]
fn the_format_flag_lists_jepsen_json() {
    let out = faultline(&["check", "--help"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let help = stdout(&out);
    let format = help
        .lines()
        .skip_while(|l| !l.contains("--format"))
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(format.contains("jepsen-json"), "{help}");
}

/// A run folder written here: the stored append history (process 0's second read goes
/// back: monotonic reads broken; nodes n1 and n2 agree at the end) and a `test.json`
/// for `nodes` nodes that promises `expect`.
fn stored_append_run(dir: &tempfile::TempDir, nodes: i64, expect: &str) -> PathBuf {
    let config = harness::config::resolve(&harness::config::TestArgs {
        workload: Some("append".into()),
        nodes: Some(nodes),
        quiet_period: Some("10ns".into()),
        seed: Some(1),
        expect: Some(expect.into()),
        ..Default::default()
    })
    .unwrap();
    let record = serde_json::json!({ "config": config });
    std::fs::write(dir.path().join("test.json"), record.to_string()).unwrap();
    write(
        dir,
        "history.jsonl",
        include_str!("fixtures/stale-append.jsonl"),
    )
}

/// The exit code of a re-check follows the run's promises, as `faultline test`'s does:
/// 1 when a promised model is broken, 0 when only an unpromised one is (a finding),
/// 2 when a promised model is unknown (a third node that never answered its final
/// read leaves convergence undecided).
#[test]
fn a_rechecked_run_is_judged_by_its_promises() {
    let cases = [
        (2, "monotonic-reads", 1, "(promise broken: monotonic-reads"),
        (
            2,
            "eventual",
            0,
            "(promises kept: eventual; findings, not promised: linearizable, sequential, monotonic-reads, read-your-writes broken)",
        ),
        (3, "eventual", 2, "(promise undecided: eventual"),
    ];
    for (nodes, expect, code, note) in cases {
        let dir = tempfile::tempdir().unwrap();
        let history = stored_append_run(&dir, nodes, expect);
        let out = faultline(&["check"], &[&history]);
        assert_eq!(out.status.code(), Some(code), "{expect}: {}", text(&out));
        let stdout = stdout(&out);
        assert!(stdout.contains(note), "{expect}: {stdout}");
        let promised = stdout
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("model "))
            .find(|l| l.trim_start().starts_with(&format!("{expect} ")))
            .unwrap_or_else(|| panic!("no model line for {expect}: {stdout}"));
        assert!(promised.contains(" yes "), "{promised}");
        let out = faultline(&["check", "--json"], &[&history]);
        let doc = json(&out);
        let report = &doc["histories"][0]["promises"];
        assert_eq!(
            report["promises"]["models"],
            serde_json::json!([expect]),
            "{report:#}"
        );
        assert_eq!(out.status.code(), Some(code), "{expect}: {}", text(&out));
    }
}
