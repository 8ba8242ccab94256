//! Histories written by Jepsen (EDN and its JSON form), read as Jepsen and Knossos
//! mean them. The fixtures in `tests/fixtures/jepsen/` are small hand-made histories
//! shaped like Jepsen's output; each test says what Jepsen's reading gives.

use checker::consistency::eventual::{self, Basis, Collection, EventualOptions};
use checker::consistency::invariants::bank::{self, BankOptions, BankTotal, Source};
use checker::history::History;
use checker::import::{
    self, load_with, Format, ImportOptions, ImportProblem, ImportWarning, Imported,
};
use checker::linearizability::Options;
use checker::model::{
    BuiltinModel, CasFailMeaning, ConfiguredModel, InitialValueError, NilRead, Readings,
};
use checker::verdict::Verdict;
use serde_json::json;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jepsen")
        .join(name)
}

fn import(name: &str) -> Imported {
    load_with(&fixture(name), None, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The linearizability verdict with the model guessed from the history, read with
/// `readings`.
fn linearizable(history: &History, readings: Readings) -> Verdict {
    let model = BuiltinModel::guess(history, readings.cas_fail);
    ConfiguredModel::new(model)
        .with_nil_read(readings.nil_read)
        .check(history, &Options::default())
        .unwrap()
        .verdict
}

#[test]
fn a_failed_cas_in_a_jepsen_history_had_no_effect_unless_the_caller_says_otherwise() {
    let imported = import("cas-register-failed-cas.edn");
    assert_eq!(imported.format, Some(Format::JepsenEdn));
    assert_eq!(imported.readings.cas_fail, CasFailMeaning::NoEffect);
    assert_eq!(
        imported.readings.to_string(),
        "cas-fail=no-effect nil-read=unknown"
    );
    // The register held 1 while the CAS from 1 failed: it never happened (Jepsen),
    // so the history is linearizable.
    assert_eq!(
        linearizable(&imported.history, imported.readings),
        Verdict::Valid
    );
    // Read as porcupine's etcd model reads it, the comparison failed on a 1: invalid.
    let compared = imported
        .readings
        .overridden(Some(CasFailMeaning::ComparisonFailed), None);
    assert_eq!(linearizable(&imported.history, compared), Verdict::Invalid);
    // The same history as a porcupine log keeps porcupine's reading.
    let log = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n\
               INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n";
    let porcupine = import::parse_with(log, None, &ImportOptions::default()).unwrap();
    assert_eq!(
        porcupine.readings.cas_fail,
        CasFailMeaning::ComparisonFailed
    );
    assert_eq!(
        linearizable(&porcupine.history, porcupine.readings),
        Verdict::Invalid
    );
    assert_eq!(
        Format::Jsonl.readings(),
        Readings {
            cas_fail: CasFailMeaning::FromError,
            nil_read: NilRead::Value
        }
    );
}

#[test]
fn the_order_of_events_in_the_file_is_the_real_time_order_whatever_their_times() {
    // Write 2 is invoked 10 µs "before" write 1 completed, by another thread's clock,
    // but after it in the file: write 1 precedes write 2, so a later read of 1 is
    // not linearizable (by the times alone the writes would overlap and it would be).
    let imported = import("register-clock-skew.edn");
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let h = &imported.history;
    assert_eq!(h.events[2].time, 999_990, "times are kept as written");
    assert!(h.ops[1].call > h.ops[0].ret);
    assert!(h.ops[2].ret > h.ops[2].call);
    assert_eq!(linearizable(h, imported.readings), Verdict::Invalid);
}

#[test]
fn time_going_back_by_more_than_a_second_is_a_warning_naming_the_line() {
    let imported = import("register-clock-reset.edn");
    assert_eq!(imported.history.ops.len(), 2);
    assert_eq!(
        imported.warnings,
        vec![ImportWarning::TimeWentBack {
            line: 4,
            previous_line: 3,
            time: 3_000_000_000,
            previous: 5_000_099_000,
        }]
    );
    let text = imported.warnings[0].to_string();
    assert!(
        text.starts_with("line 4: time goes back by 2.000 s (from 5000099000 ns on line 3"),
        "{text}"
    );
}

#[test]
fn registers_can_start_from_a_given_value() {
    let imported = import("register-initial-zero.edn");
    let model = BuiltinModel::guess(&imported.history, imported.readings.cas_fail);
    assert_eq!(model, BuiltinModel::CasRegister(CasFailMeaning::NoEffect));
    let options = Options::default();
    let from_nil = ConfiguredModel::new(model).check(&imported.history, &options);
    assert_eq!(from_nil.unwrap().verdict, Verdict::Invalid);
    let from_zero = ConfiguredModel::new(model)
        .with_initial(&json!(0))
        .unwrap()
        .check(&imported.history, &options)
        .unwrap();
    assert_eq!(from_zero.verdict, Verdict::Valid);
    assert_eq!(
        from_zero.model,
        "cas-register (fail = no effect, initial 0)"
    );
    let set = ConfiguredModel::new(BuiltinModel::Set).with_initial(&json!(0));
    assert_eq!(
        set.unwrap_err(),
        InitialValueError::NotSupported { model: "set" }
    );
}

#[test]
fn a_multi_register_can_start_from_a_map_of_key_to_value() {
    let imported = import("multi-register-initial.edn");
    let h = &imported.history;
    let model = ConfiguredModel::new(BuiltinModel::MultiRegister);
    let options = Options::default();
    assert_eq!(
        model.clone().check(h, &options).unwrap().verdict,
        Verdict::Invalid
    );
    let initial = model.with_initial(&json!({"1": 0, "2": 5})).unwrap();
    // The last read of register 2 returned nil: Knossos's "value unknown".
    let knossos = initial.clone().with_nil_read(NilRead::Unknown);
    assert_eq!(knossos.check(h, &options).unwrap().verdict, Verdict::Valid);
    assert_eq!(
        initial.check(h, &options).unwrap().verdict,
        Verdict::Invalid,
        "read as a value, nil is not the 5 register 2 holds"
    );
    let pairs = ConfiguredModel::new(BuiltinModel::MultiRegister)
        .with_initial(&json!([[1, 0], [2, 5]]))
        .unwrap()
        .with_nil_read(NilRead::Unknown);
    assert_eq!(pairs.check(h, &options).unwrap().verdict, Verdict::Valid);
    assert!(matches!(
        ConfiguredModel::new(BuiltinModel::MultiRegister).with_initial(&json!(3)),
        Err(InitialValueError::NotAMap { .. })
    ));
}

#[test]
fn a_knossos_read_of_nil_constrains_nothing() {
    let imported = import("knossos-nil-read.edn");
    assert_eq!(imported.readings.nil_read, NilRead::Unknown);
    assert_eq!(
        linearizable(&imported.history, imported.readings),
        Verdict::Valid
    );
    let as_value = imported.readings.overridden(None, Some(NilRead::Value));
    assert_eq!(linearizable(&imported.history, as_value), Verdict::Invalid);
}

#[test]
fn an_unclosed_map_is_reported_at_the_line_where_it_opens() {
    let path = fixture("unclosed-map.edn");
    let e = load_with(&path, None, &ImportOptions::default()).unwrap_err();
    assert_eq!(e.line, Some(3));
    assert!(matches!(e.problem, ImportProblem::Parse(_)));
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:3: invalid EDN: the map or set opened on this line is not closed: `]` on line 7",
            path.display()
        )),
        "{text}"
    );
}

#[test]
fn jepsen_json_histories_are_detected_and_read_like_edn() {
    let json = import("register.json");
    assert_eq!(json.format, Some(Format::JepsenJson));
    assert_eq!(json.readings, Format::JepsenEdn.readings());
    let edn = import("register-clock-skew.edn");
    assert_eq!(json.history, edn.history);

    let path = fixture("broken.json");
    let e = load_with(&path, None, &ImportOptions::default()).unwrap_err();
    assert_eq!((e.line, e.format), (Some(4), Some(Format::JepsenJson)));
    assert!(
        e.to_string().starts_with(&format!(
            "{}:4: expected `,` or `]` after an operation, found `{{`",
            path.display()
        )),
        "{e}"
    );
}

#[test]
fn the_bank_total_and_accounts_come_from_the_first_read_unless_given() {
    let h = import("bank.edn").history;
    let r = bank::check(&h, &BankOptions::from_first_read()).unwrap();
    assert_eq!(
        (r.expected_total, r.total_source),
        (Some(30), Source::FirstRead { invoke_index: 0 })
    );
    assert_eq!(
        r.expected_accounts,
        Some(vec!["0".to_string(), "1".into(), "2".into()])
    );
    // The third read saw the transfer from 1 to 2 half done: 27.
    assert_eq!(
        (r.verdict, r.reads_checked, r.wrong_totals, r.wrong_accounts),
        (Verdict::Invalid, 3, 1, 0)
    );
    assert!(
        r.summary().contains(
            "1 wrong totals (expected 30, from the first read (history event 0); seen 27 to 30)"
        ),
        "{}",
        r.summary()
    );
    let mut given = BankOptions::new(100);
    given.accounts = Some(vec!["0".into(), "1".into(), "2".into(), "3".into()]);
    let r = bank::check(&h, &given).unwrap();
    assert_eq!(
        (r.total_source, r.accounts_source),
        (Source::Given, Source::Given)
    );
    assert_eq!((r.wrong_totals, r.wrong_accounts), (3, 3));
    assert_eq!(given.initial_total, BankTotal::Given(100));
    let empty = bank::check(&History::default(), &BankOptions::from_first_read()).unwrap();
    assert_eq!(
        (empty.expected_total, empty.total_source),
        (None, Source::Nowhere)
    );
}

#[test]
fn a_jepsen_set_history_is_judged_from_its_final_read() {
    let h = import("set.edn").history;
    let r = eventual::check(&h, &EventualOptions::new(Collection::Set)).unwrap();
    assert_eq!(r.basis, Basis::LastRead);
    let e = r.elements.as_ref().unwrap();
    // Jepsen's set checker: acknowledged 0, 1, 4; the read has 0 2 4 9.
    assert_eq!(
        (
            e.acknowledged,
            e.lost,
            e.unexpected.count,
            e.recovered,
            e.indeterminate_unseen
        ),
        (3, 1, 1, 1, 1)
    );
    assert_eq!(e.lost_elements[0].element, json!(1));
    assert_eq!(e.unexpected.examples[0].element, json!(9));
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(
        r.summary().starts_with(
            "no final reads: judged from the last read of each key, as Jepsen's set checker"
        ),
        "{}",
        r.summary()
    );
    let text = std::fs::read_to_string(fixture("set.edn"))
        .unwrap()
        .replace("#{0 2 4 9}", "#{0 1 2 4}");
    let h = import::parse(&text, None).unwrap();
    let r = eventual::check(&h, &EventualOptions::new(Collection::Set)).unwrap();
    assert_eq!((r.basis, r.verdict), (Basis::LastRead, Verdict::Valid));
}

#[test]
fn independent_set_full_histories_are_classified_per_key_as_jepsen_does() {
    // Worked by Jepsen's set-full rules, per key: on key 1, 10 is in every read begun
    // after its add completed (stable); 11 is missing from the read begun at 50, after
    // its add completed at 40, then present (stale); 12 is present at 100 and gone
    // from the read at 120, the last (lost). On key 2, 20 is seen at 35 and gone from
    // the last read (lost); 21 (indeterminate) is seen and stays.
    let h = import("set-full-independent.edn").history;
    assert_eq!(h.ops_by_key().len(), 2);
    let r = eventual::check(&h, &EventualOptions::new(Collection::Set)).unwrap();
    let e = r.elements.as_ref().unwrap();
    assert_eq!((e.lost, e.stale, e.stable), (2, 1, 1));
    let lost: Vec<_> = e
        .lost_elements
        .iter()
        .map(|l| (l.key.clone(), l.element.clone()))
        .collect();
    assert_eq!(lost, vec![(json!(2), json!(20)), (json!(1), json!(12))]);
    assert_eq!(
        (
            e.stale_examples[0].key.clone(),
            e.stale_examples[0].element.clone()
        ),
        (json!(1), json!(11))
    );
    assert_eq!(e.stale_examples[0].latency_ns, 10);
    assert_eq!(r.verdict, Verdict::Invalid);
}

#[test]
fn an_element_missing_from_some_final_reads_is_not_lost() {
    let h = import("set-final-reads.edn").history;
    let r = eventual::check(&h, &EventualOptions::new(Collection::Set)).unwrap();
    assert_eq!(r.basis, Basis::FinalReads);
    assert_eq!(r.convergence.verdict, Verdict::Invalid);
    let e = r.elements.as_ref().unwrap();
    assert_eq!((e.stable, e.lost, e.missing_on_some_nodes), (1, 1, 2));
    assert_eq!(e.lost_elements[0].element, json!(4));
    let missing: Vec<_> = e
        .missing_on_some_nodes_examples
        .iter()
        .map(|m| {
            (
                m.element.clone(),
                m.present_on.clone(),
                m.missing_on.clone(),
            )
        })
        .collect();
    assert_eq!(
        missing,
        vec![
            (
                json!(2),
                vec!["n1".to_string(), "n2".into()],
                vec!["n3".to_string()]
            ),
            (
                json!(3),
                vec!["n2".to_string()],
                vec!["n1".to_string(), "n3".into()]
            ),
        ]
    );
}
