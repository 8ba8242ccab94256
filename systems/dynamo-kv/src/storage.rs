//! Durable local stores: the replica's data and its hints, each an append-only log of
//! lines fsynced before a write is acknowledged, replayed into memory at start. Each
//! line is `<fnv1a-64 of the JSON, 16 hex digits> <JSON record>`: a whole line (ending
//! in a newline) that fails its checksum is corruption, and the node refuses to start
//! from it (an error naming the file and line) rather than serve it; only a last line
//! without its newline is a torn write from a crash, and is cut off.

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
            let mut raw = Vec::new();
            let mut lineno = 0usize;
            loop {
                raw.clear();
                let n = reader
                    .read_until(b'\n', &mut raw)
                    .with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                // Bytes that are not UTF-8 are damage too: lossy, they fail the checksum
                // (the record's error, not a reader's "stream did not contain valid UTF-8").
                let line = String::from_utf8_lossy(&raw);
                lineno += 1;
                let complete = line.ends_with('\n');
                let body = line.strip_suffix('\n').unwrap_or(&line);
                if complete && unseal_line(body).is_none() {
                    bail!(
                        "{}:{lineno}: corrupt record (checksum mismatch); refusing to start from it (wipe the data directory and let the node be repaired by its peers)",
                        path.display()
                    );
                }
                let parsed = unseal_line(body)
                    .ok_or_else(|| anyhow::anyhow!("checksum mismatch"))
                    .and_then(|json| Ok(serde_json::from_str::<Record>(json)?));
                match parsed {
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
                        let mut rest = Vec::new();
                        reader.read_until(b'\n', &mut rest)?;
                        if !rest.is_empty() {
                            let why = result.err().map(|e| e.to_string()).unwrap_or_default();
                            bail!(
                                "{}:{lineno}: corrupt record: {why}; refusing to start from it",
                                path.display()
                            );
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
    let json = serde_json::to_string(&Record {
        key: key.to_string(),
        versions: versions.to_vec(),
    })?;
    let mut line = seal_line(&json).into_bytes();
    line.push(b'\n');
    f.write_all(&line)?;
    Ok(())
}

/// `text` prefixed with its checksum.
fn seal_line(text: &str) -> String {
    format!("{:016x} {text}", fnv1a(text.as_bytes()))
}

/// The text of a sealed line, if its checksum matches.
fn unseal_line(line: &str) -> Option<&str> {
    let (sum, text) = line.split_once(' ')?;
    let sum = u64::from_str_radix(sum, 16).ok()?;
    (sum == fnv1a(text.as_bytes()) && line.len() > 17).then_some(text)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
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
        Ok(s) => unseal_line(s.trim_end())
            .and_then(|n| n.parse::<u64>().ok())
            .with_context(|| {
                format!(
                    "{}: corrupt (checksum mismatch or not a number: {:?}); refusing to start from it",
                    path.display(),
                    s.trim()
                )
            })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let next = current + 1;
    let tmp = data_dir.join("incarnation.tmp");
    {
        let mut f = File::create(&tmp)?;
        writeln!(f, "{}", seal_line(&next.to_string()))?;
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
        std::fs::write(
            &path,
            format!(
                "garbage\n{}\n",
                seal_line("{\"key\":\"a\",\"versions\":[]}")
            ),
        )
        .unwrap();
        let err = LogStore::open(&path).err().unwrap().to_string();
        assert!(err.contains("data.log:1"), "{err}");
    }

    #[test]
    fn a_flipped_bit_in_any_whole_record_is_refused_even_in_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.log");
        {
            let s = LogStore::open(&path).unwrap();
            s.merge("a", &[v("n1", 1, 17)], Resolver::Causal).unwrap();
            s.merge("b", &[v("n1", 2, 25)], Resolver::Causal).unwrap();
        }
        let good = std::fs::read(&path).unwrap();
        // A digit of a value changed is still valid JSON: only the checksum sees it.
        let at = good.len() - 1 - good.iter().rev().position(|b| *b == b'5').unwrap();
        for pos in [3, 20, at] {
            let mut bad = good.clone();
            bad[pos] ^= 0x01;
            std::fs::write(&path, &bad).unwrap();
            let err = format!("{:#}", LogStore::open(&path).err().expect("refused"));
            assert!(
                err.contains("data.log:") && err.contains("refusing"),
                "{err}"
            );
        }
        let mut f = std::fs::File::create(dir.path().join("incarnation")).unwrap();
        f.write_all(b"0000000000000000 7\n").unwrap();
        assert!(next_incarnation(dir.path()).is_err());
    }

    /// `--nemesis corrupt` inverts whole bytes, which turns ASCII into bytes that are
    /// not UTF-8: the record is refused as corrupt like any other damage, naming file
    /// and line.
    #[test]
    fn bytes_that_are_not_utf8_are_refused_as_a_corrupt_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.log");
        {
            let s = LogStore::open(&path).unwrap();
            s.merge("a", &[v("n1", 1, 17)], Resolver::Causal).unwrap();
            s.merge("b", &[v("n1", 2, 25)], Resolver::Causal).unwrap();
        }
        let mut bad = std::fs::read(&path).unwrap();
        for b in &mut bad[20..23] {
            *b = !*b;
        }
        std::fs::write(&path, &bad).unwrap();
        let err = format!("{:#}", LogStore::open(&path).err().expect("refused"));
        assert!(
            err.contains("data.log:1: corrupt record") && err.contains("refusing to start"),
            "{err}"
        );
    }

    #[test]
    fn incarnation_grows() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(next_incarnation(dir.path()).unwrap(), 1);
        assert_eq!(next_incarnation(dir.path()).unwrap(), 2);
    }
}
