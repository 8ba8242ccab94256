//! Session guarantees on hand-built append histories (each violation kind and its
//! absence), on registers with versions, and against a brute-force oracle that
//! applies the definitions literally to random histories.

mod consistency_support;

use checker::consistency::session::{
    self, Guarantee, RegisterOptions, SessionOptions, SessionReport,
};
use checker::history::{EventType, History, Outcome};
use checker::verdict::Verdict;
use consistency_support::{k, Builder};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;

fn check(h: &History) -> SessionReport {
    session::check(h, &SessionOptions::default()).expect("well-shaped history")
}

fn counts(r: &SessionReport) -> [u64; 4] {
    Guarantee::ALL.map(|g| r.guarantee(g).violations.count)
}

#[test]
fn a_correct_history_keeps_every_guarantee() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .read(0, k(1), json!([1]))
        .read(1, k(1), json!(null))
        .append(1, k(1), json!(2))
        .read(1, k(1), json!([1, 2]))
        .append(0, k(1), json!(3))
        .read(0, k(1), json!([1, 2, 3]))
        .read(1, k(1), json!([1, 2, 3]));
    let r = check(&b.build());
    assert_eq!(r.verdict, Verdict::Valid, "{r:#?}");
    assert_eq!(counts(&r), [0; 4]);
    assert_eq!(r.monotonic_reads.checked, 5);
}

#[test]
fn a_stale_read_breaks_monotonic_reads_only() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .append(0, k(1), json!(2))
        .read(1, k(1), json!([1, 2]))
        .read(1, k(1), json!([1]));
    let r = check(&b.build());
    assert_eq!(counts(&r), [1, 0, 0, 0]);
    let v = &r.monotonic_reads.violations.examples[0];
    assert_eq!(v.process, 1);
    assert_eq!(v.key, json!(1));
    assert_eq!((v.first.invoke_index, v.second.invoke_index), (4, 6));
    assert!(
        v.observed.contains("stale prefix") && v.observed.contains("[2]"),
        "{}",
        v.observed
    );
    assert_eq!(r.monotonic_reads.verdict, Verdict::Invalid);
    assert_eq!(r.monotonic_writes.verdict, Verdict::Valid);
    // Nobody read after writing: read-your-writes had nothing to judge.
    assert_eq!(r.read_your_writes.verdict, Verdict::Unknown);
}

#[test]
fn monotonic_reads_compares_with_the_high_water_mark_and_reports_divergence() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .append(0, k(1), json!(2))
        .append(2, k(1), json!(3))
        .read(1, k(1), json!([1, 2]))
        .read(1, k(1), json!([1, 3])) // diverges
        .read(1, k(1), json!([1])) // still behind [1, 2]
        .read(1, k(1), json!([1, 2, 3])); // extends [1, 2]: fine
    let r = check(&b.build());
    assert_eq!(r.monotonic_reads.violations.count, 2);
    let first = &r.monotonic_reads.violations.examples[0];
    assert!(
        first.observed.contains("diverges at position 1"),
        "{}",
        first.observed
    );
    // Other keys and other processes are separate sessions.
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .read(1, k(1), json!([1]))
        .read(2, k(1), json!([]))
        .read(1, k(2), json!([]));
    assert_eq!(check(&b.build()).monotonic_reads.violations.count, 0);
}

#[test]
fn missing_own_acknowledged_append_breaks_read_your_writes() {
    let mut b = Builder::new();
    b.append(0, k(1), json!("a"))
        .read(1, k(1), json!(["a"]))
        .append(0, k(1), json!("b"))
        .read(0, k(1), json!(["a"]));
    let r = check(&b.build());
    assert_eq!(counts(&r), [0, 0, 1, 0]);
    let v = &r.read_your_writes.violations.examples[0];
    assert_eq!(
        (v.process, v.first.invoke_index, v.second.invoke_index),
        (0, 4, 6)
    );
    assert!(v.expected.contains("\"b\""), "{}", v.expected);
    // Another process not seeing it is no violation; a failed or indeterminate own
    // append is not owed either.
    let mut b = Builder::new();
    b.append(0, k(1), json!("a"))
        .read(1, k(1), json!([]))
        .append_as(2, k(1), json!("c"), EventType::Fail);
    b.read(2, k(1), json!([]));
    assert_eq!(check(&b.build()).read_your_writes.violations.count, 0);
}

#[test]
fn read_your_writes_sees_through_reordering_that_breaks_monotonic_writes() {
    // Own writes all present, but out of order: RYW holds, MW does not.
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .append(0, k(1), json!(2))
        .read(0, k(1), json!([2, 1]));
    let r = check(&b.build());
    assert_eq!(counts(&r), [0, 1, 0, 0]);
    let v = &r.monotonic_writes.violations.examples[0];
    assert_eq!(
        (v.process, v.first.invoke_index, v.second.invoke_index),
        (0, 0, 2)
    );
    assert_eq!(v.witness.unwrap().invoke_index, 4);
    assert!(v.observed.contains("after"), "{}", v.observed);
    // A later own append missing while an earlier one is out of order: RYW slow path.
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .append(0, k(1), json!(2))
        .append(0, k(1), json!(3))
        .read(0, k(1), json!([3, 1]));
    let r = check(&b.build());
    assert_eq!(r.read_your_writes.violations.count, 1);
    assert!(r.read_your_writes.violations.examples[0]
        .expected
        .contains('2'));
}

#[test]
fn another_process_seeing_a_later_write_without_an_earlier_one_breaks_monotonic_writes() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .append(0, k(1), json!(2))
        .read(1, k(1), json!([2]))
        .read(2, k(1), json!([2]));
    let r = check(&b.build());
    assert_eq!(
        r.monotonic_writes.violations.count, 2,
        "each witnessing read counts"
    );
    assert!(r.monotonic_writes.violations.examples[0]
        .observed
        .contains("without 1"));
    // An indeterminate first write imposes no order; an indeterminate second one
    // that shows up does.
    let mut b = Builder::new();
    b.append_as(0, k(1), json!(1), EventType::Info)
        .append(1, k(1), json!(5))
        .append_as(1, k(1), json!(6), EventType::Info);
    b.read(2, k(1), json!([5, 6]));
    assert_eq!(check(&b.build()).monotonic_writes.violations.count, 0);
    let mut b = Builder::new();
    b.append(1, k(1), json!(5))
        .append_as(1, k(1), json!(6), EventType::Info)
        .read(2, k(1), json!([6]));
    assert_eq!(check(&b.build()).monotonic_writes.violations.count, 1);
}

#[test]
fn a_write_seen_without_what_its_writer_had_read_breaks_writes_follow_reads() {
    let mut b = Builder::new();
    b.append(0, k(1), json!("x"))
        .read(1, k(1), json!(["x"]))
        .append(1, k(1), json!("y"))
        .read(2, k(1), json!(["y"])) // y without x
        .read(2, k(1), json!(["x", "y"]));
    let r = check(&b.build());
    assert_eq!(counts(&r), [1, 0, 0, 1]);
    let v = &r.writes_follow_reads.violations.examples[0];
    assert_eq!(v.process, 1);
    assert_eq!((v.first.invoke_index, v.second.invoke_index), (2, 4));
    assert_eq!(v.witness.unwrap().invoke_index, 6);
    assert!(v.observed.contains("without \"x\""), "{}", v.observed);
    // Same elements, other order: x after y is also a violation; a write not preceded
    // by a read has no dependency.
    let mut b = Builder::new();
    b.append(0, k(1), json!("x"))
        .read(1, k(1), json!(["x"]))
        .append(1, k(1), json!("y"))
        .read(2, k(1), json!(["y", "x"]));
    assert_eq!(check(&b.build()).writes_follow_reads.violations.count, 1);
    let mut b = Builder::new();
    b.append(0, k(1), json!("x"))
        .append(1, k(1), json!("y"))
        .read(2, k(1), json!(["y"]));
    assert_eq!(check(&b.build()).writes_follow_reads.violations.count, 0);
}

#[test]
fn duplicates_are_reported_and_bad_shapes_are_errors() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1)).read(1, k(1), json!([1, 1]));
    assert_eq!(check(&b.build()).reads_with_duplicates.count, 1);

    let mut b = Builder::new();
    b.append(0, k(1), json!(1)).append(1, k(1), json!(1));
    let err = session::check(&b.build(), &SessionOptions::default()).unwrap_err();
    assert_eq!(err.invoke_index, 2);
    assert!(err.to_string().contains("second time"), "{err}");

    let mut b = Builder::new();
    b.read(0, k(1), json!(3));
    let err = session::check(&b.build(), &SessionOptions::default()).unwrap_err();
    assert!(err.to_string().contains("list or null"), "{err}");
}

#[test]
fn examples_are_bounded_but_counts_exact() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1)).read(1, k(1), json!([1]));
    for _ in 0..25 {
        b.read(1, k(1), json!([]));
    }
    let r = session::check(&b.build(), &SessionOptions { max_examples: 3 }).unwrap();
    assert_eq!(r.monotonic_reads.violations.count, 25);
    assert_eq!(r.monotonic_reads.violations.examples.len(), 3);
}

// ---------------------------------------------------------------------------------
// Registers.

fn reg(b: &mut Builder, p: u64, f: &str, value: Value, out: Value) {
    b.invoke(p, f, k(1), value)
        .complete(p, EventType::Ok, f, k(1), out);
}

#[test]
fn registers_with_versions_are_judged_and_without_them_are_unknown() {
    let mut b = Builder::new();
    reg(&mut b, 0, "write", json!(1), json!({"version": 5}));
    reg(
        &mut b,
        0,
        "read",
        Value::Null,
        json!({"value": 1, "version": 4}),
    ); // RYW
    reg(
        &mut b,
        1,
        "read",
        Value::Null,
        json!({"value": 1, "version": 5}),
    );
    reg(
        &mut b,
        1,
        "read",
        Value::Null,
        json!({"value": 0, "version": 3}),
    ); // MR
    reg(&mut b, 1, "write", json!(2), json!({"version": 4})); // WFR (read 5)
    reg(&mut b, 0, "write", json!(3), json!({"version": 5})); // MW
    let r = session::check_registers(&b.build(), &RegisterOptions::default());
    assert_eq!(counts(&r), [1, 1, 1, 1]);
    assert_eq!(r.verdict, Verdict::Invalid);

    let mut b = Builder::new();
    reg(&mut b, 0, "write", json!(1), json!(null));
    reg(&mut b, 0, "read", Value::Null, json!(1));
    let r = session::check_registers(&b.build(), &RegisterOptions::default());
    for g in Guarantee::ALL {
        assert_eq!(r.guarantee(g).verdict, Verdict::Unknown, "{g:?}");
        assert!(r
            .guarantee(g)
            .note
            .as_ref()
            .unwrap()
            .contains("cannot be judged"));
    }
}

// ---------------------------------------------------------------------------------
// Differential: the checker against the definitions applied literally.

/// A random append history: a few processes and keys, and reads that return the
/// true list, stale prefixes, lists with elements dropped, swapped or repeated, and
/// phantoms, so every guarantee is both kept and broken somewhere.
fn random_history(rng: &mut SmallRng) -> History {
    let mut b = Builder::new();
    let mut truth: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut next = 0i64;
    let mut retired = [false; 4];
    for _ in 0..rng.gen_range(5..40) {
        let p = rng.gen_range(0..4u64);
        if retired[p as usize] {
            continue;
        }
        let key = rng.gen_range(0..2i64);
        let list = truth.entry(key).or_default();
        if rng.gen_bool(0.4) {
            next += 1;
            let kind = match rng.gen_range(0..10) {
                0 => EventType::Fail,
                1 => EventType::Info,
                _ => EventType::Ok,
            };
            if kind != EventType::Fail && (kind == EventType::Ok || rng.gen_bool(0.5)) {
                list.push(next);
            }
            if kind == EventType::Info {
                retired[p as usize] = true;
            }
            b.append_as(p, k(key), elem(next), kind);
        } else {
            let mut seen: Vec<i64> = list[..rng.gen_range(0..=list.len())].to_vec();
            match rng.gen_range(0..8) {
                0 if !seen.is_empty() => {
                    let i = rng.gen_range(0..seen.len());
                    seen.remove(i);
                }
                1 if seen.len() >= 2 => {
                    let i = rng.gen_range(0..seen.len() - 1);
                    seen.swap(i, i + 1);
                }
                2 if !seen.is_empty() => {
                    let i = rng.gen_range(0..seen.len());
                    seen.push(seen[i]);
                }
                3 => seen.push(1000 + rng.gen_range(0..3)),
                _ => {}
            }
            b.read(
                p,
                k(key),
                Value::Array(seen.into_iter().map(elem).collect()),
            );
        }
    }
    b.build()
}

/// Elements are integers, with every third one a string, so that both the integer
/// fast path and the general comparison of the index are exercised.
fn elem(i: i64) -> Value {
    if i % 3 == 0 {
        json!(format!("e{i}"))
    } else {
        json!(i)
    }
}

fn list_of(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn pos(list: &[Value], x: &Value) -> Option<usize> {
    list.iter().position(|y| y == x)
}

/// Counts violating reads per guarantee, straight from the definitions.
fn brute_force(h: &History) -> [u64; 4] {
    let mut c = [0u64; 4];
    let mut hw: HashMap<(u64, String), Vec<Value>> = HashMap::new();
    let mut own_ok: HashMap<(u64, String), Vec<Value>> = HashMap::new();
    // Per element: writer process, the writer's earlier acknowledged appends, and the
    // writer's high-water read when it appended.
    let mut earlier: HashMap<(String, Value), Vec<Value>> = HashMap::new();
    let mut deps: HashMap<(String, Value), Vec<Value>> = HashMap::new();
    for op in &h.ops {
        let s = (op.process, op.key.as_ref().unwrap().to_string());
        if op.f == "append" {
            let e = (s.1.clone(), op.input.clone());
            earlier.insert(e.clone(), own_ok.get(&s).cloned().unwrap_or_default());
            deps.insert(e, hw.get(&s).cloned().unwrap_or_default());
            if op.outcome == Outcome::Ok {
                own_ok.entry(s).or_default().push(op.input.clone());
            }
        } else if op.outcome == Outcome::Ok {
            let r = list_of(&op.output);
            let h = hw.entry(s.clone()).or_default();
            if r.len() >= h.len() && r[..h.len()] == h[..] {
                *h = r.clone();
            } else {
                c[0] += 1;
            }
            if own_ok
                .get(&s)
                .is_some_and(|own| own.iter().any(|x| !r.contains(x)))
            {
                c[2] += 1;
            }
        }
    }
    for op in h
        .ops
        .iter()
        .filter(|o| o.f == "read" && o.outcome == Outcome::Ok)
    {
        let key = op.key.as_ref().unwrap().to_string();
        let r = list_of(&op.output);
        let broken = |table: &HashMap<(String, Value), Vec<Value>>| {
            r.iter().enumerate().any(|(i, w2)| {
                table
                    .get(&(key.clone(), w2.clone()))
                    .is_some_and(|before| before.iter().any(|w1| pos(&r[..i], w1).is_none()))
            })
        };
        c[1] += broken(&earlier) as u64;
        c[3] += broken(&deps) as u64;
    }
    c
}

#[test]
fn agrees_with_brute_force_on_random_histories() {
    let mut rng = SmallRng::seed_from_u64(0xfa17);
    let mut seen_violation = [0u64; 4];
    for case in 0..3000 {
        let h = random_history(&mut rng);
        let got = counts(&check(&h));
        let want = brute_force(&h);
        assert_eq!(got, want, "case {case}: history\n{}", h.to_jsonl());
        for i in 0..4 {
            seen_violation[i] += want[i];
        }
    }
    assert!(
        seen_violation.iter().all(|&n| n > 0),
        "the generator must exercise every guarantee: {seen_violation:?}"
    );
}

#[test]
fn a_history_without_reads_proves_nothing() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1)).append(1, k(1), json!(2));
    let r = check(&b.build());
    assert_eq!(r.verdict, Verdict::Unknown);
    for g in Guarantee::ALL {
        assert!(
            r.guarantee(g)
                .note
                .as_ref()
                .unwrap()
                .starts_with("nothing to judge"),
            "{g:?}"
        );
    }
}
