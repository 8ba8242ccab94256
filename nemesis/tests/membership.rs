//! The membership nemesis against a fake cluster: it alternates removing members and
//! adding back those out (a spare node first, when the cluster has one), counts a failed removal as maybe done, and the final heal
//! adds back whatever is out.

mod common;
use common::FakeControl;
use nemesis::{Fault, FaultKind, MembershipChange, Nemesis, Schedule};
use std::sync::Arc;
use std::time::Duration;

fn schedule(seed: u64) -> Schedule {
    let kinds = FaultKind::parse_list("membership", 5).unwrap();
    Schedule::new(seed, Duration::from_secs(1), kinds, 5).unwrap()
}

#[tokio::test]
async fn membership_faults_alternate_removing_and_adding_back_the_same_nodes() {
    let control = Arc::new(FakeControl::offline(5, None));
    let mut nemesis = Nemesis::new(control.clone());
    let mut s = schedule(7);
    let mut removed = Vec::new();
    for round in 0..6 {
        let fault = nemesis.resolve(&s.next_decision()).await.unwrap();
        let Fault::Membership {
            change,
            nodes,
            members,
        } = &fault
        else {
            panic!("not a membership fault: {fault:?}")
        };
        if round % 2 == 0 {
            assert_eq!(*change, MembershipChange::Remove);
            assert!((1..=2).contains(&nodes.len()), "{nodes:?}");
            assert_eq!(members.len() + nodes.len(), 5);
            assert!(nodes.iter().all(|n| !members.contains(n)));
            removed = nodes.clone();
        } else {
            assert_eq!(*change, MembershipChange::Add);
            assert_eq!(nodes, &removed, "adds back exactly the nodes out");
            assert_eq!(members.len(), 5);
        }
        nemesis.start(&fault).await.unwrap();
        assert_eq!(nemesis.is_healthy(), round % 2 == 1, "round {round}");
        // The heal of a membership fault changes nothing.
        nemesis.stop(&fault).await.unwrap();
        assert_eq!(nemesis.is_healthy(), round % 2 == 1, "round {round}");
    }
    let calls = control.calls();
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert!(calls[0].starts_with("remove-members"), "{calls:?}");
    assert!(calls[1].starts_with("add-members"), "{calls:?}");
}

#[tokio::test]
async fn a_spare_joins_before_the_removed_node_comes_back_and_stays_a_member() {
    let mut control = FakeControl::offline(5, None);
    control.spares = vec!["n6".into()];
    let control = Arc::new(control);
    let mut nemesis = Nemesis::new(control.clone());
    let mut s = schedule(7);
    let mut next = async |nemesis: &mut Nemesis<FakeControl>| {
        let fault = nemesis.resolve(&s.next_decision()).await.unwrap();
        nemesis.start(&fault).await.unwrap();
        nemesis.stop(&fault).await.unwrap();
        let Fault::Membership {
            change,
            nodes,
            members,
        } = fault
        else {
            panic!("not a membership fault: {fault:?}")
        };
        (change, nodes, members)
    };
    let (change, out, _) = next(&mut nemesis).await;
    assert_eq!(change, MembershipChange::Remove);
    // The spare joins in place of the nodes out, which stay out.
    let (change, nodes, members) = next(&mut nemesis).await;
    assert_eq!((change, nodes), (MembershipChange::Add, vec!["n6".into()]));
    assert!(members.contains(&"n6".into()), "{members:?}");
    assert!(out.iter().all(|n| !members.contains(n)), "{members:?}");
    assert!(!nemesis.is_healthy(), "the removed nodes are still out");
    // With no spare left, the nodes out come back, n6 staying a member.
    let (change, nodes, members) = next(&mut nemesis).await;
    assert_eq!((change, &nodes), (MembershipChange::Add, &out));
    assert_eq!(members.len(), 6, "{members:?}");
    let (change, nodes, members) = next(&mut nemesis).await;
    assert_eq!(change, MembershipChange::Remove);
    assert!(!nodes.contains(&"n6".into()) && members.contains(&"n6".into()));
    // The final heal adds the nodes out back, into a membership that keeps n6.
    nemesis.heal_all().await.unwrap();
    let calls = control.calls();
    let last = calls.last().unwrap();
    assert!(
        last.starts_with("add-members") && last.contains("n6"),
        "{calls:?}"
    );
}

#[tokio::test]
async fn two_members_change_at_once_in_some_rounds_with_five_nodes() {
    let mut s = schedule(3);
    let sizes: Vec<usize> = (0..40)
        .map(|_| match s.next_decision() {
            nemesis::Decision::Membership { nodes } => nodes.len(),
            d => panic!("{d:?}"),
        })
        .collect();
    assert!(sizes.contains(&1) && sizes.contains(&2), "{sizes:?}");
    assert!(sizes.iter().all(|n| *n <= 2));
    let kinds = FaultKind::parse_list("membership", 3).unwrap();
    let mut three = Schedule::new(3, Duration::from_secs(1), kinds, 3).unwrap();
    for _ in 0..20 {
        match three.next_decision() {
            nemesis::Decision::Membership { nodes } => assert_eq!(nodes.len(), 1),
            d => panic!("{d:?}"),
        }
    }
}

#[tokio::test]
async fn a_failed_removal_counts_as_maybe_done_and_the_final_heal_adds_the_nodes_back() {
    let control = Arc::new(FakeControl::offline(5, None));
    let mut nemesis = Nemesis::new(control.clone());
    let fault = Fault::Membership {
        change: MembershipChange::Remove,
        nodes: vec!["n2".into()],
        members: vec!["n1".into(), "n3".into(), "n4".into(), "n5".into()],
    };
    control
        .fail
        .lock()
        .unwrap()
        .push("n2 -> n1,n3,n4,n5".into());
    assert!(nemesis.start(&fault).await.is_err());
    assert!(
        nemesis.describe().contains("out of the cluster n2"),
        "{}",
        nemesis.describe()
    );
    nemesis.heal_all().await.unwrap();
    assert!(nemesis.is_healthy(), "{}", nemesis.describe());
    assert_eq!(
        control.calls().last().unwrap(),
        "add-members n2 -> n1,n2,n3,n4,n5"
    );
}

#[test]
fn membership_composes_only_after_a_part_that_singles_out_nodes() {
    assert!(FaultKind::parse_list("partition-halves+membership", 5).is_ok());
    let e = FaultKind::parse_list("membership+kill", 5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("singles out no nodes"), "{e}");
    assert!(!FaultKind::parse_list("all", 5)
        .unwrap()
        .contains(&FaultKind::Membership));
    let e = FaultKind::parse_list("membership", 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 3 nodes"), "{e}");
}

/// `partition-halves+membership` with every node a member: the leader ends on the
/// minority half with one other member, every node removed is on the majority half,
/// and one member stays there: the leader's half is a majority of the new members,
/// the other half a majority of the old ones (what a single-step change gets wrong).
#[tokio::test]
async fn a_removal_after_halves_puts_the_leader_with_a_majority_of_the_new_members_only() {
    for leader in ["n1", "n3", "n5"] {
        let control = Arc::new(FakeControl::offline(5, None));
        *control.leader.lock().unwrap() = Some(leader.to_string());
        let nemesis = Nemesis::new(control.clone());
        let kinds = FaultKind::parse_list("partition-halves+membership", 5).unwrap();
        let mut s = Schedule::new(11, Duration::from_secs(1), kinds, 5).unwrap();
        for _ in 0..5 {
            let fault = nemesis.resolve(&s.next_decision()).await.unwrap();
            let Fault::Composed { faults } = &fault else {
                panic!("{fault:?}")
            };
            let [Fault::Partition { grudge, .. }, Fault::Membership {
                change,
                nodes,
                members,
            }] = faults.as_slice()
            else {
                panic!("{faults:?}")
            };
            assert_eq!(*change, MembershipChange::Remove);
            let cut_off = &grudge[leader];
            let side: Vec<&str> = ["n1", "n2", "n3", "n4", "n5"]
                .into_iter()
                .filter(|n| !cut_off.iter().any(|c| c == n))
                .collect();
            assert_eq!(side.len(), 2, "{grudge:?}");
            assert!(side.iter().all(|n| members.iter().any(|m| m == n)));
            assert_eq!(members.len(), 3, "{members:?}");
            assert_eq!(nodes.len(), 2, "{nodes:?}");
            assert!(nodes.iter().all(|n| cut_off.contains(n)), "{fault:?}");
        }
    }
}

#[tokio::test]
async fn without_a_known_leader_a_removal_after_halves_is_drawn_as_before() {
    let control = Arc::new(FakeControl::offline(5, None));
    let nemesis = Nemesis::new(control.clone());
    let kinds = FaultKind::parse_list("partition-halves+membership", 5).unwrap();
    let mut s = Schedule::new(11, Duration::from_secs(1), kinds, 5).unwrap();
    let fault = nemesis.resolve(&s.next_decision()).await.unwrap();
    let Fault::Composed { faults } = &fault else {
        panic!("{fault:?}")
    };
    assert!(
        matches!(&faults[0], Fault::Partition { leader: None, .. }),
        "{fault:?}"
    );
}
