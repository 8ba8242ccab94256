//! The wall-clock leader lease of `--bug lease-read`.
//!
//! With this bug the leader answers reads from its own state machine while its lease holds, and
//! the lease also replaces check-quorum: the core is built with `check_quorum` off and the
//! driver deposes its leader (`Raft::step_down`) at the first tick at which the lease has
//! lapsed. The lease is kept fresh by one ReadIndex round (a "probe") per tick; a probe stamped
//! `sent` on the wall clock and confirmed by a quorum extends the lease to `sent + length`,
//! where `length` is one minimum election timeout less one tick.
//!
//! **Why this is safe when clocks are right.** A probe is confirmed once a quorum has answered
//! a heartbeat the leader sent after stamping it. Each of those followers reset its election
//! timer when that heartbeat arrived, at or after `sent`, and from then on it neither campaigns
//! nor grants its vote to anyone (a follower that heard from a leader within
//! `election_ticks_min` ticks ignores vote requests, see `Raft::step`) until its timer has
//! counted `election_ticks_min` ticks. Its first tick may come right after the heartbeat, so
//! that is at least `election_ticks_min - 1` tick lengths after `sent`, which is `length`: the
//! one tick is taken off for exactly that. Every quorum that could elect a successor includes
//! one of those followers, so no successor exists before the lease ends. Reads check the lease
//! themselves, against the wall clock at the moment each one is answered, so no local read is
//! served past its end. The step-down is only checked once per tick, so the leader may go on
//! accepting writes and ReadIndex reads for up to a tick after its lease; both still need a
//! quorum, so that is harmless. A process pause alone is harmless too: the wall clock runs on
//! while the process is stopped, so after SIGCONT the lease has lapsed.
//!
//! **The fresh leader's grace.** A new leader has confirmed nothing yet (its first probe only
//! starts once its no-op entry commits), so its step-down deadline runs one `length` from the
//! wall time it became leader; without that it would depose itself at its first tick and no
//! leader would survive. The grace serves no local read (reads need a confirmed probe), so it
//! only governs when the leader gives up, which a correct Raft may delay as long as it likes.
//!
//! **Why it is unsafe under clock skew.** If the leader's wall clock is set back by X while it
//! is cut off (partitioned, or paused with SIGSTOP), `now` stays below its lease end for X
//! longer: it keeps acting as leader and serving local reads for about X after a new leader was
//! elected elsewhere, returning values that miss that leader's writes. Check-quorum, which
//! counts monotonic ticks, would have deposed it whatever its wall clock said; it is off. (A
//! paused leader is deposed by the first message of the newer term it receives after it
//! resumes, but the reads queued during the pause are answered locally before that.)

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Probes whose confirmation is still awaited; older ones are forgotten beyond this (a lost
/// probe would otherwise stay forever, and a later one confirms a later lease anyway).
const MAX_OUTSTANDING_PROBES: usize = 64;

#[derive(Debug)]
pub(super) struct WallLease {
    length: Duration,
    /// The term in which this node leads, and the wall time it was first seen leading there.
    leading: Option<(u64, SystemTime)>,
    /// Wall time each outstanding probe was stamped, by ReadIndex context.
    probes: BTreeMap<u64, SystemTime>,
    /// End of the lease given by the latest quorum-confirmed probe of this leadership.
    confirmed_until: Option<SystemTime>,
}

impl WallLease {
    /// A lease of one minimum election timeout less one tick (see the module docs for why).
    pub(super) fn new(tick: Duration, election_ticks_min: u32) -> Self {
        WallLease {
            length: tick * election_ticks_min.saturating_sub(1).max(1),
            leading: None,
            probes: BTreeMap::new(),
            confirmed_until: None,
        }
    }

    /// Tells the lease whether this node leads (`Some(term)`) at wall time `now`. A new
    /// leadership starts afresh with its grace; losing leadership forgets everything.
    pub(super) fn observe(&mut self, leader_term: Option<u64>, now: SystemTime) {
        if self.leading.map(|(t, _)| t) == leader_term {
            return;
        }
        self.leading = leader_term.map(|t| (t, now));
        self.probes.clear();
        self.confirmed_until = None;
    }

    /// Records a probe stamped `sent` (taken before the ReadIndex round was started).
    pub(super) fn probe_sent(&mut self, ctx: u64, sent: SystemTime) {
        if self.leading.is_none() {
            return;
        }
        self.probes.insert(ctx, sent);
        while self.probes.len() > MAX_OUTSTANDING_PROBES {
            self.probes.pop_first();
        }
    }

    /// A quorum confirmed probe `ctx`: the lease runs to its stamp plus `length`, unless an
    /// earlier confirmation already gave more. True for the first confirmation of this
    /// leadership (from then on the leader serves reads alone).
    pub(super) fn probe_confirmed(&mut self, ctx: u64) -> bool {
        let Some(sent) = self.probes.remove(&ctx) else {
            return false;
        };
        let until = sent + self.length;
        let first = self.confirmed_until.is_none();
        self.confirmed_until = Some(self.confirmed_until.map_or(until, |u| u.max(until)));
        first
    }

    /// BUG (lease-read): whether a read may be answered from local state at wall time `now`.
    pub(super) fn serves_reads(&self, now: SystemTime) -> bool {
        self.leading.is_some() && self.confirmed_until.is_some_and(|until| now < until)
    }

    /// BUG (lease-read): whether the leader must step down at wall time `now`. This is the
    /// only thing that deposes a cut-off leader in this build.
    pub(super) fn lapsed(&self, now: SystemTime) -> bool {
        let Some((_, since)) = self.leading else {
            return false;
        };
        let grace = since + self.length;
        now >= self.confirmed_until.map_or(grace, |u| u.max(grace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(20);

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + Duration::from_millis(ms)
    }

    /// Min election timeout 15 ticks (300 ms): a lease of 14 ticks (280 ms).
    fn lease() -> WallLease {
        WallLease::new(TICK, 15)
    }

    #[test]
    fn a_fresh_leader_gets_a_grace_but_serves_no_local_read() {
        let mut l = lease();
        l.observe(Some(3), at(0));
        assert!(!l.serves_reads(at(1)));
        assert!(!l.lapsed(at(279)));
        assert!(l.lapsed(at(280)));
    }

    #[test]
    fn a_confirmed_probe_runs_the_lease_from_its_sending() {
        let mut l = lease();
        l.observe(Some(3), at(0));
        l.probe_sent(7, at(100));
        l.probe_sent(8, at(120));
        assert!(!l.serves_reads(at(130)), "nothing confirmed yet");
        assert!(l.probe_confirmed(8), "the first confirmation is reported");
        assert!(l.serves_reads(at(399)));
        assert!(!l.serves_reads(at(400)));
        assert!(!l.lapsed(at(399)));
        assert!(l.lapsed(at(400)));
        // A late confirmation of an older probe never shortens the lease.
        assert!(!l.probe_confirmed(7));
        assert!(l.serves_reads(at(399)));
        // Unknown or repeated confirmations change nothing.
        assert!(!l.probe_confirmed(8));
        assert!(!l.probe_confirmed(99));
        assert!(!l.serves_reads(at(400)));
    }

    #[test]
    fn a_clock_set_back_keeps_the_lease_alive_for_as_long() {
        let mut l = lease();
        l.observe(Some(1), at(0));
        l.probe_sent(1, at(1_000));
        assert!(l.probe_confirmed(1));
        // At real time 21_200, with the clock set back by 20 s, the node reads 1_200: the
        // lease (to 1_280) still looks valid, twenty seconds after it truly ended.
        assert!(l.serves_reads(at(1_200)));
        assert!(!l.lapsed(at(1_200)));
        // Later probes are stamped with the set-back clock and cannot move the end back.
        l.probe_sent(2, at(900));
        assert!(!l.probe_confirmed(2));
        assert!(l.serves_reads(at(1_250)));
    }

    #[test]
    fn losing_or_changing_leadership_forgets_the_lease() {
        let mut l = lease();
        l.observe(Some(1), at(0));
        l.probe_sent(1, at(10));
        assert!(l.probe_confirmed(1));
        assert!(l.serves_reads(at(20)));
        l.observe(None, at(30));
        assert!(!l.serves_reads(at(31)));
        assert!(!l.lapsed(at(10_000)), "a follower has nothing to lapse");
        l.probe_sent(2, at(40));
        assert!(!l.probe_confirmed(2));
        assert!(
            !l.serves_reads(at(41)),
            "probes are ignored while not leading"
        );
        l.observe(Some(2), at(50));
        l.probe_sent(3, at(60));
        l.observe(Some(4), at(70));
        assert!(!l.probe_confirmed(3));
        assert!(
            !l.serves_reads(at(80)),
            "a probe of an earlier term confers nothing"
        );
        assert!(!l.lapsed(at(349)));
        assert!(l.lapsed(at(350)), "the grace restarts with the new term");
    }

    #[test]
    fn the_lease_is_at_least_one_tick() {
        let mut l = WallLease::new(TICK, 1);
        l.observe(Some(1), at(0));
        assert!(!l.lapsed(at(19)));
        assert!(l.lapsed(at(20)));
    }
}
