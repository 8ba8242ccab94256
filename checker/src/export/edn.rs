//! Writing a history as Jepsen EDN: one map per line, keywords for types and
//! functions, `:nemesis` for the fault injector, so that Jepsen's and Knossos's tools
//! (and faultline's own EDN importer) can read it.
//!
//! The key travels in a `:key` field rather than in Jepsen's `[key value]` tuples:
//! that keeps the value as written and makes reading the file back exact.
//! EDN integers are 64-bit signed, so a number beyond `i64::MAX` cannot be written
//! and is an error rather than a silently rounded value.

use crate::history::{Event, History, Process};
use serde_json::Value;
use std::fmt::Write;

/// Something in the history that EDN cannot represent exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event with index {index}: field `{field}`: {problem}")]
pub struct ExportError {
    /// The `index` of the event that cannot be written.
    pub index: u64,
    pub field: &'static str,
    pub problem: String,
}

/// The history as EDN, one event per line, each line ended by a newline.
pub fn to_edn(history: &History) -> Result<String, ExportError> {
    let mut out = String::new();
    for event in &history.events {
        out.push_str(&event_to_edn(event)?);
        out.push('\n');
    }
    Ok(out)
}

/// One event as a single-line EDN map.
pub fn event_to_edn(event: &Event) -> Result<String, ExportError> {
    let problem = |field: &'static str, problem: String| ExportError {
        index: event.index,
        field,
        problem,
    };
    let mut out = String::from("{");
    write!(
        out,
        ":index {}",
        int(event.index).map_err(|p| problem("index", p))?
    )
    .unwrap();
    write!(
        out,
        ", :time {}",
        int(event.time).map_err(|p| problem("time", p))?
    )
    .unwrap();
    write!(out, ", :type :{}", event.kind).unwrap();
    match event.process {
        Process::Client(p) => write!(
            out,
            ", :process {}",
            int(p).map_err(|e| problem("process", e))?
        )
        .unwrap(),
        Process::Nemesis => out.push_str(", :process :nemesis"),
    }
    out.push_str(", :f ");
    name(&mut out, &event.f);
    if let Some(key) = &event.key {
        out.push_str(", :key ");
        value(&mut out, key).map_err(|p| problem("key", p))?;
    }
    out.push_str(", :value ");
    if event.f == crate::txn::TXN_F {
        txn_value(&mut out, &event.value).map_err(|p| problem("value", p))?;
    } else {
        value(&mut out, &event.value).map_err(|p| problem("value", p))?;
    }
    if let Some(node) = &event.node {
        out.push_str(", :node ");
        string(&mut out, node);
    }
    if let Some(error) = &event.error {
        out.push_str(", :error ");
        string(&mut out, error);
    }
    if let Some(version) = event.version {
        write!(
            out,
            ", :version {}",
            int(version).map_err(|p| problem("version", p))?
        )
        .unwrap();
    }
    out.push('}');
    Ok(out)
}

/// A transaction's value as Elle writes it: micro-operation functions as keywords
/// (`[[:append 5 3] [:r 5 [1 2 3]]]`), the rest as any value.
fn txn_value(out: &mut String, v: &Value) -> Result<(), String> {
    let Some(mops) = v.as_array() else {
        return value(out, v);
    };
    out.push('[');
    for (i, m) in mops.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match m.as_array().map(|a| a.split_first()) {
            Some(Some((Value::String(f), rest))) if is_keyword_name(f) => {
                out.push('[');
                name(out, f);
                for x in rest {
                    out.push(' ');
                    value(out, x)?;
                }
                out.push(']');
            }
            _ => value(out, m)?,
        }
    }
    out.push(']');
    Ok(())
}

fn int(n: u64) -> Result<u64, String> {
    if n > i64::MAX as u64 {
        Err(format!("{n} does not fit in EDN's 64-bit signed integers"))
    } else {
        Ok(n)
    }
}

/// Whether `text` can be written as a keyword and read back as the same name.
fn is_keyword_name(text: &str) -> bool {
    let special = |c: char| "*+!_?<>=-".contains(c);
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let second = text.chars().nth(1);
    (first.is_ascii_alphabetic() || special(first))
        && !(matches!(first, '-' | '+') && second.is_some_and(|c| c.is_ascii_digit()))
        && chars.all(|c| c.is_ascii_alphanumeric() || special(c) || c == '.')
}

/// A name (function, map key) as a keyword when it can be one, else as a string.
fn name(out: &mut String, text: &str) {
    if is_keyword_name(text) {
        out.push(':');
        out.push_str(text);
    } else {
        string(out, text);
    }
}

fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn value(out: &mut String, v: &Value) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => write!(out, "{b}").unwrap(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                write!(out, "{i}").unwrap();
            } else if let Some(u) = n.as_u64() {
                return Err(format!("{u} does not fit in EDN's 64-bit signed integers"));
            } else {
                // `{:?}` keeps a decimal point or exponent, so the number reads back as
                // a double rather than an integer.
                write!(out, "{:?}", n.as_f64().unwrap_or(f64::NAN)).unwrap();
            }
        }
        Value::String(s) => string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                value(out, item)?;
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                name(out, k);
                out.push(' ');
                value(out, v)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{parse_jsonl, EventType};
    use crate::import::{self, Format, ImportOptions, IndependentKeys};
    use serde_json::json;

    fn sample() -> History {
        let c = Process::Client;
        History::from_events(vec![
            Event::new(0, 10, c(0), EventType::Invoke, "write")
                .with_key(json!("x"))
                .with_value(json!(1))
                .with_node("n1"),
            Event::new(1, 15, Process::Nemesis, EventType::Info, "start-partition")
                .with_value(json!({"n1": ["n2", "n3"], "odd key!": 2.5, "-1": -3.0})),
            Event::new(2, 20, c(1), EventType::Invoke, "cas")
                .with_key(json!(7))
                .with_value(json!([1, 2])),
            Event::new(3, 20, c(0), EventType::Ok, "write")
                .with_key(json!("x"))
                .with_value(json!(1))
                .with_version(12),
            Event::new(4, 31, c(1), EventType::Fail, "cas")
                .with_key(json!(7))
                .with_value(json!([1, 2]))
                .with_error("cas-mismatch"),
            Event::new(5, 40, c(2), EventType::Invoke, "append")
                .with_value(json!("say \"hi\"\n\\ \u{1} é")),
            Event::new(6, 41, c(2), EventType::Info, "append")
                .with_value(json!(true))
                .with_error("[:timeout \"t\"]"),
            Event::new(7, 50, c(3), EventType::Invoke, "read value"),
            Event::new(8, 60, c(4), EventType::Invoke, "read").with_value(json!(1e100)),
        ])
        .unwrap()
    }

    #[test]
    fn writes_jepsen_style_maps() {
        let edn = to_edn(&sample()).unwrap();
        let lines: Vec<&str> = edn.lines().collect();
        assert_eq!(
            lines[0],
            r#"{:index 0, :time 10, :type :invoke, :process 0, :f :write, :key "x", :value 1, :node "n1"}"#
        );
        assert_eq!(
            lines[1],
            r#"{:index 1, :time 15, :type :info, :process :nemesis, :f :start-partition, :value {:n1 ["n2" "n3"], "odd key!" 2.5, "-1" -3.0}}"#
        );
        assert!(
            lines[3].ends_with(", :value 1, :version 12}"),
            "{}",
            lines[3]
        );
        assert_eq!(
            lines[7],
            r#"{:index 7, :time 50, :type :invoke, :process 3, :f "read value", :value nil}"#
        );
    }

    #[test]
    fn importing_the_export_gives_back_the_same_events() {
        // Events come back exactly. Operations are paired again the way Jepsen reads
        // EDN, in file order: the write completing at time 20 right after the CAS was
        // invoked at time 20 gets 21 as its `ret`.
        let history = sample();
        let edn = to_edn(&history).unwrap();
        let back = import::parse(&edn, None).unwrap();
        assert_eq!(back.events, history.events);
        assert_eq!((back.ops[0].call, back.ops[0].ret), (10, 21));
        assert_eq!(History::from_events(back.events).unwrap(), history);
        assert_eq!(
            import::parse(&edn, Some(Format::JepsenEdn)).unwrap().events,
            history.events
        );
        // And through JSONL too.
        assert_eq!(parse_jsonl(&history.to_jsonl()).unwrap(), history);
    }

    #[test]
    fn reference_history_round_trips() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 1\t:invoke\t:write\t3\n\
                    INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\nINFO  jepsen.util - 1\t:info\t:write\t:timed-out\n";
        let history = import::parse(text, None).unwrap();
        let options = ImportOptions {
            independent: IndependentKeys::Never,
            ..ImportOptions::default()
        };
        let back = import::parse_with(&to_edn(&history).unwrap(), None, &options)
            .unwrap()
            .history;
        assert_eq!(back, history);
    }

    #[test]
    fn transactions_are_written_as_elle_reads_them_and_read_back() {
        let h = parse_jsonl(concat!(
            r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"txn","value":[["append",5,3],["r",5,null]]}"#,
            "\n",
            r#"{"index":1,"time":2,"process":0,"type":"ok","f":"txn","value":[["append",5,3],["r",5,[1,2,3]]]}"#,
            "\n"
        ))
        .unwrap();
        let edn = to_edn(&h).unwrap();
        assert!(
            edn.contains(":f :txn, :value [[:append 5 3] [:r 5 nil]]"),
            "{edn}"
        );
        assert!(
            edn.contains(":value [[:append 5 3] [:r 5 [1 2 3]]]"),
            "{edn}"
        );
        let back = import::parse(&edn, Some(Format::JepsenEdn)).unwrap();
        assert_eq!(back.ops[0].output, h.ops[0].output);
    }

    #[test]
    fn refuses_integers_edn_cannot_hold() {
        let h = History::from_events(vec![Event::new(
            0,
            0,
            Process::Client(0),
            EventType::Invoke,
            "write",
        )
        .with_value(json!(u64::MAX))])
        .unwrap();
        let e = to_edn(&h).unwrap_err();
        assert_eq!((e.index, e.field), (0, "value"));
        let h = History::from_events(vec![Event::new(
            0,
            u64::MAX,
            Process::Client(0),
            EventType::Invoke,
            "read",
        )])
        .unwrap();
        assert_eq!(to_edn(&h).unwrap_err().field, "time");
    }
}
