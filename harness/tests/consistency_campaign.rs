//! `faultline test` runs every consistency checker that applies to its workload and
//! ends with the hierarchy line; these tests drive the built binary against the
//! reference systems and assert the verdict each system earns. They need root
//! (network namespaces), as CI has, and build the systems they use.
//!
//!     cargo test -p faultline --test consistency_campaign                 # ~20 s
//!     cargo test --release -p faultline --test consistency_campaign -- --ignored --nocapture --test-threads 1
//!
//! The ignored campaign runs one 20 s test per claim (about 6 minutes in all).

mod common;
use common::build;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A finished run: its exit code, results.json, its folder and its output.
struct Run {
    code: i32,
    results: Value,
    dir: PathBuf,
    output: String,
}

impl Run {
    fn check(&self, name: &str) -> &Value {
        self.results["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .unwrap_or_else(|| panic!("no `{name}` check in results.json\n{}", self.output))
    }

    fn verdict(&self, name: &str) -> String {
        self.check(name)["verdict"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn guarantee(&self, field: &str) -> String {
        self.check("session")["report"][field]["verdict"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn last_line(&self) -> String {
        self.output
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.starts_with("stderr:"))
            .unwrap_or("")
            .to_string()
    }
}

fn run(results: &Path, name: &str, args: &[&str]) -> Run {
    let mut all = vec![
        "test",
        "--name",
        name,
        "--results-dir",
        results.to_str().unwrap(),
        "--seed",
        "1",
        "--quiet",
    ];
    all.extend_from_slice(args);
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&all)
        .output()
        .expect("running faultline");
    let dir = std::fs::canonicalize(results.join(name).join("..").join("latest"))
        .unwrap_or_else(|e| panic!("no results/latest: {e}\n{}", text(&out)));
    let results_json = std::fs::read_to_string(dir.join("results.json")).unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        results: serde_json::from_str(&results_json).unwrap(),
        dir,
        output: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// Short and cheap: a correct raft-kv on the append workload under partitions keeps
/// every session guarantee and is eventually consistent; results.json carries each
/// verdict with its evidence and the hierarchy line, which is also the run's last
/// line; `faultline check --check` on the stored history gives the same verdicts.
#[test]
fn correct_raft_kv_append_keeps_session_guarantees_and_converges() {
    build(&["raft-kv"]);
    let root = tempfile::tempdir().unwrap();
    let r = run(
        root.path(),
        "raft-append",
        &[
            "--system",
            "raft-kv",
            "--nodes",
            "3",
            "--workload",
            "append",
            "--time-limit",
            "6s",
            "--nemesis",
            "partition-halves",
            "--nemesis-interval",
            "2s",
            "--rate",
            "150",
            "--quiet-period",
            "500ms",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.output);
    assert_eq!(r.verdict("session"), "valid", "{}", r.output);
    assert_eq!(r.verdict("eventual"), "valid", "{}", r.output);
    for g in [
        "monotonic_reads",
        "monotonic_writes",
        "read_your_writes",
        "writes_follow_reads",
    ] {
        assert_eq!(r.guarantee(g), "valid", "{g}\n{}", r.output);
    }
    let ev = &r.check("eventual")["report"];
    assert!(
        ev["elements"]["acknowledged"].as_u64().unwrap() > 50,
        "{ev:#}"
    );
    assert_eq!(ev["elements"]["lost"], 0);
    assert!(
        ev["convergence"]["quiet_ns"].as_u64().unwrap() >= 500_000_000,
        "{ev:#}"
    );
    assert_eq!(
        r.results["hierarchy"]["strongest"], "session",
        "{:#}",
        r.results["hierarchy"]
    );
    let line = r.results["hierarchy"]["line"].as_str().unwrap().to_string();
    assert!(
        line.contains("all four session guarantees") && line.contains("eventually consistent"),
        "{line}"
    );
    assert_eq!(
        r.last_line(),
        line,
        "the run must end with the hierarchy line\n{}",
        r.output
    );

    // `faultline check` on the stored history: the run's verdicts.
    let replay = r.check("eventual")["replay"].as_str().unwrap().to_string();
    assert!(
        replay.contains("--check eventual") && replay.contains("--nodes n1,n2,n3"),
        "{replay}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "check",
            "--check",
            "session,eventual",
            "--workload",
            "append",
            "--quiet-period",
            "500ms",
            "--nodes",
            "n1,n2,n3",
            "--json",
        ])
        .arg(r.dir.join("history.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &doc["histories"][0];
    assert_eq!(h["hierarchy"]["line"].as_str(), Some(line.as_str()));
    for c in h["checks"].as_array().unwrap() {
        assert_eq!(c["verdict"], "valid", "{c:#}");
    }
}

/// Bad input is refused before anything starts, naming what is wrong.
#[test]
fn the_bank_workload_is_refused_on_a_kv_system_and_checks_must_apply() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "test",
            "--system",
            "raft-kv",
            "--workload",
            "bank",
            "--results-dir",
        ])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("KV protocol"), "{}", text(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--workload", "counter", "--check", "bank"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("does not apply"), "{}", text(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--check", "eventual", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("--workload"), "{}", text(&out));
}

const LONG: &[&str] = &[
    "--nodes",
    "5",
    "--time-limit",
    "20s",
    "--nemesis-interval",
    "3s",
];

fn long(root: &Path, name: &str, args: &[&str]) -> Run {
    let mut all: Vec<&str> = LONG.to_vec();
    all.extend_from_slice(args);
    let r = run(root, name, &all);
    println!("{name}: exit {}: {}", r.code, r.last_line());
    r
}

#[test]
#[ignore = "campaign: about 6 minutes of 20 s tests against every reference system"]
fn every_reference_system_is_placed_where_its_design_puts_it() {
    build(&["raft-kv", "dynamo-kv", "cl-bank"]);
    let root = tempfile::tempdir().unwrap();
    let p = root.path();

    // Correct raft-kv satisfies every model it is checked for.
    let r = long(
        p,
        "raft-set",
        &[
            "--system",
            "raft-kv",
            "--workload",
            "set",
            "--nemesis",
            "partition",
        ],
    );
    assert_eq!(
        (r.verdict("linearizable"), r.verdict("eventual")),
        ("valid".into(), "valid".into()),
        "{}",
        r.output
    );
    assert_eq!(r.results["hierarchy"]["strongest"], "linearizable");
    let r = long(
        p,
        "raft-append",
        &[
            "--system",
            "raft-kv",
            "--workload",
            "append",
            "--nemesis",
            "partition",
        ],
    );
    assert_eq!(
        (r.verdict("session"), r.verdict("eventual")),
        ("valid".into(), "valid".into()),
        "{}",
        r.output
    );

    // raft-kv stale-read: not linearizable, a session guarantee broken (processes stay
    // on one node, so the stale reads show as read-your-writes violations), still
    // eventually consistent.
    let stale = [
        "--system",
        "raft-kv",
        "--system-arg=--bug=stale-read",
        "--nemesis",
        "partition",
    ];
    let r = long(
        p,
        "raft-stale-set",
        &[&stale[..], &["--workload", "set"]].concat(),
    );
    assert_eq!(r.verdict("linearizable"), "invalid", "{}", r.output);
    assert_eq!(r.verdict("eventual"), "valid", "{}", r.output);
    let r = long(
        p,
        "raft-stale-append",
        &[&stale[..], &["--workload", "append"]].concat(),
    );
    assert_eq!(r.verdict("session"), "invalid", "{}", r.output);
    assert_eq!(r.verdict("eventual"), "valid", "{}", r.output);

    // dynamo-kv R=W=1 under partitions breaks monotonic reads; given a quiet period
    // long enough for anti-entropy it converges.
    let r = long(
        p,
        "dynamo-r1w1",
        &[
            "--system",
            "dynamo-kv",
            "--system-arg=--r=1",
            "--system-arg=--w=1",
            "--workload",
            "append",
            "--nemesis",
            "partition",
            "--quiet-period",
            "10s",
        ],
    );
    assert_eq!(r.guarantee("monotonic_reads"), "invalid", "{}", r.output);
    assert_eq!(
        r.check("eventual")["report"]["convergence"]["verdict"],
        "valid",
        "{}",
        r.output
    );

    // dynamo-kv --lww under clock bumps loses acknowledged writes.
    let r = long(
        p,
        "dynamo-lww",
        &[
            "--system",
            "dynamo-kv",
            "--system-arg=--lww",
            "--workload",
            "append",
            "--nemesis",
            "clock",
            "--quiet-period",
            "10s",
        ],
    );
    assert!(
        r.check("eventual")["report"]["elements"]["lost"]
            .as_u64()
            .unwrap()
            > 0,
        "{}",
        r.output
    );

    // Invariants: raft-kv's CAS hands out unique IDs and its counter stays in bounds;
    // dynamo-kv's CAS is not atomic; cl-bank's Chandy-Lamport snapshots keep the
    // total and the naive snapshot does not.
    let r = long(
        p,
        "raft-ids",
        &[
            "--system",
            "raft-kv",
            "--workload",
            "unique-ids",
            "--nemesis",
            "partition",
        ],
    );
    assert_eq!(r.verdict("unique-ids"), "valid", "{}", r.output);
    let r = long(
        p,
        "raft-counter",
        &[
            "--system",
            "raft-kv",
            "--workload",
            "counter",
            "--nemesis",
            "partition",
        ],
    );
    assert_eq!(r.verdict("counter"), "valid", "{}", r.output);
    let r = long(
        p,
        "dynamo-ids",
        &[
            "--system",
            "dynamo-kv",
            "--workload",
            "unique-ids",
            "--nemesis",
            "partition",
        ],
    );
    assert_eq!(r.verdict("unique-ids"), "invalid", "{}", r.output);
    // etcd with serializable reads (served by the local member) is not linearizable;
    // with linearizable reads it is. Needs etcd on PATH.
    if Command::new("etcd").arg("--version").output().is_ok() {
        let etcd = [
            "--system",
            "etcd",
            "--workload",
            "cas-register",
            "--nemesis",
            "partition",
        ];
        let r = long(p, "etcd-linearizable", &etcd);
        assert_eq!(r.verdict("linearizable"), "valid", "{}", r.output);
        let r = long(
            p,
            "etcd-serializable",
            &[&etcd[..], &["--etcd-reads", "serializable"]].concat(),
        );
        assert_eq!(r.verdict("linearizable"), "invalid", "{}", r.output);
        assert_eq!(r.verdict("eventual"), "valid", "{}", r.output);
    } else {
        println!("etcd: not on PATH, its claims were not tested");
    }
    let bank = [
        "--system",
        "cl-bank",
        "--workload",
        "bank",
        "--nemesis",
        "none",
        "--system-arg=--channel-delay-ms=20",
    ];
    let r = long(p, "clbank", &bank);
    assert_eq!(r.verdict("bank"), "valid", "{}", r.output);
    let r = long(
        p,
        "clbank-naive",
        &[&bank[..], &["--system-arg=--bug=naive-snapshot"]].concat(),
    );
    assert_eq!(r.verdict("bank"), "invalid", "{}", r.output);
}
