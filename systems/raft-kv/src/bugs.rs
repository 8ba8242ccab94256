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
    /// The leader serves reads from a lease timed on the wall clock, and trusts that lease in
    /// place of check-quorum: it steps down only when its wall-clock lease lapses. Safe while
    /// clocks are right (the lease ends before any follower may campaign); but if the leader's
    /// wall clock is set back by X while it is cut off (partitioned, or paused with SIGSTOP),
    /// it keeps acting as leader and serving local reads for about X after a new leader was
    /// elected elsewhere (a paused one only until a message of the newer term reaches it after
    /// it resumes). See `node::lease`.
    LeaseRead,
    /// A change of the voter set (`PUT /admin/members`) takes effect in one step, C_old to
    /// C_new, without the joint configuration C_old,new in between. Safe when one member
    /// changes (any majority of C_old meets any majority of C_new); when two change at
    /// once, a majority of C_old and a majority of C_new can be disjoint, and each can
    /// elect its own leader and commit its own entries.
    SingleStepMembership,
    /// Log appends are written but never fsync'd: the node acknowledges (votes for,
    /// commits, answers clients about) entries that are only in the page cache, so a
    /// power loss of enough nodes forgets acknowledged writes. A kill alone loses
    /// nothing: the kernel (or faultline's lazy filesystem) still holds the writes.
    NoFsync,
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
