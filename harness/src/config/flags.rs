//! `faultline test`'s flags, raw: every setting optional, so that "not given" can be
//! told apart from "given as the default" when merging with a test file. The
//! defaults are in [`defaults`](super::defaults), and `--help` shows them from there.

use std::path::PathBuf;

/// `faultline test` flags.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct TestArgs {
    /// A TOML test file with any of the settings below (keys are the flag names,
    /// e.g. `time-limit = "30s"`); flags given here override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run the nodes on remote hosts over SSH, as listed in FILE (`[[hosts]]` tables:
    /// address, user, key, port, nodes (default 1 per host); docs/ssh.md).
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// The system under test: a built-in name (raft-kv, dynamo-kv, pb-kv, cl-bank,
    /// etcd, redis-sentinel, postgres) or a system TOML file (docs/systems.md).
    #[arg(long, value_name = "NAME|FILE")]
    pub system: Option<String>,
    /// Extra arguments for every node of the system (bug switches, tuning); repeat
    /// for several, e.g. `--system-arg=--bug=stale-read`.
    #[arg(long = "system-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub system_args: Vec<String>,
    /// Number of nodes.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub nodes: Option<i64>,
    /// Spare nodes: namespaces made and addressed but not started, not initial
    /// members and not client targets; `--nemesis membership` adds one under its new
    /// id (empty data, the system's `join` command) before it adds back a removed node.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub spare_nodes: Option<i64>,
    /// The workload: register, cas-register, append, set, counter, bank (cl-bank
    /// only), unique-ids, pn-counter (counter with decrements), or the transactional
    /// txn-append and txn-register (postgres, client adapters and Maelstrom nodes);
    /// for Maelstrom nodes also echo, broadcast, g-set, lin-kv (cas-register),
    /// g-counter (counter), txn-list-append (txn-append), txn-rw-register
    /// (txn-register) and kafka.
    #[arg(long, value_name = "W")]
    pub workload: Option<String>,
    /// Logical client processes running at once, spread over the nodes.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub concurrency: Option<i64>,
    /// How client processes pick nodes: `sticky` (each bound to one node, as in
    /// Jepsen) or `roaming` (every operation to a node drawn from the seed, so a
    /// session moves between replicas, as Terry's do).
    #[arg(long, value_name = "MODE")]
    pub sessions: Option<String>,
    /// Operations per second over all clients; 0 for as fast as they go.
    #[arg(long, value_name = "OPS", allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// How long the workload runs (e.g. 30s, 2m; at most a week).
    #[arg(long, value_name = "D")]
    pub time_limit: Option<String>,
    /// Fault kinds, comma-separated: kinds (partition-halves, kill, pause,
    /// pause-leader, clock-bump, loss, ...), groups (partition, process, clock, packet,
    /// all), compositions of kinds started and healed together
    /// (pause-leader+clock-bump), or `none`. The default is partitions, kills and
    /// pauses, those of them the system supports.
    #[arg(long, value_name = "KINDS")]
    pub nemesis: Option<String>,
    /// Time a fault lasts, and the healthy time between a heal and the next fault;
    /// the first fault comes after a warm-up of 2 s (or the interval, if shorter).
    #[arg(long, value_name = "D")]
    pub nemesis_interval: Option<String>,
    /// How far clock-bump faults move a clock: uniform between two signed durations,
    /// e.g. `--clock-bump=-30s..-6s` (one value: exactly that). Without it: 100ms to
    /// 60s, log-uniform, either sign.
    #[arg(long, value_name = "MIN..MAX", allow_hyphen_values = true)]
    pub clock_bump: Option<String>,
    /// Which files of a node's data directory `corrupt` and `truncate` may damage: a
    /// pattern on the path relative to it, `*` matching any run of characters (e.g.
    /// `*.log`, `log.bin`). Default: any non-empty file.
    #[arg(long, value_name = "PATTERN")]
    pub disk_files: Option<String>,
    /// Checks to run, comma-separated: linearizable, sequential, session, eventual,
    /// bank, counter, unique-ids, or `default` (every check that applies to the
    /// workload).
    #[arg(long, value_name = "CHECKS")]
    pub check: Option<String>,
    /// Check every key for linearizability even after one is found invalid, so the
    /// count of bad keys is exact (otherwise: "at least").
    #[arg(long)]
    pub all_keys: bool,
    /// Put every node's data directory on faultline's lazy filesystem, where writes
    /// not yet fsync'd live in memory until a disk fault drops them. On by itself
    /// when --nemesis has a disk fault (power-loss, power-loss-all,
    /// power-loss-leader, lose-unsynced, torn-write).
    #[arg(long)]
    pub lazyfs: bool,
    /// Seed for the operation mix, the node choice and the fault schedule.
    /// [default: random, printed]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<i64>,
    /// Run this many independent tests (seeds seed, seed+1, ...); fail if any fails.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub test_count: Option<i64>,
    /// Where results go: DIR/<test>/<timestamp>/.
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    /// The test's name, the results subfolder. [default: <system>-<workload>]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Per-request client timeout; a timed-out write is indeterminate (info).
    #[arg(long, value_name = "D")]
    pub client_timeout: Option<String>,
    /// Keys in use at once.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub keys: Option<i64>,
    /// Operations per key before it is retired for a fresh one.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub ops_per_key: Option<i64>,
    /// Transactional workloads: the most micro-operations a transaction has (each
    /// has 1 to this many).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub txn_length: Option<i64>,
    /// Transactional workloads: writes a key gets before it is retired for a fresh
    /// one (Elle's key retirement; `--keys` is how many are live at once).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_writes_per_key: Option<i64>,
    /// PostgreSQL and MariaDB Galera only: the isolation level of every transaction, `serializable`,
    /// `repeatable-read` or `read-committed`.
    #[arg(long, value_name = "LEVEL")]
    pub isolation: Option<String>,
    /// After the final heal, how long the cluster may take to be ready again.
    #[arg(long, value_name = "D")]
    pub recovery_timeout: Option<String>,
    /// After the cluster is ready again, a quiet period before the final reads.
    #[arg(long, value_name = "D")]
    pub quiet_period: Option<String>,
    /// Time limit for the checkers per test; past it a verdict is unknown.
    #[arg(long, value_name = "D")]
    pub check_timeout: Option<String>,
    /// Memory budget of each check's search tables (e.g. 256M, 2G); past it the
    /// verdict is unknown, saying so. Default: each checker's own (512 MiB for
    /// sequential consistency, more for linearizability).
    #[arg(long, value_name = "BYTES")]
    pub check_memory: Option<String>,
    /// When to keep the nodes' data directories in the results folder: `on-failure`
    /// (the run was not valid), `always` or `never`.
    #[arg(long, value_name = "WHEN")]
    pub keep_data: Option<String>,
    /// etcd only: how reads are served, `linearizable` (through the leader) or
    /// `serializable` (from the local member, stale under partitions).
    #[arg(long, value_name = "MODE")]
    pub etcd_reads: Option<String>,
    /// Redis only: every write waits (`WAIT`) for this many replicas to acknowledge
    /// it, and is indeterminate if they do not in time. 0: no waiting.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub redis_wait: Option<i64>,
    /// Maelstrom broadcast only: the `topology` sent to the nodes, as Maelstrom's
    /// `--topology`: grid (the default), line, total, tree2 (or tree), tree3, tree4.
    #[arg(long, value_name = "SHAPE")]
    pub topology: Option<String>,
    /// Maelstrom only: how the seq-kv and lww-kv services behave: `maelstrom` (the
    /// default: seq-kv serves stale reads, lww-kv loses concurrent writes, as
    /// Maelstrom's do) or `linearizable`.
    #[arg(long, value_name = "MODE")]
    pub kv_services: Option<String>,
    /// Redis only: the servers' `appendfsync` policy, `everysec` (faultline's
    /// configuration: a power loss can lose the last second), `always` (fsync before
    /// answering) or `no`; passed to redis-server as `--appendfsync POLICY`.
    #[arg(long, value_name = "POLICY")]
    pub redis_appendfsync: Option<String>,
    /// The models this run is judged by, comma-separated, instead of the system's
    /// promises: linearizable, sequential, monotonic-reads, monotonic-writes,
    /// read-your-writes, writes-follow-reads (or `session` for the four), eventual,
    /// no-lost-writes, bank, counter, unique-ids, the isolation models
    /// strict-serializable, serializable, snapshot-isolation, repeatable-read,
    /// read-committed, read-uncommitted, or `none`. The exit code is 1 only
    /// when one of them is broken; other broken models are findings.
    #[arg(long, value_name = "MODELS")]
    pub expect: Option<String>,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Also write the verdicts as JUnit XML to FILE, for CI (every run folder has
    /// its own `junit.xml` anyway): one testsuite per test, one testcase per check.
    /// Where a CI puts its reports is the CI's business, so this is a flag only,
    /// never a test-file key.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// `json`: print one JSON object with every test's verdicts as the only standard
    /// output, for scripts (the console summary and progress go to standard error).
    /// A flag only, like --junit.
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub summary: Option<String>,
}
