//! Flags over the test file over the defaults, every value checked. An error names
//! the flag, or the file and key, that is wrong.

use super::defaults as def;
use super::file::{DurationText, StringList, TestFile};
use super::flags::TestArgs;
use super::{KeepData, TestConfig};
use crate::check::CheckKind;
use crate::error::bad_input;
use crate::system::promise::parse_models;
use crate::system::{faults, maelstrom, PromiseSource, Promises, SystemSpec};
use crate::units::{parse_duration, MAX_DURATION};
use crate::workload::default_checks;
use crate::workload::parse_check_list;
use anyhow::Result;
use nemesis::{ClockBumpRange, FaultKind};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use workloads::generator::Workload;

/// Where a setting's value came from, for messages.
struct Origins<'a> {
    file: Option<&'a Path>,
}

impl Origins<'_> {
    /// `--key` if the flag was given (or nothing was: the default), else the file's key.
    fn name(&self, flag_given: bool, key: &str) -> String {
        match (self.file, flag_given) {
            (Some(path), false) => format!("test file {}: key `{key}`", path.display()),
            _ => format!("--{key}"),
        }
    }

    fn error(&self, flag_given: bool, key: &str, message: impl std::fmt::Display) -> anyhow::Error {
        bad_input(format!("{}: {message}", self.name(flag_given, key)))
    }
}

/// A value from the flag or the file, and whether the flag gave it.
fn pick<T>(flag: Option<T>, file: Option<T>) -> (Option<T>, bool) {
    match (flag, file) {
        (Some(v), _) => (Some(v), true),
        (None, v) => (v, false),
    }
}

/// Merges flags over the test file over the defaults, and checks every value.
pub fn resolve(args: &TestArgs) -> Result<TestConfig> {
    let file = match &args.config {
        Some(path) => TestFile::read(path).map_err(|e| bad_input(format!("{e:#}")))?,
        None => TestFile::default(),
    };
    let o = Origins {
        file: args.config.as_deref(),
    };
    let r = Resolver { args, file, o };
    r.resolve()
}

/// The duration settings, resolved.
struct Timings {
    time_limit: Duration,
    nemesis_interval: Duration,
    client_timeout: Duration,
    recovery_timeout: Duration,
    quiet_period: Duration,
    check_timeout: Duration,
}

struct Resolver<'a> {
    args: &'a TestArgs,
    file: TestFile,
    o: Origins<'a>,
}

impl Resolver<'_> {
    fn resolve(self) -> Result<TestConfig> {
        let (system, spec) = self.system()?;
        let nodes = self.count(
            self.args.nodes,
            self.file.nodes,
            "nodes",
            def::NODES,
            1,
            253,
        )?;
        let workload: Workload = self.parsed(
            &self.args.workload,
            &self.file.workload,
            "workload",
            def::WORKLOAD,
        )?;
        let (nemesis, nemesis_left_out) = self.nemesis(&spec, nodes)?;
        let spare_nodes = self.spare_nodes(nodes, &nemesis)?;
        let t = self.timings(!nemesis.is_empty())?;
        let lazyfs = self.args.lazyfs
            || self.file.lazyfs.unwrap_or(false)
            || nemesis.iter().any(|k| k.needs_lazy_disk());
        let (seed, test_count) = self.seed_and_count()?;
        let (a, f) = (self.args, &self.file);
        let etcd_reads = self.parsed(
            &a.etcd_reads,
            &f.etcd_reads,
            "etcd-reads",
            Default::default(),
        )?;
        let system_args = self.system_args(&spec)?;
        let isolation = self.parsed(&a.isolation, &f.isolation, "isolation", Default::default())?;
        let promises = self.promises(&spec, &system_args, etcd_reads, isolation)?;
        let one_object = one_maelstrom_object(&spec, workload);
        Ok(TestConfig {
            name: self.name(&system, workload)?,
            system,
            system_args,
            nodes,
            spare_nodes,
            workload,
            concurrency: self.count(
                a.concurrency,
                f.concurrency,
                "concurrency",
                def::CONCURRENCY,
                1,
                10_000,
            )?,
            sessions: self.parsed(&a.sessions, &f.sessions, "sessions", def::SESSIONS)?,
            rate: self.rate()?,
            time_limit: t.time_limit,
            clock_bump: self.clock_bump(&nemesis)?,
            disk_files: self.disk_files()?,
            nemesis,
            nemesis_left_out,
            nemesis_interval: t.nemesis_interval,
            checks: self.checks(workload)?,
            all_keys: a.all_keys || f.all_keys.unwrap_or(false),
            lazyfs,
            seed,
            test_count,
            results_dir: a
                .results_dir
                .clone()
                .or(f.results_dir.clone())
                .unwrap_or_else(|| def::RESULTS_DIR.into()),
            client_timeout: t.client_timeout,
            keys: match one_object {
                true => 1,
                false => self.count(a.keys, f.keys, "keys", def::KEYS, 1, 1_000_000)?,
            },
            ops_per_key: match one_object {
                true => i64::MAX as u64,
                false => self.count(
                    a.ops_per_key,
                    f.ops_per_key,
                    "ops-per-key",
                    def::OPS_PER_KEY as usize,
                    1,
                    usize::MAX,
                )? as u64,
            },
            txn_length: self.count(
                a.txn_length,
                f.txn_length,
                "txn-length",
                def::TXN_LENGTH,
                1,
                1000,
            )?,
            max_writes_per_key: self.count(
                a.max_writes_per_key,
                f.max_writes_per_key,
                "max-writes-per-key",
                def::MAX_WRITES_PER_KEY as usize,
                1,
                1_000_000,
            )? as u64,
            isolation,
            recovery_timeout: t.recovery_timeout,
            quiet_period: t.quiet_period,
            check_timeout: t.check_timeout,
            check_memory: a
                .check_memory
                .as_ref()
                .or(f.check_memory.as_ref())
                .map(|text| {
                    crate::units::parse_bytes(text).map_err(|e| {
                        anyhow::anyhow!("--check-memory (or `check-memory` in the test file): {e}")
                    })
                })
                .transpose()?,
            keep_data: self.parsed::<KeepData>(
                &a.keep_data,
                &f.keep_data,
                "keep-data",
                def::KEEP_DATA,
            )?,
            etcd_reads,
            redis_wait: self.count(
                a.redis_wait,
                f.redis_wait,
                "redis-wait",
                def::REDIS_WAIT as usize,
                0,
                16,
            )? as u32,
            maelstrom: workloads::maelstrom::MaelstromOptions {
                topology: self.parsed(&a.topology, &f.topology, "topology", Default::default())?,
                kv_services: self.parsed(
                    &a.kv_services,
                    &f.kv_services,
                    "kv-services",
                    Default::default(),
                )?,
            },
            promises,
            quiet: a.quiet || f.quiet.unwrap_or(false),
            config_file: a.config.as_deref().map(absolute),
            hosts: self.hosts()?,
        })
    }

    /// The hosts of an ssh test: `--hosts FILE`, else the test file's `[[hosts]]`
    /// (read again with their lines, for errors that name them).
    fn hosts(&self) -> Result<Vec<crate::backend::ssh::hosts::Host>> {
        use crate::backend::ssh::hosts;
        if let Some(path) = &self.args.hosts {
            return hosts::read_file(path).map_err(|e| bad_input(format!("--hosts: {e:#}")));
        }
        match (&self.file.hosts, self.o.file) {
            (Some(_), Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad_input(format!("test file {}: {e}", path.display())))?;
                hosts::parse(&text, path)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Every duration setting; the time limit and client timeout must be positive,
    /// and so must the fault interval when there are faults.
    fn timings(&self, faults: bool) -> Result<Timings> {
        let (a, f) = (self.args, &self.file);
        let positive = |flag: &Option<String>,
                        file: &Option<DurationText>,
                        key: &str,
                        default: Duration,
                        needed: bool| {
            let d = self.duration(flag, file, key, default)?;
            if needed && d.is_zero() {
                return Err(self
                    .o
                    .error(flag.is_some(), key, "must be greater than zero"));
            }
            Ok(d)
        };
        Ok(Timings {
            time_limit: positive(
                &a.time_limit,
                &f.time_limit,
                "time-limit",
                def::TIME_LIMIT,
                true,
            )?,
            nemesis_interval: positive(
                &a.nemesis_interval,
                &f.nemesis_interval,
                "nemesis-interval",
                def::NEMESIS_INTERVAL,
                faults,
            )?,
            client_timeout: positive(
                &a.client_timeout,
                &f.client_timeout,
                "client-timeout",
                def::CLIENT_TIMEOUT,
                true,
            )?,
            recovery_timeout: positive(
                &a.recovery_timeout,
                &f.recovery_timeout,
                "recovery-timeout",
                def::RECOVERY_TIMEOUT,
                false,
            )?,
            quiet_period: positive(
                &a.quiet_period,
                &f.quiet_period,
                "quiet-period",
                def::QUIET_PERIOD,
                false,
            )?,
            check_timeout: positive(
                &a.check_timeout,
                &f.check_timeout,
                "check-timeout",
                def::CHECK_TIMEOUT,
                false,
            )?,
        })
    }

    /// The system: a built-in name, or a system file stored by its absolute path so
    /// the test replays from any directory.
    fn system(&self) -> Result<(String, SystemSpec)> {
        let (given, from_flag) = pick(self.args.system.clone(), self.file.system.clone());
        let text = given.unwrap_or_else(|| def::SYSTEM.to_string());
        let spec = SystemSpec::resolve(&text)
            .map_err(|e| self.o.error(from_flag, "system", format!("{e:#}")))?;
        let stored = match &spec.source {
            crate::system::SpecSource::File(p) => p
                .canonicalize()
                .unwrap_or_else(|_| absolute(p))
                .display()
                .to_string(),
            crate::system::SpecSource::Builtin => match text.strip_prefix(maelstrom::PREFIX) {
                // A Maelstrom node by its absolute path, so the run replays anywhere.
                Some(_) => format!("{}{}", maelstrom::PREFIX, spec.command_node_program()),
                None => text,
            },
        };
        Ok((stored, spec))
    }

    /// `--expect` (or the file's `expect`) over what the system promises with these
    /// settings; the settings are known only here, with the spec.
    fn promises(
        &self,
        spec: &SystemSpec,
        system_args: &[String],
        etcd_reads: workloads::etcd::EtcdReads,
        isolation: workloads::sql::Isolation,
    ) -> Result<Option<Promises>> {
        let (text, from_flag) = pick(
            self.args.expect.clone(),
            self.file.expect.as_ref().map(StringList::joined),
        );
        if let Some(text) = text {
            let models = parse_models(text.split(','))
                .map_err(|e| self.o.error(from_flag, "expect", format!("`{text}`: {e}")))?;
            return Ok(Some(Promises {
                models,
                from: PromiseSource::Expect,
            }));
        }
        let from = match spec.source {
            crate::system::SpecSource::Builtin => PromiseSource::Builtin,
            crate::system::SpecSource::File(_) => PromiseSource::SystemFile,
        };
        Ok(spec
            .promises_for(system_args, etcd_reads, isolation)
            .map(|models| Promises { models, from }))
    }

    /// The nodes' extra arguments: the file's, the flags', then `--appendfsync
    /// POLICY` for `redis-appendfsync` (Redis only, where redis-server takes it).
    fn system_args(&self, spec: &SystemSpec) -> Result<Vec<String>> {
        let mut v = self.file.system_args.clone().unwrap_or_default();
        v.extend(self.args.system_args.iter().cloned());
        let key = "redis-appendfsync";
        let (policy, from_flag) = pick(
            self.args.redis_appendfsync.clone(),
            self.file.redis_appendfsync.clone(),
        );
        if let Some(policy) = policy {
            if spec.name != "redis-sentinel" {
                let why = format!("a setting of --system redis-sentinel, not {}", spec.name);
                return Err(self.o.error(from_flag, key, why));
            }
            if !["everysec", "always", "no"].contains(&policy.as_str()) {
                let why = format!("{policy:?} is not a policy (everysec, always or no)");
                return Err(self.o.error(from_flag, key, why));
            }
            v.extend(["--appendfsync".to_string(), policy]);
        }
        Ok(v)
    }

    /// Spare nodes only serve membership changes: refused without them.
    fn spare_nodes(&self, nodes: usize, nemesis: &[FaultKind]) -> Result<usize> {
        let (a, f) = (self.args.spare_nodes, self.file.spare_nodes);
        let n = self.count(a, f, "spare-nodes", 0, 0, 253 - nodes)?;
        let membership = nemesis
            .iter()
            .any(|k| k.parts().contains(&FaultKind::Membership));
        if n > 0 && !membership {
            return Err(self.o.error(
                a.is_some(),
                "spare-nodes",
                "needs --nemesis membership (only a membership change starts a spare)",
            ));
        }
        Ok(n)
    }

    /// An integer setting in `min..=max`; negative numbers are refused by name.
    fn count(
        &self,
        flag: Option<i64>,
        file: Option<i64>,
        key: &str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize> {
        let (v, from_flag) = pick(flag, file);
        let Some(v) = v else { return Ok(default) };
        if v < min as i64 || (v as u128) > max as u128 {
            let range = if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("between {min} and {max}")
            };
            return Err(self
                .o
                .error(from_flag, key, format!("must be {range}, not {v}")));
        }
        Ok(v as usize)
    }

    /// A setting parsed from its text (`FromStr`), or the default.
    fn parsed<T: FromStr>(
        &self,
        flag: &Option<String>,
        file: &Option<String>,
        key: &str,
        default: T,
    ) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match pick(flag.as_ref(), file.as_ref()) {
            (Some(text), from_flag) => text.parse().map_err(|e| self.o.error(from_flag, key, e)),
            (None, _) => Ok(default),
        }
    }

    fn duration(
        &self,
        flag: &Option<String>,
        file: &Option<DurationText>,
        key: &str,
        default: Duration,
    ) -> Result<Duration> {
        match pick(flag.clone(), file.as_ref().map(DurationText::text)) {
            (Some(text), from_flag) => {
                parse_duration(&text).map_err(|e| self.o.error(from_flag, key, e))
            }
            (None, _) => Ok(default.min(MAX_DURATION)),
        }
    }

    fn rate(&self) -> Result<f64> {
        let (v, from_flag) = pick(self.args.rate, self.file.rate);
        let rate = v.unwrap_or(def::RATE);
        if !rate.is_finite() || rate < 0.0 {
            return Err(self.o.error(
                from_flag,
                "rate",
                format!(
                "a rate is 0 (unlimited) or a positive number of operations per second, not {rate}"
            ),
            ));
        }
        Ok(rate)
    }

    /// The fault kinds: as given, or the default kinds the system supports (and the
    /// ones left out). Empty items and `none` beside other kinds are refused: both
    /// are typos that would silently change the test.
    fn nemesis(&self, spec: &SystemSpec, nodes: usize) -> Result<(Vec<FaultKind>, Vec<FaultKind>)> {
        let (text, from_flag) = pick(
            self.args.nemesis.clone(),
            self.file.nemesis.as_ref().map(StringList::joined),
        );
        let Some(text) = text else {
            return Ok(faults::default_kinds(&spec.faults, nodes));
        };
        let items: Vec<&str> = text.split(',').map(str::trim).collect();
        if items.iter().any(|i| i.is_empty()) {
            return Err(self.o.error(
                from_flag,
                "nemesis",
                format!("`{text}` has an empty item (two commas, or one at an end)"),
            ));
        }
        if items.len() > 1 && items.contains(&"none") {
            return Err(self.o.error(
                from_flag,
                "nemesis",
                format!("`{text}`: `none` means no faults and cannot be combined with other kinds"),
            ));
        }
        let kinds = FaultKind::parse_list(&text, nodes)
            .map_err(|e| self.o.error(from_flag, "nemesis", e))?;
        let unsupported: Vec<String> = kinds
            .iter()
            .filter(|k| !spec.faults.allows(k))
            .map(FaultKind::name)
            .collect();
        if !unsupported.is_empty() {
            return Err(self.o.error(
                from_flag,
                "nemesis",
                format!(
                    "{} does not support {} (it supports: {}){}",
                    spec.origin(),
                    unsupported.join(", "),
                    spec.faults.describe(),
                    clock_note(spec, &kinds)
                ),
            ));
        }
        Ok((kinds, Vec::new()))
    }

    /// `--disk-files`: a non-empty pattern.
    fn disk_files(&self) -> Result<Option<String>> {
        let (text, from_flag) = pick(self.args.disk_files.clone(), self.file.disk_files.clone());
        match text {
            Some(t) if t.trim().is_empty() => Err(bad_input(format!(
                "{}: the pattern is empty (leave it out to let disk faults pick any file)",
                if from_flag {
                    "--disk-files"
                } else {
                    "disk-files in the test file"
                }
            ))),
            other => Ok(other),
        }
    }

    fn clock_bump(&self, kinds: &[FaultKind]) -> Result<Option<ClockBumpRange>> {
        let (text, from_flag) = pick(self.args.clock_bump.clone(), self.file.clock_bump.clone());
        let Some(text) = text else { return Ok(None) };
        let range: ClockBumpRange = text
            .parse()
            .map_err(|e| self.o.error(from_flag, "clock-bump", e))?;
        if !kinds
            .iter()
            .any(|k| k.parts().contains(&FaultKind::ClockBump))
        {
            let names: Vec<String> = kinds.iter().map(FaultKind::name).collect();
            let shown = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(",")
            };
            return Err(self.o.error(from_flag, "clock-bump", format!(
                "sets the size of clock-bump faults, but the nemesis ({shown}) has none; add clock-bump, e.g. --nemesis pause-leader+clock-bump"
            )));
        }
        Ok(Some(range))
    }

    fn checks(&self, workload: Workload) -> Result<Vec<CheckKind>> {
        match pick(
            self.args.check.clone(),
            self.file.check.as_ref().map(StringList::joined),
        ) {
            (Some(list), from_flag) => {
                parse_check_list(&list, workload).map_err(|e| self.o.error(from_flag, "check", e))
            }
            (None, _) => Ok(default_checks(workload).to_vec()),
        }
    }

    /// A random seed is short enough to retype; any seed must fit a TOML integer
    /// (signed 64-bit), because test.toml stores it for replay.
    fn seed_and_count(&self) -> Result<(u64, u32)> {
        let count = self.count(
            self.args.test_count,
            self.file.test_count,
            "test-count",
            def::TEST_COUNT as usize,
            1,
            1_000_000,
        )? as u64;
        let (seed, from_flag) = pick(self.args.seed, self.file.seed);
        let seed = match seed {
            None => rand::random::<u32>() as u64,
            Some(s) if s < 0 => {
                return Err(self.o.error(
                    from_flag,
                    "seed",
                    format!("a seed is a number from 0 to {}, not {s}", i64::MAX),
                ))
            }
            Some(s) => s as u64,
        };
        if seed.saturating_add(count - 1) > i64::MAX as u64 {
            return Err(self.o.error(
                from_flag,
                "seed",
                format!(
                    "seeds go up to {} (with --test-count N, seed + N - 1 must too)",
                    i64::MAX
                ),
            ));
        }
        Ok((seed, count as u32))
    }

    fn name(&self, system: &str, workload: Workload) -> Result<String> {
        let label = Path::new(system)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("system");
        let (name, from_flag) = pick(self.args.name.clone(), self.file.name.clone());
        let name = name.unwrap_or_else(|| format!("{label}-{workload}"));
        if name.is_empty() || name == "latest" || name.contains('/') || name.starts_with('.') {
            return Err(self.o.error(
                from_flag,
                "name",
                format!(
                    "`{name}` cannot name a results folder (no `/`, no leading `.`, not `latest`)"
                ),
            ));
        }
        Ok(name)
    }
}

/// Maelstrom's broadcast, g-set, g-counter and unique-ids workloads act on one
/// object per cluster (their messages name no key): one key, never rotated. Its
/// lin-kv, transactions and kafka name keys.
fn one_maelstrom_object(spec: &SystemSpec, workload: Workload) -> bool {
    spec.protocol == crate::adapter::ClientProtocol::Maelstrom
        && !matches!(
            workload,
            Workload::Register
                | Workload::CasRegister
                | Workload::TxnAppend
                | Workload::TxnRegister
                | Workload::Kafka
        )
}

/// Why clock faults are refused, when they are among the kinds asked for.
fn clock_note(spec: &SystemSpec, kinds: &[FaultKind]) -> &'static str {
    let clocks = kinds
        .iter()
        .any(|k| faults::classes_of(k).contains(&faults::FaultClass::Clock));
    match (clocks && !spec.faults.clock, spec.protocol) {
        (false, _) => "",
        (true, crate::adapter::ClientProtocol::Etcd) => {
            "; etcd reads time without libc (Go's runtime calls the vDSO directly), so libfaketime cannot move its clock"
        }
        (true, _) => "; libfaketime only moves clocks read through libc",
    }
}

/// A path made absolute against the current directory (as typed if that fails).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
