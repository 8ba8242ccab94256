//! Leader-targeted process faults and composed faults against a fake cluster control
//! (no root needed): which node they hit, what the history records, in which order
//! the parts start and heal, and that healing leaves nothing in force.

mod common;

use common::*;
use nemesis::{Decision, Fault, FaultKind, FaultParams, Nemesis, Schedule, Stage};
use std::sync::Arc;
use std::time::Duration;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn leader_faults_hit_the_reported_leader_or_the_schedule_fallback() {
    let control = Arc::new(FakeControl::offline(5, None));
    let mut nemesis = Nemesis::new(control.clone());
    *control.leader.lock().unwrap() = Some("n4".into());
    let pause = nemesis
        .resolve(&Decision::PauseLeader { fallback: 1 })
        .await
        .unwrap();
    assert_eq!(
        pause,
        Fault::PauseLeader {
            nodes: names(&["n4"]),
            leader: Some("n4".into())
        }
    );
    nemesis.start(&pause).await.unwrap();
    assert_eq!(control.state("n4"), "paused");
    assert_eq!(nemesis.describe(), "paused n4");
    nemesis.stop(&pause).await.unwrap();
    assert_eq!(control.state("n4"), "running");

    // No leader reported (or one the nemesis does not know): the fallback node.
    *control.leader.lock().unwrap() = Some("n9".into());
    let kill = nemesis
        .resolve(&Decision::KillLeader { fallback: 1 })
        .await
        .unwrap();
    assert_eq!(
        kill,
        Fault::KillLeader {
            nodes: names(&["n2"]),
            leader: None
        }
    );
    nemesis.start(&kill).await.unwrap();
    assert_eq!(control.state("n2"), "dead");
    nemesis.stop(&kill).await.unwrap();
    assert_eq!(control.state("n2"), "running");
    assert!(nemesis.is_healthy());
    assert!(nemesis
        .resolve(&Decision::KillLeader { fallback: 5 })
        .await
        .is_err());
}

#[tokio::test]
async fn power_loss_of_the_leader_kills_the_reported_leader_then_drops_its_unsynced_writes() {
    let control = Arc::new(FakeControl::offline(3, None));
    let mut nemesis = Nemesis::new(control.clone());
    *control.leader.lock().unwrap() = Some("n3".into());
    let kinds = FaultKind::parse_list("power-loss-leader", 3).unwrap();
    nemesis.check(&kinds).unwrap();
    let fault = nemesis
        .resolve(&Decision::PowerLossLeader { fallback: 0 })
        .await
        .unwrap();
    assert_eq!(
        fault,
        Fault::PowerLossLeader {
            nodes: names(&["n3"]),
            leader: Some("n3".into())
        }
    );
    assert_eq!(
        (fault.start_name(), fault.stop_name()),
        ("power-loss".into(), "restart".into())
    );
    let json = serde_json::to_string(&fault).unwrap();
    assert_eq!(
        json,
        r#"{"fault":"power-loss-leader","nodes":["n3"],"leader":"n3"}"#
    );
    assert_eq!(fault.describe(), "power lost on n3 (the leader)");
    nemesis.start(&fault).await.unwrap();
    assert_eq!(control.state("n3"), "dead");
    assert_eq!(nemesis.describe(), "killed n3");
    nemesis.stop(&fault).await.unwrap();
    assert_eq!(control.state("n3"), "running");
    assert_eq!(
        control.calls(),
        ["kill n3", "lose-unsynced n3", "restart n3"]
    );
    assert!(nemesis.is_healthy());

    // No leader reported: the schedule's node.
    *control.leader.lock().unwrap() = None;
    let fallback = nemesis
        .resolve(&Decision::PowerLossLeader { fallback: 1 })
        .await
        .unwrap();
    assert_eq!(
        fallback,
        Fault::PowerLossLeader {
            nodes: names(&["n2"]),
            leader: None
        }
    );
}

#[tokio::test]
async fn pause_leader_with_clock_bump_moves_only_the_leaders_clock_and_heals_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let control = Arc::new(FakeControl::offline(3, Some(dir.path().to_path_buf())));
    *control.leader.lock().unwrap() = Some("n2".into());
    let mut nemesis = Nemesis::new(control.clone());
    let kinds = FaultKind::parse_list("pause-leader+clock-bump", 3).unwrap();
    nemesis.prepare(&kinds).await.unwrap();
    let params = FaultParams {
        clock_bump: Some("-30s..-6s".parse().unwrap()),
        ..FaultParams::default()
    };
    let mut schedule = Schedule::new(7, Duration::from_secs(5), kinds, 3)
        .unwrap()
        .with_params(params);
    let decision = schedule.next_decision();
    let fault = nemesis.resolve(&decision).await.unwrap();
    let Fault::Composed { faults } = &fault else {
        panic!("{fault:?}")
    };
    assert_eq!(
        faults[0],
        Fault::PauseLeader {
            nodes: names(&["n2"]),
            leader: Some("n2".into())
        }
    );
    let Fault::ClockBump { deltas_ms } = &faults[1] else {
        panic!("{fault:?}")
    };
    assert_eq!(
        deltas_ms.keys().cloned().collect::<Vec<_>>(),
        names(&["n2"])
    );
    let delta = deltas_ms["n2"];
    assert!((-30_000..=-6_000).contains(&delta), "{delta}");

    let mut events = Vec::new();
    assert!(
        nemesis
            .start_reported(&fault, &mut |e| events.push(e))
            .await
    );
    assert_eq!(control.state("n2"), "paused");
    assert_eq!(control.state("n1"), "running");
    let file = dir.path().join("n2.faketime");
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        written,
        format!("{:+.3}\n", delta as f64 / 1000.0),
        "the leader's clock offset"
    );
    assert!(!dir.path().join("n1.faketime").exists());
    assert!(!dir.path().join("n3.faketime").exists());
    let in_force = nemesis.describe();
    assert!(
        in_force.contains("paused n2") && in_force.contains(&format!("clocks n2{delta:+}ms")),
        "{in_force}"
    );

    assert!(nemesis.stop_reported(&fault, &mut |e| events.push(e)).await);
    assert_eq!(control.state("n2"), "running");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "+0.000\n");
    assert!(nemesis.is_healthy());
    assert_eq!(control.calls(), vec!["pause n2", "resume n2"]);

    // The history sees one fault with both parts, named after both.
    let fs: Vec<(&str, Stage)> = events.iter().map(|e| (e.f.as_str(), e.stage)).collect();
    assert_eq!(
        fs,
        vec![
            ("pause+clock-bump", Stage::Invoke),
            ("pause+clock-bump", Stage::Complete),
            ("resume+clock-reset", Stage::Invoke),
            ("resume+clock-reset", Stage::Complete),
        ]
    );
    assert_eq!(events[0].value["fault"], "composed");
    assert_eq!(events[0].value["faults"][0]["fault"], "pause-leader");
    assert_eq!(events[0].value["faults"][0]["leader"], "n2");
    assert_eq!(events[0].value["faults"][1]["deltas_ms"]["n2"], delta);
}

#[tokio::test]
async fn a_failed_part_does_not_stop_the_others_and_is_healed_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let control = Arc::new(FakeControl::offline(3, Some(dir.path().to_path_buf())));
    let mut nemesis = Nemesis::new(control.clone());
    control.fail.lock().unwrap().push("n3".into());
    let fault = Fault::Composed {
        faults: vec![
            Fault::Pause {
                nodes: names(&["n1", "n3"]),
            },
            Fault::ClockBump {
                deltas_ms: [("n1".to_string(), -8_000), ("n3".to_string(), -9_000)].into(),
            },
        ],
    };
    let err = format!("{:#}", nemesis.start(&fault).await.unwrap_err());
    assert!(
        err.contains("starting pause") && err.contains("pausing node n3"),
        "{err}"
    );
    assert_eq!(control.state("n1"), "paused");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n3.faketime")).unwrap(),
        "-9.000\n",
        "the clock part went ahead"
    );
    control.fail.lock().unwrap().clear();
    nemesis.stop(&fault).await.unwrap();
    assert!(nemesis.is_healthy());
    assert_eq!(control.state("n1"), "running");
    for n in ["n1", "n3"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(format!("{n}.faketime"))).unwrap(),
            "+0.000\n"
        );
    }
}

#[tokio::test]
async fn run_schedule_drives_compositions_and_ends_healed() {
    let dir = tempfile::tempdir().unwrap();
    let control = Arc::new(FakeControl::offline(5, Some(dir.path().to_path_buf())));
    *control.leader.lock().unwrap() = Some("n1".into());
    let mut nemesis = Nemesis::new(control.clone());
    let kinds = FaultKind::parse_list("pause-leader+clock-bump,kill-leader", 5).unwrap();
    nemesis.prepare(&kinds).await.unwrap();
    let mut schedule = Schedule::new(3, Duration::from_millis(10), kinds, 5).unwrap();
    let mut events = Vec::new();
    let summary = nemesis
        .run_schedule(
            &mut schedule,
            tokio::time::sleep(Duration::from_millis(300)),
            |e| events.push(e),
        )
        .await;
    assert!(summary.started >= 4 && summary.failed == 0, "{summary:?}");
    let starts: Vec<&str> = events.iter().step_by(4).map(|e| e.f.as_str()).collect();
    assert!(starts.contains(&"pause+clock-bump"), "{starts:?}");
    assert!(starts.contains(&"kill"), "{starts:?}");
    for e in events.iter().step_by(4) {
        let nodes = match e.value["fault"].as_str().unwrap() {
            "composed" => &e.value["faults"][0]["nodes"],
            _ => &e.value["nodes"],
        };
        assert_eq!(
            nodes,
            &serde_json::json!(["n1"]),
            "only the leader: {}",
            e.value
        );
    }
    assert!(nemesis.is_healthy());
    assert!((1..=5).all(|i| control.state(&format!("n{i}")) == "running"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("n1.faketime")).unwrap(),
        "+0.000\n"
    );
}

/// As root, in real namespaces: `partition-leader+clock-bump` cuts the leader off and
/// moves its clock (and no one else's); healing reconnects it and resets the clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_leader_with_clock_bump_isolates_the_leader_and_moves_its_clock() {
    let net = TestNet::new(3);
    let dir = tempfile::tempdir().unwrap();
    let control = Arc::new(FakeControl::new(
        net.nodes.clone(),
        Some(dir.path().to_path_buf()),
    ));
    *control.leader.lock().unwrap() = Some("n3".into());
    let mut nemesis = Nemesis::new(control.clone());
    let kinds = FaultKind::parse_list("partition-leader+clock-bump", 3).unwrap();
    nemesis.prepare(&kinds).await.unwrap();
    let mut schedule = Schedule::new(11, Duration::from_secs(5), kinds, 3).unwrap();
    let fault = nemesis.resolve(&schedule.next_decision()).await.unwrap();
    let Fault::Composed { faults } = &fault else {
        panic!("{fault:?}")
    };
    let Fault::ClockBump { deltas_ms } = &faults[1] else {
        panic!("{fault:?}")
    };
    assert_eq!(
        deltas_ms.keys().cloned().collect::<Vec<_>>(),
        names(&["n3"])
    );
    nemesis.start(&fault).await.unwrap();
    let (n1, n2, n3) = (
        net.node("n1").clone(),
        net.node("n2").clone(),
        net.node("n3").clone(),
    );
    assert!(!reaches(&n1, &n3, 7031) && !reaches(&n3, &n2, 7031));
    assert!(reaches(&n1, &n2, 7032));
    let file = dir.path().join("n3.faketime");
    assert_ne!(std::fs::read_to_string(&file).unwrap(), "+0.000\n");
    nemesis.stop(&fault).await.unwrap();
    assert!(reaches(&n1, &n3, 7033));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "+0.000\n");
    assert!(nemesis.is_healthy());
    nemesis.teardown().await.unwrap();
}
