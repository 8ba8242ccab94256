//! Bank, counter and unique-ID invariants on hand-built histories; the counter
//! against brute force; and the seed-004 ID scheme under a backward clock bump,
//! where the unique-ID checker must catch the generator's duplicates.

mod consistency_support;

use checker::consistency::invariants::bank::{self, BankOptions, BankViolation};
use checker::consistency::invariants::counter::{self, CounterOptions};
use checker::consistency::invariants::unique_ids::{self, UniqueIdOptions};
use checker::consistency::snowflake::{
    decompose, ClockPolicy, IdError, SnowflakeGenerator, MAX_SEQUENCE,
};
use checker::history::{EventType, History, Outcome, Process};
use checker::verdict::Verdict;
use consistency_support::Builder;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn transfer(b: &mut Builder, p: u64, from: &str, to: &str, amount: i64) {
    let v = json!({"from": from, "to": to, "amount": amount});
    b.event(
        Process::Client(p),
        EventType::Invoke,
        "transfer",
        None,
        v.clone(),
        None,
    )
    .event(Process::Client(p), EventType::Ok, "transfer", None, v, None);
}

#[test]
fn bank_reads_must_sum_to_the_initial_total_without_overdrafts() {
    let mut b = Builder::new();
    b.read_value(0, json!({"a": 50, "b": 50}));
    transfer(&mut b, 1, "a", "b", 30);
    b.read_value(0, json!({"a": 20, "b": 80}));
    let opts = BankOptions::new(100);
    let r = bank::check(&b.build(), &opts).unwrap();
    assert_eq!(
        (r.verdict, r.reads_checked, r.min_total, r.max_total),
        (Verdict::Valid, 2, Some(100), Some(100))
    );

    b.read_value(2, json!({"a": 20, "b": 50})) // money vanished mid-transfer
        .read_value(2, json!({"a": -10, "b": 110}));
    let r = bank::check(&b.build(), &opts).unwrap();
    assert_eq!(
        (r.verdict, r.wrong_totals, r.negative_balances),
        (Verdict::Invalid, 1, 1)
    );
    match &r.violations.examples[0] {
        BankViolation::WrongTotal {
            read,
            process,
            expected,
            observed,
            ..
        } => {
            assert_eq!(
                (read.invoke_index, *process, *expected, *observed),
                (6, 2, 100, 70)
            );
        }
        other => panic!("{other:?}"),
    }
    let mut allow = opts.clone();
    allow.negative_balances_allowed = true;
    allow.accounts = Some(vec!["a".into(), "b".into(), "c".into()]);
    let r = bank::check(&b.build(), &allow).unwrap();
    assert_eq!((r.negative_balances, r.wrong_accounts), (0, 4));

    let mut b = Builder::new();
    b.read_value(0, json!([1, 2]));
    let err = bank::check(&b.build(), &opts).unwrap_err();
    assert!(
        err.to_string().contains("map of account to balance"),
        "{err}"
    );
}

fn add(b: &mut Builder, p: u64, amount: i64, kind: EventType) {
    b.event(
        Process::Client(p),
        EventType::Invoke,
        "add",
        None,
        json!(amount),
        None,
    )
    .event(Process::Client(p), kind, "add", None, json!(amount), None);
}

#[test]
fn counter_reads_lie_between_acknowledged_and_attempted() {
    let mut b = Builder::new();
    add(&mut b, 0, 5, EventType::Ok);
    add(&mut b, 0, 3, EventType::Fail);
    b.read_value(1, json!(5));
    // Concurrent with an increment of 2: 5 or 7 are both fine, 6 is also within the
    // bounds (the checker judges bounds, not exact sums).
    b.event(
        Process::Client(2),
        EventType::Invoke,
        "add",
        None,
        json!(2),
        None,
    );
    b.read_value(1, json!(7)).read_value(1, json!(5));
    b.event(
        Process::Client(2),
        EventType::Ok,
        "add",
        None,
        json!(2),
        None,
    );
    b.read_value(1, json!(7));
    let r = counter::check(&b.build(), &CounterOptions::default()).unwrap();
    assert_eq!(
        (r.verdict, r.reads_checked, r.increments_acknowledged),
        (Verdict::Valid, 4, 2)
    );

    b.read_value(1, json!(4)).read_value(1, json!(8)); // below acknowledged, above attempted
    let r = counter::check(&b.build(), &CounterOptions::default()).unwrap();
    assert_eq!(r.violations.count, 2);
    let v = &r.violations.examples[0];
    assert_eq!((v.lower, v.upper, v.observed), (7, 7, 4));
    // An indeterminate increment stays possible forever.
    let mut b = Builder::new();
    add(&mut b, 0, 4, EventType::Info);
    b.read_value(1, json!(0))
        .read_value(1, json!(4))
        .read_value(1, json!(5));
    let r = counter::check(&b.build(), &CounterOptions::default()).unwrap();
    assert_eq!(r.violations.count, 1);
    assert_eq!(
        (
            r.violations.examples[0].lower,
            r.violations.examples[0].upper
        ),
        (0, 4)
    );
}

/// Counter bounds against a literal sum over every increment, with negative
/// increments, failures, indeterminate ones and concurrency.
#[test]
fn counter_agrees_with_brute_force() {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut total_violations = 0;
    for case in 0..1000 {
        let mut b = Builder::new();
        let mut pending: [Option<(String, Value, EventType)>; 3] = Default::default();
        let mut retired = [false; 3];
        for _ in 0..rng.gen_range(2..30) {
            let p = rng.gen_range(0..3usize);
            if retired[p] {
                continue;
            }
            if rng.gen_bool(0.3) {
                b.same_time();
            }
            match pending[p].take() {
                Some((f, v, kind)) => {
                    retired[p] = kind == EventType::Info;
                    b.event(Process::Client(p as u64), kind, &f, None, v, None);
                }
                None if rng.gen_bool(0.5) => {
                    let v = json!(rng.gen_range(-3..6));
                    let kind = [
                        EventType::Ok,
                        EventType::Ok,
                        EventType::Fail,
                        EventType::Info,
                    ][rng.gen_range(0..4)];
                    b.event(
                        Process::Client(p as u64),
                        EventType::Invoke,
                        "add",
                        None,
                        v.clone(),
                        None,
                    );
                    pending[p] = Some(("add".into(), v, kind));
                }
                None => {
                    b.event(
                        Process::Client(p as u64),
                        EventType::Invoke,
                        "read",
                        None,
                        Value::Null,
                        None,
                    );
                    pending[p] = Some(("read".into(), json!(rng.gen_range(-5..15)), EventType::Ok));
                }
            }
        }
        let h = b.build();
        let want = brute_counter(&h);
        let got = counter::check(&h, &CounterOptions::default())
            .unwrap()
            .violations
            .count;
        assert_eq!(got, want, "case {case}:\n{}", h.to_jsonl());
        total_violations += want;
    }
    assert!(total_violations > 0);
}

fn brute_counter(h: &History) -> u64 {
    let mut n = 0;
    for r in h
        .ops
        .iter()
        .filter(|o| o.f == "read" && o.outcome == Outcome::Ok)
    {
        let (mut lo, mut hi) = (0i64, 0i64);
        for a in h
            .ops
            .iter()
            .filter(|o| o.f == "add" && o.outcome != Outcome::Fail)
        {
            let v = a.input.as_i64().unwrap();
            if a.outcome == Outcome::Ok && a.ret < r.call {
                lo += v;
                hi += v;
            } else if a.call < r.ret {
                lo += v.min(0);
                hi += v.max(0);
            }
        }
        let x = r.output.as_i64().unwrap();
        n += (x < lo || x > hi) as u64;
    }
    n
}

#[test]
fn unique_ids_catches_an_id_handed_out_twice() {
    let mut b = Builder::new();
    for (p, id) in [(0, json!(1)), (1, json!("2")), (0, json!(3)), (2, json!(1))] {
        b.event(
            Process::Client(p),
            EventType::Invoke,
            "generate",
            None,
            Value::Null,
            Some("n1"),
        )
        .event(
            Process::Client(p),
            EventType::Ok,
            "generate",
            None,
            id,
            Some("n1"),
        );
    }
    let r = unique_ids::check(&b.build(), &UniqueIdOptions::default()).unwrap();
    assert_eq!(
        (r.verdict, r.acknowledged, r.distinct, r.duplicates.count),
        (Verdict::Invalid, 4, 3, 1)
    );
    let d = &r.duplicates.examples[0];
    assert_eq!(
        (
            d.first.invoke_index,
            d.second.invoke_index,
            d.second_process
        ),
        (0, 6, 2)
    );
    // "2" and 2 are different IDs.
    let mut b = Builder::new();
    for (p, id) in [(0, json!(2)), (1, json!("2"))] {
        b.event(
            Process::Client(p),
            EventType::Invoke,
            "generate",
            None,
            Value::Null,
            None,
        )
        .event(
            Process::Client(p),
            EventType::Ok,
            "generate",
            None,
            id,
            None,
        );
    }
    assert_eq!(
        unique_ids::check(&b.build(), &UniqueIdOptions::default())
            .unwrap()
            .verdict,
        Verdict::Valid
    );
}

/// Three nodes run the seed-004 scheme (40 bits of ms, 14 of sequence, 10 of node)
/// while clients call `generate` round-robin; node 2's clock is bumped 5 ms back
/// halfway. Trusting the clock reissues IDs; holding the last timestamp does not.
fn id_run(policy: ClockPolicy) -> History {
    let epoch = 1_700_000_000_000;
    let mut gens: Vec<SnowflakeGenerator> = (0..3)
        .map(|n| SnowflakeGenerator::new(n, epoch, policy).unwrap())
        .collect();
    let mut b = Builder::new();
    let mut offset = [0i64; 3];
    for i in 0..600u64 {
        let node = (i % 3) as usize;
        if i == 300 {
            offset[2] = -5; // libfaketime-style step backwards
        }
        // Wall clock advances 1 ms every 6 calls.
        let now = (epoch as i64 + (i / 6) as i64 + offset[node]) as u64;
        let id = gens[node].next_id(now).unwrap();
        let name = format!("n{}", node + 1);
        b.event(
            Process::Client(node as u64),
            EventType::Invoke,
            "generate",
            None,
            Value::Null,
            Some(&name),
        )
        .event(
            Process::Client(node as u64),
            EventType::Ok,
            "generate",
            None,
            json!(id),
            Some(&name),
        );
    }
    b.build()
}

#[test]
fn seed_004_ids_repeat_after_a_backward_clock_bump_and_the_checker_catches_it() {
    let r = unique_ids::check(&id_run(ClockPolicy::Trust), &UniqueIdOptions::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    // Node n3 made 2 IDs per ms; 5 ms replayed = 10 repeats.
    assert_eq!(r.duplicates.count, 10, "{r:#?}");
    let d = &r.duplicates.examples[0];
    assert_eq!(
        (d.first_node.as_deref(), d.second_node.as_deref()),
        (Some("n3"), Some("n3"))
    );
    let (_, seq, node) = decompose(d.id.as_u64().unwrap());
    assert_eq!((seq, node), (0, 2));

    let r = unique_ids::check(&id_run(ClockPolicy::HoldLast), &UniqueIdOptions::default()).unwrap();
    assert_eq!((r.verdict, r.distinct), (Verdict::Valid, 600));
}

#[test]
fn snowflake_layout_and_limits() {
    let mut g = SnowflakeGenerator::new(1023, 1000, ClockPolicy::Trust).unwrap();
    let id = g.next_id(1000 + 42).unwrap();
    assert_eq!(decompose(id), (42, 0, 1023));
    assert_eq!(decompose(g.next_id(1042).unwrap()), (42, 1, 1023));
    assert!(matches!(
        SnowflakeGenerator::new(1024, 0, ClockPolicy::Trust),
        Err(IdError::NodeOutOfRange(1024))
    ));
    assert!(matches!(g.next_id(999), Err(IdError::BeforeEpoch { .. })));
    assert!(matches!(
        g.next_id(1000 + (1 << 40)),
        Err(IdError::TimeOverflow { .. })
    ));
    // Exhausting a millisecond: trust refuses, hold-last borrows the next one.
    let mut t = SnowflakeGenerator::new(0, 0, ClockPolicy::Trust).unwrap();
    let mut h = SnowflakeGenerator::new(0, 0, ClockPolicy::HoldLast).unwrap();
    for _ in 0..=MAX_SEQUENCE {
        t.next_id(7).unwrap();
        h.next_id(7).unwrap();
    }
    assert_eq!(t.next_id(7), Err(IdError::SequenceExhausted { ms: 7 }));
    assert_eq!(decompose(h.next_id(7).unwrap()), (8, 0, 0));
    // Ids from one hold-last generator only grow, whatever the clock does.
    let mut last = 0;
    for now in [10, 12, 3, 3, 11, 13, 1] {
        let id = h.next_id(now).unwrap();
        assert!(id > last);
        last = id;
    }
}
