//! Wall-clock faults through libfaketime's timestamp file.
//!
//! Each node's process runs with libfaketime preloaded, `FAKETIME_TIMESTAMP_FILE`
//! pointing at its own file, `FAKETIME_NO_CACHE=1` (the file is read on every clock
//! call) and `FAKETIME_DONT_FAKE_MONOTONIC=1` (timeouts and elections still run on
//! real monotonic time). The cluster sets that up; the nemesis only writes the file.
//!
//! libfaketime reads a relative offset as `+N` / `-N` seconds with a fraction
//! (`+1.500`, `-0.250`); a unit suffix is not milliseconds (`+2000ms` is read as
//! minutes), so offsets are always written as seconds with three decimals. Files are
//! replaced by rename, so a reader sees the old offset or the new one, never a
//! half-written file.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The file contents for an offset of `ms` milliseconds from real time.
pub fn offset_text(ms: i64) -> String {
    let sign = if ms < 0 { '-' } else { '+' };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}\n", a / 1000, a % 1000)
}

/// Replaces `path`'s contents with an offset of `ms`, atomically.
pub fn write_offset(path: &Path, ms: i64) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, offset_text(ms))
        .with_context(|| format!("writing clock file {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing clock file {}", path.display()))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".faultline-tmp");
    path.with_file_name(name)
}

/// A thread that flips clock files between two offsets until stopped or its duration
/// ends, and then leaves each file at its base offset.
pub struct Strobe {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Strobe {
    /// `files` pairs each clock file with its base offset; every `period` the files
    /// switch between `base` and `base + delta_ms`, each set by `write` (a file, an
    /// offset: [`write_offset`] for a local file).
    pub fn start(
        files: Vec<(PathBuf, i64)>,
        delta_ms: i64,
        period: Duration,
        duration: Duration,
        write: impl Fn(&Path, i64) -> Result<()> + Send + 'static,
    ) -> Result<Strobe> {
        // Fail now, not silently in the thread, if a file cannot be written.
        for (f, base) in &files {
            write(f, base + delta_ms)?;
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("faultline-clock-strobe".into())
            .spawn(move || -> Result<()> {
                let end = Instant::now() + duration;
                let mut shifted = true;
                let mut next = Instant::now() + period;
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    match stopped.recv_timeout(next.min(end).saturating_duration_since(now)) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                    if Instant::now() >= end {
                        break;
                    }
                    shifted = !shifted;
                    for (f, base) in &files {
                        write(f, if shifted { base + delta_ms } else { *base })?;
                    }
                    next += period;
                }
                for (f, base) in &files {
                    write(f, *base)?;
                }
                Ok(())
            })
            .context("starting the clock strobe thread")?;
        Ok(Strobe {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops flipping and waits until every file is back at its base offset.
    pub fn stop(mut self) -> Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> Result<()> {
        let _ = self.stop.send(());
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("clock strobe thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Strobe {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_seconds_with_millisecond_fractions() {
        assert_eq!(offset_text(0), "+0.000\n");
        assert_eq!(offset_text(1500), "+1.500\n");
        assert_eq!(offset_text(-250), "-0.250\n");
        assert_eq!(offset_text(-86_400_001), "-86400.001\n");
    }

    #[test]
    fn strobe_flips_then_returns_to_base() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("clock");
        write_offset(&f, 0).unwrap();
        let strobe = Strobe::start(
            vec![(f.clone(), 1000)],
            500,
            Duration::from_millis(5),
            Duration::from_secs(10),
            write_offset,
        )
        .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.len() < 2 && Instant::now() < deadline {
            if let Ok(s) = std::fs::read_to_string(&f) {
                seen.insert(s);
            }
        }
        assert_eq!(
            seen,
            ["+1.000\n".to_string(), "+1.500\n".to_string()].into()
        );
        strobe.stop().unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "+1.000\n");
        assert!(!tmp_path(&f).exists());
    }

    #[test]
    fn strobe_ends_by_itself_after_its_duration() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("clock");
        let strobe = Strobe::start(
            vec![(f.clone(), 0)],
            -300,
            Duration::from_millis(2),
            Duration::from_millis(30),
            write_offset,
        )
        .unwrap();
        let t = strobe.thread.as_ref().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(t.is_finished());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "+0.000\n");
        strobe.stop().unwrap();
    }
}
