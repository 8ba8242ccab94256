//! What the linearizability and sequential-consistency checkers share, so neither
//! reaches into the other's internals:
//! - `budget`: the deadline, memory budget and stop signal every search of one check
//!   shares, and the [`StopReason`] a report gives when one ran out.
//! - `memo`: the table of explored configurations, with dominance on crashed
//!   operations, and the Zobrist keys that fingerprint a set of operations.
//! - `report`: operations spelled out for counterexamples ([`OpSummary`],
//!   [`BlockedOp`]) and the outcome of one search.
//! - `phase`: the long linear phases before a search (preparing operations, building
//!   and sorting its tables), polled against the budget so a limit is honoured there
//!   too.
//! - `per_key`: the driver that checks a history's keys in parallel.

pub(crate) mod budget;
pub(crate) mod memo;
pub(crate) mod per_key;
pub(crate) mod phase;
pub(crate) mod report;

pub use budget::StopReason;
pub use report::{BlockedOp, OpSummary, TAIL};
