//! A fast path for the lines faultline itself writes: one JSON object whose fields
//! are the event's own (`index`, `time`, `process`, `type`, `f`, `key`, `value`,
//! `node`, `error`, `version`, `wall_start`), each at most once, with plain numbers
//! (non-negative integers) and strings without escapes, and values made of those,
//! `null`, booleans and arrays. That is every line of `faultline synth` and of a
//! recorded run, and it is read here without serde's general machinery or a
//! `serde_json::Value` per field (reading and pairing a history takes about half the
//! instructions it took through serde alone, though not half the time: the rest is
//! memory; README, "Checker performance").
//!
//! Anything else (an unknown field, an escape, a float, an object, a syntax error)
//! returns `None`, and the line is read again by the general path in
//! [`crate::history`], which gives every error its message: the fast path never
//! decides that a line is wrong, so the messages do not depend on which path ran.

use crate::history::{Event, EventType, Process};
use serde_json::Value;

/// An event read from a line, with `index` and `time` as written (`None`: absent);
/// the caller fills them in (the defaults depend on the lines before).
pub(crate) struct LineEvent {
    pub index: Option<u64>,
    pub time: Option<u64>,
    pub event: Event,
}

/// Deepest array nesting the fast path reads; deeper values take the general path.
const MAX_DEPTH: usize = 8;

struct Cursor<'a> {
    text: &'a str,
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    /// The next non-blank byte, consumed.
    fn next(&mut self) -> Option<u8> {
        self.skip_ws();
        let b = *self.s.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    /// A string with no escapes and no control characters, after its opening quote.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.at;
        let len = self.s[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        self.at = start + len + 1;
        // Cut at ASCII bytes, so always on character boundaries.
        (self.s[start + len] == b'"').then(|| &self.text[start..start + len])
    }

    /// A JSON integer without sign, leading zero or fraction, that fits in a u64.
    fn u64(&mut self) -> Option<u64> {
        self.skip_ws();
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.s.get(self.at) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.s[start] == b'0';
        let more = matches!(self.s.get(self.at), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !more).then_some(n)
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Option<Value> {
        let end = self.at + word.len() - 1;
        (self.s.get(self.at - 1..end)? == word).then(|| {
            self.at = end;
            value
        })
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        if self.peek()?.is_ascii_digit() {
            return self.u64().map(Value::from);
        }
        match self.next()? {
            b'"' => self.string().map(|s| Value::String(s.to_owned())),
            b'n' => self.literal(b"null", Value::Null),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'[' if depth < MAX_DEPTH => self.array(depth + 1),
            _ => None,
        }
    }

    /// The rest of an array, after its `[`.
    fn array(&mut self, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            match self.next()? {
                b',' => {}
                b']' => return Some(Value::Array(items)),
                _ => return None,
            }
        }
    }

    fn str_field(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        self.string()
    }
}

/// The event fields seen so far, each at most once (a repeated field is an error
/// for serde; the general path says so).
#[derive(Default)]
struct Seen {
    bits: u16,
}

impl Seen {
    fn first(&mut self, field: u16) -> Option<()> {
        let fresh = self.bits & (1 << field) == 0;
        self.bits |= 1 << field;
        fresh.then_some(())
    }
}

/// Reads `line` if it has the common shape (see the module's doc); `None` otherwise.
pub(crate) fn parse_line(line: &str) -> Option<LineEvent> {
    let mut c = Cursor {
        text: line,
        s: line.as_bytes(),
        at: 0,
    };
    c.eat(b'{')?;
    let mut seen = Seen::default();
    let (mut index, mut time, mut process, mut kind, mut f) = (None, None, None, None, None);
    let mut event = Event::new(0, 0, Process::Nemesis, EventType::Invoke, String::new());
    if c.peek()? == b'}' {
        return None;
    }
    loop {
        let name = c.str_field()?;
        c.eat(b':')?;
        match name {
            "index" => index = Some(seen.first(0).and_then(|_| c.u64())?),
            "time" => time = Some(seen.first(1).and_then(|_| c.u64())?),
            "process" => {
                seen.first(2)?;
                process = Some(match c.peek()? {
                    b'"' => (c.str_field()? == "nemesis").then_some(Process::Nemesis)?,
                    _ => Process::Client(c.u64()?),
                });
            }
            "type" => {
                seen.first(3)?;
                kind = Some(EventType::from_name(c.str_field()?)?);
            }
            "f" => f = Some(seen.first(4).and_then(|_| c.str_field())?),
            "key" => {
                seen.first(5)?;
                event.key = Some(c.value(0)?).filter(|v| !v.is_null());
            }
            "value" => event.value = seen.first(6).and_then(|_| c.value(0))?,
            "node" => event.node = Some(seen.first(7).and_then(|_| c.str_field())?.to_owned()),
            "error" => event.error = Some(seen.first(8).and_then(|_| c.str_field())?.to_owned()),
            "version" => event.version = Some(seen.first(9).and_then(|_| c.u64())?),
            "wall_start" => event.wall_start = Some(seen.first(10).and_then(|_| c.u64())?),
            _ => return None,
        }
        match c.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    if c.peek().is_some() {
        return None;
    }
    event.process = process?;
    event.kind = kind?;
    event.f = f?.to_owned();
    Some(LineEvent { index, time, event })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_reads_common_lines_exactly_as_the_general_path() {
        let lines = [
            r#"{"index":0,"time":5,"process":3,"type":"invoke","f":"cas","value":[1,2]}"#,
            r#"{"index":7,"time":9,"process":"nemesis","type":"info","f":"kill","value":null,"node":"n1"}"#,
            r#"{ "process" : 2 , "type":"ok","f":"read","key":"k","value":[[1,"a"],[],true,false,null], "index":3,"time":4,"version":12,"wall_start":99 }"#,
            r#"{"process":0,"type":"fail","f":"write","value":18446744073709551615,"error":"timeout","key":null}"#,
        ];
        for line in lines {
            let fast = parse_line(line).unwrap_or_else(|| panic!("fast path refused {line}"));
            let general = crate::history::parse_jsonl_general(line).unwrap();
            assert_eq!(
                (fast.index, fast.time, fast.event),
                (general.index, general.time, general.event),
                "{line}"
            );
        }
    }

    #[test]
    fn the_fast_path_leaves_every_unusual_line_to_the_general_path() {
        let lines = [
            r#"{"index":0,"index":1,"process":3,"type":"invoke","f":"read"}"#,
            r#"{"process":3,"type":"invoke","f":"read","value":1.5}"#,
            r#"{"process":3,"type":"invoke","f":"read","value":-1}"#,
            r#"{"process":3,"type":"invoke","f":"read","value":01}"#,
            r#"{"process":3,"type":"invoke","f":"r\"ead"}"#,
            r#"{"process":3,"type":"invoke","f":"read","value":{"a":1}}"#,
            r#"{"process":3,"type":"invoke","f":"read","extra":1}"#,
            r#"{"process":3,"type":"invoke","f":"read"} x"#,
            r#"{"process":3,"type":"invoke","f":"read""#,
            r#"{"process":3,"type":"begin","f":"read"}"#,
            r#"{"process":null,"type":"invoke","f":"read"}"#,
            r#"{"process":3,"type":"invoke"}"#,
            r#"{"process":3,"type":"invoke","f":"read","value":nul}"#,
            r#"{"process":3,"type":"invoke","f":"read","value":[1,]}"#,
            r#"{}"#,
        ];
        for line in lines {
            assert!(parse_line(line).is_none(), "fast path took {line}");
        }
    }
}
