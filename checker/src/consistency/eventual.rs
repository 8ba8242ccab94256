//! Eventual consistency: the final reads agree (convergence), and nothing
//! acknowledged is lost (every element classified as Jepsen's set-full does).
//!
//! Convergence looks at the `final-read` operations the runner takes from every node
//! after the final heal and a quiet period. The final heal is the time of the last
//! nemesis event in the history (the runner heals everything as the nemesis's last
//! act); the quiet period the history shows is the gap between it and the first
//! final read. Element classification looks at every read of every key, for the set
//! workload (`add`, reads return sets) and the append workload (`append`, reads
//! return lists). The exact rules are in `docs/consistency.md`.

use super::append_index::{AppendIndex, NONE};
use super::{
    is_read, show_key, show_list, Atom, Examples, FastMap, LatencySummary, OpRef, ShapeError,
    DEFAULT_MAX_EXAMPLES, FINAL_READ_F,
};
use crate::history::{History, Operation, Outcome, Process};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the objects of the workload are, which decides how final reads compare and
/// whether elements can be classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Collection {
    /// `append` / `read` → list: final reads must be equal lists.
    Append,
    /// `add` / `read` → set as a list: final reads must be equal as sets.
    Set,
    /// Registers: final reads must be equal values; an object with a `siblings`
    /// array (a multi-version store) compares by its set of siblings. No element
    /// classification.
    Register,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventualOptions {
    pub collection: Collection,
    pub max_examples: usize,
    /// How many lost elements the report lists (the count is always exact).
    pub max_lost: usize,
    /// The quiet period the runner promised between the final heal and the final
    /// reads. When set and the history shows a shorter gap, diverging final reads
    /// make convergence `unknown` instead of `invalid`: the system was not given the
    /// time it was owed.
    pub quiet_period_ns: Option<u64>,
    /// Every node that must have answered a final read of every key; when `None`,
    /// the nodes that appear in final reads.
    pub nodes: Option<Vec<String>>,
    /// Count stale elements (visible only after a delay) as a violation, as a
    /// linearizable set would require. Off for eventual consistency.
    pub stale_is_error: bool,
}

impl EventualOptions {
    pub fn new(collection: Collection) -> Self {
        EventualOptions {
            collection,
            max_examples: DEFAULT_MAX_EXAMPLES,
            max_lost: 1000,
            quiet_period_ns: None,
            nodes: None,
            stale_is_error: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventualReport {
    /// Convergence and element verdicts together.
    pub verdict: Verdict,
    pub convergence: ConvergenceReport,
    /// Absent for registers, whose reads do not show which writes they saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elements: Option<ElementsReport>,
}

/// One group of nodes whose final reads of a key returned the same thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalValue {
    pub nodes: Vec<String>,
    pub reads: Vec<OpRef>,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub key: Value,
    /// At least two groups, largest first.
    pub values: Vec<FinalValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvergenceReport {
    pub verdict: Verdict,
    /// Time of the last nemesis event (the final heal), if the history has one.
    pub final_heal_ns: Option<u64>,
    /// Invocation time of the first final read.
    pub first_final_read_ns: Option<u64>,
    /// The quiet period the history shows: first final read minus final heal.
    pub quiet_ns: Option<u64>,
    pub keys_checked: u64,
    pub divergent_keys: Examples<Divergence>,
    /// What kept convergence from being judged fully: missing or failed final reads,
    /// final reads before the final heal, a quiet period shorter than promised.
    pub problems: Examples<String>,
}

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
    /// Known (acknowledged or seen), and missing from the last read of its key.
    pub lost: u64,
    /// Known, but no read of its key began after it was known.
    pub never_read: u64,
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
    pub stale_examples: Vec<StaleElement>,
    /// Time until each element that ended visible (stable, stale, recovered) became
    /// stably visible (0 for stable ones): see `StaleElement::latency_ns`.
    pub stable_latency: LatencySummary,
}

/// Checks convergence and, for set and append workloads, classifies every element.
pub fn check(history: &History, opts: &EventualOptions) -> Result<EventualReport, ShapeError> {
    match opts.collection {
        Collection::Append => {
            let index = AppendIndex::build(history)?;
            check_append_indexed(history, &index, opts)
        }
        Collection::Set => {
            let convergence = convergence(history, opts)?;
            let elements = classify_set(history, opts)?;
            Ok(assemble(convergence, Some(elements)))
        }
        Collection::Register => Ok(assemble(convergence(history, opts)?, None)),
    }
}

/// The append-workload check against a prebuilt index (shared with session checks).
pub fn check_append_indexed(
    history: &History,
    ix: &AppendIndex,
    opts: &EventualOptions,
) -> Result<EventualReport, ShapeError> {
    let convergence = convergence(history, opts)?;
    Ok(assemble(
        convergence,
        Some(classify_append(history, ix, opts)),
    ))
}

fn assemble(convergence: ConvergenceReport, elements: Option<ElementsReport>) -> EventualReport {
    let verdict = convergence
        .verdict
        .and(elements.as_ref().map_or(Verdict::Valid, |e| e.verdict));
    EventualReport {
        verdict,
        convergence,
        elements,
    }
}

// ---------------------------------------------------------------------------------
// Convergence.

/// What a final read returned, in a form where equal means converged.
fn canonical(collection: Collection, op: &Operation) -> Result<Vec<Atom>, ShapeError> {
    let list = |v: &Value| -> Result<Vec<Atom>, ShapeError> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => Ok(items.iter().map(Atom::of).collect()),
            other => Err(ShapeError::at(
                op,
                format!("a final read must return a list or null, found {other}"),
            )),
        }
    };
    Ok(match collection {
        Collection::Append => list(&op.output)?,
        Collection::Set => {
            let mut atoms = list(&op.output)?;
            atoms.sort();
            atoms.dedup();
            atoms
        }
        Collection::Register => match op.output.get("siblings").and_then(Value::as_array) {
            Some(siblings) => {
                let mut atoms: Vec<Atom> = siblings.iter().map(Atom::of).collect();
                atoms.sort();
                atoms
            }
            None => vec![Atom::of(&op.output)],
        },
    })
}

fn node_name(op: &Operation) -> String {
    op.node
        .clone()
        .unwrap_or_else(|| format!("process {}", op.process))
}

/// Judges whether the final reads of every key agree.
pub fn convergence(
    history: &History,
    opts: &EventualOptions,
) -> Result<ConvergenceReport, ShapeError> {
    let limit = opts.max_examples;
    let final_heal = history
        .events
        .iter()
        .filter(|e| e.process == Process::Nemesis)
        .map(|e| e.time)
        .max();
    let finals: Vec<&Operation> = history.ops.iter().filter(|o| o.f == FINAL_READ_F).collect();
    let first_final = finals.iter().map(|o| o.call).min();
    let quiet = match (final_heal, first_final) {
        (Some(h), Some(f)) => Some(f.saturating_sub(h)),
        _ => None,
    };
    let mut problems = Examples::new();
    let mut premature = false;
    if finals.is_empty() {
        problems.offer(limit, || {
            "no final-read operations: convergence cannot be judged".to_string()
        });
    }
    if let (Some(q), Some(promised)) = (quiet, opts.quiet_period_ns) {
        if q < promised {
            premature = true;
            problems.offer(limit, || {
                format!("the first final read began {q} ns after the final heal, short of the {promised} ns quiet period")
            });
        }
    }
    // Per key (in first-seen order), per node: the last completed final read.
    let mut keys: Vec<(Option<Value>, BTreeMap<String, &Operation>)> = Vec::new();
    let mut key_pos: FastMap<Atom, usize> = FastMap::default();
    for op in &finals {
        if let Some(h) = final_heal {
            if op.call < h {
                premature = true;
                problems.offer(limit, || {
                    format!(
                        "final read at history event {} (node {}) began before the final heal at {h} ns",
                        op.invoke_index,
                        node_name(op)
                    )
                });
            }
        }
        let atom = op.key.as_ref().map(Atom::of).unwrap_or(Atom::Null);
        let pos = *key_pos.entry(atom).or_insert_with(|| {
            keys.push((op.key.clone(), BTreeMap::new()));
            keys.len() - 1
        });
        if op.outcome != Outcome::Ok {
            problems.offer(limit, || {
                format!(
                    "final read of key {} on node {} did not complete (history event {})",
                    show_key(&op.key),
                    node_name(op),
                    op.invoke_index
                )
            });
            continue;
        }
        keys[pos].1.insert(node_name(op), op);
    }
    // Keys written but never finally read.
    let mut unread: Vec<Value> = Vec::new();
    for op in &history.ops {
        if op.outcome == Outcome::Ok && !is_read(op) {
            let atom = op.key.as_ref().map(Atom::of).unwrap_or(Atom::Null);
            if let std::collections::hash_map::Entry::Vacant(slot) = key_pos.entry(atom) {
                slot.insert(usize::MAX);
                unread.push(show_key(&op.key));
            }
        }
    }
    if !finals.is_empty() {
        for k in unread {
            problems.offer(limit, || {
                format!("key {k} was written but has no final read")
            });
        }
    }
    let mut divergent = Examples::new();
    for (key, by_node) in &keys {
        if let Some(expected) = &opts.nodes {
            for n in expected.iter().filter(|n| !by_node.contains_key(*n)) {
                problems.offer(limit, || {
                    format!(
                        "no completed final read of key {} from node {n}",
                        show_key(key)
                    )
                });
            }
        }
        let mut groups: Vec<(Vec<Atom>, FinalValue)> = Vec::new();
        for (node, op) in by_node {
            let c = canonical(opts.collection, op)?;
            match groups.iter_mut().find(|(g, _)| *g == c) {
                Some((_, fv)) => {
                    fv.nodes.push(node.clone());
                    fv.reads.push(OpRef::of(op));
                }
                None => groups.push((
                    c,
                    FinalValue {
                        nodes: vec![node.clone()],
                        reads: vec![OpRef::of(op)],
                        value: match &op.output {
                            Value::Array(items) => show_list(items),
                            other => other.to_string(),
                        },
                    },
                )),
            }
        }
        if groups.len() > 1 {
            divergent.offer(limit, || {
                let mut values: Vec<FinalValue> = groups.iter().map(|(_, v)| v.clone()).collect();
                values.sort_by_key(|v| std::cmp::Reverse(v.nodes.len()));
                Divergence {
                    key: show_key(key),
                    values,
                }
            });
        }
    }
    let verdict = if divergent.count > 0 && !premature {
        Verdict::Invalid
    } else if divergent.count > 0 || problems.count > 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    Ok(ConvergenceReport {
        verdict,
        final_heal_ns: final_heal,
        first_final_read_ns: first_final,
        quiet_ns: quiet,
        keys_checked: keys.len() as u64,
        divergent_keys: divergent,
        problems,
    })
}

// ---------------------------------------------------------------------------------
// Element classification.

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
}

enum Class {
    Stable,
    Stale { latency: u64, last_absent: usize },
    Lost { last_absent: usize },
    NeverRead,
    Recovered { latency: u64 },
    IndeterminateUnseen,
    Unexpected,
    Ignored,
}

struct Tally<'h> {
    opts: &'h EventualOptions,
    history: &'h History,
    report: ElementsReport,
    latencies: Vec<u64>,
}

impl<'h> Tally<'h> {
    fn new(history: &'h History, opts: &'h EventualOptions, add_f: &str) -> Self {
        let adds = history.ops.iter().filter(|o| o.f == add_f);
        let (attempted, acknowledged) = adds.fold((0, 0), |(a, k), o| {
            (a + 1, k + (o.outcome == Outcome::Ok) as u64)
        });
        Tally {
            opts,
            history,
            latencies: Vec::new(),
            report: ElementsReport {
                verdict: Verdict::Valid,
                attempted,
                acknowledged,
                stable: 0,
                stale: 0,
                lost: 0,
                never_read: 0,
                recovered: 0,
                indeterminate_unseen: 0,
                unexpected: Examples::new(),
                duplicated: 0,
                lost_elements: Vec::new(),
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

    /// Classifies one element. `last_absent(s)` finds the last read from position
    /// `s` on (in the key's invocation order) that lacks the element.
    fn classify(
        &mut self,
        s: &Sighting,
        reads: &KeyReads,
        last_absent: impl FnOnce(usize) -> Option<usize>,
    ) {
        let class = match (s.add.map(|a| a.outcome), s.first_seen_ret) {
            (None, Some(_)) | (Some(Outcome::Fail), Some(_)) => Class::Unexpected,
            (None, None) | (Some(Outcome::Fail), None) => Class::Ignored,
            (Some(Outcome::Info), None) => Class::IndeterminateUnseen,
            _ => {
                let known = Self::known(s).unwrap();
                let start = reads.calls.partition_point(|&c| c <= known);
                let indeterminate = s.add.unwrap().outcome == Outcome::Info;
                if start == reads.calls.len() {
                    Class::NeverRead
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
        };
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
            Class::NeverRead => r.never_read += 1,
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
        } else if r.never_read > 0 {
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
        ops: v,
    }
}

fn classify_append(history: &History, ix: &AppendIndex, opts: &EventualOptions) -> ElementsReport {
    let mut tally = Tally::new(history, opts, "append");
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
    let key_reads: Vec<(KeyReads, Vec<u32>, MinMaxTree)> = per_key
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
            (kr, nodes, MinMaxTree::new(&tins))
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
            if min_ret[m as usize] != u64::MAX && seen.is_none_or(|s| min_ret[m as usize] < s) {
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
        let (reads, nodes, tree) = &key_reads[elem.key as usize];
        tally.classify(&sighting, reads, |start| {
            if !ix.is_scattered(e) && elem.first_node != NONE {
                let (lo, hi) = ix.subtree_range(elem.first_node);
                tree.last_outside(start, lo, hi)
            } else {
                (start..nodes.len())
                    .rev()
                    .find(|&j| !ix.contains(nodes[j], e))
            }
        });
    }
    tally.finish()
}

fn classify_set(history: &History, opts: &EventualOptions) -> Result<ElementsReport, ShapeError> {
    let mut tally = Tally::new(history, opts, "add");
    struct SetElem<'h> {
        key: u32,
        value: Value,
        add: Option<&'h Operation>,
        presence: Vec<u32>,
        first_seen: Option<(u64, usize)>,
        duplicated: bool,
    }
    let mut keys: Vec<Option<Value>> = Vec::new();
    let mut key_ids: FastMap<Atom, u32> = FastMap::default();
    let mut key_id = |k: &Option<Value>| -> u32 {
        let atom = k.as_ref().map(Atom::of).unwrap_or(Atom::Null);
        *key_ids.entry(atom).or_insert_with(|| {
            keys.push(k.clone());
            keys.len() as u32 - 1
        })
    };
    let mut elems: Vec<SetElem> = Vec::new();
    let mut elem_ids: FastMap<(u32, Atom), u32> = FastMap::default();
    let mut reads_by_key: Vec<Vec<usize>> = Vec::new();
    for op in &history.ops {
        let k = key_id(&op.key);
        if reads_by_key.len() <= k as usize {
            reads_by_key.resize(k as usize + 1, Vec::new());
        }
        if op.f == "add" {
            let id = *elem_ids.entry((k, Atom::of(&op.input))).or_insert_with(|| {
                elems.push(SetElem {
                    key: k,
                    value: op.input.clone(),
                    add: None,
                    presence: Vec::new(),
                    first_seen: None,
                    duplicated: false,
                });
                elems.len() as u32 - 1
            });
            if let Some(prev) = elems[id as usize].add {
                return Err(ShapeError::at(
                    op,
                    format!(
                        "element {} added a second time (first at history event {}); set elements must be unique",
                        op.input, prev.invoke_index
                    ),
                ));
            }
            elems[id as usize].add = Some(op);
        } else if is_read(op) && op.outcome == Outcome::Ok {
            reads_by_key[k as usize].push(op.id);
        }
    }
    let key_reads: Vec<KeyReads> = reads_by_key
        .into_iter()
        .map(|rs| sort_reads(rs.into_iter(), history))
        .collect();
    for (k, kr) in key_reads.iter().enumerate() {
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
                let id = *elem_ids.entry((k as u32, Atom::of(v))).or_insert_with(|| {
                    elems.push(SetElem {
                        key: k as u32,
                        value: v.clone(),
                        add: None,
                        presence: Vec::new(),
                        first_seen: None,
                        duplicated: false,
                    });
                    elems.len() as u32 - 1
                });
                let el = &mut elems[id as usize];
                if el.presence.last() == Some(&(j as u32)) {
                    // Counted once per element, however often it repeats.
                    if !el.duplicated {
                        el.duplicated = true;
                        tally.report.duplicated += 1;
                    }
                    continue;
                }
                el.presence.push(j as u32);
                if el.first_seen.is_none_or(|(t, _)| op.ret < t) {
                    el.first_seen = Some((op.ret, op_id));
                }
            }
        }
    }
    for el in &elems {
        let reads = &key_reads[el.key as usize];
        let sighting = Sighting {
            key: show_key(&keys[el.key as usize]),
            element: el.value.clone(),
            add: el.add,
            first_seen_ret: el.first_seen.map(|(t, _)| t),
            first_read: el.first_seen.map(|(_, o)| o),
        };
        tally.classify(&sighting, reads, |start| {
            // Walk back from the last read while the element is present: the
            // trailing run is no longer than its presence list.
            let mut j = reads.calls.len();
            let mut p = el.presence.len();
            while j > start && p > 0 && el.presence[p - 1] as usize == j - 1 {
                j -= 1;
                p -= 1;
            }
            (j > start).then(|| j - 1)
        });
    }
    Ok(tally.finish())
}

/// Minimum and maximum over ranges of a fixed array, answering "the last position
/// from `from` on whose value lies outside [lo, hi]" in O(log n): a read lacks an
/// element exactly when its trie node's Euler time lies outside the element's
/// subtree range.
struct MinMaxTree {
    size: usize,
    min: Vec<u32>,
    max: Vec<u32>,
}

impl MinMaxTree {
    fn new(values: &[u32]) -> Self {
        let size = values.len().next_power_of_two().max(1);
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

    fn last_outside(&self, from: usize, lo: u32, hi: u32) -> Option<usize> {
        self.go(1, 0, self.size, from, lo, hi)
    }

    fn go(&self, node: usize, l: usize, r: usize, from: usize, lo: u32, hi: u32) -> Option<usize> {
        if r <= from || (self.min[node] >= lo && self.max[node] <= hi) {
            return None;
        }
        if r - l == 1 {
            return Some(l);
        }
        let mid = (l + r) / 2;
        self.go(2 * node + 1, mid, r, from, lo, hi)
            .or_else(|| self.go(2 * node, l, mid, from, lo, hi))
    }
}
