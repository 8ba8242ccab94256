//! faultline's lazy filesystem: a FUSE passthrough that keeps written data that was
//! not fsync'd in memory, so that a simulated power loss can drop it (like Jepsen's
//! lazyfs). The library holds the semantics ([`overlay`], pure and unit-tested) and
//! the control protocol ([`control`]) that the harness speaks to a running mount; the
//! `faultline-lazyfs` binary (feature `fuse`) mounts it.

pub mod control;
#[cfg(feature = "fuse")]
pub mod fs;
pub mod overlay;
