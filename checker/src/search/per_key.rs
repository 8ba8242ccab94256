//! The per-key driver both checkers run first: a history's keys are checked as
//! independent objects, in parallel on every core, largest first so the longest
//! search starts at once instead of last, and (unless every key is asked for) the
//! first key found invalid stops the others, since one is enough to decide.

use super::budget::Budget;
use crate::verdict::Verdict;
use rayon::prelude::*;

/// Runs `check(i)` for every key `i` in `0..sizes.len()` (`sizes[i]` its number of
/// operations), in parallel, largest first. A key whose verdict is invalid cancels
/// `budget` unless `all_keys`, which stops the searches still running and makes the
/// ones not yet started report themselves skipped. Results come back in key order.
pub(crate) fn check_keys<R, C, V>(
    sizes: &[usize],
    budget: &Budget,
    all_keys: bool,
    check: C,
    verdict: V,
) -> Vec<R>
where
    R: Send,
    C: Fn(usize) -> R + Sync,
    V: Fn(&R) -> Verdict + Sync,
{
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let mut reports: Vec<(usize, R)> = order
        .into_par_iter()
        .map(|i| {
            let report = check(i);
            if verdict(&report) == Verdict::Invalid && !all_keys {
                budget.cancel();
            }
            (i, report)
        })
        .collect();
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::StopReason;

    #[test]
    fn results_come_back_in_key_order_and_an_invalid_key_cancels_the_rest() {
        let budget = Budget::new(None, usize::MAX);
        let verdicts = [Verdict::Valid, Verdict::Valid, Verdict::Valid];
        let got = check_keys(&[1, 3, 2], &budget, false, |i| (i, verdicts[i]), |r| r.1);
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(budget.exhausted(), None);

        let got = check_keys(
            &[1, 3],
            &budget,
            true,
            |i| [Verdict::Invalid, Verdict::Valid][i],
            |v| *v,
        );
        assert_eq!(got, vec![Verdict::Invalid, Verdict::Valid]);
        assert_eq!(
            budget.exhausted(),
            None,
            "every key was asked for: nothing cancelled"
        );

        check_keys(
            &[1, 3],
            &budget,
            false,
            |i| [Verdict::Invalid, Verdict::Valid][i],
            |v| *v,
        );
        assert_eq!(budget.exhausted(), Some(StopReason::Cancelled));
    }
}
