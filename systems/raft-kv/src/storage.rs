//! Durable Raft state: the hard state (term, vote), the log and the latest snapshot, each
//! fsync'd before the driver lets any message out. `--bug volatile-state` swaps in a store that
//! keeps nothing across a restart.
//!
//! Files in the data directory:
//! - `hardstate.json`: the JSON, then its fnv1a-64 (u64 LE); written to a temporary file,
//!   fsync'd and renamed over the old one.
//! - `snapshot.bin`: one JSON line of `SnapshotMeta`, then the state-machine bytes, then the
//!   fnv1a-64 of both; replaced the same way. Written on first boot with index 0 and the
//!   bootstrap membership, so a restarted node ignores `--peers` and trusts what it persisted.
//! - `log.bin`: a 16-byte header `[durable end: u64 LE][!durable end: u64 LE]`, then records
//!   `[len: u32 LE][!len: u32 LE][fnv1a-64 of payload: u64 LE][payload: JSON Entry]`. The
//!   durable end is where the log ended when the previous append was fsync'd; each append
//!   rewrites it in the same fsync as its records, so it never points past what a crash
//!   can leave (created on first boot by an atomic rename, so the header is always there).
//!
//! Corruption is refused, never served: a file whose checksum does not match, or a log
//! record that is whole but whose length or payload checksum is wrong, stops the node at
//! startup with an error naming the file and offset ([`Corrupt`]). Only a record cut short
//! by the end of the file (a crash mid-write: a torn write keeps a prefix of what was
//! written) is taken for a torn tail and cut off. A length corrupted so that its record
//! seems to run past the end of the file is caught by the length's complement. A log
//! that ends before its durable end was cut (truncated) after it was synced: entries the
//! node acknowledged are gone, so it is refused too (voting with a shortened log could
//! elect a leader without them). A cut within the last append before a crash cannot be
//! told from a torn write and is taken for one.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::core::{Entry, HardState, Membership, Restored, Snapshot, SnapshotMeta};

/// A log record's header: length, its complement, payload checksum.
const HEADER: usize = 16;
/// `log.bin`'s own header: the durable end and its complement.
const LOG_HEADER: usize = 16;

fn log_header(durable_end: u64) -> [u8; LOG_HEADER] {
    let mut h = [0u8; LOG_HEADER];
    h[..8].copy_from_slice(&durable_end.to_le_bytes());
    h[8..].copy_from_slice(&(!durable_end).to_le_bytes());
    h
}

/// The durable end `log.bin`'s header records, or [`Corrupt`].
fn read_log_header(path: &Path, bytes: &[u8]) -> Result<u64> {
    if bytes.len() < LOG_HEADER {
        return Err(corrupt(
            path,
            format!(
                "{} bytes, shorter than its {LOG_HEADER}-byte header: the file was cut",
                bytes.len()
            ),
        ));
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    let (end, check) = (word(0), word(8));
    if check != !end {
        return Err(corrupt(path, "its header is damaged"));
    }
    Ok(end)
}

/// A data file that fails its checksum: the node refuses to start from it.
#[derive(Debug)]
pub struct Corrupt {
    pub path: PathBuf,
    pub what: String,
}

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "corrupt data file {}: {}; refusing to start from it (restore the node from its peers: remove it from the cluster, wipe its data directory and add it back)",
            self.path.display(),
            self.what
        )
    }
}

impl std::error::Error for Corrupt {}

fn corrupt(path: &Path, what: impl Into<String>) -> anyhow::Error {
    Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
    .into()
}

/// `bytes` followed by their checksum.
fn sealed(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.extend_from_slice(&fnv1a(bytes).to_le_bytes());
    out
}

/// The contents of a sealed file, or [`Corrupt`] when the checksum does not match.
fn unseal<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8]> {
    if bytes.len() < 8 {
        return Err(corrupt(
            path,
            format!("{} bytes, too short for its checksum", bytes.len()),
        ));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if fnv1a(body).to_le_bytes() != sum {
        return Err(corrupt(path, "checksum mismatch"));
    }
    Ok(body)
}

pub struct Storage {
    disk: Option<Disk>,
}

impl Storage {
    /// `--bug no-fsync`: log appends are no longer fsync'd (term, vote and snapshots
    /// still are).
    pub fn without_log_fsync(mut self) -> Storage {
        if let Some(d) = &mut self.disk {
            d.fsync_log = false;
        }
        self
    }
}

struct Disk {
    dir: PathBuf,
    log: File,
    /// Index of the first entry in `log.bin`.
    first_index: u64,
    /// Byte offset of each record in `log.bin`, starting with `first_index`.
    offsets: Vec<u64>,
    end: u64,
    /// Whether appends are fsync'd before they are acknowledged (off only for
    /// `--bug no-fsync`).
    fsync_log: bool,
}

impl Storage {
    /// A store that forgets everything when the process dies (`--bug volatile-state`).
    pub fn volatile(bootstrap: Membership) -> (Storage, Restored) {
        let restored = Restored {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index: 0,
                    term: 0,
                    membership: bootstrap,
                },
                data: Vec::new(),
            },
            ..Default::default()
        };
        (Storage { disk: None }, restored)
    }

    /// Opens (or creates) the store in `dir`, returning what it holds. On first boot the
    /// bootstrap membership is persisted as the index-0 snapshot.
    pub fn open(dir: &Path, bootstrap: Membership) -> Result<(Storage, Restored)> {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
        let hard_state = read_hard_state(&dir.join("hardstate.json"))?;
        let snapshot = read_or_create_snapshot(dir, bootstrap)?;
        let log_path = dir.join("log.bin");
        if !log_path.exists() {
            write_atomic(dir, "log.bin", &log_header(LOG_HEADER as u64))?;
        }
        let mut log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", log_path.display()))?;
        let durable = read_log_header(&log_path, &bytes)?;
        let mut scan = scan_log(&log_path, &bytes, snapshot.meta.index + 1)?;
        if scan.end < durable {
            return Err(corrupt(
                &log_path,
                format!(
                    "the log ends at byte {} ({} bytes in the file) but {durable} bytes were durable: it was cut short, and entries the node acknowledged are gone",
                    scan.end,
                    bytes.len()
                ),
            ));
        }
        if scan.end < bytes.len() as u64 {
            // A torn write from a crash: drop the partial record.
            log.set_len(scan.end)?;
            log.sync_all()?;
        }
        if scan.first_index > snapshot.meta.index + 1 {
            bail!(
                "{}: log starts at {} but the snapshot ends at {}",
                log_path.display(),
                scan.first_index,
                snapshot.meta.index
            );
        }
        // Entries already covered by the snapshot (a crash between writing the snapshot and
        // rewriting the log leaves them behind) are not handed to the core.
        let keep_from = (snapshot.meta.index + 1 - scan.first_index) as usize;
        let restored_entries = scan.entries.split_off(keep_from.min(scan.entries.len()));
        let disk = Disk {
            dir: dir.to_path_buf(),
            log,
            first_index: scan.first_index,
            offsets: scan.offsets,
            end: scan.end,
            fsync_log: true,
        };
        Ok((
            Storage { disk: Some(disk) },
            Restored {
                hard_state,
                snapshot,
                entries: restored_entries,
            },
        ))
    }

    pub fn save_hard_state(&mut self, hs: &HardState) -> Result<()> {
        let Some(d) = &mut self.disk else {
            return Ok(());
        };
        write_atomic(
            &d.dir,
            "hardstate.json",
            &sealed(serde_json::to_string(hs)?.as_bytes()),
        )
    }

    /// Truncates the stored log at `from` and appends `entries`, then fsyncs.
    pub fn append(&mut self, from: u64, entries: &[Entry]) -> Result<()> {
        let Some(d) = &mut self.disk else {
            return Ok(());
        };
        let last = d.first_index + d.offsets.len() as u64;
        if from < last {
            let keep = from.saturating_sub(d.first_index) as usize;
            let cut = d.offsets.get(keep).copied().unwrap_or(d.end);
            d.offsets.truncate(keep);
            // The header first, durably: a crash between the two must not leave a
            // header that points past the shortened log.
            d.log.write_all_at(&log_header(cut), 0)?;
            d.log.sync_data()?;
            d.log.set_len(cut)?;
            d.end = cut;
        }
        if entries.is_empty() {
            if d.fsync_log {
                d.log.sync_data()?;
            }
            return Ok(());
        }
        if d.offsets.is_empty() {
            d.first_index = entries[0].index;
        }
        let mut buf = Vec::new();
        for e in entries {
            d.offsets.push(d.end + buf.len() as u64);
            encode_record(&mut buf, e);
        }
        // What the previous append made durable, synced with these records.
        d.log.write_all_at(&log_header(d.end), 0)?;
        d.log.seek(SeekFrom::Start(d.end))?;
        d.log.write_all(&buf)?;
        // BUG (no-fsync): the entries are acknowledged from the page cache.
        if d.fsync_log {
            d.log.sync_data()?;
        }
        d.end += buf.len() as u64;
        Ok(())
    }

    /// Persists a snapshot (taken locally or received) and drops log records it covers.
    pub fn save_snapshot(&mut self, snap: &Snapshot) -> Result<()> {
        let Some(d) = &mut self.disk else {
            return Ok(());
        };
        write_atomic(&d.dir, "snapshot.bin", &encode_snapshot(snap))?;
        d.drop_through(snap.meta.index)
    }
}

impl Disk {
    /// Rewrites `log.bin` without the records up to and including `index`.
    fn drop_through(&mut self, index: u64) -> Result<()> {
        if index < self.first_index {
            return Ok(());
        }
        let skip = ((index + 1 - self.first_index) as usize).min(self.offsets.len());
        let start = self.offsets.get(skip).copied().unwrap_or(self.end);
        let kept = self.end - start;
        let new_end = LOG_HEADER as u64 + kept;
        let mut rewritten = log_header(new_end).to_vec();
        rewritten.resize(new_end as usize, 0);
        self.log.seek(SeekFrom::Start(start))?;
        self.log.read_exact(&mut rewritten[LOG_HEADER..])?;
        write_atomic(&self.dir, "log.bin", &rewritten)?;
        self.log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join("log.bin"))?;
        let shift = |o: &u64| o - start + LOG_HEADER as u64;
        self.offsets = self.offsets[skip..].iter().map(shift).collect();
        self.first_index = index + 1;
        self.end = new_end;
        Ok(())
    }
}

fn encode_record(buf: &mut Vec<u8>, e: &Entry) {
    let payload = serde_json::to_vec(e).expect("entries serialize");
    let len = payload.len() as u32;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&(!len).to_le_bytes());
    buf.extend_from_slice(&fnv1a(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
}

fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let mut out = serde_json::to_vec(&s.meta).expect("snapshot meta serializes");
    out.push(b'\n');
    out.extend_from_slice(&s.data);
    sealed(&out)
}

fn read_snapshot(path: &Path) -> Result<Snapshot> {
    let sealed = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = unseal(path, &sealed)?;
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .with_context(|| format!("{}: missing header line", path.display()))?;
    let meta: SnapshotMeta = serde_json::from_slice(&bytes[..nl])
        .with_context(|| format!("{}: bad header", path.display()))?;
    Ok(Snapshot {
        meta,
        data: bytes[nl + 1..].to_vec(),
    })
}

/// Replaces `dir/name` atomically and durably: temp file, fsync, rename, fsync directory.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The persisted term and vote; the default (term 0, no vote) on first boot.
fn read_hard_state(path: &Path) -> Result<HardState> {
    if !path.exists() {
        return Ok(HardState::default());
    }
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(unseal(path, &bytes)?)
        .with_context(|| format!("parsing {}", path.display()))
}

/// The persisted snapshot, or on first boot an empty one at index 0 holding the
/// bootstrap membership (written at once, so a restart finds the same cluster).
fn read_or_create_snapshot(dir: &Path, bootstrap: Membership) -> Result<Snapshot> {
    let path = dir.join("snapshot.bin");
    if path.exists() {
        return read_snapshot(&path);
    }
    let s = Snapshot {
        meta: SnapshotMeta {
            index: 0,
            term: 0,
            membership: bootstrap,
        },
        data: Vec::new(),
    };
    write_atomic(dir, "snapshot.bin", &encode_snapshot(&s))?;
    Ok(s)
}

/// The intact records of a log file.
struct LogScan {
    entries: Vec<Entry>,
    /// The file offset of each entry's record.
    offsets: Vec<u64>,
    /// The index of the first entry (`default_first` for an empty log).
    first_index: u64,
    /// Where the last intact record ends: anything after it is a torn write.
    end: u64,
}

/// Reads `len | !len | checksum | entry` records up to a torn tail (a record cut short by
/// the end of the file, from a crash mid-write). A whole record that fails its checks,
/// or entries that are not consecutive, mean the log is corrupt: [`Corrupt`], with the
/// offset. `path` names the file in errors.
fn scan_log(path: &Path, bytes: &[u8], default_first: u64) -> Result<LogScan> {
    let mut scan = LogScan {
        entries: Vec::new(),
        offsets: Vec::new(),
        first_index: default_first,
        end: 0,
    };
    let mut pos = LOG_HEADER;
    while pos + HEADER <= bytes.len() {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let (len, check) = (word(pos), word(pos + 4));
        if check != !len {
            return Err(corrupt(
                path,
                format!("record at byte {pos}: its length is damaged"),
            ));
        }
        let len = len as usize;
        let sum = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap());
        let Some(payload) = bytes.get(pos + HEADER..pos + HEADER + len) else {
            break;
        };
        if fnv1a(payload) != sum {
            return Err(corrupt(
                path,
                format!("record at byte {pos}: checksum mismatch"),
            ));
        }
        let Ok(entry) = serde_json::from_slice::<Entry>(payload) else {
            return Err(corrupt(path, format!("record at byte {pos}: not an entry")));
        };
        if scan.entries.is_empty() {
            scan.first_index = entry.index;
        }
        let expected = scan.first_index + scan.offsets.len() as u64;
        if entry.index != expected {
            return Err(corrupt(
                path,
                format!("entry {} found where {expected} was expected", entry.index),
            ));
        }
        scan.offsets.push(pos as u64);
        scan.entries.push(entry);
        pos += HEADER + len;
    }
    scan.end = pos as u64;
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Payload;
    use std::collections::BTreeMap;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            payload: Payload::Command(format!("c{index}")),
        }
    }

    fn boot() -> Membership {
        Membership::new(BTreeMap::from([(
            "n1".to_string(),
            "127.0.0.1:1".to_string(),
        )]))
    }

    #[test]
    fn log_survives_reopen_with_truncation_snapshot_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, r) = Storage::open(dir.path(), boot()).unwrap();
        assert!(r.entries.is_empty());
        assert_eq!(r.snapshot.meta.membership, boot());
        s.save_hard_state(&HardState {
            term: 3,
            vote: Some("n1".into()),
        })
        .unwrap();
        s.append(1, &(1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>())
            .unwrap();
        s.append(4, &[entry(4, 2)]).unwrap();
        drop(s);
        let (mut s, r) = Storage::open(dir.path(), Membership::default()).unwrap();
        assert_eq!(
            r.hard_state,
            HardState {
                term: 3,
                vote: Some("n1".into())
            }
        );
        assert_eq!(
            r.entries,
            vec![entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 2)]
        );
        assert_eq!(
            r.snapshot.meta.membership,
            boot(),
            "bootstrap config persisted, --peers ignored later"
        );
        let snap = Snapshot {
            meta: SnapshotMeta {
                index: 2,
                term: 1,
                membership: boot(),
            },
            data: b"state".to_vec(),
        };
        s.save_snapshot(&snap).unwrap();
        s.append(5, &[entry(5, 2)]).unwrap();
        drop(s);
        // Simulate a torn write at the end of the log.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("log.bin"))
            .unwrap();
        f.write_all(&[200, 0, 0, 0, !200, 255, 255, 255, 1, 2, 3])
            .unwrap();
        drop(f);
        let (_s, r) = Storage::open(dir.path(), boot()).unwrap();
        assert_eq!(r.snapshot, snap);
        assert_eq!(r.entries, vec![entry(3, 1), entry(4, 2), entry(5, 2)]);
    }

    /// A store with a few entries written, closed.
    fn written() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = Storage::open(dir.path(), boot()).unwrap();
        s.save_hard_state(&HardState {
            term: 2,
            vote: None,
        })
        .unwrap();
        s.append(1, &(1..=4).map(|i| entry(i, 1)).collect::<Vec<_>>())
            .unwrap();
        dir
    }

    fn flip(path: &Path, at: usize) {
        let mut bytes = fs::read(path).unwrap();
        bytes[at] ^= 0x10;
        fs::write(path, bytes).unwrap();
    }

    fn refused(dir: &Path) -> String {
        match Storage::open(dir, boot()) {
            Ok(_) => panic!("a corrupt store was opened"),
            Err(e) => {
                assert!(e.downcast_ref::<Corrupt>().is_some(), "{e:#}");
                format!("{e:#}")
            }
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_in_the_log_is_refused_with_the_file_and_offset() {
        let len = fs::read(written().path().join("log.bin")).unwrap().len();
        for at in [0, 5, 9, 20, len / 2, len - 1] {
            let dir = written();
            flip(&dir.path().join("log.bin"), at);
            let e = refused(dir.path());
            assert!(
                e.contains("log.bin") && e.contains("refusing to start"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_flipped_bit_in_the_hard_state_or_the_snapshot_is_refused() {
        for file in ["hardstate.json", "snapshot.bin"] {
            let dir = written();
            flip(&dir.path().join(file), 3);
            let e = refused(dir.path());
            assert!(e.contains(file), "{e}");
        }
    }

    fn cut(path: &Path, to: u64) {
        OpenOptions::new()
            .write(true)
            .open(path)
            .unwrap()
            .set_len(to)
            .unwrap();
    }

    #[test]
    fn a_log_cut_before_what_an_earlier_append_made_durable_is_refused_as_truncated() {
        let len = fs::read(written().path().join("log.bin")).unwrap().len() as u64;
        // Into the records of the first append (1..=4), at a record boundary and
        // mid-record, and into the header itself; the second append (5) made them
        // durable in its header.
        for to in [LOG_HEADER as u64, LOG_HEADER as u64 + 7, len / 2, 3] {
            let dir = written();
            let (mut s, _) = Storage::open(dir.path(), boot()).unwrap();
            s.append(5, &[entry(5, 1)]).unwrap();
            drop(s);
            cut(&dir.path().join("log.bin"), to);
            let e = refused(dir.path());
            assert!(e.contains("log.bin") && e.contains("cut"), "{to}: {e}");
        }
    }

    #[test]
    fn a_log_rewritten_by_a_snapshot_or_a_conflict_reopens_whole() {
        let dir = written();
        let (mut s, _) = Storage::open(dir.path(), boot()).unwrap();
        s.append(3, &[entry(3, 2)]).unwrap();
        s.append(4, &[entry(4, 2), entry(5, 2)]).unwrap();
        let snap = Snapshot {
            meta: SnapshotMeta {
                index: 3,
                term: 2,
                membership: boot(),
            },
            data: b"s".to_vec(),
        };
        s.save_snapshot(&snap).unwrap();
        s.append(6, &[entry(6, 2)]).unwrap();
        drop(s);
        let (_s, r) = Storage::open(dir.path(), boot()).unwrap();
        assert_eq!(r.entries, vec![entry(4, 2), entry(5, 2), entry(6, 2)]);
    }

    #[test]
    fn a_log_cut_mid_record_is_a_torn_tail_and_loses_only_that_record() {
        let dir = written();
        let path = dir.path().join("log.bin");
        let len = fs::read(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len as u64 - 3).unwrap();
        drop(f);
        let (_s, r) = Storage::open(dir.path(), boot()).unwrap();
        assert_eq!(r.entries, (1..=3).map(|i| entry(i, 1)).collect::<Vec<_>>());
    }
}
