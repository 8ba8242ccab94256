//! `faultline compare` end to end: the tiny plan `campaigns/quick.toml` (raft-kv and
//! dynamo-kv R=W=1 on the append workload, partitions, one seed, 6 s runs) is
//! interrupted after its first run, resumed by the same command, and its matrix is
//! asserted cell by cell. Needs root (network namespaces); builds both systems first.
//!
//!     cargo test -p faultline --test compare

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PLAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../campaigns/quick.toml");

fn compare(results: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faultline"));
    c.args(["compare", PLAN, "--results-dir"]).arg(results);
    c
}

fn ledger_lines(campaign_root: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(campaign_root) else {
        return 0;
    };
    dirs.flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("runs.jsonl")).ok())
        .map(|t| t.lines().count())
        .sum()
}

/// The cell of `model` in the row of `entry` (the plan has one fault set).
fn cell<'a>(matrix: &'a Value, entry: &str, model: &str) -> &'a Value {
    let row = matrix["tables"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entry"] == entry)
        .unwrap_or_else(|| panic!("no row {entry}: {matrix:#}"));
    &row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c[0] == model)
        .unwrap_or_else(|| panic!("no {model} in {row:#}"))[1]
}

#[test]
fn an_interrupted_campaign_resumes_and_its_matrix_says_what_each_system_kept() {
    build(&["raft-kv", "dynamo-kv"]);
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let root = results.join("compare/quick");

    // Interrupt it once the first run is in the ledger.
    let child = compare(&results)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while ledger_lines(&root) == 0 {
        assert!(Instant::now() < deadline, "no run finished in 180 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run the same command again to resume"),
        "{}",
        text(&out)
    );
    let first: Value = serde_json::from_str(
        std::fs::read_to_string(root.join("latest/runs.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["entry"], "raft-kv");

    // The same command resumes: the finished run is not run again.
    let out = compare(&results).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("resuming quick: 2 runs, 1 to do"),
        "{}",
        text(&out)
    );
    assert!(!stderr.contains("running raft-kv"), "{}", text(&out));
    let campaigns: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|d| !d.path().is_symlink())
        .collect();
    assert_eq!(campaigns.len(), 1, "the resume made a new campaign");

    let matrix = read_json(&root.join("latest/matrix.json"));
    // raft-kv promises linearizability: on lists the session guarantees and no lost
    // writes (which it implies) are judged, and held; convergence too.
    for m in [
        "monotonic-reads",
        "monotonic-writes",
        "read-your-writes",
        "writes-follow-reads",
        "eventual",
        "no-lost-writes",
    ] {
        let c = cell(&matrix, "raft-kv", m);
        assert_eq!(
            (&c["promised"], &c["runs"], &c["held"], &c["broken"]),
            (&json!(true), &json!(1), &json!(1), &json!(0)),
            "raft-kv {m}: {c:#}"
        );
    }
    let lin = cell(&matrix, "raft-kv", "linearizable");
    assert_eq!(
        (&lin["held"], &lin["broken"]),
        (&json!(0), &json!(0)),
        "{lin:#}"
    );
    // dynamo-kv R=W=1 breaks monotonic reads (a finding: not promised) and keeps
    // what it promises.
    let mr = cell(&matrix, "dynamo-kv R=W=1", "monotonic-reads");
    assert_eq!(
        (&mr["promised"], &mr["broken"], &mr["runs"]),
        (&json!(false), &json!(1), &json!(1)),
        "{mr:#}"
    );
    assert!(mr["median_first_violation_s"].as_f64().unwrap() >= 0.0);
    assert!(mr["fastest_run"]
        .as_str()
        .unwrap()
        .contains("dynamo-kv-R-W-1--partitions"));
    for m in ["eventual", "no-lost-writes"] {
        let c = cell(&matrix, "dynamo-kv R=W=1", m);
        assert_eq!(
            (&c["promised"], &c["held"]),
            (&json!(true), &json!(1)),
            "dynamo-kv {m}: {c:#}"
        );
    }
    let md = std::fs::read_to_string(root.join("latest/matrix.md")).unwrap();
    assert!(md.contains("| raft-kv | – | – | **held 1/1** |"), "{md}");
    assert!(md.contains("**held 1/1** | session |"), "{md}");
    // The short form: one line per row, the promises kept.
    assert!(
        md.contains("| raft-kv | partitions | 0 of 1 | session |"),
        "{md}"
    );
    assert!(
        md.contains("| dynamo-kv R=W=1 | partitions | 0 of 1 | eventual |"),
        "{md}"
    );
    // Every cell opens a run's report, which is there; one dot per run.
    let page = std::fs::read_to_string(root.join("latest/matrix.html")).unwrap();
    assert!(
        page.contains("<a href=\"runs/dynamo-kv-R-W-1--partitions/"),
        "{page}"
    );
    let links: Vec<&str> = page
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert!(!links.is_empty(), "{page}");
    for link in &links {
        assert!(link.ends_with("/report.html"), "{link}");
        assert!(root.join("latest").join(link).is_file(), "{link}");
    }
    assert!(page.contains("title=\"seed 8001: broken\">●</a>"), "{page}");
    assert!(
        md.contains("| dynamo-kv R=W=1 | broken 1/1 (median"),
        "{md}"
    );
}

/// The reference campaign (`campaigns/reference.toml`: every reference system and
/// setting, every bug switch with the faults that catch it, 10 seeds of 20 or 30 s,
/// 230 runs, three at a time: about 45 minutes on 2 cores): every bug build breaks a
/// promise in at least 8 of 10 runs, and no correct build breaks one.
///
///     cargo build --release --workspace
///     sudo cargo test --release -p faultline --test compare -- --ignored --nocapture
#[test]
#[ignore = "a campaign of about 45 minutes"]
fn the_reference_campaign_finds_every_bug_and_no_correct_build_breaks_a_promise() {
    build(&["raft-kv", "dynamo-kv", "pb-kv", "cl-bank"]);
    let plan = concat!(env!("CARGO_MANIFEST_DIR"), "/../campaigns/reference.toml");
    let results = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../results"));
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["compare", plan, "--parallel", "3", "--results-dir"])
        .arg(results)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    println!("{}", String::from_utf8_lossy(&out.stdout));
    let matrix = read_json(&results.join("compare/reference/latest/matrix.json"));
    let mut misses = Vec::new();
    for table in matrix["tables"].as_array().unwrap() {
        for row in table["rows"].as_array().unwrap() {
            let entry = row["entry"].as_str().unwrap();
            let broken_promises = row["promise_broken"].as_u64().unwrap();
            let runs = row["runs"].as_u64().unwrap();
            let bug = entry.contains("--bug");
            if (bug && broken_promises * 10 < runs * 8) || (!bug && broken_promises > 0) {
                misses.push(format!(
                    "{entry} / {}: a promise broken in {broken_promises} of {runs}",
                    table["faults"]
                ));
            }
        }
    }
    assert!(misses.is_empty(), "{misses:#?}");
}
