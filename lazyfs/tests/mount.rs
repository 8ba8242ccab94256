//! The lazy filesystem mounted for real (root and /dev/fuse needed; skipped
//! otherwise): what a program reads back, what reaches the backing directory, and
//! what survives `lose-unsynced` and `torn-write`.

use lazyfs::control::{request, Command, Reply};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Mount {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Mount {
    /// Mounts a fresh lazy filesystem, or `None` when this machine cannot.
    fn new() -> Option<Mount> {
        if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/fuse").exists() {
            eprintln!("skipped: needs root and /dev/fuse");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for d in ["m", "b"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline-lazyfs"))
            .arg(dir.path().join("m"))
            .arg(dir.path().join("b"))
            .arg("--control")
            .arg(dir.path().join("c.sock"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let m = Mount {
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while m.ask(Command::Stats).is_err() {
            assert!(Instant::now() < deadline, "the mount never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(m)
    }

    fn mnt(&self, p: &str) -> PathBuf {
        self.dir.path().join("m").join(p)
    }

    fn backing(&self, p: &str) -> PathBuf {
        self.dir.path().join("b").join(p)
    }

    fn ask(&self, c: Command) -> anyhow::Result<Reply> {
        request(&self.dir.path().join("c.sock"), c, Duration::from_secs(5))
    }

    fn mounted(&self) -> bool {
        let m = self
            .mnt("")
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(&m))
    }

    /// SIGTERM, and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().unwrap()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

#[test]
fn unsynced_writes_are_read_back_and_dropped_by_a_power_loss_while_synced_ones_survive() {
    let Some(m) = Mount::new() else { return };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(m.mnt("log"))
        .unwrap();
    f.write_all(b"synced.").unwrap();
    f.sync_data().unwrap();
    f.write_all(b"unsynced").unwrap();
    assert_eq!(std::fs::read(m.mnt("log")).unwrap(), b"synced.unsynced");
    assert_eq!(std::fs::read(m.backing("log")).unwrap(), b"synced.");
    let Reply::Dropped(r) = m.ask(Command::LoseUnsynced).unwrap() else {
        panic!()
    };
    assert_eq!((r.files, r.bytes_lost), (1, 8));
    assert_eq!(std::fs::read(m.mnt("log")).unwrap(), b"synced.");
    assert_eq!(std::fs::metadata(m.mnt("log")).unwrap().len(), 7);
    // The open file still reads what survived (the kernel's cached pages were dropped).
    let mut back = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"synced.");
}

#[test]
fn create_rename_and_unlink_are_durable_at_once_but_the_renamed_data_is_not() {
    let Some(m) = Mount::new() else { return };
    std::fs::create_dir(m.mnt("d")).unwrap();
    std::fs::write(m.mnt("d/tmp"), b"new contents").unwrap();
    std::fs::rename(m.mnt("d/tmp"), m.mnt("d/final")).unwrap();
    std::fs::write(m.mnt("gone"), b"x").unwrap();
    std::fs::remove_file(m.mnt("gone")).unwrap();
    assert!(m.backing("d/final").exists() && !m.backing("d/tmp").exists());
    assert!(!m.backing("gone").exists());
    assert_eq!(std::fs::read(m.mnt("d/final")).unwrap(), b"new contents");
    m.ask(Command::LoseUnsynced).unwrap();
    // Written, renamed, never fsync'd: the classic empty file after a crash.
    assert_eq!(std::fs::read(m.mnt("d/final")).unwrap(), b"");
    let mut names: Vec<_> = std::fs::read_dir(m.mnt("d"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["final"]);
}

#[test]
fn o_dsync_writes_and_truncations_followed_by_fsync_are_durable() {
    let Some(m) = Mount::new() else { return };
    let f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .custom_flags(libc::O_DSYNC)
        .open(m.mnt("dsync"))
        .unwrap();
    f.write_all_at(b"each write durable", 0).unwrap();
    let g = std::fs::File::create(m.mnt("cut")).unwrap();
    g.write_all_at(b"0123456789", 0).unwrap();
    g.set_len(4).unwrap();
    g.sync_all().unwrap();
    g.set_len(2).unwrap();
    m.ask(Command::LoseUnsynced).unwrap();
    assert_eq!(
        std::fs::read(m.backing("dsync")).unwrap(),
        b"each write durable"
    );
    assert_eq!(std::fs::read(m.mnt("cut")).unwrap(), b"0123");
}

#[test]
fn a_torn_write_keeps_the_last_write_up_to_a_page_boundary() {
    let Some(m) = Mount::new() else { return };
    let f = std::fs::File::create(m.mnt("t")).unwrap();
    f.write_all_at(&[b'a'; 100], 0).unwrap();
    f.sync_data().unwrap();
    f.write_all_at(&[b'b'; 3 * 4096], 8192).unwrap();
    let Reply::Dropped(r) = m.ask(Command::TornWrite).unwrap() else {
        panic!()
    };
    assert_eq!((r.bytes_kept, r.bytes_lost), (4096, 8192));
    let disk = std::fs::read(m.backing("t")).unwrap();
    assert_eq!(disk.len(), 8192 + 4096);
    assert_eq!(&disk[..100], &[b'a'; 100][..]);
    assert!(disk[8192..].iter().all(|&b| b == b'b'));
}

#[test]
fn sigterm_makes_everything_durable_unmounts_and_exits_cleanly() {
    let Some(mut m) = Mount::new() else { return };
    std::fs::write(m.mnt("last words"), b"kept at a clean shutdown").unwrap();
    assert!(m.mounted());
    assert!(m.stop().success());
    assert!(!m.mounted());
    assert!(!m.dir.path().join("c.sock").exists());
    assert_eq!(
        std::fs::read(m.backing("last words")).unwrap(),
        b"kept at a clean shutdown"
    );
}
