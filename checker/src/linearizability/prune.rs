//! Exact simplifications made before any search.
//!
//! Every operation is first translated by the model. Those it reports as neither
//! changing nor constraining the state (a failed write, a read whose result is
//! unknown) are dropped: leaving them out cannot change the verdict, and each one
//! left in would widen the search. Operations open to the end of the history stay
//! in, but the search treats them as optional (they may always be placed last).

use super::search::Prepared;
use crate::history::History;
use crate::model::{Model, ModelError};
use crate::search::budget::Budget;
use crate::search::phase::{self, Polled};

/// Every history operation prepared, by [`Operation::id`] (`None` for operations
/// left out), or the limit of `budget` that was reached first (preparing a million
/// operations takes a tenth of a second or more, so it is polled like the search).
///
/// [`Operation::id`]: crate::history::Operation::id
pub(crate) type PreparedAll<O> = Polled<Vec<Option<Prepared<O>>>>;

/// The model's translation of each history operation (see [`PreparedAll`]); fails on
/// the first operation that does not fit the model. Operations after the point where
/// a limit was reached are not looked at, so a malformed one there goes unreported.
pub fn prepare_all<M: Model>(
    history: &History,
    model: &M,
    budget: &Budget,
) -> Result<PreparedAll<M::Op>, ModelError> {
    let each = history.ops.iter().map(|op| {
        Ok(model.prepare(op)?.map(|p| Prepared {
            call: op.call,
            ret: op.ret,
            op: p,
        }))
    });
    phase::try_collect(budget, each)
}
