//! Read-write register inference, weaker than list-append's: a read names the write
//! it saw (written values are unique per key), but versions are ordered only where the
//! history says so: the initial state (`nil`) comes before every write, and a
//! transaction that read a version and then wrote the key put its write after that
//! version (writes follow reads). Where a key's writes stay unordered, the report
//! says so; a cycle through them cannot be seen, so `valid` here means "no anomaly
//! found", not "serializable" (Elle has the same limit).

use super::anomaly::AnomalyKind;
use super::graph::{Kinds, RW, WR, WW};
use super::mop::{Mop, Read, Txn, Txns};
use super::{Inference, Inferred};
use crate::history::Outcome;
use rustc_hash::FxHashMap;

#[derive(Clone, Copy)]
struct Writer {
    txn: u32,
    /// The transaction's last write to the key (its version).
    last: bool,
}

pub struct Register<'a> {
    txns: &'a Txns,
    writers: FxHashMap<(u32, i64), Writer>,
    /// Per key: the version pairs known (`None` is the initial state).
    pairs: Vec<Vec<(Option<i64>, i64)>>,
    broken: Vec<bool>,
}

/// What a committed transaction read of a key before writing it, and the last value
/// it wrote to the key after that read.
fn observations(t: &Txn) -> Vec<(u32, Option<i64>, Option<i64>)> {
    let mut seen: Vec<(u32, Option<i64>, Option<i64>)> = Vec::new();
    for (j, m) in t.mops.iter().enumerate() {
        let Mop::Read {
            key,
            value: Read::Register(x),
        } = m
        else {
            continue;
        };
        let wrote_before = t.mops[..j]
            .iter()
            .any(|o| matches!(o, Mop::Write { key: k, .. } if k == key));
        if wrote_before || seen.iter().any(|s| s.0 == *key) {
            continue;
        }
        let last_write = t.mops[j..].iter().rev().find_map(|o| match o {
            Mop::Write { key: k, value } if k == key => Some(*value),
            _ => None,
        });
        seen.push((*key, *x, last_write));
    }
    seen
}

fn shown(x: Option<i64>) -> String {
    x.map_or("nil".into(), |v| v.to_string())
}

pub fn infer(txns: &Txns) -> (Register<'_>, Inferred) {
    let mut out = Inferred::new(txns);
    let mut r = Register {
        txns,
        writers: FxHashMap::default(),
        pairs: vec![Vec::new(); txns.keys.len()],
        broken: vec![false; txns.keys.len()],
    };
    index_writers(&mut r, &mut out);
    let mut readers: FxHashMap<(u32, Option<i64>), Vec<u32>> = FxHashMap::default();
    let mut updaters: FxHashMap<(u32, Option<i64>), u32> = FxHashMap::default();
    for (i, t) in txns.txns.iter().enumerate() {
        if t.outcome != Outcome::Ok {
            continue;
        }
        let i = i as u32;
        internal(&r, i, t, &mut out);
        for (key, x, wrote) in observations(t) {
            if r.broken[key as usize] {
                continue;
            }
            if let Some(v) = x {
                read_of(&r, i, key, v, &mut out);
            }
            readers.entry((key, x)).or_default().push(i);
            if let Some(y) = wrote {
                r.pairs[key as usize].push((x, y));
                if let Some(&other) = updaters.get(&(key, x)) {
                    out.found(
                        AnomalyKind::LostUpdate,
                        vec![other, i],
                        format!(
                            "{} and {} both read key {} = {} and both wrote it: one write was made without seeing the other",
                            r.name(other), r.name(i), txns.key(key), shown(x)
                        ),
                    );
                } else {
                    updaters.insert((key, x), i);
                }
            }
        }
    }
    version_edges(&r, &readers, &mut out);
    unordered_notes(&r, &mut out);
    (r, out)
}

impl Register<'_> {
    fn name(&self, t: u32) -> String {
        super::txn_name(self.txns, t)
    }
    fn writer(&self, key: u32, v: i64) -> Option<Writer> {
        self.writers.get(&(key, v)).copied()
    }
}

fn index_writers(r: &mut Register, out: &mut Inferred) {
    for (i, t) in r.txns.txns.iter().enumerate() {
        for (j, m) in t.mops.iter().enumerate() {
            let Mop::Write { key, value } = m else {
                continue;
            };
            let last = !t.mops[j + 1..]
                .iter()
                .any(|o| matches!(o, Mop::Write { key: k, .. } if k == key));
            if let Some(prev) = r.writers.insert(
                (*key, *value),
                Writer {
                    txn: i as u32,
                    last,
                },
            ) {
                if prev.txn != i as u32 {
                    r.broken[*key as usize] = true;
                    out.notes.push(format!(
                        "key {}: {value} was written by both {} and {}; values must be unique per key, so this key is not checked",
                        r.txns.key(*key), r.name(prev.txn), r.name(i as u32)
                    ));
                }
            }
        }
    }
}

/// A read of `v`: its writer took effect (wr), unless nobody wrote it (garbage), its
/// writer failed (G1a) or overwrote it itself (G1b).
fn read_of(r: &Register, i: u32, key: u32, v: i64, out: &mut Inferred) {
    let k = r.txns.key(key);
    let Some(w) = r.writer(key, v) else {
        out.found(
            AnomalyKind::GarbageRead,
            vec![i],
            format!(
                "{} read key {k} = {v}, but nobody wrote {v} to key {k}",
                r.name(i)
            ),
        );
        return;
    };
    match r.txns.txns[w.txn as usize].outcome {
        Outcome::Fail => out.found(
            AnomalyKind::G1a,
            vec![i, w.txn],
            format!(
                "{} read key {k} = {v}, written by {}, which failed",
                r.name(i),
                r.name(w.txn)
            ),
        ),
        _ => {
            out.included[w.txn as usize] = true;
            out.edges.add(w.txn, i, WR);
            if !w.last && w.txn != i {
                out.found(
                    AnomalyKind::G1b,
                    vec![i, w.txn],
                    format!(
                        "{} read key {k} = {v}, which {} overwrote within the same transaction",
                        r.name(i),
                        r.name(w.txn)
                    ),
                );
            }
        }
    }
}

/// A transaction's reads must agree with its own earlier reads and writes.
fn internal(r: &Register, i: u32, t: &Txn, out: &mut Inferred) {
    let mut state: Vec<(u32, Option<i64>)> = Vec::new();
    for m in &t.mops {
        match m {
            Mop::Write { key, value } => match state.iter_mut().find(|s| s.0 == *key) {
                Some(s) => s.1 = Some(*value),
                None => state.push((*key, Some(*value))),
            },
            Mop::Read {
                key,
                value: Read::Register(x),
            } => match state.iter_mut().find(|s| s.0 == *key) {
                Some(s) if s.1 != *x => {
                    out.found(
                        AnomalyKind::InternalInconsistency,
                        vec![i],
                        format!(
                            "{} read key {} = {}, but its own earlier read or write says {}",
                            r.name(i),
                            r.txns.key(*key),
                            shown(*x),
                            shown(s.1)
                        ),
                    );
                    return;
                }
                Some(_) => {}
                None => state.push((*key, *x)),
            },
            _ => {}
        }
    }
}

/// ww and rw from the version pairs: the initial state before every write, and each
/// write after the version its transaction read.
fn version_edges(
    r: &Register,
    readers: &FxHashMap<(u32, Option<i64>), Vec<u32>>,
    out: &mut Inferred,
) {
    let mut initial: Vec<(u32, u32)> = Vec::new(); // (key, writer) of committed last writes
    for (&(key, _), w) in &r.writers {
        if w.last && !r.broken[key as usize] && r.txns.txns[w.txn as usize].outcome != Outcome::Fail
        {
            initial.push((key, w.txn));
        }
    }
    initial.sort_unstable();
    for (key, w) in initial {
        for &reader in readers.get(&(key, None)).map_or(&[][..], |v| v) {
            out.edges.add(reader, w, RW);
        }
    }
    for (key, pairs) in r.pairs.iter().enumerate() {
        for &(x, y) in pairs {
            let Some(wy) = r.writer(key as u32, y) else {
                continue;
            };
            if let Some(wx) = x.and_then(|x| r.writer(key as u32, x)) {
                out.edges.add(wx.txn, wy.txn, WW);
            }
            if x.is_some() {
                for &reader in readers.get(&(key as u32, x)).map_or(&[][..], |v| v) {
                    out.edges.add(reader, wy.txn, RW);
                }
            }
        }
    }
}

/// Where the writes of a key could not all be ordered.
fn unordered_notes(r: &Register, out: &mut Inferred) {
    let mut writes = vec![0usize; r.pairs.len()];
    for (&(key, _), w) in &r.writers {
        if w.last && r.txns.txns[w.txn as usize].outcome == Outcome::Ok {
            writes[key as usize] += 1;
        }
    }
    let mut partial = Vec::new();
    for (key, n) in writes.iter().enumerate() {
        let known = r.pairs[key].iter().filter(|(x, _)| x.is_some()).count();
        if *n >= 2 && known + 1 < *n && !r.broken[key] {
            partial.push(format!(
                "key {} ({n} committed writes, {known} ordered pairs)",
                r.txns.key(key as u32)
            ));
        }
    }
    if !partial.is_empty() {
        let total = partial.len();
        partial.truncate(5);
        out.notes.push(format!(
            "the order of writes could not be inferred in full on {total} key(s), e.g. {}: only the initial state and writes that follow reads order versions, so cycles through the rest cannot be seen",
            partial.join(", ")
        ));
    }
}

impl Inference for Register<'_> {
    fn explain(&self, a: u32, b: u32, kind: Kinds) -> Option<String> {
        let (ta, tb) = (&self.txns.txns[a as usize], &self.txns.txns[b as usize]);
        let (na, nb) = (self.name(a), self.name(b));
        match kind {
            WW => observations(tb).into_iter().find_map(|(key, x, y)| {
                let (x, y) = (x?, y?);
                (self.writer(key, x)?.txn == a)
                    .then(|| format!("{nb} read {na}'s write of {x} to key {}, then overwrote it with {y}", self.txns.key(key)))
            }),
            WR => observations(tb).into_iter().find_map(|(key, x, _)| {
                let x = x?;
                (self.writer(key, x)?.txn == a).then(|| format!("{nb} read {na}'s write of {x} to key {}", self.txns.key(key)))
            }),
            RW => observations(ta).into_iter().find_map(|(key, x, _)| {
                let k = self.txns.key(key);
                match x {
                    None => tb.mops.iter().find_map(|m| match m {
                        Mop::Write { key: wk, value } if *wk == key && self.writer(key, *value)?.last => Some(format!(
                            "{na} read key {k} = nil (its initial state), before {nb}'s write of {value}"
                        )),
                        _ => None,
                    }),
                    Some(x) => self.pairs[key as usize].iter().find_map(|&(px, y)| {
                        (px == Some(x) && self.writer(key, y)?.txn == b)
                            .then(|| format!("{na} read key {k} = {x}, which {nb} overwrote with {y}"))
                    }),
                }
            }),
            _ => None,
        }
    }
}
