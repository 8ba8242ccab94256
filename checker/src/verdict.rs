//! The answer every checker gives, and how answers combine.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A checker's answer about one history (or one part of it).
///
/// `Unknown` is a first-class answer, not an error: a check that ran out of time or
/// memory says so instead of guessing, and says what it did prove in its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Invalid,
    Unknown,
}

impl Verdict {
    /// The verdict of a whole made of parts: any invalid part makes the whole
    /// invalid (one proven violation is enough), otherwise any unknown part leaves it
    /// unknown.
    pub fn and(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Invalid, _) | (_, Invalid) => Invalid,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => Valid,
        }
    }

    /// Combines many verdicts; an empty collection is `Valid`.
    pub fn all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().fold(Verdict::Valid, Verdict::and)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::*;
    use super::*;

    #[test]
    fn invalid_dominates_unknown_which_dominates_valid() {
        assert_eq!(Valid.and(Valid), Valid);
        assert_eq!(Valid.and(Unknown), Unknown);
        assert_eq!(Unknown.and(Invalid), Invalid);
        assert_eq!(Invalid.and(Valid), Invalid);
        assert_eq!(Verdict::all([]), Valid);
        assert_eq!(Verdict::all([Valid, Unknown, Valid]), Unknown);
    }
}
