//! Bug switches: each re-creates a real class of consensus bug, so the harness can prove it
//! catches it. The correct build has none on.

use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Bug {
    /// Every node answers reads from its local state, without forwarding or ReadIndex.
    StaleRead,
    /// The leader acknowledges a write as soon as it is in its own log, before it commits.
    EarlyAck,
    /// Votes are granted without checking that the candidate's log is up to date.
    NoLogCheck,
    /// Term, vote, log and snapshots live only in memory: a restarted node forgets them.
    VolatileState,
    /// The leader answers reads locally while a wall-clock lease is valid (unsafe under clock
    /// skew and process pauses).
    LeaseRead,
}

#[derive(Clone, Debug, Default)]
pub struct Bugs(Vec<Bug>);

impl Bugs {
    pub fn new(mut list: Vec<Bug>) -> Self {
        list.sort();
        list.dedup();
        Bugs(list)
    }
    pub fn has(&self, bug: Bug) -> bool {
        self.0.contains(&bug)
    }
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|b| b.to_possible_value().unwrap().get_name().to_string())
            .collect()
    }
}
