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
}

impl Campaign {
    /// The newest unfinished campaign of the same plan (same text) under
    /// `results_root/compare/<plan>/`, or a new one (always new with `fresh`).
    pub fn open(plan: Plan, results_root: &Path, fresh: bool) -> Result<Campaign> {
        let root = results_root.join("compare");
        let plan_root = root.join(&plan.name);
        if !fresh {
            if let Some(dir) = unfinished(&plan_root, &plan.text) {
                let done = read_ledger(&dir.join("runs.jsonl"))?;
                return Ok(Campaign {
                    plan,
                    dir,
                    done,
                    resumed: true,
                });
            }
        }
        let dir = store::create_run_dir(&root, &plan.name)?;
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        store::write_file(&dir.join("plan.toml"), plan.text.as_bytes())?;
        let _ = store::update_latest(&plan_root, &dir);
        Ok(Campaign {
            plan,
            dir,
            done: BTreeMap::new(),
            resumed: false,
        })
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
            let path = configs.join(format!(
                "{}--{}--{}.toml",
                slug(&key.entry),
                slug(&key.faults),
                key.seed
            ));
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

/// The newest campaign folder of this plan text that has no matrix yet.
fn unfinished(plan_root: &Path, text: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(plan_root)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    dirs.sort();
    dirs.into_iter().rev().find(|d| {
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
