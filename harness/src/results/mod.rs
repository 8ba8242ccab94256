//! A test's results, typed: what `results.json` holds and what every renderer
//! (`render/`) draws from. The folder they live in is [`store`]'s.
//!
//! A results folder: `test.json` (the configuration and seed), `test.toml` (the same,
//! as a test file to replay with `--config`), `history.jsonl`, `results.json`,
//! `report.html` (the page a person reads), `junit.xml` (the verdicts for CI),
//! `nodes/*.log`, `system.toml` (a copy of a user's system file), and `data/` when
//! `--keep-data` keeps it.

pub mod availability;
pub mod browse;
pub mod convergence;
pub mod faults;
pub mod index;
pub mod network;
pub mod render;
pub mod stats;
pub mod store;
pub mod summary;

pub use availability::Availability;
pub use stats::{stats, Stats};

use crate::backend::NodeExit;
use crate::check::promises::PromiseReport;
use crate::check::CheckResult;
use crate::config::TestConfig;
use checker::consistency::hierarchy::Placement;
use checker::verdict::Verdict;
use nemesis::FaultKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `test.json` holds besides the configuration.
#[derive(Debug, Serialize)]
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

/// The results of one run (`results.json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunResults {
    pub verdict: Verdict,
    pub name: String,
    pub seed: u64,
    pub run_id: String,
    pub workload: workloads::generator::Workload,
    /// The run was cut short by an interrupt: the history is partial.
    pub interrupted: bool,
    pub checks: Vec<CheckResult>,
    pub stats: Stats,
    /// The share of `ok` operations overall and while each fault kind was in force.
    pub availability: Availability,
    /// The first counterexample any check found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<serde_json::Value>,
    /// Where the history sits among the consistency models (the run's last line);
    /// absent when no model was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hierarchy: Option<Placement>,
    /// Each model, promised or not, held or broken, with its evidence; and the
    /// verdict on the promises, which decides the exit code when there are some.
    pub promises: PromiseReport,
    pub nemesis: NemesisRecord,
    pub final_reads: FinalReads,
    /// Nodes that exited on their own: a finding, whatever the checks say.
    pub crashed_nodes: Vec<NodeExit>,
    /// Problems the run met that did not stop it (a fault that failed to apply, no
    /// fault at all, nodes that could not be read at the end).
    pub warnings: Vec<String>,
    pub timings_s: BTreeMap<&'static str, f64>,
    /// The folder these results are in.
    pub run_dir: PathBuf,
    /// The command that replays the run.
    pub replay: String,
    /// The network as the clients saw it, for protocols that count it (Maelstrom:
    /// messages per operation and per node, the broadcast's stable latencies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<serde_json::Value>,
}

impl RunResults {
    /// The verdict the exit code carries: the promises' when the run has promises
    /// (an unpromised model broken is a finding), else every check's.
    pub fn decisive_verdict(&self) -> Verdict {
        self.promises.verdict.unwrap_or(self.verdict)
    }
}

/// What the nemesis did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NemesisRecord {
    pub kinds: Vec<FaultKind>,
    /// Default kinds the system does not support, left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<FaultKind>,
    pub interval_s: f64,
    pub clock_bump: Option<String>,
    /// Faults started and failed; absent when no fault kind was asked for.
    pub schedule: Option<ScheduleRecord>,
    pub events: Vec<NemesisEventRecord>,
    /// Which nodes were members when, for runs with membership changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership: Option<MembershipTimeline>,
    /// Events in the whole history (clients and nemesis).
    pub history_events: u64,
    pub clients: ClientsRecord,
}

impl NemesisRecord {
    /// Faults that were started (attempted) during the run.
    pub fn faults_started(&self) -> usize {
        self.schedule.as_ref().map_or(0, |s| s.started)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ScheduleRecord {
    pub started: usize,
    pub failed: usize,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientsRecord {
    /// Operations attempted.
    pub invoked: u64,
    /// Operations acknowledged (`ok`).
    pub ok: u64,
    /// Attempts that certainly never reached their node (connection refused): each
    /// is followed by a growing back-off, so a dead node is not hammered.
    pub unreached: u64,
    /// Processes retired after an `info`.
    pub retired: u64,
}

/// One nemesis event as `results.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NemesisEventRecord {
    pub index: u64,
    pub time_s: f64,
    pub stage: nemesis::Stage,
    pub f: String,
    pub error: Option<String>,
    pub took_s: Option<f64>,
    pub in_force: String,
}

/// The cluster's membership over a run: the members at the start, then every change
/// the nemesis made (or tried), in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MembershipTimeline {
    pub initial: Vec<String>,
    pub changes: Vec<MembershipStep>,
    /// Who was a member when the first violation began (the earliest invocation a
    /// broken model's evidence names); absent when nothing was broken or no evidence
    /// names an operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_first_violation: Option<MembersAt>,
}

/// The members at one moment of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MembersAt {
    /// Seconds since the history began (as [`MembershipStep::time_s`]).
    pub time_s: f64,
    pub members: Vec<String>,
}

/// One membership change, as its completion event recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MembershipStep {
    /// When the change completed (or failed), seconds since the history began.
    pub time_s: f64,
    pub change: nemesis::MembershipChange,
    pub nodes: Vec<String>,
    /// The members asked for: the members from then on when `error` is absent; when
    /// present, the change may or may not have happened.
    pub members: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl MembershipTimeline {
    /// Notes who was a member at the first violation `promises` found in `history`.
    pub fn note_first_violation(
        &mut self,
        promises: &PromiseReport,
        history: &checker::history::History,
    ) {
        let first = promises
            .models
            .iter()
            .filter(|m| m.status == crate::check::promises::Status::Broken)
            .filter_map(|m| m.first_violation_s)
            .min_by(f64::total_cmp);
        let start_s = history.ops.iter().map(|o| o.call).min().unwrap_or(0) as f64 / 1e9;
        self.at_first_violation = first.map(|t| MembersAt {
            time_s: start_s + t,
            members: self.members_at(start_s + t),
        });
    }

    /// The nodes certainly members at `time_s`: the initial members, changed by every
    /// change completed by then; a change that failed leaves its nodes uncertain,
    /// and they count as members only once a later change succeeds.
    pub fn members_at(&self, time_s: f64) -> Vec<String> {
        let mut members = self.initial.clone();
        for c in self.changes.iter().filter(|c| c.time_s <= time_s) {
            match (&c.error, c.change) {
                (None, _) => members = c.members.clone(),
                (Some(_), _) => members.retain(|m| !c.nodes.contains(m)),
            }
        }
        members
    }
}

/// The final reads of every key from every node.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FinalReads {
    pub ok: u64,
    pub unread: Vec<NodeKey>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeKey {
    pub node: String,
    pub key: u64,
}

/// What is known of a history checked after its run (`faultline report`): the run's
/// own record when it has one, else only the file.
#[derive(Debug, Clone)]
pub struct Recheck {
    pub name: String,
    pub seed: u64,
    pub run_id: String,
    pub workload: workloads::generator::Workload,
    pub run_dir: PathBuf,
    pub replay: String,
    pub crashed_nodes: Vec<NodeExit>,
    pub warnings: Vec<String>,
    /// What the system promised, when the run's configuration is known.
    pub promises: Option<crate::system::Promises>,
}

impl RunResults {
    /// The results of checks run on a stored history: verdicts, counterexample,
    /// hierarchy and statistics from the history; the nemesis record stays empty
    /// (its events are in the history).
    pub fn rechecked(
        history: &checker::history::History,
        checks: Vec<CheckResult>,
        about: Recheck,
    ) -> RunResults {
        RunResults {
            verdict: Verdict::all(checks.iter().map(|c| c.verdict)),
            name: about.name,
            seed: about.seed,
            run_id: about.run_id,
            workload: about.workload,
            interrupted: false,
            counterexample: checks
                .iter()
                .filter(|c| c.verdict == Verdict::Invalid)
                .find_map(|c| c.report.counterexample()),
            hierarchy: crate::check::placement(&checks),
            promises: crate::check::promises::judge(&checks, history, about.promises.as_ref()),
            checks,
            stats: stats(history),
            availability: availability::of(history),
            nemesis: NemesisRecord::default(),
            final_reads: FinalReads::default(),
            crashed_nodes: about.crashed_nodes,
            warnings: about.warnings,
            timings_s: BTreeMap::new(),
            run_dir: about.run_dir,
            replay: about.replay,
            network: None,
        }
    }
}

#[cfg(test)]
mod membership_tests {
    use super::*;
    use crate::check::promises::{ModelOutcome, Status};
    use crate::system::Model;
    use nemesis::MembershipChange;

    fn step(
        time_s: f64,
        change: MembershipChange,
        nodes: &[&str],
        members: &[&str],
    ) -> MembershipStep {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        MembershipStep {
            time_s,
            change,
            nodes: ids(nodes),
            members: ids(members),
            error: None,
        }
    }

    #[test]
    fn the_members_at_the_first_violation_are_those_after_the_changes_completed_before_it() {
        let mut timeline = MembershipTimeline {
            initial: ["n1", "n2", "n3", "n4", "n5"].map(String::from).to_vec(),
            changes: vec![
                step(
                    2.5,
                    MembershipChange::Remove,
                    &["n4", "n5"],
                    &["n1", "n2", "n3"],
                ),
                step(
                    3.5,
                    MembershipChange::Add,
                    &["n4", "n5"],
                    &["n1", "n2", "n3", "n4", "n5"],
                ),
            ],
            at_first_violation: None,
        };
        // The history's first operation is invoked 1 s in; the violation 2 s after it.
        let history = checker::history::parse_jsonl(
            r#"{"index":0,"time":1000000000,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"time":1100000000,"process":0,"type":"ok","f":"read","value":null}
"#,
        )
        .unwrap();
        let broken = |s: f64| ModelOutcome {
            model: Model::Linearizable,
            promised: true,
            promised_as_part_of: None,
            status: Status::Broken,
            evidence: String::new(),
            first_violation_s: Some(s),
        };
        let mut promises = PromiseReport {
            promises: None,
            verdict: None,
            models: vec![broken(2.0)],
        };
        timeline.note_first_violation(&promises, &history);
        assert_eq!(
            timeline.at_first_violation,
            Some(MembersAt {
                time_s: 3.0,
                members: ["n1", "n2", "n3"].map(String::from).to_vec(),
            })
        );
        promises.models[0].status = Status::Held;
        timeline.note_first_violation(&promises, &history);
        assert_eq!(timeline.at_first_violation, None, "nothing broken");
    }
}
