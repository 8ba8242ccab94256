//! The counterexample points at the real anomaly. A real raft-kv run with its
//! `volatile-state` bug under `kill-all` (seed 4001, 10 s, 5 nodes; the history and
//! `test.json` in `fixtures/volatile-state/`): every node was killed at 2 s and
//! restarted at 7 s, having forgotten acknowledged writes. The exact search gets
//! stuck on operations of the first 0.1 s, while the history is linearizable until
//! well after the restart. The shortest non-linearizable prefix must end after the
//! restart, and lead both `faultline check --json` and the report.
//!
//!     cargo test -p faultline --test late_anomaly

mod common;
use common::{faultline, text};
use serde_json::Value;
use std::path::Path;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/volatile-state");
/// The restart of every node (`restart-all`, event 906), in ns.
const RESTARTED: u64 = 7_313_849_836;

fn run_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["history.jsonl", "test.json"] {
        std::fs::copy(Path::new(FIXTURE).join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn a_volatile_state_run_is_blamed_on_reads_after_the_restart_not_on_the_searchs_stuck_point() {
    let dir = run_folder();
    let history = dir.path().join("history.jsonl");
    let out = faultline(&["check", history.to_str().unwrap(), "--json"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lin = doc["histories"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "linearizable")
        .expect("a linearizable check")
        .clone();
    let ce = &lin["report"]["counterexample"];
    let found = &ce["shortest_prefix"];
    assert!(found.is_object(), "no shortest prefix: {ce}");
    let time = found["time"].as_u64().unwrap();
    assert!(
        time > RESTARTED,
        "the prefix ends at {time} ns, before the restart"
    );
    // The search's stuck point stays, as secondary evidence, and it is early.
    let stuck = ce["must_precede"]["invoke_index"].as_u64().unwrap();
    let ends = found["ends"]["invoke_index"].as_u64().unwrap();
    assert!(
        stuck < 100 && ends > 906,
        "stuck at {stuck}, ends at {ends}"
    );
    assert_eq!(found["minimal"], true);
    // The prefix just before is linearizable: the operations it holds are fewer than
    // the key's, and its own explanation is about the same key.
    assert!(found["ops"].as_u64() < found["key_ops"].as_u64(), "{found}");
    assert_eq!(found["counterexample"]["key"], ce["key"]);
    // The operation that ends it is a real one of the history, with its result.
    let events = std::fs::read_to_string(&history).unwrap();
    let completion = found["ends"]["complete_index"].as_u64().unwrap();
    let line = events.lines().nth(completion as usize).unwrap();
    let event: Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["time"].as_u64(), Some(time), "{line}");
    assert_eq!(event["value"], found["ends"]["output"], "{line}");
}

#[test]
fn the_report_and_the_console_lead_with_the_operation_that_ends_the_prefix() {
    let dir = run_folder();
    let out = faultline(&["report", dir.path().to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        page.contains("linearizable until this operation returned"),
        "the report does not lead with the end of the shortest prefix"
    );
    let history = dir.path().join("history.jsonl");
    let out = faultline(&["check", history.to_str().unwrap()], dir.path());
    let console = String::from_utf8_lossy(&out.stdout);
    let lead = console
        .find("linearizable until op")
        .unwrap_or_else(|| panic!("{}", text(&out)));
    let stuck = console
        .find("the search over the whole key (secondary evidence)")
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(lead < stuck, "{console}");
}
