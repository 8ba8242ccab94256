//! The one-line placement of a history among the consistency models.

use checker::consistency::hierarchy::{place, ModelVerdicts};
use checker::verdict::Verdict::*;

#[test]
fn names_the_strongest_model_that_holds() {
    let all_valid = ModelVerdicts {
        linearizable: Some(Valid),
        sequential: Some(Valid),
        monotonic_reads: Some(Valid),
        monotonic_writes: Some(Valid),
        read_your_writes: Some(Valid),
        writes_follow_reads: Some(Valid),
        eventual: Some(Valid),
    };
    let p = place(&all_valid);
    assert_eq!(p.strongest, "linearizable");
    assert_eq!(
        p.line,
        "strongest model satisfied: linearizable + eventually consistent"
    );

    let p = place(&ModelVerdicts {
        linearizable: Some(Invalid),
        ..all_valid.clone()
    });
    assert_eq!(p.strongest, "sequential");
    assert!(
        p.line
            .ends_with("sequentially consistent + eventually consistent; violates linearizability"),
        "{}",
        p.line
    );

    let p = place(&ModelVerdicts {
        linearizable: Some(Invalid),
        sequential: Some(Unknown),
        monotonic_reads: Some(Invalid),
        ..all_valid.clone()
    });
    assert_eq!(p.strongest, "session");
    assert_eq!(
        p.line,
        "strongest model satisfied: session guarantees monotonic writes, read-your-writes, writes-follow-reads \
         + eventually consistent; violates linearizability, monotonic reads; not determined: sequential consistency"
    );

    let p = place(&ModelVerdicts {
        linearizable: Some(Invalid),
        sequential: None,
        monotonic_reads: Some(Invalid),
        monotonic_writes: Some(Invalid),
        read_your_writes: Some(Invalid),
        writes_follow_reads: Some(Invalid),
        eventual: Some(Valid),
    });
    assert_eq!(p.strongest, "eventual");
    assert!(p.line.starts_with("strongest model satisfied: eventually consistent; violates linearizability, monotonic reads"));

    let p = place(&ModelVerdicts {
        eventual: Some(Invalid),
        ..ModelVerdicts::default()
    });
    assert_eq!(p.strongest, "none");
    assert_eq!(
        p.line,
        "strongest model satisfied: none of the checked models; violates eventual consistency"
    );

    let p = place(&ModelVerdicts {
        linearizable: Some(Invalid),
        sequential: Some(Invalid),
        ..all_valid
    });
    assert!(p.line.contains("all four session guarantees"), "{}", p.line);
}

#[test]
fn placement_from_reports_of_a_stale_but_convergent_history() {
    use checker::consistency::eventual::{self, Collection, EventualOptions};
    use checker::consistency::session::{self, SessionOptions};
    use checker::history::{Event, EventType, History, Process};
    use serde_json::json;
    // p1 reads [1] then [] (a monotonic-reads violation); all nodes end with [1]. No
    // process reads after writing, so read-your-writes is not determined.
    let mut events = Vec::new();
    let mut push = |p: Process, kind, f: &str, v: serde_json::Value, node: Option<&str>| {
        let i = events.len() as u64;
        let mut e = Event::new(i, i * 10, p, kind, f).with_value(v);
        if p != Process::Nemesis {
            e = e.with_key(json!("k"));
        }
        if let Some(n) = node {
            e = e.with_node(n);
        }
        events.push(e);
    };
    use EventType::*;
    let c = Process::Client;
    push(c(0), Invoke, "append", json!(1), None);
    push(c(0), Ok, "append", json!(1), None);
    push(c(1), Invoke, "read", json!(null), None);
    push(c(1), Ok, "read", json!([1]), None);
    push(c(1), Invoke, "read", json!(null), None);
    push(c(1), Ok, "read", json!([]), None);
    push(Process::Nemesis, Info, "stop-partition", json!(null), None);
    for (p, n) in [(2, "n1"), (3, "n2")] {
        push(c(p), Invoke, "final-read", json!(null), Some(n));
        push(c(p), Ok, "final-read", json!([1]), Some(n));
    }
    let h = History::from_events(events).unwrap();
    let s = session::check(&h, &SessionOptions::default()).unwrap();
    let e = eventual::check(&h, &EventualOptions::new(Collection::Append)).unwrap();
    let v = ModelVerdicts {
        linearizable: Some(Invalid),
        sequential: Some(Invalid),
        ..Default::default()
    }
    .with_session(&s)
    .with_eventual(&e);
    let p = place(&v);
    assert_eq!(
        p.line,
        "strongest model satisfied: session guarantees monotonic writes, writes-follow-reads \
         + eventually consistent; violates linearizability, sequential consistency, monotonic reads; \
         not determined: read-your-writes"
    );
}

#[test]
fn linearizable_registers_without_versions_keep_the_session_guarantees_by_implication() {
    // A register history from a system that reports no versions: the session check
    // cannot judge the guarantees, but linearizability (and sequential consistency)
    // implies all four, so nothing is left "not determined".
    let unjudged = ModelVerdicts {
        linearizable: Some(Valid),
        sequential: Some(Valid),
        monotonic_reads: Some(Unknown),
        monotonic_writes: Some(Unknown),
        read_your_writes: Some(Unknown),
        writes_follow_reads: Some(Unknown),
        eventual: Some(Valid),
    };
    let p = place(&unjudged);
    assert_eq!(p.strongest, "linearizable");
    assert!(!p.line.contains("not determined"), "{}", p.line);
    // Without linearizability or sequential consistency they stay undetermined.
    let p = place(&ModelVerdicts {
        linearizable: Some(Invalid),
        sequential: Some(Invalid),
        ..unjudged.clone()
    });
    assert!(
        p.line.contains("not determined: monotonic reads"),
        "{}",
        p.line
    );
}
