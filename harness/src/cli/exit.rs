//! Exit codes, shared by every subcommand so CI scripts can rely on them.
//!
//! They follow Jepsen's convention for verdicts (0 valid, 1 invalid, 2 unknown) and
//! keep bad input apart from a harness that could not do its job, because the two
//! call for different fixes: the first is the user's, the second the machine's.

use std::process::ExitCode;

/// Every history checked was valid.
pub const VALID: u8 = 0;
/// At least one history (or test) was found invalid.
pub const INVALID: u8 = 1;
/// Nothing invalid, but at least one verdict is unknown (time or memory ran out).
pub const UNKNOWN: u8 = 2;
/// Bad input or usage: a malformed history, an unknown flag, a bad config file.
pub const BAD_INPUT: u8 = 3;
/// The harness could not do its job: no root, a node that would not start, an
/// interrupted run.
pub const HARNESS_ERROR: u8 = 4;

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
