//! Eventual consistency: convergence of final reads, and set-full classification of
//! elements on hand-built histories and against a brute-force oracle.

mod consistency_support;

use checker::consistency::eventual::{self, Collection, EventualOptions, EventualReport};
use checker::history::{EventType, History, Outcome, Process};
use checker::verdict::Verdict;
use consistency_support::{k, Builder};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

fn check(h: &History, collection: Collection) -> EventualReport {
    eventual::check(h, &EventualOptions::new(collection)).expect("well-shaped history")
}

fn finals(b: &mut Builder, key: Option<Value>, values: &[(&str, Value)]) {
    for (i, (node, v)) in values.iter().enumerate() {
        b.final_read(100 + i as u64, node, key.clone(), v.clone());
    }
}

#[test]
fn converged_final_reads_and_stable_elements_are_valid() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .read(1, k(1), json!([1]))
        .nemesis("start-partition")
        .append(0, k(1), json!(2));
    b.nemesis("stop-partition");
    finals(
        &mut b,
        Some(k(1)),
        &[
            ("n1", json!([1, 2])),
            ("n2", json!([1, 2])),
            ("n3", json!([1, 2])),
        ],
    );
    let r = check(&b.build(), Collection::Append);
    assert_eq!(r.verdict, Verdict::Valid, "{r:#?}");
    let e = r.elements.unwrap();
    assert_eq!(
        (e.attempted, e.acknowledged, e.stable, e.stale, e.lost),
        (2, 2, 2, 0, 0)
    );
    assert_eq!(r.convergence.final_heal_ns, Some(80));
    assert_eq!(r.convergence.quiet_ns, Some(10));
    assert_eq!(r.convergence.keys_checked, 1);
}

#[test]
fn diverging_final_reads_are_reported_by_node() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .append(0, k(1), json!(2))
        .nemesis("stop-partition");
    finals(
        &mut b,
        Some(k(1)),
        &[
            ("n1", json!([1, 2])),
            ("n2", json!([1])),
            ("n3", json!([1, 2])),
        ],
    );
    let r = check(&b.build(), Collection::Append);
    assert_eq!(r.convergence.verdict, Verdict::Invalid);
    let d = &r.convergence.divergent_keys.examples[0];
    assert_eq!(d.key, json!(1));
    assert_eq!(d.values[0].nodes, vec!["n1", "n3"]);
    assert_eq!(d.values[1].nodes, vec!["n2"]);
    assert_eq!(d.values[1].value, "[1]");
    // n2's final read lacks 2 while n1's and n3's have it: missing on some nodes,
    // not lost (lost is gone from every node's final read), and not stale either.
    let e = r.elements.as_ref().unwrap();
    assert_eq!((e.lost, e.missing_on_some_nodes, e.stale), (0, 1, 0));
    let m = &e.missing_on_some_nodes_examples[0];
    assert_eq!((m.key.clone(), m.element.clone()), (json!(1), json!(2)));
    assert_eq!(
        (m.present_on.clone(), m.missing_on.clone()),
        (
            vec!["n1".to_string(), "n3".to_string()],
            vec!["n2".to_string()]
        )
    );
    assert!(
        r.summary()
            .contains("0 lost (gone from every node), 1 missing on some nodes"),
        "{}",
        r.summary()
    );
}

#[test]
fn an_element_gone_from_every_nodes_final_read_is_lost() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1))
        .append(0, k(1), json!(2))
        .read(1, k(1), json!([1, 2]))
        .nemesis("stop-partition");
    finals(
        &mut b,
        Some(k(1)),
        &[("n1", json!([1])), ("n2", json!([1])), ("n3", json!([1]))],
    );
    let r = check(&b.build(), Collection::Append);
    let e = r.elements.unwrap();
    assert_eq!((e.lost, e.missing_on_some_nodes), (1, 0));
    assert_eq!(e.lost_elements[0].element, json!(2));
    assert_eq!(r.verdict, Verdict::Invalid);
}

#[test]
fn divergence_without_the_promised_quiet_period_is_unknown() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1)).nemesis("stop-partition");
    finals(&mut b, Some(k(1)), &[("n1", json!([1])), ("n2", json!([]))]);
    let h = b.build();
    let mut opts = EventualOptions::new(Collection::Append);
    opts.quiet_period_ns = Some(1_000_000);
    let r = eventual::check(&h, &opts).unwrap();
    assert_eq!(r.convergence.verdict, Verdict::Unknown);
    assert!(
        r.convergence.problems.examples[0].contains("quiet period"),
        "{:?}",
        r.convergence.problems
    );
    opts.quiet_period_ns = Some(5);
    assert_eq!(
        eventual::check(&h, &opts).unwrap().convergence.verdict,
        Verdict::Invalid
    );
}

#[test]
fn missing_nodes_early_final_reads_and_unread_keys_leave_convergence_unknown() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1)).append(0, k(2), json!(1));
    b.final_read(100, "n1", Some(k(1)), json!([1]));
    b.nemesis("stop-partition");
    let mut opts = EventualOptions::new(Collection::Append);
    opts.nodes = Some(vec!["n1".into(), "n2".into()]);
    let r = eventual::check(&b.build(), &opts).unwrap();
    assert_eq!(r.convergence.verdict, Verdict::Unknown);
    let problems = r.convergence.problems.examples.join("\n");
    assert!(problems.contains("before the final heal"), "{problems}");
    assert!(
        problems.contains("key 2 was written but has no final read"),
        "{problems}"
    );
    assert!(problems.contains("from node n2"), "{problems}");
    // No final reads at all.
    let mut b = Builder::new();
    b.append(0, k(1), json!(1)).read(0, k(1), json!([1]));
    let r = check(&b.build(), Collection::Append);
    assert_eq!(r.convergence.verdict, Verdict::Unknown);
    assert_eq!(r.verdict, Verdict::Unknown);
}

/// The runner retries a final read that fails (a node between leaders answers
/// `no-leader`); a failed attempt followed by a completed one on the same node is no
/// problem, while a node whose every attempt failed still leaves convergence unknown.
#[test]
fn a_failed_final_read_retried_to_completion_is_no_problem() {
    let mut b = Builder::new();
    b.append(0, k(1), json!(1));
    b.nemesis("stop-partition");
    b.at(100)
        .event(
            Process::Client(100),
            EventType::Invoke,
            "final-read",
            Some(k(1)),
            Value::Null,
            Some("n1"),
        )
        .event(
            Process::Client(100),
            EventType::Fail,
            "final-read",
            Some(k(1)),
            Value::Null,
            Some("n1"),
        )
        .event(
            Process::Client(101),
            EventType::Invoke,
            "final-read",
            Some(k(1)),
            Value::Null,
            Some("n2"),
        )
        .event(
            Process::Client(101),
            EventType::Fail,
            "final-read",
            Some(k(1)),
            Value::Null,
            Some("n2"),
        );
    b.final_read(100, "n1", Some(k(1)), json!([1]));
    let mut opts = EventualOptions::new(Collection::Append);
    opts.nodes = Some(vec!["n1".into()]);
    let r = eventual::check(&b.build(), &opts).unwrap();
    let problems = r.convergence.problems.examples.join("\n");
    assert!(!problems.contains("on node n1"), "{problems}");
    assert!(
        problems.contains("final read of key 1 on node n2 did not complete"),
        "{problems}"
    );
    // Only n1 is a node of the test, and it completed: valid.
    let mut b2 = Builder::new();
    b2.append(0, k(1), json!(1));
    b2.nemesis("stop-partition");
    b2.at(100)
        .event(
            Process::Client(100),
            EventType::Invoke,
            "final-read",
            Some(k(1)),
            Value::Null,
            Some("n1"),
        )
        .event(
            Process::Client(100),
            EventType::Fail,
            "final-read",
            Some(k(1)),
            Value::Null,
            Some("n1"),
        );
    b2.final_read(100, "n1", Some(k(1)), json!([1]));
    let r = eventual::check(&b2.build(), &opts).unwrap();
    assert_eq!(r.convergence.verdict, Verdict::Valid, "{r:#?}");
}

#[test]
fn multi_version_registers_converge_on_the_same_siblings() {
    let mut b = Builder::new();
    b.invoke(0, "write", k(1), json!(1))
        .complete(0, EventType::Ok, "write", k(1), Value::Null);
    finals(
        &mut b,
        Some(k(1)),
        &[
            ("n1", json!({"value": 1, "siblings": [1, 2]})),
            ("n2", json!({"value": 2, "siblings": [2, 1]})),
        ],
    );
    assert_eq!(
        check(&b.build(), Collection::Register).verdict,
        Verdict::Valid
    );
    let mut b = Builder::new();
    finals(
        &mut b,
        Some(k(1)),
        &[
            ("n1", json!({"siblings": [1, 2]})),
            ("n2", json!({"siblings": [2]})),
        ],
    );
    let r = check(&b.build(), Collection::Register);
    assert_eq!(r.convergence.verdict, Verdict::Invalid);
    assert!(r.elements.is_none());
}

#[test]
fn set_full_classes_on_a_set_history() {
    let mut b = Builder::new();
    b.add(0, json!("stable"), EventType::Ok) // t 20
        .add(0, json!("stale"), EventType::Ok) // t 40
        .add(0, json!("lost"), EventType::Ok) // t 60
        .add(1, json!("maybe"), EventType::Info) // never completes ok; process 1 retires
        .add(2, json!("recovered"), EventType::Info)
        .add(3, json!("failed"), EventType::Fail)
        .add(3, json!("unseen-ok"), EventType::Ok)
        .read_value(4, json!(["stable", "lost", "recovered"])) // call 150: misses stale
        .read_value(
            4,
            json!(["stable", "stale", "lost", "recovered", "failed", "ghost"]),
        )
        .read_value(4, json!(["stable", "stale", "recovered", "recovered"]));
    let h = b.build();
    let r = check(&h, Collection::Set);
    let e = r.elements.unwrap();
    assert_eq!(e.attempted, 7);
    assert_eq!(e.acknowledged, 4);
    assert_eq!(e.stable, 1, "{e:#?}");
    assert_eq!(e.stale, 1);
    assert_eq!(
        e.lost, 2,
        "'lost' and 'unseen-ok' are both missing from the last read"
    );
    assert_eq!(e.recovered, 1);
    assert_eq!(e.indeterminate_unseen, 1);
    assert_eq!(
        e.unexpected.count, 2,
        "a failed add observed, and a phantom"
    );
    assert_eq!(e.duplicated, 1);
    assert_eq!(e.verdict, Verdict::Invalid);
    let lost: Vec<&Value> = e.lost_elements.iter().map(|l| &l.element).collect();
    assert_eq!(lost, vec![&json!("lost"), &json!("unseen-ok")]);
    assert_eq!(e.lost_elements[0].last_absent.invoke_index, 18);
    let stale = &e.stale_examples[0];
    assert_eq!(stale.element, json!("stale"));
    // Known at its ack (t 40); the last read missing it began at t 150.
    assert_eq!((stale.known_ns, stale.latency_ns), (40, 110));
    assert_eq!(e.stable_latency.count, 3);
    assert_eq!(e.stable_latency.max_ns, 110);
}

#[test]
fn elements_acknowledged_after_the_last_read_are_never_read_and_unknown() {
    let mut b = Builder::new();
    b.read_value(0, json!([])).add(0, json!(1), EventType::Ok);
    let e = check(&b.build(), Collection::Set).elements.unwrap();
    assert_eq!((e.never_read, e.verdict), (1, Verdict::Unknown));
    let mut opts = EventualOptions::new(Collection::Set);
    opts.stale_is_error = true;
    let mut b = Builder::new();
    b.add(0, json!(1), EventType::Ok)
        .read_value(0, json!([]))
        .read_value(0, json!([1]));
    let e = eventual::check(&b.build(), &opts)
        .unwrap()
        .elements
        .unwrap();
    assert_eq!((e.stale, e.verdict), (1, Verdict::Invalid));
}

// ---------------------------------------------------------------------------------
// Differential: classification against a literal per-element, per-read oracle.

#[derive(Debug, Default, PartialEq)]
struct Classes {
    stable: u64,
    stale: u64,
    lost: u64,
    missing_on_some_nodes: u64,
    never_read: u64,
    recovered: u64,
    unseen: u64,
    unexpected: u64,
    duplicated: u64,
    latencies: Vec<u64>,
}

fn brute_force(h: &History, add_f: &str) -> Classes {
    let mut c = Classes::default();
    let key_of = |o: &checker::history::Operation| o.key.clone().unwrap_or(Value::Null);
    let mut reads: Vec<&checker::history::Operation> = h
        .ops
        .iter()
        .filter(|o| (o.f == "read" || o.f == "final-read") && o.outcome == Outcome::Ok)
        .collect();
    reads.sort_by_key(|o| (o.call, o.id));
    let list = |o: &checker::history::Operation| o.output.as_array().cloned().unwrap_or_default();
    let mut elements: Vec<(Value, Value)> = Vec::new();
    for o in &h.ops {
        if o.f == add_f && !elements.contains(&(key_of(o), o.input.clone())) {
            elements.push((key_of(o), o.input.clone()));
        }
    }
    for r in &reads {
        for v in list(r) {
            if !elements.contains(&(key_of(r), v.clone())) {
                elements.push((key_of(r), v.clone()));
            }
        }
    }
    for (key, v) in &elements {
        let add = h
            .ops
            .iter()
            .find(|o| o.f == add_f && key_of(o) == *key && o.input == *v);
        let key_reads: Vec<_> = reads.iter().filter(|r| key_of(r) == *key).collect();
        if key_reads
            .iter()
            .any(|r| list(r).iter().filter(|x| *x == v).count() > 1)
        {
            c.duplicated += 1;
        }
        let seen = key_reads
            .iter()
            .filter(|r| list(r).contains(v))
            .map(|r| r.ret)
            .min();
        let known = match (add.map(|a| a.outcome), seen) {
            (None, Some(_)) | (Some(Outcome::Fail), Some(_)) => {
                c.unexpected += 1;
                continue;
            }
            (None, None) | (Some(Outcome::Fail), None) => continue,
            (Some(Outcome::Info), None) => {
                c.unseen += 1;
                continue;
            }
            (Some(Outcome::Info), Some(s)) => s,
            (Some(Outcome::Ok), s) => s.map_or(add.unwrap().ret, |s| s.min(add.unwrap().ret)),
        };
        let info = add.unwrap().outcome == Outcome::Info;
        let after: Vec<_> = key_reads.iter().filter(|r| r.call > known).collect();
        if after.is_empty() {
            c.never_read += 1;
            continue;
        }
        // Each node's last final read of the key, if it began after `known`, decides
        // whether the element is gone everywhere or missing on some nodes.
        let mut last_final: std::collections::BTreeMap<String, &checker::history::Operation> =
            Default::default();
        for r in key_reads.iter().filter(|r| r.f == "final-read") {
            last_final.insert(r.node.clone().unwrap_or_default(), r);
        }
        let owed: Vec<_> = last_final.values().filter(|r| r.call > known).collect();
        let lacking = owed.iter().filter(|r| !list(r).contains(v)).count();
        if lacking > 0 && lacking == owed.len() {
            c.lost += 1;
            continue;
        }
        if lacking > 0 {
            c.missing_on_some_nodes += 1;
            continue;
        }
        match after.iter().rposition(|r| !list(r).contains(v)) {
            None if info => {
                c.recovered += 1;
                c.latencies.push(0)
            }
            None => {
                c.stable += 1;
                c.latencies.push(0)
            }
            Some(j) if j + 1 == after.len() => c.lost += 1,
            Some(j) => {
                if info {
                    c.recovered += 1
                } else {
                    c.stale += 1
                }
                c.latencies.push(after[j].call - known)
            }
        }
    }
    c.latencies.sort_unstable();
    c
}

fn classes(r: &EventualReport) -> Classes {
    let e = r.elements.as_ref().unwrap();
    Classes {
        stable: e.stable,
        stale: e.stale,
        lost: e.lost,
        missing_on_some_nodes: e.missing_on_some_nodes,
        never_read: e.never_read,
        recovered: e.recovered,
        unseen: e.indeterminate_unseen,
        unexpected: e.unexpected.count,
        duplicated: e.duplicated,
        latencies: Vec::new(),
    }
}

/// Concurrent random histories: up to four processes with one operation pending
/// each, reads returning true prefixes (append) or subsets (set) with drops,
/// swaps, repeats and phantoms, then final reads.
fn random_history(rng: &mut SmallRng, collection: Collection) -> History {
    let add_f = if collection == Collection::Append {
        "append"
    } else {
        "add"
    };
    let mut b = Builder::new();
    let mut truth: Vec<Vec<i64>> = vec![Vec::new(); 2];
    let mut pending: [Option<(String, Value, Value, EventType)>; 4] = Default::default();
    let mut retired = [false; 4];
    let mut next = 0;
    let keyed = collection == Collection::Append;
    let key = |i: usize| if keyed { Some(k(i as i64)) } else { None };
    for _ in 0..rng.gen_range(4..40) {
        let p = rng.gen_range(0..4usize);
        if retired[p] {
            continue;
        }
        let kk = if keyed { rng.gen_range(0..2) } else { 0 };
        if rng.gen_bool(0.3) {
            b.same_time();
        }
        match pending[p].take() {
            Some((f, kv, v, kind)) => {
                if kind == EventType::Info {
                    retired[p] = true;
                }
                let kv = if kv.is_null() { None } else { Some(kv) };
                b.event(Process::Client(p as u64), kind, &f, kv, v, None);
            }
            None => {
                if rng.gen_bool(0.45) {
                    next += 1;
                    let kind = [
                        EventType::Ok,
                        EventType::Ok,
                        EventType::Ok,
                        EventType::Fail,
                        EventType::Info,
                    ][rng.gen_range(0..5)];
                    if kind == EventType::Ok || (kind == EventType::Info && rng.gen_bool(0.5)) {
                        truth[kk].push(next);
                    }
                    b.event(
                        Process::Client(p as u64),
                        EventType::Invoke,
                        add_f,
                        key(kk),
                        json!(next),
                        None,
                    );
                    pending[p] = Some((
                        add_f.into(),
                        key(kk).unwrap_or(Value::Null),
                        json!(next),
                        kind,
                    ));
                } else {
                    let seen = random_read(rng, &truth[kk], keyed);
                    b.event(
                        Process::Client(p as u64),
                        EventType::Invoke,
                        "read",
                        key(kk),
                        Value::Null,
                        None,
                    );
                    pending[p] = Some((
                        "read".into(),
                        key(kk).unwrap_or(Value::Null),
                        json!(seen),
                        EventType::Ok,
                    ));
                }
            }
        }
    }
    for (p, slot) in pending.iter_mut().enumerate() {
        if let Some((f, kv, v, kind)) = slot.take() {
            let kv = if kv.is_null() { None } else { Some(kv) };
            if rng.gen_bool(0.8) {
                b.event(Process::Client(p as u64), kind, &f, kv, v, None);
            }
        }
    }
    final_reads(rng, &mut b, &truth, keyed);
    b.build()
}

/// What a read returns: a true prefix (append) or subset (set) of what was added,
/// then, sometimes, one drop, repeat, phantom or swap.
fn random_read(rng: &mut SmallRng, truth: &[i64], keyed: bool) -> Vec<i64> {
    let mut seen: Vec<i64> = if keyed {
        truth[..rng.gen_range(0..=truth.len())].to_vec()
    } else {
        truth
            .iter()
            .copied()
            .filter(|_| rng.gen_bool(0.8))
            .collect()
    };
    match rng.gen_range(0..10) {
        0 if !seen.is_empty() => {
            let i = rng.gen_range(0..seen.len());
            seen.remove(i);
        }
        1 if !seen.is_empty() => {
            let i = rng.gen_range(0..seen.len());
            seen.push(seen[i]);
        }
        2 => seen.push(500 + rng.gen_range(0..3)),
        3 => seen.shuffle(rng),
        _ => {}
    }
    seen
}

/// The heal, then each key's final read on two nodes, one sometimes missing the
/// last element (so some histories do not converge).
fn final_reads(rng: &mut SmallRng, b: &mut Builder, truth: &[Vec<i64>], keyed: bool) {
    let key = |i: usize| if keyed { Some(k(i as i64)) } else { None };
    b.nemesis("stop-partition");
    for (kk, t) in truth.iter().enumerate().take(if keyed { 2 } else { 1 }) {
        for (i, node) in ["n1", "n2"].iter().enumerate() {
            let mut v = t.clone();
            if rng.gen_bool(0.2) {
                v.pop();
            }
            b.final_read(10 + (kk * 2 + i) as u64, node, key(kk), json!(v));
        }
    }
}

#[test]
fn agrees_with_brute_force_on_random_set_and_append_histories() {
    let mut rng = SmallRng::seed_from_u64(0xe7e7);
    for collection in [Collection::Set, Collection::Append] {
        let add_f = if collection == Collection::Append {
            "append"
        } else {
            "add"
        };
        let mut totals = Classes::default();
        for case in 0..2000 {
            let h = random_history(&mut rng, collection);
            let r = match eventual::check(&h, &EventualOptions::new(collection)) {
                Ok(r) => r,
                Err(e) => panic!("case {case}: {e}\n{}", h.to_jsonl()),
            };
            let want = brute_force(&h, add_f);
            let mut got = classes(&r);
            got.latencies = want.latencies.clone();
            assert_eq!(got, want, "{collection:?} case {case}:\n{}", h.to_jsonl());
            let e = r.elements.unwrap();
            assert_eq!(e.stable_latency.count, want.latencies.len() as u64);
            assert_eq!(
                e.stable_latency.max_ns,
                want.latencies.last().copied().unwrap_or(0)
            );
            totals.stable += want.stable;
            totals.stale += want.stale;
            totals.lost += want.lost;
            totals.missing_on_some_nodes += want.missing_on_some_nodes;
            totals.recovered += want.recovered;
            totals.unexpected += want.unexpected;
            totals.duplicated += want.duplicated;
            totals.never_read += want.never_read;
        }
        assert!(
            [
                totals.stable,
                totals.stale,
                totals.lost,
                totals.missing_on_some_nodes,
                totals.recovered,
                totals.unexpected,
                totals.duplicated
            ]
            .iter()
            .all(|&n| n > 0),
            "{collection:?}: the generator must reach every class: {totals:?}"
        );
    }
}

/// The conventions end to end: a JSONL history as the runner writes it, through the
/// real parser, into both append checkers and the hierarchy line.
#[test]
fn a_jsonl_history_through_the_parser() {
    use checker::consistency::hierarchy::{place, ModelVerdicts};
    use checker::consistency::session::{self, SessionOptions};
    let text = r#"
{"index":0,"time":0,"process":0,"type":"invoke","f":"append","key":"k","value":1}
{"index":1,"time":5,"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n2","n3"]}}
{"index":2,"time":10,"process":0,"type":"ok","f":"append","key":"k","value":1}
{"index":3,"time":20,"process":1,"type":"invoke","f":"append","key":"k","value":2}
{"index":4,"time":30,"process":1,"type":"info","f":"append","key":"k","value":2,"error":"timeout"}
{"index":5,"time":40,"process":0,"type":"invoke","f":"read","key":"k","value":null}
{"index":6,"time":50,"process":0,"type":"ok","f":"read","key":"k","value":[1]}
{"index":7,"time":60,"process":"nemesis","type":"info","f":"stop-partition","value":null}
{"index":8,"time":1000,"process":10,"type":"invoke","f":"final-read","key":"k","value":null,"node":"n1"}
{"index":9,"time":1010,"process":10,"type":"ok","f":"final-read","key":"k","value":[1,2],"node":"n1"}
{"index":10,"time":1020,"process":11,"type":"invoke","f":"final-read","key":"k","value":null,"node":"n2"}
{"index":11,"time":1030,"process":11,"type":"ok","f":"final-read","key":"k","value":[1,2],"node":"n2"}
"#;
    let h = checker::history::parse_jsonl(text).expect("valid JSONL");
    let s = session::check(&h, &SessionOptions::default()).unwrap();
    assert_eq!(s.verdict, Verdict::Valid, "{s:#?}");
    let mut opts = EventualOptions::new(Collection::Append);
    opts.quiet_period_ns = Some(900);
    opts.nodes = Some(vec!["n1".into(), "n2".into()]);
    let e = eventual::check(&h, &opts).unwrap();
    assert_eq!(e.verdict, Verdict::Valid, "{e:#?}");
    assert_eq!(e.convergence.final_heal_ns, Some(60));
    assert_eq!(e.convergence.quiet_ns, Some(940));
    let el = e.elements.as_ref().unwrap();
    // 2 timed out, then showed up in n1's final read; n2's began after and has it.
    assert_eq!((el.stable, el.recovered, el.never_read), (1, 1, 0));
    let line = place(
        &ModelVerdicts {
            linearizable: Some(Verdict::Valid),
            ..Default::default()
        }
        .with_session(&s)
        .with_eventual(&e),
    )
    .line;
    assert_eq!(
        line,
        "strongest model satisfied: linearizable + eventually consistent"
    );
}
