//! The test file: the same settings as the flags, by the same names
//! (`time-limit = "30s"`). Read by `--config`, and written as `test.toml` in every
//! results folder from the resolved configuration, so a run replays exactly with
//! `faultline test --config results/<test>/<ts>/test.toml`, from any directory.
//!
//! An unknown key is an error that names the file and the key: a misspelt setting
//! that is silently ignored gives a test that is not the one the user asked for.

use super::TestConfig;
use crate::system::PromiseSource;
use crate::units::duration_text;
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The test file's settings.
#[derive(Deserialize, Serialize, Default, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TestFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_args: Option<Vec<String>>,
    pub nodes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spare_nodes: Option<i64>,
    pub workload: Option<String>,
    pub concurrency: Option<i64>,
    pub sessions: Option<String>,
    pub rate: Option<f64>,
    pub time_limit: Option<DurationText>,
    pub nemesis: Option<StringList>,
    pub nemesis_interval: Option<DurationText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_bump: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_files: Option<String>,
    pub check: Option<StringList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_keys: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lazyfs: Option<bool>,
    pub seed: Option<i64>,
    pub test_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results_dir: Option<PathBuf>,
    pub client_timeout: Option<DurationText>,
    pub keys: Option<i64>,
    pub ops_per_key: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_length: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_writes_per_key: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    pub recovery_timeout: Option<DurationText>,
    pub quiet_period: Option<DurationText>,
    pub check_timeout: Option<DurationText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_memory: Option<String>,
    pub keep_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_reads: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_wait: Option<i64>,
    /// Folded into `system-args` when resolved, so a saved test file has it there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_appendfsync: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_services: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<StringList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet: Option<bool>,
    /// `[[hosts]]`: run the nodes on these hosts over SSH (last: tables come after
    /// plain keys in TOML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<crate::backend::ssh::hosts::Host>>,
}

/// A duration in a file: `"30s"`, `"500ms"`, or a number of seconds.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum DurationText {
    Text(String),
    Seconds(f64),
}

impl DurationText {
    pub fn text(&self) -> String {
        match self {
            DurationText::Text(t) => t.clone(),
            DurationText::Seconds(s) => format!("{s}"),
        }
    }
}

/// A list in a file: `["partition", "kill"]` or `"partition,kill"`.
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum StringList {
    One(String),
    Many(Vec<String>),
}

impl StringList {
    pub fn joined(&self) -> String {
        match self {
            StringList::One(s) => s.clone(),
            StringList::Many(v) => v.join(","),
        }
    }
}

impl TestFile {
    /// Reads a test file. Errors name the file, and the key or line.
    pub fn read(path: &Path) -> Result<TestFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("test file {}: cannot read it", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow!("test file {}: {}", path.display(), e.to_string().trim_end()))
    }

    /// The resolved test as a file that resolves to the same test (one test, not
    /// `--test-count` of them; the results folder left to the replaying user).
    pub fn of(c: &TestConfig) -> TestFile {
        let d = |v| Some(DurationText::Text(duration_text(v)));
        let names = |v: Vec<String>| Some(StringList::Many(v));
        let nemesis = if c.nemesis.is_empty() {
            vec!["none".to_string()]
        } else {
            c.nemesis.iter().map(|k| k.name()).collect()
        };
        TestFile {
            name: Some(c.name.clone()),
            system: Some(c.system.clone()),
            system_args: (!c.system_args.is_empty()).then(|| c.system_args.clone()),
            nodes: Some(c.nodes as i64),
            workload: Some(c.workload.to_string()),
            concurrency: Some(c.concurrency as i64),
            sessions: Some(c.sessions.to_string()),
            rate: Some(c.rate),
            time_limit: d(c.time_limit),
            nemesis: names(nemesis),
            nemesis_interval: d(c.nemesis_interval),
            clock_bump: c.clock_bump.map(|r| r.to_string()),
            disk_files: c.disk_files.clone(),
            // No checks at all (a workload whose checks are not built in) replays as
            // the workload's defaults: an empty list is refused on reading.
            check: (!c.checks.is_empty())
                .then(|| StringList::Many(c.checks.iter().map(|k| k.to_string()).collect())),
            spare_nodes: (c.spare_nodes > 0).then_some(c.spare_nodes as i64),
            all_keys: c.all_keys.then_some(true),
            lazyfs: c.lazyfs.then_some(true),
            seed: Some(c.seed as i64),
            test_count: Some(1),
            results_dir: None,
            client_timeout: d(c.client_timeout),
            keys: Some(c.keys as i64),
            ops_per_key: Some(c.ops_per_key as i64),
            // Written only where they matter, so other tests' files stay as they were.
            txn_length: c.workload.txn_model().map(|_| c.txn_length as i64),
            max_writes_per_key: c.workload.txn_model().map(|_| c.max_writes_per_key as i64),
            isolation: (c.isolation != Default::default()).then(|| c.isolation.to_string()),
            recovery_timeout: d(c.recovery_timeout),
            quiet_period: d(c.quiet_period),
            check_timeout: d(c.check_timeout),
            check_memory: c.check_memory.map(|b| format!("{}M", b >> 20)),
            keep_data: Some(c.keep_data.to_string()),
            etcd_reads: (c.etcd_reads != Default::default()).then(|| c.etcd_reads.to_string()),
            redis_wait: (c.redis_wait > 0).then_some(c.redis_wait as i64),
            topology: (c.maelstrom.topology != Default::default())
                .then(|| c.maelstrom.topology.to_string()),
            kv_services: (c.maelstrom.kv_services != Default::default())
                .then(|| c.maelstrom.kv_services.to_string()),
            redis_appendfsync: None,
            // Only an override is written: the system's own promises follow from
            // the system and its settings, which the file already holds.
            expect: c
                .promises
                .as_ref()
                .filter(|p| p.from == PromiseSource::Expect)
                .map(|p| {
                    StringList::One(if p.models.is_empty() {
                        "none".to_string()
                    } else {
                        p.models
                            .iter()
                            .map(|m| m.name())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                }),
            quiet: None,
            hosts: (!c.hosts.is_empty()).then(|| c.hosts.clone()),
        }
    }

    /// The file's text, with a comment saying what it is.
    pub fn to_toml(&self, run_dir: &Path) -> String {
        format!(
            "# The test that produced {}; replay it with `faultline test --config <this file>`.\n{}",
            run_dir.display(),
            toml::to_string(self).unwrap_or_default()
        )
    }
}
