//! The FUSE side: a passthrough of a backing directory whose file data goes through
//! the [`Overlay`]. Metadata operations (create, mkdir, unlink, rmdir, rename, link,
//! symlink, chmod, chown, utimes) are applied to the backing directory at once, so
//! they are durable immediately; only data and file lengths wait for fsync.
//!
//! Inode numbers are the filesystem's own (1 is the root), each naming a path under
//! the backing directory; the overlay keys files by the backing file's (device,
//! inode), so data follows a file across renames. Attributes and entries are never
//! cached by the kernel (TTL 0): a length that a power loss cut is seen at once.

use crate::overlay::Overlay;
use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};
use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A backing file, by device and inode.
pub type FileKey = (u64, u64);
/// The overlay as shared between the FUSE thread and the control socket.
pub type SharedOverlay = Arc<Mutex<Overlay<FileKey, Arc<File>>>>;

const TTL: Duration = Duration::ZERO;

struct Handle {
    file: Arc<File>,
    key: FileKey,
    /// Opened with O_SYNC or O_DSYNC: every write is durable at once.
    sync_writes: bool,
}

pub struct LazyFs {
    root: PathBuf,
    /// Path relative to `root` by inode number (index); `None` once removed.
    paths: Vec<Option<PathBuf>>,
    by_path: HashMap<PathBuf, u64>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    overlay: SharedOverlay,
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn system_time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs((-secs) as u64)
    }
}

fn kind_of(m: &Metadata) -> FileType {
    let t = m.file_type();
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else if t.is_fifo() {
        FileType::NamedPipe
    } else if t.is_socket() {
        FileType::Socket
    } else if t.is_block_device() {
        FileType::BlockDevice
    } else if t.is_char_device() {
        FileType::CharDevice
    } else {
        FileType::RegularFile
    }
}

impl LazyFs {
    pub fn new(root: PathBuf, overlay: SharedOverlay) -> LazyFs {
        let mut by_path = HashMap::new();
        by_path.insert(PathBuf::new(), 1);
        LazyFs {
            root,
            paths: vec![None, Some(PathBuf::new())],
            by_path,
            handles: HashMap::new(),
            next_fh: 1,
            overlay,
        }
    }

    fn rel(&self, ino: u64) -> io::Result<&PathBuf> {
        self.paths
            .get(ino as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }

    fn full(&self, ino: u64) -> io::Result<PathBuf> {
        Ok(self.root.join(self.rel(ino)?))
    }

    fn child(&self, parent: u64, name: &OsStr) -> io::Result<PathBuf> {
        Ok(self.rel(parent)?.join(name))
    }

    fn ino_of(&mut self, rel: PathBuf) -> u64 {
        if let Some(i) = self.by_path.get(&rel) {
            return *i;
        }
        let i = self.paths.len() as u64;
        self.paths.push(Some(rel.clone()));
        self.by_path.insert(rel, i);
        i
    }

    fn forget_path(&mut self, rel: &Path) {
        if let Some(i) = self.by_path.remove(rel) {
            self.paths[i as usize] = None;
        }
    }

    /// A backing file's attributes as the kernel should see them: with the unsynced
    /// length when the overlay holds one.
    fn attr(&self, ino: u64, m: &Metadata) -> FileAttr {
        let size = self
            .overlay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len(&(m.dev(), m.ino()))
            .unwrap_or(m.size());
        FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: system_time(m.atime(), m.atime_nsec()),
            mtime: system_time(m.mtime(), m.mtime_nsec()),
            ctime: system_time(m.ctime(), m.ctime_nsec()),
            crtime: system_time(m.ctime(), m.ctime_nsec()),
            kind: kind_of(m),
            perm: (m.mode() & 0o7777) as u16,
            nlink: m.nlink() as u32,
            uid: m.uid(),
            gid: m.gid(),
            rdev: m.rdev() as u32,
            blksize: 4096,
            flags: 0,
        }
    }

    fn entry(&mut self, rel: PathBuf) -> io::Result<FileAttr> {
        let m = std::fs::symlink_metadata(self.root.join(&rel))?;
        let ino = self.ino_of(rel);
        Ok(self.attr(ino, &m))
    }

    fn open_backing(&mut self, path: &Path, flags: i32, create: Option<u32>) -> io::Result<u64> {
        let mut o = OpenOptions::new();
        o.read(true).write(true);
        if let Some(mode) = create {
            o.create(true).mode(mode);
            if flags & libc::O_EXCL != 0 {
                o.create_new(true);
            }
        }
        let file = match o.open(path) {
            Ok(f) => f,
            Err(e)
                if e.raw_os_error() == Some(libc::EISDIR)
                    || e.raw_os_error() == Some(libc::EACCES) =>
            {
                OpenOptions::new().read(true).open(path)?
            }
            Err(e) => return Err(e),
        };
        let m = file.metadata()?;
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(
            fh,
            Handle {
                file: Arc::new(file),
                key: (m.dev(), m.ino()),
                sync_writes: flags & (libc::O_SYNC | libc::O_DSYNC) != 0,
            },
        );
        Ok(fh)
    }

    fn handle(&self, fh: u64) -> io::Result<&Handle> {
        self.handles
            .get(&fh)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    /// `setattr`'s own arguments, as fuser passes them.
    #[allow(clippy::too_many_arguments)]
    fn do_setattr(
        &mut self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        fh: Option<u64>,
    ) -> io::Result<FileAttr> {
        let path = self.full(ino)?;
        let c = cstr(&path)?;
        if let Some(mode) = mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))?;
        }
        if uid.is_some() || gid.is_some() {
            let (u, g) = (uid.unwrap_or(u32::MAX), gid.unwrap_or(u32::MAX));
            check(unsafe { libc::lchown(c.as_ptr(), u, g) })?;
        }
        if let Some(size) = size {
            let (file, key) = match fh.and_then(|f| self.handles.get(&f)) {
                Some(h) => (h.file.clone(), h.key),
                None => {
                    let f = OpenOptions::new().write(true).open(&path)?;
                    let m = f.metadata()?;
                    (Arc::new(f), (m.dev(), m.ino()))
                }
            };
            self.overlay
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .set_len(&key, file, ino, size)?;
        }
        if atime.is_some() || mtime.is_some() {
            let ts = |t: Option<TimeOrNow>| match t {
                None => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                },
                Some(TimeOrNow::Now) => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_NOW,
                },
                Some(TimeOrNow::SpecificTime(t)) => {
                    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
                    libc::timespec {
                        tv_sec: d.as_secs() as i64,
                        tv_nsec: d.subsec_nanos() as i64,
                    }
                }
            };
            let times = [ts(atime), ts(mtime)];
            check(unsafe {
                libc::utimensat(
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    times.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
        }
        let m = std::fs::symlink_metadata(&path)?;
        Ok(self.attr(ino, &m))
    }

    /// Moves the inode numbers of `from` (and everything under it) to `to`.
    fn renamed(&mut self, from: &Path, to: &Path) {
        self.forget_path(to);
        let moved: Vec<(PathBuf, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with(from))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (p, i) in moved {
            self.by_path.remove(&p);
            let rest = p.strip_prefix(from).expect("filtered by prefix");
            // join("") would add a trailing slash, which names no file.
            let new = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
            self.paths[i as usize] = Some(new.clone());
            self.by_path.insert(new, i);
        }
    }
}

macro_rules! tri {
    ($reply:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $reply.error(errno(&e)),
        }
    };
}

impl Filesystem for LazyFs {
    fn init(&mut self, _req: &Request<'_>, _config: &mut KernelConfig) -> Result<(), libc::c_int> {
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let rel = tri!(reply, self.child(parent, name));
        let attr = tri!(reply, self.entry(rel));
        reply.entry(&TTL, &attr, 0);
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, fh: Option<u64>, reply: ReplyAttr) {
        let meta = match self.full(ino) {
            Ok(p) => std::fs::symlink_metadata(p),
            Err(e) => match fh.and_then(|f| self.handles.get(&f)) {
                Some(h) => h.file.metadata(),
                None => Err(e),
            },
        };
        let m = tri!(reply, meta);
        reply.attr(&TTL, &self.attr(ino, &m));
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let attr = tri!(
            reply,
            self.do_setattr(ino, mode, uid, gid, size, atime, mtime, fh)
        );
        reply.attr(&TTL, &attr);
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        let path = tri!(reply, self.full(ino));
        let target = tri!(reply, std::fs::read_link(path));
        reply.data(target.as_os_str().as_bytes());
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let rel = tri!(reply, self.child(parent, name));
        let c = tri!(reply, cstr(&self.root.join(&rel)));
        tri!(
            reply,
            check(unsafe { libc::mkdir(c.as_ptr(), mode & !umask) })
        );
        let attr = tri!(reply, self.entry(rel));
        reply.entry(&TTL, &attr, 0);
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let rel = tri!(reply, self.child(parent, name));
        tri!(reply, std::fs::remove_file(self.root.join(&rel)));
        self.forget_path(&rel);
        reply.ok();
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let rel = tri!(reply, self.child(parent, name));
        tri!(reply, std::fs::remove_dir(self.root.join(&rel)));
        self.forget_path(&rel);
        reply.ok();
    }

    fn symlink(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let rel = tri!(reply, self.child(parent, link_name));
        tri!(
            reply,
            std::os::unix::fs::symlink(target, self.root.join(&rel))
        );
        let attr = tri!(reply, self.entry(rel));
        reply.entry(&TTL, &attr, 0);
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let from = tri!(reply, self.child(parent, name));
        let to = tri!(reply, self.child(newparent, newname));
        let (a, b) = (
            tri!(reply, cstr(&self.root.join(&from))),
            tri!(reply, cstr(&self.root.join(&to))),
        );
        tri!(
            reply,
            check(unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    flags,
                )
            })
        );
        if flags & libc::RENAME_EXCHANGE != 0 {
            let tmp = PathBuf::from("\0exchange");
            self.renamed(&from, &tmp);
            self.renamed(&to, &from);
            self.renamed(&tmp, &to);
        } else {
            self.renamed(&from, &to);
        }
        reply.ok();
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let from = tri!(reply, self.full(ino));
        let rel = tri!(reply, self.child(newparent, newname));
        tri!(reply, std::fs::hard_link(from, self.root.join(&rel)));
        let m = tri!(reply, std::fs::symlink_metadata(self.root.join(&rel)));
        self.by_path.insert(rel, ino);
        reply.entry(&TTL, &self.attr(ino, &m), 0);
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let path = tri!(reply, self.full(ino));
        let fh = tri!(reply, self.open_backing(&path, flags, None));
        reply.opened(fh, 0);
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let h = tri!(reply, self.handle(fh));
        let overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let data = tri!(
            reply,
            overlay.read(&h.key, &h.file, offset as u64, size as usize)
        );
        reply.data(&data);
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let h = tri!(reply, self.handle(fh));
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        tri!(
            reply,
            overlay.write(&h.key, h.file.clone(), ino, offset as u64, data)
        );
        if h.sync_writes {
            tri!(reply, overlay.sync(&h.key));
        }
        reply.written(data.len() as u32);
    }

    fn flush(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _lock_owner: u64,
        reply: ReplyEmpty,
    ) {
        // close() makes nothing durable.
        reply.ok();
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.handles.remove(&fh);
        reply.ok();
    }

    fn fsync(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let key = tri!(reply, self.handle(fh)).key;
        tri!(
            reply,
            self.overlay
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .sync(&key)
        );
        reply.ok();
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let rel = tri!(reply, self.rel(ino)).clone();
        let listing = tri!(reply, std::fs::read_dir(self.root.join(&rel)));
        let mut entries = vec![
            (ino, FileType::Directory, OsStr::new(".").to_owned()),
            (ino, FileType::Directory, OsStr::new("..").to_owned()),
        ];
        for e in listing.flatten() {
            let kind = e
                .metadata()
                .map(|m| kind_of(&m))
                .unwrap_or(FileType::RegularFile);
            let i = self.ino_of(rel.join(e.file_name()));
            entries.push((i, kind, e.file_name()));
        }
        for (k, (i, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(i, k as i64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Directory entries are durable as soon as they are made; this syncs the
        // backing directory for form.
        let path = tri!(reply, self.full(ino));
        tri!(reply, File::open(path).and_then(|d| d.sync_all()));
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let c = tri!(reply, cstr(&self.root));
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        tri!(reply, check(unsafe { libc::statvfs(c.as_ptr(), &mut s) }));
        reply.statfs(
            s.f_blocks,
            s.f_bfree,
            s.f_bavail,
            s.f_files,
            s.f_ffree,
            s.f_bsize as u32,
            s.f_namemax as u32,
            s.f_frsize as u32,
        );
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let rel = tri!(reply, self.child(parent, name));
        let fh = tri!(
            reply,
            self.open_backing(&self.root.join(&rel), flags, Some(mode & !umask))
        );
        let attr = tri!(reply, self.entry(rel));
        reply.created(&TTL, &attr, 0, fh, 0);
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(libc::EOPNOTSUPP);
        }
        let h = tri!(reply, self.handle(fh));
        let (file, key) = (h.file.clone(), h.key);
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        let len = tri!(
            reply,
            overlay
                .len(&key)
                .map(Ok)
                .unwrap_or_else(|| file.metadata().map(|m| m.len()))
        );
        let end = (offset + length) as u64;
        if end > len {
            tri!(reply, overlay.set_len(&key, file, ino, end));
        }
        reply.ok();
    }
}
