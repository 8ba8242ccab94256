//! The index of every run under a results folder, for `faultline serve`: each run's
//! name, system, start time, seed, verdict and checks.
//!
//! A run is a folder holding `results.json`; runs sit at `<test>/<timestamp>/` and,
//! inside campaigns, deeper (`compare/<plan>/<ts>/runs/<entry>/<ts>/`), so the folder
//! is walked (symbolic links are not followed: `latest` would list a run twice, and a
//! link may lead out of the folder). Only `results.json` and `test.json` are read,
//! and each run is parsed once: the index keeps every entry with the modification
//! times it was read at and reads a run again only when one of its files changed, so
//! a thousand runs cost a walk and a few thousand `stat`s per request.

use anyhow::{Context, Result};
use checker::verdict::Verdict;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Folders no run is inside of: a run's own parts, which can be large (`data/`).
const NOT_RUNS: [&str; 4] = ["data", "nodes", "clients", "clock"];
/// Deeper than any layout faultline writes (a campaign's runs are at depth 6).
const MAX_DEPTH: usize = 10;

/// One run as the index lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunEntry {
    /// The run folder, relative to the results folder, with `/` between parts.
    pub path: String,
    pub name: String,
    /// The system and its arguments (`raft-kv --bug=stale-read`).
    pub system: String,
    /// When the run started (RFC 3339), from `test.json`; else when its results
    /// were written.
    pub started_at: String,
    pub seed: Option<u64>,
    /// The verdict the run's exit code carried: `valid`, `invalid`, `unknown`, or
    /// `error` when the harness could not check it (then `error` says why).
    pub verdict: String,
    pub checks: Vec<CheckEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub interrupted: bool,
    /// Whether the folder holds `report.html`.
    pub report: bool,
}

/// One check of a run: its name, verdict and one line of why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckEntry {
    pub name: String,
    pub verdict: Verdict,
    #[serde(default)]
    pub summary: String,
}

impl RunEntry {
    /// Failing runs first: invalid, then harness errors, then unknown, then valid.
    pub fn rank(&self) -> u8 {
        match self.verdict.as_str() {
            "invalid" => 0,
            "error" => 1,
            "unknown" => 2,
            _ => 3,
        }
    }
}

/// What the index reads of `results.json`; the rest (reports, statistics) is
/// skipped by the parser.
#[derive(Deserialize)]
struct ResultsHead {
    verdict: Option<Verdict>,
    name: Option<String>,
    seed: Option<u64>,
    #[serde(default)]
    interrupted: bool,
    #[serde(default)]
    checks: Vec<CheckEntry>,
    promises: Option<PromisesHead>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct PromisesHead {
    verdict: Option<Verdict>,
}

/// What the index reads of `test.json`.
#[derive(Deserialize, Default)]
struct TestHead {
    started_at: Option<String>,
    config: Option<ConfigHead>,
}

#[derive(Deserialize, Default)]
struct ConfigHead {
    system: Option<String>,
    #[serde(default, rename = "system-args")]
    system_args: Vec<String>,
}

/// The runs under one results folder, read again only where they changed.
pub struct RunIndex {
    root: PathBuf,
    cache: Mutex<HashMap<PathBuf, Cached>>,
    /// Held while the index is read: a request that comes while another (or the
    /// server's first read) parses every run waits for it and then reads the cache,
    /// rather than parsing everything a second time alongside.
    reading: Mutex<()>,
}

#[derive(Clone)]
struct Cached {
    stamp: (Option<SystemTime>, Option<SystemTime>),
    entry: RunEntry,
}

impl RunIndex {
    pub fn new(root: PathBuf) -> RunIndex {
        RunIndex {
            root,
            cache: Mutex::new(HashMap::new()),
            reading: Mutex::new(()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every run, failing first, newest first within a verdict.
    pub fn entries(&self) -> Result<Vec<RunEntry>> {
        let _reading = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let mut dirs = Vec::new();
        walk(&self.root, 0, &mut dirs)
            .with_context(|| format!("reading the results folder {}", self.root.display()))?;
        let old = self.cache.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let fresh: Vec<(PathBuf, Cached)> = dirs
            .into_par_iter()
            .filter_map(|dir| {
                let stamp = (
                    modified(&dir.join("results.json")),
                    modified(&dir.join("test.json")),
                );
                if let Some(c) = old.get(&dir).filter(|c| c.stamp == stamp) {
                    return Some((dir, c.clone()));
                }
                let entry = read_entry(&self.root, &dir, stamp.0)?;
                Some((dir, Cached { stamp, entry }))
            })
            .collect();
        let mut entries: Vec<RunEntry> = fresh.iter().map(|(_, c)| c.entry.clone()).collect();
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = fresh.into_iter().collect();
        entries.sort_by(|a, b| {
            (a.rank(), &b.started_at, &a.path).cmp(&(b.rank(), &a.started_at, &b.path))
        });
        Ok(entries)
    }
}

/// Collects the run folders under `dir`: those holding `results.json`.
fn walk(dir: &Path, depth: usize, runs: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.join("results.json").is_file() {
        runs.push(dir.to_path_buf());
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    for item in std::fs::read_dir(dir)? {
        let Ok(item) = item else { continue };
        let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
        let name = item.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        if is_dir && !hidden && !NOT_RUNS.iter().any(|n| name == *n) {
            // A folder that cannot be read (permissions) is left out, not fatal.
            let _ = walk(&item.path(), depth + 1, runs);
        }
    }
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// One run's entry; `None` when its `results.json` is not faultline's (the folder
/// is then not listed).
fn read_entry(root: &Path, dir: &Path, written: Option<SystemTime>) -> Option<RunEntry> {
    let bytes = std::fs::read(dir.join("results.json")).ok()?;
    let head: ResultsHead = serde_json::from_slice(&bytes).ok()?;
    let test: TestHead = std::fs::read(dir.join("test.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let config = test.config.unwrap_or_default();
    let system = std::iter::once(config.system.unwrap_or_default())
        .chain(config.system_args)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let decisive = head
        .promises
        .and_then(|p| p.verdict)
        .or(head.verdict)
        .map_or("error".to_string(), |v| v.to_string());
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let started_at = test.started_at.unwrap_or_else(|| {
        written.map_or(String::new(), |t| {
            chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()
        })
    });
    Some(RunEntry {
        path: rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        name: head.name.unwrap_or_else(|| rel.display().to_string()),
        system,
        started_at,
        seed: head.seed,
        verdict: decisive,
        checks: head.checks,
        error: head.error,
        interrupted: head.interrupted,
        report: dir.join("report.html").is_file(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run folder as `faultline test` leaves it, in the parts the index reads.
    pub fn write_run(root: &Path, rel: &str, verdict: Option<&str>, started: &str) -> PathBuf {
        let dir = root.join(rel);
        std::fs::create_dir_all(dir.join("nodes")).unwrap();
        let verdict_json = verdict.map_or("null".to_string(), |v| format!("\"{v}\""));
        let check = verdict.map_or(String::new(), |v| {
            format!(r#"{{"name":"linearizable","verdict":"{v}","summary":"10 ops on 1 keys","report":{{"big":[1,2,3]}},"seconds":0.1}}"#)
        });
        let results = format!(
            r#"{{"verdict":{verdict_json},"name":"{}","seed":7,"run_id":"r","interrupted":false,"checks":[{check}],"stats":{{}},"promises":{{"verdict":null}}}}"#,
            rel.split('/').next().unwrap()
        );
        std::fs::write(dir.join("results.json"), results).unwrap();
        std::fs::write(
            dir.join("test.json"),
            format!(r#"{{"started_at":"{started}","config":{{"system":"raft-kv","system-args":["--bug=stale-read"]}}}}"#),
        )
        .unwrap();
        dir
    }

    #[test]
    fn the_index_lists_every_run_failing_first_and_newest_first_within_a_verdict() {
        let root = tempfile::tempdir().unwrap();
        write_run(
            root.path(),
            "a/20260101T000000Z",
            Some("valid"),
            "2026-01-01T00:00:00Z",
        );
        write_run(
            root.path(),
            "a/20260102T000000Z",
            Some("valid"),
            "2026-01-02T00:00:00Z",
        );
        write_run(
            root.path(),
            "b/20260101T000000Z",
            Some("invalid"),
            "2026-01-01T00:00:00Z",
        );
        write_run(
            root.path(),
            "c/20260101T000000Z",
            None,
            "2026-01-01T00:00:00Z",
        );
        write_run(
            root.path(),
            "compare/plan/t/runs/e/20260103T000000Z",
            Some("unknown"),
            "2026-01-03T00:00:00Z",
        );
        std::os::unix::fs::symlink("a/20260102T000000Z", root.path().join("latest")).unwrap();
        let index = RunIndex::new(root.path().to_path_buf());
        let paths: Vec<String> = index
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(
            paths,
            [
                "b/20260101T000000Z",
                "c/20260101T000000Z",
                "compare/plan/t/runs/e/20260103T000000Z",
                "a/20260102T000000Z",
                "a/20260101T000000Z",
            ]
        );
        let first = &index.entries().unwrap()[0];
        assert_eq!(first.system, "raft-kv --bug=stale-read");
        assert_eq!(first.seed, Some(7));
        assert_eq!(first.checks[0].name, "linearizable");
        assert_eq!(first.checks[0].verdict, Verdict::Invalid);
    }

    #[test]
    fn a_run_whose_results_change_is_read_again_and_others_come_from_the_cache() {
        let root = tempfile::tempdir().unwrap();
        let dir = write_run(root.path(), "a/1", Some("valid"), "2026-01-01T00:00:00Z");
        let index = RunIndex::new(root.path().to_path_buf());
        assert_eq!(index.entries().unwrap()[0].verdict, "valid");
        // Rewritten with a later modification time (`faultline report` re-checks).
        let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
        std::fs::write(dir.join("results.json"), text.replace("valid", "invalid")).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(dir.join("results.json"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(index.entries().unwrap()[0].verdict, "invalid");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(index.entries().unwrap().is_empty());
    }

    /// The figure for the README: 1,000 runs of ~50 KB `results.json` each (a real
    /// run's size), the index read cold (every file parsed) and warm (the cache,
    /// what every request after the first costs), and its page rendered.
    ///
    ///     cargo test --release -p faultline --lib index_of_a_thousand_runs -- --ignored --nocapture
    #[test]
    #[ignore]
    fn index_of_a_thousand_runs_bench() {
        let root = tempfile::tempdir().unwrap();
        let padding: Vec<String> = (0..600)
            .map(|i| {
                format!(
                    r#"{{"key":{i},"verdict":"valid","ops":120,"method":"search","explored":{}}}"#,
                    i * 37
                )
            })
            .collect();
        let padding = format!("[{}]", padding.join(","));
        for i in 0..1000 {
            let verdict = if i % 10 == 0 { "invalid" } else { "valid" };
            let dir = write_run(
                root.path(),
                &format!("test-{}/20260101T{:06}Z", i % 7, i),
                Some(verdict),
                &format!("2026-01-01T00:{:02}:{:02}Z", i / 60 % 60, i % 60),
            );
            let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
            let text = text.replace(
                r#"{"big":[1,2,3]}"#,
                &format!(r#"{{"partitions":{padding}}}"#),
            );
            std::fs::write(dir.join("results.json"), text).unwrap();
        }
        let size = std::fs::metadata(root.path().join("test-0/20260101T000000Z/results.json"))
            .unwrap()
            .len();
        let index = RunIndex::new(root.path().to_path_buf());
        let t = std::time::Instant::now();
        let entries = index.entries().unwrap();
        let cold = t.elapsed();
        assert_eq!(entries.len(), 1000);
        let mut warm = Vec::new();
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let entries = index.entries().unwrap();
            let page = crate::results::render::index::index_page("results", &entries);
            warm.push((t.elapsed(), page.len()));
        }
        println!(
            "1000 runs, results.json {size} bytes each: cold index {:.1} ms; warm index + page: {:?} ms, page {} bytes",
            cold.as_secs_f64() * 1e3,
            warm.iter().map(|(d, _)| (d.as_secs_f64() * 1e4).round() / 10.0).collect::<Vec<_>>(),
            warm[0].1
        );
    }
}
