//! What a workload is to the harness: which checks judge it, which apply to it at all
//! (and the one parser of check lists: `--check`, the test file's `check`, and
//! `faultline check --check` all use it), and what kind of client it needs. The operations themselves come from
//! `workloads::generator`; this file is the harness's side of the contract.

use crate::adapter::ClientProtocol;
use crate::check::CheckKind;
pub use workloads::generator::Workload;

/// The checks each workload gets unless `--check` says otherwise: every checker that
/// applies to it, in the order they run. `sequential` follows `linearizable`, which
/// usually decides it for free (a linearizable history is sequentially consistent).
pub fn default_checks(workload: Workload) -> &'static [CheckKind] {
    use CheckKind::*;
    match workload {
        // Registers' reads do not say which writes they saw, so session guarantees
        // need the per-key versions only some systems report: asked for, not a
        // default, so a system without versions does not get an `unknown` run.
        Workload::Register | Workload::CasRegister => &[Linearizable, Sequential, Eventual],
        // No linearizability model for lists: session and eventual are exact here.
        Workload::Append => &[Session, Eventual],
        Workload::Set => &[Linearizable, Sequential, Eventual],
        Workload::Counter | Workload::PnCounter => &[Counter, Eventual],
        Workload::Bank => &[Bank],
        Workload::UniqueIds => &[UniqueIds],
        // Elle's checks: dependency cycles among transactions, per datatype.
        Workload::TxnAppend => &[ListAppend],
        Workload::TxnRegister => &[RwRegister],
        // Maelstrom's broadcast and g-set promise convergence, not linearizability:
        // every acknowledged value in every node's final read.
        Workload::Broadcast | Workload::GSet => &[Eventual],
        Workload::Echo => &[Echo],
        Workload::Kafka => &[Kafka],
    }
}

/// Whether a check can judge a history of this workload at all.
pub fn check_applies(check: CheckKind, workload: Workload) -> bool {
    use Workload::*;
    match check {
        CheckKind::Linearizable | CheckKind::Sequential => {
            matches!(workload, Register | CasRegister | Set | Broadcast | GSet)
        }
        // Registers: judged from per-key versions, `unknown` (with the reason) without.
        CheckKind::Session => matches!(workload, Append | Register | CasRegister),
        CheckKind::Eventual => matches!(
            workload,
            Register | CasRegister | Append | Set | Counter | PnCounter | Broadcast | GSet
        ),
        CheckKind::Bank => workload == Bank,
        CheckKind::Counter => matches!(workload, Counter | PnCounter),
        CheckKind::UniqueIds => workload == UniqueIds,
        // `faultline check` also runs these on any history of `txn` operations
        // without a workload.
        CheckKind::ListAppend => workload == TxnAppend,
        CheckKind::RwRegister => workload == TxnRegister,
        CheckKind::Echo => workload == Echo,
        CheckKind::Kafka => workload == Kafka,
    }
}

/// The client protocols that can serve a workload, when not all can, and why: a
/// bank transfer moves money between two accounts atomically, and a transaction
/// reads and writes several keys atomically, which the KV protocol cannot express.
/// A client adapter (`external`) gets transactions whole and answers them.
/// Broadcast, g-set, echo and kafka are Maelstrom's message shapes, which only Maelstrom
/// nodes speak.
pub fn required_protocol(workload: Workload) -> Option<(&'static [ClientProtocol], &'static str)> {
    match workload {
        Workload::Bank => Some((
            &[ClientProtocol::Bank],
            "a transfer must move money between two accounts atomically; the bank workload needs a system with `POST /transfer` and `POST /snapshot` (--system cl-bank)",
        )),
        Workload::TxnAppend | Workload::TxnRegister => Some((
            &[
                ClientProtocol::Postgres,
                ClientProtocol::Mysql,
                ClientProtocol::External,
                ClientProtocol::Maelstrom,
            ],
            "a transaction reads and writes several keys atomically; the transactional workloads need a database with transactions (--system postgres or galera), a client adapter that runs them (docs/adapters.md) or a Maelstrom node (txn-list-append, txn-rw-register; docs/maelstrom.md)",
        )),
        Workload::Broadcast | Workload::GSet | Workload::Echo | Workload::Kafka => Some((
            &[ClientProtocol::Maelstrom],
            "it is a Maelstrom workload, which only Maelstrom nodes speak (run a node with --system maelstrom:PATH, docs/maelstrom.md)",
        )),
        _ => None,
    }
}

/// Parses a comma-separated check list for a workload: names, or `default` for every
/// check that applies to it. Refuses unknown names, checks that do not apply, empty
/// items and an empty list; keeps the first of repeated names.
pub fn parse_check_list(list: &str, workload: Workload) -> Result<Vec<CheckKind>, String> {
    let mut out: Vec<CheckKind> = Vec::new();
    let items: Vec<&str> = list.split(',').map(str::trim).collect();
    if items.iter().all(|s| s.is_empty()) {
        return Err("name at least one check".into());
    }
    for item in items {
        if item.is_empty() {
            return Err(format!(
                "`{list}` has an empty item (two commas, or one at an end)"
            ));
        }
        let kinds: Vec<CheckKind> = if item == "default" {
            default_checks(workload).to_vec()
        } else {
            let kind: CheckKind = item.parse()?;
            if !check_applies(kind, workload) {
                return Err(format!(
                    "the `{kind}` check does not apply to the {workload} workload"
                ));
            }
            vec![kind]
        };
        for k in kinds {
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_expands_to_the_workloads_checks_and_repeats_are_dropped() {
        let v = parse_check_list("default,session,linearizable", Workload::CasRegister).unwrap();
        assert_eq!(
            v,
            vec![
                CheckKind::Linearizable,
                CheckKind::Sequential,
                CheckKind::Eventual,
                CheckKind::Session
            ]
        );
    }

    #[test]
    fn unknown_inapplicable_and_empty_items_are_refused_with_the_reason() {
        let e = parse_check_list("serializable", Workload::CasRegister).unwrap_err();
        assert!(e.contains("unknown check `serializable`"), "{e}");
        let e = parse_check_list("linearizable", Workload::Append).unwrap_err();
        assert!(e.contains("does not apply to the append workload"), "{e}");
        let e = parse_check_list("linearizable,,eventual", Workload::CasRegister).unwrap_err();
        assert!(e.contains("empty item"), "{e}");
        let e = parse_check_list(" , ", Workload::CasRegister).unwrap_err();
        assert!(e.contains("at least one"), "{e}");
    }
}
