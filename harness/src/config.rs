//! The configuration of `faultline test`: command-line flags and a TOML test file,
//! merged, then checked and resolved into a [`TestConfig`].
//!
//! Precedence: a flag given on the command line beats the test file, which beats the
//! defaults. The defaults are the README's main job: a 5-node raft-kv cluster, the
//! cas-register workload, partitions, kills and pauses every 5 s, for 30 s. Every
//! resolved value, the seed included, is stored in `test.json`, so a run can be
//! replayed exactly (`--config` on a copy of it, or the same flags and `--seed`).
//!
//! The test file uses the flags' names as keys (`time-limit = "30s"`); an unknown key
//! is an error that names the file and the key, because a misspelt setting that is
//! silently ignored gives a test that is not the one the user asked for.

use crate::check::parse_duration;
use nemesis::{ClockBumpRange, FaultKind, FaultParams};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::generator::Workload;

/// The checks a test can run on its history.
pub const CHECK_NAMES: &[&str] = &[
    "linearizable",
    "sequential",
    "session",
    "eventual",
    "bank",
    "counter",
    "unique-ids",
];

/// The checks each workload gets unless `--check` says otherwise: every checker that
/// applies to it. Adding a checker means adding its name here and a case in
/// `checks.rs`. `sequential` follows `linearizable`, which usually decides it for
/// free (a linearizable history is sequentially consistent); on a history that is not
/// linearizable it places the history in the hierarchy, within its time budget.
pub fn default_checks(workload: Workload) -> &'static [&'static str] {
    match workload {
        // Registers' reads do not say which writes they saw, so session guarantees
        // need the per-key versions that only some systems report: `session` is asked
        // for (`--check linearizable,session`), not a default, so that a system without
        // versions does not get an `unknown` run for it (docs/consistency.md).
        Workload::Register | Workload::CasRegister => &["linearizable", "sequential", "eventual"],
        // No linearizability model for lists of elements yet: the session guarantees
        // and eventual consistency are exact on this workload.
        Workload::Append => &["session", "eventual"],
        // The `set` model checks sets for linearizability.
        Workload::Set => &["linearizable", "sequential", "eventual"],
        Workload::Counter => &["counter", "eventual"],
        Workload::Bank => &["bank"],
        Workload::UniqueIds => &["unique-ids"],
    }
}

/// Which checks make sense for which workload.
pub fn check_applies(check: &str, workload: Workload) -> bool {
    match check {
        "linearizable" | "sequential" => matches!(
            workload,
            Workload::Register | Workload::CasRegister | Workload::Set
        ),
        // Registers: judged from the per-key versions a system reports (raft-kv, etcd);
        // a history without them gets `unknown`, with the reason.
        "session" => matches!(
            workload,
            Workload::Append | Workload::Register | Workload::CasRegister
        ),
        "eventual" => matches!(
            workload,
            Workload::Register
                | Workload::CasRegister
                | Workload::Append
                | Workload::Set
                | Workload::Counter
        ),
        "bank" => workload == Workload::Bank,
        "counter" => workload == Workload::Counter,
        "unique-ids" => workload == Workload::UniqueIds,
        _ => false,
    }
}

/// `faultline test` flags. Every setting is optional here, so that "not given" can be
/// told apart from "given as the default" when merging with a test file.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct TestArgs {
    /// A TOML test file with any of the settings below (keys are the flag names,
    /// e.g. `time-limit = "30s"`); flags given here override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The system under test: a built-in name (raft-kv, dynamo-kv) or a system TOML
    /// file (docs/systems.md). [default: raft-kv]
    #[arg(long, value_name = "NAME|FILE")]
    pub system: Option<String>,
    /// Extra arguments for every node of the system (bug switches, tuning); repeat
    /// for several, e.g. `--system-arg=--bug=stale-read`.
    #[arg(long = "system-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub system_args: Vec<String>,
    /// Number of nodes. [default: 5]
    #[arg(long, value_name = "N")]
    pub nodes: Option<usize>,
    /// The workload: register, cas-register, append, set, counter, bank (cl-bank
    /// only) or unique-ids. [default: cas-register]
    #[arg(long, value_name = "W")]
    pub workload: Option<String>,
    /// Logical client processes running at once, spread over the nodes. [default: 10]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// How client processes pick nodes: `sticky` (each bound to one node, as in
    /// Jepsen) or `roaming` (every operation to a node drawn from the seed, so a
    /// session moves between replicas, as Terry's do). [default: sticky]
    #[arg(long, value_name = "MODE")]
    pub sessions: Option<String>,
    /// Operations per second over all clients; 0 for as fast as they go. [default: 200]
    #[arg(long, value_name = "OPS")]
    pub rate: Option<f64>,
    /// How long the workload runs (e.g. 30s, 2m). [default: 30s]
    #[arg(long, value_name = "D")]
    pub time_limit: Option<String>,
    /// Fault kinds, comma-separated: kinds (partition-halves, kill, pause,
    /// pause-leader, clock-bump, loss, ...), groups (partition, process, clock, packet,
    /// all, none), or compositions of kinds started and healed together
    /// (pause-leader+clock-bump). [default: partition,kill,pause]
    #[arg(long, value_name = "KINDS")]
    pub nemesis: Option<String>,
    /// Time a fault lasts, and the healthy time between a heal and the next fault;
    /// the first fault comes after a warm-up of 2 s (or the interval, if shorter).
    /// [default: 5s]
    #[arg(long, value_name = "D")]
    pub nemesis_interval: Option<String>,
    /// How far clock-bump faults move a clock: uniform between two signed durations,
    /// e.g. `--clock-bump=-30s..-6s` (one value: exactly that).
    /// [default: 100ms to 60s, log-uniform, either sign]
    #[arg(long, value_name = "MIN..MAX", allow_hyphen_values = true)]
    pub clock_bump: Option<String>,
    /// Checks to run, comma-separated: linearizable, sequential, session, eventual,
    /// bank, counter, unique-ids. [default: every check that applies to the workload]
    #[arg(long, value_name = "CHECKS")]
    pub check: Option<String>,
    /// Seed for the operation mix, the node choice and the fault schedule.
    /// [default: random, printed]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Run this many independent tests (seeds seed, seed+1, ...); fail if any fails.
    /// [default: 1]
    #[arg(long, value_name = "N")]
    pub test_count: Option<u32>,
    /// Where results go: DIR/<test>/<timestamp>/. [default: results]
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    /// The test's name, the results subfolder. [default: <system>-<workload>]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Per-request client timeout; a timed-out write is indeterminate (info). [default: 1s]
    #[arg(long, value_name = "D")]
    pub client_timeout: Option<String>,
    /// Keys in use at once. [default: 4]
    #[arg(long, value_name = "N")]
    pub keys: Option<usize>,
    /// Operations per key before it is retired for a fresh one. [default: 150]
    #[arg(long, value_name = "N")]
    pub ops_per_key: Option<u64>,
    /// After the final heal, how long the cluster may take to be ready again.
    /// [default: 30s]
    #[arg(long, value_name = "D")]
    pub recovery_timeout: Option<String>,
    /// After the cluster is ready again, a quiet period before the final reads.
    /// [default: 2s]
    #[arg(long, value_name = "D")]
    pub quiet_period: Option<String>,
    /// Time limit for the checkers per test; past it a verdict is unknown. [default: 5m]
    #[arg(long, value_name = "D")]
    pub check_timeout: Option<String>,
    /// etcd only: how reads are served, `linearizable` (through the leader) or
    /// `serializable` (from the local member, stale under partitions).
    /// [default: linearizable]
    #[arg(long, value_name = "MODE")]
    pub etcd_reads: Option<String>,
    /// Redis only: every write waits (`WAIT`) for this many replicas to acknowledge
    /// it, and is indeterminate if they do not in time. [default: 0, no waiting]
    #[arg(long, value_name = "N")]
    pub redis_wait: Option<u32>,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// The test file: the same settings as the flags, by the same names.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct TestFile {
    system: Option<String>,
    system_args: Option<Vec<String>>,
    nodes: Option<usize>,
    workload: Option<String>,
    concurrency: Option<usize>,
    sessions: Option<String>,
    rate: Option<f64>,
    time_limit: Option<DurationText>,
    nemesis: Option<StringList>,
    nemesis_interval: Option<DurationText>,
    clock_bump: Option<String>,
    check: Option<StringList>,
    seed: Option<u64>,
    test_count: Option<u32>,
    results_dir: Option<PathBuf>,
    name: Option<String>,
    client_timeout: Option<DurationText>,
    keys: Option<usize>,
    ops_per_key: Option<u64>,
    recovery_timeout: Option<DurationText>,
    quiet_period: Option<DurationText>,
    check_timeout: Option<DurationText>,
    etcd_reads: Option<String>,
    redis_wait: Option<u32>,
    quiet: Option<bool>,
}

/// A duration in a file: `"30s"`, `"500ms"`, or a number of seconds.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum DurationText {
    Text(String),
    Seconds(f64),
}

impl DurationText {
    fn text(self) -> String {
        match self {
            DurationText::Text(t) => t,
            DurationText::Seconds(s) => format!("{s}"),
        }
    }
}

/// A list in a file: `["partition", "kill"]` or `"partition,kill"`.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum StringList {
    One(String),
    Many(Vec<String>),
}

impl StringList {
    fn joined(self) -> String {
        match self {
            StringList::One(s) => s,
            StringList::Many(v) => v.join(","),
        }
    }
}

/// A test, fully resolved: what `test.json` holds and what the runner runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct TestConfig {
    pub name: String,
    pub system: String,
    pub system_args: Vec<String>,
    pub nodes: usize,
    pub workload: Workload,
    pub concurrency: usize,
    /// How client processes pick nodes (sticky in test files written before it).
    #[serde(default)]
    pub sessions: workloads::sessions::Sessions,
    pub rate: f64,
    #[serde(with = "seconds")]
    pub time_limit: Duration,
    /// The fault kinds, expanded from groups.
    pub nemesis: Vec<String>,
    #[serde(with = "seconds")]
    pub nemesis_interval: Duration,
    /// The range clock bumps are drawn from (`--clock-bump`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_bump: Option<String>,
    pub checks: Vec<String>,
    pub seed: u64,
    pub test_count: u32,
    pub results_dir: PathBuf,
    #[serde(with = "seconds")]
    pub client_timeout: Duration,
    pub keys: usize,
    pub ops_per_key: u64,
    #[serde(with = "seconds")]
    pub recovery_timeout: Duration,
    #[serde(with = "seconds")]
    pub quiet_period: Duration,
    #[serde(with = "seconds")]
    pub check_timeout: Duration,
    /// etcd's read mode (refused for other systems' clients unless the default).
    #[serde(default)]
    pub etcd_reads: workloads::etcd::EtcdReads,
    /// Replicas a Redis write waits for; 0 for none.
    #[serde(default)]
    pub redis_wait: u32,
    #[serde(skip)]
    pub quiet: bool,
    /// Where the settings came from, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
}

impl TestConfig {
    /// The fault kinds, parsed (they were validated when the config was resolved).
    pub fn fault_kinds(&self) -> Vec<FaultKind> {
        FaultKind::parse_list(&self.nemesis.join(","), self.nodes).unwrap_or_default()
    }

    /// The magnitudes of faults: the defaults, with `--clock-bump` if given (validated
    /// when the config was resolved).
    pub fn fault_params(&self) -> FaultParams {
        FaultParams {
            clock_bump: self.clock_bump.as_deref().and_then(|t| t.parse().ok()),
            ..FaultParams::default()
        }
    }

    /// The same test with another seed (for the i-th of `--test-count` tests).
    pub fn with_seed(&self, seed: u64) -> TestConfig {
        TestConfig {
            seed,
            ..self.clone()
        }
    }
}

mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Duration::try_from_secs_f64(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Reads a test file. Errors name the file, and the key or line.
fn read_test_file(path: &Path) -> Result<TestFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("test file {}: cannot read it: {e}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| format!("test file {}: {}", path.display(), e.to_string().trim_end()))
}

/// Merges flags over the test file over the defaults, and checks every value. The
/// error names the flag (or the file and key) that is wrong.
pub fn resolve(args: &TestArgs) -> Result<TestConfig, String> {
    let file = match &args.config {
        Some(path) => read_test_file(path)?,
        None => TestFile::default(),
    };
    // Names a setting in messages: the flag if it was given, else the file's key.
    let origin = |flag_given: bool, key: &str| -> String {
        match (&args.config, flag_given) {
            (Some(path), false) => format!("test file {}: key `{key}`", path.display()),
            _ => format!("--{key}"),
        }
    };
    let duration =
        |flag: &Option<String>, from_file: Option<DurationText>, key: &str, default: &str| {
            let (text, given) = match (flag, from_file) {
                (Some(t), _) => (t.clone(), true),
                (None, Some(d)) => (d.text(), false),
                (None, None) => (default.to_string(), true),
            };
            parse_duration(&text).map_err(|e| format!("{}: {e}", origin(given, key)))
        };

    let system = args
        .system
        .clone()
        .or(file.system)
        .unwrap_or_else(|| "raft-kv".into());
    let mut system_args = file.system_args.unwrap_or_default();
    system_args.extend(args.system_args.iter().cloned());
    let nodes = args.nodes.or(file.nodes).unwrap_or(5);
    if nodes == 0 || nodes > 253 {
        return Err(format!(
            "{}: a cluster has 1 to 253 nodes, not {nodes}",
            origin(args.nodes.is_some(), "nodes")
        ));
    }
    let workload_name = args
        .workload
        .clone()
        .or(file.workload)
        .unwrap_or_else(|| "cas-register".into());
    let workload: Workload = workload_name
        .parse()
        .map_err(|e| format!("{}: {e}", origin(args.workload.is_some(), "workload")))?;
    let concurrency = args.concurrency.or(file.concurrency).unwrap_or(10);
    if concurrency == 0 {
        return Err(format!(
            "{}: at least 1 client is needed",
            origin(args.concurrency.is_some(), "concurrency")
        ));
    }
    let sessions = match args.sessions.clone().or(file.sessions) {
        None => workloads::sessions::Sessions::default(),
        Some(text) => text
            .parse()
            .map_err(|e| format!("{}: {e}", origin(args.sessions.is_some(), "sessions")))?,
    };
    let rate = args.rate.or(file.rate).unwrap_or(200.0);
    if !rate.is_finite() || rate < 0.0 {
        return Err(format!(
            "{}: a rate is 0 (unlimited) or a positive number of operations per second, not {rate}",
            origin(args.rate.is_some(), "rate")
        ));
    }
    let time_limit = duration(&args.time_limit, file.time_limit, "time-limit", "30s")?;
    if time_limit.is_zero() {
        return Err(format!(
            "{}: the test must run for some time",
            origin(args.time_limit.is_some(), "time-limit")
        ));
    }
    let nemesis_given = args.nemesis.is_some();
    let nemesis_text = args
        .nemesis
        .clone()
        .or(file.nemesis.map(StringList::joined))
        .unwrap_or_else(|| "partition,kill,pause".into());
    let kinds = FaultKind::parse_list(&nemesis_text, nodes)
        .map_err(|e| format!("{}: {e}", origin(nemesis_given, "nemesis")))?;
    let nemesis_interval = duration(
        &args.nemesis_interval,
        file.nemesis_interval,
        "nemesis-interval",
        "5s",
    )?;
    if nemesis_interval.is_zero() && !kinds.is_empty() {
        return Err(format!(
            "{}: must be greater than zero",
            origin(args.nemesis_interval.is_some(), "nemesis-interval")
        ));
    }
    let clock_bump_given = args.clock_bump.is_some();
    let clock_bump = match args.clock_bump.clone().or(file.clock_bump) {
        None => None,
        Some(text) => {
            let range: ClockBumpRange = text
                .parse()
                .map_err(|e| format!("{}: {e}", origin(clock_bump_given, "clock-bump")))?;
            let bumps = kinds
                .iter()
                .any(|k| k.parts().contains(&FaultKind::ClockBump));
            if !bumps {
                return Err(format!(
                    "{}: sets the size of clock-bump faults, but the nemesis ({}) has none; add clock-bump, e.g. --nemesis pause-leader+clock-bump",
                    origin(clock_bump_given, "clock-bump"),
                    if kinds.is_empty() { "none".to_string() } else { kinds.iter().map(FaultKind::name).collect::<Vec<_>>().join(",") }
                ));
            }
            Some(range.to_string())
        }
    };
    let check_given = args.check.is_some();
    let checks: Vec<String> = match args.check.clone().or(file.check.map(StringList::joined)) {
        None => default_checks(workload)
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !CHECK_NAMES.contains(&name) {
                    return Err(format!(
                        "{}: unknown check `{name}` (known: {})",
                        origin(check_given, "check"),
                        CHECK_NAMES.join(", ")
                    ));
                }
                if !check_applies(name, workload) {
                    return Err(format!(
                        "{}: the `{name}` check does not apply to the {workload} workload",
                        origin(check_given, "check")
                    ));
                }
                if !out.iter().any(|c| c == name) {
                    out.push(name.to_string());
                }
            }
            if out.is_empty() {
                return Err(format!(
                    "{}: name at least one check",
                    origin(check_given, "check")
                ));
            }
            out
        }
    };
    // A random seed is short enough to retype; any seed must fit a TOML integer
    // (signed 64-bit), because test.toml stores it for replay.
    let seed = args
        .seed
        .or(file.seed)
        .unwrap_or_else(|| rand::random::<u32>() as u64);
    let test_count = args.test_count.or(file.test_count).unwrap_or(1);
    if test_count == 0 {
        return Err(format!(
            "{}: run at least 1 test",
            origin(args.test_count.is_some(), "test-count")
        ));
    }
    if seed.saturating_add(test_count as u64 - 1) > i64::MAX as u64 {
        return Err(format!(
            "{}: seeds go up to {} (with --test-count N, seed + N - 1 must too)",
            origin(args.seed.is_some(), "seed"),
            i64::MAX
        ));
    }
    let results_dir = args
        .results_dir
        .clone()
        .or(file.results_dir)
        .unwrap_or_else(|| PathBuf::from("results"));
    let system_label = Path::new(&system)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("system")
        .to_string();
    let name = args
        .name
        .clone()
        .or(file.name)
        .unwrap_or_else(|| format!("{system_label}-{workload}"));
    if name.is_empty() || name == "latest" || name.contains('/') || name.starts_with('.') {
        return Err(format!(
            "{}: `{name}` cannot name a results folder (no `/`, no leading `.`, not `latest`)",
            origin(args.name.is_some(), "name")
        ));
    }
    let client_timeout = duration(
        &args.client_timeout,
        file.client_timeout,
        "client-timeout",
        "1s",
    )?;
    if client_timeout.is_zero() {
        return Err(format!(
            "{}: must be greater than zero",
            origin(args.client_timeout.is_some(), "client-timeout")
        ));
    }
    let keys = args.keys.or(file.keys).unwrap_or(4);
    let ops_per_key = args.ops_per_key.or(file.ops_per_key).unwrap_or(150);
    if keys == 0 || ops_per_key == 0 {
        let key = if keys == 0 { "keys" } else { "ops-per-key" };
        let given = if keys == 0 {
            args.keys.is_some()
        } else {
            args.ops_per_key.is_some()
        };
        return Err(format!("{}: must be at least 1", origin(given, key)));
    }
    let etcd_reads = match args.etcd_reads.clone().or(file.etcd_reads) {
        None => workloads::etcd::EtcdReads::default(),
        Some(text) => text
            .parse()
            .map_err(|e| format!("{}: {e}", origin(args.etcd_reads.is_some(), "etcd-reads")))?,
    };
    let redis_wait = args.redis_wait.or(file.redis_wait).unwrap_or(0);
    if redis_wait > 16 {
        return Err(format!(
            "{}: {redis_wait} replicas is more than any test cluster has (at most 16)",
            origin(args.redis_wait.is_some(), "redis-wait")
        ));
    }
    Ok(TestConfig {
        name,
        system,
        system_args,
        nodes,
        workload,
        concurrency,
        sessions,
        rate,
        time_limit,
        nemesis: kinds.iter().map(|k| k.name()).collect(),
        nemesis_interval,
        clock_bump,
        checks,
        seed,
        test_count,
        results_dir,
        client_timeout,
        keys,
        ops_per_key,
        recovery_timeout: duration(
            &args.recovery_timeout,
            file.recovery_timeout,
            "recovery-timeout",
            "30s",
        )?,
        quiet_period: duration(&args.quiet_period, file.quiet_period, "quiet-period", "2s")?,
        check_timeout: duration(
            &args.check_timeout,
            file.check_timeout,
            "check-timeout",
            "5m",
        )?,
        etcd_reads,
        redis_wait,
        quiet: args.quiet || file.quiet.unwrap_or(false),
        config_file: args.config.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_are_the_main_job() {
        let c = resolve(&TestArgs {
            seed: Some(1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.system, "raft-kv");
        assert_eq!(c.nodes, 5);
        assert_eq!(c.workload, Workload::CasRegister);
        assert_eq!(c.time_limit, Duration::from_secs(30));
        assert_eq!(c.nemesis_interval, Duration::from_secs(5));
        assert_eq!(c.checks, vec!["linearizable", "sequential", "eventual"]);
        assert_eq!(c.name, "raft-kv-cas-register");
        assert!(c.nemesis.iter().any(|k| k.starts_with("partition-")));
        assert!(
            c.nemesis.contains(&"kill".to_string()) && c.nemesis.contains(&"pause".to_string())
        );
        assert_eq!(c.test_count, 1);
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let f = file("nodes = 3\nworkload = \"append\"\ntime-limit = \"8s\"\nnemesis = [\"kill\", \"partition-halves\"]\nrate = 50\nseed = 9\nsystem-args = [\"--bug=x\"]\n");
        let args = TestArgs {
            config: Some(f.path().to_path_buf()),
            time_limit: Some("12s".into()),
            system_args: vec!["--tick=5".into()],
            ..Default::default()
        };
        let c = resolve(&args).unwrap();
        assert_eq!(
            (c.nodes, c.workload, c.rate, c.seed),
            (3, Workload::Append, 50.0, 9)
        );
        assert_eq!(c.time_limit, Duration::from_secs(12));
        assert_eq!(c.nemesis, vec!["kill", "partition-halves"]);
        assert_eq!(c.checks, vec!["session", "eventual"]);
        assert_eq!(c.system_args, vec!["--bug=x", "--tick=5"]);
    }

    #[test]
    fn unknown_keys_name_the_file_and_the_key() {
        let f = file("nodes = 3\ntime_limt = \"8s\"\n");
        let e = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains(&f.path().display().to_string()), "{e}");
        assert!(e.contains("time_limt"), "{e}");
    }

    #[test]
    fn bad_values_name_where_they_came_from() {
        let f = file("time-limit = \"soon\"\n");
        let e = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("key `time-limit`") && e.contains("soon"), "{e}");
        let e = resolve(&TestArgs {
            nemesis: Some("kil".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.starts_with("--nemesis"), "{e}");
        let e = resolve(&TestArgs {
            workload: Some("queue".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.starts_with("--workload") && e.contains("cas-register"),
            "{e}"
        );
        let e = resolve(&TestArgs {
            check: Some("linearizable".into()),
            workload: Some("append".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("does not apply"), "{e}");
        let e = resolve(&TestArgs {
            check: Some("serializable".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("unknown check"), "{e}");
        assert!(resolve(&TestArgs {
            nodes: Some(0),
            ..Default::default()
        })
        .is_err());
        assert!(resolve(&TestArgs {
            name: Some("latest".into()),
            ..Default::default()
        })
        .is_err());
        let e = resolve(&TestArgs {
            seed: Some(u64::MAX),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.starts_with("--seed"), "{e}");
        let e = resolve(&TestArgs {
            seed: Some(i64::MAX as u64),
            test_count: Some(2),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("seed + N - 1"), "{e}");
    }

    #[test]
    fn none_means_no_faults_and_a_random_seed_is_chosen() {
        let a = resolve(&TestArgs {
            nemesis: Some("none".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(a.nemesis.is_empty());
        let b = resolve(&TestArgs::default()).unwrap();
        assert_ne!(a.seed, b.seed);
    }

    #[test]
    fn real_system_client_settings_come_from_flags_or_the_file() {
        use workloads::etcd::EtcdReads;
        let d = resolve(&TestArgs {
            seed: Some(1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((d.etcd_reads, d.redis_wait), (EtcdReads::Linearizable, 0));
        let f = file("etcd-reads = \"serializable\"\nredis-wait = 2\n");
        let c = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((c.etcd_reads, c.redis_wait), (EtcdReads::Serializable, 2));
        let e = resolve(&TestArgs {
            etcd_reads: Some("stale".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.starts_with("--etcd-reads") && e.contains("serializable"),
            "{e}"
        );
        let f = file("etcd-reads = \"fast\"\n");
        let e = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("key `etcd-reads`"), "{e}");
        let e = resolve(&TestArgs {
            redis_wait: Some(99),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.starts_with("--redis-wait"), "{e}");
    }

    #[test]
    fn sessions_come_from_the_flag_or_the_file_and_default_to_sticky() {
        use workloads::sessions::Sessions;
        let d = resolve(&TestArgs {
            seed: Some(1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(d.sessions, Sessions::Sticky);
        let f = file("sessions = \"roaming\"\n");
        let c = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.sessions, Sessions::Roaming);
        let c = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            sessions: Some("sticky".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.sessions, Sessions::Sticky);
        let e = resolve(&TestArgs {
            sessions: Some("random".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.starts_with("--sessions") && e.contains("roaming"), "{e}");
        let f = file("sessions = \"moving\"\n");
        let e = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("key `sessions`") && e.contains("moving"), "{e}");
        // test.json stores it; one written before the setting existed reads as sticky.
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["sessions"], "sticky");
        let mut old = serde_json::to_value(&d).unwrap();
        old.as_object_mut().unwrap().remove("sessions");
        assert_eq!(
            serde_json::from_value::<TestConfig>(old).unwrap().sessions,
            Sessions::Sticky
        );
        // test.toml replays it.
        let roaming = resolve(&TestArgs {
            seed: Some(3),
            sessions: Some("roaming".into()),
            ..Default::default()
        })
        .unwrap();
        let replay = file(&crate::results::test_toml(&roaming, Path::new("/tmp/run")));
        let again = resolve(&TestArgs {
            config: Some(replay.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(again.sessions, Sessions::Roaming);
    }

    #[test]
    fn test_json_round_trips() {
        let c = resolve(&TestArgs {
            seed: Some(5),
            ..Default::default()
        })
        .unwrap();
        let text = serde_json::to_string(&c).unwrap();
        let back: TestConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn clock_bump_range_and_compositions_resolve_and_are_recorded() {
        let c = resolve(&TestArgs {
            seed: Some(1),
            nemesis: Some("pause-leader+clock-bump,partition-leader+clock-bump".into()),
            clock_bump: Some("-30s..-6000ms".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            c.nemesis,
            vec!["pause-leader+clock-bump", "partition-leader+clock-bump"]
        );
        assert_eq!(c.clock_bump.as_deref(), Some("-30s..-6s"));
        assert_eq!(c.fault_kinds().len(), 2);
        assert_eq!(
            c.fault_params().clock_bump,
            Some(ClockBumpRange {
                min_ms: -30_000,
                max_ms: -6_000
            })
        );
        let back: TestConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        // Without the setting: the default magnitudes, and test.json leaves it out.
        let d = resolve(&TestArgs {
            seed: Some(1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(d.fault_params(), FaultParams::default());
        assert!(serde_json::to_value(&d)
            .unwrap()
            .get("clock-bump")
            .is_none());
        // From a test file.
        let f = file("nemesis = [\"clock-bump\", \"pause\"]\nclock-bump = \"-5s..+5s\"\n");
        let c = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.clock_bump.as_deref(), Some("-5s..+5s"));
    }

    #[test]
    fn bad_clock_bump_ranges_and_compositions_name_the_flag_and_the_text() {
        let with = |nemesis: &str, range: Option<&str>| {
            resolve(&TestArgs {
                nemesis: Some(nemesis.into()),
                clock_bump: range.map(String::from),
                ..Default::default()
            })
        };
        let e = with("clock-bump", Some("-5s..-20s")).unwrap_err();
        assert!(
            e.starts_with("--clock-bump: `-5s..-20s`") && e.contains("above the upper bound"),
            "{e}"
        );
        let e = with("clock-bump", Some("-20sec..-5s")).unwrap_err();
        assert!(
            e.starts_with("--clock-bump") && e.contains("`-20sec`"),
            "{e}"
        );
        let e = with("pause-leader", Some("-20s..-5s")).unwrap_err();
        assert!(
            e.starts_with("--clock-bump") && e.contains("has none") && e.contains("pause-leader"),
            "{e}"
        );
        let e = with("pause-leader+clok-bump", None).unwrap_err();
        assert!(
            e.starts_with("--nemesis")
                && e.contains("\"pause-leader+clok-bump\"")
                && e.contains("\"clok-bump\""),
            "{e}"
        );
        let e = with("kill-all+clock-bump", None).unwrap_err();
        assert!(
            e.starts_with("--nemesis") && e.contains("\"kill-all+clock-bump\""),
            "{e}"
        );
        let f = file("nemesis = \"clock-bump\"\nclock-bump = \"later\"\n");
        let e = resolve(&TestArgs {
            config: Some(f.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.contains("key `clock-bump`") && e.contains("`later`"),
            "{e}"
        );
    }
}
