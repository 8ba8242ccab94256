//! Campaigns: a plan's runs (entry x fault set x seed), one at a time or a few at
//! once, recorded in a ledger as they finish so an interrupted campaign resumes where
//! it stopped, and the consistency matrix drawn from the ledger.
//!
//! A campaign folder, `results/compare/<plan>/<ts>/`: `plan.toml` (the plan as run),
//! `runs.jsonl` (the ledger: one line per finished run), `configs/` (each run's test
//! file), `runs/` (each run's results folder), and once every run is done
//! `matrix.md`, `matrix.json` and `matrix.html`.

pub mod html;
pub mod matrix;
pub mod plan;

use crate::config::{self, TestArgs, TestConfig};
use crate::error::bad_input;
use crate::results::store;
use crate::run::{self, Outcome, Silent};
use anyhow::{Context, Result};
use matrix::{FaultTable, Matrix, ModelRecord, RunRecord};
use plan::{slug, Plan, RunKey};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::watch;

/// What a person sees of a campaign; the CLI implements it.
pub trait CampaignObserver: Send + Sync {
    fn run_started(&self, done: usize, total: usize, key: &RunKey);
    fn run_finished(&self, done: usize, total: usize, key: &RunKey, record: &RunRecord);
}

/// A campaign folder and the runs it has finished.
pub struct Campaign {
    pub plan: Plan,
    pub dir: PathBuf,
    /// Finished runs (with a verdict, or an error), the newest record per run.
    pub done: BTreeMap<RunKey, RunRecord>,
    pub resumed: bool,
    /// The earlier campaign of this plan, under another text, whose verdicts this one
    /// took over for the runs whose test file did not change, and how many.
    pub carried_from: Option<(PathBuf, usize)>,
}

impl Campaign {
    /// The newest unfinished campaign of the same plan (same text) under
    /// `results_root/compare/<plan>/`, or a new one (always new with `fresh`). A new
    /// campaign of a plan whose text changed since its newest campaign takes over that
    /// campaign's verdicts for every run whose test file is the same: an edited entry,
    /// or a new one, runs; the others are not run again.
    pub fn open(plan: Plan, results_root: &Path, fresh: bool) -> Result<Campaign> {
        // Absolute, as the run folders and test files name it: an earlier campaign's
        // test files are compared with this plan's as text.
        let root = results_root.join("compare");
        let root = std::path::absolute(&root).unwrap_or(root);
        let plan_root = root.join(&plan.name);
        if !fresh {
            if let Some(dir) = unfinished(&plan_root, &plan.text) {
                let done = read_ledger(&dir.join("runs.jsonl"))?;
                return Ok(Campaign {
                    plan,
                    dir,
                    done,
                    resumed: true,
                    carried_from: None,
                });
            }
        }
        let earlier = newest(&plan_root).filter(|d| {
            !fresh && std::fs::read_to_string(d.join("plan.toml")).is_ok_and(|t| t != plan.text)
        });
        let dir = store::create_run_dir(&root, &plan.name)?;
        store::write_file(&dir.join("plan.toml"), plan.text.as_bytes())?;
        let _ = store::update_latest(&plan_root, &dir);
        let mut campaign = Campaign {
            plan,
            dir,
            done: BTreeMap::new(),
            resumed: false,
            carried_from: None,
        };
        if let Some(earlier) = earlier {
            let n = campaign.carry_over(&earlier)?;
            campaign.carried_from = Some((earlier, n));
        }
        Ok(campaign)
    }

    /// Takes over `earlier`'s verdicts for the runs whose test file is unchanged (the
    /// same keys after merging, compared as `earlier` wrote them): they go into this
    /// campaign's ledger, with their test files, and are not run again.
    fn carry_over(&mut self, earlier: &Path) -> Result<usize> {
        let old_runs = earlier.join("runs");
        let new_runs = self.dir.join("runs");
        let records = read_ledger(&earlier.join("runs.jsonl"))?;
        let configs = self.dir.join("configs");
        std::fs::create_dir_all(&configs)
            .with_context(|| format!("cannot create {}", configs.display()))?;
        let mut lines = String::new();
        for (key, record) in records {
            if record.error.is_some() {
                continue;
            }
            let (Ok(stored), Ok(now)) = (
                std::fs::read_to_string(earlier.join("configs").join(config_name(&key))),
                self.plan.test_file(&key, &old_runs),
            ) else {
                continue; // not in this plan any more, or its test file is gone
            };
            if stored != now.to_toml(&old_runs) {
                continue;
            }
            let file = self.plan.test_file(&key, &new_runs)?;
            store::write_file(
                &configs.join(config_name(&key)),
                file.to_toml(&new_runs).as_bytes(),
            )?;
            if let Ok(line) = serde_json::to_string(&record) {
                lines.push_str(&line);
                lines.push('\n');
            }
            self.done.insert(key, record);
        }
        store::write_file(&self.dir.join("runs.jsonl"), lines.as_bytes())?;
        Ok(self.done.len())
    }

    /// The runs still to do, in the plan's order.
    pub fn pending(&self) -> Vec<RunKey> {
        self.plan
            .runs()
            .into_iter()
            .filter(|k| self.done.get(k).is_none_or(|r| r.error.is_some()))
            .collect()
    }

    /// Resolves every pending run's configuration before any starts: a bad entry is
    /// bad input found at once, not an hour in.
    pub fn configs(&self) -> Result<Vec<(RunKey, TestConfig)>> {
        let configs = self.dir.join("configs");
        std::fs::create_dir_all(&configs)
            .with_context(|| format!("cannot create {}", configs.display()))?;
        let runs = self.dir.join("runs");
        let mut out = Vec::new();
        for key in self.pending() {
            let file = self
                .plan
                .test_file(&key, &runs)
                .map_err(|e| bad_input(format!("{e:#}")))?;
            let path = configs.join(config_name(&key));
            store::write_file(&path, file.to_toml(&runs).as_bytes())?;
            let config = config::resolve(&TestArgs {
                config: Some(path),
                ..Default::default()
            })
            .map_err(|e| {
                bad_input(format!(
                    "entry `{}` with faults `{}`: {e:#}",
                    key.entry, key.faults
                ))
            })?;
            out.push((key, config));
        }
        Ok(out)
    }

    /// Runs the pending runs, `parallel` at a time, each recorded in the ledger as it
    /// finishes. An interrupt stops the campaign after the runs in progress (which
    /// are themselves cut short and not recorded, so a resume runs them again).
    pub fn run(
        &mut self,
        configs: Vec<(RunKey, TestConfig)>,
        parallel: usize,
        handle: &tokio::runtime::Handle,
        interrupt: watch::Receiver<bool>,
        observer: &dyn CampaignObserver,
    ) -> Result<()> {
        let total = self.plan.runs().len();
        let finished = self.done.values().filter(|r| r.error.is_none()).count();
        let queue = Mutex::new(configs.into_iter().collect::<VecDeque<_>>());
        let ledger = Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("runs.jsonl"))
                .context("cannot open the campaign's ledger runs.jsonl")?,
        );
        let state = Mutex::new((finished, Vec::<RunRecord>::new()));
        std::thread::scope(|s| {
            for _ in 0..parallel.max(1) {
                s.spawn(|| loop {
                    if *interrupt.borrow() {
                        return;
                    }
                    let Some((key, config)) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    let started = state.lock().unwrap().0;
                    observer.run_started(started, total, &key);
                    let outcome =
                        handle.block_on(run::run_real(&config, 1, interrupt.clone(), &Silent));
                    let Some(record) = record(&key, &outcome) else {
                        return; // interrupted: not finished, run again on resume
                    };
                    if let Ok(line) = serde_json::to_string(&record) {
                        let _ = writeln!(ledger.lock().unwrap(), "{line}");
                    }
                    let mut st = state.lock().unwrap();
                    if record.error.is_none() {
                        st.0 += 1;
                    }
                    observer.run_finished(st.0, total, &key, &record);
                    st.1.push(record);
                });
            }
        });
        for r in state.into_inner().unwrap().1 {
            self.done.insert(key_of(&r), r);
        }
        Ok(())
    }

    /// Whether every run of the plan has a verdict.
    pub fn complete(&self) -> bool {
        self.pending().is_empty()
    }

    /// Writes `matrix.json`, `matrix.md` and `matrix.html`, and returns the matrix.
    pub fn write_matrix(&self, started_at: &str) -> Result<Matrix> {
        let records: Vec<RunRecord> = self.done.values().cloned().collect();
        let labels = |l: &[plan::Labelled]| l.iter().map(|x| x.label.clone()).collect::<Vec<_>>();
        let tables: Vec<FaultTable> = matrix::build(
            &labels(&self.plan.entries),
            &labels(&self.plan.fault_sets),
            &records,
        );
        let m = Matrix {
            plan: self.plan.name.clone(),
            started_at: started_at.to_string(),
            finished_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: machine(),
            columns: matrix::columns(&tables),
            tables,
        };
        let json = serde_json::to_string_pretty(&m).context("serializing matrix.json")?;
        store::write_file(
            &self.dir.join("matrix.json"),
            format!("{json}\n").as_bytes(),
        )?;
        store::write_file(&self.dir.join("matrix.md"), matrix::markdown(&m).as_bytes())?;
        store::write_file(
            &self.dir.join("matrix.html"),
            html::html(&m, &self.dir).as_bytes(),
        )?;
        Ok(m)
    }
}

/// The ledger line of a run, or `None` for an interrupted one.
fn record(key: &RunKey, outcome: &Outcome) -> Option<RunRecord> {
    let base = RunRecord {
        entry: key.entry.clone(),
        faults: key.faults.clone(),
        seed: key.seed,
        run_dir: outcome.run_dir().map(Path::to_path_buf),
        error: None,
        models: Vec::new(),
    };
    match outcome {
        _ if outcome.interrupted() => None,
        Outcome::Checked(r) => Some(RunRecord {
            models: r
                .promises
                .models
                .iter()
                .map(|m| ModelRecord {
                    model: m.model,
                    promised: m.promised,
                    status: m.status.into(),
                    first_violation_s: m.first_violation_s,
                })
                .collect(),
            ..base
        }),
        Outcome::BadInput(e) | Outcome::HarnessError { error: e, .. } => Some(RunRecord {
            error: Some(e.clone()),
            ..base
        }),
    }
}

fn key_of(r: &RunRecord) -> RunKey {
    RunKey {
        entry: r.entry.clone(),
        faults: r.faults.clone(),
        seed: r.seed,
    }
}

/// The ledger, the newest line per run winning; a torn last line (the campaign was
/// killed while writing it) is skipped.
fn read_ledger(path: &Path) -> Result<BTreeMap<RunKey, RunRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<RunRecord>(l).ok())
        .map(|r| (key_of(&r), r))
        .collect())
}

/// The file name of a run's test file in the campaign's `configs/`.
fn config_name(key: &RunKey) -> String {
    format!(
        "{}--{}--{}.toml",
        slug(&key.entry),
        slug(&key.faults),
        key.seed
    )
}

/// The campaign folders of a plan, oldest first (their names are timestamps).
fn campaign_dirs(plan_root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(plan_root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    dirs.sort();
    dirs
}

/// The newest campaign folder of a plan, finished or not.
fn newest(plan_root: &Path) -> Option<PathBuf> {
    campaign_dirs(plan_root)
        .into_iter()
        .rev()
        .find(|d| d.join("plan.toml").exists())
}

/// The newest campaign folder of this plan text that has no matrix yet.
fn unfinished(plan_root: &Path, text: &str) -> Option<PathBuf> {
    campaign_dirs(plan_root).into_iter().rev().find(|d| {
        !d.join("matrix.json").exists()
            && std::fs::read_to_string(d.join("plan.toml")).is_ok_and(|t| t == text)
    })
}

/// The machine, for the matrix's caption: host name and cores.
fn machine() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown host".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{host} ({cores} cores)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"
name = "tiny"
seeds = 2
seed = 100
[defaults]
time-limit = "5s"
workload = "append"
[[entry]]
label = "a"
system = "raft-kv"
[[entry]]
label = "b"
system = "dynamo-kv"
[[faults]]
label = "partitions"
nemesis = "partition"
"#;

    fn plan(dir: &Path, text: &str) -> Plan {
        let path = dir.join("tiny.toml");
        std::fs::write(&path, text).unwrap();
        Plan::read(&path).unwrap()
    }

    /// Records every run of `c` as finished, with the test file `configs()` would
    /// have written before running it.
    fn finish_every_run(c: &mut Campaign) {
        let runs = c.dir.join("runs");
        std::fs::create_dir_all(c.dir.join("configs")).unwrap();
        let mut ledger = String::new();
        for key in c.plan.runs() {
            let file = c.plan.test_file(&key, &runs).unwrap();
            std::fs::write(
                c.dir.join("configs").join(config_name(&key)),
                file.to_toml(&runs),
            )
            .unwrap();
            let record = RunRecord {
                entry: key.entry.clone(),
                faults: key.faults.clone(),
                seed: key.seed,
                run_dir: Some(runs.join(format!("{}-{}", slug(&key.entry), key.seed))),
                error: None,
                models: Vec::new(),
            };
            ledger.push_str(&serde_json::to_string(&record).unwrap());
            ledger.push('\n');
        }
        std::fs::write(c.dir.join("runs.jsonl"), ledger).unwrap();
    }

    #[test]
    fn an_edited_plan_runs_only_the_runs_whose_test_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        let mut first = Campaign::open(plan(dir.path(), PLAN), &results, false).unwrap();
        finish_every_run(&mut first);
        std::fs::write(first.dir.join("matrix.json"), "{}").unwrap();

        // Entry b gets a longer run and a third entry appears: a's two runs are
        // taken over, with their run folders; b's and c's run.
        let edited = PLAN.replace(
            "system = \"dynamo-kv\"",
            "system = \"dynamo-kv\"\ntime-limit = \"9s\"",
        ) + "[[entry]]\nlabel = \"c\"\nsystem = \"pb-kv\"\n";
        // The results folder named another way (as `results` and `/abs/results` name
        // one folder): the test files are still compared as the same.
        let same_folder = dir.path().join(".").join("results");
        let second = Campaign::open(plan(dir.path(), &edited), &same_folder, false).unwrap();
        assert_ne!(second.dir, first.dir);
        assert_eq!(second.carried_from, Some((first.dir.clone(), 2)));
        let pending: Vec<(String, u64)> = second
            .pending()
            .into_iter()
            .map(|k| (k.entry, k.seed))
            .collect();
        assert_eq!(
            pending,
            vec![
                ("b".to_string(), 100),
                ("b".to_string(), 101),
                ("c".to_string(), 100),
                ("c".to_string(), 101)
            ]
        );
        let kept = read_ledger(&second.dir.join("runs.jsonl")).unwrap();
        let a = kept.values().next().unwrap();
        assert_eq!(a.entry, "a");
        assert!(a.run_dir.as_ref().unwrap().starts_with(&first.dir));
        assert!(second.dir.join("configs/a--partitions--100.toml").exists());

        // The same edited plan again resumes the second campaign; --fresh takes
        // nothing over.
        let again = Campaign::open(plan(dir.path(), &edited), &results, false).unwrap();
        assert_eq!(
            (again.dir.clone(), again.resumed),
            (second.dir.clone(), true)
        );
        let fresh = Campaign::open(plan(dir.path(), PLAN), &results, true).unwrap();
        assert_eq!((fresh.carried_from, fresh.done.len()), (None, 0));
    }
}
