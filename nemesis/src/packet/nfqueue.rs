//! The nfnetlink_queue protocol, spoken directly over a `NETLINK_NETFILTER` socket.
//!
//! Only what the shaper needs: bind a queue number, ask for packet metadata (the
//! packet id is all it uses), read queued-packet messages, and send verdicts. Message
//! encoding and decoding are pure functions, tested below; the socket is plain libc.
//!
//! Layout (from `linux/netfilter/nfnetlink_queue.h`): every message is an `nlmsghdr`
//! (native endian), then an `nfgenmsg` (family, version, queue number big-endian),
//! then netlink attributes padded to 4 bytes whose payloads are big-endian.

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_NETFILTER: libc::c_int = 12;
const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;

const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_CFG_CMD_UNBIND: u8 = 2;
const NFQNL_COPY_META: u8 = 1;
/// Accept instead of drop when the queue is full: the shaper may delay traffic, never
/// lose it on its own account.
const NFQA_CFG_F_FAIL_OPEN: u32 = 1;

const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;

pub const NF_DROP: u32 = 0;
pub const NF_ACCEPT: u32 = 1;

const NLMSG_HDRLEN: usize = 16;
const NFGEN_LEN: usize = 4;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message for the queue subsystem.
pub fn message(
    msg: u16,
    flags: u16,
    seq: u32,
    family: u8,
    queue: u16,
    attrs: &[(u16, &[u8])],
) -> Vec<u8> {
    let mut body = Vec::new();
    body.push(family);
    body.push(0); // NFNETLINK_V0
    body.extend_from_slice(&queue.to_be_bytes());
    for (ty, payload) in attrs {
        let len = 4 + payload.len();
        body.extend_from_slice(&(len as u16).to_ne_bytes());
        body.extend_from_slice(&ty.to_ne_bytes());
        body.extend_from_slice(payload);
        body.resize(align4(body.len()), 0);
    }
    let total = NLMSG_HDRLEN + body.len();
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | msg).to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&body);
    m
}

pub fn bind_message(seq: u32, queue: u16) -> Vec<u8> {
    let cmd = [NFQNL_CFG_CMD_BIND, 0, 0, libc::AF_INET as u8];
    message(
        NFQNL_MSG_CONFIG,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        libc::AF_INET as u8,
        queue,
        &[(NFQA_CFG_CMD, &cmd)],
    )
}

pub fn unbind_message(seq: u32, queue: u16) -> Vec<u8> {
    let cmd = [NFQNL_CFG_CMD_UNBIND, 0, 0, libc::AF_INET as u8];
    message(
        NFQNL_MSG_CONFIG,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        libc::AF_INET as u8,
        queue,
        &[(NFQA_CFG_CMD, &cmd)],
    )
}

/// Metadata-only copies (the shaper needs the packet id, not the bytes), a queue long
/// enough for a delayed busy link, and fail-open on overflow.
pub fn params_message(seq: u32, queue: u16, max_len: u32) -> Vec<u8> {
    let mut params = 0u32.to_be_bytes().to_vec();
    params.push(NFQNL_COPY_META);
    let maxlen = max_len.to_be_bytes();
    let mask = NFQA_CFG_F_FAIL_OPEN.to_be_bytes();
    let flags = NFQA_CFG_F_FAIL_OPEN.to_be_bytes();
    message(
        NFQNL_MSG_CONFIG,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        libc::AF_UNSPEC as u8,
        queue,
        &[
            (NFQA_CFG_PARAMS, &params),
            (NFQA_CFG_QUEUE_MAXLEN, &maxlen),
            (NFQA_CFG_MASK, &mask),
            (NFQA_CFG_FLAGS, &flags),
        ],
    )
}

pub fn verdict_message(queue: u16, id: u32, verdict: u32) -> Vec<u8> {
    let mut hdr = verdict.to_be_bytes().to_vec();
    hdr.extend_from_slice(&id.to_be_bytes());
    message(
        NFQNL_MSG_VERDICT,
        NLM_F_REQUEST,
        0,
        libc::AF_UNSPEC as u8,
        queue,
        &[(NFQA_VERDICT_HDR, &hdr)],
    )
}

/// What one received netlink message says.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A queued packet, by id.
    Packet {
        id: u32,
    },
    /// An acknowledgement (`errno == 0`) or error for request `seq`.
    Ack {
        seq: u32,
        errno: i32,
    },
    Other,
}

/// Splits a datagram into messages. Truncated or malformed trailing bytes end the walk.
pub fn parse(buf: &[u8]) -> Vec<Incoming> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
        let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
        let body = &buf[off + NLMSG_HDRLEN..off + len];
        out.push(match ty {
            NLMSG_ERROR if body.len() >= 4 => {
                let errno = -i32::from_ne_bytes(body[0..4].try_into().unwrap());
                // The acked request's header follows; its seq is the one that matters.
                let acked = if body.len() >= 4 + NLMSG_HDRLEN {
                    u32::from_ne_bytes(body[12..16].try_into().unwrap())
                } else {
                    seq
                };
                Incoming::Ack { seq: acked, errno }
            }
            NLMSG_DONE => Incoming::Other,
            t if t == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET => match packet_id(body) {
                Some(id) => Incoming::Packet { id },
                None => Incoming::Other,
            },
            _ => Incoming::Other,
        });
        off += align4(len);
    }
    out
}

fn packet_id(body: &[u8]) -> Option<u32> {
    let mut off = NFGEN_LEN;
    while off + 4 <= body.len() {
        let len = u16::from_ne_bytes(body[off..off + 2].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(body[off + 2..off + 4].try_into().unwrap()) & 0x3fff;
        if len < 4 || off + len > body.len() {
            return None;
        }
        if ty == NFQA_PACKET_HDR && len >= 8 {
            return Some(u32::from_be_bytes(
                body[off + 4..off + 8].try_into().unwrap(),
            ));
        }
        off += align4(len);
    }
    None
}

/// A bound queue in the namespace the socket was created in.
pub struct QueueSocket {
    fd: OwnedFd,
    queue: u16,
    seq: u32,
}

impl QueueSocket {
    /// Opens a socket in the calling thread's namespace and binds `queue` to it.
    pub fn bind(queue: u16) -> Result<QueueSocket> {
        // SAFETY: plain syscalls; the fd is owned from here on.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_NETFILTER,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error())
                .context("opening a NETLINK_NETFILTER socket");
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error()).context("binding the netlink socket");
        }
        let one: libc::c_int = 1;
        let rcvbuf: libc::c_int = 4 << 20;
        unsafe {
            // NETLINK_NO_ENOBUFS = 5: an overrun loses messages, not the socket.
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_NETLINK,
                5,
                &one as *const _ as *const libc::c_void,
                4,
            );
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &rcvbuf as *const _ as *const libc::c_void,
                4,
            );
        }
        let mut s = QueueSocket { fd, queue, seq: 0 };
        s.request(bind_message)
            .with_context(|| format!("binding NFQUEUE {queue}"))?;
        s.request(|seq, q| params_message(seq, q, 16384))
            .with_context(|| format!("configuring NFQUEUE {queue}"))?;
        Ok(s)
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Sends a config request and waits for its acknowledgement (packets that arrive
    /// meanwhile cannot exist yet: rules pointing at the queue come after the bind).
    fn request(&mut self, build: impl Fn(u32, u16) -> Vec<u8>) -> Result<()> {
        self.seq += 1;
        let seq = self.seq;
        self.send(&build(seq, self.queue))?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = self.recv(&mut buf, true)?;
            for m in parse(&buf[..n]) {
                if let Incoming::Ack { seq: s, errno } = m {
                    if s == seq {
                        if errno != 0 {
                            let e = std::io::Error::from_raw_os_error(errno);
                            if errno == libc::EBUSY {
                                bail!("queue already bound by another program: {e}");
                            }
                            bail!("kernel refused: {e}");
                        }
                        return Ok(());
                    }
                }
            }
        }
    }

    pub fn send(&self, msg: &[u8]) -> Result<()> {
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: buffer and address are valid for the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("sending to nfnetlink_queue");
        }
        Ok(())
    }

    /// Receives one datagram; `Ok(0)` when non-blocking and nothing is waiting.
    pub fn recv(&self, buf: &mut [u8], block: bool) -> Result<usize> {
        let flags = if block { 0 } else { libc::MSG_DONTWAIT };
        loop {
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    flags,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) if !block => return Ok(0),
                // Messages were lost to an overrun; the kernel fails those packets open.
                Some(libc::ENOBUFS) => continue,
                _ => return Err(e).context("receiving from nfnetlink_queue"),
            }
        }
    }

    /// Unbinds the queue; packets still queued in the kernel are dropped by it, so the
    /// caller releases them first.
    pub fn unbind(mut self) -> Result<()> {
        self.request(unbind_message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_has_header_nfgen_and_big_endian_payload() {
        let m = verdict_message(7, 0x01020304, NF_ACCEPT);
        assert_eq!(m.len(), 16 + 4 + 4 + 8);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()),
            m.len() as u32
        );
        assert_eq!(
            u16::from_ne_bytes(m[4..6].try_into().unwrap()),
            (3 << 8) | 1
        );
        assert_eq!(&m[18..20], &7u16.to_be_bytes());
        assert_eq!(u16::from_ne_bytes(m[20..22].try_into().unwrap()), 12);
        assert_eq!(
            u16::from_ne_bytes(m[22..24].try_into().unwrap()),
            NFQA_VERDICT_HDR
        );
        assert_eq!(&m[24..28], &1u32.to_be_bytes());
        assert_eq!(&m[28..32], &[1, 2, 3, 4]);
    }

    #[test]
    fn params_pad_the_five_byte_struct() {
        let m = params_message(1, 3, 100);
        // nfgen 4 + params (4+5 -> 12) + maxlen 8 + mask 8 + flags 8
        assert_eq!(m.len(), 16 + 4 + 12 + 8 + 8 + 8);
        assert_eq!(u16::from_ne_bytes(m[20..22].try_into().unwrap()), 9);
    }

    #[test]
    fn parses_packets_and_acks_from_one_datagram() {
        // A packet message: nfgen + NFQA_PACKET_HDR(id=42, proto, hook) + another attr.
        let mut hdr = 42u32.to_be_bytes().to_vec();
        hdr.extend_from_slice(&[0x08, 0x00, 1]);
        let pkt = message(
            NFQNL_MSG_PACKET,
            0,
            0,
            2,
            3,
            &[(NFQA_PACKET_HDR | 0x4000, &hdr), (9, &[1, 2])],
        );
        // An error message acking request 5 with -EBUSY.
        let mut err = Vec::new();
        let req = bind_message(5, 3);
        let len = (16 + 4 + 16) as u32;
        err.extend_from_slice(&len.to_ne_bytes());
        err.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err.extend_from_slice(&0u16.to_ne_bytes());
        err.extend_from_slice(&5u32.to_ne_bytes());
        err.extend_from_slice(&0u32.to_ne_bytes());
        err.extend_from_slice(&(-libc::EBUSY).to_ne_bytes());
        err.extend_from_slice(&req[..16]);
        let mut dgram = pkt.clone();
        dgram.extend_from_slice(&err);
        assert_eq!(
            parse(&dgram),
            vec![
                Incoming::Packet { id: 42 },
                Incoming::Ack {
                    seq: 5,
                    errno: libc::EBUSY
                }
            ]
        );
        // Truncation never panics.
        for cut in 0..dgram.len() {
            let _ = parse(&dgram[..cut]);
        }
    }
}
