//! porcupine's Jepsen console logs (`test_data/jepsen/etcd_*.log`): a single
//! compare-and-set register.
//!
//! Every line is `INFO  jepsen.util - <process> <type> <f> <value>`, fields separated
//! by any whitespace (tabs in most files, runs of spaces in some). `<f>` is `:read`,
//! `:write` or `:cas`; values are `nil`, an integer, or `[from to]` for a CAS. A
//! completion whose value is a keyword (`:info :write :timed-out`,
//! `:fail :read :timed-out`) carries an error instead of a value. The log has no
//! times, so each event's index and time are its line number: only the order of
//! lines is known, which is all a linearizability check needs.
//!
//! A `:fail :read :timed-out` becomes a failed read: a read has no effect, so a read
//! whose result is unknown constrains nothing, exactly like one that did not happen.

use super::edn_forms::describe_edn;
use crate::history::{
    history_error_at_line, Event, EventType, History, ParseError, ParseProblem, Process,
};
use clojure_reader::edn::{self, Edn};
use serde_json::Value;

const LINE_SHAPE: &str = "a line `INFO  jepsen.util - <process> <type> <f> <value>`";

pub fn parse(text: &str) -> Result<History, ParseError> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_line(line, number as u64).map_err(|problem| ParseError {
            line: number,
            problem,
        })?;
        events.push(event);
        lines.push(number);
    }
    History::from_events(events).map_err(|e| history_error_at_line(e, &lines))
}

/// Splits off whitespace-separated tokens one at a time; the rest of the line stays
/// available for the value, which may itself contain spaces (`[1 2]`).
struct Tokens<'a>(&'a str);

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0.trim_start();
        if rest.is_empty() {
            return None;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (token, rest) = rest.split_at(end);
        self.0 = rest;
        Some(token)
    }

    fn rest(&self) -> &'a str {
        self.0.trim()
    }
}

fn shape(field: &str, expected: &'static str, found: impl Into<String>) -> ParseProblem {
    ParseProblem::WrongShape {
        field: field.into(),
        expected,
        found: found.into(),
    }
}

/// One log line as an event: the fixed prefix, then process, type, function and
/// value, each read by its own function so each can say what it expected.
fn parse_line(line: &str, number: u64) -> Result<Event, ParseProblem> {
    let mut tokens = Tokens(line);
    for expected in ["INFO", "jepsen.util", "-"] {
        match tokens.next() {
            Some(token) if token == expected => {}
            found => {
                let found = found.map_or("the end of the line".to_string(), |t| format!("`{t}`"));
                return Err(ParseProblem::Syntax(format!(
                    "expected {LINE_SHAPE}, found {found} where `{expected}` belongs"
                )));
            }
        }
    }
    let process = parse_process(tokens.next())?;
    let kind = parse_kind(tokens.next())?;
    let f = parse_f(tokens.next(), process)?;
    let text = tokens.rest();
    if text.is_empty() {
        return Err(ParseProblem::MissingField("value".into()));
    }
    let value = match edn::read(text) {
        Ok((value, rest)) if rest.trim().is_empty() => value,
        _ => {
            return Err(shape(
                "value",
                "nil, an integer, [from to] or a keyword",
                format!("`{text}`"),
            ))
        }
    };
    let mut event = Event::new(number, number, process, kind, f);
    if process.is_nemesis() {
        event.value = super::edn_forms::to_json(&value)
            .map_err(|found| shape("value", "a value that JSON can represent", found))?;
        return Ok(event);
    }
    // A keyword in place of a value: the outcome's reason (`:timed-out`).
    if let Edn::Key(reason) = &value {
        if matches!(kind, EventType::Fail | EventType::Info) {
            event.error = Some(reason.to_string());
            return Ok(event);
        }
    }
    event.value = register_value(&event.f, kind, &value)?;
    Ok(event)
}

/// The process token: a client number or `:nemesis`.
fn parse_process(token: Option<&str>) -> Result<Process, ParseProblem> {
    match token {
        None => Err(ParseProblem::MissingField("process".into())),
        Some(":nemesis") => Ok(Process::Nemesis),
        Some(p) => Ok(Process::Client(p.parse().map_err(|_| {
            shape(
                "process",
                "a non-negative integer or :nemesis",
                format!("`{p}`"),
            )
        })?)),
    }
}

/// The type token: `:invoke`, `:ok`, `:fail` or `:info`.
fn parse_kind(token: Option<&str>) -> Result<EventType, ParseProblem> {
    let Some(t) = token else {
        return Err(ParseProblem::MissingField("type".into()));
    };
    match t.strip_prefix(':') {
        Some(name) => {
            EventType::from_name(name).ok_or_else(|| ParseProblem::UnknownType(t.to_string()))
        }
        None => Err(shape(
            "type",
            "one of :invoke, :ok, :fail, :info",
            format!("`{t}`"),
        )),
    }
}

/// The function token: a register's `:read`, `:write` or `:cas`, or any keyword
/// for the nemesis.
fn parse_f(token: Option<&str>, process: Process) -> Result<String, ParseProblem> {
    let Some(f) = token else {
        return Err(ParseProblem::MissingField("f".into()));
    };
    match (f.strip_prefix(':'), process) {
        (Some(name @ ("read" | "write" | "cas")), _) => Ok(name.to_string()),
        (Some(name), Process::Nemesis) if !name.is_empty() => Ok(name.to_string()),
        _ => Err(shape("f", "one of :read, :write, :cas", format!("`{f}`"))),
    }
}

/// A client event's value, as the register operation `f` allows it: nil for a read
/// invoke, an integer read or written, a `[from to]` pair for a CAS.
fn register_value(f: &str, kind: EventType, value: &Edn) -> Result<Value, ParseProblem> {
    let wrong =
        |expected: &'static str, other: &Edn| Err(shape("value", expected, describe_edn(other)));
    match (f, kind, value) {
        ("read", EventType::Invoke, Edn::Nil) => Ok(Value::Null),
        ("read", EventType::Invoke, other) => {
            wrong("nil (a read invoke asks for the value)", other)
        }
        ("read", _, Edn::Nil) => Ok(Value::Null),
        ("read", _, Edn::Int(i)) => Ok(Value::from(*i)),
        ("read", _, other) => wrong("nil or an integer (the value read)", other),
        ("write", _, Edn::Int(i)) => Ok(Value::from(*i)),
        ("write", _, other) => wrong("an integer (the value written)", other),
        (_, _, Edn::Vector(pair)) => match pair.as_slice() {
            [Edn::Int(from), Edn::Int(to)] => Ok(Value::from(vec![*from, *to])),
            _ => wrong("[from to], two integers", value),
        },
        (_, _, other) => wrong("[from to], two integers", other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{HistoryProblem, Outcome};
    use serde_json::json;

    #[test]
    fn reads_log_lines_split_by_tabs_or_spaces() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 1   :invoke :cas    [1 2]\n\
                    INFO  jepsen.util - 0\t:ok\t:read\t3\n\
                    INFO  jepsen.util - 2\t:invoke\t:write\t4\n\
                    INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n\
                    INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n\
                    INFO  jepsen.util - 3\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 3\t:fail\t:read\t:timed-out\n\
                    INFO  jepsen.util - 4\t:invoke\t:write\t1\n";
        let h = parse(text).unwrap();
        assert_eq!(h.events.len(), 9);
        let ops: Vec<(&str, Value, Value, Outcome, u64, u64)> = h
            .ops
            .iter()
            .map(|o| {
                (
                    o.f.as_str(),
                    o.input.clone(),
                    o.output.clone(),
                    o.outcome,
                    o.call,
                    o.ret,
                )
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                ("read", Value::Null, json!(3), Outcome::Ok, 1, 3),
                ("cas", json!([1, 2]), json!([1, 2]), Outcome::Fail, 2, 5),
                ("write", json!(4), Value::Null, Outcome::Info, 4, u64::MAX),
                ("read", Value::Null, Value::Null, Outcome::Fail, 7, 8),
                ("write", json!(1), Value::Null, Outcome::Info, 9, u64::MAX),
            ]
        );
        assert_eq!(h.ops[2].error.as_deref(), Some("timed-out"));
        assert_eq!(h.ops[3].error.as_deref(), Some("timed-out"));
        assert_eq!(
            (h.ops[2].invoke_index, h.ops[2].complete_index),
            (4, Some(6))
        );
        assert_eq!(h.ops[4].complete_index, None);
    }

    #[test]
    fn empty_log_is_an_empty_history() {
        assert_eq!(parse("").unwrap(), History::default());
    }

    fn err(text: &str) -> ParseError {
        parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let ok = "INFO  jepsen.util - 0\t:invoke\t:read\tnil";
        let e = err(&format!("{ok}\nWARN  jepsen.util - 0 :ok :read 1"));
        assert_eq!(e.line, 2);
        assert!(matches!(e.problem, ParseProblem::Syntax(_)), "{e}");
        let e = err("INFO  jepsen.util - 0 :done :read 1");
        assert_eq!(e.problem, ParseProblem::UnknownType(":done".into()));
        let e = err("INFO  jepsen.util - 0 :invoke :append 1");
        assert_eq!(
            e.to_string(),
            "line 1: field `f`: expected one of :read, :write, :cas, found `:append`"
        );
        let e = err("INFO  jepsen.util - x :invoke :read nil");
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "process")
        );
        let e = err("INFO  jepsen.util - 0 :invoke :read");
        assert_eq!(e.problem, ParseProblem::MissingField("value".into()));
        let e = err("INFO  jepsen.util - 0 :invoke");
        assert_eq!(e.problem, ParseProblem::MissingField("f".into()));
        let e = err("INFO  jepsen.util - 0 :invoke :cas [1]");
        assert!(e.to_string().contains("expected [from to]"), "{e}");
        let e = err("INFO  jepsen.util - 0 :invoke :write nil");
        assert!(e.to_string().contains("expected an integer"), "{e}");
        let e = err("INFO  jepsen.util - 0 :invoke :read 3");
        assert!(e.to_string().contains("expected nil"), "{e}");
        let e = err("INFO  jepsen.util - 0 :invoke :read :timed-out");
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "value")
        );
        let e = err("INFO  jepsen.util - 0 :invoke :cas [1 2] extra");
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "value")
        );
        let e = err(&format!("{ok}\n\nINFO  jepsen.util - 0 :invoke :read nil"));
        assert_eq!(
            (e.line, e.problem),
            (
                3,
                ParseProblem::History(HistoryProblem::InvokeWhilePending {
                    process: 0,
                    pending_index: 1
                })
            )
        );
        let e = err("INFO  jepsen.util - 0 :invoke :write 1\nINFO  jepsen.util - 0 :info :write :timed-out\nINFO  jepsen.util - 0 :invoke :read nil");
        assert_eq!(
            (e.line, e.problem),
            (
                3,
                ParseProblem::History(HistoryProblem::InvokeAfterInfo {
                    process: 0,
                    info_index: 2
                })
            )
        );
        let e = err("INFO  jepsen.util - 0 :ok :read 1");
        assert!(matches!(
            e.problem,
            ParseProblem::History(HistoryProblem::CompletionWithoutInvoke { .. })
        ));
    }

    #[test]
    fn nemesis_lines_are_kept_as_nemesis_events() {
        let h = parse("INFO  jepsen.util - :nemesis :info :start {\"n1\" [\"n2\"]}\nINFO  jepsen.util - 0 :invoke :read nil").unwrap();
        assert_eq!(
            h.nemesis_events()
                .map(|e| (e.f.as_str(), e.value.clone()))
                .collect::<Vec<_>>(),
            vec![("start", json!({"n1": ["n2"]}))]
        );
        assert_eq!(h.ops.len(), 1);
    }
}
