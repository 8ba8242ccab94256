//! The nemesis's events, written into the history as they happen (Jepsen's
//! convention: both halves are `info` events of process `nemesis`) and kept for
//! `results.json`; partitions, packet faults and clock changes are also noted in
//! every node's log (kills, restarts and pauses the cluster notes itself), so a
//! node's log says what was done to the network around it and when.

use crate::results::{MembershipStep, NemesisEventRecord};
use checker::history::{Event, EventType, Process};
use nemesis::{Fault, NemesisEvent};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use workloads::recorder::Recorder;

/// Records nemesis events; cheap to clone into the schedule's callback.
#[derive(Clone)]
pub struct NemesisLog {
    recorder: Arc<Recorder>,
    events: Arc<Mutex<Vec<NemesisEventRecord>>>,
    membership: Arc<Mutex<Vec<MembershipStep>>>,
    errors: Arc<Mutex<Vec<String>>>,
    node_logs: Arc<Vec<PathBuf>>,
}

impl NemesisLog {
    pub fn new(recorder: Arc<Recorder>) -> NemesisLog {
        NemesisLog {
            recorder,
            events: Arc::default(),
            membership: Arc::default(),
            errors: Arc::default(),
            node_logs: Arc::default(),
        }
    }

    /// Notes network and clock faults in these node logs as they take effect.
    pub fn with_node_logs(mut self, logs: Vec<PathBuf>) -> NemesisLog {
        self.node_logs = Arc::new(logs);
        self
    }

    /// Writes one event into the history and keeps its record.
    pub fn record(&self, event: NemesisEvent) {
        let mut e = Event::new(0, 0, Process::Nemesis, EventType::Info, event.f.clone())
            .with_value(event.value.clone());
        e.error = event.error.clone();
        match self.recorder.record(e) {
            Ok((index, time)) => {
                let time_s = time as f64 / 1e9;
                if event.stage == nemesis::Stage::Complete {
                    lock(&self.membership).extend(membership_steps(&event, time_s));
                }
                self.note(&event, index, time);
                lock(&self.events).push(NemesisEventRecord {
                    index,
                    time_s,
                    stage: event.stage,
                    f: event.f,
                    error: event.error,
                    took_s: event.took.map(|d| d.as_secs_f64()),
                    in_force: event.in_force,
                })
            }
            Err(e) => lock(&self.errors).push(e.to_string()),
        }
    }

    /// Notes a completed event in every node's log, unless the cluster notes it (a
    /// process fault).
    fn note(&self, event: &NemesisEvent, index: u64, time: u64) {
        let process_only = event.f.split('+').all(|p| {
            matches!(
                p,
                "kill" | "kill-all" | "restart" | "restart-all" | "pause" | "resume"
            )
        });
        // The final heal of a cluster already healthy changed nothing.
        let nothing = event.f == "heal-all" && event.value["faults"] == "healthy";
        if event.stage != nemesis::Stage::Complete || process_only || nothing {
            return;
        }
        let error = event
            .error
            .as_ref()
            .map(|e| format!(": failed: {e}"))
            .unwrap_or_default();
        let msg = format!(
            "nemesis {} {} (history index {index}, {:.3} s){error}",
            event.f,
            event.value,
            time as f64 / 1e9
        );
        for log in self.node_logs.iter() {
            crate::backend::netns::process::note(log, &msg);
        }
    }

    /// The records so far, and the first error writing one, if any.
    pub fn take(&self) -> (Vec<NemesisEventRecord>, Option<String>) {
        (
            std::mem::take(&mut *lock(&self.events)),
            lock(&self.errors).first().cloned(),
        )
    }
}

impl NemesisLog {
    /// The membership changes recorded so far, in order.
    pub fn membership(&self) -> Vec<MembershipStep> {
        lock(&self.membership).clone()
    }
}

/// The membership changes a completion event records: its fault's, or its
/// composition's membership part's, or the final heal's adding back the nodes out
/// (`added_back`, failed with `added_back_error`). Other heals of a membership fault
/// change nothing.
fn membership_steps(event: &NemesisEvent, time_s: f64) -> Vec<MembershipStep> {
    // The final heal's change is under `added_back`, with an error of its own (the
    // heal's may be another fault's); any other event's is its fault's part named
    // in its `f`.
    let (value, error, named) = match event.f.as_str() {
        "heal-all" => (
            &event.value["added_back"],
            event.value["added_back_error"].as_str().map(String::from),
            None,
        ),
        f => (&event.value, event.error.clone(), Some(f)),
    };
    let Ok(fault) = serde_json::from_value::<Fault>(value.clone()) else {
        return Vec::new();
    };
    let parts = match fault {
        Fault::Composed { faults } => faults,
        single => vec![single],
    };
    parts
        .into_iter()
        .filter_map(|f| match f {
            Fault::Membership {
                change,
                nodes,
                members,
            } if named.is_none_or(|f| f.split('+').any(|name| name == change.name())) => {
                Some(MembershipStep {
                    time_s,
                    change,
                    nodes,
                    members,
                    error: error.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nemesis::Stage;
    use serde_json::json;

    fn event(stage: Stage, f: &str, value: serde_json::Value) -> NemesisEvent {
        NemesisEvent {
            stage,
            f: f.into(),
            value,
            error: None,
            took: None,
            in_force: String::new(),
        }
    }

    #[test]
    fn network_faults_are_noted_in_every_node_log_once_in_force_and_process_faults_are_left_to_the_cluster(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Arc::new(Recorder::create(&dir.path().join("history.jsonl")).unwrap());
        let logs = vec![dir.path().join("n1.log"), dir.path().join("n2.log")];
        let log = NemesisLog::new(recorder).with_node_logs(logs.clone());
        let grudge = json!({"fault": "partition", "grudge": {"n1": ["n2"]}});
        log.record(event(Stage::Invoke, "start-partition", grudge.clone()));
        log.record(event(Stage::Complete, "start-partition", grudge));
        log.record(event(Stage::Complete, "kill", json!({"nodes": ["n1"]})));
        log.record(event(
            Stage::Complete,
            "heal-all",
            json!({"faults": "healthy"}),
        ));
        for path in &logs {
            let text = std::fs::read_to_string(path).unwrap();
            assert_eq!(text.lines().count(), 1, "{text}");
            assert!(
                text.starts_with("[faultline ")
                    && text.contains("nemesis start-partition")
                    && text.contains("history index 1,"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_final_heal_adding_back_the_nodes_out_is_a_membership_change_failed_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Arc::new(Recorder::create(&dir.path().join("history.jsonl")).unwrap());
        let log = NemesisLog::new(recorder);
        let add = json!({"fault": "membership", "change": "add", "nodes": ["n3"],
            "members": ["n1", "n2", "n3"]});
        log.record(event(
            Stage::Complete,
            "heal-all",
            json!({"faults": "healthy"}),
        ));
        assert!(log.membership().is_empty());
        let healed = json!({"faults": "n3 out", "added_back": add.clone()});
        log.record(event(Stage::Invoke, "heal-all", healed.clone()));
        log.record(event(Stage::Complete, "heal-all", healed));
        let failed =
            json!({"faults": "n3 out", "added_back": add, "added_back_error": "no leader"});
        log.record(event(Stage::Complete, "heal-all", failed));
        let steps = log.membership();
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert_eq!(steps[0].change, nemesis::MembershipChange::Add);
        assert_eq!(
            (steps[0].nodes.clone(), steps[0].error.clone()),
            (vec!["n3".to_string()], None)
        );
        assert_eq!(steps[1].error.as_deref(), Some("no leader"));
    }
}
