//! Session guarantees on hand-built append histories (each violation kind and its
//! absence), on registers with versions, and against a brute-force oracle that
//! applies the definitions literally to random histories.

mod consistency_support;

use checker::consistency::session::{
    self, Guarantee, RegisterOptions, SessionOptions, SessionReport,
};
use checker::history::{Event, EventType, History, Outcome, Process};
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

/// Register histories: each operation is invoked and completed before the next, on
/// key 1, with the completion's `version` when given.
#[derive(Default)]
struct Reg {
    events: Vec<Event>,
}

impl Reg {
    fn op(
        &mut self,
        p: u64,
        f: &str,
        input: Value,
        output: Value,
        version: Option<u64>,
    ) -> &mut Self {
        let i = self.events.len() as u64;
        self.events.push(
            Event::new(i, i, Process::Client(p), EventType::Invoke, f)
                .with_key(json!(1))
                .with_value(input),
        );
        let mut done = Event::new(i + 1, i + 1, Process::Client(p), EventType::Ok, f)
            .with_key(json!(1))
            .with_value(output);
        done.version = version;
        self.events.push(done);
        self
    }

    fn write(&mut self, p: u64, value: i64, version: u64) -> &mut Self {
        self.op(p, "write", json!(value), json!(value), Some(version))
    }

    fn read(&mut self, p: u64, value: Value, version: u64) -> &mut Self {
        self.op(p, "read", Value::Null, value, Some(version))
    }

    fn build(&self) -> History {
        History::from_events(self.events.clone()).unwrap()
    }
}

fn check_registers(h: &History) -> SessionReport {
    session::check_registers(h, &RegisterOptions::default())
}

#[test]
fn registers_with_versions_break_each_guarantee_once() {
    let mut b = Reg::default();
    b.write(0, 1, 5)
        .write(0, 3, 2) // MW: not above 5, its previous write
        .read(0, json!(3), 2) // RYW: below its own write 5
        .read(1, json!(1), 5)
        .read(1, json!(0), 3) // MR: below 5, already read
        .write(1, 2, 4); // WFR: not above 5, read before
    let r = check_registers(&b.build());
    assert_eq!(counts(&r), [1, 1, 1, 1]);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.version_conflicts.as_ref().unwrap().count, 0);
    assert_eq!(r.workload, "register");
    let v = &r.read_your_writes.violations.examples[0];
    assert_eq!((v.process, v.first.op, v.second.op), (0, 0, 2));
    assert_eq!(v.observed, "version 2");
    assert!(v.expected.contains("version 5 or later"), "{}", v.expected);
    let v = &r.monotonic_reads.violations.examples[0];
    assert_eq!((v.process, v.first.op, v.second.op), (1, 3, 4));
    let v = &r.writes_follow_reads.violations.examples[0];
    assert_eq!((v.first.op, v.second.op), (3, 5));
    let v = &r.monotonic_writes.violations.examples[0];
    assert_eq!((v.first.op, v.second.op), (0, 1));
}

#[test]
fn registers_keep_every_guarantee_when_versions_grow_and_judge_against_the_high_water_mark() {
    let mut b = Reg::default();
    b.read(0, Value::Null, 0) // a key never written reads as version 0
        .write(0, 1, 3)
        .read(0, json!(1), 3)
        .read(1, json!(1), 3)
        .op(1, "cas", json!([1, 2]), json!([1, 2]), Some(7))
        .read(0, json!(2), 7)
        .read(1, json!(2), 7);
    let r = check_registers(&b.build());
    assert_eq!(r.verdict, Verdict::Valid, "{r:#?}");
    assert_eq!(counts(&r), [0; 4]);
    assert_eq!(r.version_conflicts.as_ref().unwrap().count, 0);
    assert_eq!(
        (r.monotonic_reads.checked, r.read_your_writes.checked),
        (5, 3)
    );
    assert_eq!(
        (r.monotonic_writes.checked, r.writes_follow_reads.checked),
        (2, 2)
    );

    // After a stale read, later reads are still judged against the newest version
    // read, not against the stale one: every read below it is a violation.
    let mut b = Reg::default();
    b.read(0, json!(1), 9)
        .read(0, json!(0), 4)
        .read(0, json!(0), 6);
    assert_eq!(counts(&check_registers(&b.build())), [2, 0, 0, 0]);
}

#[test]
fn registers_without_versions_cannot_be_judged_and_say_why() {
    let mut b = Reg::default();
    b.op(0, "write", json!(1), json!(1), None)
        .op(0, "read", Value::Null, json!(1), None);
    let r = check_registers(&b.build());
    assert_eq!(r.verdict, Verdict::Unknown);
    for g in Guarantee::ALL {
        let report = r.guarantee(g);
        assert_eq!(report.verdict, Verdict::Unknown, "{g:?}");
        let note = report.note.as_ref().unwrap();
        assert!(
            note.contains("no acknowledged operation carries a `version`")
                && note.contains("cannot be judged"),
            "{note}"
        );
    }

    // Some versioned, one read without: the guarantees that read feeds are unknown,
    // monotonic writes (write versions only) is still judged.
    let mut b = Reg::default();
    b.write(0, 1, 2)
        .write(0, 2, 3)
        .op(0, "read", Value::Null, json!(2), None);
    let r = check_registers(&b.build());
    assert_eq!(r.monotonic_writes.verdict, Verdict::Valid);
    for g in [
        Guarantee::MonotonicReads,
        Guarantee::ReadYourWrites,
        Guarantee::WritesFollowReads,
    ] {
        let report = r.guarantee(g);
        assert_eq!(report.verdict, Verdict::Unknown, "{g:?}");
        assert!(
            report
                .note
                .as_ref()
                .unwrap()
                .starts_with("1 acknowledged read(s) carried no `version`"),
            "{:?}",
            report.note
        );
    }
    // A violation stays a violation even when other operations lack versions.
    let mut b = Reg::default();
    b.write(0, 1, 5)
        .read(0, json!(0), 1)
        .op(1, "read", Value::Null, json!(1), None);
    assert_eq!(
        check_registers(&b.build()).read_your_writes.verdict,
        Verdict::Invalid
    );
}

/// Versions that cannot all be true are conflicts: the report is invalid, and the
/// guarantees that looked kept are `unknown`, since they were judged from them.
#[test]
fn contradictory_versions_are_conflicts_and_void_the_guarantees() {
    let conflicts = |b: &Reg| {
        let r = check_registers(&b.build());
        let c = r.version_conflicts.clone().unwrap();
        (r, c)
    };
    // Two acknowledged writes claim one version.
    let mut b = Reg::default();
    b.write(0, 1, 3).write(1, 2, 3);
    let (r, c) = conflicts(&b);
    assert_eq!(c.count, 1);
    let x = &c.examples[0];
    assert_eq!(
        (x.version, x.first.map(|o| o.op), x.second.op),
        (3, Some(0), 1)
    );
    assert!(
        x.detail.contains("also claims to have created version 3"),
        "{}",
        x.detail
    );
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.monotonic_writes.verdict, Verdict::Unknown);
    assert!(r
        .monotonic_writes
        .note
        .as_ref()
        .unwrap()
        .contains("versions contradict each other (1 conflicts"));

    // A read of another value than the write that created its version.
    let mut b = Reg::default();
    b.write(0, 1, 3).read(1, json!(2), 3).read(1, json!(1), 3);
    let (_, c) = conflicts(&b);
    assert_eq!(c.count, 1);
    assert_eq!(
        c.examples[0].detail,
        "read 2 at version 3, which is tied to 1"
    );
    // A read tied first, then a write of another value.
    let mut b = Reg::default();
    b.read(1, json!(2), 3).write(0, 1, 3);
    assert_eq!(
        conflicts(&b).1.examples[0].detail,
        "wrote 1 at version 3, which is tied to 2"
    );
    // Version 0 is a key never written.
    let mut b = Reg::default();
    b.read(0, json!(5), 0).write(0, 1, 0);
    let (_, c) = conflicts(&b);
    assert_eq!(c.count, 2);
    assert_eq!(c.examples[0].first, None);
    // A CAS ties its `to`.
    let mut b = Reg::default();
    b.op(0, "cas", json!([null, 4]), json!([null, 4]), Some(2))
        .read(1, json!(4), 2);
    assert_eq!(conflicts(&b).1.count, 0);
}

/// Versions written to JSONL survive a round trip and reach the checker.
#[test]
fn register_versions_are_read_from_the_jsonl_history() {
    let text = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":1,"value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":1,"value":1,"version":8}
{"index":2,"time":2,"process":0,"type":"invoke","f":"read","key":1,"value":null}
{"index":3,"time":3,"process":0,"type":"ok","f":"read","key":1,"value":null,"version":0}
"#;
    let h = checker::history::parse_jsonl(text).unwrap();
    assert_eq!(h.ops[0].version, Some(8));
    assert_eq!(h.to_jsonl(), text);
    let r = check_registers(&h);
    assert_eq!(r.read_your_writes.violations.count, 1);
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
