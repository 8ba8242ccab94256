//! The checks by name, and the one parser of check lists (`--check`, the test file's
//! `check`, and `faultline check --check` all use it).

use crate::workload::{check_applies, default_checks, Workload};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A check a test can run on its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    Linearizable,
    Sequential,
    Session,
    Eventual,
    Bank,
    Counter,
    UniqueIds,
}

impl CheckKind {
    pub const ALL: [CheckKind; 7] = [
        CheckKind::Linearizable,
        CheckKind::Sequential,
        CheckKind::Session,
        CheckKind::Eventual,
        CheckKind::Bank,
        CheckKind::Counter,
        CheckKind::UniqueIds,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Linearizable => "linearizable",
            CheckKind::Sequential => "sequential",
            CheckKind::Session => "session",
            CheckKind::Eventual => "eventual",
            CheckKind::Bank => "bank",
            CheckKind::Counter => "counter",
            CheckKind::UniqueIds => "unique-ids",
        }
    }

    fn known() -> String {
        CheckKind::ALL.map(CheckKind::name).join(", ")
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CheckKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CheckKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown check `{s}` (known: {}, or `default`)",
                    CheckKind::known()
                )
            })
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
