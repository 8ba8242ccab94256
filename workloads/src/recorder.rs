//! The history writer.
//!
//! Every event is written to `history.jsonl` as it happens, one line per event, and
//! handed to the kernel at once (no user-space buffering survives an event), so a
//! crash of the harness loses nothing the kernel has. A background thread `fsync`s
//! the file every [`SYNC_INTERVAL`], and [`Recorder::finish`] syncs once more, so a
//! crash of the machine loses at most that interval.
//!
//! The recorder assigns each event its `index` and its `time` (nanoseconds on a
//! monotonic clock since the recorder was created) under one lock, so indices and
//! times both increase in file order whatever the number of writers.

use checker::history::{Event, EventType, Process};
use serde_json::Value;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the file is `fsync`ed while a test runs.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Counts of completions, for progress lines.
#[derive(Debug, Default)]
pub struct Counts {
    pub invoked: AtomicU64,
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
}

impl Counts {
    /// `(invoked, ok, fail, info)`.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.invoked.load(Ordering::Relaxed),
            self.ok.load(Ordering::Relaxed),
            self.fail.load(Ordering::Relaxed),
            self.info.load(Ordering::Relaxed),
        )
    }
}

struct Inner {
    file: File,
    line: Vec<u8>,
    next_index: u64,
    last_time: u64,
    /// The first write error; once set, nothing more is written and every later call
    /// reports it (a history with a hole in it must not look complete).
    failed: Option<String>,
}

struct Syncer {
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A thread-safe, streaming history writer. Share it in an `Arc`.
pub struct Recorder {
    path: PathBuf,
    started: Instant,
    /// The wall clock at `started` (ns since the Unix epoch), written on the first
    /// event so that history times line up with node logs.
    wall_start: u64,
    inner: Mutex<Inner>,
    counts: Counts,
    syncer: Arc<Syncer>,
    sync_thread: Mutex<Option<JoinHandle<()>>>,
    finished: AtomicBool,
}

impl Recorder {
    /// Creates (truncating) the history file at `path`.
    pub fn create(path: &Path) -> io::Result<Recorder> {
        let file = File::create(path)?;
        let sync_file = file.try_clone()?;
        let syncer = Arc::new(Syncer {
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread_syncer = Arc::clone(&syncer);
        let sync_thread = std::thread::Builder::new()
            .name("history-fsync".into())
            .spawn(move || {
                let mut stop = thread_syncer.stop.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let (guard, _) = thread_syncer
                        .wake
                        .wait_timeout(stop, SYNC_INTERVAL)
                        .unwrap_or_else(|e| e.into_inner());
                    stop = guard;
                    if *stop {
                        return;
                    }
                    // An fsync error here shows up again in `finish`, which syncs too.
                    let _ = sync_file.sync_data();
                }
            })?;
        Ok(Recorder {
            path: path.to_path_buf(),
            started: Instant::now(),
            wall_start: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            inner: Mutex::new(Inner {
                file,
                line: Vec::with_capacity(256),
                next_index: 0,
                last_time: 0,
                failed: None,
            }),
            counts: Counts::default(),
            syncer,
            sync_thread: Mutex::new(Some(sync_thread)),
            finished: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The instant time 0 of the history stands for.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Records one event: its `index` and `time` are assigned here (whatever `event`
    /// held), and it is on its way to disk when this returns. Returns the event's
    /// index and time.
    pub fn record(&self, mut event: Event) -> io::Result<(u64, u64)> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(message) = &inner.failed {
            return Err(io::Error::other(message.clone()));
        }
        let elapsed = self.started.elapsed().as_nanos() as u64;
        let time = elapsed.max(inner.last_time);
        event.index = inner.next_index;
        event.time = time;
        event.wall_start = (event.index == 0).then_some(self.wall_start);
        let Inner { file, line, .. } = &mut *inner;
        line.clear();
        serde_json::to_writer(&mut *line, &event).expect("an Event always serializes to JSON");
        line.push(b'\n');
        if let Err(e) = file.write_all(line) {
            let message = format!("writing {}: {e}", self.path.display());
            inner.failed = Some(message.clone());
            return Err(io::Error::new(e.kind(), message));
        }
        inner.next_index += 1;
        inner.last_time = time;
        drop(inner);
        let counter = match event.kind {
            EventType::Invoke if !event.process.is_nemesis() => Some(&self.counts.invoked),
            EventType::Ok if !event.process.is_nemesis() => Some(&self.counts.ok),
            EventType::Fail if !event.process.is_nemesis() => Some(&self.counts.fail),
            EventType::Info if !event.process.is_nemesis() => Some(&self.counts.info),
            _ => None,
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        Ok((event.index, time))
    }

    /// Records a nemesis event (`process` `"nemesis"`, type `info`, as Jepsen does).
    pub fn record_nemesis(&self, f: &str, value: Value) -> io::Result<(u64, u64)> {
        self.record(Event::new(0, 0, Process::Nemesis, EventType::Info, f).with_value(value))
    }

    /// Events recorded so far.
    pub fn len(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_index
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the background sync and `fsync`s the file. Further `record`s still
    /// append, but are synced only by another `finish` (or not at all). Returns the
    /// number of events written, or the first write error.
    pub fn finish(&self) -> io::Result<u64> {
        if !self.finished.swap(true, Ordering::SeqCst) {
            *self.syncer.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.syncer.wake.notify_all();
            if let Some(t) = self
                .sync_thread
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                let _ = t.join();
            }
        }
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(message) = &inner.failed {
            return Err(io::Error::other(message.clone()));
        }
        inner.file.sync_all().map_err(|e| {
            io::Error::new(e.kind(), format!("syncing {}: {e}", self.path.display()))
        })?;
        Ok(inner.next_index)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Never leave the sync thread behind; sync what there is.
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;
    use serde_json::json;

    #[test]
    fn concurrent_writers_produce_a_parseable_history_with_increasing_index_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let recorder = Arc::new(Recorder::create(&path).unwrap());
        let threads: Vec<_> = (0..4u64)
            .map(|p| {
                let r = Arc::clone(&recorder);
                std::thread::spawn(move || {
                    for i in 0..500i64 {
                        let invoke =
                            Event::new(0, 0, Process::Client(p), EventType::Invoke, "write")
                                .with_key(json!(p))
                                .with_value(json!(i));
                        r.record(invoke).unwrap();
                        let kind = if i % 3 == 0 {
                            EventType::Fail
                        } else {
                            EventType::Ok
                        };
                        r.record(
                            Event::new(0, 0, Process::Client(p), kind, "write")
                                .with_key(json!(p))
                                .with_value(json!(i)),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        recorder.record_nemesis("kill", json!(["n1"])).unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(recorder.finish().unwrap(), 4001);
        let text = std::fs::read_to_string(&path).unwrap();
        let history = parse_jsonl(&text).unwrap();
        assert_eq!(history.events.len(), 4001);
        assert_eq!(history.ops.len(), 2000);
        assert!(history
            .events
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == i as u64));
        assert_eq!(history.nemesis_events().count(), 1);
        let (invoked, ok, fail, info) = recorder.counts().snapshot();
        assert_eq!((invoked, ok + fail, info), (2000, 2000, 0));
        assert_eq!(fail, 4 * 167);
    }

    #[test]
    fn the_first_event_alone_records_the_wall_clock_time_of_time_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let before = std::time::SystemTime::now();
        let recorder = Recorder::create(&path).unwrap();
        let after = std::time::SystemTime::now();
        for _ in 0..2 {
            recorder.record_nemesis("kill", json!(["n1"])).unwrap();
        }
        recorder.finish().unwrap();
        let history = parse_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let ns = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        };
        let start = history.wall_start().expect("the first event carries it");
        assert!(ns(before) <= start && start <= ns(after));
        assert_eq!(history.events[1].wall_start, None);
    }

    #[test]
    fn each_event_is_on_disk_before_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let recorder = Recorder::create(&path).unwrap();
        recorder
            .record(
                Event::new(0, 0, Process::Client(3), EventType::Invoke, "read").with_key(json!(1)),
            )
            .unwrap();
        // Read by another handle, as a crash would leave it: the line is there.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
        let h = parse_jsonl(&text).unwrap();
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].outcome, checker::history::Outcome::Info);
    }
}
