//! porcupine's key-value test histories (`test_data/kv/*.txt`).
//!
//! One EDN map per line, `{:process P, :type :invoke|:ok, :f :get|:put|:append,
//! :key "K", :value V}`, where `V` is `nil` for a `:get` invoke and a string
//! otherwise. Every key starts as the empty string. The lines carry no index and no
//! time, so both are the line number: only the order of events is known.
//!
//! This is the Jepsen EDN reader with a stricter check of each line, so that a file
//! that is not really of this shape is refused instead of checked against the wrong
//! model.

use super::jepsen_edn::{finish, read_raw_events};
use crate::history::{describe_json, EventType, History, ParseError, ParseProblem};
use serde_json::Value;

pub fn parse(text: &str) -> Result<History, ParseError> {
    let mut raw = read_raw_events(text)?;
    for r in &mut raw {
        let at_line = |problem| ParseError {
            line: r.line,
            problem,
        };
        let e = &r.event;
        if e.process.is_nemesis() {
            return Err(at_line(ParseProblem::WrongShape {
                field: "process".into(),
                expected: "a client number (porcupine kv histories have no nemesis)",
                found: "nemesis".into(),
            }));
        }
        if !matches!(e.f.as_str(), "get" | "put" | "append") {
            return Err(at_line(shape(
                "f",
                "one of :get, :put, :append",
                &Value::String(e.f.clone()),
            )));
        }
        match &e.key {
            Some(Value::String(_)) => {}
            Some(other) => return Err(at_line(shape("key", "a string", other))),
            None => return Err(at_line(ParseProblem::MissingField("key".into()))),
        }
        let value_ok = match (e.f.as_str(), e.kind) {
            ("get", EventType::Invoke) => e.value.is_null(),
            ("get", EventType::Ok) => e.value.is_string(),
            ("get", _) => true,
            _ => e.value.is_string(),
        };
        if !value_ok {
            let expected = match (e.f.as_str(), e.kind) {
                ("get", EventType::Invoke) => "nil (a :get invoke asks for the value)",
                ("get", _) => "a string (the value read)",
                _ => "a string",
            };
            return Err(at_line(shape("value", expected, &e.value)));
        }
        r.index = Some(r.line as u64);
        r.time = Some(r.line as u64);
    }
    finish(raw).map(|(history, _)| history)
}

fn shape(field: &str, expected: &'static str, found: &Value) -> ParseProblem {
    ParseProblem::WrongShape {
        field: field.into(),
        expected,
        found: describe_json(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{HistoryProblem, Outcome};
    use serde_json::json;

    #[test]
    fn reads_kv_lines_with_line_numbers_as_time() {
        let text = "{:process 0, :type :invoke, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
                    {:process 1, :type :invoke, :f :get, :key \"4\", :value nil}\n\
                    {:process 0, :type :ok, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
                    {:process 1, :type :ok, :f :get, :key \"4\", :value \"\"}\n";
        let h = parse(text).unwrap();
        assert_eq!(h.ops.len(), 2);
        let get = &h.ops[1];
        assert_eq!(
            (
                get.f.as_str(),
                get.key.clone(),
                get.input.clone(),
                get.output.clone()
            ),
            ("get", Some(json!("4")), Value::Null, json!(""))
        );
        assert_eq!((get.call, get.ret, get.outcome), (2, 4, Outcome::Ok));
        assert_eq!(h.ops_by_key().len(), 1);
    }

    fn err(text: &str) -> ParseError {
        parse(text).unwrap_err()
    }

    #[test]
    fn refuses_lines_of_the_wrong_shape() {
        let e = err("{:process 0, :type :invoke, :f :read, :key \"1\", :value nil}");
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "f"),
            "{e}"
        );
        let e = err("{:process 0, :type :invoke, :f :get, :value nil}");
        assert_eq!(e.problem, ParseProblem::MissingField("key".into()));
        let e = err("{:process 0, :type :invoke, :f :get, :key 1, :value nil}");
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "key"),
            "{e}"
        );
        let e = err("{:process 0, :type :invoke, :f :put, :key \"1\", :value 5}");
        assert_eq!(
            e.to_string(),
            "line 1: field `value`: expected a string, found a number 5"
        );
        let e = err("{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"1\", :value nil}");
        assert_eq!(e.line, 2);
        let e = err("{:process 0, :type :invoke, :f :get, :key \"1\", :value \"a\"}");
        assert!(e.to_string().contains("expected nil"), "{e}");
        let e = err("{:process :nemesis, :type :info, :f :get, :key \"1\"}");
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "process"),
            "{e}"
        );
        let e = err("{:process 0, :type :ok, :f :get, :key \"1\", :value \"\"}");
        assert!(matches!(
            e.problem,
            ParseProblem::History(HistoryProblem::CompletionWithoutInvoke { .. })
        ));
        let e = err(
            "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0 :type :ok",
        );
        assert_eq!(e.line, 2);
        assert!(matches!(e.problem, ParseProblem::Syntax(_)));
    }
}
