//! Client adapters end to end: `faultline test` on raft-kv driven through the Python
//! adapter of `examples/adapters/kv-python/` gives the verdicts the built-in client
//! gives on the same seeds (valid on the correct build, invalid with the stale-read
//! bug under partitions), serves every KV workload, keeps each process's log, and
//! leaves no adapter running. Needs root (network namespaces) and python3; builds
//! raft-kv first if needed.
//!
//!     cargo test -p faultline --test adapters

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADAPTER_SYSTEM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/adapters/kv-python/raft-kv.toml"
);

/// One run: its exit code and results folder.
fn run(dir: &Path, system: &str, seed: &str, extra: &[&str]) -> (Option<i32>, PathBuf, String) {
    let results = dir.join("results");
    let mut args = vec!["test", "--system", system, "--seed", seed, "--quiet"];
    args.extend_from_slice(&["--results-dir", results.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let out = faultline(&args, dir);
    let run_dir = results.join("latest").canonicalize().unwrap();
    (out.status.code(), run_dir, text(&out))
}

/// The pids the harness noted in an adapter run's client logs (`started (pid N)`), so
/// far (none before the run's clients folder exists).
fn adapter_pids(run_dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir(run_dir.join("clients"))
        .into_iter()
        .flatten()
    {
        let log = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        for line in log.lines() {
            if let Some(rest) = line.strip_prefix("[faultline] started (pid ") {
                pids.push(rest.trim_end_matches(')').parse().unwrap());
            }
        }
    }
    pids
}

fn assert_no_adapter_left(run_dir: &Path) {
    let pids = adapter_pids(run_dir);
    assert!(
        !pids.is_empty(),
        "no adapter started in {}",
        run_dir.display()
    );
    let alive: Vec<u32> = pids
        .into_iter()
        .filter(|p| running(*p, "client.py"))
        .collect();
    assert_eq!(alive, Vec::<u32>::new(), "adapters left running");
}

/// Whether process `pid` runs and its command line mentions `needle` (a pid reused by
/// another program does not count).
fn running(pid: u32, needle: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.contains(needle))
}

#[test]
fn the_python_adapter_gives_the_built_in_clients_verdicts_on_the_same_seeds() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], i32, &str); 2] = [
        (
            &[
                "--nodes",
                "3",
                "--time-limit",
                "8s",
                "--nemesis",
                "partition",
            ],
            0,
            "21",
        ),
        (
            &[
                "--nodes",
                "5",
                "--time-limit",
                "15s",
                "--system-arg=--bug=stale-read",
                "--nemesis",
                "partition",
            ],
            1,
            "11",
        ),
    ];
    for (extra, want, seed) in cases {
        for system in ["raft-kv", ADAPTER_SYSTEM] {
            let (code, run_dir, out) = run(dir.path(), system, seed, extra);
            assert_eq!(code, Some(want), "{system} {extra:?}: {out}");
            let results = read_json(&run_dir.join("results.json"));
            let ok = results["stats"]["total"]["ok"].as_u64().unwrap();
            assert!(ok > 100, "{system}: only {ok} ok operations");
            if system == ADAPTER_SYSTEM {
                assert!(run_dir.join("clients/0.log").is_file());
                assert_no_adapter_left(&run_dir);
            }
        }
    }
}

#[test]
fn every_kv_workload_runs_through_an_adapter() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    for workload in ["register", "append", "set", "counter", "unique-ids"] {
        let (code, run_dir, out) = run(
            dir.path(),
            ADAPTER_SYSTEM,
            "3",
            &[
                "--nodes",
                "3",
                "--time-limit",
                "4s",
                "--nemesis",
                "none",
                "--workload",
                workload,
            ],
        );
        assert_eq!(code, Some(0), "{workload}: {out}");
        let results = read_json(&run_dir.join("results.json"));
        assert_eq!(results["workload"], workload);
        let ok = results["stats"]["total"]["ok"].as_u64().unwrap();
        assert!(ok > 50, "{workload}: only {ok} ok operations");
        assert_no_adapter_left(&run_dir);
    }
}

/// A system file in `dir` for raft-kv (the debug build) with this `[client]` table.
fn raft_kv_with_client(dir: &Path, name: &str, client: &str) -> PathBuf {
    let raft_kv = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/debug/raft-kv"
    ))
    .canonicalize()
    .unwrap();
    let system = dir.join(format!("{name}.toml"));
    let node = format!(
        "name = \"{name}\"\ncommand = [\"{}\", \"--id\", \"{{id}}\", \"--listen\", \"{{addr}}\", \"--peers\", \"{{peers}}\", \"--data-dir\", \"{{data_dir}}\"]\nport = 8080\n",
        raft_kv.display()
    );
    std::fs::write(&system, format!("{node}[client]\n{client}")).unwrap();
    system
}

#[test]
fn an_adapter_that_cannot_start_stops_the_run_with_its_log_named() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let system = raft_kv_with_client(
        dir.path(),
        "broken",
        "command = [\"python3\", \"-c\", \"import sys; sys.stderr.write('no driver installed'); sys.exit(2)\"]\n",
    );
    let (code, run_dir, out) = run(
        dir.path(),
        system.to_str().unwrap(),
        "1",
        &["--nodes", "3", "--time-limit", "3s"],
    );
    assert_eq!(code, Some(4), "{out}");
    // The error names the adapter's log and quotes its last line.
    assert!(out.contains("client adapter of process"), "{out}");
    assert!(out.contains("did not start"), "{out}");
    let log = out
        .split("(its log, ")
        .nth(1)
        .unwrap()
        .split(", ends:")
        .next()
        .unwrap();
    assert!(log.ends_with(".log"), "{out}");
    assert!(Path::new(log).starts_with(run_dir.join("clients")), "{out}");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(out.contains("ends: no driver installed"), "{out}");
    assert!(log.contains("no driver installed"), "{log}");
}

#[test]
fn a_run_whose_adapters_hang_exit_and_answer_garbage_completes_with_the_causes_in_results_json() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let pid_dir = dir.path().join("pids");
    std::fs::create_dir(&pid_dir).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../workloads/tests/adapters/misbehaving.py"
    );
    let system = raft_kv_with_client(
        dir.path(),
        "misbehaving",
        &format!(
            "command = [\"python3\", \"{script}\"]\nenv = {{ MISBEHAVE = \"rotate\", PID_DIR = \"{}\" }}\n",
            pid_dir.display()
        ),
    );
    let (code, run_dir, out) = run(
        dir.path(),
        system.to_str().unwrap(),
        "2",
        &[
            "--nodes",
            "3",
            "--time-limit",
            "5s",
            "--nemesis",
            "none",
            "--client-timeout",
            "500ms",
        ],
    );
    // The adapter keeps its own store per process, so the verdict is not the point:
    // the run completed and was judged (0 or 1, not a harness error).
    assert!(matches!(code, Some(0) | Some(1)), "{out}");
    let results = read_json(&run_dir.join("results.json"));
    let warnings = results["warnings"].to_string();
    for cause in [
        "adapter-timeout",
        "adapter-exit",
        "adapter-garbage",
        "adapter-wrong-id",
    ] {
        assert!(warnings.contains(cause), "no {cause} in {warnings}");
    }
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let history = checker::history::parse_jsonl(&history).unwrap();
    assert!(
        history.ops.iter().all(|o| o.complete_index.is_some()),
        "an operation without a completion"
    );
    let alive: Vec<u32> = std::fs::read_dir(&pid_dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_string_lossy().parse().ok())
        .filter(|p| running(*p, "misbehaving.py"))
        .collect();
    assert_eq!(alive, Vec::<u32>::new(), "adapters left running");
}

#[test]
fn the_sentinel_aware_redis_adapter_drives_redis_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let system = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/adapters/redis-python/redis-sentinel.toml"
    );
    let (code, run_dir, out) = run(
        dir.path(),
        system,
        "4",
        &["--nodes", "3", "--time-limit", "6s", "--nemesis", "none"],
    );
    assert_eq!(
        code,
        Some(0),
        "(needs redis-server, redis-sentinel and python3-redis: scripts/setup.sh) {out}"
    );
    let results = read_json(&run_dir.join("results.json"));
    let ok = results["stats"]["total"]["ok"].as_u64().unwrap();
    assert!(ok > 100, "only {ok} ok operations");
    assert_no_adapter_left(&run_dir);
}

/// An adapter that does not exit at the end of its input: only a signal stops it.
const DEAF: &str = r#"import json, sys, time
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "init":
        print(json.dumps({"type": "init_ok"}), flush=True)
    else:
        print(json.dumps({"type": "ok", "id": m["id"], "value": None}), flush=True)
time.sleep(600)
"#;

#[test]
fn adapters_die_with_a_faultline_killed_by_sigkill_and_clean_removes_the_rest() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("deaf.py");
    std::fs::write(&script, DEAF).unwrap();
    let system = raft_kv_with_client(
        dir.path(),
        "deaf",
        &format!("command = [\"python3\", \"{}\"]\n", script.display()),
    );
    let results = dir.path().join("results");
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["test", "--system", system.to_str().unwrap(), "--nodes", "3"])
        .args([
            "--time-limit",
            "60s",
            "--nemesis",
            "none",
            "--concurrency",
            "4",
        ])
        .args(["--quiet", "--results-dir"])
        .arg(&results)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = |what: &str, done: &mut dyn FnMut() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let mut run_dir = PathBuf::new();
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        until(
            "the 4 adapters never started",
            &mut || match results.join("latest").canonicalize() {
                Ok(d) if adapter_pids(&d).len() >= 4 => {
                    run_dir = d;
                    true
                }
                _ => false,
            },
        )
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    started.unwrap();
    let pids = adapter_pids(&run_dir);
    until("adapters outlived faultline", &mut || {
        pids.iter().all(|p| !running(*p, "deaf.py"))
    });
    let run_id = read_json(&run_dir.join("test.json"))["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = faultline(&["clean", "--run", &run_id], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(namespaces_of(&run_id), Vec::<String>::new());
}
