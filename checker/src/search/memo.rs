//! The searches' memory of configurations already explored: (set of operations
//! placed, model state) pairs, as in Lowe's refinement of Wing & Gong. Both the
//! linearizability and the sequential-consistency search use it (the latter with a
//! 128-bit hash of every object's state as the state).
//!
//! The placed set is kept as a 128-bit Zobrist fingerprint (the XOR of a random
//! 128-bit key per operation) that the search updates in O(1) per step, instead of a
//! bitset whose copy and hash cost grows with the history. States are stored and
//! compared exactly. Two different sets share a fingerprint with probability 2^-128
//! per pair, so even a search with 10^10 entries has less than a 10^-18 chance of
//! one false match; that is the price of checking million-operation histories in
//! linear memory per step.

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::SplitMix64;
use rustc_hash::FxBuildHasher;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

/// The hasher of the searches' tables: rustc's fast non-cryptographic "Fx" hash.
/// Memo keys are already random fingerprints and states are the checker's own, so
/// SipHash's protection against chosen keys buys nothing here.
pub(crate) type FxBuild = FxBuildHasher;

/// The random key of the `i`th operation of a partition: two SplitMix64 outputs
/// (a tiny, well-mixed generator), so keys are independent of each other.
pub(crate) fn zobrist(i: usize) -> u128 {
    let mut r = SplitMix64::seed_from_u64(i as u64);
    let a = r.next_u64();
    let b = r.next_u64();
    ((a as u128) << 64) | b as u128
}

/// The `info` operations of a configuration that are linearized, as a bitmask over
/// the partition's first 128 open operations (the rest go into the fingerprint).
pub(crate) type OpenMask = u128;

/// An [`OpenMask`] as two words: alignment 8 rather than 16, which with the
/// fingerprint stored the same way makes a register memo's entry 64 bytes, not 80 (a
/// long search's table is a good share of its memory and page faults).
type Words = [u64; 2];

fn words(x: u128) -> Words {
    [(x >> 64) as u64, x as u64]
}

fn dominates(seen: &Words, open: u128) -> bool {
    let m = ((seen[0] as u128) << 64) | seen[1] as u128;
    m & !open == 0
}

enum Masks {
    One(Words),
    Many(Vec<Words>),
}

/// Explored configurations, with dominance on open operations: an operation open to
/// the end of the history may be linearized at any later point or never, so a
/// configuration that has linearized a subset of another's open operations (all else
/// equal) can do everything the other can. Having explored the smaller one, the
/// larger one need not be explored.
pub(crate) struct Memo<S> {
    seen: HashMap<(Words, S), Masks, FxBuild>,
    masks: usize,
}

impl<S: Hash + Eq> Memo<S> {
    pub(crate) fn new() -> Self {
        Memo {
            seen: HashMap::default(),
            masks: 0,
        }
    }

    /// Records a configuration; false if it, or one it is dominated by, was already
    /// explored.
    pub(crate) fn insert(&mut self, linearized: u128, state: S, open: OpenMask) -> bool {
        match self.seen.entry((words(linearized), state)) {
            Entry::Vacant(v) => {
                v.insert(Masks::One(words(open)));
                self.masks += 1;
                true
            }
            Entry::Occupied(mut o) => {
                let masks = o.get_mut();
                let dominated = match masks {
                    Masks::One(m) => dominates(m, open),
                    Masks::Many(ms) => ms.iter().any(|m| dominates(m, open)),
                };
                if dominated {
                    return false;
                }
                match masks {
                    Masks::One(m) => *masks = Masks::Many(vec![*m, words(open)]),
                    Masks::Many(ms) => ms.push(words(open)),
                }
                self.masks += 1;
                true
            }
        }
    }

    /// Makes room for `additional` more configurations without rehashing.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.seen.reserve(additional);
    }

    /// Configurations recorded (each open-operation set counted).
    pub(crate) fn len(&self) -> usize {
        self.masks
    }
}

impl<S: Hash + Eq> Default for Memo<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_register_memo_entry_takes_64_bytes() {
        let entry = std::mem::size_of::<((Words, crate::model::Scalar), Masks)>();
        assert_eq!(entry, 64);
    }

    #[test]
    fn a_configuration_with_more_open_operations_placed_is_dominated() {
        let mut memo = Memo::new();
        assert!(memo.insert(7, 1u32, 0b0110));
        assert!(
            !memo.insert(7, 1, 0b0111),
            "a superset of placed open operations"
        );
        assert!(memo.insert(7, 1, 0b1001), "not a superset");
        assert!(!memo.insert(7, 1, 1 << 127 | 0b1001));
        assert!(memo.insert(7, 2, 0b0111), "another state");
        assert!(memo.insert(1 << 100, 1, 0b0111), "another placed set");
        assert_eq!(memo.len(), 4);
    }
}
