//! Session guarantees (Terry et al. 1994), judged per process and per key.
//!
//! On the append workload every guarantee is exact, because a read returns the whole
//! list of a key and elements are unique: the list says which writes a read saw and
//! in what order. The rules (see `docs/consistency.md` for the full text):
//!
//! - monotonic reads: each read of a key by a process extends (has as a prefix) the
//!   longest list the process has read from that key so far;
//! - read-your-writes: each read of a key by a process contains every element the
//!   process appended to that key with an acknowledged append before the read;
//! - monotonic writes: if a process appended `a` (acknowledged) and later appended
//!   `b` to the same key, every read, by anyone, that contains `b` has `a` before it;
//! - writes-follow-reads: if a process read list `L` from a key and later appended
//!   `b` to it, every read, by anyone, that contains `b` has every element of `L`
//!   before `b`.
//!
//! On registers these need the system's version order; [`check_registers`] uses the
//! per-key integer version that systems report on completions (the history event's
//! `version`: a Raft log index, an etcd `mod_revision`) and says `unknown`, with the
//! reason, for what it cannot judge without one.

use super::append_index::{AppendIndex, ReadObs, NONE};
use super::{is_read, show_list, Examples, OpRef, ShapeError, DEFAULT_MAX_EXAMPLES};
use crate::history::{History, Operation, Outcome};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionOptions {
    /// How many example violations each guarantee keeps (counts are always exact).
    pub max_examples: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            max_examples: DEFAULT_MAX_EXAMPLES,
        }
    }
}

/// The four guarantees, in the order reports list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guarantee {
    MonotonicReads,
    MonotonicWrites,
    ReadYourWrites,
    WritesFollowReads,
}

impl Guarantee {
    pub const ALL: [Guarantee; 4] = [
        Guarantee::MonotonicReads,
        Guarantee::MonotonicWrites,
        Guarantee::ReadYourWrites,
        Guarantee::WritesFollowReads,
    ];

    /// What a history must contain for the guarantee to be judged.
    fn needs(self) -> &'static str {
        match self {
            Guarantee::MonotonicReads => "no acknowledged reads",
            Guarantee::MonotonicWrites => "no acknowledged reads to show the order of writes",
            Guarantee::ReadYourWrites => {
                "no process read a key after an acknowledged write of its own"
            }
            Guarantee::WritesFollowReads => "no acknowledged reads to show the order of writes",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Guarantee::MonotonicReads => "monotonic reads",
            Guarantee::MonotonicWrites => "monotonic writes",
            Guarantee::ReadYourWrites => "read-your-writes",
            Guarantee::WritesFollowReads => "writes-follow-reads",
        }
    }
}

/// One violation: whose session, which key, the two operations the guarantee
/// relates (in session order), the read that shows it when that is a third operation
/// (monotonic writes and writes-follow-reads are seen in anyone's reads), and what
/// was expected against what was observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionViolation {
    pub guarantee: Guarantee,
    pub process: u64,
    pub key: Value,
    pub first: OpRef,
    pub second: OpRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<OpRef>,
    pub expected: String,
    pub observed: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuaranteeReport {
    pub guarantee: Guarantee,
    pub verdict: Verdict,
    /// How many operations (reads, or for register writes, writes) were judged.
    pub checked: u64,
    /// Violating operations (exact), with the first few as examples.
    pub violations: Examples<SessionViolation>,
    /// Why the verdict is `unknown`, or what the check could not see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl GuaranteeReport {
    fn new(guarantee: Guarantee) -> Self {
        GuaranteeReport {
            guarantee,
            verdict: Verdict::Valid,
            checked: 0,
            violations: Examples::new(),
            note: None,
        }
    }

    /// Invalid on any violation; `unknown` when nothing could be judged (a history
    /// with no reads proves no guarantee, and is not reported as keeping it).
    fn finish(mut self) -> Self {
        if self.violations.count > 0 {
            self.verdict = Verdict::Invalid;
        } else if self.checked == 0 && self.verdict == Verdict::Valid {
            self.verdict = Verdict::Unknown;
            self.note = Some(format!("nothing to judge: {}", self.guarantee.needs()));
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    /// `append` or `register`.
    pub workload: String,
    /// All four guarantees together: invalid if any is violated.
    pub verdict: Verdict,
    pub monotonic_reads: GuaranteeReport,
    pub monotonic_writes: GuaranteeReport,
    pub read_your_writes: GuaranteeReport,
    pub writes_follow_reads: GuaranteeReport,
    /// Reads that returned an element more than once: not a session violation, but
    /// a broken list a person should see.
    pub reads_with_duplicates: Examples<OpRef>,
    /// Registers only: operations whose versions contradict each other (see
    /// [`VersionConflict`]). Any makes the report `invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_conflicts: Option<Examples<VersionConflict>>,
}

/// Two acknowledged operations on a key whose versions cannot both be true: two
/// writes that claim to have created the same version, or a read that returned, at
/// some version, another value than the write that created it (or than `null`, at
/// version 0). The system's versions are then not the order of its writes, which is
/// a bug in itself, and no guarantee can be judged from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionConflict {
    pub key: Value,
    pub version: u64,
    /// The operation that first tied a value to this version (none for version 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<OpRef>,
    pub second: OpRef,
    pub detail: String,
}

impl SessionReport {
    pub fn guarantee(&self, g: Guarantee) -> &GuaranteeReport {
        match g {
            Guarantee::MonotonicReads => &self.monotonic_reads,
            Guarantee::MonotonicWrites => &self.monotonic_writes,
            Guarantee::ReadYourWrites => &self.read_your_writes,
            Guarantee::WritesFollowReads => &self.writes_follow_reads,
        }
    }

    fn assemble(workload: &str, parts: [GuaranteeReport; 4], dups: Examples<OpRef>) -> Self {
        let [mr, mw, ryw, wfr] = parts;
        SessionReport {
            workload: workload.to_string(),
            verdict: Verdict::all([mr.verdict, mw.verdict, ryw.verdict, wfr.verdict]),
            monotonic_reads: mr,
            monotonic_writes: mw,
            read_your_writes: ryw,
            writes_follow_reads: wfr,
            reads_with_duplicates: dups,
            version_conflicts: None,
        }
    }
}

/// Checks all four guarantees on an append-workload history.
pub fn check(history: &History, opts: &SessionOptions) -> Result<SessionReport, ShapeError> {
    let index = AppendIndex::build(history)?;
    Ok(check_indexed(history, &index, opts))
}

/// Per (process, key) session state, in the process's own order.
struct SessionState {
    /// The longest list read so far (monotonic reads' high-water mark) and the read
    /// that returned it.
    high_water: u32,
    high_water_op: Option<usize>,
    /// Elements of this process's acknowledged appends to the key, in order.
    own_ok: Vec<u32>,
}

/// Checks all four guarantees against a prebuilt index (so that eventual
/// consistency can share it). The index must have been built from this history.
pub fn check_indexed(history: &History, ix: &AppendIndex, opts: &SessionOptions) -> SessionReport {
    let limit = opts.max_examples;
    let (mw_break, dup_at) = monotonic_write_breaks(ix);
    let order = in_process_order(history, ix, &mw_break, limit);
    let wfr_break = writes_follow_reads_breaks(ix, &order.dep_of_elem);
    let mut mw = GuaranteeReport::new(Guarantee::MonotonicWrites);
    let mut wfr = GuaranteeReport::new(Guarantee::WritesFollowReads);
    let mut dups = Examples::new();
    for obs in &ix.reads {
        let read = &history.ops[obs.op];
        mw.checked += 1;
        wfr.checked += 1;
        let b = mw_break[obs.node as usize];
        if b != NONE {
            mw.violations
                .offer(limit, || monotonic_write_violation(history, ix, obs, b));
        }
        let b = wfr_break[obs.node as usize];
        if b != NONE {
            wfr.violations.offer(limit, || {
                writes_follow_reads_violation(history, ix, &order.dep_of_elem, obs, b)
            });
        }
        if dup_at[obs.node as usize] {
            dups.offer(limit, || OpRef::of(read));
        }
    }
    SessionReport::assemble(
        "append",
        [
            order.mr.finish(),
            mw.finish(),
            order.ryw.finish(),
            wfr.finish(),
        ],
        dups,
    )
}

/// Monotonic writes, per trie node: the first node on the path whose element's
/// session predecessor is not before it (`NONE` if there is none), and whether the
/// path holds an element twice. Nodes are created parent first, so one pass in node
/// order sees each parent before its children and every read's verdict is then a
/// lookup.
fn monotonic_write_breaks(ix: &AppendIndex) -> (Vec<u32>, Vec<bool>) {
    let n_nodes = ix.nodes.len();
    let mut mw_break = vec![NONE; n_nodes];
    let mut dup_at = vec![false; n_nodes];
    for n in 0..n_nodes {
        let node = &ix.nodes[n];
        if node.elem == NONE {
            continue;
        }
        let parent = node.parent;
        mw_break[n] = mw_break[parent as usize];
        if mw_break[n] == NONE {
            let prev = ix.elems[node.elem as usize].prev_ok;
            if prev != NONE && !ix.contains(parent, prev) {
                mw_break[n] = n as u32;
            }
        }
        dup_at[n] = dup_at[parent as usize]
            || (ix.is_scattered(node.elem) && ix.contains(parent, node.elem));
    }
    (mw_break, dup_at)
}

/// What the pass over each process's operations in order finds: the two
/// guarantees about one process's reads, and what each append followed.
struct InOrder {
    mr: GuaranteeReport,
    ryw: GuaranteeReport,
    /// For each element, the longest list its appending process had read of the key
    /// before appending it, and that read (writes-follow-reads' dependency).
    dep_of_elem: Vec<(u32, usize)>,
}

/// Monotonic reads and read-your-writes need each process's session state as of
/// each read, so they are checked in one pass over the history in order; on the way
/// it records what each append followed, for writes-follow-reads.
fn in_process_order(
    history: &History,
    ix: &AppendIndex,
    mw_break: &[u32],
    limit: usize,
) -> InOrder {
    let mut out = InOrder {
        mr: GuaranteeReport::new(Guarantee::MonotonicReads),
        ryw: GuaranteeReport::new(Guarantee::ReadYourWrites),
        dep_of_elem: vec![(NONE, usize::MAX); ix.elems.len()],
    };
    let mut sessions: super::FastMap<(u64, u32), SessionState> = super::FastMap::default();
    let mut read_at = 0usize;
    for op in &history.ops {
        let e = ix.op_elem[op.id];
        if e != NONE {
            let key = ix.elems[e as usize].key;
            let s = session(&mut sessions, ix, op.process, key);
            if let Some(hw_op) = s.high_water_op {
                out.dep_of_elem[e as usize] = (s.high_water, hw_op);
            }
            if op.outcome == Outcome::Ok {
                s.own_ok.push(e);
            }
            continue;
        }
        if !(is_read(op) && op.outcome == Outcome::Ok) {
            continue;
        }
        let obs = ix.reads[read_at];
        read_at += 1;
        debug_assert_eq!(obs.op, op.id);
        let s = session(&mut sessions, ix, op.process, obs.key);
        out.mr.checked += 1;
        if let Some(v) = monotonic_read(history, ix, s, op, &obs) {
            out.mr.violations.offer(limit, v);
        }
        if !s.own_ok.is_empty() {
            out.ryw.checked += 1;
            if let Some(v) = read_your_writes(history, ix, mw_break, s, op, &obs) {
                out.ryw.violations.offer(limit, v);
            }
        }
    }
    out
}

/// Monotonic reads at one read: it must extend the longest list the session read
/// before (which it then becomes). Returns the violation, built only if wanted.
fn monotonic_read<'a>(
    history: &'a History,
    ix: &'a AppendIndex,
    s: &mut SessionState,
    op: &'a Operation,
    obs: &ReadObs,
) -> Option<impl FnOnce() -> SessionViolation + 'a> {
    let n = obs.node;
    if ix.is_prefix(s.high_water, n) {
        s.high_water = n;
        s.high_water_op = Some(op.id);
        return None;
    }
    let (hw, hw_op) = (
        s.high_water,
        s.high_water_op.expect("root is a prefix of all"),
    );
    let key = obs.key;
    Some(move || SessionViolation {
        guarantee: Guarantee::MonotonicReads,
        process: op.process,
        key: ix.key_value(key),
        first: OpRef::of(&history.ops[hw_op]),
        second: OpRef::of(op),
        witness: None,
        expected: format!("an extension of {}", show_list(&ix.list(hw))),
        observed: describe_non_extension(ix, hw, n),
    })
}

/// Read-your-writes at one read: it must hold every element the session appended
/// (acknowledged) before it. Returns the violation, built only if wanted.
fn read_your_writes<'a>(
    history: &'a History,
    ix: &'a AppendIndex,
    mw_break: &[u32],
    s: &SessionState,
    op: &'a Operation,
    obs: &ReadObs,
) -> Option<impl FnOnce() -> SessionViolation + 'a> {
    let n = obs.node;
    let last = *s.own_ok.last()?;
    let all_present = match ix.find_on_path(last, n) {
        None => false,
        // The chain of session predecessors behind `last` is all there.
        Some(m) if mw_break[m as usize] == NONE => true,
        Some(_) => s.own_ok.iter().all(|&x| ix.contains(n, x)),
    };
    if all_present {
        return None;
    }
    let missing = *s.own_ok.iter().find(|&&x| !ix.contains(n, x)).unwrap();
    let key = obs.key;
    Some(move || {
        let writer = &history.ops[ix.elems[missing as usize].writer.unwrap()];
        SessionViolation {
            guarantee: Guarantee::ReadYourWrites,
            process: op.process,
            key: ix.key_value(key),
            first: OpRef::of(writer),
            second: OpRef::of(op),
            witness: None,
            expected: format!(
                "a list containing {}, which this process appended (acknowledged) before reading",
                ix.elem_value(missing)
            ),
            observed: format!("{} without it", show_list(&ix.list(n))),
        }
    })
}

/// Writes-follow-reads, per trie node, once every append's dependency is known: the
/// first node on the path whose element's appender had read something the list
/// before it lacks (`NONE` if there is none).
fn writes_follow_reads_breaks(ix: &AppendIndex, dep_of_elem: &[(u32, usize)]) -> Vec<u32> {
    let mut wfr_break = vec![NONE; ix.nodes.len()];
    for n in 0..ix.nodes.len() {
        let node = &ix.nodes[n];
        if node.elem == NONE {
            continue;
        }
        wfr_break[n] = wfr_break[node.parent as usize];
        if wfr_break[n] == NONE {
            let (dep, _) = dep_of_elem[node.elem as usize];
            if dep != NONE && !read_precedes(ix, dep, node.parent) {
                wfr_break[n] = n as u32;
            }
        }
    }
    wfr_break
}

/// The monotonic-writes violation a read witnesses: at trie node `b`, an element
/// present without (or before) the same process's earlier acknowledged append.
fn monotonic_write_violation(
    history: &History,
    ix: &AppendIndex,
    obs: &ReadObs,
    b: u32,
) -> SessionViolation {
    let read = &history.ops[obs.op];
    let e2 = ix.nodes[b as usize].elem;
    let e1 = ix.elems[e2 as usize].prev_ok;
    let w2 = ix.writer(history, e2).unwrap();
    let w1 = ix.writer(history, e1).unwrap();
    let list = show_list(&ix.list(obs.node));
    let (v1, v2) = (ix.elem_value(e1), ix.elem_value(e2));
    let observed = if ix.contains(obs.node, e1) {
        format!("{v1} after {v2} in {list}")
    } else {
        format!("{v2} present without {v1}: {list}")
    };
    SessionViolation {
        guarantee: Guarantee::MonotonicWrites,
        process: w2.process,
        key: ix.key_value(obs.key),
        first: OpRef::of(w1),
        second: OpRef::of(w2),
        witness: Some(OpRef::of(read)),
        expected: format!(
            "{v1} before {v2}: the same process appended them in that order, the first acknowledged"
        ),
        observed,
    }
}

/// The writes-follow-reads violation a read witnesses: at trie node `b`, an element
/// whose appender had read an element the list before it lacks.
fn writes_follow_reads_violation(
    history: &History,
    ix: &AppendIndex,
    dep_of_elem: &[(u32, usize)],
    obs: &ReadObs,
    b: u32,
) -> SessionViolation {
    let read = &history.ops[obs.op];
    let e2 = ix.nodes[b as usize].elem;
    let (dep, dep_op) = dep_of_elem[e2 as usize];
    let w2 = ix.writer(history, e2).unwrap();
    let before = ix.nodes[b as usize].parent;
    let missing = first_missing(ix, dep, before)
        .map(|e| ix.elem_value(e).to_string())
        .unwrap_or_default();
    SessionViolation {
        guarantee: Guarantee::WritesFollowReads,
        process: w2.process,
        key: ix.key_value(obs.key),
        first: OpRef::of(&history.ops[dep_op]),
        second: OpRef::of(w2),
        witness: Some(OpRef::of(read)),
        expected: format!(
            "every element of {} (read by the appending process first) before {}",
            show_list(&ix.list(dep)),
            ix.elem_value(e2)
        ),
        observed: format!(
            "{} has {} without {missing} before it",
            show_list(&ix.list(obs.node)),
            ix.elem_value(e2)
        ),
    }
}

fn session<'a>(
    sessions: &'a mut super::FastMap<(u64, u32), SessionState>,
    ix: &AppendIndex,
    process: u64,
    key: u32,
) -> &'a mut SessionState {
    sessions
        .entry((process, key))
        .or_insert_with(|| SessionState {
            high_water: ix.root(key),
            high_water_op: None,
            own_ok: Vec::new(),
        })
}

/// Whether every element of the list at `dep` occurs in the list at `before`: O(1)
/// when `dep` is a prefix (always, in a correct system), else element by element.
fn read_precedes(ix: &AppendIndex, dep: u32, before: u32) -> bool {
    ix.is_prefix(dep, before) || first_missing(ix, dep, before).is_none()
}

/// An element of the list at `dep` that the list at `before` lacks.
fn first_missing(ix: &AppendIndex, dep: u32, before: u32) -> Option<u32> {
    let mut cur = dep;
    let mut missing = None;
    while ix.nodes[cur as usize].elem != NONE {
        let e = ix.nodes[cur as usize].elem;
        if !ix.contains(before, e) {
            missing = Some(e);
        }
        cur = ix.nodes[cur as usize].parent;
    }
    missing
}

/// Says how the list at `n` fails to extend the list at `hw`.
fn describe_non_extension(ix: &AppendIndex, hw: u32, n: u32) -> String {
    let common = ix.common_prefix(hw, n);
    let d = ix.depth(common);
    let hw_list = ix.list(hw);
    if common == n {
        format!(
            "{}: a stale prefix, missing {} already read",
            show_list(&ix.list(n)),
            show_list(&hw_list[d as usize..])
        )
    } else {
        let found = ix.elem_value(ix.nodes[ix.ancestor_at(n, d + 1) as usize].elem);
        format!(
            "{}: diverges at position {d}, where {} was read before and {} now",
            show_list(&ix.list(n)),
            hw_list[d as usize],
            found
        )
    }
}

// ---------------------------------------------------------------------------------
// Registers.

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterOptions {
    /// How many example violations each guarantee keeps (counts are always exact).
    pub max_examples: usize,
}

impl Default for RegisterOptions {
    fn default() -> Self {
        RegisterOptions {
            max_examples: DEFAULT_MAX_EXAMPLES,
        }
    }
}

/// Per (process, key) register session state: the versions that bound what the
/// process may see or create next, each with the operation that set it.
#[derive(Default)]
struct RegisterSession {
    /// The highest version the process has read (monotonic reads' high-water mark).
    max_read: Option<(u64, usize)>,
    /// The highest version of the process's own acknowledged writes.
    max_write: Option<(u64, usize)>,
    /// The version of the process's last acknowledged write (monotonic writes).
    last_write: Option<(u64, usize)>,
}

/// Why a register guarantee could not be judged for some operations.
#[derive(Default)]
struct Unversioned {
    reads: u64,
    writes: u64,
}

/// Session guarantees on a register workload (`write`, `cas`, `read`, `final-read`).
///
/// A register read returns one value, which says nothing about which earlier writes
/// the read saw: without a version order, no session guarantee can be judged (a read
/// of an older value may be a later write of the same value). With the per-key
/// version a system reports on `ok` completions ([`crate::history::Event::version`]:
/// for a read the version of the value read, 0 for a key never written; for a write
/// or CAS the version it created):
///
/// - monotonic reads: a process's read of a key has a version at least the highest
///   it read from the key before;
/// - read-your-writes: a read's version is at least that of every acknowledged write
///   the process made to the key before it;
/// - monotonic writes: each acknowledged write of a process to a key has a version
///   greater than its previous acknowledged write's;
/// - writes-follow-reads: a process's acknowledged write has a version greater than
///   every version the process read from the key before it.
///
/// These are exact for a total per-key order, which the check verifies as far as a
/// history can show it: each version of a key must stand for one value, and for at
/// most one acknowledged write ([`VersionConflict`]); conflicts make the report
/// `invalid` and the guarantees judged from those versions `unknown`.
///
/// A vector clock is a partial order and
/// is not an integer: such histories carry no `version`, and every guarantee is
/// `unknown` with the reason. Acknowledged operations without a version make the
/// guarantees they feed `unknown` (with counts) rather than being guessed at.
pub fn check_registers(history: &History, opts: &RegisterOptions) -> SessionReport {
    let limit = opts.max_examples;
    let mut reports = RegisterReports {
        limit,
        mr: GuaranteeReport::new(Guarantee::MonotonicReads),
        mw: GuaranteeReport::new(Guarantee::MonotonicWrites),
        ryw: GuaranteeReport::new(Guarantee::ReadYourWrites),
        wfr: GuaranteeReport::new(Guarantee::WritesFollowReads),
    };
    let mut missing = Unversioned::default();
    let mut sessions: HashMap<(u64, super::Atom), RegisterSession> = HashMap::new();
    let mut conflicts = Examples::new();
    // Per (key, version): the value tied to it and the operation that tied it; and
    // whether that operation was a write (it created the version).
    let mut tied: HashMap<(super::Atom, u64), (Value, usize, bool)> = HashMap::new();
    for op in &history.ops {
        let is_write = op.f == "write" || op.f == "cas";
        if op.outcome != Outcome::Ok || !(is_read(op) || is_write) {
            continue;
        }
        let Some(v) = op.version else {
            if is_write {
                missing.writes += 1;
            } else {
                missing.reads += 1;
            }
            continue;
        };
        let key_atom = op.key.as_ref().map_or(super::Atom::Null, super::Atom::of);
        if let Some(detail) = tie(&mut tied, op, key_atom.clone(), v, is_write) {
            let first = tied
                .get(&(key_atom.clone(), v))
                .filter(|(_, first, _)| *first != op.id)
                .map(|(_, first, _)| OpRef::of(&history.ops[*first]));
            conflicts.offer(limit, || VersionConflict {
                key: super::show_key(&op.key),
                version: v,
                first,
                second: OpRef::of(op),
                detail,
            });
        }
        let s = sessions.entry((op.process, key_atom)).or_default();
        let seen = Versioned { history, op, v };
        if is_write {
            reports.write(s, &seen);
        } else {
            reports.read(s, &seen);
        }
    }
    let any_version = history.ops.iter().any(|op| op.version.is_some());
    reports.assemble(&missing, conflicts, any_version)
}

/// An acknowledged operation with a version, as the register checks see it.
struct Versioned<'a> {
    history: &'a History,
    op: &'a Operation,
    v: u64,
}

impl Versioned<'_> {
    /// The violation of `g` this operation commits against the earlier operation
    /// `first`, expecting `expected`.
    fn violation(&self, g: Guarantee, first: usize, expected: String) -> SessionViolation {
        SessionViolation {
            guarantee: g,
            process: self.op.process,
            key: super::show_key(&self.op.key),
            first: OpRef::of(&self.history.ops[first]),
            second: OpRef::of(self.op),
            witness: None,
            expected,
            observed: format!("version {}", self.v),
        }
    }
}

/// The four guarantees' reports as the register check fills them, one operation at
/// a time in history order.
struct RegisterReports {
    limit: usize,
    mr: GuaranteeReport,
    mw: GuaranteeReport,
    ryw: GuaranteeReport,
    wfr: GuaranteeReport,
}

impl RegisterReports {
    /// A write must be above the session's previous write (monotonic writes) and
    /// above everything it read (writes-follow-reads).
    fn write(&mut self, s: &mut RegisterSession, seen: &Versioned) {
        let (v, limit) = (seen.v, self.limit);
        self.mw.checked += 1;
        if let Some((w, w_op)) = s.last_write.filter(|&(w, _)| v <= w) {
            self.mw.violations.offer(limit, || {
                let expected =
                    format!("a version above {w}, this process's previous acknowledged write");
                seen.violation(Guarantee::MonotonicWrites, w_op, expected)
            });
        }
        if let Some((r, r_op)) = s.max_read {
            self.wfr.checked += 1;
            if v <= r {
                self.wfr.violations.offer(limit, || {
                    let expected =
                        format!("a version above {r}, the newest this process read before writing");
                    seen.violation(Guarantee::WritesFollowReads, r_op, expected)
                });
            }
        }
        s.last_write = Some((v, seen.op.id));
        if s.max_write.is_none_or(|(m, _)| v > m) {
            s.max_write = Some((v, seen.op.id));
        }
    }

    /// A read must be at or above everything the session read (monotonic reads) and
    /// everything it wrote (read-your-writes).
    fn read(&mut self, s: &mut RegisterSession, seen: &Versioned) {
        let (v, limit) = (seen.v, self.limit);
        self.mr.checked += 1;
        if let Some((r, r_op)) = s.max_read.filter(|&(r, _)| v < r) {
            self.mr.violations.offer(limit, || {
                let expected = format!("version {r} or later, already read by this process");
                seen.violation(Guarantee::MonotonicReads, r_op, expected)
            });
        }
        if let Some((w, w_op)) = s.max_write {
            self.ryw.checked += 1;
            if v < w {
                self.ryw.violations.offer(limit, || {
                    let expected =
                        format!("version {w} or later, written by this process (acknowledged)");
                    seen.violation(Guarantee::ReadYourWrites, w_op, expected)
                });
            }
        }
        if s.max_read.is_none_or(|(m, _)| v > m) {
            s.max_read = Some((v, seen.op.id));
        }
    }

    /// The report: each guarantee finished (unknown where versions are missing or
    /// contradict each other), `invalid` outright on any version conflict.
    fn assemble(
        self,
        missing: &Unversioned,
        conflicts: Examples<VersionConflict>,
        any_version: bool,
    ) -> SessionReport {
        let finish = |r: GuaranteeReport| {
            let mut r = register_finish(r, missing, any_version);
            if conflicts.count > 0 && r.verdict == Verdict::Valid {
                r.verdict = Verdict::Unknown;
                r.note = Some(format!(
                    "the system's versions contradict each other ({} conflicts, see version_conflicts), \
                     so {} cannot be judged from them",
                    conflicts.count,
                    r.guarantee.name()
                ));
            }
            r
        };
        let mut report = SessionReport::assemble(
            "register",
            [
                finish(self.mr),
                finish(self.mw),
                finish(self.ryw),
                finish(self.wfr),
            ],
            Examples::new(),
        );
        if conflicts.count > 0 {
            report.verdict = Verdict::Invalid;
        }
        report.version_conflicts = Some(conflicts);
        report
    }
}

/// Ties `op`'s value to its version on its key and says what contradicts an earlier
/// tie, if anything. A write ties the value it wrote (a CAS its `to`), a read the
/// value it returned; version 0 is tied to `null` (a key never written).
fn tie(
    tied: &mut HashMap<(super::Atom, u64), (Value, usize, bool)>,
    op: &crate::history::Operation,
    key: super::Atom,
    version: u64,
    is_write: bool,
) -> Option<String> {
    let value = if !is_write {
        op.output.clone()
    } else if op.f == "cas" {
        op.input.get(1).cloned().unwrap_or(Value::Null)
    } else {
        op.input.clone()
    };
    if version == 0 {
        return if is_write {
            Some("a write reported version 0, which stands for a key never written".into())
        } else if !value.is_null() {
            Some(format!(
                "read {value} at version 0, which stands for a key never written"
            ))
        } else {
            None
        };
    }
    match tied.get_mut(&(key.clone(), version)) {
        None => {
            tied.insert((key, version), (value, op.id, is_write));
            None
        }
        Some((_, _, true)) if is_write => Some(format!(
            "another acknowledged write also claims to have created version {version}"
        )),
        Some((tied_value, _, _)) if *tied_value != value => Some(format!(
            "{} {value} at version {version}, which is tied to {tied_value}",
            if is_write { "wrote" } else { "read" }
        )),
        Some(entry) => {
            // The same value: a write takes the tie over from a read that saw it first.
            if is_write {
                *entry = (value, op.id, true);
            }
            None
        }
    }
}

/// A register guarantee's verdict: invalid on any violation; otherwise `unknown`,
/// with the reason, when operations it needs carried no version or nothing could be
/// judged.
fn register_finish(
    mut r: GuaranteeReport,
    missing: &Unversioned,
    any_version: bool,
) -> GuaranteeReport {
    let g = r.guarantee;
    if !any_version {
        r.verdict = Verdict::Unknown;
        r.note = Some(format!(
            "no acknowledged operation carries a `version`: the system reports no per-key version \
             order, and a register read alone does not say which writes it saw, so {} cannot be judged \
             (vector clocks, a partial order, are not versions)",
            g.name()
        ));
        return r;
    }
    // Which unversioned operations this guarantee depends on.
    let (reads, writes) = match g {
        Guarantee::MonotonicReads => (missing.reads, 0),
        Guarantee::MonotonicWrites => (0, missing.writes),
        Guarantee::ReadYourWrites | Guarantee::WritesFollowReads => (missing.reads, missing.writes),
    };
    if r.violations.count > 0 {
        r.verdict = Verdict::Invalid;
    } else if reads + writes > 0 {
        r.verdict = Verdict::Unknown;
    } else if r.checked == 0 {
        r.verdict = Verdict::Unknown;
        r.note = Some(format!(
            "nothing to judge: {}",
            match g {
                Guarantee::MonotonicReads => "no acknowledged read carried a version",
                Guarantee::MonotonicWrites => "no acknowledged write carried a version",
                Guarantee::ReadYourWrites =>
                    "no process read a key after an acknowledged write of its own",
                Guarantee::WritesFollowReads => "no process wrote a key after reading it",
            }
        ));
    }
    if reads + writes > 0 {
        let mut parts = Vec::new();
        if reads > 0 {
            parts.push(format!("{reads} acknowledged read(s)"));
        }
        if writes > 0 {
            parts.push(format!("{writes} acknowledged write(s)"));
        }
        r.note = Some(format!(
            "{} carried no `version`, so {} cannot be judged for them (a register value alone does \
             not say which writes a read saw)",
            parts.join(" and "),
            g.name()
        ));
    }
    r
}
