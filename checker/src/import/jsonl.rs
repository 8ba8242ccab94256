//! faultline's own format, one JSON object per line (`docs/history.md`). The parser
//! lives with the types in [`crate::history`]; this module only gives it a place
//! beside the other importers.

pub use crate::history::parse_jsonl as parse;
