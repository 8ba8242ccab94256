//! Harness overhead benchmark: time from a fault's decision to the fault being in
//! force, on 5 real namespaces. Ignored by default (needs root; prints figures):
//!
//!     cargo test -p nemesis --release --test overhead -- --ignored --nocapture
//!
//! "In force" means every namespace's iptables commit has returned (the kernel applies
//! a commit atomically), or the shaper is bound and its rules committed.

mod common;

use common::*;
use nemesis::{FaultKind, Nemesis, Schedule};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{name:<34} n={:<4} median {:>6.2} ms   p95 {:>6.2} ms   max {:>6.2} ms",
        v.len(),
        ms(p(0.5)),
        ms(p(0.95)),
        ms(*v.last().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: needs root, prints figures"]
async fn decision_to_fault_in_force() {
    let net = TestNet::new(5);
    let control = Arc::new(FakeControl::new(net.nodes.clone(), None));
    let mut nemesis = Nemesis::new(control);
    let all = FaultKind::parse_list("partition,packet", 5).unwrap();
    nemesis.prepare(&all).await.unwrap();
    let rounds = 100;

    let partitions = FaultKind::parse_list("partition", 5).unwrap();
    let mut schedule = Schedule::new(1, Duration::from_secs(1), partitions, 5).unwrap();
    let (mut start, mut heal) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t0 = Instant::now();
        let fault = nemesis.resolve(&schedule.next_decision()).await.unwrap();
        nemesis.start(&fault).await.unwrap();
        start.push(t0.elapsed());
        let t1 = Instant::now();
        nemesis.stop(&fault).await.unwrap();
        heal.push(t1.elapsed());
    }
    summary("partition (5 nodes): start", start);
    summary("partition (5 nodes): heal", heal);

    for kind in ["loss", "delay", "duplicate"] {
        let kinds = FaultKind::parse_list(kind, 5).unwrap();
        let mut schedule = Schedule::new(2, Duration::from_secs(1), kinds, 5).unwrap();
        let (mut start, mut heal) = (Vec::new(), Vec::new());
        for _ in 0..rounds / 2 {
            let t0 = Instant::now();
            let fault = nemesis.resolve(&schedule.next_decision()).await.unwrap();
            nemesis.start(&fault).await.unwrap();
            start.push(t0.elapsed());
            let t1 = Instant::now();
            nemesis.stop(&fault).await.unwrap();
            heal.push(t1.elapsed());
        }
        summary(&format!("{kind} (5 nodes): start"), start);
        summary(&format!("{kind} (5 nodes): heal"), heal);
    }
    nemesis.teardown().await.unwrap();
}
