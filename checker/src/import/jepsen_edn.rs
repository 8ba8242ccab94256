//! Jepsen's `history.edn` (and Knossos-style EDN histories).
//!
//! Each operation is a map such as
//! `{:index 3, :time 81236, :type :ok, :process 1, :f :read, :value 2}`, possibly
//! written as a record (`#jepsen.history.Op{...}`). Jepsen writes `:nemesis` in place
//! of a process number for the fault injector; Knossos-style histories leave out
//! `:index` and `:time`, which then default to the event's position. Fields this
//! importer does not know (`:exception`, `:debug`, ...) are ignored.
//!
//! Histories of Jepsen's `independent` checker carry the key inside the value, as a
//! tuple `[key value]`; see [`IndependentKeys`] for how they are recognised.

use super::edn_forms::{describe_edn, edn_text, name_of, to_json, Forms, MAX_TEXT};
use super::{time_warnings, ImportWarning, IndependentKeys};
use crate::history::{
    history_error_at_line, Defaults, Event, EventType, History, ParseError, ParseProblem, Process,
};
use clojure_reader::edn::Edn;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// An event as read, before defaults for `index` and `time` are filled in.
pub(crate) struct RawEvent {
    pub line: usize,
    pub index: Option<u64>,
    pub time: Option<u64>,
    /// `index` and `time` are placeholders until [`finish`] fills them in.
    pub event: Event,
}

/// Parses a Jepsen EDN history. The order of the events is the real-time order
/// (`time` may go back, see [`History::from_events_in_file_order`]); the warnings
/// name the lines where it went back by more than
/// [`TIME_BACK_WARNING_NS`](super::TIME_BACK_WARNING_NS).
pub fn parse(
    text: &str,
    independent: IndependentKeys,
) -> Result<(History, Vec<ImportWarning>), ParseError> {
    let mut raw = read_raw_events(text)?;
    split_independent_tuples(&mut raw, independent)?;
    finish(raw)
}

/// Reads every form of `text` as an operation map.
pub(crate) fn read_raw_events(text: &str) -> Result<Vec<RawEvent>, ParseError> {
    let mut events = Vec::new();
    for form in Forms::new(text) {
        let form = form?;
        let raw = raw_event(&form.edn, form.line).map_err(|problem| ParseError {
            line: form.line,
            problem,
        })?;
        events.push(raw);
    }
    Ok(events)
}

/// Fills in defaults for `index` and `time` and pairs the events into a history, in
/// the order they come.
pub(crate) fn finish(raw: Vec<RawEvent>) -> Result<(History, Vec<ImportWarning>), ParseError> {
    let mut defaults = Defaults::default();
    let mut lines = Vec::with_capacity(raw.len());
    let mut events = Vec::with_capacity(raw.len());
    for mut r in raw {
        let (index, time) = defaults
            .apply(r.index, r.time)
            .map_err(|problem| ParseError {
                line: r.line,
                problem,
            })?;
        r.event.index = index;
        r.event.time = time;
        lines.push(r.line);
        events.push(r.event);
    }
    let (history, steps) =
        History::from_events_in_file_order(events).map_err(|e| history_error_at_line(e, &lines))?;
    Ok((history, time_warnings(&steps, &lines)))
}

fn key(name: &'static str) -> Edn<'static> {
    Edn::Key(Cow::Borrowed(name))
}

fn wrong_shape(field: &str, expected: &'static str, found: &Edn) -> ParseProblem {
    ParseProblem::WrongShape {
        field: field.to_string(),
        expected,
        found: describe_edn(found),
    }
}

/// The map of an operation: a plain map, or a record (a tagged map).
pub(crate) fn operation_map<'a, 'e>(
    form: &'a Edn<'e>,
) -> Result<&'a BTreeMap<Edn<'e>, Edn<'e>>, ParseProblem> {
    match form {
        Edn::Map(fields) => Ok(fields),
        Edn::Tagged(_, inner) if matches!(**inner, Edn::Map(_)) => operation_map(inner),
        other => Err(ParseProblem::Syntax(format!(
            "expected a map describing one operation, found {}",
            describe_edn(other)
        ))),
    }
}

/// A field, with `nil` meaning absent.
fn field<'a, 'e>(
    fields: &'a BTreeMap<Edn<'e>, Edn<'e>>,
    name: &'static str,
) -> Option<&'a Edn<'e>> {
    fields.get(&key(name)).filter(|v| !matches!(v, Edn::Nil))
}

fn json_field(
    fields: &BTreeMap<Edn, Edn>,
    name: &'static str,
) -> Result<Option<Value>, ParseProblem> {
    field(fields, name)
        .map(|v| {
            to_json(v).map_err(|found| ParseProblem::WrongShape {
                field: name.to_string(),
                expected: "a value that JSON can represent",
                found,
            })
        })
        .transpose()
}

fn u64_field(fields: &BTreeMap<Edn, Edn>, name: &'static str) -> Result<Option<u64>, ParseProblem> {
    match field(fields, name) {
        None => Ok(None),
        Some(Edn::Int(i)) if *i >= 0 => Ok(Some(*i as u64)),
        Some(other) => Err(wrong_shape(name, "a non-negative integer", other)),
    }
}

fn raw_event(form: &Edn, line: usize) -> Result<RawEvent, ParseProblem> {
    let fields = operation_map(form)?;
    let index = u64_field(fields, "index")?;
    let time = u64_field(fields, "time")?;
    let process = match field(fields, "process") {
        None => return Err(ParseProblem::MissingField("process".into())),
        Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
        Some(Edn::Key(k)) if k == "nemesis" => Process::Nemesis,
        Some(other) => {
            return Err(wrong_shape(
                "process",
                "a non-negative integer or :nemesis",
                other,
            ))
        }
    };
    let kind = match field(fields, "type") {
        None => return Err(ParseProblem::MissingField("type".into())),
        Some(t) => match name_of(t) {
            Some(name) => EventType::from_name(name)
                .ok_or_else(|| ParseProblem::UnknownType(format!(":{name}")))?,
            None => return Err(wrong_shape("type", "one of :invoke, :ok, :fail, :info", t)),
        },
    };
    let f = match field(fields, "f") {
        None => return Err(ParseProblem::MissingField("f".into())),
        Some(f) => name_of(f)
            .ok_or_else(|| wrong_shape("f", "a keyword", f))?
            .to_string(),
    };
    let node = match field(fields, "node") {
        None => None,
        Some(n) => Some(
            name_of(n)
                .ok_or_else(|| wrong_shape("node", "a string", n))?
                .to_string(),
        ),
    };
    // Jepsen errors are often structured (`[:timeout "..."]`, a map): keep their EDN text.
    let error = match field(fields, "error") {
        None => None,
        Some(e) => match name_of(e) {
            Some(name) => Some(name.to_string()),
            None => Some(edn_text(e, MAX_TEXT).ok_or_else(|| {
                wrong_shape("error", "a string, a keyword or a short EDN value", e)
            })?),
        },
    };
    let event = Event {
        index: 0,
        time: 0,
        process,
        kind,
        f,
        key: json_field(fields, "key")?,
        value: json_field(fields, "value")?.unwrap_or(Value::Null),
        node,
        error,
        version: u64_field(fields, "version")?,
        wall_start: None,
    };
    Ok(RawEvent {
        line,
        index,
        time,
        event,
    })
}

/// A value that can be an independent-key tuple: a pair whose first element is a
/// scalar key.
fn tuple_parts(value: &Value) -> Option<(&Value, &Value)> {
    match value {
        Value::Array(items)
            if items.len() == 2 && (items[0].is_number() || items[0].is_string()) =>
        {
            Some((&items[0], &items[1]))
        }
        _ => None,
    }
}

/// The automatic rule (see [`IndependentKeys::Auto`]).
fn looks_independent(raw: &[RawEvent]) -> bool {
    let mut clients = raw
        .iter()
        .map(|r| &r.event)
        .filter(|e| !e.process.is_nemesis())
        .peekable();
    if clients.peek().is_none() {
        return false;
    }
    let mut all_cas = true;
    for event in clients {
        if event.key.is_some() || tuple_parts(&event.value).is_none() {
            return false;
        }
        all_cas &= event.f == "cas";
    }
    !all_cas
}

pub(crate) fn split_independent_tuples(
    raw: &mut [RawEvent],
    mode: IndependentKeys,
) -> Result<(), ParseError> {
    let split = match mode {
        IndependentKeys::Never => false,
        IndependentKeys::Always => true,
        IndependentKeys::Auto => looks_independent(raw),
    };
    if !split {
        return Ok(());
    }
    for r in raw.iter_mut().filter(|r| !r.event.process.is_nemesis()) {
        let problem = |expected: &'static str, found: String| ParseError {
            line: r.line,
            problem: ParseProblem::WrongShape {
                field: "value".into(),
                expected,
                found,
            },
        };
        if r.event.key.is_some() {
            return Err(problem(
                "a [key value] tuple and no :key field (independent keys)",
                "a :key field".into(),
            ));
        }
        let Some((k, v)) = tuple_parts(&r.event.value) else {
            return Err(problem(
                "a [key value] tuple with a number or string key (independent keys)",
                crate::history::describe_json(&r.event.value),
            ));
        };
        let (k, v) = (k.clone(), v.clone());
        r.event.key = Some(k);
        r.event.value = v;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{HistoryProblem, Outcome};
    use serde_json::json;

    fn parse_auto(text: &str) -> Result<History, ParseError> {
        parse(text, IndependentKeys::Auto).map(|(h, _)| h)
    }

    #[test]
    fn reads_jepsen_maps_records_and_nemesis() {
        let text = r#"
{:index 0, :time 100, :type :invoke, :process 0, :f :write, :value 3}
#jepsen.history.Op{:index 1, :time 150, :type :info, :process :nemesis, :f :start-partition, :value {"n1" ["n2"]}}
{:index 2, :time 200, :type :invoke, :process 1, :f :read, :value nil}
{:index 3, :time 300, :type :ok, :process 0, :f :write, :value 3}
{:index 4, :time 400, :type :info, :process 1, :f :read, :value nil, :error [:timeout "read timed out"], :exception {:via []}}
{:index 5, :time 500, :type :invoke, :process 2, :f :cas, :value [3 4]}
{:index 6, :time 600, :type :fail, :process 2, :f :cas, :value [3 4], :error :cas-mismatch}
"#;
        let h = parse_auto(text).unwrap();
        assert_eq!(h.events.len(), 7);
        assert_eq!(
            h.nemesis_events().next().unwrap().value,
            json!({"n1": ["n2"]})
        );
        assert_eq!(h.ops.len(), 3);
        assert_eq!(
            (h.ops[0].outcome, h.ops[0].call, h.ops[0].ret),
            (Outcome::Ok, 100, 300)
        );
        assert_eq!((h.ops[1].outcome, h.ops[1].ret), (Outcome::Info, u64::MAX));
        assert_eq!(
            h.ops[1].error.as_deref(),
            Some("[:timeout \"read timed out\"]")
        );
        assert_eq!(
            (h.ops[2].outcome, h.ops[2].error.as_deref()),
            (Outcome::Fail, Some("cas-mismatch"))
        );
        assert_eq!(h.ops[2].input, json!([3, 4]));
        assert_eq!(
            h.ops[2].key, None,
            "a cas register history is not an independent one"
        );
    }

    #[test]
    fn reads_transaction_histories_with_exceptions_untouched() {
        // Two-element transactions must not be mistaken for independent tuples, and
        // exception data (symbols, `#object` tags, hex numbers) must not get in the way.
        let text = r#"[{:type :invoke, :f :txn, :value [[:append 3 1] [:r 4 nil]], :time 1000, :process 0, :index 0}
 {:type :invoke, :f :txn, :value [[:r 3 nil] [:append 4 2]], :time 1100, :process 1, :index 1}
 {:type :ok, :f :txn, :value [[:append 3 1] [:r 4 [2]]], :time 2000, :process 0, :index 2}
 {:type :info, :f :txn, :value [[:r 3 nil] [:append 4 2]], :time 3000, :process 1, :index 3,
  :exception {:via [{:type java.net.SocketTimeoutException, :at [clojure.core$eval 1 "core.clj" 3]}],
              :thread #object[java.lang.Thread 0x5c0d "main"]},
  :error [:socket-timeout "Read timed out"]}]"#;
        let h = parse_auto(text).unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].key, None);
        assert_eq!(h.ops[0].output, json!([["append", 3, 1], ["r", 4, [2]]]));
        assert_eq!(
            h.ops[1].error.as_deref(),
            Some("[:socket-timeout \"Read timed out\"]")
        );
        assert_eq!(
            (h.ops[1].outcome, h.ops[1].complete_index),
            (Outcome::Info, Some(3))
        );
    }

    #[test]
    fn reads_a_vector_of_knossos_style_maps_without_index_or_time() {
        let text = "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value 1}]";
        let h = parse_auto(text).unwrap();
        assert_eq!(
            (h.ops[0].invoke_index, h.ops[0].complete_index),
            (0, Some(1))
        );
        assert_eq!(
            (h.ops[0].call, h.ops[0].ret, h.ops[0].output.clone()),
            (0, 1, json!(1))
        );
    }

    const INDEPENDENT: &str = "\
{:index 0, :type :invoke, :process 0, :f :read, :value [7 nil]}
{:index 1, :type :invoke, :process 1, :f :write, :value [\"k\" 2]}
{:index 2, :type :ok, :process 0, :f :read, :value [7 5]}
{:index 3, :type :info, :process 1, :f :write, :value [\"k\" 2]}
{:index 4, :type :info, :process :nemesis, :f :kill, :value :all}
";

    #[test]
    fn splits_independent_tuples_when_every_client_op_carries_one() {
        let h = parse_auto(INDEPENDENT).unwrap();
        assert_eq!(
            (
                h.ops[0].key.clone(),
                h.ops[0].input.clone(),
                h.ops[0].output.clone()
            ),
            (Some(json!(7)), Value::Null, json!(5))
        );
        assert_eq!(
            (h.ops[1].key.clone(), h.ops[1].input.clone()),
            (Some(json!("k")), json!(2))
        );
        assert_eq!(h.ops_by_key().len(), 2);
        let (h, _) = parse(INDEPENDENT, IndependentKeys::Never).unwrap();
        assert_eq!(
            (h.ops[0].key.clone(), h.ops[0].output.clone()),
            (None, json!([7, 5]))
        );
    }

    #[test]
    fn automatic_detection_leaves_mixed_and_cas_only_histories_alone() {
        let mixed = "{:process 0, :type :invoke, :f :read, :value [7 nil]}\n{:process 1, :type :invoke, :f :read, :value nil}";
        assert_eq!(parse_auto(mixed).unwrap().ops[0].key, None);
        let cas_only = "{:process 0, :type :invoke, :f :cas, :value [1 2]}\n{:process 0, :type :ok, :f :cas, :value [1 2]}";
        assert_eq!(parse_auto(cas_only).unwrap().ops[0].input, json!([1, 2]));
        let (h, _) = parse(cas_only, IndependentKeys::Always).unwrap();
        assert_eq!(
            (h.ops[0].key.clone(), h.ops[0].input.clone()),
            (Some(json!(1)), json!(2))
        );
        let e = parse(mixed, IndependentKeys::Always).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("[key value] tuple"), "{e}");
    }

    fn err(text: &str) -> ParseError {
        parse_auto(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let ok = "{:process 0, :type :invoke, :f :read, :value nil}";
        let e = err(&format!("{ok}\n{{:process 0, :type :done, :f :read}}"));
        assert_eq!(
            (e.line, e.problem),
            (2, ParseProblem::UnknownType(":done".into()))
        );
        let e = err("{:type :invoke, :f :read}");
        assert_eq!(
            (e.line, e.problem),
            (1, ParseProblem::MissingField("process".into()))
        );
        let e = err("{:process 0, :f :read}");
        assert_eq!(e.problem, ParseProblem::MissingField("type".into()));
        let e = err("{:process 0, :type :invoke}");
        assert_eq!(e.problem, ParseProblem::MissingField("f".into()));
        let e = err("{:process \"zero\", :type :invoke, :f :read}");
        assert_eq!(e.to_string(), "line 1: field `process`: expected a non-negative integer or :nemesis, found a string \"zero\"");
        let e = err("{:process 0, :type 5, :f :read}");
        assert!(matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "type"));
        let e = err("{:process 0, :type :invoke, :f [:read]}");
        assert!(matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "f"));
        let e = err("{:process 0, :type :invoke, :f :read, :time -4}");
        assert!(matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "time"));
        let e = err(&format!("{ok}\n[1 2]"));
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("expected a map"), "{e}");
        let e = err(&format!("{ok}\n\n{{:process 0, :type :invoke, :f :read"));
        assert_eq!(e.line, 3);
        assert!(matches!(e.problem, ParseProblem::Syntax(_)));
        let e = err(&format!("{ok}\n{ok}"));
        assert_eq!(
            (e.line, e.problem),
            (
                2,
                ParseProblem::History(HistoryProblem::InvokeWhilePending {
                    process: 0,
                    pending_index: 0
                })
            )
        );
        let e = err(&format!(
            "{ok}\n{{:process 0, :type :ok, :f :read, :time 3}}"
        ));
        assert_eq!(e.line, 2);
        assert!(
            matches!(e.problem, ParseProblem::Inconsistent { .. }),
            "{e}"
        );
    }
}
