//! Element classification as Jepsen's set-full checker does it: every element of a
//! set or append workload is stable, stale, lost, never read, recovered, unseen,
//! unexpected or duplicated, with the latency until it became stably visible.
//!
//! Reads are ordered by invocation per key; an element is owed by every read that
//! began after it became known. An element is lost when it is gone from every node's
//! final read of its key (without final reads, from the last read, as Jepsen reads
//! it); one that some final reads have and others lack is missing on some nodes, a
//! divergence rather than a loss. Rules and complexity in `docs/consistency.md`.

use super::append_index::{AppendIndex, NONE};
use super::convergence::node_name;
use super::eventual::EventualOptions;
use super::{
    is_read, show_key, Atom, Examples, FastMap, LatencySummary, OpRef, ShapeError, FINAL_READ_F,
};
use crate::history::{History, Operation, Outcome};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostElement {
    pub key: Value,
    pub element: Value,
    /// The add or append that wrote it (absent only for phantoms, never lost).
    pub add: Option<OpRef>,
    /// When it became known to exist: its acknowledgement, or its first sighting.
    pub known_ns: u64,
    /// The last read of the key (by invocation), which did not contain it.
    pub last_absent: OpRef,
}

/// An element that some nodes' final reads of its key return and others lack: the
/// nodes disagree (a convergence failure), but it is not gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartlyMissingElement {
    pub key: Value,
    pub element: Value,
    pub add: Option<OpRef>,
    /// The nodes whose final read has it, and those whose final read lacks it.
    pub present_on: Vec<String>,
    pub missing_on: Vec<String>,
    /// One final read that lacks it.
    pub absent_in: OpRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleElement {
    pub key: Value,
    pub element: Value,
    pub add: Option<OpRef>,
    pub known_ns: u64,
    /// Lower bound on how long it stayed invisible: the last read that missed it
    /// began this long after it was known.
    pub latency_ns: u64,
    pub last_absent: OpRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnexpectedElement {
    pub key: Value,
    pub element: Value,
    /// The failed add, if the element was written by one (absent for phantoms).
    pub add: Option<OpRef>,
    pub first_read: OpRef,
}

/// Every element classified, as Jepsen's set-full does; the five classes of an
/// element whose write may have happened are disjoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElementsReport {
    pub verdict: Verdict,
    /// Adds or appends invoked.
    pub attempted: u64,
    /// Adds or appends acknowledged (`ok`).
    pub acknowledged: u64,
    /// Acknowledged and present in every read that began after the acknowledgement.
    pub stable: u64,
    /// Acknowledged, missed by some reads that began after it was known, then present
    /// in every later read.
    pub stale: u64,
    /// Known (acknowledged or seen), and gone: missing from every node's final read
    /// of its key begun after it was known, or, where the key has no final reads,
    /// from its last read.
    pub lost: u64,
    /// Of the lost, the acknowledged ones: what "no lost acknowledged writes" is
    /// about. The rest were indeterminate adds a read saw before they vanished (a
    /// dirty read, not a broken acknowledgement).
    #[serde(default)]
    pub lost_acknowledged: u64,
    /// Known, and present in some nodes' final reads of its key but missing from
    /// others': the nodes diverge (convergence judges that), nothing is lost.
    pub missing_on_some_nodes: u64,
    /// Known, but no read of its key began after it was known.
    pub never_read: u64,
    /// Of those, the acknowledged ones: whether they survived cannot be told, which
    /// leaves the verdict `unknown`. (An indeterminate add first seen in the last
    /// reads promised nothing, and does not.)
    pub never_read_acknowledged: u64,
    /// Indeterminate adds that showed up and stayed.
    pub recovered: u64,
    /// Indeterminate adds never seen: they may simply not have happened.
    pub indeterminate_unseen: u64,
    /// Read but never written, or written by an add that failed.
    pub unexpected: Examples<UnexpectedElement>,
    /// Elements some read returned more than once.
    pub duplicated: u64,
    /// The lost elements (the first `max_lost`), in history order of their writes.
    pub lost_elements: Vec<LostElement>,
    /// The first `max_examples` elements missing on some nodes.
    pub missing_on_some_nodes_examples: Vec<PartlyMissingElement>,
    pub stale_examples: Vec<StaleElement>,
    /// Time until each element that ended visible (stable, stale, recovered) became
    /// stably visible (0 for stable ones): see `StaleElement::latency_ns`.
    pub stable_latency: LatencySummary,
}

/// What classification needs to know about one element.
struct Sighting<'h> {
    key: Value,
    element: Value,
    add: Option<&'h Operation>,
    /// Completion time of the first read that returned it.
    first_seen_ret: Option<u64>,
    first_read: Option<usize>,
}

/// The reads of one key, sorted by invocation time.
struct KeyReads {
    calls: Vec<u64>,
    ops: Vec<usize>,
    /// Positions (in `calls`) of the final reads, one a node.
    finals: Vec<usize>,
}

enum Class {
    Stable,
    Stale {
        latency: u64,
        last_absent: usize,
    },
    Lost {
        last_absent: usize,
    },
    MissingOnSomeNodes {
        present: Vec<usize>,
        absent: Vec<usize>,
    },
    NeverRead,
    Recovered {
        latency: u64,
    },
    IndeterminateUnseen,
    Unexpected,
    Ignored,
}

struct Tally<'h> {
    opts: &'h EventualOptions,
    /// A set history without final reads, judged from the last read of each key as
    /// Jepsen's set checker does: an element that read has counts as present at the
    /// end even when no read began after it became known.
    last_read_basis: bool,
    history: &'h History,
    report: ElementsReport,
    latencies: Vec<u64>,
}

impl<'h> Tally<'h> {
    fn new(
        history: &'h History,
        opts: &'h EventualOptions,
        add_f: &str,
        last_read_basis: bool,
    ) -> Self {
        let adds = history.ops.iter().filter(|o| o.f == add_f);
        let (attempted, acknowledged) = adds.fold((0, 0), |(a, k), o| {
            (a + 1, k + (o.outcome == Outcome::Ok) as u64)
        });
        Tally {
            opts,
            last_read_basis,
            history,
            latencies: Vec::new(),
            report: ElementsReport {
                verdict: Verdict::Valid,
                attempted,
                acknowledged,
                stable: 0,
                stale: 0,
                lost: 0,
                lost_acknowledged: 0,
                missing_on_some_nodes: 0,
                never_read: 0,
                never_read_acknowledged: 0,
                recovered: 0,
                indeterminate_unseen: 0,
                unexpected: Examples::new(),
                duplicated: 0,
                lost_elements: Vec::new(),
                missing_on_some_nodes_examples: Vec::new(),
                stale_examples: Vec::new(),
                stable_latency: LatencySummary::default(),
            },
        }
    }

    /// When the element became known, and so from which read on (`s`) it must show.
    fn known(s: &Sighting) -> Option<u64> {
        match s.add.map(|a| a.outcome) {
            Some(Outcome::Ok) => Some(
                s.first_seen_ret
                    .map_or(s.add.unwrap().ret, |r| r.min(s.add.unwrap().ret)),
            ),
            Some(Outcome::Info) => s.first_seen_ret,
            _ => None,
        }
    }

    /// Classifies one element and counts it. `last_absent(s)` finds the last read
    /// from position `s` on (in the key's invocation order) that lacks the element;
    /// `present_at(j)` says whether read `j` has it.
    fn classify(
        &mut self,
        s: &Sighting,
        reads: &KeyReads,
        last_absent: impl FnOnce(usize) -> Option<usize>,
        present_at: impl Fn(usize) -> bool,
    ) {
        let class = self.class_of(s, reads, last_absent, present_at);
        self.count(s, reads, class);
    }

    /// What became of one element (arguments as for [`Tally::classify`]).
    fn class_of(
        &self,
        s: &Sighting,
        reads: &KeyReads,
        last_absent: impl FnOnce(usize) -> Option<usize>,
        present_at: impl Fn(usize) -> bool,
    ) -> Class {
        match (s.add.map(|a| a.outcome), s.first_seen_ret) {
            (None, Some(_)) | (Some(Outcome::Fail), Some(_)) => Class::Unexpected,
            (None, None) | (Some(Outcome::Fail), None) => Class::Ignored,
            (Some(Outcome::Info), None) => Class::IndeterminateUnseen,
            _ => {
                let known = Self::known(s).unwrap();
                let start = reads.calls.partition_point(|&c| c <= known);
                let indeterminate = s.add.unwrap().outcome == Outcome::Info;
                // The final reads owed the element: if any lacks it, they decide.
                let (present, absent): (Vec<usize>, Vec<usize>) = reads
                    .finals
                    .iter()
                    .filter(|&&p| p >= start)
                    .partition(|&&p| present_at(p));
                let in_last_read = || {
                    self.last_read_basis
                        && !reads.calls.is_empty()
                        && present_at(reads.calls.len() - 1)
                };
                if start == reads.calls.len() {
                    match (in_last_read(), indeterminate) {
                        (true, true) => Class::Recovered { latency: 0 },
                        (true, false) => Class::Stable,
                        (false, _) => Class::NeverRead,
                    }
                } else if !absent.is_empty() && present.is_empty() {
                    Class::Lost {
                        last_absent: *absent.last().unwrap(),
                    }
                } else if !absent.is_empty() {
                    Class::MissingOnSomeNodes { present, absent }
                } else {
                    match last_absent(start) {
                        None if indeterminate => Class::Recovered { latency: 0 },
                        None => Class::Stable,
                        Some(j) if j + 1 == reads.calls.len() => Class::Lost { last_absent: j },
                        Some(j) if indeterminate => Class::Recovered {
                            latency: reads.calls[j] - known,
                        },
                        Some(j) => Class::Stale {
                            latency: reads.calls[j] - known,
                            last_absent: j,
                        },
                    }
                }
            }
        }
    }

    /// Counts one element of `class` in the report, keeping it as an example while
    /// there is room.
    fn count(&mut self, s: &Sighting, reads: &KeyReads, class: Class) {
        let r = &mut self.report;
        let op_ref = |i: usize| OpRef::of(&self.history.ops[i]);
        match class {
            Class::Stable => {
                r.stable += 1;
                self.latencies.push(0);
            }
            Class::Recovered { latency } => {
                r.recovered += 1;
                self.latencies.push(latency);
            }
            Class::Stale {
                latency,
                last_absent,
            } => {
                r.stale += 1;
                self.latencies.push(latency);
                if r.stale_examples.len() < self.opts.max_examples {
                    r.stale_examples.push(StaleElement {
                        key: s.key.clone(),
                        element: s.element.clone(),
                        add: s.add.map(OpRef::of),
                        known_ns: Self::known(s).unwrap(),
                        latency_ns: latency,
                        last_absent: op_ref(reads.ops[last_absent]),
                    });
                }
            }
            Class::Lost { last_absent } => {
                r.lost += 1;
                if s.add.is_some_and(|a| a.outcome == Outcome::Ok) {
                    r.lost_acknowledged += 1;
                }
                if r.lost_elements.len() < self.opts.max_lost {
                    r.lost_elements.push(LostElement {
                        key: s.key.clone(),
                        element: s.element.clone(),
                        add: s.add.map(OpRef::of),
                        known_ns: Self::known(s).unwrap(),
                        last_absent: op_ref(reads.ops[last_absent]),
                    });
                }
            }
            Class::MissingOnSomeNodes { present, absent } => {
                r.missing_on_some_nodes += 1;
                if r.missing_on_some_nodes_examples.len() < self.opts.max_examples {
                    let nodes = |positions: &[usize]| -> Vec<String> {
                        positions
                            .iter()
                            .map(|&p| node_name(&self.history.ops[reads.ops[p]]))
                            .collect()
                    };
                    r.missing_on_some_nodes_examples.push(PartlyMissingElement {
                        key: s.key.clone(),
                        element: s.element.clone(),
                        add: s.add.map(OpRef::of),
                        present_on: nodes(&present),
                        missing_on: nodes(&absent),
                        absent_in: op_ref(reads.ops[absent[0]]),
                    });
                }
            }
            Class::NeverRead => {
                r.never_read += 1;
                if s.add.is_some_and(|a| a.outcome == Outcome::Ok) {
                    r.never_read_acknowledged += 1;
                }
            }
            Class::IndeterminateUnseen => r.indeterminate_unseen += 1,
            Class::Unexpected => r
                .unexpected
                .offer(self.opts.max_examples, || UnexpectedElement {
                    key: s.key.clone(),
                    element: s.element.clone(),
                    add: s.add.map(OpRef::of),
                    first_read: op_ref(s.first_read.unwrap()),
                }),
            Class::Ignored => {}
        }
    }

    fn finish(mut self) -> ElementsReport {
        let r = &mut self.report;
        r.lost_elements
            .sort_by_key(|l| l.add.map(|a| a.invoke_index));
        r.stable_latency = LatencySummary::of(std::mem::take(&mut self.latencies));
        r.verdict = if r.lost > 0
            || r.unexpected.count > 0
            || r.duplicated > 0
            || (self.opts.stale_is_error && r.stale > 0)
        {
            Verdict::Invalid
        } else if r.never_read_acknowledged > 0 {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        self.report
    }
}

fn sort_reads(ops: impl Iterator<Item = usize>, history: &History) -> KeyReads {
    let mut v: Vec<usize> = ops.collect();
    v.sort_by_key(|&i| (history.ops[i].call, i));
    KeyReads {
        calls: v.iter().map(|&i| history.ops[i].call).collect(),
        finals: last_final_read_per_node(&v, history),
        ops: v,
    }
}

/// Positions in `sorted` (a key's reads by invocation) of each node's last final read.
fn last_final_read_per_node(sorted: &[usize], history: &History) -> Vec<usize> {
    let mut last: std::collections::BTreeMap<String, usize> = Default::default();
    for (position, &i) in sorted.iter().enumerate() {
        let op = &history.ops[i];
        if op.f == FINAL_READ_F {
            last.insert(node_name(op), position);
        }
    }
    let mut finals: Vec<usize> = last.into_values().collect();
    finals.sort_unstable();
    finals
}

/// Classifies the elements of an append history, using its index.
pub fn classify_append(
    history: &History,
    ix: &AppendIndex,
    opts: &EventualOptions,
) -> ElementsReport {
    let mut tally = Tally::new(history, opts, "append", false);
    // First sighting per node: the earliest completion of a read in its subtree
    // (children have larger ids than their parents).
    let mut min_ret = vec![u64::MAX; ix.nodes.len()];
    let mut first_read = vec![usize::MAX; ix.nodes.len()];
    for obs in &ix.reads {
        let ret = history.ops[obs.op].ret;
        if ret < min_ret[obs.node as usize] {
            min_ret[obs.node as usize] = ret;
            first_read[obs.node as usize] = obs.op;
        }
    }
    for n in (0..ix.nodes.len()).rev() {
        let p = ix.nodes[n].parent;
        if p != NONE && min_ret[n] < min_ret[p as usize] {
            min_ret[p as usize] = min_ret[n];
            first_read[p as usize] = first_read[n];
        }
    }
    let mut per_key: Vec<Vec<usize>> = vec![Vec::new(); ix.keys.len()];
    for (i, obs) in ix.reads.iter().enumerate() {
        per_key[obs.key as usize].push(i);
    }
    let key_reads: Vec<(KeyReads, MinMaxTree, Vec<u32>)> = per_key
        .into_iter()
        .map(|rs| {
            let kr = sort_reads(rs.iter().map(|&i| ix.reads[i].op), history);
            let nodes: Vec<u32> = {
                let mut v: Vec<(u64, usize, u32)> = rs
                    .iter()
                    .map(|&i| {
                        (
                            history.ops[ix.reads[i].op].call,
                            ix.reads[i].op,
                            ix.reads[i].node,
                        )
                    })
                    .collect();
                v.sort_unstable();
                v.into_iter().map(|(_, _, n)| n).collect()
            };
            let tins: Vec<u32> = nodes.iter().map(|&n| ix.tin(n)).collect();
            let tree = MinMaxTree::new(&tins);
            (kr, tree, nodes)
        })
        .collect();
    // Duplicates: an element at two nodes of one path.
    for (e, elem) in ix.elems.iter().enumerate() {
        let e = e as u32;
        if ix.is_scattered(e)
            && ix
                .nodes_of(e)
                .any(|m| ix.contains(ix.nodes[m as usize].parent, e))
        {
            tally.report.duplicated += 1;
        }
        let (mut seen, mut fr) = (None, None);
        for m in ix.nodes_of(e) {
            if min_ret[m as usize] != u64::MAX && earlier(min_ret[m as usize], seen) {
                seen = Some(min_ret[m as usize]);
                fr = Some(first_read[m as usize]);
            }
        }
        let sighting = Sighting {
            key: ix.key_value(elem.key),
            element: elem.value.clone(),
            add: elem.writer.map(|w| &history.ops[w]),
            first_seen_ret: seen,
            first_read: fr,
        };
        let (reads, tree, trie_nodes) = &key_reads[elem.key as usize];
        tally.classify(
            &sighting,
            reads,
            |start| {
                // A read contains the element iff its node lies in the subtree of a
                // node labelled with it: one range, or a few when reads disagree.
                let ranges: Vec<(u32, u32)> = ix.nodes_of(e).map(|m| ix.subtree_range(m)).collect();
                tree.last_outside(start, &ranges)
            },
            |j| ix.contains(trie_nodes[j], e),
        );
    }
    tally.finish()
}

/// Classifies the elements of a set history (`add`, reads returning sets).
pub fn classify_set(
    history: &History,
    opts: &EventualOptions,
) -> Result<ElementsReport, ShapeError> {
    let no_final_reads = !history.ops.iter().any(|o| o.f == FINAL_READ_F);
    let mut tally = Tally::new(history, opts, "add", no_final_reads);
    let (mut set, reads_by_key) = SetElems::from_adds(history)?;
    let key_reads: Vec<KeyReads> = reads_by_key
        .into_iter()
        .map(|rs| sort_reads(rs.into_iter(), history))
        .collect();
    for (k, kr) in key_reads.iter().enumerate() {
        set.record_reads(history, k as u32, kr, &mut tally)?;
    }
    for el in &set.elems {
        let reads = &key_reads[el.key as usize];
        let sighting = Sighting {
            key: show_key(&set.keys[el.key as usize]),
            element: el.value.clone(),
            add: el.add,
            first_seen_ret: el.first_seen.map(|(t, _)| t),
            first_read: el.first_seen.map(|(_, o)| o),
        };
        tally.classify(
            &sighting,
            reads,
            |start| {
                // Walk back from the last read while the element is present: the
                // trailing run is no longer than its presence list.
                let mut j = reads.calls.len();
                let mut p = el.presence.len();
                while j > start && p > 0 && el.presence[p - 1] as usize == j - 1 {
                    j -= 1;
                    p -= 1;
                }
                (j > start).then(|| j - 1)
            },
            |j| el.presence.binary_search(&(j as u32)).is_ok(),
        );
    }
    Ok(tally.finish())
}

/// One element of a set history: its add, and the reads (by position in its key's
/// reads) that returned it.
struct SetElem<'h> {
    key: u32,
    value: Value,
    add: Option<&'h Operation>,
    presence: Vec<u32>,
    first_seen: Option<(u64, usize)>,
    duplicated: bool,
}

/// Every key and element of a set history, numbered in order of appearance.
struct SetElems<'h> {
    keys: Vec<Option<Value>>,
    key_ids: FastMap<Atom, u32>,
    elems: Vec<SetElem<'h>>,
    elem_ids: FastMap<(u32, Atom), u32>,
}

impl<'h> SetElems<'h> {
    /// The elements the history adds (refusing one added twice), and each key's
    /// successful reads, by operation id.
    fn from_adds(history: &'h History) -> Result<(Self, Vec<Vec<usize>>), ShapeError> {
        let mut set = SetElems {
            keys: Vec::new(),
            key_ids: FastMap::default(),
            elems: Vec::new(),
            elem_ids: FastMap::default(),
        };
        let mut reads_by_key: Vec<Vec<usize>> = Vec::new();
        for op in &history.ops {
            let k = set.key_id(&op.key);
            if reads_by_key.len() <= k as usize {
                reads_by_key.resize(k as usize + 1, Vec::new());
            }
            if op.f == "add" {
                let id = set.elem_id(k, &op.input);
                if let Some(prev) = set.elems[id as usize].add {
                    return Err(ShapeError::at(
                        op,
                        format!(
                            "element {} added a second time (first at history event {}); set elements must be unique",
                            op.input, prev.invoke_index
                        ),
                    ));
                }
                set.elems[id as usize].add = Some(op);
            } else if is_read(op) && op.outcome == Outcome::Ok {
                reads_by_key[k as usize].push(op.id);
            }
        }
        Ok((set, reads_by_key))
    }

    /// Key `k`'s number, given on first sight so keys keep their order of appearance.
    fn key_id(&mut self, k: &Option<Value>) -> u32 {
        let atom = k.as_ref().map(Atom::of).unwrap_or(Atom::Null);
        let keys = &mut self.keys;
        *self.key_ids.entry(atom).or_insert_with(|| {
            keys.push(k.clone());
            keys.len() as u32 - 1
        })
    }

    /// The number of element `v` of key `k`, given on first sight (by an add or a
    /// read: a read may return an element nothing added).
    fn elem_id(&mut self, k: u32, v: &Value) -> u32 {
        let elems = &mut self.elems;
        *self.elem_ids.entry((k, Atom::of(v))).or_insert_with(|| {
            elems.push(SetElem {
                key: k,
                value: v.clone(),
                add: None,
                presence: Vec::new(),
                first_seen: None,
                duplicated: false,
            });
            elems.len() as u32 - 1
        })
    }

    /// Records which of key `k`'s reads returned each element (and which returned
    /// one twice), and when each element was first seen.
    fn record_reads(
        &mut self,
        history: &History,
        k: u32,
        kr: &KeyReads,
        tally: &mut Tally,
    ) -> Result<(), ShapeError> {
        for (j, &op_id) in kr.ops.iter().enumerate() {
            let op = &history.ops[op_id];
            let items = match &op.output {
                Value::Null => continue,
                Value::Array(items) => items,
                other => {
                    return Err(ShapeError::at(
                        op,
                        format!("a set read must return a list or null, found {other}"),
                    ))
                }
            };
            for v in items {
                let id = self.elem_id(k, v);
                let el = &mut self.elems[id as usize];
                if el.presence.last() == Some(&(j as u32)) {
                    // Counted once per element, however often it repeats.
                    if !el.duplicated {
                        el.duplicated = true;
                        tally.report.duplicated += 1;
                    }
                    continue;
                }
                el.presence.push(j as u32);
                if earlier(op.ret, el.first_seen.map(|(t, _)| t)) {
                    el.first_seen = Some((op.ret, op_id));
                }
            }
        }
        Ok(())
    }
}

/// Whether `t` is earlier than the best so far (any time beats none).
fn earlier(t: u64, best: Option<u64>) -> bool {
    match best {
        Some(b) => t < b,
        None => true,
    }
}

/// Minimum and maximum over ranges of a fixed array, answering "the last position
/// from `from` on whose value lies outside every one of some ranges": a read lacks an
/// element exactly when its trie node's Euler time lies outside the subtree ranges of
/// the element's nodes. A segment is skipped when its [min, max] fits inside one
/// range, so with one range (the usual case) a query costs O(log n).
struct MinMaxTree {
    size: usize,
    min: Vec<u32>,
    max: Vec<u32>,
}

impl MinMaxTree {
    fn new(values: &[u32]) -> Self {
        let size = values.len().next_power_of_two().max(1);
        // Padding leaves (min MAX > max 0) mark segments with no reads: never found.
        let mut min = vec![u32::MAX; 2 * size];
        let mut max = vec![0; 2 * size];
        for (i, &v) in values.iter().enumerate() {
            min[size + i] = v;
            max[size + i] = v;
        }
        for i in (1..size).rev() {
            min[i] = min[2 * i].min(min[2 * i + 1]);
            max[i] = max[2 * i].max(max[2 * i + 1]);
        }
        MinMaxTree { size, min, max }
    }

    fn last_outside(&self, from: usize, ranges: &[(u32, u32)]) -> Option<usize> {
        self.go(1, 0, self.size, from, ranges)
    }

    fn go(
        &self,
        node: usize,
        l: usize,
        r: usize,
        from: usize,
        ranges: &[(u32, u32)],
    ) -> Option<usize> {
        let (lo, hi) = (self.min[node], self.max[node]);
        if r <= from || lo > hi || ranges.iter().any(|&(a, b)| a <= lo && hi <= b) {
            return None;
        }
        if r - l == 1 {
            return Some(l);
        }
        let mid = (l + r) / 2;
        self.go(2 * node + 1, mid, r, from, ranges)
            .or_else(|| self.go(2 * node, l, mid, from, ranges))
    }
}
