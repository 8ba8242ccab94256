//! The in-memory Raft log: a snapshot boundary plus the entries after it, and the record of
//! which suffix has changed since the driver last persisted it.

use super::messages::{Entry, SnapshotMeta};

#[derive(Clone, Debug)]
pub struct RaftLog {
    /// Index and term of the last entry folded into the snapshot (0, 0 when there is none).
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    /// Entries `snapshot_index + 1 ..= last_index()`.
    entries: Vec<Entry>,
    pub committed: u64,
    pub applied: u64,
    /// Lowest index whose entry changed (appended or overwritten) since the last `take_unstable`.
    unstable_from: Option<u64>,
    /// Approximate bytes of entries held, to trigger compaction.
    bytes: usize,
}

impl RaftLog {
    pub fn new(snapshot: &SnapshotMeta, entries: Vec<Entry>) -> Self {
        let bytes = entries.iter().map(Entry::approx_size).sum();
        RaftLog {
            snapshot_index: snapshot.index,
            snapshot_term: snapshot.term,
            entries,
            committed: snapshot.index,
            applied: snapshot.index,
            unstable_from: None,
            bytes,
        }
    }

    pub fn first_index(&self) -> u64 {
        self.snapshot_index + 1
    }

    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The term of the entry at `index`, if it is known (in the log or at the snapshot boundary).
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.snapshot_index {
            return None;
        }
        self.entries.get((index - self.snapshot_index - 1) as usize)
    }

    /// Entries in `from ..= to`, clipped to what the log holds.
    pub fn slice(&self, from: u64, to: u64) -> &[Entry] {
        let lo = from.max(self.first_index());
        let hi = to.min(self.last_index());
        if lo > hi {
            return &[];
        }
        let base = self.snapshot_index + 1;
        &self.entries[(lo - base) as usize..=(hi - base) as usize]
    }

    /// Is a log ending at (`index`, `term`) at least as up to date as ours (Raft §5.4.1)?
    pub fn is_up_to_date(&self, index: u64, term: u64) -> bool {
        term > self.last_term() || (term == self.last_term() && index >= self.last_index())
    }

    pub fn append(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.mark_unstable(entry.index);
        self.bytes += entry.approx_size();
        self.entries.push(entry);
    }

    /// Drops every entry from `index` on (conflict truncation). Never touches committed entries.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(
            index > self.committed,
            "truncating committed entry {index} (commit {})",
            self.committed
        );
        if index > self.last_index() {
            return;
        }
        let keep = (index - self.snapshot_index - 1) as usize;
        self.bytes -= self.entries[keep..]
            .iter()
            .map(Entry::approx_size)
            .sum::<usize>();
        self.entries.truncate(keep);
        self.mark_unstable(index);
    }

    /// Forgets entries up to and including `index`, now covered by a snapshot.
    pub fn compact_to(&mut self, index: u64, term: u64) {
        if index <= self.snapshot_index {
            return;
        }
        let drop = ((index - self.snapshot_index) as usize).min(self.entries.len());
        self.bytes -= self.entries[..drop]
            .iter()
            .map(Entry::approx_size)
            .sum::<usize>();
        self.entries.drain(..drop);
        self.snapshot_index = index;
        self.snapshot_term = term;
        if let Some(u) = self.unstable_from {
            self.unstable_from = Some(u.max(index + 1));
        }
    }

    /// Replaces the whole log by a snapshot's boundary (nothing after it is kept).
    pub fn reset_to_snapshot(&mut self, index: u64, term: u64) {
        self.entries.clear();
        self.bytes = 0;
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.committed = self.committed.max(index);
        self.applied = index;
        self.unstable_from = Some(index + 1);
    }

    fn mark_unstable(&mut self, index: u64) {
        self.unstable_from = Some(self.unstable_from.map_or(index, |u| u.min(index)));
    }

    /// The suffix that must be written (after truncating storage at its first index).
    pub fn take_unstable(&mut self) -> Option<(u64, Vec<Entry>)> {
        let from = self.unstable_from.take()?;
        Some((from, self.slice(from, self.last_index()).to_vec()))
    }

    /// Committed entries not yet handed to the state machine, at most `max` of them.
    pub fn take_committed(&mut self, max: usize) -> Vec<Entry> {
        if self.applied >= self.committed {
            return Vec::new();
        }
        let to = self.committed.min(self.applied + max as u64);
        let out = self.slice(self.applied + 1, to).to_vec();
        self.applied += out.len() as u64;
        out
    }
}
