//! Packet faults: loss, delay with jitter, reordering, duplication on chosen links.
//!
//! How each is done (a link `a -> b` is the packets `a` sends to `b`):
//! - loss: an iptables `statistic` DROP rule in `b`'s namespace, for packets from `a`.
//! - delay and reordering: netem on `a`'s egress where the kernel has it; otherwise
//!   (this machine) NFQUEUE rules in `b`'s namespace feeding faultline's own
//!   [`shaper`]. `FAULTLINE_PACKET_BACKEND=netem|nfqueue` overrides the detection.
//! - duplication: an iptables `TEE` rule in `a`'s namespace (mangle POSTROUTING) that
//!   sends a copy of each chosen packet to `b` as well: real duplicates on the wire,
//!   with or without netem.

pub mod netem;
pub mod nfqueue;
pub mod shaper;

use anyhow::{bail, Context, Result};

/// What holds delayed packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayBackend {
    /// The kernel's netem qdisc on the sender's egress.
    Netem,
    /// faultline's NFQUEUE shaper at the receiver.
    Nfqueue,
}

impl DelayBackend {
    /// netem when the kernel has it, otherwise NFQUEUE; or what
    /// `FAULTLINE_PACKET_BACKEND` says.
    pub fn detect() -> Result<DelayBackend> {
        match std::env::var("FAULTLINE_PACKET_BACKEND").as_deref() {
            Ok("netem") => return Ok(DelayBackend::Netem),
            Ok("nfqueue") => return Ok(DelayBackend::Nfqueue),
            Ok(other) => {
                bail!("FAULTLINE_PACKET_BACKEND={other:?}: expected \"netem\" or \"nfqueue\"")
            }
            Err(_) => {}
        }
        if netem::available().context("probing for netem")? {
            Ok(DelayBackend::Netem)
        } else {
            Ok(DelayBackend::Nfqueue)
        }
    }
}
