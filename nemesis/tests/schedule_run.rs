//! Driving a schedule in time against a fake cluster: events alternate start/stop,
//! every fault is healed, and the run ends healed when `until` fires mid-fault.

mod common;

use common::*;
use nemesis::{FaultKind, Nemesis, NemesisEvent, Schedule, Stage};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn run_schedule_alternates_faults_and_heals_and_reports_both_halves() {
    let control = Arc::new(FakeControl::offline(5, None));
    let mut nemesis = Nemesis::new(control.clone());
    let kinds = FaultKind::parse_list("kill,kill-all,pause", 5).unwrap();
    nemesis.prepare(&kinds).await.unwrap();
    let mut schedule = Schedule::new(42, Duration::from_millis(10), kinds.clone(), 5).unwrap();
    let expected = schedule.preview(100);
    let mut events: Vec<NemesisEvent> = Vec::new();
    // About 15 faults fit in 300 ms; wherever `until` falls, the fault in force is healed.
    let summary = nemesis
        .run_schedule(
            &mut schedule,
            tokio::time::sleep(Duration::from_millis(300)),
            |e| events.push(e),
        )
        .await;
    assert!(summary.started >= 2, "{summary:?}");
    assert_eq!(summary.failed, 0);
    assert_eq!(
        events.len(),
        summary.started * 4,
        "invoke+complete for every start and stop"
    );
    for (i, pair) in events.chunks(2).enumerate() {
        assert_eq!(pair[0].stage, Stage::Invoke);
        assert_eq!(pair[1].stage, Stage::Complete);
        assert_eq!(pair[0].f, pair[1].f);
        assert!(pair[1].error.is_none() && pair[1].took.is_some());
        let starting = i % 2 == 0;
        assert!(
            ["kill", "kill-all", "pause"].contains(&pair[0].f.as_str()) == starting,
            "{}",
            pair[0].f
        );
    }
    // The faults are the schedule's decisions, in order.
    for (k, d) in expected.iter().take(summary.started).enumerate() {
        let fault = nemesis.resolve(d).await.unwrap();
        assert_eq!(events[k * 4].value, serde_json::to_value(&fault).unwrap());
    }
    assert_eq!(events.last().unwrap().in_force, "healthy");
    assert!(nemesis.is_healthy());
    assert!((1..=5).all(|i| control.state(&format!("n{i}")) == "running"));
}

#[tokio::test]
async fn same_seed_same_faults_in_two_runs() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let control = Arc::new(FakeControl::offline(5, None));
        let mut nemesis = Nemesis::new(control.clone());
        let mut schedule = Schedule::new(
            9,
            Duration::from_millis(5),
            FaultKind::parse_list("process", 5).unwrap(),
            5,
        )
        .unwrap();
        let mut values = Vec::new();
        nemesis
            .run_schedule(
                &mut schedule,
                tokio::time::sleep(Duration::from_millis(150)),
                |e| {
                    if e.stage == Stage::Invoke {
                        values.push(e.value)
                    }
                },
            )
            .await;
        runs.push(values);
    }
    let n = runs[0].len().min(runs[1].len());
    assert!(n >= 2);
    assert_eq!(runs[0][..n], runs[1][..n]);
}

/// The runner spawns the schedule on its own task: the future must be `Send`.
#[allow(dead_code)]
fn run_schedule_future_is_send(mut n: Nemesis<FakeControl>, mut s: Schedule) {
    fn assert_send<T: Send>(_: &T) {}
    let fut = async move {
        n.run_schedule(&mut s, std::future::pending(), |_e| {})
            .await;
        n.teardown().await
    };
    assert_send(&fut);
}
