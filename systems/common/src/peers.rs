//! The `--peers` list every node is started with: `id=ip:port` pairs, comma-separated,
//! in an order that means something to some systems (pb-kv's succession, cl-bank's
//! account placement), so it is kept.

use std::net::SocketAddr;

/// What is wrong with a `--peers` list or with this node's place in it. Each message
/// names the flag and the offending entry, so a mistyped command line is fixed at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeersError {
    #[error("--peers: `{item}` is not of the form id=host:port")]
    NotIdAddr { item: String },
    #[error("--peers: `{item}` has an empty id")]
    EmptyId { item: String },
    #[error(
        "--peers: address `{addr}` of {id} is not ip:port, an IP address and a port (in `{item}`)"
    )]
    BadAddr {
        item: String,
        id: String,
        addr: String,
    },
    #[error("--peers: {id} is listed twice")]
    Duplicate { id: String },
    #[error("--peers is empty")]
    Empty,
    #[error("--id {id} does not appear in --peers")]
    NotListed { id: String },
    #[error("--peers gives {id} the address {listed} but --listen is {listen}")]
    WrongAddress {
        id: String,
        listed: String,
        listen: String,
    },
}

/// Parses `n1=127.0.0.1:7001,n2=127.0.0.1:7002` into `(id, addr)` pairs in the order
/// given. Blank entries are skipped, so an empty spec gives an empty list (systems that
/// need peers check with [`require_some`]). Addresses must be IP socket addresses: the
/// harness always passes IPs, and a name that resolves differently on different nodes
/// would split the cluster.
pub fn parse_peers(spec: &str) -> Result<Vec<(String, String)>, PeersError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((id, addr)) = item.split_once('=') else {
            return Err(PeersError::NotIdAddr { item: item.into() });
        };
        if id.is_empty() {
            return Err(PeersError::EmptyId { item: item.into() });
        }
        if addr.parse::<SocketAddr>().is_err() {
            return Err(PeersError::BadAddr {
                item: item.into(),
                id: id.into(),
                addr: addr.into(),
            });
        }
        if out.iter().any(|(p, _)| p == id) {
            return Err(PeersError::Duplicate { id: id.into() });
        }
        out.push((id.to_string(), addr.to_string()));
    }
    Ok(out)
}

/// The list itself, or [`PeersError::Empty`] when it names no node.
pub fn require_some(peers: Vec<(String, String)>) -> Result<Vec<(String, String)>, PeersError> {
    if peers.is_empty() {
        return Err(PeersError::Empty);
    }
    Ok(peers)
}

/// This node's position in `peers`, checking that the list gives it the address it
/// listens on (a mismatch means its peers would talk to someone else).
pub fn position_of(
    peers: &[(String, String)],
    id: &str,
    listen: &str,
) -> Result<usize, PeersError> {
    let index = peers
        .iter()
        .position(|(p, _)| p == id)
        .ok_or_else(|| PeersError::NotListed { id: id.into() })?;
    if peers[index].1 != listen {
        return Err(PeersError::WrongAddress {
            id: id.into(),
            listed: peers[index].1.clone(),
            listen: listen.into(),
        });
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_list_keeps_its_order_and_skips_blank_entries() {
        let p = parse_peers(" n2=127.0.0.1:2, ,n1=127.0.0.1:1,").unwrap();
        assert_eq!(
            p,
            vec![
                ("n2".to_string(), "127.0.0.1:2".to_string()),
                ("n1".to_string(), "127.0.0.1:1".to_string())
            ]
        );
        assert_eq!(parse_peers("").unwrap(), vec![]);
    }

    #[test]
    fn each_kind_of_bad_entry_is_named() {
        let e = |s: &str| parse_peers(s).unwrap_err().to_string();
        assert!(e("n1:127.0.0.1").contains("`n1:127.0.0.1`"));
        assert!(e("=127.0.0.1:1").contains("empty id"));
        assert!(e("n1=nowhere").contains("address `nowhere` of n1 is not ip:port"));
        assert!(e("n1=nowhere").contains("(in `n1=nowhere`)"));
        assert!(e("n1=127.0.0.1:1,n1=127.0.0.1:2").contains("n1 is listed twice"));
        assert_eq!(require_some(vec![]).unwrap_err(), PeersError::Empty);
    }

    #[test]
    fn a_node_must_be_listed_with_the_address_it_listens_on() {
        let p = parse_peers("n1=127.0.0.1:1,n2=127.0.0.1:2").unwrap();
        assert_eq!(position_of(&p, "n2", "127.0.0.1:2"), Ok(1));
        assert!(position_of(&p, "n3", "127.0.0.1:3")
            .unwrap_err()
            .to_string()
            .contains("--id n3"));
        assert!(position_of(&p, "n1", "127.0.0.1:9")
            .unwrap_err()
            .to_string()
            .contains("--listen is 127.0.0.1:9"));
    }
}
