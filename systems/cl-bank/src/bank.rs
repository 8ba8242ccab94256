//! The deterministic core of one node: its accounts, and the Chandy-Lamport bookkeeping
//! of every snapshot it takes part in. No I/O: each event returns the messages it sends,
//! which the caller must put on the outgoing FIFO channels in the order given, before it
//! handles the next event (the node does both under one lock).
//!
//! Nodes are numbered by their position in `--peers`; account `a` lives on node
//! `a mod nodes`. Every node has one incoming and one outgoing channel with every other
//! node (a complete graph, as the algorithm requires).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// A message on a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Msg {
    /// The second half of a transfer: money on its way to `account`.
    Credit {
        account: u64,
        amount: i64,
        transfer: String,
    },
    /// A Chandy-Lamport marker of snapshot `snapshot`.
    Marker { snapshot: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferError {
    UnknownAccount(u64),
    NotLocal { account: u64, node: usize },
    SameAccount,
    NonPositive(i64),
    InsufficientFunds { account: u64, balance: i64 },
}

/// A credit recorded as in flight on an incoming channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub account: u64,
    pub amount: i64,
    pub transfer: String,
}

/// One node's part of one snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalSnapshot {
    /// Balances of this node's accounts when it recorded its state.
    pub balances: BTreeMap<u64, i64>,
    /// Per incoming channel (by sender node index): the credits that arrived after this
    /// node recorded its state and before that channel's marker.
    pub channels: BTreeMap<usize, Vec<InFlight>>,
    /// Markers have arrived on every incoming channel.
    pub complete: bool,
}

/// Finished snapshots kept for their initiators to collect.
const KEEP_FINISHED: usize = 256;

pub struct Bank {
    me: usize,
    nodes: usize,
    accounts: u64,
    balances: BTreeMap<u64, i64>,
    runs: BTreeMap<String, Run>,
    finished: VecDeque<String>,
}

struct Run {
    local: LocalSnapshot,
    /// Incoming channels still being recorded (no marker yet).
    recording: Vec<usize>,
}

impl Bank {
    pub fn new(me: usize, nodes: usize, accounts: u64, initial: i64) -> Bank {
        let balances = (0..accounts)
            .filter(|a| (a % nodes as u64) as usize == me)
            .map(|a| (a, initial))
            .collect();
        Bank {
            me,
            nodes,
            accounts,
            balances,
            runs: BTreeMap::new(),
            finished: VecDeque::new(),
        }
    }

    pub fn owner(&self, account: u64) -> usize {
        (account % self.nodes as u64) as usize
    }

    pub fn balances(&self) -> &BTreeMap<u64, i64> {
        &self.balances
    }

    /// Debits `from` (a local account) and credits `to`: directly when it is local,
    /// otherwise by a message to its node. Overdrafts are refused.
    pub fn transfer(
        &mut self,
        from: u64,
        to: u64,
        amount: i64,
        id: &str,
    ) -> Result<Vec<(usize, Msg)>, TransferError> {
        for a in [from, to] {
            if a >= self.accounts {
                return Err(TransferError::UnknownAccount(a));
            }
        }
        if from == to {
            return Err(TransferError::SameAccount);
        }
        if amount <= 0 {
            return Err(TransferError::NonPositive(amount));
        }
        if self.owner(from) != self.me {
            return Err(TransferError::NotLocal {
                account: from,
                node: self.owner(from),
            });
        }
        let balance = self.balances[&from];
        if balance < amount {
            return Err(TransferError::InsufficientFunds {
                account: from,
                balance,
            });
        }
        *self.balances.get_mut(&from).unwrap() -= amount;
        if self.owner(to) == self.me {
            *self.balances.get_mut(&to).unwrap() += amount;
            return Ok(vec![]);
        }
        Ok(vec![(
            self.owner(to),
            Msg::Credit {
                account: to,
                amount,
                transfer: id.to_string(),
            },
        )])
    }

    /// Starts snapshot `id` here: record the local state, start recording every incoming
    /// channel, send a marker on every outgoing channel.
    pub fn start_snapshot(&mut self, id: &str) -> Vec<(usize, Msg)> {
        if self.runs.contains_key(id) {
            return vec![];
        }
        self.record(id, None)
    }

    /// Handles a message that arrived on the channel from node `from`.
    pub fn receive(&mut self, from: usize, msg: Msg) -> Vec<(usize, Msg)> {
        match msg {
            Msg::Credit {
                account,
                amount,
                transfer,
            } => {
                if let Some(b) = self.balances.get_mut(&account) {
                    *b += amount;
                }
                for run in self.runs.values_mut() {
                    if run.recording.contains(&from) {
                        run.local.channels.entry(from).or_default().push(InFlight {
                            account,
                            amount,
                            transfer: transfer.clone(),
                        });
                    }
                }
                vec![]
            }
            Msg::Marker { snapshot } => {
                if !self.runs.contains_key(&snapshot) {
                    // First marker of this snapshot: the channel it came on is empty.
                    return self.record(&snapshot, Some(from));
                }
                let run = self.runs.get_mut(&snapshot).unwrap();
                run.recording.retain(|&p| p != from);
                if run.recording.is_empty() && !run.local.complete {
                    run.local.complete = true;
                    self.finish(&snapshot);
                }
                vec![]
            }
        }
    }

    fn record(&mut self, id: &str, empty: Option<usize>) -> Vec<(usize, Msg)> {
        let others: Vec<usize> = (0..self.nodes).filter(|&p| p != self.me).collect();
        let recording: Vec<usize> = others
            .iter()
            .copied()
            .filter(|&p| Some(p) != empty)
            .collect();
        let channels = others.iter().map(|&p| (p, Vec::new())).collect();
        let complete = recording.is_empty();
        let local = LocalSnapshot {
            balances: self.balances.clone(),
            channels,
            complete,
        };
        self.runs.insert(id.to_string(), Run { local, recording });
        if complete {
            self.finish(id);
        }
        others
            .into_iter()
            .map(|p| {
                (
                    p,
                    Msg::Marker {
                        snapshot: id.to_string(),
                    },
                )
            })
            .collect()
    }

    fn finish(&mut self, id: &str) {
        self.finished.push_back(id.to_string());
        while self.finished.len() > KEEP_FINISHED {
            if let Some(old) = self.finished.pop_front() {
                self.runs.remove(&old);
            }
        }
    }

    /// This node's part of snapshot `id`, if its marker has reached this node.
    pub fn snapshot(&self, id: &str) -> Option<&LocalSnapshot> {
        self.runs.get(id).map(|r| &r.local)
    }

    pub fn active_snapshots(&self) -> usize {
        self.runs.values().filter(|r| !r.local.complete).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Three banks joined by FIFO queues, driven by a seeded random schedule of transfers,
    /// deliveries and snapshots from every node.
    fn simulate(seed: u64) -> (i64, Vec<i64>, usize) {
        let (n, accounts, initial) = (3usize, 9u64, 50i64);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut banks: Vec<Bank> = (0..n).map(|i| Bank::new(i, n, accounts, initial)).collect();
        let mut chans: BTreeMap<(usize, usize), VecDeque<Msg>> = BTreeMap::new();
        let mut snapshots = Vec::new();
        let mut naive_totals = Vec::new();
        let send = |chans: &mut BTreeMap<(usize, usize), VecDeque<Msg>>,
                    from: usize,
                    out: Vec<(usize, Msg)>| {
            for (to, m) in out {
                chans.entry((from, to)).or_default().push_back(m);
            }
        };
        for step in 0..1500 {
            match rng.gen_range(0..10) {
                0..=3 => {
                    let from = rng.gen_range(0..accounts);
                    let to = rng.gen_range(0..accounts);
                    let node = banks[0].owner(from);
                    if let Ok(out) =
                        banks[node].transfer(from, to, rng.gen_range(1..30), &format!("t{step}"))
                    {
                        send(&mut chans, node, out);
                    }
                }
                4..=8 => {
                    let busy: Vec<(usize, usize)> = chans
                        .iter()
                        .filter(|(_, q)| !q.is_empty())
                        .map(|(k, _)| *k)
                        .collect();
                    if !busy.is_empty() {
                        let (from, to) = busy[rng.gen_range(0..busy.len())];
                        let m = chans.get_mut(&(from, to)).unwrap().pop_front().unwrap();
                        let out = banks[to].receive(from, m);
                        send(&mut chans, to, out);
                    }
                }
                _ => {
                    let node = rng.gen_range(0..n);
                    let id = format!("s{step}");
                    let out = banks[node].start_snapshot(&id);
                    send(&mut chans, node, out);
                    snapshots.push(id);
                    naive_totals.push(banks.iter().flat_map(|b| b.balances().values()).sum());
                }
            }
        }
        // Drain every channel so every snapshot completes.
        while let Some((&(from, to), _)) = chans.iter().find(|(_, q)| !q.is_empty()) {
            let m = chans.get_mut(&(from, to)).unwrap().pop_front().unwrap();
            let out = banks[to].receive(from, m);
            send(&mut chans, to, out);
        }
        let mut in_flight_seen = 0;
        for id in &snapshots {
            let mut total = 0;
            for b in &banks {
                let s = b.snapshot(id).expect("every node took part");
                assert!(s.complete, "snapshot {id} incomplete on node {}", b.me);
                assert!(s.balances.values().all(|&v| v >= 0));
                total += s.balances.values().sum::<i64>();
                let inflight: i64 = s.channels.values().flatten().map(|c| c.amount).sum();
                if inflight > 0 {
                    in_flight_seen += 1;
                }
                total += inflight;
            }
            assert_eq!(
                total,
                initial * accounts as i64,
                "seed {seed} snapshot {id}"
            );
        }
        let final_total: i64 = banks.iter().flat_map(|b| b.balances().values()).sum();
        assert_eq!(final_total, initial * accounts as i64);
        (initial * accounts as i64, naive_totals, in_flight_seen)
    }

    #[test]
    fn every_snapshot_conserves_money_under_random_fifo_schedules() {
        for seed in 0..40 {
            let (total, naive, in_flight_seen) = simulate(seed);
            assert!(
                in_flight_seen > 0,
                "seed {seed}: no snapshot caught money in flight"
            );
            // The same moments read without markers miss the money in the channels.
            assert!(
                naive.iter().any(|&t| t != total),
                "seed {seed}: naive reads all balanced"
            );
        }
    }

    #[test]
    fn transfers_refuse_overdrafts_and_bad_accounts() {
        let mut b = Bank::new(0, 2, 4, 10);
        assert_eq!(
            b.transfer(0, 2, 11, "t"),
            Err(TransferError::InsufficientFunds {
                account: 0,
                balance: 10
            })
        );
        assert_eq!(
            b.transfer(1, 0, 1, "t"),
            Err(TransferError::NotLocal {
                account: 1,
                node: 1
            })
        );
        assert_eq!(
            b.transfer(0, 9, 1, "t"),
            Err(TransferError::UnknownAccount(9))
        );
        assert_eq!(b.transfer(0, 0, 1, "t"), Err(TransferError::SameAccount));
        assert_eq!(b.transfer(0, 2, 0, "t"), Err(TransferError::NonPositive(0)));
        assert_eq!(b.transfer(0, 2, 4, "t"), Ok(vec![]));
        assert_eq!(b.balances()[&2], 14);
        let out = b.transfer(0, 1, 6, "t2").unwrap();
        assert_eq!(
            out,
            vec![(
                1,
                Msg::Credit {
                    account: 1,
                    amount: 6,
                    transfer: "t2".into()
                }
            )]
        );
        assert_eq!(b.balances()[&0], 0);
    }

    #[test]
    fn a_credit_between_recording_and_marker_is_channel_state() {
        let mut a = Bank::new(0, 2, 2, 10);
        let mut b = Bank::new(1, 2, 2, 10);
        let credit = a.transfer(0, 1, 3, "t").unwrap();
        let markers = b.start_snapshot("s");
        assert_eq!(
            markers,
            vec![(
                0,
                Msg::Marker {
                    snapshot: "s".into()
                }
            )]
        );
        // a receives b's marker first, records 7, sends its marker after the credit.
        let a_markers = a.receive(1, markers[0].1.clone());
        assert!(a.snapshot("s").unwrap().complete);
        b.receive(0, credit[0].1.clone());
        assert!(!b.snapshot("s").unwrap().complete);
        b.receive(0, a_markers[0].1.clone());
        let s = b.snapshot("s").unwrap();
        assert!(s.complete);
        assert_eq!(s.balances[&1], 10);
        assert_eq!(
            s.channels[&0],
            vec![InFlight {
                account: 1,
                amount: 3,
                transfer: "t".into()
            }]
        );
        assert_eq!(a.snapshot("s").unwrap().balances[&0], 7);
    }
}
