//! Structured logs: one JSON object per line on stderr, so a failure report can quote them.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Writes `{"ts", "level", "node", "event", <fields>}` as one line to stderr.
pub fn log(level: &str, node: &str, event: &str, fields: Value) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut line = json!({"ts": ts, "level": level, "node": node, "event": event});
    if let (Some(o), Value::Object(f)) = (line.as_object_mut(), fields) {
        o.extend(f);
    }
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
