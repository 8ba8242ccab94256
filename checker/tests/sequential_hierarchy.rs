//! How the hierarchy line words sequential consistency: claimed only when proven for
//! the whole history (or implied by linearizability), never from keys alone.

use checker::consistency::hierarchy::{place, place_with_per_key, ModelVerdicts};
use checker::verdict::Verdict::*;

#[test]
fn a_stale_but_ordered_history_is_placed_at_sequential() {
    let v = ModelVerdicts {
        linearizable: Some(Invalid),
        sequential: Some(Valid),
        eventual: Some(Valid),
        ..Default::default()
    };
    let p = place_with_per_key(&v, Some(Valid));
    assert_eq!(p.strongest, "sequential");
    assert_eq!(
        p.line,
        "strongest model satisfied: sequentially consistent + eventually consistent; violates linearizability"
    );
}

#[test]
fn holding_on_every_key_alone_is_not_a_claim_about_the_whole_history() {
    let v = ModelVerdicts {
        linearizable: Some(Invalid),
        sequential: Some(Unknown),
        eventual: Some(Valid),
        ..Default::default()
    };
    let p = place_with_per_key(&v, Some(Valid));
    assert_eq!(p.strongest, "eventual");
    assert!(!p.line.contains("satisfied: sequentially"), "{}", p.line);
    assert!(
        p.line.ends_with(
            "not determined: sequential consistency (holds on every key alone; the whole history was not decided)"
        ),
        "{}",
        p.line
    );
    // Without the per-key answer, just "not determined".
    assert!(place(&v)
        .line
        .ends_with("not determined: sequential consistency"));
}

#[test]
fn linearizable_implies_sequential_whatever_a_bounded_search_said() {
    let v = ModelVerdicts {
        linearizable: Some(Valid),
        sequential: Some(Unknown),
        ..Default::default()
    };
    let p = place_with_per_key(&v, Some(Unknown));
    assert_eq!(p.strongest, "linearizable");
    assert_eq!(p.line, "strongest model satisfied: linearizable");
}

#[test]
fn a_whole_history_violation_is_named() {
    let v = ModelVerdicts {
        linearizable: Some(Invalid),
        sequential: Some(Invalid),
        eventual: Some(Valid),
        ..Default::default()
    };
    let p = place_with_per_key(&v, Some(Valid));
    assert_eq!(p.strongest, "eventual");
    assert!(
        p.line
            .ends_with("violates linearizability, sequential consistency"),
        "{}",
        p.line
    );
}
