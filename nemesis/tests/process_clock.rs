//! Process and clock faults against a fake cluster control (no root needed), and
//! clock offsets read back through the real libfaketime.

mod common;

use common::*;
use nemesis::{Fault, FaultKind, Nemesis};
use std::collections::BTreeMap;
use std::sync::Arc;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn kill_restarts_on_heal_and_heal_all_is_idempotent() {
    let control = Arc::new(FakeControl::offline(3, None));
    let mut nemesis = Nemesis::new(control.clone());
    let kill = Fault::Kill {
        nodes: names(&["n1", "n3"]),
    };
    nemesis.start(&kill).await.unwrap();
    assert_eq!(
        (
            control.state("n1"),
            control.state("n2"),
            control.state("n3")
        ),
        ("dead", "running", "dead")
    );
    assert_eq!(nemesis.describe(), "killed n1,n3");
    nemesis.stop(&kill).await.unwrap();
    assert_eq!(
        (control.state("n1"), control.state("n3")),
        ("running", "running")
    );
    nemesis.stop(&kill).await.unwrap(); // nothing killed: no second restart
    nemesis.heal_all().await.unwrap();
    let calls = control.calls();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("restart")).count(),
        2,
        "{calls:?}"
    );
}

#[tokio::test]
async fn kill_all_kills_every_node_and_restarts_them() {
    let control = Arc::new(FakeControl::offline(5, None));
    let mut nemesis = Nemesis::new(control.clone());
    let fault = nemesis.resolve(&nemesis::Decision::KillAll).await.unwrap();
    assert_eq!(
        fault,
        Fault::KillAll {
            nodes: names(&["n1", "n2", "n3", "n4", "n5"])
        }
    );
    nemesis.start(&fault).await.unwrap();
    assert!((1..=5).all(|i| control.state(&format!("n{i}")) == "dead"));
    nemesis.heal_all().await.unwrap();
    assert!((1..=5).all(|i| control.state(&format!("n{i}")) == "running"));
    assert!(nemesis.is_healthy());
}

#[tokio::test]
async fn pause_resumes_and_failures_are_remembered_for_healing() {
    let control = Arc::new(FakeControl::offline(3, None));
    let mut nemesis = Nemesis::new(control.clone());
    let pause = Fault::Pause {
        nodes: names(&["n1", "n2"]),
    };
    nemesis.start(&pause).await.unwrap();
    assert_eq!(control.state("n2"), "paused");
    // Resuming n1 fails: heal_all reports it, keeps going, and retries next time.
    control.fail.lock().unwrap().push("n1".into());
    let err = nemesis.heal_all().await.unwrap_err().to_string();
    assert!(err.contains("resuming node n1"), "{err}");
    assert_eq!(control.state("n2"), "running");
    assert!(!nemesis.is_healthy());
    control.fail.lock().unwrap().clear();
    nemesis.heal_all().await.unwrap();
    assert_eq!(control.state("n1"), "running");
    assert!(nemesis.is_healthy());

    // A kill that fails on one node still kills (and later restarts) the others.
    control.fail.lock().unwrap().push("n3".into());
    let err = nemesis
        .start(&Fault::Kill {
            nodes: names(&["n2", "n3"]),
        })
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("killing node n3"));
    assert_eq!(control.state("n2"), "dead");
    control.fail.lock().unwrap().clear();
    nemesis.heal_all().await.unwrap();
    assert_eq!(control.state("n2"), "running");
}

#[tokio::test]
async fn clock_faults_are_refused_up_front_for_systems_without_libc_clocks() {
    let control = Arc::new(FakeControl::offline(3, None));
    let mut nemesis = Nemesis::new(control);
    let err = nemesis
        .check(&[FaultKind::Kill, FaultKind::ClockBump])
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("clock faults are impossible") && msg.contains("Go binary"),
        "{msg}"
    );
    nemesis.check(&[FaultKind::Kill, FaultKind::Pause]).unwrap();
    let bump = Fault::ClockBump {
        deltas_ms: BTreeMap::from([("n1".to_string(), 5000)]),
    };
    let msg = format!("{:#}", nemesis.start(&bump).await.unwrap_err());
    assert!(msg.contains("clock faults refused for node n1"), "{msg}");
    assert!(nemesis.is_healthy());
}

/// `$FAULTLINE_LIBFAKETIME`, or the distribution's libfaketime.
fn libfaketime() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("FAULTLINE_LIBFAKETIME") {
        return p.into();
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .chain([std::path::PathBuf::from(
            "/usr/lib/faketime/libfaketime.so.1",
        )])
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
        .into_iter()
        .next()
        .expect("libfaketime missing: run scripts/setup.sh (package faketime)")
}

/// The wall clock a program sees under libfaketime with `file`, minus the real one (s).
fn faked_skew(file: &std::path::Path) -> f64 {
    let lib = libfaketime();
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let out = std::process::Command::new("date")
        .arg("+%s.%N")
        .env("LD_PRELOAD", lib)
        .env("FAKETIME_TIMESTAMP_FILE", file)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .unwrap()
        - real
}

#[tokio::test]
async fn clock_bumps_accumulate_and_reset_through_real_libfaketime() {
    let dir = tempfile::tempdir().unwrap();
    let control = Arc::new(FakeControl::offline(3, Some(dir.path().to_path_buf())));
    let mut nemesis = Nemesis::new(control);
    nemesis
        .check(&[FaultKind::ClockBump, FaultKind::ClockStrobe])
        .unwrap();
    let bump = Fault::ClockBump {
        deltas_ms: BTreeMap::from([("n1".to_string(), 3_600_000), ("n2".to_string(), -90_500)]),
    };
    nemesis.start(&bump).await.unwrap();
    let f1 = dir.path().join("n1.faketime");
    let f2 = dir.path().join("n2.faketime");
    assert!(
        (faked_skew(&f1) - 3600.0).abs() < 1.0,
        "{}",
        faked_skew(&f1)
    );
    assert!((faked_skew(&f2) + 90.5).abs() < 1.0, "{}", faked_skew(&f2));
    assert!(!dir.path().join("n3.faketime").exists(), "n3 untouched");
    // A second bump adds to the offset in force.
    nemesis
        .start(&Fault::ClockBump {
            deltas_ms: BTreeMap::from([("n1".to_string(), 60_000)]),
        })
        .await
        .unwrap();
    assert!((faked_skew(&f1) - 3660.0).abs() < 1.0);
    assert!(
        nemesis.describe().contains("n1+3660000ms"),
        "{}",
        nemesis.describe()
    );
    nemesis.stop(&bump).await.unwrap();
    assert_eq!(std::fs::read_to_string(&f1).unwrap(), "+0.000\n");
    assert!(faked_skew(&f1).abs() < 1.0 && faked_skew(&f2).abs() < 1.0);
    assert!(nemesis.is_healthy());
}

#[tokio::test]
async fn clock_strobe_flips_until_healed() {
    let dir = tempfile::tempdir().unwrap();
    let control = Arc::new(FakeControl::offline(2, Some(dir.path().to_path_buf())));
    let mut nemesis = Nemesis::new(control);
    let strobe = Fault::ClockStrobe {
        nodes: names(&["n2"]),
        delta_ms: 7_200_000,
        period_ms: 20,
        duration_ms: 60_000,
    };
    nemesis.start(&strobe).await.unwrap();
    let f = dir.path().join("n2.faketime");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (mut high, mut low) = (false, false);
    while !(high && low) && std::time::Instant::now() < deadline {
        let s = faked_skew(&f);
        high |= (s - 7200.0).abs() < 1.0;
        low |= s.abs() < 1.0;
    }
    assert!(high && low, "the clock was seen at both offsets");
    assert!(nemesis.describe().contains("strobing n2"));
    nemesis.heal_all().await.unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "+0.000\n");
    assert!(nemesis.is_healthy());
}

#[tokio::test]
async fn bad_packet_faults_are_refused_before_touching_anything() {
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::offline(2, None)));
    let link = nemesis::Link {
        from: "n1".into(),
        to: "n2".into(),
    };
    let bad = Fault::Packet {
        kind: nemesis::PacketKind::Loss { p: 1.5 },
        links: vec![link.clone()],
    };
    let msg = format!("{:#}", nemesis.start(&bad).await.unwrap_err());
    assert!(
        msg.contains("loss probability must be between 0 and 1, got 1.5"),
        "{msg}"
    );
    let unknown = Fault::Packet {
        kind: nemesis::PacketKind::Duplicate { p: 0.5 },
        links: vec![nemesis::Link {
            from: "n1".into(),
            to: "n9".into(),
        }],
    };
    let msg = format!("{:#}", nemesis.start(&unknown).await.unwrap_err());
    assert!(msg.contains("unknown node \"n9\""), "{msg}");
    assert!(nemesis.is_healthy());
}
