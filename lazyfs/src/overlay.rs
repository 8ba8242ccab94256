//! The in-memory overlay of unsynced writes: the part of the lazy filesystem that decides
//! what is durable. Pure apart from the [`Disk`] it is handed (a real file in the
//! filesystem, a vector in the tests), so its semantics are unit-tested without FUSE.
//!
//! Rules (docs/nemesis.md, "Disk faults"):
//! - a write or a change of length (truncate, extend) is kept here, in order, and read
//!   back from here; the disk is not touched;
//! - `fsync`/`fdatasync` of a file replays its kept operations on the disk, in order,
//!   and syncs the disk: from then on they survive any fault;
//! - [`Overlay::lose_unsynced`] forgets every kept operation (a power loss);
//! - [`Overlay::torn_write`] replays every kept operation but the last write, of which
//!   only the part before a page boundary reaches the disk (a power loss in the middle
//!   of writing it back), and forgets the rest.
//!
//! Metadata (create, unlink, rename, mkdir) never passes through here: the filesystem
//! applies it to the backing directory at once, so it is durable immediately.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io;

/// The page size at which a torn write is cut.
pub const PAGE: u64 = 4096;

/// Where synced data lives: the backing file. (`len` is a file's length, which
/// nothing asks to be empty.)
#[allow(clippy::len_without_is_empty)]
pub trait Disk {
    /// Reads at `offset` into `buf`, returning how many bytes were read (short at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    /// Makes what was written durable (fdatasync).
    fn sync(&self) -> io::Result<()>;
}

impl Disk for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let n =
                std::os::unix::fs::FileExt::read_at(self, &mut buf[done..], offset + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, data, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        std::fs::File::set_len(self, len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }
}

impl<D: Disk> Disk for std::sync::Arc<D> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        (**self).read_at(buf, offset)
    }
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        (**self).write_at(data, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        (**self).set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        (**self).len()
    }
    fn sync(&self) -> io::Result<()> {
        (**self).sync()
    }
}

/// One kept operation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

/// A file's unsynced operations, with the disk they will go to.
struct Pending<D> {
    disk: D,
    ops: Vec<Op>,
    /// The length a reader sees.
    len: u64,
    /// The filesystem's own handle for the file (a FUSE inode), to tell the kernel
    /// which cached pages went stale when the operations are dropped.
    tag: u64,
}

impl<D: Disk> Pending<D> {
    /// Replays `ops` on the disk in order.
    fn replay(disk: &D, ops: &[Op]) -> io::Result<()> {
        for op in ops {
            match op {
                Op::Write { offset, data } => disk.write_at(data, *offset)?,
                Op::SetLen(len) => disk.set_len(*len)?,
            }
        }
        Ok(())
    }

    fn bytes(&self) -> u64 {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Write { data, .. } => data.len() as u64,
                Op::SetLen(_) => 0,
            })
            .sum()
    }
}

/// What a fault did: how many files and bytes of unsynced writes it dropped (or, for
/// a torn write, kept in part), and the filesystem handles of the files concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropReport {
    /// Files that had unsynced operations.
    pub files: u64,
    /// Bytes of unsynced writes dropped.
    pub bytes_lost: u64,
    /// Bytes of unsynced writes that reached the disk instead (torn write only).
    #[serde(default)]
    pub bytes_kept: u64,
    #[serde(skip)]
    pub tags: Vec<u64>,
}

/// What the overlay holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Files with unsynced operations.
    pub files: u64,
    /// Bytes of unsynced writes held in memory.
    pub bytes: u64,
    /// fsync/fdatasync calls served since the mount.
    pub syncs: u64,
}

/// Every file's unsynced operations, by a key naming the file (the backing file's
/// device and inode, so a renamed file keeps its pending data).
pub struct Overlay<K, D> {
    files: HashMap<K, Pending<D>>,
    syncs: u64,
}

impl<K: std::hash::Hash + Eq + Clone, D: Disk> Default for Overlay<K, D> {
    fn default() -> Self {
        Overlay {
            files: HashMap::new(),
            syncs: 0,
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, D: Disk> Overlay<K, D> {
    pub fn new() -> Self {
        Self::default()
    }

    fn pending(&mut self, key: &K, disk: D, tag: u64) -> io::Result<&mut Pending<D>> {
        if !self.files.contains_key(key) {
            let len = disk.len()?;
            self.files.insert(
                key.clone(),
                Pending {
                    disk,
                    ops: Vec::new(),
                    len,
                    tag,
                },
            );
        }
        Ok(self.files.get_mut(key).expect("inserted above"))
    }

    /// Keeps a write in memory. Appends right after the previous write are merged
    /// into it (so a log written in small appends is one operation, and a torn write
    /// cuts the whole unsynced run of appends).
    pub fn write(
        &mut self,
        key: &K,
        disk: D,
        tag: u64,
        offset: u64,
        data: &[u8],
    ) -> io::Result<()> {
        let p = self.pending(key, disk, tag)?;
        p.len = p.len.max(offset + data.len() as u64);
        if let Some(Op::Write { offset: o, data: d }) = p.ops.last_mut() {
            if *o + d.len() as u64 == offset {
                d.extend_from_slice(data);
                return Ok(());
            }
        }
        p.ops.push(Op::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }

    /// Keeps a change of length (truncate or extend) in memory.
    pub fn set_len(&mut self, key: &K, disk: D, tag: u64, len: u64) -> io::Result<()> {
        let p = self.pending(key, disk, tag)?;
        p.len = len;
        p.ops.push(Op::SetLen(len));
        Ok(())
    }

    /// The length a reader sees, when the file has unsynced operations.
    pub fn len(&self, key: &K) -> Option<u64> {
        self.files.get(key).map(|p| p.len)
    }

    /// Reads `size` bytes at `offset` as a reader sees them: the disk's bytes with the
    /// kept operations applied in order, cut at the file's length.
    pub fn read(&self, key: &K, disk: &D, offset: u64, size: usize) -> io::Result<Vec<u8>> {
        let Some(p) = self.files.get(key) else {
            let mut buf = vec![0; size];
            let n = disk.read_at(&mut buf, offset)?;
            buf.truncate(n);
            return Ok(buf);
        };
        let end = (offset + size as u64).min(p.len);
        if end <= offset {
            return Ok(Vec::new());
        }
        let mut buf = vec![0; (end - offset) as usize];
        let n = disk.read_at(&mut buf, offset)?;
        buf[n..].fill(0);
        for op in &p.ops {
            match op {
                Op::SetLen(len) => {
                    if *len < end {
                        let from = len.saturating_sub(offset) as usize;
                        buf[from..].fill(0);
                    }
                }
                Op::Write { offset: o, data } => {
                    let (lo, hi) = ((*o).max(offset), (o + data.len() as u64).min(end));
                    if lo < hi {
                        buf[(lo - offset) as usize..(hi - offset) as usize]
                            .copy_from_slice(&data[(lo - o) as usize..(hi - o) as usize]);
                    }
                }
            }
        }
        Ok(buf)
    }

    /// fsync/fdatasync: the file's kept operations reach the disk, which is synced.
    pub fn sync(&mut self, key: &K) -> io::Result<()> {
        self.syncs += 1;
        if let Some(p) = self.files.get(key) {
            Pending::replay(&p.disk, &p.ops)?;
            p.disk.sync()?;
            self.files.remove(key);
        }
        Ok(())
    }

    /// Syncs every file (a clean unmount, like a clean shutdown).
    pub fn sync_all(&mut self) -> io::Result<()> {
        let keys: Vec<K> = self.files.keys().cloned().collect();
        for k in keys {
            self.sync(&k)?;
        }
        Ok(())
    }

    /// A power loss: every unsynced operation is forgotten.
    pub fn lose_unsynced(&mut self) -> DropReport {
        let mut r = DropReport::default();
        for (_, p) in self.files.drain() {
            r.files += 1;
            r.bytes_lost += p.bytes();
            r.tags.push(p.tag);
        }
        r
    }

    /// A power loss while the last write of each file was being written back: the
    /// operations before it reach the disk, and of it only the bytes before the page
    /// boundary nearest its middle (rounded down; a write within one page is lost
    /// whole); operations after it (a length change) are lost.
    pub fn torn_write(&mut self) -> io::Result<DropReport> {
        let mut r = DropReport::default();
        for (_, p) in self.files.drain() {
            r.files += 1;
            r.tags.push(p.tag);
            let last = p.ops.iter().rposition(|op| matches!(op, Op::Write { .. }));
            let Some(last) = last else {
                r.bytes_lost += p.bytes();
                continue;
            };
            Pending::replay(&p.disk, &p.ops[..last])?;
            r.bytes_kept += p.ops[..last]
                .iter()
                .map(|op| match op {
                    Op::Write { data, .. } => data.len() as u64,
                    Op::SetLen(_) => 0,
                })
                .sum::<u64>();
            let Op::Write { offset, data } = &p.ops[last] else {
                unreachable!("rposition found a write")
            };
            let keep = torn_cut(*offset, data.len() as u64);
            if keep > 0 {
                p.disk.write_at(&data[..keep as usize], *offset)?;
            }
            r.bytes_kept += keep;
            r.bytes_lost += data.len() as u64 - keep;
            p.disk.sync()?;
        }
        Ok(r)
    }

    pub fn stats(&self) -> Stats {
        Stats {
            files: self.files.len() as u64,
            bytes: self.files.values().map(Pending::bytes).sum(),
            syncs: self.syncs,
        }
    }
}

/// How many bytes of a write of `len` bytes at `offset` survive a tear: those before
/// the page boundary inside it nearest its middle, rounded down to a boundary; zero
/// when it crosses none.
pub fn torn_cut(offset: u64, len: u64) -> u64 {
    let end = offset + len;
    let first = (offset / PAGE + 1) * PAGE;
    if first >= end {
        return 0;
    }
    let middle = offset + len / 2;
    let boundary = (middle / PAGE * PAGE).max(first);
    boundary - offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A disk in memory that remembers whether it was synced since its last change.
    #[derive(Clone, Default)]
    struct MemDisk(Rc<RefCell<(Vec<u8>, bool)>>);

    impl MemDisk {
        fn with(bytes: &[u8]) -> MemDisk {
            MemDisk(Rc::new(RefCell::new((bytes.to_vec(), true))))
        }
        fn bytes(&self) -> Vec<u8> {
            self.0.borrow().0.clone()
        }
        fn synced(&self) -> bool {
            self.0.borrow().1
        }
    }

    impl Disk for MemDisk {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let d = &self.0.borrow().0;
            let from = (offset as usize).min(d.len());
            let n = buf.len().min(d.len() - from);
            buf[..n].copy_from_slice(&d[from..from + n]);
            Ok(n)
        }
        fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
            let mut s = self.0.borrow_mut();
            let end = offset as usize + data.len();
            if s.0.len() < end {
                s.0.resize(end, 0);
            }
            s.0[offset as usize..end].copy_from_slice(data);
            s.1 = false;
            Ok(())
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            let mut s = self.0.borrow_mut();
            s.0.resize(len as usize, 0);
            s.1 = false;
            Ok(())
        }
        fn len(&self) -> io::Result<u64> {
            Ok(self.0.borrow().0.len() as u64)
        }
        fn sync(&self) -> io::Result<()> {
            self.0.borrow_mut().1 = true;
            Ok(())
        }
    }

    fn read_all(o: &Overlay<u8, MemDisk>, d: &MemDisk) -> Vec<u8> {
        let len = o.len(&1).unwrap_or(d.len().unwrap());
        o.read(&1, d, 0, len as usize).unwrap()
    }

    #[test]
    fn an_unsynced_write_is_read_back_but_never_reaches_the_disk() {
        let d = MemDisk::with(b"hello");
        let mut o = Overlay::new();
        o.write(&1, d.clone(), 7, 5, b" world").unwrap();
        assert_eq!(read_all(&o, &d), b"hello world");
        assert_eq!(d.bytes(), b"hello");
        assert_eq!(o.stats().bytes, 6);
    }

    #[test]
    fn a_power_loss_drops_what_was_written_after_the_last_fsync() {
        let d = MemDisk::with(b"");
        let mut o = Overlay::new();
        o.write(&1, d.clone(), 7, 0, b"synced.").unwrap();
        o.sync(&1).unwrap();
        assert!(d.synced());
        o.write(&1, d.clone(), 7, 7, b"lost").unwrap();
        let r = o.lose_unsynced();
        assert_eq!((r.files, r.bytes_lost, r.tags), (1, 4, vec![7]));
        assert_eq!(d.bytes(), b"synced.");
        assert_eq!(read_all(&o, &d), b"synced.");
        assert_eq!(
            o.stats(),
            Stats {
                files: 0,
                bytes: 0,
                syncs: 1
            }
        );
    }

    #[test]
    fn fsync_makes_writes_and_truncations_durable_in_the_order_they_were_made() {
        let d = MemDisk::with(b"0123456789");
        let mut o = Overlay::new();
        o.write(&1, d.clone(), 1, 2, b"ab").unwrap();
        o.set_len(&1, d.clone(), 1, 3).unwrap();
        o.set_len(&1, d.clone(), 1, 6).unwrap();
        o.write(&1, d.clone(), 1, 5, b"Z").unwrap();
        assert_eq!(read_all(&o, &d), b"01a\0\0Z");
        assert_eq!(d.bytes(), b"0123456789", "nothing reached the disk");
        o.sync(&1).unwrap();
        assert_eq!(d.bytes(), b"01a\0\0Z");
        assert!(d.synced());
        assert_eq!(o.lose_unsynced(), DropReport::default());
        assert_eq!(d.bytes(), b"01a\0\0Z");
    }

    #[test]
    fn an_fsync_of_one_file_leaves_the_others_unsynced() {
        let (a, b) = (MemDisk::with(b""), MemDisk::with(b""));
        let mut o = Overlay::new();
        o.write(&1, a.clone(), 1, 0, b"a").unwrap();
        o.write(&2, b.clone(), 2, 0, b"b").unwrap();
        o.sync(&2).unwrap();
        o.lose_unsynced();
        assert_eq!((a.bytes(), b.bytes()), (b"".to_vec(), b"b".to_vec()));
    }

    #[test]
    fn reads_past_the_unsynced_length_are_short_and_holes_read_as_zeros() {
        let d = MemDisk::with(b"abc");
        let mut o = Overlay::new();
        o.write(&1, d.clone(), 1, 6, b"x").unwrap();
        assert_eq!(o.len(&1), Some(7));
        assert_eq!(o.read(&1, &d, 0, 100).unwrap(), b"abc\0\0\0x");
        assert_eq!(o.read(&1, &d, 7, 10).unwrap(), b"");
    }

    #[test]
    fn a_torn_write_keeps_earlier_writes_and_the_last_one_up_to_a_page_boundary() {
        let d = MemDisk::with(b"");
        let mut o = Overlay::new();
        o.write(&1, d.clone(), 1, 0, b"first").unwrap();
        // Not an append: a separate operation, written back before the last one.
        o.write(&1, d.clone(), 1, 100, b"second").unwrap();
        let last = vec![b'L'; 3 * PAGE as usize];
        o.write(&1, d.clone(), 1, 2 * PAGE, &last).unwrap();
        let r = o.torn_write().unwrap();
        let disk = d.bytes();
        assert_eq!(&disk[..5], b"first");
        assert_eq!(&disk[100..106], b"second");
        // 3 pages from page 2: the middle is 3.5 pages in, rounded down to the
        // boundary at 3 pages, so page 2 alone survives.
        assert_eq!(disk.len() as u64, 3 * PAGE);
        assert!(disk[2 * PAGE as usize..].iter().all(|&b| b == b'L'));
        assert_eq!(r.bytes_kept, 11 + PAGE);
        assert_eq!(r.bytes_lost, 2 * PAGE);
        assert!(d.synced());
    }

    #[test]
    fn a_torn_write_within_one_page_loses_that_write_whole() {
        assert_eq!(torn_cut(10, 100), 0);
        assert_eq!(torn_cut(4000, 200), 96, "crosses the boundary at 4096");
        assert_eq!(torn_cut(0, 2 * PAGE), PAGE);
        assert_eq!(
            torn_cut(0, PAGE),
            0,
            "ends exactly at the boundary: no cut inside"
        );
    }

    #[test]
    fn consecutive_appends_are_one_operation_for_a_torn_write() {
        let d = MemDisk::with(b"");
        let mut o = Overlay::new();
        for _ in 0..4 {
            o.write(
                &1,
                d.clone(),
                1,
                o.len(&1).unwrap_or(0),
                &[b'x'; PAGE as usize],
            )
            .unwrap();
        }
        let r = o.torn_write().unwrap();
        assert_eq!((r.bytes_kept, r.bytes_lost), (2 * PAGE, 2 * PAGE));
        assert_eq!(d.len().unwrap(), 2 * PAGE);
    }
}
