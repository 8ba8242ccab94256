//! The results folder: `RESULTS/<test>/<timestamp>/` and `RESULTS/latest` pointing at
//! the newest run. Files are written whole (temporary file, sync, rename), so results
//! never exist half-written.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Creates `root/<test>/<timestamp>/` (a suffix keeps two runs in the same
/// millisecond apart) and returns it.
pub fn create_run_dir(root: &Path, test: &str) -> Result<PathBuf> {
    let base = root.join(test);
    std::fs::create_dir_all(&base)
        .with_context(|| format!("cannot create results folder {}", base.display()))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    for n in 0..1000 {
        let name = if n == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let dir = base.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot create results folder {}", dir.display()))
            }
        }
    }
    bail!(
        "cannot find a free results folder name under {}",
        base.display()
    )
}

/// Points `root/latest` at `run_dir` (relative, so the tree can be moved), replacing
/// the old link atomically.
pub fn update_latest(root: &Path, run_dir: &Path) -> std::io::Result<()> {
    let target = run_dir.strip_prefix(root).unwrap_or(run_dir);
    let tmp = root.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, root.join("latest")).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes a file completely and syncs it.
pub fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.with_context(|| format!("writing {}", path.display()))
}

/// Removes the nodes' data directories (`data/`) of a run folder.
pub fn remove_data(run_dir: &Path) -> Result<()> {
    let data = run_dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data).with_context(|| format!("removing {}", data.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_are_unique_and_latest_follows_the_newest() {
        let root = tempfile::tempdir().unwrap();
        let a = create_run_dir(root.path(), "t").unwrap();
        let b = create_run_dir(root.path(), "t").unwrap();
        assert_ne!(a, b);
        update_latest(root.path(), &a).unwrap();
        update_latest(root.path(), &b).unwrap();
        let link = std::fs::read_link(root.path().join("latest")).unwrap();
        assert!(link.is_relative());
        assert_eq!(
            root.path().join(link).canonicalize().unwrap(),
            b.canonicalize().unwrap()
        );
    }
}
