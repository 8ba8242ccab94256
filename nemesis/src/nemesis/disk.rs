//! Disk faults, of two sorts.
//!
//! Through the cluster control, on faultline's lazy filesystem: a power loss is a
//! kill followed by the loss of the node's unsynced writes (whole, or torn at a page
//! boundary); restarts heal it as they heal a kill. `lose-unsynced` drops them under
//! a running node.
//!
//! On the data directory's path: bits flipped in (`corrupt`), or the end cut off
//! (`truncate`), a file a node has written, chosen by the seed among the files of
//! its data directory when the fault starts. These also work when a FUSE filesystem
//! is mounted on it (the damage then goes through the mount, as a disk error would
//! reach the node). Nothing heals them: the point is whether the node notices.

use super::Nemesis;
use crate::control::{ClusterControl, Damage, DiskFault};
use crate::fault::Fault;
use crate::netfilter::combine;
use crate::rng::SeededRng;
use crate::schedule::DiskKind;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The most bytes one `corrupt` flips.
const MAX_CORRUPT_BYTES: u64 = 16;

/// The fault a disk decision names.
pub(super) fn fault(kind: DiskKind, nodes: Vec<String>) -> Fault {
    match kind {
        DiskKind::PowerLoss => Fault::PowerLoss { nodes },
        DiskKind::LoseUnsynced => Fault::LoseUnsynced { nodes },
        DiskKind::TornWrite => Fault::TornWrite { nodes },
    }
}

impl<C: ClusterControl + 'static> Nemesis<C> {
    /// Kills the nodes (unless only their unsynced writes go), then drops those
    /// writes on every node at once. A node whose kill failed keeps its writes: a
    /// running process must not see them vanish under a power loss it survived.
    pub(super) async fn start_disk(&mut self, fault: &Fault) -> Result<()> {
        let (nodes, kill, what) = match fault {
            Fault::PowerLoss { nodes }
            | Fault::PowerLossAll { nodes }
            | Fault::PowerLossLeader { nodes, .. } => (nodes, true, DiskFault::LoseUnsynced),
            Fault::TornWrite { nodes } => (nodes, true, DiskFault::TornWrite),
            Fault::LoseUnsynced { nodes } => (nodes, false, DiskFault::LoseUnsynced),
            other => return Err(anyhow!("{} is not a disk fault", other.start_name())),
        };
        let mut errors = Vec::new();
        let targets: Vec<String> = if kill {
            if let Err(e) = self.kill(nodes).await {
                errors.push(e);
            }
            nodes
                .iter()
                .filter(|n| self.killed.contains(*n))
                .cloned()
                .collect()
        } else {
            nodes.clone()
        };
        let mut set = tokio::task::JoinSet::new();
        for n in targets {
            let c = self.control.clone();
            set.spawn_blocking(move || {
                let r = c.disk(&n, what);
                (n, r)
            });
        }
        while let Some(j) = set.join_next().await {
            match j {
                Ok((_, Ok(_))) => {}
                Ok((n, Err(e))) => errors.push(e.context(format!("disk fault on node {n}"))),
                Err(e) => errors.push(anyhow!("disk fault task failed: {e}")),
            }
        }
        combine(errors)
    }
}

impl<C: ClusterControl + 'static> Nemesis<C> {
    /// A disk decision as a fault: the file `draw` picks among the node's non-empty
    /// files (sorted by path), and the byte range or new length it picks.
    pub(super) fn resolve_disk(
        &self,
        truncate: bool,
        node: usize,
        draw: u64,
        pattern: Option<&str>,
    ) -> Result<Fault> {
        let id = self.nodes.get(node).map(|n| n.id.clone()).ok_or_else(|| {
            anyhow!(
                "decision names a node index beyond the {} nodes",
                self.nodes.len()
            )
        })?;
        let mut files = self
            .control
            .data_files(&id)
            .with_context(|| format!("listing node {id}'s data directory"))?;
        if let Some(p) = pattern {
            files.retain(|(f, _)| matches_pattern(p, f));
        }
        if files.is_empty() {
            let which = pattern
                .map(|p| format!(" matching {p:?}"))
                .unwrap_or_default();
            bail!("node {id} has written no file{which} in its data directory yet");
        }
        let mut rng = SeededRng::new(draw);
        let (rel, size) = files[rng.below(files.len() as u64) as usize].clone();
        Ok(if truncate {
            Fault::Truncate {
                node: id,
                file: rel,
                from: size,
                to: rng.below(size),
            }
        } else {
            let len = 1 + rng.below(MAX_CORRUPT_BYTES.min(size));
            Fault::Corrupt {
                node: id,
                file: rel,
                offset: rng.below(size - len + 1),
                len,
            }
        })
    }

    /// Applies a `corrupt` or `truncate` fault to the file, and syncs it.
    pub(super) fn damage(&self, fault: &Fault) -> Result<()> {
        match fault {
            Fault::Corrupt {
                node,
                file,
                offset,
                len,
            } => self
                .control
                .damage_file(
                    node,
                    file,
                    Damage::Flip {
                        offset: *offset,
                        len: *len,
                    },
                )
                .with_context(|| format!("corrupting node {node}'s {file}")),
            Fault::Truncate { node, file, to, .. } => self
                .control
                .damage_file(node, file, Damage::Truncate { to: *to })
                .with_context(|| format!("truncating node {node}'s {file}")),
            _ => Ok(()),
        }
    }
}

/// [`ClusterControl::data_files`] on a local directory.
pub fn local_files(dir: &Path) -> Result<Vec<(String, u64)>> {
    let files = files_of(dir).with_context(|| format!("listing {}", dir.display()))?;
    Ok(files
        .into_iter()
        .map(|(f, size)| {
            let rel = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
            (rel, size)
        })
        .collect())
}

/// [`ClusterControl::damage_file`] on a local path.
pub fn damage_local(path: &Path, damage: Damage) -> Result<()> {
    match damage {
        Damage::Flip { offset, len } => flip_bits(path, offset, len),
        Damage::Truncate { to } => {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.set_len(to)?;
            Ok(f.sync_all()?)
        }
    }
    .with_context(|| format!("damaging {}", path.display()))
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters
/// (`/` included) and everything else itself.
fn matches_pattern(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Inverts every bit of `len` bytes at `offset` (so each byte certainly changes).
fn flip_bits(path: &Path, offset: u64, len: u64) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut buf = vec![0u8; len as usize];
    f.seek(SeekFrom::Start(offset))?;
    let n = f.read(&mut buf)?;
    buf.truncate(n);
    for b in &mut buf {
        *b = !*b;
    }
    f.seek(SeekFrom::Start(offset))?;
    f.write_all(&buf)?;
    f.sync_all()?;
    Ok(())
}

/// The non-empty regular files under `dir`, with their sizes, sorted by path.
fn files_of(dir: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                todo.push(entry.path());
            } else if meta.is_file() && meta.len() > 0 {
                out.push((entry.path(), meta.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_stars_anywhere() {
        assert!(matches_pattern("*.log", "data.log"));
        assert!(matches_pattern("*.log", "sub/hints.log"));
        assert!(!matches_pattern("*.log", "data.log.tmp"));
        assert!(matches_pattern("log.bin", "log.bin"));
        assert!(!matches_pattern("log.bin", "xlog.bin"));
        assert!(matches_pattern("member/*/wal*", "member/snap/wal-0"));
        assert!(!matches_pattern("a*b*c", "acb"));
        assert!(matches_pattern("*", "anything"));
    }

    #[test]
    fn flipping_changes_exactly_the_range_and_files_are_listed_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), b"0123456789").unwrap();
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let files = files_of(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|(p, s)| (p.strip_prefix(dir.path()).unwrap().to_path_buf(), *s))
            .collect();
        assert_eq!(
            names,
            vec![(PathBuf::from("a"), 1), (PathBuf::from("sub/b"), 10)]
        );
        flip_bits(&dir.path().join("sub/b"), 2, 3).unwrap();
        let after = std::fs::read(dir.path().join("sub/b")).unwrap();
        let changed: Vec<usize> = (0..10).filter(|i| after[*i] != b"0123456789"[*i]).collect();
        assert_eq!(changed, vec![2, 3, 4]);
    }
}
