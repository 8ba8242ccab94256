//! How a test ended, as the CLI maps it onto exit codes.

use crate::results::RunResults;
use checker::verdict::Verdict;
use std::path::{Path, PathBuf};

/// How one test ended.
#[derive(Debug)]
pub enum Outcome {
    /// The history was checked (an interrupted run's partial history too).
    Checked(Box<RunResults>),
    /// The user asked for something the system or the machine cannot do; found
    /// before anything started.
    BadInput(String),
    /// The harness could not do its job; the results folder, if one was made, holds
    /// what was recorded and a `results.json` with the error.
    HarnessError {
        error: String,
        run_dir: Option<PathBuf>,
    },
}

impl Outcome {
    /// The verdict that decides the exit code (the promises', when there are some).
    pub fn verdict(&self) -> Option<Verdict> {
        match self {
            Outcome::Checked(r) => Some(r.decisive_verdict()),
            _ => None,
        }
    }

    pub fn interrupted(&self) -> bool {
        matches!(self, Outcome::Checked(r) if r.interrupted)
    }

    pub fn run_dir(&self) -> Option<&Path> {
        match self {
            Outcome::Checked(r) => Some(&r.run_dir),
            Outcome::HarnessError { run_dir, .. } => run_dir.as_deref(),
            Outcome::BadInput(_) => None,
        }
    }

    /// What stopped the run, if anything did.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Checked(r) if r.interrupted => Some("interrupted"),
            Outcome::Checked(_) => None,
            Outcome::BadInput(e) | Outcome::HarnessError { error: e, .. } => Some(e),
        }
    }
}
