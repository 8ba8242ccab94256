//! A cheap exact pre-check run before the search: an observation (a read, a
//! successful CAS) that needs a state nothing could have produced by the time it
//! completed is a violation, found in one pass instead of after the search has
//! tried every order of the operations before it.
//!
//! It applies only where the model says exactly which states each operation can
//! produce: every operation observes (leaves the state as it was), or resets it to
//! one known state ([`Model::reset_state`]), or both (a CAS). Then the state at any
//! point of any linearization is the initial one or one left by an operation
//! linearized before that point, hence invoked before it. An operation that
//! completed needing a state `s` that is not the initial state, and that no
//! operation invoked before its completion leaves, cannot be linearized: the
//! history is not linearizable. Operations open to the end (crashed writes) count as
//! producers from their invocation on, since they may take effect at any time after
//! it; open observers are skipped (they may never have happened). Any operation
//! that grows the state, or resets it to a state the model cannot name, turns the
//! pre-check off for its partition: it never claims a violation that is not one.

use super::search::Prepared;
use crate::model::{Growth, Model};
use crate::search::budget::{Budget, StopReason};
use crate::search::phase;
use std::collections::HashMap;

/// An observation no operation invoked before its completion could have satisfied.
#[derive(Debug)]
pub(crate) struct FutureRead {
    /// Index (into the partition's operations) of the observation.
    pub read: usize,
    /// The operations that leave the state it needs, all invoked after it completed
    /// (empty: none in the whole history).
    pub producers: Vec<usize>,
}

/// The earliest-completing impossible observation of `ops`, if the pre-check
/// applies and finds one (see the module's doc); `Err` if a limit of `budget` is
/// reached first.
pub(crate) fn find<M: Model>(
    model: &M,
    ops: &[Prepared<M::Op>],
    budget: &Budget,
) -> Result<Option<FutureRead>, StopReason> {
    let mut first_call: HashMap<M::State, u64> = HashMap::new();
    for (i, p) in ops.iter().enumerate() {
        phase::poll(budget, i)?;
        match model.growth(&p.op) {
            Growth::Observes => {}
            Growth::Resets | Growth::Replaces => {
                let Some(leaves) = model.reset_state(&p.op) else {
                    return Ok(None);
                };
                let call = first_call.entry(leaves).or_insert(p.call);
                *call = (*call).min(p.call);
            }
            Growth::Grows | Growth::Other => return Ok(None),
        }
    }
    let init = model.init();
    let mut read = None;
    for (i, p) in ops.iter().enumerate() {
        phase::poll(budget, i)?;
        let Some(need) = (!p.is_open())
            .then(|| model.required_state(&p.op))
            .flatten()
        else {
            continue;
        };
        // Calls sort before returns at the same instant (the search's reading), so a
        // producer invoked at the very instant the read completed counts.
        let impossible = need != init && first_call.get(&need).is_none_or(|&c| c > p.ret);
        if impossible && read.is_none_or(|r: usize| (p.ret, p.call) < (ops[r].ret, ops[r].call)) {
            read = Some(i);
        }
    }
    let Some(read) = read else { return Ok(None) };
    let need = model.required_state(&ops[read].op);
    let producers = (0..ops.len())
        .filter(|&i| {
            matches!(model.growth(&ops[i].op), Growth::Resets | Growth::Replaces)
                && model.reset_state(&ops[i].op) == need
        })
        .collect();
    Ok(Some(FutureRead { read, producers }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cas_register::{CasRegister, RegisterOp};
    use crate::model::kv::{Kv, KvOp};
    use crate::model::Scalar;

    fn find_unlimited<M: Model>(model: &M, ops: &[Prepared<M::Op>]) -> Option<FutureRead> {
        find(model, ops, &Budget::new(None, usize::MAX)).expect("no limit")
    }

    fn op(call: u64, ret: u64, op: RegisterOp) -> Prepared<RegisterOp> {
        Prepared { call, ret, op }
    }

    fn int(v: i64) -> Scalar {
        Scalar::from_json(&serde_json::json!(v))
    }

    #[test]
    fn a_read_of_a_value_written_only_after_it_completed_is_found() {
        let ops = vec![
            op(0, 10, RegisterOp::Write(int(1))),
            op(20, 30, RegisterOp::Read(int(2))),
            op(31, 40, RegisterOp::Write(int(2))),
        ];
        let found = find_unlimited(&CasRegister::default(), &ops).expect("a future read");
        assert_eq!((found.read, found.producers), (1, vec![2]));
    }

    #[test]
    fn a_write_invoked_before_the_read_completed_or_open_from_before_explains_it() {
        let model = CasRegister::default();
        let concurrent = vec![
            op(20, 30, RegisterOp::Read(int(2))),
            op(30, 40, RegisterOp::Write(int(2))),
        ];
        assert!(
            find_unlimited(&model, &concurrent).is_none(),
            "invoked as it completed"
        );
        let crashed = vec![
            op(0, u64::MAX, RegisterOp::Write(int(2))),
            op(20, 30, RegisterOp::Read(int(2))),
        ];
        assert!(
            find_unlimited(&model, &crashed).is_none(),
            "a crashed write may take effect"
        );
        let initial = vec![op(20, 30, RegisterOp::Read(Scalar::Nil))];
        assert!(
            find_unlimited(&model, &initial).is_none(),
            "the initial value"
        );
        let open_read = vec![op(20, u64::MAX, RegisterOp::Read(int(9)))];
        assert!(
            find_unlimited(&model, &open_read).is_none(),
            "an open read may never happen"
        );
    }

    #[test]
    fn a_cas_expecting_a_value_never_written_is_found_and_a_growing_model_is_left_alone() {
        let ops = vec![op(
            0,
            10,
            RegisterOp::Cas {
                from: int(7),
                to: int(8),
                maybe: false,
            },
        )];
        let found = find_unlimited(&CasRegister::default(), &ops).expect("impossible cas");
        assert!(found.producers.is_empty());
        let kv = Kv::default();
        let ops = vec![
            Prepared {
                call: 0,
                ret: 10,
                op: KvOp::Register(RegisterOp::Read(Scalar::Str("zz".into()))),
            },
            Prepared {
                call: 20,
                ret: 30,
                op: KvOp::Append("x".into()),
            },
        ];
        assert!(
            find_unlimited(&kv, &ops).is_none(),
            "appends grow the state: no pre-check"
        );
    }
}
