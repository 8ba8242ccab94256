//! The search's memory of configurations already explored: (set of linearized
//! operations, model state) pairs, as in Lowe's refinement of Wing & Gong.
//!
//! The linearized set is kept as a 128-bit Zobrist fingerprint (the XOR of a random
//! 128-bit key per operation) that the search updates in O(1) per step, instead of a
//! bitset whose copy and hash cost grows with the history. States are stored and
//! compared exactly. Two different sets share a fingerprint with probability 2^-128
//! per pair, so even a search with 10^10 entries has less than a 10^-18 chance of
//! one false match; that is the price of checking million-operation histories in
//! linear memory per step.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A fast non-cryptographic hasher (the rustc "Fx" multiply-rotate scheme): memo keys
/// are already random fingerprints, so SipHash's protection buys nothing here.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

/// SplitMix64: a tiny, well-mixed generator for the Zobrist keys.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random key of the `i`th operation of a partition.
pub fn zobrist(i: usize) -> u128 {
    let a = splitmix64(2 * i as u64);
    let b = splitmix64(2 * i as u64 + 1);
    ((a as u128) << 64) | b as u128
}

/// The `info` operations of a configuration that are linearized, as a bitmask over
/// the partition's first 128 open operations (the rest go into the fingerprint).
pub type OpenMask = u128;

enum Masks {
    One(OpenMask),
    Many(Vec<OpenMask>),
}

/// Explored configurations, with dominance on open operations: an operation open to
/// the end of the history may be linearized at any later point or never, so a
/// configuration that has linearized a subset of another's open operations (all else
/// equal) can do everything the other can. Having explored the smaller one, the
/// larger one need not be explored.
pub struct Memo<S> {
    seen: HashMap<(u128, S), Masks, FxBuild>,
    masks: usize,
}

impl<S: Hash + Eq> Memo<S> {
    pub fn new() -> Self {
        Memo {
            seen: HashMap::default(),
            masks: 0,
        }
    }

    /// Records a configuration; false if it, or one it is dominated by, was already
    /// explored.
    pub fn insert(&mut self, linearized: u128, state: S, open: OpenMask) -> bool {
        match self.seen.entry((linearized, state)) {
            Entry::Vacant(v) => {
                v.insert(Masks::One(open));
                self.masks += 1;
                true
            }
            Entry::Occupied(mut o) => {
                let masks = o.get_mut();
                let dominated = match masks {
                    Masks::One(m) => *m & !open == 0,
                    Masks::Many(ms) => ms.iter().any(|m| *m & !open == 0),
                };
                if dominated {
                    return false;
                }
                match masks {
                    Masks::One(m) => *masks = Masks::Many(vec![*m, open]),
                    Masks::Many(ms) => ms.push(open),
                }
                self.masks += 1;
                true
            }
        }
    }

    /// Configurations recorded (each open-operation set counted).
    pub fn len(&self) -> usize {
        self.masks
    }

    pub fn is_empty(&self) -> bool {
        self.masks == 0
    }
}

impl<S: Hash + Eq> Default for Memo<S> {
    fn default() -> Self {
        Self::new()
    }
}
