//! Application invariants that a correct system keeps in every state a client can
//! observe, whatever the consistency model: a bank's total, a counter's bounds, the
//! uniqueness of handed-out IDs. Each is checked in one pass (counter: one sort).

pub mod bank;
pub mod counter;
pub mod unique_ids;
