//! Jepsen's history as JSON: one array of operation objects, typically one object a
//! line with commas between (`[{"type":"invoke",...},\n{"type":"ok",...}]`).
//!
//! Each object has Jepsen's fields under their plain names: `type` (`"invoke"`,
//! `"ok"`, `"fail"`, `"info"`; a leading `:` is dropped, as keyword-to-string
//! conversions leave one), `f`, `value`, `process` (an integer or `"nemesis"`), and
//! optionally `time`, `index`, `key`, `node`, `error` (a string, or any JSON value,
//! kept as its JSON text) and `version`. Everything else is ignored. The events are
//! read as the EDN importer reads its maps: the same independent-key rule, the same
//! defaults for a missing `index` or `time`, and the order of the objects as the
//! real-time order.

use super::jepsen_edn::{finish, split_independent_tuples, RawEvent};
use super::{ImportWarning, IndependentKeys};
use crate::history::{describe_json, Event, EventType, History, ParseError, ParseProblem, Process};
use serde_json::{Map, Value};

/// Parses a JSON array of Jepsen operation objects.
pub fn parse(
    text: &str,
    independent: IndependentKeys,
) -> Result<(History, Vec<ImportWarning>), ParseError> {
    let mut raw = read_raw_events(text)?;
    split_independent_tuples(&mut raw, independent)?;
    finish(raw)
}

/// Where the reader is in the text: a byte offset and its 1-based line.
struct Cursor<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.offset..]
    }

    fn advance(&mut self, bytes: usize) {
        let consumed = &self.text[self.offset..self.offset + bytes];
        self.line += consumed.bytes().filter(|&b| b == b'\n').count();
        self.offset += bytes;
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.advance(rest.len() - rest.trim_start().len());
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.rest().starts_with(c);
        if found {
            self.advance(c.len_utf8());
        }
        found
    }

    fn error(&self, message: String) -> ParseError {
        ParseError {
            line: self.line,
            problem: ParseProblem::Syntax(message),
        }
    }
}

/// Reads the array's objects, each as an event with the line it starts on.
fn read_raw_events(text: &str) -> Result<Vec<RawEvent>, ParseError> {
    let mut at = Cursor {
        text,
        offset: 0,
        line: 1,
    };
    at.skip_blanks();
    if !at.eat('[') {
        return Err(at.error("expected a JSON array `[` of operation objects".into()));
    }
    let opened = at.line;
    let unclosed = |at: &Cursor| {
        ParseError {
        line: opened,
        problem: ParseProblem::Syntax(format!(
            "the array of operations opened on this line is not closed (noticed at the end of the file, line {})",
            at.line
        )),
    }
    };
    let mut events = Vec::new();
    at.skip_blanks();
    if !at.eat(']') {
        loop {
            at.skip_blanks();
            if at.rest().is_empty() {
                return Err(unclosed(&at));
            }
            let line = at.line;
            let value = read_value(&mut at)?;
            let event = raw_event(&value, line).map_err(|problem| ParseError { line, problem })?;
            events.push(event);
            at.skip_blanks();
            if at.eat(',') {
                continue;
            }
            if at.eat(']') {
                break;
            }
            return Err(match at.rest().chars().next() {
                None => unclosed(&at),
                Some(c) => at.error(format!(
                    "expected `,` or `]` after an operation, found `{c}`"
                )),
            });
        }
    }
    at.skip_blanks();
    if !at.rest().is_empty() {
        return Err(at.error("unexpected text after the end of the history".into()));
    }
    Ok(events)
}

/// Reads one JSON value at the cursor; errors name the line where the reader
/// stopped.
fn read_value(at: &mut Cursor) -> Result<Value, ParseError> {
    let mut stream = serde_json::Deserializer::from_str(at.rest()).into_iter::<Value>();
    match stream.next() {
        Some(Ok(value)) => {
            at.advance(stream.byte_offset());
            Ok(value)
        }
        Some(Err(e)) => {
            let message = e.to_string();
            // serde_json counts lines from where this value starts.
            let what = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(what, _)| what);
            let column = if e.line() == 1 {
                let line_start = at.text[..at.offset].rfind('\n').map_or(0, |p| p + 1);
                at.text[line_start..at.offset].chars().count() + e.column()
            } else {
                e.column()
            };
            Err(ParseError {
                line: at.line + e.line().saturating_sub(1),
                problem: ParseProblem::Syntax(format!("invalid JSON: {what} (column {column})")),
            })
        }
        None => Err(at.error("unexpected end of file: an operation object expected".into())),
    }
}

fn wrong_shape(field: &str, expected: &'static str, found: &Value) -> ParseProblem {
    ParseProblem::WrongShape {
        field: field.to_string(),
        expected,
        found: describe_json(found),
    }
}

/// A field, with `null` meaning absent.
fn field<'v>(fields: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    fields.get(name).filter(|v| !v.is_null())
}

fn u64_field(fields: &Map<String, Value>, name: &str) -> Result<Option<u64>, ParseProblem> {
    field(fields, name)
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| wrong_shape(name, "a non-negative integer", v))
        })
        .transpose()
}

/// A name written as a string, with the `:` of a keyword dropped.
fn name_field<'v>(
    fields: &'v Map<String, Value>,
    name: &str,
    expected: &'static str,
) -> Result<Option<&'v str>, ParseProblem> {
    match field(fields, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.strip_prefix(':').unwrap_or(s))),
        Some(other) => Err(wrong_shape(name, expected, other)),
    }
}

fn raw_event(value: &Value, line: usize) -> Result<RawEvent, ParseProblem> {
    let Value::Object(fields) = value else {
        return Err(ParseProblem::Syntax(format!(
            "expected a JSON object describing one operation, found {}",
            describe_json(value)
        )));
    };
    let process =
        match field(fields, "process") {
            None => return Err(ParseProblem::MissingField("process".into())),
            Some(Value::String(s)) if s.trim_start_matches(':') == "nemesis" => Process::Nemesis,
            Some(v) => Process::Client(v.as_u64().ok_or_else(|| {
                wrong_shape("process", "a non-negative integer or \"nemesis\"", v)
            })?),
        };
    const TYPES: &str = "one of \"invoke\", \"ok\", \"fail\", \"info\"";
    let kind = match name_field(fields, "type", TYPES)? {
        None => return Err(ParseProblem::MissingField("type".into())),
        Some(name) => EventType::from_name(name)
            .ok_or_else(|| ParseProblem::UnknownType(format!("\"{name}\"")))?,
    };
    let f = name_field(fields, "f", "a string")?
        .ok_or_else(|| ParseProblem::MissingField("f".into()))?;
    let error = match field(fields, "error") {
        None => None,
        Some(Value::String(s)) => Some(s.strip_prefix(':').unwrap_or(s).to_string()),
        Some(other) => Some(other.to_string()),
    };
    let event = Event {
        index: 0,
        time: 0,
        process,
        kind,
        f: f.to_string(),
        key: field(fields, "key").cloned(),
        value: field(fields, "value").cloned().unwrap_or(Value::Null),
        node: name_field(fields, "node", "a string")?.map(str::to_string),
        error,
        version: u64_field(fields, "version")?,
        wall_start: None,
    };
    Ok(RawEvent {
        line,
        index: u64_field(fields, "index")?,
        time: u64_field(fields, "time")?,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;
    use serde_json::json;

    fn parse_auto(text: &str) -> Result<History, ParseError> {
        parse(text, IndependentKeys::Auto).map(|(h, _)| h)
    }

    #[test]
    fn reads_an_array_of_operation_objects_one_per_line() {
        let text = r#"[{"type":"invoke","f":"write","value":3,"process":0,"time":100,"index":0},
{"type":"info","f":"start-partition","value":{"n1":["n2"]},"process":"nemesis","time":150,"index":1},
{"type":"ok","f":"write","value":3,"process":0,"time":300,"index":2},
{"type":":invoke","f":":cas","value":[3,4],"process":1,"time":400,"index":3},
{"type":"fail","f":"cas","value":[3,4],"process":1,"time":500,"index":4,"error":["cas-mismatch","x"]}]
"#;
        let h = parse_auto(text).unwrap();
        assert_eq!(h.events.len(), 5);
        assert_eq!(h.nemesis_events().count(), 1);
        assert_eq!(
            (h.ops[0].outcome, h.ops[0].call, h.ops[0].ret),
            (Outcome::Ok, 100, 300)
        );
        assert_eq!(
            (h.ops[1].f.as_str(), h.ops[1].outcome),
            ("cas", Outcome::Fail)
        );
        assert_eq!(h.ops[1].error.as_deref(), Some("[\"cas-mismatch\",\"x\"]"));
        assert_eq!(h.ops[1].key, None, "a CAS-only history is not split");
    }

    #[test]
    fn splits_independent_tuples_like_the_edn_reader() {
        let text = "[\n{\"type\":\"invoke\",\"f\":\"add\",\"value\":[1,5],\"process\":0},\n\
                    {\"type\":\"ok\",\"f\":\"add\",\"value\":[1,5],\"process\":0}\n]";
        let h = parse_auto(text).unwrap();
        assert_eq!(
            (h.ops[0].key.clone(), h.ops[0].input.clone()),
            (Some(json!(1)), json!(5))
        );
    }

    #[test]
    fn errors_name_the_line_of_the_object() {
        let ok = r#"{"type":"invoke","f":"read","value":null,"process":0}"#;
        let e = parse_auto(&format!(
            "[{ok},\n{{\"type\":\"done\",\"f\":\"read\",\"process\":0}}]"
        ))
        .unwrap_err();
        assert_eq!(
            (e.line, e.problem),
            (2, ParseProblem::UnknownType("\"done\"".into()))
        );
        let e = parse_auto(&format!("[{ok},\n\n{{\"type\":\"ok\" \"f\":\"read\"}}]")).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.to_string().contains("invalid JSON: expected `,` or `}`"),
            "{e}"
        );
        let e = parse_auto(&format!("[{ok}\n{ok}]")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("expected `,` or `]`"), "{e}");
        let e = parse_auto(&format!("[{ok},\n{ok},\n")).unwrap_err();
        assert_eq!(
            e.line, 1,
            "an unclosed array is reported where it opens: {e}"
        );
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse_auto(&format!("[{ok},\n3]")).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("expected a JSON object"), "{e}");
        let e = parse_auto(&format!("[{ok}]\n[]")).unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_auto("[{\"type\":\"invoke\",\"f\":\"read\",\"process\":-1}]").unwrap_err();
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "process")
        );
        assert!(parse_auto("[]").unwrap().ops.is_empty());
    }
}
