use super::*;
use checker::history::parse_jsonl;
use serde_json::Value;
use std::time::Duration;

fn context(workload: Workload, checks: &[&str]) -> CheckContext {
    let mut c = CheckContext::new(
        workload,
        checks.iter().map(|s| s.parse().unwrap()).collect(),
    );
    c.quiet_period = Duration::from_nanos(10);
    c.check_timeout = Duration::from_secs(10);
    c.nodes = vec!["n1".into(), "n2".into()];
    c
}

fn json(r: &CheckReport) -> Value {
    serde_json::to_value(r).unwrap()
}

/// An append history where process 0's second read goes back (a monotonic-reads
/// violation) and both nodes' final reads agree after the heal.
const STALE_APPEND: &str = include_str!("../../tests/fixtures/stale-append.jsonl");

#[test]
fn append_checks_share_the_index_and_the_history_is_placed() {
    let h = parse_jsonl(STALE_APPEND).unwrap();
    let results = run_checks(
        &h,
        &context(Workload::Append, &["session", "eventual"]),
        "h.jsonl",
    );
    assert_eq!(
        results[0].verdict,
        Verdict::Invalid,
        "{:#}",
        json(&results[0].report)
    );
    assert_eq!(
        results[1].verdict,
        Verdict::Valid,
        "{:#}",
        json(&results[1].report)
    );
    assert_eq!(
        json(&results[0].report)["monotonic_reads"]["violations"]["count"],
        serde_json::json!(1)
    );
    let p = placement(&results).unwrap();
    assert_eq!(p.strongest, "session");
    assert!(p.line.contains("violates monotonic reads"), "{}", p.line);
    assert!(p.line.contains("+ eventually consistent"), "{}", p.line);
    let replay = results[1].replay.as_deref().unwrap();
    assert!(
        replay.contains("--nodes n1,n2") && replay.ends_with("h.jsonl"),
        "{replay}"
    );
}

/// A cas-register history as raft-kv records it: versions on acknowledged
/// operations (`with`), or none at all.
fn register_history(with_versions: bool) -> History {
    let v = |n: u64| {
        if with_versions {
            format!(",\"version\":{n}")
        } else {
            String::new()
        }
    };
    parse_jsonl(&format!(
        r#"{{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":1,"value":1}}
{{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":1,"value":1{}}}
{{"index":2,"time":2,"process":1,"type":"invoke","f":"read","key":1,"value":null}}
{{"index":3,"time":3,"process":1,"type":"ok","f":"read","key":1,"value":1{}}}
{{"index":4,"time":4,"process":1,"type":"invoke","f":"cas","key":1,"value":[1,2]}}
{{"index":5,"time":5,"process":1,"type":"ok","f":"cas","key":1,"value":[1,2]{}}}
{{"index":6,"time":6,"process":0,"type":"invoke","f":"read","key":1,"value":null}}
{{"index":7,"time":7,"process":0,"type":"ok","f":"read","key":1,"value":2{}}}
"#,
        v(4),
        v(4),
        v(9),
        v(9)
    ))
    .unwrap()
}

#[test]
fn register_sessions_are_judged_from_versions() {
    let h = register_history(true);
    let results = run_checks(
        &h,
        &context(Workload::CasRegister, &["linearizable", "session"]),
        "h.jsonl",
    );
    let session = &results[1];
    assert_eq!(session.verdict, Verdict::Valid, "{}", session.summary);
    assert_eq!(
        session.summary,
        "monotonic-reads valid (2 reads), monotonic-writes valid (2 writes), \
             read-your-writes valid (1 reads), writes-follow-reads valid (1 writes); \
             from per-key versions"
    );
    assert_eq!(
        json(&session.report)["workload"],
        serde_json::json!("register")
    );
    assert_eq!(
        session.replay.as_deref(),
        Some("faultline check --check session --workload cas-register h.jsonl")
    );
    let p = placement(&results).unwrap();
    assert_eq!(p.line, "strongest model satisfied: linearizable");
}

#[test]
fn register_sessions_without_versions_are_unknown_and_say_why() {
    let h = register_history(false);
    let results = run_checks(
        &h,
        &context(Workload::Register, &["linearizable", "session"]),
        "h.jsonl",
    );
    let session = &results[1];
    assert_eq!(session.verdict, Verdict::Unknown);
    assert_eq!(session.summary, session::NO_VERSIONS);
    // Linearizability implies the guarantees the versions could not judge.
    let p = placement(&results).unwrap();
    assert_eq!(p.line, "strongest model satisfied: linearizable");
    // Without that implication they are open, and the line says why.
    let mut results = results;
    for c in results.iter_mut().filter(|c| c.name != CheckKind::Session) {
        c.verdict = Verdict::Invalid;
    }
    let p = placement(&results).unwrap();
    assert!(
        p.line.ends_with(
            "not determined: monotonic reads, monotonic writes, read-your-writes, \
                 writes-follow-reads (session guarantees on registers need the per-key \
                 versions this system does not report)"
        ),
        "{}",
        p.line
    );
}

#[test]
fn an_invariant_with_nothing_to_judge_is_unknown_and_not_placed() {
    let h = parse_jsonl(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"generate","key":0,"value":null}
{"index":1,"time":1,"process":0,"type":"fail","f":"generate","key":0,"value":null,"error":"cas: no-leader"}
"#,
        )
        .unwrap();
    let results = run_checks(&h, &context(Workload::UniqueIds, &["unique-ids"]), "h");
    assert_eq!(
        results[0].verdict,
        Verdict::Unknown,
        "{}",
        results[0].summary
    );
    assert!(results[0].summary.contains("nothing to judge"));
    assert_eq!(placement(&results), None);
}

fn context_cas(checks: &[&str]) -> CheckContext {
    let mut c = context(Workload::CasRegister, checks);
    c.nodes = Vec::new();
    c.quiet_period = Duration::ZERO;
    c
}

/// Process 1 reads nil after process 0's write of 1 completed, then reads 1:
/// stale, but in the one order of writes.
const STALE: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":"k","value":1}
{"index":2,"time":2,"process":1,"type":"invoke","f":"read","key":"k","value":null}
{"index":3,"time":3,"process":1,"type":"ok","f":"read","key":"k","value":null}
{"index":4,"time":4,"process":1,"type":"invoke","f":"read","key":"k","value":null}
{"index":5,"time":5,"process":1,"type":"ok","f":"read","key":"k","value":1}
"#;

/// Each process writes its key, then reads the other's as unwritten.
const DEKKER: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":"x","value":1}
{"index":2,"time":2,"process":0,"type":"invoke","f":"read","key":"y","value":null}
{"index":3,"time":3,"process":0,"type":"ok","f":"read","key":"y","value":null}
{"index":4,"time":4,"process":1,"type":"invoke","f":"write","key":"y","value":1}
{"index":5,"time":5,"process":1,"type":"ok","f":"write","key":"y","value":1}
{"index":6,"time":6,"process":1,"type":"invoke","f":"read","key":"x","value":null}
{"index":7,"time":7,"process":1,"type":"ok","f":"read","key":"x","value":null}
"#;

#[test]
fn a_stale_but_ordered_history_is_placed_at_sequential() {
    let h = parse_jsonl(STALE).unwrap();
    let results = run_checks(&h, &context_cas(&["linearizable", "sequential"]), "h");
    assert_eq!(results[0].verdict, Verdict::Invalid);
    assert_eq!(results[1].verdict, Verdict::Valid, "{}", results[1].summary);
    assert_eq!(json(&results[1].report)["basis"], "whole-history");
    let p = placement(&results).unwrap();
    assert_eq!(p.strongest, "sequential", "{}", p.line);
    assert_eq!(
        results[1].replay.as_deref(),
        Some("faultline check --check sequential --workload cas-register h")
    );
}

#[test]
fn a_linearizable_history_needs_no_sequential_search() {
    let h = parse_jsonl(&STALE.replace(
        r#""value":null}
{"index":4"#,
        r#""value":1}
{"index":4"#,
    ))
    .unwrap();
    let results = run_checks(&h, &context_cas(&["linearizable", "sequential"]), "h");
    assert_eq!(results[0].verdict, Verdict::Valid);
    assert_eq!(results[1].verdict, Verdict::Valid);
    assert_eq!(json(&results[1].report)["basis"], "linearizability");
    assert_eq!(placement(&results).unwrap().strongest, "linearizable");
}

#[test]
fn keys_that_cannot_be_merged_are_a_violation_with_evidence() {
    let h = parse_jsonl(DEKKER).unwrap();
    let results = run_checks(&h, &context_cas(&["sequential"]), "h");
    let c = &results[0];
    assert_eq!(c.verdict, Verdict::Invalid, "{}", c.summary);
    assert_eq!(json(&c.report)["per_key"], "valid");
    let text = crate::results::render::text::counterexample(c).expect("evidence for a violation");
    assert!(text.contains("cannot be merged"), "{text}");
    assert!(
        text.contains("process 1") || text.contains("process 0"),
        "{text}"
    );
    let p = placement(&results).unwrap();
    assert!(
        p.line.contains("violates sequential consistency"),
        "{}",
        p.line
    );
}

/// Two keys, each with a read of a value never written: both not linearizable.
const TWO_BAD_KEYS: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"read","key":1,"value":null}
{"index":1,"time":1,"process":0,"type":"ok","f":"read","key":1,"value":7}
{"index":2,"time":2,"process":1,"type":"invoke","f":"read","key":2,"value":null}
{"index":3,"time":3,"process":1,"type":"ok","f":"read","key":2,"value":8}
"#;

#[test]
fn with_all_keys_every_bad_key_is_counted_and_the_replay_says_so() {
    let h = parse_jsonl(TWO_BAD_KEYS).unwrap();
    let mut ctx = context_cas(&["linearizable"]);
    ctx.all_keys = true;
    let results = run_checks(&h, &ctx, "h");
    assert_eq!(results[0].verdict, Verdict::Invalid);
    assert!(
        results[0].summary.ends_with("2 key(s) not linearizable"),
        "{}",
        results[0].summary
    );
    assert!(results[0].replay.as_deref().unwrap().contains("--all-keys"));
}

#[test]
fn a_search_stopped_at_the_first_bad_key_claims_only_at_least_that_many() {
    let h = parse_jsonl(TWO_BAD_KEYS).unwrap();
    let mut ctx = context_cas(&["linearizable"]);
    ctx.all_keys = true;
    let CheckReport::Linearizable(mut report) = run_checks(&h, &ctx, "h").remove(0).report else {
        panic!("a linearizability report")
    };
    // As a search without --all-keys leaves a key it cancelled.
    report.partitions[1].verdict = Verdict::Unknown;
    report.partitions[1].reason = Some("not decided: another key was already found invalid".into());
    let text = linearizable::summary(&report, false);
    assert!(
        text.contains("at least 1 key(s) not linearizable") && text.contains("--all-keys"),
        "{text}"
    );
    assert!(linearizable::summary(&report, true).ends_with("1 key(s) not linearizable"));
}

/// Three accounts holding 100 in all, before and after a transfer (also checked by
/// `tests/check_command.rs` through the binary).
const BANK: &str = include_str!("../../tests/histories/bank.jsonl");

#[test]
fn a_bank_without_known_options_is_held_to_its_first_read() {
    let h = parse_jsonl(BANK).unwrap();
    let results = run_checks(&h, &context(Workload::Bank, &["bank"]), "h");
    let bank = &results[0];
    assert_eq!(bank.verdict, Verdict::Valid, "{}", bank.summary);
    assert!(
        bank.summary.contains("expected 100, from the first read"),
        "{}",
        bank.summary
    );
    assert_eq!(
        bank.replay.as_deref(),
        Some("faultline check --check bank --workload bank h")
    );
}

#[test]
fn a_known_bank_is_checked_and_replayed_with_its_total_and_accounts() {
    let h = parse_jsonl(BANK).unwrap();
    let mut ctx = context(Workload::Bank, &["bank"]);
    let mut known = BankOptions::new(90);
    known.accounts = Some(vec!["0".into(), "1".into(), "2".into()]);
    ctx.bank = Some(known);
    let bank = run_checks(&h, &ctx, "h").remove(0);
    assert_eq!(bank.verdict, Verdict::Invalid, "{}", bank.summary);
    assert!(
        bank.summary
            .contains("2 wrong totals (expected 90, given; seen 100)"),
        "{}",
        bank.summary
    );
    assert_eq!(
        bank.replay.as_deref(),
        Some(
            "faultline check --check bank --workload bank --bank-total 90 --bank-accounts 0,1,2 h"
        )
    );
}

#[test]
fn faultline_test_holds_the_bank_to_the_one_its_workload_set_up() {
    let config = crate::config::resolve(&crate::config::TestArgs {
        system: Some("cl-bank".into()),
        workload: Some("bank".into()),
        ..Default::default()
    })
    .unwrap();
    let bank = config.check_context(&[]).bank.expect("a known bank");
    assert_eq!(bank, generated_bank());
    assert_eq!(
        bank.initial_total,
        checker::consistency::invariants::bank::BankTotal::Given(1000)
    );
    assert_eq!(bank.accounts.map(|a| a.len()), Some(10));
}

/// After a write of 1, an `ok` read of nil: stale if nil is a value, nothing at all
/// if it means "unknown" (Jepsen's reading).
const NIL_AFTER_WRITE: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"write","key":"k","value":1}
{"index":2,"time":2,"process":0,"type":"invoke","f":"read","key":"k","value":null}
{"index":3,"time":3,"process":0,"type":"ok","f":"read","key":"k","value":null}
"#;

#[test]
fn the_register_checks_read_a_history_as_its_readings_say() {
    let h = parse_jsonl(NIL_AFTER_WRITE).unwrap();
    let ctx = context_cas(&["linearizable", "sequential"]);
    let own = run_checks(&h, &ctx, "h");
    assert_eq!(own[0].verdict, Verdict::Invalid, "{}", own[0].summary);
    assert_eq!(own[1].verdict, Verdict::Invalid, "{}", own[1].summary);
    let jepsen = Readings {
        cas_fail: checker::model::CasFailMeaning::NoEffect,
        nil_read: checker::model::NilRead::Unknown,
    };
    // Sequential alone, so its own search runs with the readings too.
    for checks in [&["linearizable"][..], &["sequential"][..]] {
        let read_as = run_checks_read_as(&h, jepsen, &context_cas(checks), "h");
        assert_eq!(read_as[0].verdict, Verdict::Valid, "{}", read_as[0].summary);
    }
}

fn promised(models: &[&str]) -> crate::system::Promises {
    crate::system::Promises {
        models: crate::system::promise::parse_models(models.iter().copied()).unwrap(),
        from: crate::system::PromiseSource::Expect,
    }
}

fn outcome(r: &promises::PromiseReport, m: crate::system::Model) -> &promises::ModelOutcome {
    r.models.iter().find(|o| o.model == m).unwrap()
}

#[test]
fn a_broken_model_nobody_promised_is_a_finding_and_the_promises_hold() {
    use crate::system::Model;
    let h = parse_jsonl(STALE_APPEND).unwrap();
    let results = run_checks(
        &h,
        &context(Workload::Append, &["session", "eventual"]),
        "h.jsonl",
    );
    let r = promises::judge(
        &results,
        &h,
        Some(&promised(&["eventual", "no-lost-writes"])),
    );
    assert_eq!(r.verdict, Some(Verdict::Valid));
    let mr = outcome(&r, Model::MonotonicReads);
    assert_eq!((mr.promised, mr.status), (false, promises::Status::Broken));
    assert!(mr.first_violation_s.is_some(), "{mr:?}");
    let findings: Vec<Model> = r.findings().map(|o| o.model).collect();
    assert_eq!(
        findings,
        vec![
            Model::Linearizable,
            Model::Sequential,
            Model::MonotonicReads,
            Model::ReadYourWrites
        ]
    );
    let lost = outcome(&r, Model::NoLostWrites);
    assert_eq!((lost.promised, lost.status), (true, promises::Status::Held));
    assert!(lost.evidence.starts_with("0 of "), "{}", lost.evidence);
    // Linearizability is neither checked on lists nor promised, and a model it
    // implies is broken: it is listed as broken, not promised.
    let lin = outcome(&r, Model::Linearizable);
    assert_eq!(
        (lin.promised, lin.status),
        (false, promises::Status::Broken)
    );
    assert!(lin.evidence.contains("monotonic-reads"), "{}", lin.evidence);
}

#[test]
fn a_promise_broken_directly_or_through_what_it_implies_is_invalid() {
    use crate::system::Model;
    let h = parse_jsonl(STALE_APPEND).unwrap();
    let results = run_checks(
        &h,
        &context(Workload::Append, &["session", "eventual"]),
        "h.jsonl",
    );
    let r = promises::judge(&results, &h, Some(&promised(&["monotonic-reads"])));
    assert_eq!(r.verdict, Some(Verdict::Invalid));
    assert!(r.findings().all(|o| o.model != Model::MonotonicReads));
    // Linearizability is not checked on an append history, but it implies monotonic
    // reads, so promising it promises them too.
    let r = promises::judge(&results, &h, Some(&promised(&["linearizable"])));
    assert_eq!(r.verdict, Some(Verdict::Invalid));
    let mr = outcome(&r, Model::MonotonicReads);
    assert_eq!(mr.promised_as_part_of, Some(Model::Linearizable));
    assert_eq!(mr.status, promises::Status::Broken);
}

#[test]
fn a_promised_model_no_check_could_decide_makes_the_promises_unknown() {
    let h = register_history(false);
    let results = run_checks(&h, &context(Workload::Register, &["session"]), "h.jsonl");
    let r = promises::judge(&results, &h, Some(&promised(&["read-your-writes"])));
    assert_eq!(r.verdict, Some(Verdict::Unknown));
    // Linearizability, held, decides the guarantees the session check could not.
    let results = run_checks(
        &h,
        &context(Workload::Register, &["linearizable", "session"]),
        "h.jsonl",
    );
    let r = promises::judge(&results, &h, Some(&promised(&["read-your-writes"])));
    assert_eq!(r.verdict, Some(Verdict::Valid));
    let ryw = outcome(&r, crate::system::Model::ReadYourWrites);
    assert_eq!(ryw.evidence, "implied by linearizable, which holds");
}

#[test]
fn without_promises_there_is_no_promise_verdict_and_no_finding() {
    let h = parse_jsonl(STALE_APPEND).unwrap();
    let results = run_checks(
        &h,
        &context(Workload::Append, &["session", "eventual"]),
        "h.jsonl",
    );
    let r = promises::judge(&results, &h, None);
    assert_eq!(r.verdict, None);
    assert_eq!(r.findings().count(), 0);
    assert!(r.models.iter().all(|m| !m.promised));
    // A system that promises nothing: every promise (there are none) holds.
    let r = promises::judge(&results, &h, Some(&promised(&["none"])));
    assert_eq!(r.verdict, Some(Verdict::Valid));
}

/// Appends 1 (acknowledged) and 2 (`info` when `acked` is false: its outcome unknown),
/// a read that sees both, then final reads on both nodes that have only 1: element 2
/// is gone from every node.
fn vanished_append(acked: bool) -> String {
    let second = if acked { "ok" } else { "info" };
    format!(
        r#"{{"index":0,"time":0,"process":0,"type":"invoke","f":"append","key":1,"value":1}}
{{"index":1,"time":1,"process":0,"type":"ok","f":"append","key":1,"value":1}}
{{"index":2,"time":2,"process":1,"type":"invoke","f":"append","key":1,"value":2}}
{{"index":3,"time":3,"process":1,"type":"{second}","f":"append","key":1,"value":2}}
{{"index":4,"time":4,"process":0,"type":"invoke","f":"read","key":1}}
{{"index":5,"time":5,"process":0,"type":"ok","f":"read","key":1,"value":[1,2]}}
{{"index":6,"time":80,"process":"nemesis","type":"info","f":"heal-all","value":null}}
{{"index":7,"time":100,"process":5,"type":"invoke","f":"final-read","key":1,"node":"n1"}}
{{"index":8,"time":101,"process":5,"type":"ok","f":"final-read","key":1,"value":[1],"node":"n1"}}
{{"index":9,"time":102,"process":6,"type":"invoke","f":"final-read","key":1,"node":"n2"}}
{{"index":10,"time":103,"process":6,"type":"ok","f":"final-read","key":1,"value":[1],"node":"n2"}}
"#
    )
}

#[test]
fn only_an_acknowledged_write_gone_from_every_node_breaks_no_lost_writes() {
    use crate::system::Model;
    for (acked, status, evidence) in [
        (
            false,
            promises::Status::Held,
            "0 of 1 acknowledged writes lost (gone from every node); 1 indeterminate writes some read saw are gone too",
        ),
        (
            true,
            promises::Status::Broken,
            "1 of 2 acknowledged writes lost (gone from every node)",
        ),
    ] {
        let h = parse_jsonl(&vanished_append(acked)).unwrap();
        let results = run_checks(&h, &context(Workload::Append, &["eventual"]), "h");
        let r = promises::judge(&results, &h, Some(&promised(&["no-lost-writes"])));
        let lost = outcome(&r, Model::NoLostWrites);
        assert_eq!((lost.status, lost.evidence.as_str()), (status, evidence));
        assert_eq!(lost.first_violation_s.is_some(), acked, "{lost:?}");
    }
}
