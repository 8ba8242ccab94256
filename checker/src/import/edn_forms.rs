//! Reading EDN history files form by form, remembering the line each form starts on,
//! and turning EDN values into JSON values.
//!
//! Jepsen writes `history.edn` either as one vector (or list) of maps, or as one map
//! per line; both are a sequence of top-level forms once the outer bracket is
//! stepped over, so both are read here the same way, one form at a time: memory
//! stays proportional to one form, and every error can name its line.

use crate::history::{ParseError, ParseProblem};
use clojure_reader::edn::{self, Edn};
use clojure_reader::error::{Code, Error as EdnError};
use serde_json::{Map, Number, Value};

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 200;

/// The longest EDN text (bytes) kept where a value is turned into a string (an
/// `:error`, a map key that is not a name).
pub(crate) const MAX_TEXT: usize = 1 << 16;

/// One top-level form and the 1-based line it starts on.
pub(crate) struct Form<'a> {
    pub line: usize,
    pub edn: Edn<'a>,
}

/// Iterates over the forms of an EDN history, stepping into an outer vector or list.
pub(crate) struct Forms<'a> {
    text: &'a str,
    /// Byte offset of the next unread character.
    offset: usize,
    /// Line of `offset` (1-based).
    line: usize,
    /// The closing bracket of the outer collection, and the line where it opened.
    outer: Option<(char, usize)>,
    done: bool,
}

impl<'a> Forms<'a> {
    pub(crate) fn new(text: &'a str) -> Forms<'a> {
        let mut forms = Forms {
            text,
            offset: 0,
            line: 1,
            outer: None,
            done: false,
        };
        forms.skip_blanks();
        let opening = forms.rest().chars().next();
        if let Some(close) = opening.and_then(|c| match c {
            '[' => Some(']'),
            '(' => Some(')'),
            _ => None,
        }) {
            forms.outer = Some((close, forms.line));
            forms.advance(1);
        }
        forms
    }

    fn rest(&self) -> &'a str {
        &self.text[self.offset..]
    }

    fn advance(&mut self, bytes: usize) {
        let consumed = &self.text[self.offset..self.offset + bytes];
        self.line += consumed.bytes().filter(|&b| b == b'\n').count();
        self.offset += bytes;
    }

    /// Skips whitespace, commas (whitespace in EDN) and `;` comments.
    fn skip_blanks(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
            self.advance(rest.len() - trimmed.len());
            if trimmed.starts_with(';') {
                let end = trimmed.find('\n').unwrap_or(trimmed.len());
                self.advance(end);
            } else {
                return;
            }
        }
    }

    fn error(&mut self, line: usize, message: String) -> Option<Result<Form<'a>, ParseError>> {
        self.done = true;
        Some(Err(ParseError {
            line,
            problem: ParseProblem::Syntax(message),
        }))
    }
}

impl<'a> Iterator for Forms<'a> {
    type Item = Result<Form<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.skip_blanks();
        let rest = self.rest();
        let line = self.line;
        match (rest.chars().next(), self.outer) {
            (None, None) => {
                self.done = true;
                return None;
            }
            (None, Some((close, opened))) => {
                return self.error(line, format!("unexpected end of file: `{close}` expected to close the history opened on line {opened}"));
            }
            (Some(c), Some((close, _))) if c == close => {
                self.advance(c.len_utf8());
                self.skip_blanks();
                if self.rest().is_empty() {
                    self.done = true;
                    return None;
                }
                let line = self.line;
                return self.error(
                    line,
                    "unexpected text after the end of the history".to_string(),
                );
            }
            _ => {}
        }
        match edn::read(rest) {
            Ok((edn, remaining)) => {
                self.advance(rest.len() - remaining.len());
                Some(Ok(Form { line, edn }))
            }
            Err(error) => {
                // An unclosed collection runs on until a bracket that does not match
                // (often the history's closing `]`) or the end of the file: the
                // useful line is the one where it opens.
                if matches!(
                    error.code,
                    Code::UnexpectedEOF | Code::UnmatchedDelimiter(_)
                ) {
                    if let Some(unclosed) = find_unclosed(rest, line) {
                        if unclosed.found.is_none() || unclosed.noticed_line != unclosed.line {
                            return self.error(unclosed.line, unclosed.describe());
                        }
                    }
                }
                let at = match error.code {
                    Code::UnexpectedEOF => line,
                    _ => line + error.line.unwrap_or(1).saturating_sub(1),
                };
                let line_start = self.text[..self.offset].rfind('\n').map_or(0, |p| p + 1);
                let start_column = self.text[line_start..self.offset].chars().count() + 1;
                self.error(at, describe_edn_error(&error, start_column))
            }
        }
    }
}

/// A collection that a form leaves open: where it opens, and where the reader noticed.
#[derive(Debug, PartialEq, Eq)]
struct Unclosed {
    /// `(`, `[` or `{` (a set's `#{` too).
    open: char,
    line: usize,
    /// The closing bracket that does not match it, or `None` at the end of the file.
    found: Option<char>,
    noticed_line: usize,
}

impl Unclosed {
    fn describe(&self) -> String {
        let (what, close) = match self.open {
            '(' => ("list", ')'),
            '[' => ("vector", ']'),
            _ => ("map or set", '}'),
        };
        match self.found {
            Some(found) => format!(
                "invalid EDN: the {what} opened on this line is not closed: `{found}` on line {} where `{close}` \
                 was expected",
                self.noticed_line
            ),
            None => format!(
                "invalid EDN: the {what} opened on this line is not closed before the end of the file (line {})",
                self.noticed_line
            ),
        }
    }
}

/// Scans a form (starting on `first_line`) the way the reader does, bracket by
/// bracket, skipping strings, character literals and comments, and finds the
/// innermost collection still open at the first bracket that does not match or at
/// the end of the text. `None` when every collection closes.
fn find_unclosed(form: &str, first_line: usize) -> Option<Unclosed> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut line = first_line;
    let mut chars = form.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => line += usize::from(chars.next() == Some('\n')),
                        '"' => break,
                        '\n' => line += 1,
                        _ => {}
                    }
                }
            }
            ';' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '\\' => {
                // A character literal: `\a`, `\(`, `\newline`.
                chars.next();
                while chars.peek().is_some_and(|c| c.is_alphanumeric()) {
                    chars.next();
                }
            }
            '(' | '[' | '{' => stack.push((c, line)),
            ')' | ']' | '}' => {
                let (open, opened) = stack.pop()?;
                let matching = matches!((open, c), ('(', ')') | ('[', ']') | ('{', '}'));
                if !matching {
                    return Some(Unclosed {
                        open,
                        line: opened,
                        found: Some(c),
                        noticed_line: line,
                    });
                }
                if stack.is_empty() {
                    return None;
                }
            }
            _ => {}
        }
    }
    stack.pop().map(|(open, opened)| Unclosed {
        open,
        line: opened,
        found: None,
        noticed_line: line,
    })
}

/// `start_column` is the 1-based column where the form that failed starts: the
/// reader counts columns from there on the form's first line.
fn describe_edn_error(error: &EdnError, start_column: usize) -> String {
    let what = match &error.code {
        Code::UnexpectedEOF => {
            return "invalid EDN: unexpected end of file inside the form that starts on this line (an unclosed \
                    bracket or string?)"
                .to_string()
        }
        Code::UnmatchedDelimiter(c) => format!("unmatched `{c}`"),
        Code::InvalidNumber => "invalid number (integers must fit in 64 bits; BigInt `N` and BigDecimal `M` literals are not supported)".to_string(),
        Code::InvalidEscape => "invalid escape in string (supported: \\t \\r \\n \\\\ \\\")".to_string(),
        Code::InvalidKeyword => "invalid keyword".to_string(),
        Code::InvalidChar => "invalid character literal".to_string(),
        Code::InvalidTag => "invalid tag".to_string(),
        Code::HashMapDuplicateKey => "duplicate key in map".to_string(),
        Code::SetDuplicateKey => "duplicate element in set".to_string(),
        other => format!("{other:?}"),
    };
    match (error.line, error.column) {
        (Some(1), Some(column)) => {
            format!("invalid EDN: {what} (column {})", start_column + column - 1)
        }
        (Some(_), Some(column)) => format!("invalid EDN: {what} (column {column})"),
        _ => format!("invalid EDN: {what}"),
    }
}

/// A short description of an EDN value for error messages.
pub(crate) fn describe_edn(value: &Edn) -> String {
    let kind = match value {
        Edn::Vector(_) => "a vector",
        Edn::Set(_) => "a set",
        Edn::Map(_) => "a map",
        Edn::List(_) => "a list",
        Edn::Key(_) => "a keyword",
        Edn::Symbol(_) => "a symbol",
        Edn::Str(_) => "a string",
        Edn::Int(_) => "an integer",
        Edn::Tagged(..) => "a tagged value",
        Edn::Double(_) => "a number",
        Edn::Rational(_) => "a ratio",
        Edn::Char(_) => "a character",
        Edn::Bool(_) => "a boolean",
        Edn::Nil => "nil",
        _ => "a value",
    };
    if matches!(value, Edn::Nil) {
        return kind.to_string();
    }
    match edn_text(value, 40) {
        Some(text) => format!("{kind} {text}"),
        None => kind.to_string(),
    }
}

/// The EDN text of a value, or `None` when it is longer than `max_len` bytes or nested
/// more than [`MAX_DEPTH`] levels. (The reader's own `Display` recurses without
/// limit, which a hostile file could turn into a stack overflow.)
pub(crate) fn edn_text(value: &Edn, max_len: usize) -> Option<String> {
    let mut out = String::new();
    write_edn(&mut out, value, 0, max_len).then_some(out)
}

/// Appends `value` to `out`; false as soon as the limits are exceeded.
fn write_edn(out: &mut String, value: &Edn, depth: usize, max_len: usize) -> bool {
    use std::fmt::Write;
    if depth > MAX_DEPTH || out.len() > max_len {
        return false;
    }
    let items =
        |out: &mut String, open: &str, items: &mut dyn Iterator<Item = &Edn>, close: &str| {
            out.push_str(open);
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if !write_edn(out, item, depth + 1, max_len) {
                    return false;
                }
            }
            out.push_str(close);
            true
        };
    let fits = match value {
        Edn::Nil => out.write_str("nil").is_ok(),
        Edn::Bool(b) => write!(out, "{b}").is_ok(),
        Edn::Int(i) => write!(out, "{i}").is_ok(),
        Edn::Double(d) => write!(out, "{:?}", d.into_inner()).is_ok(),
        Edn::Rational((n, d)) => write!(out, "{n}/{d}").is_ok(),
        Edn::Str(s) => write!(out, "{s:?}").is_ok(),
        Edn::Key(k) => write!(out, ":{k}").is_ok(),
        Edn::Symbol(s) => out.write_str(s).is_ok(),
        Edn::Char(c) => write!(out, "\\{c}").is_ok(),
        Edn::Vector(v) => items(out, "[", &mut v.iter(), "]"),
        Edn::List(v) => items(out, "(", &mut v.iter(), ")"),
        Edn::Set(v) => items(out, "#{", &mut v.iter(), "}"),
        Edn::Map(m) => {
            let mut flat = m.iter().flat_map(|(k, v)| [k, v]);
            items(out, "{", &mut flat, "}")
        }
        Edn::Tagged(tag, inner) => {
            let _ = write!(out, "#{tag} ");
            write_edn(out, inner, depth + 1, max_len)
        }
        _ => out.write_str("?").is_ok(),
    };
    fits && out.len() <= max_len
}

/// The name of a keyword, symbol or string, as it is used for types, functions and
/// map keys.
pub(crate) fn name_of<'e>(value: &'e Edn) -> Option<&'e str> {
    match value {
        Edn::Key(name) | Edn::Symbol(name) | Edn::Str(name) => Some(name),
        _ => None,
    }
}

/// Converts an EDN value to JSON: `nil` to null, keywords, symbols and characters to
/// strings (the colon dropped), vectors, lists and sets to arrays, maps to objects
/// (keys by name, other keys by their EDN text), ratios to numbers, and a tagged value
/// (a record such as `#jepsen.history.Op{...}`, an `#inst`) to its value.
pub(crate) fn to_json(value: &Edn) -> Result<Value, String> {
    to_json_at(value, 0)
}

fn to_json_at(value: &Edn, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("value nested more than {MAX_DEPTH} levels deep"));
    }
    let sequence = |items: &mut dyn Iterator<Item = &Edn>| -> Result<Value, String> {
        items
            .map(|item| to_json_at(item, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    };
    Ok(match value {
        Edn::Nil => Value::Null,
        Edn::Bool(b) => Value::Bool(*b),
        Edn::Int(i) => Value::from(*i),
        Edn::Double(d) => float(d.into_inner())?,
        Edn::Rational((n, d)) => {
            if *d == 0 {
                return Err(format!("ratio {n}/{d} divides by zero"));
            }
            float(*n as f64 / *d as f64)?
        }
        Edn::Str(s) | Edn::Key(s) | Edn::Symbol(s) => Value::String(s.to_string()),
        Edn::Char(c) => Value::String(c.to_string()),
        Edn::Vector(items) | Edn::List(items) => sequence(&mut items.iter())?,
        Edn::Set(items) => sequence(&mut items.iter())?,
        Edn::Map(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let key = match name_of(key) {
                    Some(name) => name.to_string(),
                    None => edn_text(key, MAX_TEXT).ok_or_else(|| {
                        format!("map key longer than {MAX_TEXT} characters or nested too deeply")
                    })?,
                };
                object.insert(key, to_json_at(value, depth + 1)?);
            }
            Value::Object(object)
        }
        Edn::Tagged(_, inner) => to_json_at(inner, depth + 1)?,
        other => return Err(format!("unsupported EDN value {}", describe_edn(other))),
    })
}

fn float(f: f64) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("number {f} is not finite"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lines_and_values(text: &str) -> Result<Vec<(usize, Value)>, ParseError> {
        Forms::new(text)
            .map(|f| f.map(|f| (f.line, to_json(&f.edn).unwrap())))
            .collect()
    }

    #[test]
    fn reads_a_vector_of_maps_and_one_map_per_line_alike() {
        let expected = vec![(1, json!({"a": 1})), (2, json!({"b": [1, "x", "k"]}))];
        assert_eq!(
            lines_and_values("{:a 1}\n{:b [1 \"x\" :k]}\n").unwrap(),
            expected
        );
        assert_eq!(
            lines_and_values("[{:a 1}\n {:b [1 \"x\" :k]}]\n").unwrap(),
            expected
        );
        assert_eq!(
            lines_and_values("; comment\n[{:a 1},\n{:b (1 \"x\" k)}\n]").unwrap()[1].0,
            3
        );
        assert!(lines_and_values("").unwrap().is_empty());
        assert!(lines_and_values("[]").unwrap().is_empty());
    }

    #[test]
    fn converts_records_sets_ratios_and_odd_map_keys() {
        let v = lines_and_values("#jepsen.history.Op{:x #{2 1}, :r 1/2, 7 \\c, [1] 2.5}").unwrap();
        assert_eq!(v[0].1, json!({"x": [1, 2], "r": 0.5, "7": "c", "[1]": 2.5}));
    }

    #[test]
    fn errors_name_the_line() {
        let e = lines_and_values("{:a 1}\n{:b 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string().contains(
                "map or set opened on this line is not closed before the end of the file"
            ),
            "{e}"
        );
        let e = lines_and_values("[{:a 1}\n{:b 2}\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("opened on line 1"), "{e}");
        let e = lines_and_values("[{:a 1}]\n{:b 2}").unwrap_err();
        assert_eq!(e.line, 2);
        let e = lines_and_values("{:a 1}\n\n{:a 99999999999999999999}").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("invalid number"), "{e}");
    }

    #[test]
    fn an_unclosed_map_is_reported_where_it_opens_not_where_the_history_ends() {
        let text = "[{:a 1}\n {:b 2\n {:c 3}\n {:d 4}]\n";
        let e = lines_and_values(text).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(
            e.to_string()
                .contains("map or set opened on this line is not closed: `]` on line 4"),
            "{e}"
        );
        let e = lines_and_values("{:a 1}\n{:b [1 2\n{:c \"]\"}\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(
            e.to_string().contains(
                "vector opened on this line is not closed before the end of the file (line 4)"
            ),
            "{e}"
        );
        // A mismatch on the line where the collection opens keeps the reader's column.
        let e = lines_and_values("{:a 1}\n{:b [1 2}}\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unmatched"), "{e}");
    }

    #[test]
    fn the_bracket_scan_skips_strings_characters_and_comments() {
        let form = "{:s \"}]\\\"\" :c \\] :d \\newline ; ]]\n :e [1]\n";
        assert_eq!(
            find_unclosed(form, 7),
            Some(Unclosed {
                open: '{',
                line: 7,
                found: None,
                noticed_line: 9
            })
        );
        assert_eq!(find_unclosed("(a [b] {c d})", 1), None);
    }

    #[test]
    fn writes_bounded_edn_text() {
        let form = Forms::new("{:a [1 2.5 \"s\" \\c], b #{nil}, :t #inst \"x\"}")
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            edn_text(&form.edn, 100).unwrap(),
            "{:a [1 2.5 \"s\" \\c] :t #inst \"x\" b #{nil}}"
        );
        assert_eq!(edn_text(&form.edn, 10), None);
        assert_eq!(describe_edn(&form.edn), "a map", "too long to quote");
        let short = edn::read_string("[1 :x]").unwrap();
        assert_eq!(describe_edn(&short), "a vector [1 :x]");
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let form = Forms::new(&deep).next().unwrap().unwrap();
        assert_eq!(describe_edn(&form.edn), "a vector");
        assert_eq!(edn_text(&form.edn, usize::MAX), None);
    }

    #[test]
    fn refuses_values_nested_too_deeply() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let text = format!("({deep})");
        let form = Forms::new(&text).next().unwrap().unwrap();
        assert!(to_json(&form.edn).unwrap_err().contains("nested"));
    }
}
