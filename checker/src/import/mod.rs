//! Reading histories written by faultline and by other tools.
//!
//! One module per source format; each turns its input into a [`History`] and names
//! the 1-based line of anything it cannot accept. [`parse`] picks the format from the
//! content when it is not given ([`detect`]); [`load`] also reads the file, which is
//! the only I/O this crate does, and puts the file's name in every error.

mod edn_forms;
pub mod jepsen_edn;
pub mod jepsen_json;
pub mod jsonl;
pub(crate) mod jsonl_fast;
pub mod porcupine_kv;
pub mod porcupine_log;

use crate::history::{History, ParseError, ParseProblem, TimeStepBack};
use crate::model::{CasFailMeaning, NilRead, Readings};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A history format this crate can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's own: one JSON object per line.
    Jsonl,
    /// Jepsen's `history.edn` (a vector of maps or one map per line; Knossos-style too).
    JepsenEdn,
    /// Jepsen's history as JSON: an array of operation objects.
    JepsenJson,
    /// porcupine's Jepsen console logs of a CAS register (`jepsen/etcd_*.log`).
    PorcupineLog,
    /// porcupine's key-value EDN histories (`kv/*.txt`).
    PorcupineKv,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Jsonl,
        Format::JepsenEdn,
        Format::JepsenJson,
        Format::PorcupineLog,
        Format::PorcupineKv,
    ];

    /// The name used on the command line: `jsonl`, `edn`, `jepsen-json`,
    /// `porcupine-log`, `porcupine-kv`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::JepsenEdn => "edn",
            Format::JepsenJson => "jepsen-json",
            Format::PorcupineLog => "porcupine-log",
            Format::PorcupineKv => "porcupine-kv",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// How the tool that writes this format means the operations whose reading
    /// differs between tools: Jepsen's histories (EDN, JSON) as Jepsen and Knossos
    /// read them (a failed CAS never happened, a read of nil constrains nothing);
    /// porcupine's logs as porcupine's etcd model (a failed CAS compared and failed);
    /// faultline's own and porcupine's key-value histories by faultline's rules. An
    /// option given by the caller overrides these ([`Readings::overridden`]).
    pub fn readings(self) -> Readings {
        match self {
            Format::JepsenEdn | Format::JepsenJson => Readings {
                cas_fail: CasFailMeaning::NoEffect,
                nil_read: NilRead::Unknown,
            },
            Format::PorcupineLog => Readings {
                cas_fail: CasFailMeaning::ComparisonFailed,
                nil_read: NilRead::Value,
            },
            Format::Jsonl | Format::PorcupineKv => Readings::default(),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A history format name that names none of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown history format `{name}` (known: {known})")]
pub struct UnknownFormatName {
    pub name: String,
    /// The known names, comma-separated.
    pub known: String,
}

impl FromStr for Format {
    type Err = UnknownFormatName;

    fn from_str(name: &str) -> Result<Format, UnknownFormatName> {
        Format::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            UnknownFormatName {
                name: name.to_string(),
                known: names.join(", "),
            }
        })
    }
}

/// Whether a Jepsen EDN history carries its keys inside its values, as Jepsen's
/// `independent` checker writes them: `:value [key value]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IndependentKeys {
    /// Split tuples when every client event (invokes and completions, of every
    /// process) has a `[key value]` pair as its value with a number or string key,
    /// none has a `:key` field, and not every operation is a `:cas`. (A register
    /// history of CAS operations alone, `[from to]` pairs, is the one ordinary
    /// history of that shape: ask for [`IndependentKeys::Always`] if it really is
    /// independent.) A single event without a tuple, say a read invoked with `nil`,
    /// rules the convention out, so mixed histories are never split.
    #[default]
    Auto,
    /// Every client event must carry a tuple; anything else is an error.
    Always,
    /// Never split; values are kept as written.
    Never,
}

/// Options for importers; the defaults suit every reference history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOptions {
    pub independent: IndependentKeys,
    /// Keep only the operations ([`History::events`] is empty), for a caller that
    /// checks operations and looks at no event: a JSONL history is then paired while
    /// it is read, its events moved into the operations and never all held at once
    /// (`import::jsonl`, README "Reading histories").
    pub operations_only: bool,
}

/// A Jepsen history whose `time` goes back by more than this (1 s) from one event to
/// the next gets a warning. Jepsen reads its clock on many threads, so times that go
/// back by microseconds are normal and say nothing; a second is far beyond any such
/// skew, and says the file was stitched together or its clock was reset.
pub const TIME_BACK_WARNING_NS: u64 = 1_000_000_000;

/// How many [`ImportWarning::TimeWentBack`] a result lists; the rest are counted.
pub const MAX_TIME_WARNINGS: usize = 10;

/// Something odd in a history that does not stop it from being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportWarning {
    /// `time` went back by more than [`TIME_BACK_WARNING_NS`] from the event on
    /// `previous_line` to the next one, on `line`. The order of the events decides
    /// what happened first, whatever their times.
    TimeWentBack {
        line: usize,
        previous_line: usize,
        time: u64,
        previous: u64,
    },
    /// More places where time went back that far, beyond the first
    /// [`MAX_TIME_WARNINGS`].
    MoreTimeWentBack { count: usize },
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportWarning::TimeWentBack {
                line,
                previous_line,
                time,
                previous,
            } => write!(
                f,
                "line {line}: time goes back by {:.3} s (from {previous} ns on line {previous_line} to {time} ns); \
                 the order of events in the file is taken as the order they happened",
                (previous - time) as f64 / 1e9
            ),
            ImportWarning::MoreTimeWentBack { count } => write!(
                f,
                "time goes back by more than {} s at {count} more places",
                TIME_BACK_WARNING_NS / 1_000_000_000
            ),
        }
    }
}

/// The warnings for the places where time went back too far. `lines[i]` is the line
/// of event `i`.
pub(crate) fn time_warnings(steps: &[TimeStepBack], lines: &[usize]) -> Vec<ImportWarning> {
    let far: Vec<&TimeStepBack> = steps
        .iter()
        .filter(|s| s.by_ns() > TIME_BACK_WARNING_NS)
        .collect();
    let line = |position: usize| lines.get(position).copied().unwrap_or(0);
    let mut warnings: Vec<ImportWarning> = far
        .iter()
        .take(MAX_TIME_WARNINGS)
        .map(|s| ImportWarning::TimeWentBack {
            line: line(s.position),
            previous_line: line(s.position.saturating_sub(1)),
            time: s.time,
            previous: s.previous,
        })
        .collect();
    if far.len() > MAX_TIME_WARNINGS {
        warnings.push(ImportWarning::MoreTimeWentBack {
            count: far.len() - MAX_TIME_WARNINGS,
        });
    }
    warnings
}

/// What an import produced: the history, what was odd about it, and how the tool
/// that wrote it means its operations.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub history: History,
    /// The format it was read as; `None` for blank input.
    pub format: Option<Format>,
    pub warnings: Vec<ImportWarning>,
    /// The format's own readings ([`Format::readings`]; faultline's for blank
    /// input). A caller checking the history uses these unless told otherwise, and
    /// says which it used.
    pub readings: Readings,
}

/// What went wrong while importing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportProblem {
    /// The file could not be read.
    Io(String),
    /// The file is not UTF-8 text.
    NotUtf8,
    /// No format given, and the content matches none.
    UnknownFormat,
    /// The content does not follow the format.
    Parse(ParseProblem),
}

/// An import error: what is wrong and where (file and 1-based line, when known).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", where_(.file.as_deref(), *.line), describe(.problem, *.format))]
pub struct ImportError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// The format the input was read as, when one was chosen.
    pub format: Option<Format>,
    pub problem: ImportProblem,
}

/// Where an import error is, as its message begins: `file:line: `, `file: `,
/// `line N: ` or nothing.
fn where_(file: Option<&std::path::Path>, line: Option<usize>) -> String {
    match (file, line) {
        (Some(file), Some(line)) => format!("{}:{line}: ", file.display()),
        (Some(file), None) => format!("{}: ", file.display()),
        (None, Some(line)) => format!("line {line}: "),
        (None, None) => String::new(),
    }
}

/// What is wrong, as an import error says it (with the format it read as, for a
/// parse error).
fn describe(problem: &ImportProblem, format: Option<Format>) -> String {
    match problem {
        ImportProblem::Io(message) => format!("cannot read: {message}"),
        ImportProblem::NotUtf8 => "not UTF-8 text".into(),
        ImportProblem::UnknownFormat => {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            format!(
                "cannot tell the history format from the content: expected JSON objects (jsonl), a JSON \
                 array of objects (jepsen-json), EDN maps (edn, porcupine-kv) or `INFO  jepsen.util - ...` \
                 lines (porcupine-log); name the format explicitly ({})",
                names.join(", ")
            )
        }
        ImportProblem::Parse(problem) => match format {
            Some(format) => format!("{problem} (reading as {format})"),
            None => format!("{problem}"),
        },
    }
}

impl ImportError {
    fn from_parse(error: ParseError, format: Format) -> ImportError {
        ImportError {
            file: None,
            line: Some(error.line),
            format: Some(format),
            problem: ImportProblem::Parse(error.problem),
        }
    }

    fn in_file(mut self, path: &Path) -> ImportError {
        self.file = Some(path.to_path_buf());
        self
    }
}

/// Guesses the format from the first non-blank line. `None` for blank input (which
/// every format reads as an empty history) and for content that matches no format.
pub fn detect(text: &str) -> Option<Format> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if first.starts_with("INFO") && first.contains("jepsen.util") {
        return Some(Format::PorcupineLog);
    }
    if let Some(inside) = first.strip_prefix('{') {
        let inside = inside.trim_start();
        if inside.starts_with('"') {
            return Some(Format::Jsonl);
        }
        if inside.starts_with(':') {
            let kv = first.contains(":key ")
                && [":f :get", ":f :put", ":f :append"]
                    .iter()
                    .any(|f| first.contains(f))
                && !first.contains(":index")
                && !first.contains(":time");
            return Some(if kv {
                Format::PorcupineKv
            } else {
                Format::JepsenEdn
            });
        }
        return None;
    }
    if let Some(after) = text.trim_start().strip_prefix('[') {
        // Jepsen's JSON form: `[{"type": ...`, the first object maybe on the next line.
        let after = after.trim_start();
        if after
            .strip_prefix('{')
            .is_some_and(|o| o.trim_start().starts_with('"'))
        {
            return Some(Format::JepsenJson);
        }
    }
    if first.starts_with('[')
        || first.starts_with('(')
        || first.starts_with("#jepsen")
        || first.starts_with(';')
    {
        return Some(Format::JepsenEdn);
    }
    None
}

/// Parses a history in `format`, or in the format [`detect`] finds. Blank input is an
/// empty history whatever the format.
pub fn parse(text: &str, format: Option<Format>) -> Result<History, ImportError> {
    parse_with(text, format, &ImportOptions::default()).map(|i| i.history)
}

/// [`parse`] with options, returning the warnings and the format's readings too.
pub fn parse_with(
    text: &str,
    format: Option<Format>,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(Imported {
            history: History::default(),
            format: None,
            warnings: Vec::new(),
            readings: Readings::default(),
        });
    }
    let format = match format.or_else(|| detect(text)) {
        Some(format) => format,
        None => {
            let line = text
                .lines()
                .position(|l| !l.trim().is_empty())
                .map(|i| i + 1);
            return Err(ImportError {
                file: None,
                line,
                format: None,
                problem: ImportProblem::UnknownFormat,
            });
        }
    };
    let parsed = match format {
        Format::Jsonl if options.operations_only => {
            jsonl::parse_operations(text).map(|h| (h, Vec::new()))
        }
        Format::Jsonl => jsonl::parse(text).map(|h| (h, Vec::new())),
        Format::JepsenEdn => jepsen_edn::parse(text, options.independent),
        Format::JepsenJson => jepsen_json::parse(text, options.independent),
        Format::PorcupineLog => porcupine_log::parse(text).map(|h| (h, Vec::new())),
        Format::PorcupineKv => porcupine_kv::parse(text).map(|h| (h, Vec::new())),
    };
    let (mut history, warnings) = parsed.map_err(|e| ImportError::from_parse(e, format))?;
    if options.operations_only {
        history.events = Vec::new();
    }
    Ok(Imported {
        history,
        format: Some(format),
        warnings,
        readings: format.readings(),
    })
}

/// Reads and parses a history file.
pub fn load(path: &Path, format: Option<Format>) -> Result<History, ImportError> {
    load_with(path, format, &ImportOptions::default()).map(|i| i.history)
}

/// [`load`] with options, returning the warnings and the format's readings too.
pub fn load_with(
    path: &Path,
    format: Option<Format>,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ImportError {
            file: None,
            line: None,
            format,
            problem: ImportProblem::Io(e.to_string()),
        }
        .in_file(path)
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        ImportError {
            file: None,
            line: Some(line),
            format,
            problem: ImportProblem::NotUtf8,
        }
        .in_file(path)
    })?;
    parse_with(&text, format, options).map_err(|e| e.in_file(path))
}

#[cfg(test)]
mod tests;
