//! faultline's own format, one JSON object per line (`docs/history.md`), read as a
//! whole text: cut into chunks at line ends, the chunks of a window read in parallel
//! (`rayon`; each line by the fast path in [`super::jsonl_fast`], or by serde in
//! [`crate::history`] when it has an unusual shape), then `index` and `time` defaults
//! applied and events paired into operations in line order, window after window.
//! So the result, and the first error reported, are those of a reading line by line,
//! and a caller that wants only the operations ([`Keep::Operations`]) never holds
//! more than a window's events.

use crate::history::{
    jsonl_line, Defaults, Event, History, HistoryError, Pairer, ParseError, ParseProblem,
};
use crate::import::jsonl_fast::LineEvent;
use rayon::prelude::*;

/// Parses a JSONL history, events and operations ([`crate::history::parse_jsonl`]).
pub fn parse(text: &str) -> Result<History, ParseError> {
    read(text, Keep::Events)
}

/// Parses a JSONL history into its operations alone: [`History::events`] is empty.
/// For checkers that look at nothing else; the same result and errors as [`parse`]
/// otherwise, in less time and memory (the events are moved into the operations
/// instead of copied, and never all held at once).
pub fn parse_operations(text: &str) -> Result<History, ParseError> {
    read(text, Keep::Operations)
}

/// What a reading keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The events and the operations.
    Events,
    /// The operations only.
    Operations,
}

/// Below this many bytes a JSONL text is read in one piece.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Chunks read in parallel before their events are paired: enough to keep the cores
/// busy, few enough that a window's events (about 2 MB per chunk) stay small.
const WINDOW_CHUNKS: usize = 8;

/// Reads `text`, keeping what `keep` says.
pub(crate) fn read(text: &str, keep: Keep) -> Result<History, ParseError> {
    let chunks = chunks(text);
    let mut reader = Reader {
        keep,
        defaults: Defaults::default(),
        pairer: Pairer::strict(),
        events: Vec::new(),
        first_line: 1,
        history_error: None,
    };
    for window in chunks.chunks(WINDOW_CHUNKS) {
        let read: Vec<Chunk> = window.par_iter().map(|text| Chunk::read(text)).collect();
        for chunk in read {
            reader.take(chunk)?;
        }
    }
    reader.finish()
}

/// `text` cut into pieces of about [`CHUNK_BYTES`], each ending just after a newline
/// (except the last).
fn chunks(text: &str) -> Vec<&str> {
    let mut chunks = Vec::with_capacity(text.len() / CHUNK_BYTES + 1);
    let mut rest = text;
    while rest.len() > CHUNK_BYTES {
        let cut = match rest.as_bytes()[CHUNK_BYTES..]
            .iter()
            .position(|&b| b == b'\n')
        {
            Some(nl) => CHUNK_BYTES + nl + 1,
            None => rest.len(),
        };
        let (head, tail) = rest.split_at(cut);
        chunks.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        chunks.push(rest);
    }
    chunks
}

/// One chunk's events, up to the first line that could not be read. Each event holds
/// `index` and `time` as written (0 where absent); `given` says which were.
struct Chunk {
    events: Vec<Event>,
    given: Vec<(bool, bool)>,
    /// Each event's line, counted from the chunk's first line (0).
    lines_of: Vec<u32>,
    error: Option<(usize, ParseProblem)>,
    /// Lines in the chunk.
    lines: usize,
}

impl Chunk {
    fn read(text: &str) -> Chunk {
        let guess = text.len() / 64;
        let mut chunk = Chunk {
            events: Vec::with_capacity(guess),
            given: Vec::with_capacity(guess),
            lines_of: Vec::with_capacity(guess),
            error: None,
            lines: 0,
        };
        for (local, line) in text.lines().enumerate() {
            chunk.lines = local + 1;
            if line.trim().is_empty() {
                continue;
            }
            match jsonl_line(line) {
                Ok(LineEvent {
                    index,
                    time,
                    mut event,
                }) => {
                    event.index = index.unwrap_or(0);
                    event.time = time.unwrap_or(0);
                    chunk.events.push(event);
                    chunk.given.push((index.is_some(), time.is_some()));
                    chunk.lines_of.push(local as u32);
                }
                Err(problem) => {
                    chunk.error = Some((local, problem));
                    break;
                }
            }
        }
        chunk
    }
}

/// The state of a reading between chunks, which it takes in line order.
struct Reader {
    keep: Keep,
    defaults: Defaults,
    pairer: Pairer,
    /// The events, with [`Keep::Events`].
    events: Vec<Event>,
    /// The line the next chunk starts on.
    first_line: usize,
    /// The first event that does not pair, and its line. Reported only if no line
    /// after it fails to parse: a line-by-line reader reads every line before it
    /// pairs, so a parse error anywhere comes first.
    history_error: Option<(HistoryError, usize)>,
}

impl Reader {
    /// Applies the defaults to `chunk`'s events and pairs them; a parse error (of a
    /// default, or of a line) ends the reading.
    fn take(&mut self, chunk: Chunk) -> Result<(), ParseError> {
        let first_line = self.first_line;
        self.first_line += chunk.lines;
        let lines = chunk.lines_of.iter().zip(chunk.given);
        for (mut event, (&local, (has_index, has_time))) in chunk.events.into_iter().zip(lines) {
            let line = first_line + local as usize;
            let given = (
                has_index.then_some(event.index),
                has_time.then_some(event.time),
            );
            (event.index, event.time) = self
                .defaults
                .apply(given.0, given.1)
                .map_err(|problem| ParseError { line, problem })?;
            self.pair(event, line);
        }
        match chunk.error {
            Some((local, problem)) => Err(ParseError {
                line: first_line + local,
                problem,
            }),
            None => Ok(()),
        }
    }

    /// Pairs `event` (on `line`) unless an earlier event did not pair.
    fn pair(&mut self, event: Event, line: usize) {
        if self.history_error.is_some() {
            return;
        }
        let paired = match self.keep {
            Keep::Events => {
                let paired = self.pairer.push_copy(&event);
                self.events.push(event);
                paired
            }
            Keep::Operations => self.pairer.push(event),
        };
        if let Err(e) = paired {
            self.history_error = Some((e, line));
        }
    }

    fn finish(self) -> Result<History, ParseError> {
        if let Some((error, line)) = self.history_error {
            return Err(ParseError {
                line,
                problem: ParseProblem::History(error.problem),
            });
        }
        Ok(History {
            events: self.events,
            ops: self.pairer.finish(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::parse_jsonl;

    /// A text of several parallel chunks: `ops` write operations of process 1
    /// without `index` or `time` (so the defaults run across chunks), a blank line
    /// after every 1,000th, and `bad` in place of the line numbered `at`.
    fn long_jsonl(ops: usize, at: usize, bad: &str) -> String {
        let mut lines: Vec<String> = Vec::new();
        for i in 0..ops {
            lines.push(format!(
                "{{\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":{i}}}"
            ));
            lines.push(format!(
                "{{\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"value\":{i}}}"
            ));
            if i % 1000 == 999 {
                lines.push(String::new());
            }
        }
        lines[at - 1] = bad.to_string();
        lines.join("\n")
    }

    #[test]
    fn long_jsonl_read_in_parallel_chunks_keeps_defaults_and_line_numbers() {
        let ops = 40_000;
        let text = long_jsonl(
            ops,
            1,
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":0}",
        );
        assert!(text.len() > 3 * CHUNK_BYTES, "several chunks");
        let h = parse_jsonl(&text).unwrap();
        assert_eq!(h.ops.len(), ops);
        let indices: Vec<u64> = h.events.iter().map(|e| e.index).collect();
        assert_eq!(indices, (0..2 * ops as u64).collect::<Vec<u64>>());
        let at = 70_001;
        let syntax = parse_jsonl(&long_jsonl(ops, at, "{\"process\":1,")).unwrap_err();
        assert_eq!(syntax.line, at);
        assert!(
            matches!(syntax.problem, ParseProblem::Syntax(_)),
            "{syntax}"
        );
        let timed = "{\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"value\":1,\"time\":5}";
        let inconsistent = parse_jsonl(&long_jsonl(ops, at, timed)).unwrap_err();
        assert_eq!(inconsistent.line, at);
        assert!(
            matches!(inconsistent.problem, ParseProblem::Inconsistent { .. }),
            "{inconsistent}"
        );
        let unpaired = "{\"process\":2,\"type\":\"ok\",\"f\":\"write\",\"value\":1}";
        let history = parse_jsonl(&long_jsonl(ops, at, unpaired)).unwrap_err();
        assert_eq!(history.line, at);
        assert!(
            matches!(history.problem, ParseProblem::History(_)),
            "{history}"
        );
    }
}
