//! Per-node wall clocks through libfaketime.
//!
//! Each node runs with libfaketime preloaded and its own timestamp file, which holds a
//! relative offset (`+0`, `+3600.000`, `-0.250`) and is re-read on every clock call
//! (`FAKETIME_NO_CACHE=1`). Monotonic clocks stay real (`FAKETIME_DONT_FAKE_MONOTONIC`),
//! so a node's timeouts and elections run on true time while its wall clock lies,
//! which is what a skewed machine looks like. The nemesis only rewrites the file.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub const LIB_ENV: &str = "FAULTLINE_LIBFAKETIME";

/// The libfaketime shared object: `$FAULTLINE_LIBFAKETIME`, or the distribution's.
pub fn library() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(LIB_ENV) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("{LIB_ENV}={} does not exist", p.display());
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for e in entries.flatten() {
            candidates.push(e.path().join("faketime/libfaketime.so.1"));
        }
    }
    candidates.sort();
    candidates.extend(
        [
            "/usr/lib/faketime/libfaketime.so.1",
            "/usr/local/lib/faketime/libfaketime.so.1",
            "/usr/lib64/faketime/libfaketime.so.1",
        ]
        .map(PathBuf::from),
    );
    candidates.into_iter().find(|p| p.is_file()).context(
        "clock faults need libfaketime, which is not installed: `apt-get install faketime` (or run scripts/setup.sh), \
         or point FAULTLINE_LIBFAKETIME at libfaketime.so.1",
    )
}

/// Creates the node's clock file at offset zero.
pub fn init_clock_file(path: &Path) -> Result<()> {
    std::fs::write(path, "+0\n").with_context(|| format!("writing clock file {}", path.display()))
}

/// The environment that puts a node on its clock file.
pub fn env(lib: &Path, clock_file: &Path) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), lib.display().to_string()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            clock_file.display().to_string(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}
