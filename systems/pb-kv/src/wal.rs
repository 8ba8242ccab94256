//! The write-ahead log a node restarts from: JSON lines, each fsynced before the change
//! it records is acknowledged to anyone.
//!
//! - `{"type":"meta","epoch":E,"synced_epoch":S}`: the highest epoch this node knows
//!   (whose owner it follows), and the epoch whose primary's history its data is a
//!   prefix of.
//! - `{"type":"entry","seq":N,"key":K,"value":V}`: the key's value after operation N.
//! - `{"type":"install","seq":N,"store":{...}}`: the whole map as of operation N.
//!
//! A torn last line (a crash in the middle of an append) is dropped; damage anywhere else
//! stops the node with the file and line. An install rewrites the file as `meta` plus
//! the install (write, fsync, rename, fsync the directory), which also compacts it; a log
//! with more than `COMPACT_AFTER` records is compacted the same way when the node starts.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{self, Store};

const COMPACT_AFTER: usize = 20_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    Meta { epoch: u64, synced_epoch: u64 },
    Entry { seq: u64, key: String, value: Value },
    Install { seq: u64, store: Store },
}

/// What the log says, replayed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    pub epoch: u64,
    pub synced_epoch: u64,
    pub seq: u64,
    pub store: Store,
    /// False when the log did not exist (a fresh node).
    pub existed: bool,
}

pub struct Wal {
    path: PathBuf,
    file: File,
    records: usize,
}

impl Wal {
    /// Opens (creating) `dir/wal.jsonl` and replays it.
    pub fn open(dir: &Path) -> Result<(Wal, Recovered)> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("wal.jsonl");
        let mut rec = Recovered::default();
        let mut records = 0;
        let mut valid_len = 0u64;
        if path.exists() {
            rec.existed = true;
            let reader = BufReader::new(
                File::open(&path).with_context(|| format!("cannot read {}", path.display()))?,
            );
            let lines: Vec<std::io::Result<String>> = reader.lines().collect();
            let last = lines.len();
            for (i, line) in lines.into_iter().enumerate() {
                let line =
                    line.with_context(|| format!("{}:{}: unreadable", path.display(), i + 1))?;
                match serde_json::from_str::<Record>(&line) {
                    Ok(r) => {
                        apply(&mut rec, r);
                        records += 1;
                        valid_len += line.len() as u64 + 1;
                    }
                    // A crash during the last append leaves a partial line: it was never
                    // acknowledged, so dropping it is correct.
                    Err(_) if i + 1 == last => break,
                    Err(e) => bail!("{}:{}: damaged record: {e}", path.display(), i + 1),
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if file.metadata()?.len() != valid_len {
            file.set_len(valid_len)?;
        }
        let mut wal = Wal {
            path,
            file,
            records,
        };
        if records > COMPACT_AFTER {
            wal.rewrite(&rec)?;
        }
        Ok((wal, rec))
    }

    /// Appends records and fsyncs them (one fsync for the batch).
    pub fn append(&mut self, recs: &[Record]) -> Result<()> {
        let mut buf = Vec::new();
        for r in recs {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        self.file
            .write_all(&buf)
            .with_context(|| format!("write {}", self.path.display()))?;
        self.file
            .sync_data()
            .with_context(|| format!("fsync {}", self.path.display()))?;
        self.records += recs.len();
        Ok(())
    }

    /// Replaces the log by the state `rec` describes, atomically.
    pub fn rewrite(&mut self, rec: &Recovered) -> Result<()> {
        let tmp = self.path.with_extension("jsonl.tmp");
        {
            let mut f =
                File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            let mut buf = Vec::new();
            for r in [
                Record::Meta {
                    epoch: rec.epoch,
                    synced_epoch: rec.synced_epoch,
                },
                Record::Install {
                    seq: rec.seq,
                    store: rec.store.clone(),
                },
            ] {
                serde_json::to_writer(&mut buf, &r)?;
                buf.push(b'\n');
            }
            f.write_all(&buf)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)
            .with_context(|| format!("rename {} to {}", tmp.display(), self.path.display()))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.records = 2;
        Ok(())
    }
}

fn apply(rec: &mut Recovered, r: Record) {
    match r {
        Record::Meta {
            epoch,
            synced_epoch,
        } => {
            rec.epoch = epoch;
            rec.synced_epoch = synced_epoch;
        }
        Record::Entry { seq, key, value } => {
            store::set(&mut rec.store, &key, value);
            rec.seq = seq;
        }
        Record::Install { seq, store } => {
            rec.store = store;
            rec.seq = seq;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replays_entries_installs_and_meta_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut w, r) = Wal::open(dir.path()).unwrap();
            assert!(!r.existed);
            w.append(&[Record::Meta {
                epoch: 1,
                synced_epoch: 1,
            }])
            .unwrap();
            w.append(&[Record::Entry {
                seq: 1,
                key: "a".into(),
                value: json!(1),
            }])
            .unwrap();
            w.append(&[Record::Entry {
                seq: 2,
                key: "b".into(),
                value: json!([2]),
            }])
            .unwrap();
        }
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("wal.jsonl"))
            .unwrap();
        f.write_all(b"{\"type\":\"entry\",\"se").unwrap();
        drop(f);
        let (mut w, r) = Wal::open(dir.path()).unwrap();
        assert_eq!((r.epoch, r.synced_epoch, r.seq), (1, 1, 2));
        assert_eq!(
            r.store,
            [("a".to_string(), json!(1)), ("b".to_string(), json!([2]))]
                .into_iter()
                .collect()
        );
        // The torn tail is gone, so appends after it replay.
        w.append(&[Record::Entry {
            seq: 3,
            key: "a".into(),
            value: Value::Null,
        }])
        .unwrap();
        let mut installed = r.clone();
        installed.epoch = 2;
        installed.synced_epoch = 2;
        w.rewrite(&installed).unwrap();
        drop(w);
        let (_, r) = Wal::open(dir.path()).unwrap();
        assert_eq!((r.epoch, r.synced_epoch, r.seq), (2, 2, 2));
        assert_eq!(r.store.len(), 2);
    }

    #[test]
    fn damage_before_the_last_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("wal.jsonl"),
            "garbage\n{\"type\":\"meta\",\"epoch\":1,\"synced_epoch\":1}\n",
        )
        .unwrap();
        let err = Wal::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("wal.jsonl:1"), "{err}");
    }
}
