//! Partitions on real namespaces: traffic is really blocked, one way or both, and
//! healing restores it and leaves nothing behind. Needs root.

mod common;

use common::*;
use nemesis::netfilter::Netfilter;
use nemesis::{Decision, Fault, Nemesis, PartitionKind};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn grudge(pairs: &[(&str, &[&str])]) -> nemesis::Grudge {
    pairs
        .iter()
        .map(|(a, bs)| (a.to_string(), bs.iter().map(|b| b.to_string()).collect()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_a_node_blocks_both_ways_and_healing_restores() {
    let net = TestNet::new(3);
    let (n1, n2, n3) = (
        net.node("n1").clone(),
        net.node("n2").clone(),
        net.node("n3").clone(),
    );
    let control = Arc::new(FakeControl::new(net.nodes.clone(), None));
    let mut nemesis = Nemesis::new(control.clone());
    nemesis
        .prepare(&[nemesis::FaultKind::Partition(PartitionKind::One)])
        .await
        .unwrap();
    assert!(
        reaches(&n1, &n2, 7001) && reaches(&n2, &n1, 7001),
        "network works before the fault"
    );
    assert!(tcp_connects(&n1, &n3, 7002));

    let fault = Fault::Partition {
        kind: PartitionKind::One,
        grudge: grudge(&[("n1", &["n2", "n3"]), ("n2", &["n1"]), ("n3", &["n1"])]),
        leader: None,
    };
    nemesis.start(&fault).await.unwrap();
    assert!(!reaches(&n1, &n2, 7003), "n1 -> n2 must be cut");
    assert!(!reaches(&n2, &n1, 7004), "n2 -> n1 must be cut");
    assert!(!reaches(&n3, &n1, 7005));
    assert!(
        reaches(&n2, &n3, 7006) && reaches(&n3, &n2, 7006),
        "the majority still talks"
    );
    assert!(
        !tcp_connects(&n3, &n1, 7007),
        "TCP to the isolated node fails"
    );
    assert!(
        nemesis.describe().contains("partition-one"),
        "{}",
        nemesis.describe()
    );

    nemesis.stop(&fault).await.unwrap();
    // A port of its own for each receiver: one just closed may still be held by a
    // child that another test forked and has not yet exec'd (its copy closes on exec).
    assert!(reaches(&n1, &n2, 7008) && reaches(&n2, &n1, 7008) && reaches(&n3, &n1, 7010));
    assert!(tcp_connects(&n3, &n1, 7009));
    assert_eq!(nemesis.describe(), "healthy");

    nemesis.teardown().await.unwrap();
    for node in &net.nodes {
        assert!(
            Netfilter::inspect(node).await.unwrap().is_empty(),
            "chains left in {}",
            node.netns
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_partition_drops_only_one_direction() {
    let net = TestNet::new(2);
    let (n1, n2) = (net.node("n1").clone(), net.node("n2").clone());
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)));
    let fault = Fault::Partition {
        kind: PartitionKind::OneWay,
        grudge: grudge(&[("n1", &["n2"])]),
        leader: None,
    };
    nemesis.start(&fault).await.unwrap();
    assert!(!reaches(&n2, &n1, 7011), "n1 drops n2's packets");
    assert!(reaches(&n1, &n2, 7012), "n2 still receives n1's packets");
    nemesis.heal_all().await.unwrap();
    assert!(reaches(&n2, &n1, 7013));
    nemesis.heal_all().await.unwrap(); // idempotent
    nemesis.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_partition_isolates_the_reported_leader_and_a_new_partition_replaces_the_old() {
    let net = TestNet::new(3);
    let control = Arc::new(FakeControl::new(net.nodes.clone(), None));
    *control.leader.lock().unwrap() = Some("n2".into());
    let mut nemesis = Nemesis::new(control.clone());
    let decision = Decision::Partition {
        kind: PartitionKind::Leader,
        grudge: BTreeMap::new(),
        fallback: 0,
    };
    let fault = nemesis.resolve(&decision).await.unwrap();
    let Fault::Partition {
        grudge: g, leader, ..
    } = &fault
    else {
        panic!()
    };
    assert_eq!(leader.as_deref(), Some("n2"));
    assert_eq!(g["n2"], vec!["n1".to_string(), "n3".to_string()]);
    nemesis.start(&fault).await.unwrap();
    let (n1, n2, n3) = (
        net.node("n1").clone(),
        net.node("n2").clone(),
        net.node("n3").clone(),
    );
    assert!(!reaches(&n1, &n2, 7021) && reaches(&n1, &n3, 7021));

    // Without a leader, the schedule's fallback node is isolated instead.
    *control.leader.lock().unwrap() = None;
    let fault2 = nemesis.resolve(&decision).await.unwrap();
    let Fault::Partition {
        grudge: g2,
        leader: l2,
        ..
    } = &fault2
    else {
        panic!()
    };
    assert_eq!(*l2, None);
    assert!(g2["n1"].len() == 2);
    nemesis.start(&fault2).await.unwrap();
    assert!(
        reaches(&n3, &n2, 7022),
        "the earlier partition was replaced"
    );
    assert!(!reaches(&n3, &n1, 7023));
    nemesis.teardown().await.unwrap();
    assert!(reaches(&n3, &n1, 7024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheduled_shape_matches_observed_connectivity() {
    let net = TestNet::new(4);
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)));
    let kinds =
        nemesis::FaultKind::parse_list("partition-halves,partition-ring,partition-bridge", 4)
            .unwrap();
    nemesis.prepare(&kinds).await.unwrap();
    let mut schedule =
        nemesis::Schedule::new(7, std::time::Duration::from_secs(1), kinds, 4).unwrap();
    let mut port = 7100;
    for _ in 0..3 {
        let fault = nemesis.resolve(&schedule.next_decision()).await.unwrap();
        nemesis.start(&fault).await.unwrap();
        let Fault::Partition { grudge: g, .. } = &fault else {
            panic!()
        };
        // Check every directed pair at once (in threads), against the grudge.
        let pairs: Vec<(usize, usize)> = (0..4)
            .flat_map(|a| (0..4).filter(move |b| *b != a).map(move |b| (a, b)))
            .collect();
        let observed: BTreeSet<(usize, usize)> = std::thread::scope(|s| {
            let hs: Vec<_> = pairs
                .iter()
                .map(|&(a, b)| {
                    port += 1;
                    let p = port;
                    let (na, nb) = (&net.nodes[a], &net.nodes[b]);
                    s.spawn(move || (reaches(na, nb, p), (a, b)))
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap())
                .filter(|(ok, _)| *ok)
                .map(|(_, p)| p)
                .collect()
        });
        let expected: BTreeSet<(usize, usize)> = pairs
            .iter()
            .copied()
            .filter(|(a, b)| {
                !g.get(&net.nodes[*b].id)
                    .is_some_and(|drops| drops.contains(&net.nodes[*a].id))
            })
            .collect();
        assert_eq!(observed, expected, "fault {fault:?}");
    }
    nemesis.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_schedule_of_network_faults_ends_healed_and_clean() {
    let net = TestNet::new(3);
    let mut nemesis =
        Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None))).with_seed(5);
    let kinds = nemesis::FaultKind::parse_list("partition,packet", 3).unwrap();
    nemesis.prepare(&kinds).await.unwrap();
    let mut schedule =
        nemesis::Schedule::new(5, std::time::Duration::from_millis(40), kinds, 3).unwrap();
    let mut events = Vec::new();
    let summary = nemesis
        .run_schedule(
            &mut schedule,
            tokio::time::sleep(std::time::Duration::from_millis(1500)),
            |e| events.push(e),
        )
        .await;
    assert!(summary.started >= 5, "{summary:?}");
    assert_eq!(
        summary.failed,
        0,
        "{:?}",
        events
            .iter()
            .filter_map(|e| e.error.clone())
            .collect::<Vec<_>>()
    );
    let slowest = events.iter().filter_map(|e| e.took).max().unwrap();
    assert!(
        slowest < std::time::Duration::from_secs(2),
        "an action took {slowest:?}"
    );
    assert_eq!(nemesis.describe(), "healthy");
    nemesis.teardown().await.unwrap();
    for a in &net.nodes {
        assert!(Netfilter::inspect(a).await.unwrap().is_empty());
        for b in &net.nodes {
            if a.id != b.id {
                assert!(reaches(a, b, 7900), "{} -> {} after the run", a.id, b.id);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_crashed_run_can_be_removed_by_namespace_name() {
    let net = TestNet::new(2);
    let mut nemesis = Nemesis::new(Arc::new(FakeControl::new(net.nodes.clone(), None)));
    nemesis.prepare(&[nemesis::FaultKind::Loss]).await.unwrap();
    let fault = Fault::Partition {
        kind: PartitionKind::OneWay,
        grudge: grudge(&[("n1", &["n2"])]),
        leader: None,
    };
    nemesis.start(&fault).await.unwrap();
    std::mem::forget(nemesis); // as if the process had crashed
    let ns = net.node("n1").netns.clone();
    assert!(Netfilter::inspect(net.node("n1")).await.unwrap().complete());
    assert!(nemesis::netfilter::remove_leftovers(&ns).unwrap());
    assert!(Netfilter::inspect(net.node("n1")).await.unwrap().is_empty());
    assert!(
        !nemesis::netfilter::remove_leftovers(&ns).unwrap(),
        "nothing left the second time"
    );
    assert!(nemesis::netfilter::remove_leftovers(&net.node("n2").netns).unwrap());
    assert!(reaches(net.node("n2"), net.node("n1"), 7950));
    assert!(!nemesis::netfilter::remove_leftovers("fl-nmt-does-not-exist").unwrap());
}
