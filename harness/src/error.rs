//! The harness's one error style: `anyhow` everywhere, with [`BadInput`] marking the
//! errors that are the user's to fix (a bad flag, file or setting), so the CLI can
//! tell them apart from the harness failing at its job (exit 3 vs 4).

use std::fmt;

/// An error in what the user asked for, with a message that names where (flag,
/// file and key, node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// A [`BadInput`] as an `anyhow::Error`.
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(message.into()))
}

/// Whether an error (or any error in its chain) is the user's.
pub fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<BadInput>())
}
