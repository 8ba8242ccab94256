//! faultline's own format, one JSON object per line (`docs/history.md`), read as a
//! whole text: cut into chunks at line ends, the chunks of a window read in parallel
//! (`rayon`; each line by the fast path in [`super::jsonl_fast`], or by serde in
//! [`crate::history`] when it has an unusual shape), then `index` and `time` defaults
//! applied and events paired into operations in line order, window after window.
//! So the result, and the first error reported, are those of a reading line by line,
//! and a caller that wants only the operations ([`Keep::Operations`]) never holds
//! more than a window's events.

use crate::history::{
    jsonl_line, Defaults, Event, EventType, History, HistoryError, HistoryProblem, Operation,
    Outcome, Pairer, ParseError, ParseProblem, Process, Seen, Step,
};
use crate::import::jsonl_fast::LineEvent;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

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
    read_in_chunks(text, keep, CHUNK_BYTES)
}

/// [`read`] with chunks of about `chunk_bytes` (small ones in tests, to cross many
/// chunk and window boundaries with a short text).
fn read_in_chunks(text: &str, keep: Keep, chunk_bytes: usize) -> Result<History, ParseError> {
    let chunks = chunks(text, chunk_bytes);
    let mut reader = Reader {
        defaults: Defaults::default(),
        pairer: Pairer::strict(),
        events: Vec::new(),
        first_line: 1,
        history_error: None,
    };
    match keep {
        Keep::Events => read_windows::<Chunk>(&chunks, &mut reader)?,
        Keep::Operations => read_windows::<OpsChunk>(&chunks, &mut reader)?,
    }
    reader.finish()
}

/// A chunk as read in parallel, then taken by the [`Reader`] in line order.
trait ReadChunk: Send + Sized {
    fn read(text: &str) -> Self;
    fn take(self, reader: &mut Reader) -> Result<(), ParseError>;
}

/// Reads `chunks` a window at a time, each window in parallel while the reader takes
/// the window before it, and after the first window reserves room for as many
/// operations as the rest of the text is likely to hold (so that the operations are
/// not moved again as they grow).
fn read_windows<C: ReadChunk>(chunks: &[&str], reader: &mut Reader) -> Result<(), ParseError> {
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let mut read_bytes = 0;
    let mut previous: Vec<C> = Vec::new();
    for (at, window) in chunks.chunks(WINDOW_CHUNKS).enumerate() {
        let (next, taken) = rayon::join(
            || {
                window
                    .par_iter()
                    .map(|text| C::read(text))
                    .collect::<Vec<C>>()
            },
            || previous.drain(..).try_for_each(|chunk| chunk.take(reader)),
        );
        taken?;
        if at == 1 {
            reader.reserve_for(read_bytes, total);
        }
        read_bytes += window.iter().map(|c| c.len()).sum::<usize>();
        previous = next;
    }
    previous
        .into_iter()
        .try_for_each(|chunk| chunk.take(reader))
}

/// `text` cut into pieces of about `size` bytes, each ending just after a newline
/// (except the last).
fn chunks(text: &str, size: usize) -> Vec<&str> {
    let mut chunks = Vec::with_capacity(text.len() / size + 1);
    let mut rest = text;
    while rest.len() > size {
        let cut = match rest.as_bytes()[size..].iter().position(|&b| b == b'\n') {
            Some(nl) => size + nl + 1,
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

/// Where a chunk's reading ended: its number of lines, and the first line that
/// could not be read (counted from the chunk's first line, 0) with what is wrong.
struct Lines {
    lines: usize,
    error: Option<(usize, ParseProblem)>,
}

/// Reads `text`'s lines in order, handing each event to `take` with its line
/// (counted from 0) and whether `index` and `time` were given (its event holds
/// them, 0 where absent), up to the first line that cannot be read.
fn each_event(text: &str, mut take: impl FnMut(u32, Event, (bool, bool))) -> Lines {
    let mut lines = 0;
    for (local, line) in text.lines().enumerate() {
        lines = local + 1;
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
                take(local as u32, event, (index.is_some(), time.is_some()));
            }
            Err(problem) => {
                return Lines {
                    lines,
                    error: Some((local, problem)),
                }
            }
        }
    }
    Lines { lines, error: None }
}

/// One chunk's events, up to the first line that could not be read.
struct Chunk {
    events: Vec<Event>,
    /// Whether each event gave `index` and `time`, and its line (from 0).
    placed: Vec<((bool, bool), u32)>,
    end: Lines,
}

impl ReadChunk for Chunk {
    fn take(self, reader: &mut Reader) -> Result<(), ParseError> {
        reader.take(self)
    }

    fn read(text: &str) -> Chunk {
        let guess = text.len() / 64;
        let mut events = Vec::with_capacity(guess);
        let mut placed = Vec::with_capacity(guess);
        let end = each_event(text, |line, event, given| {
            events.push(event);
            placed.push((given, line));
        });
        Chunk {
            events,
            placed,
            end,
        }
    }
}

/// One chunk read into operations, for [`Keep::Operations`]: the contents of its
/// events are moved into operations by the thread that reads the chunk, and only
/// what the pairing in line order needs is left for it ([`Placed`]).
struct OpsChunk {
    /// The operations the chunk invokes, in order; ids, invocation and completion
    /// times and indices are set when they are paired in line order.
    ops: Vec<Operation>,
    placed: Vec<Placed>,
    end: Lines,
}

/// One event of an [`OpsChunk`], as the pairing in line order sees it.
struct Placed {
    /// `index` and `time` as written (0 where absent).
    seen: Seen,
    given: (bool, bool),
    /// Line, counted from the chunk's first (0).
    line: u32,
    what: What,
}

/// What an event of an [`OpsChunk`] does.
enum What {
    /// Nothing (the nemesis's).
    Skip,
    /// Invokes the chunk's operation.
    Invoke(u32),
    /// Completes the chunk's operation, which the process invoked just before (in
    /// this chunk): what [`Operation::completed_by`] said of the pair, and the
    /// completion already applied when it fits.
    Paired(u32, Option<Box<HistoryProblem>>),
    /// A completion whose invocation, if any, is in an earlier chunk.
    Carried(Box<Event>),
}

impl ReadChunk for OpsChunk {
    fn take(self, reader: &mut Reader) -> Result<(), ParseError> {
        reader.take_ops(self)
    }

    fn read(text: &str) -> OpsChunk {
        let guess = text.len() / 64;
        let mut ops: Vec<Operation> = Vec::with_capacity(guess / 2);
        let mut placed = Vec::with_capacity(guess);
        // Each client's operation invoked in this chunk and not completed yet.
        let mut pending: FxHashMap<u64, u32> = FxHashMap::default();
        let end = each_event(text, |line, event, given| {
            let seen = Seen::of(&event);
            let what = match (event.process, event.kind) {
                (Process::Nemesis, _) => What::Skip,
                (Process::Client(p), EventType::Invoke) => {
                    let k = ops.len() as u32;
                    pending.insert(p, k);
                    ops.push(Operation::invoked(0, p, event, 0));
                    What::Invoke(k)
                }
                (Process::Client(p), _) => match pending.remove(&p) {
                    Some(k) => {
                        let op = &mut ops[k as usize];
                        let fits = op.completed_by(p, &event);
                        if fits.is_ok() {
                            op.complete(event, 0);
                        }
                        What::Paired(k, fits.err().map(Box::new))
                    }
                    None => What::Carried(Box::new(event)),
                },
            };
            placed.push(Placed {
                seen,
                given,
                line,
                what,
            });
        });
        OpsChunk { ops, placed, end }
    }
}

/// The state of a reading between chunks, which it takes in line order.
struct Reader {
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
    /// Applies the defaults to `chunk`'s events, keeps them and pairs them; a parse
    /// error (of a default, or of a line) ends the reading.
    fn take(&mut self, chunk: Chunk) -> Result<(), ParseError> {
        let first_line = self.first_line;
        self.first_line += chunk.end.lines;
        for (mut event, (given, local)) in chunk.events.into_iter().zip(chunk.placed) {
            let line = first_line + local as usize;
            (event.index, event.time) = self.defaults(&event, given, line)?;
            if self.history_error.is_none() {
                let paired = self.pairer.push_copy(&event);
                self.note(paired, line);
            }
            self.events.push(event);
        }
        Self::end(chunk.end, first_line)
    }

    /// [`Reader::take`] for a chunk read into operations: the operations join the
    /// history's, and each event is placed in line order.
    fn take_ops(&mut self, chunk: OpsChunk) -> Result<(), ParseError> {
        let first_line = self.first_line;
        self.first_line += chunk.end.lines;
        let base = self.pairer.ops.len();
        self.pairer.ops.extend(chunk.ops);
        for Placed {
            mut seen,
            given,
            line,
            what,
        } in chunk.placed
        {
            let line = first_line + line as usize;
            (seen.index, seen.time) = self.defaults_of(seen, given, line)?;
            if self.history_error.is_none() {
                let placed = self.place(seen, what, base);
                self.note(placed, line);
            }
        }
        Self::end(chunk.end, first_line)
    }

    /// Pairs one event of an [`OpsChunk`] whose operations start at id `base`.
    fn place(&mut self, seen: Seen, what: What, base: usize) -> Result<(), HistoryError> {
        let local = |k: u32| base + k as usize;
        match what {
            What::Skip => {
                // A nemesis event: checked for its order, nothing to pair.
                self.pairer.step(seen, |_| Ok(()), String::new)?;
            }
            What::Invoke(k) => {
                // Every invocation before this one has its id, so this one is `k`.
                if let Step::Invoke(id, time) = self.pairer.step(seen, |_| Ok(()), String::new)? {
                    debug_assert_eq!(id, local(k));
                    let op = &mut self.pairer.ops[id];
                    (op.id, op.call, op.invoke_index) = (id, time, seen.index);
                }
            }
            What::Paired(k, fits) => {
                // The process's state is its pending operation `k` here (it invoked
                // `k` just before, in this chunk), so the completion has an invoke.
                let step =
                    self.pairer
                        .step(seen, |_| fits.map_or(Ok(()), |p| Err(*p)), String::new)?;
                if let Step::Complete(id, time) = step {
                    debug_assert_eq!(id, local(k));
                    let op = &mut self.pairer.ops[id];
                    op.complete_index = Some(seen.index);
                    if op.outcome != Outcome::Info {
                        op.ret = time;
                    }
                }
            }
            What::Carried(mut event) => {
                (event.index, event.time) = (seen.index, seen.time);
                self.pairer.push(*event)?;
            }
        }
        Ok(())
    }

    /// `index` and `time` of the event on `line`, defaulted.
    fn defaults(
        &mut self,
        event: &Event,
        given: (bool, bool),
        line: usize,
    ) -> Result<(u64, u64), ParseError> {
        self.defaults_of(Seen::of(event), given, line)
    }

    fn defaults_of(
        &mut self,
        seen: Seen,
        given: (bool, bool),
        line: usize,
    ) -> Result<(u64, u64), ParseError> {
        self.defaults
            .apply(given.0.then_some(seen.index), given.1.then_some(seen.time))
            .map_err(|problem| ParseError { line, problem })
    }

    /// Reserves room for the operations of a text of `total` bytes, when the first
    /// `read` bytes held those there are now (a quarter more, in case the text's
    /// shape changes; room not used costs address space, not memory).
    fn reserve_for(&mut self, read: usize, total: usize) {
        let ops = &mut self.pairer.ops;
        if read > 0 && !ops.is_empty() {
            let expected = (ops.len() as f64 * total as f64 / read as f64 * 1.25) as usize;
            ops.reserve(expected.saturating_sub(ops.len()));
        }
        if read > 0 && !self.events.is_empty() {
            let expected = (self.events.len() as f64 * total as f64 / read as f64 * 1.25) as usize;
            self.events
                .reserve(expected.saturating_sub(self.events.len()));
        }
    }

    /// Keeps the first pairing error.
    fn note(&mut self, paired: Result<(), HistoryError>, line: usize) {
        if let Err(e) = paired {
            self.history_error = Some((e, line));
        }
    }

    /// A chunk's end: an error if it has a line that could not be read.
    fn end(end: Lines, first_line: usize) -> Result<(), ParseError> {
        match end.error {
            Some((local, problem)) => Err(ParseError {
                line: first_line + local,
                problem,
            }),
            None => Ok(()),
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

    /// What a reading line by line gives: each line parsed in turn (the first error
    /// wins), then the events paired. The oracle for both chunked readings.
    fn line_by_line(text: &str) -> Result<History, ParseError> {
        let mut defaults = Defaults::default();
        let mut events = Vec::new();
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let event =
                crate::history::parse_jsonl_event(line, &mut defaults).map_err(|problem| {
                    ParseError {
                        line: i + 1,
                        problem,
                    }
                })?;
            events.push(event);
            lines.push(i + 1);
        }
        History::from_events(events).map_err(|e| crate::history::history_error_at_line(e, &lines))
    }

    /// Reads `text` in every way, in chunks of about 600 bytes (several lines each,
    /// and windows of several chunks), and asserts that each gives what a reading
    /// line by line gives: the same operations (events too, when kept), or the same
    /// error on the same line. Returns the error.
    fn reads_alike(text: &str) -> Option<ParseError> {
        let expected = line_by_line(text);
        let events = read_in_chunks(text, Keep::Events, 600);
        let operations = read_in_chunks(text, Keep::Operations, 600);
        match expected {
            Ok(history) => {
                assert_eq!(events.as_ref(), Ok(&history));
                let operations = operations.unwrap_or_else(|e| panic!("{e}"));
                assert!(operations.events.is_empty());
                assert_eq!(operations.ops, history.ops);
                None
            }
            Err(e) => {
                assert_eq!(events.unwrap_err(), e, "keeping events");
                assert_eq!(operations.unwrap_err(), e, "operations only");
                Some(e)
            }
        }
    }

    /// A history of 400 operations of 8 clients (1 in 10 crashed), as lines, with
    /// a nemesis line and lines only the general path reads (escapes, a float).
    fn sample_lines() -> Vec<String> {
        let history = crate::synth::generate(&crate::synth::SynthOptions {
            clients: 8,
            ops: 400,
            crash_rate: 0.1,
            seed: 7,
            values: Some(5),
            ..crate::synth::SynthOptions::default()
        })
        .history;
        let mut lines: Vec<String> = history.to_jsonl().lines().map(String::from).collect();
        let at = lines.len() / 3;
        lines[at] = lines[at].replace(
            "\"value\":",
            "\"error\":\"a \\\"quoted\\\" error\",\"value\":",
        );
        lines[at + 5] = lines[at + 5].replace("\"time\":", "\"weight\":1.5,\"time\":");
        let index = 2 * lines.len() as u64;
        lines.push(format!(
            "{{\"index\":{index},\"time\":{index}000,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":[\"n1\"]}}"
        ));
        lines
    }

    #[test]
    fn reading_operations_only_gives_the_operations_of_a_full_reading() {
        let lines = sample_lines();
        let text = lines.join("\n");
        assert!(
            chunks(&text, 600).len() > 3 * WINDOW_CHUNKS,
            "several windows"
        );
        assert_eq!(reads_alike(&text), None);
        let history = parse_operations(&text).unwrap();
        assert_eq!(history.ops, parse(&text).unwrap().ops);
        assert!(history
            .ops
            .iter()
            .any(|op| op.error.as_deref() == Some("a \"quoted\" error")));
        // Without `index` and `time`, they default across chunks alike.
        let bare: Vec<String> = lines
            .iter()
            .map(|l| {
                let cut = l.find("\"process\"").unwrap();
                format!("{{{}", &l[cut..])
            })
            .collect();
        assert_eq!(reads_alike(&bare.join("\n")), None);
    }

    /// Every kind of broken history, broken at many places (inside a chunk, at its
    /// edges, in the next window), reads to the same error on the same line whichever
    /// way it is read.
    #[test]
    fn every_reading_names_the_same_first_error_on_the_same_line() {
        let lines = sample_lines();
        // Time going back: the line's time replaced by 0.
        let time_zero = |l: &str| {
            let start = l.find("\"time\":").unwrap() + 7;
            let end = start + l[start..].find(',').unwrap();
            format!("{}0{}", &l[..start], &l[end..])
        };
        let breaks: [&dyn Fn(&str) -> String; 7] = [
            // Another function: a mismatch, at the completion or at the invoke's.
            &|l| l.replacen("\"f\":\"", "\"f\":\"x", 1),
            // A key: a key mismatch on a completion.
            &|l| l.replacen("\"value\":", "\"key\":\"k\",\"value\":", 1),
            // The line gone: a completion without invoke, or an invoke while pending.
            &|_| String::new(),
            // Another process: the same, for two processes.
            &|l| l.replacen("\"process\":", "\"process\":1", 1),
            &time_zero,
            // An index that does not increase.
            &|l| l.replacen("\"index\":", "\"index\":0,\"i\":", 1),
            // Not JSON.
            &|l| l[..l.len() / 2].to_string(),
        ];
        let mut kinds = std::collections::BTreeSet::new();
        for at in (0..lines.len()).step_by(37) {
            for break_ in breaks {
                let mut broken = lines.clone();
                broken[at] = break_(&lines[at]);
                if let Some(e) = reads_alike(&broken.join("\n")) {
                    let debug = format!("{:?}", e.problem);
                    let kind = debug.strip_prefix("History(").unwrap_or(&debug);
                    kinds.insert(kind.split([' ', '{', '(']).next().unwrap().to_string());
                }
                // A line that does not parse, later, is the first error instead.
                broken[lines.len() - 3] = "{\"process\":".into();
                let e = reads_alike(&broken.join("\n")).unwrap();
                assert!(matches!(e.problem, ParseProblem::Syntax(_)) || e.line <= at + 1);
            }
        }
        let expected = [
            "CompletionWithoutInvoke",
            "FunctionMismatch",
            "IndexNotIncreasing",
            "InvokeAfterInfo",
            "InvokeWhilePending",
            "KeyMismatch",
            "Syntax",
            "TimeWentBackwards",
        ];
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), expected);
    }
}
