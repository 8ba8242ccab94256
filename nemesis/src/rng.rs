//! A seeded random number generator whose sequence never changes.
//!
//! `rand`'s `StdRng` may change algorithm between releases, which would make an old
//! seed replay a different fault schedule. A test harness promises "same seed, same
//! faults" across upgrades, so the schedule uses a fixed algorithm: xoshiro256** from
//! the `rand_xoshiro` crate, seeded through SplitMix64 (its `seed_from_u64`, which
//! gives the same sequence as the generator nemesis used to carry itself; the pinned
//! values in the tests below hold both to it).

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256StarStar;

/// xoshiro256** seeded with SplitMix64, with the draws the schedule needs.
#[derive(Debug, Clone)]
pub struct SeededRng {
    inner: Xoshiro256StarStar,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        SeededRng {
            inner: Xoshiro256StarStar::seed_from_u64(seed),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// A uniformly random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
        v
    }

    /// Log-uniform in `[lo, hi]` (both > 0): small and large magnitudes equally likely,
    /// as Jepsen picks clock skews.
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo.max(1) as f64).ln(), (hi.max(1) as f64).ln());
        ((l + (h - l) * self.unit()).exp().round() as u64).clamp(lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned: these are the first outputs of the xoshiro256**/SplitMix64 generator
    /// nemesis carried before it used `rand_xoshiro`; a change here would make old
    /// seeds replay different schedules.
    #[test]
    fn same_seed_same_sequence_and_known_first_values() {
        let first = |seed| {
            let mut r = SeededRng::new(seed);
            (0..3).map(|_| r.next_u64()).collect::<Vec<u64>>()
        };
        assert_eq!(
            first(42),
            vec![
                1546998764402558742,
                6990951692964543102,
                12544586762248559009
            ]
        );
        assert_eq!(
            first(0),
            vec![
                11091344671253066420,
                13793997310169335082,
                1900383378846508768
            ]
        );
        assert_eq!(first(42), first(42));
        assert_ne!(first(43)[0], first(42)[0]);
    }

    #[test]
    fn permutation_is_a_permutation_and_below_stays_in_range() {
        let mut r = SeededRng::new(7);
        let mut p = r.permutation(9);
        p.sort();
        assert_eq!(p, (0..9).collect::<Vec<_>>());
        for _ in 0..1000 {
            assert!(r.below(3) < 3);
            let x = r.log_uniform(10, 1000);
            assert!((10..=1000).contains(&x));
        }
    }
}
