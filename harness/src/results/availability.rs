//! Availability: the share of operations that completed `ok`, over the whole run, while
//! no fault was in force, and while each kind of fault was. A system that stays
//! correct by refusing everything during a partition shows it here.

use super::faults::{ms, Band};
use checker::history::{History, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// Operations invoked in some period, and how many of them completed `ok`.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq)]
pub struct Share {
    pub ops: u64,
    pub ok: u64,
    /// `ok / ops`; 0 when there were no operations.
    pub ok_share: f64,
}

impl Share {
    fn add(&mut self, ok: bool) {
        self.ops += 1;
        self.ok += ok as u64;
        self.ok_share = self.ok as f64 / self.ops as f64;
    }
}

/// The share of `ok` operations overall, with no fault in force, and per fault kind
/// (an operation counts under every fault in force when it was invoked).
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Availability {
    pub overall: Share,
    pub no_fault: Share,
    /// By the fault's kind as the report's bands name it (`partition`, `kill`,
    /// `pause+clock-bump`, ...).
    pub by_fault: BTreeMap<String, Share>,
}

/// The availability of a history, its fault periods read from its nemesis events.
pub fn of(history: &History) -> Availability {
    availability(
        history,
        &super::faults::bands(history, super::faults::end_ms(history)),
    )
}

pub fn availability(history: &History, bands: &[Band]) -> Availability {
    let mut a = Availability::default();
    for op in &history.ops {
        let ok = op.outcome == Outcome::Ok;
        let t = ms(op.call);
        a.overall.add(ok);
        let mut any = false;
        for b in bands.iter().filter(|b| b.s <= t && t < b.e) {
            any = true;
            a.by_fault.entry(b.kind.clone()).or_default().add(ok);
        }
        if !any {
            a.no_fault.add(ok);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::faults::{bands, end_ms};
    use checker::history::parse_jsonl;

    #[test]
    fn operations_invoked_during_a_fault_count_under_its_kind_and_the_rest_under_no_fault() {
        let h = parse_jsonl(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}
{"index":1,"time":1000000,"process":0,"type":"ok","f":"write","value":1}
{"index":2,"time":2000000,"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n2"]}}
{"index":3,"time":3000000,"process":0,"type":"invoke","f":"read"}
{"index":4,"time":4000000,"process":0,"type":"fail","f":"read","error":"no-leader"}
{"index":5,"time":5000000,"process":1,"type":"invoke","f":"read"}
{"index":6,"time":6000000,"process":1,"type":"ok","f":"read","value":1}
{"index":7,"time":7000000,"process":"nemesis","type":"info","f":"stop-partition","value":{"n1":["n2"]}}
{"index":8,"time":8000000,"process":2,"type":"invoke","f":"write","value":2}
{"index":9,"time":9000000,"process":2,"type":"info","f":"write","value":2}
"#,
        )
        .unwrap();
        let a = availability(&h, &bands(&h, end_ms(&h)));
        assert_eq!((a.overall.ops, a.overall.ok), (4, 2));
        assert_eq!(a.overall.ok_share, 0.5);
        assert_eq!((a.no_fault.ops, a.no_fault.ok), (2, 1));
        let p = a.by_fault["partition"];
        assert_eq!((p.ops, p.ok, p.ok_share), (2, 1, 0.5));
        assert_eq!(a.by_fault.len(), 1);
    }
}
