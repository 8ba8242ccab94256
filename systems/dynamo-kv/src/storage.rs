//! Durable local stores: the replica's data and its hints, each an append-only log of
//! JSON lines fsynced before a write is acknowledged, replayed into memory at start.

use crate::dots::Dot;
use crate::version::{reconcile, same_dots, Resolver, Version};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One log record: the full version set of a key after a change (empty = gone).
#[derive(Serialize, Deserialize)]
struct Record {
    key: String,
    versions: Vec<Version>,
}

/// A key -> version-set map backed by a log file.
///
/// Writers are serialized by the file lock and hold it across the fsync; readers
/// only take the map lock, briefly, and see a change once it is durable.
pub struct LogStore {
    path: PathBuf,
    file: Mutex<File>,
    map: Mutex<Map>,
}

struct Map {
    entries: BTreeMap<String, Vec<Version>>,
    /// Bumped on every change; lets callers cache derived data (Merkle trees).
    generation: u64,
}

impl LogStore {
    /// Opens (or creates) the log at `path`, replaying it. A torn last line, left by a
    /// crash in the middle of an append, is cut off; damage anywhere else is an error
    /// naming the file and line.
    pub fn open(path: &Path) -> Result<LogStore> {
        let mut entries: BTreeMap<String, Vec<Version>> = BTreeMap::new();
        let mut records = 0usize;
        if path.exists() {
            let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let mut reader = BufReader::new(f);
            let mut offset = 0u64;
            let mut line = String::new();
            let mut lineno = 0usize;
            loop {
                line.clear();
                let n = reader
                    .read_line(&mut line)
                    .with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                lineno += 1;
                let complete = line.ends_with('\n');
                match serde_json::from_str::<Record>(line.trim_end()) {
                    Ok(r) if complete => {
                        records += 1;
                        if r.versions.is_empty() {
                            entries.remove(&r.key);
                        } else {
                            entries.insert(r.key, r.versions);
                        }
                        offset += n as u64;
                    }
                    result => {
                        let mut rest = String::new();
                        reader.read_line(&mut rest)?;
                        if !rest.is_empty() {
                            let why = result.err().map(|e| e.to_string()).unwrap_or_default();
                            bail!("{}:{lineno}: corrupt record: {why}", path.display());
                        }
                        eprintln!(
                            "dynamo-kv: {}:{lineno}: dropping a torn last record (crash during a write)",
                            path.display()
                        );
                        let f = OpenOptions::new().write(true).open(path)?;
                        f.set_len(offset)?;
                        f.sync_all()?;
                        break;
                    }
                }
            }
        }
        // Compact at start when the log is mostly dead records.
        if records > 1000 && records > 2 * entries.len() {
            let tmp = path.with_extension("compact");
            {
                let mut f = File::create(&tmp)?;
                for (key, versions) in &entries {
                    write_record(&mut f, key, versions)?;
                }
                f.sync_all()?;
            }
            std::fs::rename(&tmp, path)?;
            sync_dir(path)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {} for append", path.display()))?;
        sync_dir(path)?;
        Ok(LogStore {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            map: Mutex::new(Map {
                entries,
                generation: 0,
            }),
        })
    }

    pub fn get(&self, key: &str) -> Vec<Version> {
        self.map
            .lock()
            .unwrap()
            .entries
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    pub fn generation(&self) -> u64 {
        self.map.lock().unwrap().generation
    }

    /// Runs `f` over the whole map (under the map lock: keep it short).
    pub fn with_entries<T>(&self, f: impl FnOnce(&BTreeMap<String, Vec<Version>>) -> T) -> T {
        f(&self.map.lock().unwrap().entries)
    }

    /// Reconciles `incoming` into the key's versions and makes the result durable
    /// before returning it. Blocking (fsync): call from a blocking context.
    pub fn merge(
        &self,
        key: &str,
        incoming: &[Version],
        resolver: Resolver,
    ) -> Result<Vec<Version>> {
        self.update(key, |existing| reconcile(existing, incoming, resolver))
    }

    /// Removes the versions with the given dots (e.g. hints that were handed off).
    pub fn remove_dots(&self, key: &str, dots: &[Dot]) -> Result<Vec<Version>> {
        self.update(key, |existing| {
            existing
                .iter()
                .filter(|v| !dots.contains(&v.dot))
                .cloned()
                .collect()
        })
    }

    fn update(
        &self,
        key: &str,
        f: impl FnOnce(&[Version]) -> Vec<Version>,
    ) -> Result<Vec<Version>> {
        let mut file = self.file.lock().unwrap();
        let existing = self.get(key);
        let next = f(&existing);
        if same_dots(&existing, &next) {
            return Ok(existing);
        }
        write_record(&mut *file, key, &next)
            .and_then(|_| file.sync_data().map_err(Into::into))
            .with_context(|| format!("writing {}", self.path.display()))?;
        let mut map = self.map.lock().unwrap();
        if next.is_empty() {
            map.entries.remove(key);
        } else {
            map.entries.insert(key.to_string(), next.clone());
        }
        map.generation += 1;
        Ok(next)
    }
}

fn write_record(f: &mut impl Write, key: &str, versions: &[Version]) -> Result<()> {
    let mut line = serde_json::to_vec(&Record {
        key: key.to_string(),
        versions: versions.to_vec(),
    })?;
    line.push(b'\n');
    f.write_all(&line)?;
    Ok(())
}

fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A number that grows by one every time the node starts from its data dir, fsynced
/// before the node serves anything. Write counters are `incarnation << 40 | seq`, so
/// dots stay unique across `kill -9` without fsyncing a counter on every write, and
/// gossip heartbeats of a restarted node outrank its old ones.
pub fn next_incarnation(data_dir: &Path) -> Result<u64> {
    let path = data_dir.join("incarnation");
    let current = match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .with_context(|| format!("{}: not a number: {:?}", path.display(), s.trim()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let next = current + 1;
    let tmp = data_dir.join("incarnation.tmp");
    {
        let mut f = File::create(&tmp)?;
        writeln!(f, "{next}")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    sync_dir(&path)?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dots::DotSet;
    use serde_json::json;

    fn v(node: &str, counter: u64, value: i64) -> Version {
        let dot = Dot {
            node: node.into(),
            counter,
        };
        Version {
            value: json!(value),
            dot,
            seen: DotSet::new(),
            ts_ms: 0,
        }
    }

    #[test]
    fn survives_reopen_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.log");
        {
            let s = LogStore::open(&path).unwrap();
            s.merge("a", &[v("n1", 1, 1)], Resolver::Causal).unwrap();
            s.merge("a", &[v("n2", 1, 2)], Resolver::Causal).unwrap();
            s.merge("b", &[v("n1", 2, 3)], Resolver::Causal).unwrap();
            s.remove_dots(
                "b",
                &[Dot {
                    node: "n1".into(),
                    counter: 2,
                }],
            )
            .unwrap();
        }
        // Simulate a crash in the middle of an append.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"key\":\"c\",\"vers").unwrap();
        drop(f);
        let s = LogStore::open(&path).unwrap();
        assert_eq!(s.get("a").len(), 2);
        assert!(s.get("b").is_empty());
        assert!(s.get("c").is_empty());
        s.merge("c", &[v("n1", 3, 4)], Resolver::Causal).unwrap();
        drop(s);
        assert_eq!(LogStore::open(&path).unwrap().get("c").len(), 1);
    }

    #[test]
    fn corruption_in_the_middle_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.log");
        std::fs::write(&path, "garbage\n{\"key\":\"a\",\"versions\":[]}\n").unwrap();
        let err = LogStore::open(&path).err().unwrap().to_string();
        assert!(err.contains("data.log:1"), "{err}");
    }

    #[test]
    fn incarnation_grows() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(next_incarnation(dir.path()).unwrap(), 1);
        assert_eq!(next_incarnation(dir.path()).unwrap(), 2);
    }
}
