//! List-append inference: the version order of each key is its longest read, every
//! other read must be a prefix of it, and the dependencies follow from positions in
//! that order (Elle's "recoverability": every appended element names its writer).
//!
//! Beyond Elle's cycles, a few linear checks make the inference exact for
//! serializability (the differential tests hold it to a brute-force checker): a
//! transaction's appends to a key must appear together, in its own order, or not at
//! all (G1b otherwise); reads inside a transaction must agree with its own earlier
//! reads and appends (internal); an element nobody appended is a garbage read, one a
//! failed transaction appended is G1a.

use super::anomaly::AnomalyKind;
use super::graph::{Kinds, RW, WR, WW};
use super::mop::{list_text, Mop, Read, Txn, Txns};
use super::{Inference, Inferred};
use crate::history::Outcome;
use rustc_hash::FxHashMap;

/// Who appended an element: the transaction, which of its appends to the key it was
/// (`nth` of `count`), and its position in the key's version order (`NOT_READ` when
/// no read shows it).
#[derive(Clone, Copy)]
struct Writer {
    txn: u32,
    nth: u16,
    count: u16,
    pos: u32,
}

const NOT_READ: u32 = u32::MAX;

/// A key's version order: its longest read (by transaction and micro-operation), or
/// none; whether it could not be inferred; the committed appends nobody read.
#[derive(Clone, Default)]
struct KeyOrder {
    longest: Option<(u32, u32)>,
    broken: bool,
    unread: Vec<(u32, i64)>,
}

pub struct ListAppend<'a> {
    txns: &'a Txns,
    writers: FxHashMap<(u32, i64), Writer>,
    orders: Vec<KeyOrder>,
}

fn list_of(txns: &Txns, t: u32, mop: u32) -> &[i64] {
    match &txns.txns[t as usize].mops[mop as usize] {
        Mop::Read {
            value: Read::List(l),
            ..
        } => txns.list(*l),
        _ => &[],
    }
}

/// A list for explanations: whole when short, ends otherwise.
fn short(l: &[i64]) -> String {
    if l.len() <= 8 {
        list_text(l)
    } else {
        format!(
            "[{} {} {} ... {}] ({} elements)",
            l[0],
            l[1],
            l[2],
            l[l.len() - 1],
            l.len()
        )
    }
}

impl<'a> ListAppend<'a> {
    fn version(&self, key: u32) -> &[i64] {
        match self.orders[key as usize].longest {
            Some((t, m)) => list_of(self.txns, t, m),
            None => &[],
        }
    }

    fn writer(&self, key: u32, v: i64) -> Option<Writer> {
        self.writers.get(&(key, v)).copied()
    }

    fn name(&self, t: u32) -> String {
        super::txn_name(self.txns, t)
    }
}

/// Runs the inference: edges, the transactions that took effect, linear anomalies.
pub fn infer(txns: &Txns) -> (ListAppend<'_>, Inferred) {
    let mut out = Inferred::new(txns);
    let mut la = ListAppend {
        txns,
        writers: FxHashMap::default(),
        orders: vec![KeyOrder::default(); txns.keys.len()],
    };
    index_writers(&mut la, &mut out);
    longest_reads(&mut la, &mut out);
    place_versions(&mut la, &mut out);
    for (i, t) in txns.txns.iter().enumerate() {
        if t.outcome == Outcome::Ok {
            internal(&la, i as u32, t, &mut out);
        }
    }
    read_edges(&la, &mut out);
    (la, out)
}

fn index_writers(la: &mut ListAppend, out: &mut Inferred) {
    for (i, t) in la.txns.txns.iter().enumerate() {
        let mut counts: Vec<(u32, u16)> = Vec::new();
        for m in &t.mops {
            if let Mop::Append { key, value } = m {
                let nth = match counts.iter_mut().find(|(k, _)| k == key) {
                    Some((_, c)) => {
                        *c += 1;
                        *c - 1
                    }
                    None => {
                        counts.push((*key, 1));
                        0
                    }
                };
                let w = Writer {
                    txn: i as u32,
                    nth,
                    count: 0,
                    pos: NOT_READ,
                };
                if let Some(prev) = la.writers.insert((*key, *value), w) {
                    la.orders[*key as usize].broken = true;
                    out.notes.push(format!(
                        "key {}: {value} was appended by both {} and {}; values must be unique \
                         per key, so this key's order is not inferred",
                        la.txns.key(*key),
                        la.name(prev.txn),
                        la.name(i as u32)
                    ));
                }
            }
        }
        for m in &t.mops {
            if let Mop::Append { key, value } = m {
                let count = counts.iter().find(|(k, _)| k == key).map_or(1, |c| c.1);
                if let Some(w) = la.writers.get_mut(&(*key, *value)) {
                    if w.txn == i as u32 {
                        w.count = count;
                    }
                }
            }
        }
    }
}

/// The longest read of each key, and every read checked to be a prefix of it.
fn longest_reads(la: &mut ListAppend, out: &mut Inferred) {
    for (i, t) in la.txns.txns.iter().enumerate() {
        if t.outcome != Outcome::Ok {
            continue;
        }
        for (j, m) in t.mops.iter().enumerate() {
            if let Mop::Read {
                key,
                value: Read::List(l),
            } = m
            {
                let l = la.txns.list(*l);
                let o = &mut la.orders[*key as usize];
                let longer = o
                    .longest
                    .is_none_or(|(lt, lm)| list_of(la.txns, lt, lm).len() < l.len());
                if longer {
                    o.longest = Some((i as u32, j as u32));
                }
            }
        }
    }
    for (i, t) in la.txns.txns.iter().enumerate() {
        if t.outcome != Outcome::Ok {
            continue;
        }
        for m in &t.mops {
            if let Mop::Read {
                key,
                value: Read::List(l),
            } = m
            {
                let l = la.txns.list(*l);
                let o = &la.orders[*key as usize];
                let Some((lt, lm)) = o.longest else { continue };
                let long = list_of(la.txns, lt, lm);
                if !o.broken && !long.starts_with(l) {
                    la.orders[*key as usize].broken = true;
                    out.found(
                        AnomalyKind::IncompatibleOrder,
                        vec![i as u32, lt],
                        format!(
                            "{} read key {} = {} and {} read {}: neither is a prefix of the \
                             other, so no single order of appends explains both",
                            la.name(i as u32),
                            la.txns.key(*key),
                            short(l),
                            la.name(lt),
                            short(long)
                        ),
                    );
                }
            }
        }
    }
}

/// Places every element of each key's longest read: positions, who took effect, and
/// the anomalies a single order shows (duplicates, garbage, aborted reads, dirty
/// updates, torn or intermediate appends); then the write dependencies.
fn place_versions(la: &mut ListAppend, out: &mut Inferred) {
    for key in 0..la.orders.len() as u32 {
        let Some((lt, lm)) = la.orders[key as usize].longest else {
            continue;
        };
        if la.orders[key as usize].broken {
            continue;
        }
        let long = list_of(la.txns, lt, lm);
        let k = la.txns.key(key).clone();
        let mut aborted: Option<(i64, u32)> = None;
        let mut duplicate = false;
        for (p, &v) in long.iter().enumerate() {
            let Some(w) = la.writers.get_mut(&(key, v)) else {
                out.found(
                    AnomalyKind::GarbageRead,
                    vec![lt],
                    format!(
                        "{} read key {k} = {}, but nobody appended {v} to key {k}",
                        super::txn_name(la.txns, lt),
                        short(long)
                    ),
                );
                continue;
            };
            if w.pos != NOT_READ {
                duplicate = true;
                continue;
            }
            w.pos = p as u32;
            let wt = &la.txns.txns[w.txn as usize];
            match wt.outcome {
                Outcome::Fail => {
                    out.found(
                        AnomalyKind::G1a,
                        vec![lt, w.txn],
                        format!(
                            "{} read key {k} = {}, which holds {v}, appended by {}, which failed",
                            super::txn_name(la.txns, lt),
                            short(long),
                            super::txn_name(la.txns, w.txn)
                        ),
                    );
                    aborted.get_or_insert((v, w.txn));
                }
                _ => {
                    out.included[w.txn as usize] = true;
                    if let Some((av, at)) = aborted.take() {
                        out.found(
                            AnomalyKind::DirtyUpdate,
                            vec![at, w.txn],
                            format!(
                                "{}'s append of {v} to key {k} follows {av}, appended by {}, \
                                 which failed",
                                super::txn_name(la.txns, w.txn),
                                super::txn_name(la.txns, at)
                            ),
                        );
                    }
                }
            }
        }
        if duplicate {
            la.orders[key as usize].broken = true;
            out.found(
                AnomalyKind::DuplicateElements,
                vec![lt],
                format!(
                    "{} read key {k} = {}, in which an element appears twice",
                    la.name(lt),
                    short(long)
                ),
            );
            continue;
        }
        torn_appends(la, key, long, out);
        write_edges(la, key, long, out);
    }
    unread_appends(la, out);
}

/// Each transaction's appends to a key must sit together and in its order in the
/// version order: G1b (an intermediate version observed) otherwise.
fn torn_appends(la: &ListAppend, key: u32, long: &[i64], out: &mut Inferred) {
    let k = la.txns.key(key);
    for (p, &v) in long.iter().enumerate() {
        let Some(w) = la.writer(key, v) else { continue };
        let next = long.get(p + 1).and_then(|&n| la.writer(key, n));
        let follows = |n: Option<Writer>| n.is_some_and(|n| n.txn == w.txn && n.nth == w.nth + 1);
        let prev_ok = w.nth == 0
            || p > 0
                && la
                    .writer(key, long[p - 1])
                    .is_some_and(|q| q.txn == w.txn && q.nth + 1 == w.nth);
        let (lt, _) = la.orders[key as usize]
            .longest
            .expect("placed keys have a longest read");
        // A transaction may read its own intermediate version.
        let own_last = p + 1 == long.len() && lt == w.txn;
        let next_ok = w.nth + 1 >= w.count || follows(next) || own_last;
        if prev_ok && next_ok {
            continue;
        }
        let what = if !next_ok && p + 1 == long.len() {
            format!(
                "the read ends with {v}, yet {} appended more to key {k} after it",
                la.name(w.txn)
            )
        } else if !next_ok {
            format!(
                "{v} is followed by {}, yet {} appended more to key {k} right after {v}",
                long[p + 1],
                la.name(w.txn)
            )
        } else {
            format!(
                "{v} does not come right after {}'s previous append to key {k}",
                la.name(w.txn)
            )
        };
        out.found(
            AnomalyKind::G1b,
            vec![lt, w.txn],
            format!("{} read key {k} = {}: {what}", la.name(lt), short(long)),
        );
    }
}

/// ww: consecutive elements of different writers.
fn write_edges(la: &ListAppend, key: u32, long: &[i64], out: &mut Inferred) {
    for p in 1..long.len() {
        if let (Some(a), Some(b)) = (la.writer(key, long[p - 1]), la.writer(key, long[p])) {
            out.edges.add(a.txn, b.txn, WW);
        }
    }
}

/// The appends of transactions that took effect that no read shows: each comes after the last element read
/// (ww), in an order nobody can tell.
fn unread_appends(la: &mut ListAppend, out: &mut Inferred) {
    for (i, t) in la.txns.txns.iter().enumerate() {
        if !out.included[i] {
            continue;
        }
        for m in &t.mops {
            let Mop::Append { key, value } = m else {
                continue;
            };
            let o = &la.orders[*key as usize];
            if o.broken
                || la
                    .writer(*key, *value)
                    .is_none_or(|w| w.pos != NOT_READ || w.txn != i as u32)
            {
                continue;
            }
            let last = o
                .longest
                .and_then(|(lt, lm)| list_of(la.txns, lt, lm).last().copied())
                .and_then(|v| la.writer(*key, v));
            if let Some(l) = last {
                out.edges.add(l.txn, i as u32, WW);
            }
            let unread = &mut la.orders[*key as usize].unread;
            if unread.last().is_none_or(|(u, _)| *u != i as u32) {
                unread.push((i as u32, *value));
            }
        }
    }
}

/// What a committed transaction saw of each key before its own appends: the first
/// read of the key, less the transaction's own appends before it, and whether it
/// appended to the key after that read.
fn observations<'a>(txns: &'a Txns, t: &Txn) -> Vec<(u32, &'a [i64], bool)> {
    let mut seen: Vec<(u32, &[i64], bool)> = Vec::new();
    for (j, m) in t.mops.iter().enumerate() {
        let Mop::Read {
            key,
            value: Read::List(l),
        } = m
        else {
            continue;
        };
        let l = txns.list(*l);
        if seen.iter().any(|(k, _, _)| k == key) {
            continue;
        }
        let own = t.mops[..j]
            .iter()
            .filter(|o| matches!(o, Mop::Append { key: k, .. } if k == key))
            .count();
        if own > l.len() {
            continue;
        }
        let after = t.mops[j..]
            .iter()
            .any(|o| matches!(o, Mop::Append { key: k, .. } if k == key));
        seen.push((*key, &l[..l.len() - own], after));
    }
    seen
}

/// A transaction's reads must agree with its own earlier reads and appends.
fn internal(la: &ListAppend, i: u32, t: &Txn, out: &mut Inferred) {
    let repeats = t
        .mops
        .iter()
        .enumerate()
        .any(|(j, m)| t.mops[..j].iter().any(|o| o.key() == m.key()));
    if !repeats {
        return;
    }
    // Per key: the whole value if a read fixed it, else the own appends since.
    let mut state: Vec<(u32, Option<Vec<i64>>, Vec<i64>)> = Vec::new();
    for m in &t.mops {
        let at = match state.iter().position(|s| s.0 == m.key()) {
            Some(p) => p,
            None => {
                state.push((m.key(), None, Vec::new()));
                state.len() - 1
            }
        };
        let (_, known, pending) = &mut state[at];
        match m {
            Mop::Append { value, .. } => match known {
                Some(k) => k.push(*value),
                None => pending.push(*value),
            },
            Mop::Read {
                key,
                value: Read::List(l),
            } => {
                let l = la.txns.list(*l);
                let bad = match known {
                    Some(k) => (k.as_slice() != l).then(|| {
                        format!(
                            "expected {} from its own earlier read and appends",
                            short(k)
                        )
                    }),
                    None => (!l.ends_with(pending)).then(|| {
                        format!("expected it to end with its own appends {}", short(pending))
                    }),
                };
                if let Some(why) = bad {
                    out.found(
                        AnomalyKind::InternalInconsistency,
                        vec![i],
                        format!(
                            "{} read key {} = {}, but {why}",
                            la.name(i),
                            la.txns.key(*key),
                            short(l)
                        ),
                    );
                    return;
                }
                *known = Some(l.to_vec());
            }
            _ => {}
        }
    }
}

/// Whether a transaction's first read of `key` (of length `m`, own earlier appends
/// aside) shows one of its own later appends.
fn future_read(la: &ListAppend, t: &Txn, key: u32, m: usize) -> bool {
    t.mops.iter().any(|o| match o {
        Mop::Append { key: k, value } if *k == key => {
            la.writer(key, *value).is_some_and(|w| (w.pos as usize) < m)
        }
        _ => false,
    })
}

/// wr and rw from what each committed transaction saw; intermediate reads; lost
/// updates (two transactions that saw the same version and both appended).
fn read_edges(la: &ListAppend, out: &mut Inferred) {
    let mut updaters: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    for (i, t) in la.txns.txns.iter().enumerate() {
        if t.outcome != Outcome::Ok {
            continue;
        }
        let i = i as u32;
        for (key, ext, appends) in observations(la.txns, t) {
            let o = &la.orders[key as usize];
            if o.broken {
                continue;
            }
            let long = la.version(key);
            let m = ext.len();
            if appends && future_read(la, t, key, m) {
                out.found(
                    AnomalyKind::InternalInconsistency,
                    vec![i],
                    format!("{} read key {} = {}, which already holds an element it appended only later", la.name(i), la.txns.key(key), short(ext)),
                );
            }
            if m > 0 {
                if let Some(w) = la.writer(key, long[m - 1]) {
                    out.edges.add(w.txn, i, WR);
                    if w.txn != i && w.nth + 1 < w.count {
                        out.found(
                            AnomalyKind::G1b,
                            vec![i, w.txn],
                            format!(
                                "{} read key {} = {}, ending with {}'s append of {}, which was not its last append to that key",
                                la.name(i), la.txns.key(key), short(ext), la.name(w.txn), long[m - 1]
                            ),
                        );
                    }
                }
            }
            if m < long.len() {
                if let Some(w) = la.writer(key, long[m]) {
                    out.edges.add(i, w.txn, RW);
                }
            } else {
                for &(u, _) in &o.unread {
                    out.edges.add(i, u, RW);
                }
            }
            if appends {
                if let Some(&other) = updaters.get(&(key, m as u32)) {
                    out.found(
                        AnomalyKind::LostUpdate,
                        vec![other, i],
                        format!(
                            "{} and {} both read key {} = {} and both appended to it: one of the appends was made without seeing the other",
                            la.name(other), la.name(i), la.txns.key(key), short(ext)
                        ),
                    );
                } else {
                    updaters.insert((key, m as u32), i);
                }
            }
        }
    }
}

impl Inference for ListAppend<'_> {
    fn explain(&self, a: u32, b: u32, kind: Kinds) -> Option<String> {
        let (ta, tb) = (&self.txns.txns[a as usize], &self.txns.txns[b as usize]);
        let (na, nb) = (self.name(a), self.name(b));
        match kind {
            WW => tb.mops.iter().find_map(|m| {
                let Mop::Append { key, value } = m else { return None };
                let w = self.writer(*key, *value)?;
                let long = self.version(*key);
                let prev = match w.pos {
                    NOT_READ => *long.last()?,
                    0 => return None,
                    p => long[p as usize - 1],
                };
                (self.writer(*key, prev)?.txn == a).then(|| {
                    let k = self.txns.key(*key);
                    if w.pos == NOT_READ {
                        format!("{nb}'s append of {value} to key {k}, which nobody read, comes after {na}'s append of {prev}, the last anyone read")
                    } else {
                        format!("{nb} appended {value} to key {k} right after {na}'s append of {prev}")
                    }
                })
            }),
            WR => observations(self.txns, tb).into_iter().find_map(|(key, ext, _)| {
                let last = *ext.last()?;
                (self.writer(key, last)?.txn == a).then(|| {
                    format!("{nb} read {na}'s append of {last} to key {} (it read {})", self.txns.key(key), short(ext))
                })
            }),
            RW => observations(self.txns, ta).into_iter().find_map(|(key, ext, _)| {
                let long = self.version(key);
                let k = self.txns.key(key);
                if let Some(&next) = long.get(ext.len()) {
                    (self.writer(key, next)?.txn == b)
                        .then(|| format!("{na} read key {k} = {} before {nb}'s append of {next}", short(ext)))
                } else {
                    let (_, v) = self.orders[key as usize].unread.iter().find(|(u, _)| *u == b)?;
                    Some(format!("{na} read key {k} = {}, without {nb}'s append of {v}, which nobody read", short(ext)))
                }
            }),
            _ => None,
        }
    }
}
