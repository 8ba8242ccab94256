//! A comparison plan (`faultline compare PLAN.toml`): entries (a system with its
//! settings and workload, each a full test configuration or a reference to a test
//! file) and fault sets, run for a number of seeds. Each run's configuration is a test
//! file merged from the plan's `[defaults]`, the entry's referenced file, the entry's
//! own keys and the fault set's keys, later ones winning; the merged file is what the
//! run is resolved from, so every key means what it means in a test file.

use crate::config::TestFile;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// A plan, parsed and checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The results subfolder: `results/compare/<name>/<ts>/`.
    pub name: String,
    pub seeds: u32,
    pub first_seed: u64,
    pub entries: Vec<Labelled>,
    pub fault_sets: Vec<Labelled>,
    /// The plan's text, kept so a resumed campaign is known to be the same plan.
    pub text: String,
}

/// An entry or a fault set: its label and its test-file keys.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub label: String,
    pub settings: toml::Table,
    /// An entry's `faults = [...]`: the only fault sets it runs under (a bug switch
    /// with the faults that catch it); `None`: every fault set.
    pub only: Option<Vec<String>>,
}

/// One run of the campaign: which entry, which fault set, which seed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey {
    pub entry: String,
    pub faults: String,
    pub seed: u64,
}

impl Plan {
    /// Reads a plan; errors name the file and the entry or key.
    pub fn read(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("plan {}: cannot read it", path.display()))?;
        Plan::parse(&text, path).map_err(|e| anyhow!("plan {}: {e:#}", path.display()))
    }

    fn parse(text: &str, path: &Path) -> Result<Plan> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| anyhow!("{}", e.to_string().trim_end()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let name = match table.remove("name") {
            Some(toml::Value::String(s)) => s,
            Some(_) => bail!("key `name`: must be a string"),
            None => path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("plan")
                .to_string(),
        };
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            bail!("key `name`: `{name}` cannot name a folder");
        }
        let seeds = int(table.remove("seeds"), "seeds", 1)?;
        if !(1..=10_000).contains(&seeds) {
            bail!("key `seeds`: must be between 1 and 10000, not {seeds}");
        }
        let first_seed = int(table.remove("seed"), "seed", 1)?;
        let defaults = match table.remove("defaults") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => bail!("key `defaults`: must be a table of test-file keys"),
            None => toml::Table::new(),
        };
        check_keys(&defaults, "[defaults]")?;
        let entries = labelled(table.remove("entry"), "entry", base, &defaults)?;
        let fault_sets = labelled(table.remove("faults"), "faults", base, &toml::Table::new())?;
        if let Some(k) = table.keys().next() {
            bail!("unknown key `{k}` (known: name, seeds, seed, defaults, entry, faults)");
        }
        for e in &entries {
            for f in e.only.iter().flatten() {
                if !fault_sets.iter().any(|s| &s.label == f) {
                    bail!(
                        "[[entry]] `{}`: key `faults`: no [[faults]] is labelled `{f}`",
                        e.label
                    );
                }
            }
        }
        Ok(Plan {
            name,
            seeds: seeds as u32,
            first_seed: first_seed as u64,
            entries,
            fault_sets,
            text: text.to_string(),
        })
    }

    /// Every run, entry by entry, fault set by fault set, seed by seed.
    pub fn runs(&self) -> Vec<RunKey> {
        let mut out = Vec::new();
        for e in &self.entries {
            for f in &self.fault_sets {
                if e.only.as_ref().is_some_and(|o| !o.contains(&f.label)) {
                    continue;
                }
                for i in 0..self.seeds as u64 {
                    out.push(RunKey {
                        entry: e.label.clone(),
                        faults: f.label.clone(),
                        seed: self.first_seed + i,
                    });
                }
            }
        }
        out
    }

    /// The test file of one run: the entry's settings, then the fault set's, then the
    /// seed, one test, the results folder and a name that keeps runs apart.
    pub fn test_file(&self, key: &RunKey, results_dir: &Path) -> Result<TestFile> {
        let entry = find(&self.entries, &key.entry)?;
        let faults = find(&self.fault_sets, &key.faults)?;
        let mut t = entry.settings.clone();
        t.extend(faults.settings.clone());
        t.insert("seed".into(), toml::Value::Integer(key.seed as i64));
        t.insert("test-count".into(), toml::Value::Integer(1));
        t.insert("quiet".into(), toml::Value::Boolean(true));
        t.insert(
            "results-dir".into(),
            toml::Value::String(results_dir.display().to_string()),
        );
        t.insert(
            "name".into(),
            toml::Value::String(format!("{}--{}", slug(&key.entry), slug(&key.faults))),
        );
        t.try_into()
            .map_err(|e| anyhow!("entry `{}` with faults `{}`: {e}", key.entry, key.faults))
    }
}

fn find<'a>(list: &'a [Labelled], label: &str) -> Result<&'a Labelled> {
    list.iter()
        .find(|l| l.label == label)
        .ok_or_else(|| anyhow!("no `{label}` in the plan"))
}

/// A label made safe for a folder name.
pub fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn int(v: Option<toml::Value>, key: &str, default: i64) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(toml::Value::Integer(i)) if i >= 0 => Ok(i),
        Some(other) => bail!("key `{key}`: must be a non-negative integer, not {other}"),
    }
}

/// Refuses keys a test file does not have, naming where they are.
fn check_keys(t: &toml::Table, place: &str) -> Result<()> {
    let _: TestFile = t
        .clone()
        .try_into()
        .map_err(|e| anyhow!("{place}: {}", e.to_string().trim_end()))?;
    Ok(())
}

/// The `[[entry]]` or `[[faults]]` array: each a label and test-file keys; an entry
/// may name a test file (`config`, relative to the plan) whose keys come first.
fn labelled(
    v: Option<toml::Value>,
    what: &str,
    base: &Path,
    defaults: &toml::Table,
) -> Result<Vec<Labelled>> {
    let Some(toml::Value::Array(items)) = v else {
        bail!("needs at least one [[{what}]]");
    };
    let mut out: Vec<Labelled> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let toml::Value::Table(mut t) = item else {
            bail!("[[{what}]] number {}: must be a table", i + 1);
        };
        let label = match t.remove("label") {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => s,
            _ => bail!(
                "[[{what}]] number {}: needs a `label` (a non-empty string)",
                i + 1
            ),
        };
        if out.iter().any(|o| o.label == label) {
            bail!("[[{what}]] `{label}`: the label is used twice");
        }
        let only = match (what, t.remove("faults")) {
            (_, None) => None,
            ("entry", Some(toml::Value::Array(list))) => Some(
                list.into_iter()
                    .map(|v| match v {
                        toml::Value::String(s) => Ok(s),
                        _ => {
                            bail!("[[entry]] `{label}`: key `faults` is a list of fault-set labels")
                        }
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            (_, Some(_)) => bail!(
                "[[{what}]] `{label}`: key `faults` is a list of fault-set labels, in an [[entry]]"
            ),
        };
        let mut settings = defaults.clone();
        if let Some(c) = t.remove("config") {
            let toml::Value::String(c) = c else {
                bail!("[[{what}]] `{label}`: key `config` must be a path");
            };
            let path: PathBuf = base.join(c);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("[[{what}]] `{label}`: cannot read {}", path.display()))?;
            let file: toml::Table = toml::from_str(&text)
                .map_err(|e| anyhow!("[[{what}]] `{label}`: {}: {e}", path.display()))?;
            settings.extend(file);
        }
        settings.extend(t);
        check_keys(&settings, &format!("[[{what}]] `{label}`"))?;
        out.push(Labelled {
            label,
            settings,
            only,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"
name = "tiny"
seeds = 2
seed = 100
[defaults]
time-limit = "5s"
nodes = 3
[[entry]]
label = "raft-kv"
system = "raft-kv"
workload = "append"
[[entry]]
label = "dynamo-kv R=W=1"
system = "dynamo-kv"
system-args = ["--r=1", "--w=1"]
workload = "append"
time-limit = "7s"
[[faults]]
label = "partitions"
nemesis = "partition"
"#;

    #[test]
    fn a_plan_expands_into_entry_by_faults_by_seed_runs_with_merged_settings() {
        let plan = Plan::parse(PLAN, Path::new("/p/tiny.toml")).unwrap();
        let runs = plan.runs();
        assert_eq!(runs.len(), 4);
        assert_eq!(
            runs[3],
            RunKey {
                entry: "dynamo-kv R=W=1".into(),
                faults: "partitions".into(),
                seed: 101
            }
        );
        let t = plan.test_file(&runs[3], Path::new("/r")).unwrap();
        assert_eq!(t.time_limit.unwrap().text(), "7s");
        assert_eq!(t.nodes, Some(3));
        assert_eq!(t.seed, Some(101));
        assert_eq!(t.nemesis.unwrap().joined(), "partition");
        assert_eq!(t.name.as_deref(), Some("dynamo-kv-R-W-1--partitions"));
    }

    #[test]
    fn an_entry_limited_to_some_fault_sets_runs_only_under_them() {
        let plan = format!(
            "{}\n[[faults]]\nlabel = \"kills\"\nnemesis = \"kill\"\n",
            PLAN.replace(
                "time-limit = \"7s\"",
                "time-limit = \"7s\"\nfaults = [\"kills\"]"
            )
        );
        let plan = Plan::parse(&plan, Path::new("p.toml")).unwrap();
        let runs: Vec<(String, String)> = plan
            .runs()
            .into_iter()
            .filter(|k| k.seed == 100)
            .map(|k| (k.entry, k.faults))
            .collect();
        assert_eq!(
            runs,
            vec![
                ("raft-kv".into(), "partitions".into()),
                ("raft-kv".into(), "kills".into()),
                ("dynamo-kv R=W=1".into(), "kills".into()),
            ]
        );
        let bad = PLAN.replace("time-limit = \"7s\"", "faults = [\"floods\"]");
        let e = format!("{:#}", Plan::parse(&bad, Path::new("p.toml")).unwrap_err());
        assert!(e.contains("floods"), "{e}");
    }

    #[test]
    fn plan_errors_name_the_entry_and_the_key() {
        let bad = PLAN.replace(
            "workload = \"append\"\ntime-limit",
            "wrkload = \"append\"\ntime-limit",
        );
        let e = format!("{:#}", Plan::parse(&bad, Path::new("p.toml")).unwrap_err());
        assert!(
            e.contains("`dynamo-kv R=W=1`") && e.contains("wrkload"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            Plan::parse("[[entry]]\nlabel = \"a\"\n", Path::new("p.toml")).unwrap_err()
        );
        assert!(e.contains("[[faults]]"), "{e}");
        let e = format!(
            "{:#}",
            Plan::parse(&format!("{PLAN}\nsedes = 3\n"), Path::new("p.toml")).unwrap_err()
        );
        assert!(e.contains("sedes"), "{e}");
    }
}

#[cfg(test)]
mod shipped {
    use super::*;
    use crate::config::{resolve, TestArgs};

    /// Every run of the plans in `campaigns/` resolves as a test: a typo in a plan is
    /// found here, not hours into a campaign.
    #[test]
    fn the_shipped_plans_resolve_run_by_run() {
        let dir = tempfile::tempdir().unwrap();
        let campaigns = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns");
        let mut plans: Vec<_> = std::fs::read_dir(&campaigns)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        plans.sort();
        assert!(
            plans.len() >= 6,
            "the plans in {}: {plans:?}",
            campaigns.display()
        );
        for path in plans {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            let plan = Plan::read(&path).unwrap();
            assert_eq!(plan.name, name);
            for key in plan
                .runs()
                .into_iter()
                .filter(|k| k.seed == plan.first_seed)
            {
                let file = plan.test_file(&key, dir.path()).unwrap();
                let path = dir.path().join("t.toml");
                std::fs::write(&path, file.to_toml(dir.path())).unwrap();
                let config = resolve(&TestArgs {
                    config: Some(path),
                    ..Default::default()
                });
                assert!(config.is_ok(), "{name} {key:?}: {:#}", config.unwrap_err());
            }
        }
    }
}
