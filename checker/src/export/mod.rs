//! Writing histories in other tools' formats. faultline's own JSONL is written by
//! [`crate::history::History::to_jsonl`].

pub mod edn;
