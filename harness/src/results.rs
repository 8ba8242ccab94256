//! A test's results folder: `RESULTS/<test>/<timestamp>/` with `test.json` (the
//! configuration and seed), `test.toml` (the same, as a test file to replay with
//! `--config`), `history.jsonl`, `results.json`, `nodes/*.log`; and `RESULTS/latest`
//! pointing at the newest run. Also the statistics and the summary table.

use crate::checks::CheckResult;
use crate::config::TestConfig;
use checker::history::{History, Outcome};
use checker::verdict::Verdict;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Creates `root/<test>/<timestamp>/` (a suffix keeps two runs in the same
/// millisecond apart) and returns it.
pub fn create_run_dir(root: &Path, test: &str) -> Result<PathBuf, String> {
    let base = root.join(test);
    std::fs::create_dir_all(&base)
        .map_err(|e| format!("cannot create results folder {}: {e}", base.display()))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    for n in 0..1000 {
        let name = if n == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(format!(
                    "cannot create results folder {}: {e}",
                    dir.display()
                ))
            }
        }
    }
    Err(format!(
        "cannot find a free results folder name under {}",
        base.display()
    ))
}

/// Points `root/latest` at `run_dir` (relative, so the tree can be moved), replacing
/// the old link atomically.
pub fn update_latest(root: &Path, run_dir: &Path) -> std::io::Result<()> {
    let target = run_dir.strip_prefix(root).unwrap_or(run_dir);
    let tmp = root.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, root.join("latest")).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes a file completely and syncs it, so results never exist half-written.
pub fn write_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// What `test.json` holds besides the configuration.
#[derive(Serialize)]
pub struct TestRecord<'a> {
    pub faultline_version: &'static str,
    pub command_line: Vec<String>,
    /// Which of `--test-count` tests this is (from 1).
    pub test_number: u32,
    pub run_id: &'a str,
    pub started_at: String,
    pub config: &'a TestConfig,
    /// The command that replays this test (same seed, one test).
    pub replay: String,
}

/// The same test as a TOML test file, for `faultline test --config`.
pub fn test_toml(config: &TestConfig, run_dir: &Path) -> String {
    let mut t = toml::Table::new();
    let s = |v: &str| toml::Value::String(v.to_string());
    let secs = |d: std::time::Duration| toml::Value::String(duration_text(d));
    t.insert("name".into(), s(&config.name));
    t.insert("system".into(), s(&config.system));
    if !config.system_args.is_empty() {
        t.insert(
            "system-args".into(),
            toml::Value::Array(config.system_args.iter().map(|a| s(a)).collect()),
        );
    }
    t.insert("nodes".into(), toml::Value::Integer(config.nodes as i64));
    t.insert("workload".into(), s(config.workload.name()));
    t.insert(
        "concurrency".into(),
        toml::Value::Integer(config.concurrency as i64),
    );
    t.insert("sessions".into(), s(config.sessions.name()));
    t.insert("rate".into(), toml::Value::Float(config.rate));
    t.insert("time-limit".into(), secs(config.time_limit));
    let nemesis = if config.nemesis.is_empty() {
        vec![s("none")]
    } else {
        config.nemesis.iter().map(|k| s(k)).collect()
    };
    t.insert("nemesis".into(), toml::Value::Array(nemesis));
    t.insert("nemesis-interval".into(), secs(config.nemesis_interval));
    if let Some(range) = &config.clock_bump {
        t.insert("clock-bump".into(), s(range));
    }
    t.insert(
        "check".into(),
        toml::Value::Array(config.checks.iter().map(|c| s(c)).collect()),
    );
    // The config refuses seeds past i64::MAX, so every seed fits a TOML integer.
    t.insert("seed".into(), toml::Value::Integer(config.seed as i64));
    t.insert("test-count".into(), toml::Value::Integer(1));
    t.insert("client-timeout".into(), secs(config.client_timeout));
    t.insert("keys".into(), toml::Value::Integer(config.keys as i64));
    t.insert(
        "ops-per-key".into(),
        toml::Value::Integer(config.ops_per_key as i64),
    );
    t.insert("recovery-timeout".into(), secs(config.recovery_timeout));
    t.insert("quiet-period".into(), secs(config.quiet_period));
    t.insert("check-timeout".into(), secs(config.check_timeout));
    if config.etcd_reads != workloads::etcd::EtcdReads::default() {
        t.insert("etcd-reads".into(), s(config.etcd_reads.name()));
    }
    if config.redis_wait > 0 {
        t.insert(
            "redis-wait".into(),
            toml::Value::Integer(config.redis_wait as i64),
        );
    }
    format!(
        "# The test that produced {}; replay with `faultline test --config <this file>`.\n{}",
        run_dir.display(),
        toml::to_string(&t).unwrap_or_default()
    )
}

/// A duration as a person writes it: `30s`, `1500ms`, `2m`.
pub fn duration_text(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms > 0 && (ms / 60_000) * 60_000 == ms {
        format!("{}m", ms / 60_000)
    } else if (ms / 1000) * 1000 == ms {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// ok/fail/info counts of one function.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

/// Latency of completed (ok or fail) operations, in milliseconds.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

impl Latency {
    fn of(mut ns: Vec<u64>) -> Latency {
        ns.sort_unstable();
        Latency {
            count: ns.len(),
            p50: percentile(&ns, 50.0),
            p90: percentile(&ns, 90.0),
            p99: percentile(&ns, 99.0),
            max: ns.last().map(|&v| v as f64 / 1e6).unwrap_or(0.0),
        }
    }
}

/// What a history shows, function by function.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub ops: usize,
    pub counts: BTreeMap<String, Counts>,
    pub total: Counts,
    pub latency_ms: BTreeMap<String, Latency>,
    pub nemesis_events: usize,
    /// From the first to the last event, in seconds.
    pub duration_s: f64,
}

pub fn stats(history: &History) -> Stats {
    let mut s = Stats {
        ops: history.ops.len(),
        ..Stats::default()
    };
    let mut lat: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for op in &history.ops {
        let c = s.counts.entry(op.f.clone()).or_default();
        match op.outcome {
            Outcome::Ok => {
                c.ok += 1;
                s.total.ok += 1;
            }
            Outcome::Fail => {
                c.fail += 1;
                s.total.fail += 1;
            }
            Outcome::Info => {
                c.info += 1;
                s.total.info += 1;
            }
        }
        if op.outcome != Outcome::Info {
            lat.entry(op.f.clone())
                .or_default()
                .push(op.ret.saturating_sub(op.call));
        }
    }
    s.latency_ms = lat.into_iter().map(|(f, v)| (f, Latency::of(v))).collect();
    s.nemesis_events = history.nemesis_events().count();
    if let (Some(first), Some(last)) = (history.events.first(), history.events.last()) {
        s.duration_s = (last.time - first.time) as f64 / 1e9;
    }
    s
}

/// `results.json`.
#[derive(Serialize)]
pub struct Results<'a> {
    pub verdict: Verdict,
    pub name: &'a str,
    pub seed: u64,
    pub run_id: &'a str,
    pub checks: &'a [CheckResult],
    pub stats: &'a Stats,
    /// The first counterexample any check found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Value>,
    /// Where the history sits among the consistency models (the run's last line):
    /// `{"strongest": ..., "line": ...}`; absent when no model was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hierarchy: Option<checker::consistency::hierarchy::Placement>,
    pub nemesis: Value,
    pub final_reads: Value,
    /// Problems the run met that did not stop it (faults that failed to apply, nodes
    /// that could not be read at the end).
    pub warnings: &'a [String],
    pub timings_s: BTreeMap<&'static str, f64>,
}

/// The first counterexample in the checks' reports.
pub fn first_counterexample(checks: &[CheckResult]) -> Option<Value> {
    checks
        .iter()
        .filter(|c| c.verdict == Verdict::Invalid)
        .find_map(|c| {
            let r = &c.report;
            r.get("counterexample")
                .filter(|v| !v.is_null())
                .cloned()
                .or_else(|| Some(r.clone()))
        })
}

/// The table printed at the end of a test.
pub fn summary_table(stats: &Stats, checks: &[CheckResult]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<12} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10}\n",
        "f", "ok", "fail", "info", "p50 ms", "p99 ms", "max ms"
    ));
    for (f, c) in &stats.counts {
        let l = stats.latency_ms.get(f).cloned().unwrap_or_default();
        out.push_str(&format!(
            "{:<12} {:>8} {:>8} {:>8} {:>10.2} {:>10.2} {:>10.2}\n",
            f, c.ok, c.fail, c.info, l.p50, l.p99, l.max
        ));
    }
    out.push_str(&format!(
        "{:<12} {:>8} {:>8} {:>8}   ({} nemesis events, {:.1} s)\n",
        "total",
        stats.total.ok,
        stats.total.fail,
        stats.total.info,
        stats.nemesis_events,
        stats.duration_s
    ));
    out.push('\n');
    for c in checks {
        out.push_str(&format!(
            "{:<14} {:<8} {}  ({:.2} s)\n",
            c.name,
            c.verdict.to_string(),
            c.summary,
            c.seconds
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;

    #[test]
    fn stats_count_outcomes_and_latencies_per_function() {
        let h = parse_jsonl(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":1,"value":1}
{"index":1,"time":1000000,"process":1,"type":"invoke","f":"read","key":1}
{"index":2,"time":2000000,"process":0,"type":"ok","f":"write","key":1,"value":1}
{"index":3,"time":3000000,"process":1,"type":"fail","f":"read","key":1,"error":"timeout"}
{"index":4,"time":3000000,"process":"nemesis","type":"info","f":"kill","value":null}
{"index":5,"time":4000000,"process":0,"type":"invoke","f":"write","key":1,"value":2}
{"index":6,"time":9000000,"process":0,"type":"info","f":"write","key":1,"value":2}
"#,
        )
        .unwrap();
        let s = stats(&h);
        assert_eq!(
            s.counts["write"],
            Counts {
                ok: 1,
                fail: 0,
                info: 1
            }
        );
        assert_eq!(
            s.counts["read"],
            Counts {
                ok: 0,
                fail: 1,
                info: 0
            }
        );
        assert_eq!(
            s.total,
            Counts {
                ok: 1,
                fail: 1,
                info: 1
            }
        );
        assert_eq!(s.latency_ms["write"].p50, 2.0);
        assert_eq!(s.latency_ms["read"].max, 2.0);
        assert_eq!(s.nemesis_events, 1);
        assert!((s.duration_s - 0.009).abs() < 1e-9);
        let table = summary_table(&s, &[]);
        assert!(
            table.contains("write") && table.contains("total"),
            "{table}"
        );
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v[..1], 99.0), 1.0);
    }

    #[test]
    fn run_dirs_are_unique_and_latest_follows_the_newest() {
        let root = tempfile::tempdir().unwrap();
        let a = create_run_dir(root.path(), "t").unwrap();
        let b = create_run_dir(root.path(), "t").unwrap();
        assert_ne!(a, b);
        update_latest(root.path(), &a).unwrap();
        update_latest(root.path(), &b).unwrap();
        let link = std::fs::read_link(root.path().join("latest")).unwrap();
        assert!(link.is_relative());
        assert_eq!(
            root.path().join(link).canonicalize().unwrap(),
            b.canonicalize().unwrap()
        );
    }
}
