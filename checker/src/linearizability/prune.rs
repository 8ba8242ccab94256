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

/// The model's translation of each history operation, by [`Operation::id`]; `None`
/// for operations left out.
///
/// [`Operation::id`]: crate::history::Operation::id
pub fn prepare_all<M: Model>(
    history: &History,
    model: &M,
) -> Result<Vec<Option<Prepared<M::Op>>>, ModelError> {
    history
        .ops
        .iter()
        .map(|op| {
            Ok(model.prepare(op)?.map(|prepared| Prepared {
                call: op.call,
                ret: op.ret,
                op: prepared,
            }))
        })
        .collect()
}
