//! faultline's nemesis: the faults a test injects, and the schedule that injects them.
//!
//! The nemesis never starts or owns a cluster. It acts on one through
//! [`control::ClusterControl`], which the harness's cluster implements, so faults can
//! be written (and tested) without knowing how nodes are launched.
//!
//! - [`fault`]: faults as data ([`Fault`], [`FaultKind`] and their names).
//! - [`grudge`]: partition shapes, pure.
//! - [`schedule`]: the seeded sequence of fault decisions.
//! - [`Nemesis`]: applies and heals faults on a cluster; [`run`] drives a schedule.
//! - [`iptables`], [`netfilter`], [`netns`]: faultline's chains inside the node
//!   namespaces, and entering those namespaces.
//! - [`clock`]: libfaketime offsets. [`packet`]: loss, delay, reordering, duplication
//!   (with faultline's NFQUEUE shaper where the kernel has no netem).
//!
//! Typical use by a runner:
//! ```no_run
//! # async fn demo<C: nemesis::control::ClusterControl + 'static>(cluster: std::sync::Arc<C>) -> anyhow::Result<()> {
//! use nemesis::{FaultKind, Nemesis, Schedule};
//! use std::time::Duration;
//! let mut nemesis = Nemesis::new(cluster.clone()).with_seed(42);
//! let kinds = FaultKind::parse_list("partition,kill,clock", nemesis.nodes().len())?;
//! nemesis.prepare(&kinds).await?; // refuses clock faults for a Go binary, etc.
//! let mut schedule = Schedule::new(42, Duration::from_secs(10), kinds, nemesis.nodes().len())?;
//! let until = tokio::time::sleep(Duration::from_secs(60));
//! nemesis.run_schedule(&mut schedule, until, |event| println!("{event:?}")).await;
//! nemesis.teardown().await?; // heal everything, remove faultline's chains
//! # Ok(()) }
//! ```

pub mod clock;
pub mod control;
pub mod fault;
pub mod grudge;
pub mod iptables;
mod nemesis;
pub mod netfilter;
pub mod netns;
pub mod packet;
pub mod rng;
pub mod run;
pub mod schedule;

pub use fault::{Fault, FaultKind, Grudge, Link, MembershipChange, PacketKind, PartitionKind};
pub use nemesis::{Nemesis, StatusHandle};
pub use run::{NemesisEvent, RunSummary, Stage};
pub use schedule::{
    ClockBumpError, ClockBumpRange, Decision, FaultParams, Schedule, ScheduleError,
};

/// A stable hash of a name (FNV-1a), for deriving per-node seeds.
pub(crate) fn fault_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
