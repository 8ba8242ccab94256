//! faultline's nemesis: the faults a test injects, and the schedule that injects them.
//!
//! The nemesis never starts or owns a cluster. It acts on one through
//! [`control::ClusterControl`], which the harness's cluster implements, so faults can
//! be written (and tested) without knowing how nodes are launched.

pub mod control;
