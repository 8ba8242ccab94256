//! Structured logs: one JSON object per line on stderr, so that a failure report (and a
//! test harness) can quote and parse them.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Writes `{"ts", "level", "node", "event", <fields>}` as one line to stderr. The line
/// is written with one call under the lock, so lines of concurrent tasks never mix.
pub fn log(level: &str, node: &str, event: &str, fields: Value) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        line(level, node, event, fields)
    );
}

/// The log line (without the newline); `fields` other than an object are ignored.
pub fn line(level: &str, node: &str, event: &str, fields: Value) -> Value {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut line = json!({"ts": ts, "level": level, "node": node, "event": event});
    if let (Some(o), Value::Object(f)) = (line.as_object_mut(), fields) {
        o.extend(f);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_carries_the_fixed_keys_and_the_event_fields() {
        let l = line("info", "n1", "listening", json!({"addr": "127.0.0.1:1"}));
        assert_eq!(l["level"], "info");
        assert_eq!(l["node"], "n1");
        assert_eq!(l["event"], "listening");
        assert_eq!(l["addr"], "127.0.0.1:1");
        assert!(l["ts"].as_f64().unwrap() > 0.0);
        let bare = line("warn", "n2", "x", json!(null));
        assert_eq!(bare.as_object().unwrap().len(), 4);
    }
}
