//! Long linear phases under the budget: preparing a million operations, building a
//! search's tables, sorting its events. Each takes a tenth of a second or more on a
//! million-operation history, so a check that ran them unwatched overshot a short time
//! limit by the sum of them (1.4 s past a 1 s limit on a loaded machine). These
//! helpers look at the budget every [`PHASE_POLL`] items and give up the phase, with
//! the limit that was reached, once it is gone.

use super::budget::{Budget, StopReason};
use crate::model::Model;

/// Items a phase handles between two looks at the budget (a power of two): a clock
/// read per item would cost more than most items, and 4,096 items take well under a
/// millisecond in every phase.
pub(crate) const PHASE_POLL: usize = 1 << 12;

/// The limit reached, looked at only on every [`PHASE_POLL`]th item `i` (item 0
/// included, so a phase started past the limit does no work).
#[inline]
pub(crate) fn poll(budget: &Budget, i: usize) -> Result<(), StopReason> {
    if i.is_multiple_of(PHASE_POLL) {
        if let Some(reason) = budget.exhausted() {
            return Err(reason);
        }
    }
    Ok(())
}

/// Collects `items` (whose work is done as they are drawn), unless a limit is reached
/// first.
pub(crate) fn collect<T>(
    budget: &Budget,
    items: impl Iterator<Item = T>,
) -> Result<Vec<T>, StopReason> {
    let Ok(collected) = try_collect(budget, items.map(Ok::<T, std::convert::Infallible>));
    collected
}

/// The model's exact rewrite ([`Model::canonicalize`]) of one key's operations, held
/// in a checker's own records (`open` and `op` reach into one). The rewrite is one
/// call that cannot be polled, so it is not begun past a limit, and its result is not
/// kept once a limit has been reached during it. `Ok(None)`: the model has no rewrite
/// for these operations, which are left as they were.
pub(crate) fn canonicalize<M: Model, T>(
    model: &M,
    items: &mut [T],
    budget: &Budget,
    open: impl Fn(&T) -> bool,
    op: impl Fn(&mut T) -> &mut M::Op,
) -> Polled<Option<Vec<u32>>> {
    let open = collect(budget, items.iter().map(open))?;
    let mut ops = collect(budget, items.iter_mut().map(|item| op(item).clone()))?;
    let exhausted = || budget.exhausted().map_or(Ok(()), Err);
    exhausted()?;
    let Some(classes) = model.canonicalize(&mut ops, &open) else {
        return Ok(None);
    };
    exhausted()?;
    for (item, rewritten) in items.iter_mut().zip(ops) {
        *op(item) = rewritten;
    }
    Ok(Some(classes))
}

/// Tables of at least this many items are freed by [`drop_aside`].
pub(crate) const LARGE: usize = 1 << 16;

/// Frees `tables` on another thread when `items` (what they hold) is at least
/// [`LARGE`], else here. Freeing a million prepared operations or a search's memo
/// takes tens to hundreds of milliseconds (walking the elements, returning the pages),
/// which a check stopped by its time limit would spend past the limit. The thread
/// owns what it frees and ends when done; if none can be started, they are freed here.
pub(crate) fn drop_aside<T: Send + 'static>(tables: T, items: usize) {
    if items >= LARGE {
        let _ = std::thread::Builder::new()
            .name("checker-free".into())
            .spawn(move || drop(tables));
    }
}

/// What a phase gives: its result, or the limit reached before it was done.
pub(crate) type Polled<T> = Result<T, StopReason>;

/// [`collect`] for work that can fail (preparing operations): the first error is
/// returned as is, and a limit reached first gives `Ok(Err(reason))`; items after
/// that point are not drawn, so an error among them goes unreported.
pub(crate) fn try_collect<T, E>(
    budget: &Budget,
    mut items: impl Iterator<Item = Result<T, E>>,
) -> Result<Polled<Vec<T>>, E> {
    let mut out = Vec::with_capacity(items.size_hint().0);
    // The budget is looked at before an item is drawn (its work is done then).
    loop {
        if let Err(reason) = poll(budget, out.len()) {
            return Ok(Err(reason));
        }
        match items.next() {
            Some(item) => out.push(item?),
            None => return Ok(Ok(out)),
        }
    }
}

/// Elements sorted at once before the sorted runs are merged: small enough that one
/// run sorts in a few milliseconds.
const RUN: usize = 1 << 16;

/// Sorts `v` (unstably; for keys that are unique the order is the same as any sort's)
/// in runs of [`RUN`] merged pairwise, looking at the budget between runs and every
/// [`PHASE_POLL`] merged elements; `v` is left unsorted if a limit is reached. Merging
/// two runs already in order, or the parts of them that are, is a copy (the common
/// case: a history's events are nearly sorted).
pub(crate) fn sort<T: Ord + Copy>(v: &mut [T], budget: &Budget) -> Result<(), StopReason> {
    for chunk in v.chunks_mut(RUN) {
        poll(budget, 0)?;
        chunk.sort_unstable();
    }
    if v.len() <= RUN {
        return Ok(());
    }
    let mut from = v.to_vec();
    let mut to = Vec::with_capacity(v.len());
    let mut width = RUN;
    while width < v.len() {
        to.clear();
        for a in from.chunks(2 * width) {
            let (a, b) = a.split_at(width.min(a.len()));
            merge(a, b, &mut to, budget)?;
        }
        std::mem::swap(&mut from, &mut to);
        width *= 2;
    }
    v.copy_from_slice(&from);
    Ok(())
}

/// Appends the merge of the sorted `a` and `b` to `out`, [`PHASE_POLL`] elements
/// between looks at the budget (the choice of side is branch-free: which side comes
/// next is unpredictable in a merge).
fn merge<T: Ord + Copy>(
    a: &[T],
    b: &[T],
    out: &mut Vec<T>,
    budget: &Budget,
) -> Result<(), StopReason> {
    poll(budget, 0)?;
    if a.last().zip(b.first()).is_none_or(|(x, y)| x <= y) {
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        return Ok(());
    }
    // Only where the runs overlap is there anything to merge: the start of `a` below
    // `b` and the end of `b` above `a` are copied (a history's events are nearly in
    // order, so that is most of them).
    let head = a.partition_point(|x| x <= &b[0]);
    out.extend_from_slice(&a[..head]);
    let a = &a[head..];
    let last = *a.last().expect("a's last element is above b's first");
    let (b, b_tail) = b.split_at(b.partition_point(|y| *y < last));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        poll(budget, 0)?;
        for _ in 0..PHASE_POLL {
            let take_b = b[j] < a[i];
            out.push(if take_b { b[j] } else { a[i] });
            j += take_b as usize;
            i += !take_b as usize;
            if i == a.len() || j == b.len() {
                break;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out.extend_from_slice(b_tail);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn scrambled(n: usize) -> Vec<(u64, bool, u32)> {
        (0..n as u64)
            .map(|i| {
                (
                    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 1000,
                    i % 3 == 0,
                    i as u32,
                )
            })
            .collect()
    }

    #[test]
    fn a_polled_sort_sorts_as_the_standard_one_does() {
        let budget = Budget::new(None, usize::MAX);
        for n in [0, 1, RUN - 1, RUN, RUN + 1, 3 * RUN + 17, 5 * RUN] {
            let mut v = scrambled(n);
            let mut want = v.clone();
            want.sort_unstable();
            sort(&mut v, &budget).unwrap();
            assert_eq!(v, want, "{n} elements");
        }
    }

    #[test]
    fn a_phase_past_the_limit_does_no_work() {
        let gone = Budget::new(Some(Instant::now()), usize::MAX);
        let mut drawn = 0;
        let got = collect(&gone, (0..100).inspect(|_| drawn += 1));
        assert_eq!(got, Err(StopReason::Timeout));
        assert_eq!(drawn, 0);
        let mut v = scrambled(3 * RUN);
        let before = v.clone();
        assert_eq!(sort(&mut v, &gone), Err(StopReason::Timeout));
        assert_eq!(v, before, "not a run was sorted");
    }

    #[test]
    fn a_cancelled_phase_stops_within_one_poll() {
        let budget = Budget::new(None, usize::MAX);
        let mut drawn = 0;
        let got = collect(
            &budget,
            (0..10 * PHASE_POLL).inspect(|&i| {
                drawn += 1;
                if i == PHASE_POLL + 5 {
                    budget.cancel();
                }
            }),
        );
        assert_eq!(got, Err(StopReason::Cancelled));
        assert_eq!(drawn, 2 * PHASE_POLL, "the items up to the next look");
    }
}
