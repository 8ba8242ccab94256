//! Reading a results folder from outside, for `faultline serve`: a path asked for
//! resolved safely inside the folder, a folder's listing, and a run folder as one
//! zip archive. Nothing here writes into the results folder.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Why a path asked for is not served.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `..`, an absolute path, or a link that leads out of the results folder.
    Outside,
    NotFound,
}

/// The file or folder `rel` (already percent-decoded, `/` between parts) names
/// inside `root`, which must be canonical. Refused when any part is `..` or `.`, the
/// path is absolute, or, links followed, it ends outside `root`.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, Refused> {
    let rel = rel.trim_matches('/');
    if rel.contains('\0') || rel.contains('\\') {
        return Err(Refused::Outside);
    }
    let path = Path::new(rel);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Refused::Outside);
    }
    let real = root
        .join(path)
        .canonicalize()
        .map_err(|_| Refused::NotFound)?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(Refused::Outside)
    }
}

/// One item of a folder's listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

/// The items of a folder, folders first, then by name.
pub fn list(dir: &Path) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for item in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let item = item?;
        // Links are listed as what they point at; serving them is checked again.
        let Ok(meta) = std::fs::metadata(item.path()) else {
            continue;
        };
        items.push(Item {
            name: item.file_name().to_string_lossy().into_owned(),
            is_dir: meta.is_dir(),
            size: meta.len(),
        });
    }
    items.sort_by(|a, b| (!a.is_dir, &a.name).cmp(&(!b.is_dir, &b.name)));
    Ok(items)
}

/// The folder `dir` (inside the canonical `root`) as a zip archive whose entries sit
/// under the folder's own name. Only regular files are archived, and links only
/// when they lead to a file inside `root`.
pub fn zip_folder(root: &Path, dir: &Path) -> Result<Vec<u8>> {
    let base = dir
        .file_name()
        .map_or("run".into(), |n| n.to_string_lossy().into_owned());
    let mut files = Vec::new();
    collect_files(root, dir, Path::new(&base), &mut files)?;
    files.sort();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut buf = Vec::new();
    for (name, path) in files {
        buf.clear();
        std::fs::File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .with_context(|| format!("reading {}", path.display()))?;
        zip.start_file(name, options)?;
        zip.write_all(&buf)?;
    }
    Ok(zip.finish()?.into_inner())
}

/// Every file under `dir` as (name in the archive, path).
fn collect_files(
    root: &Path,
    dir: &Path,
    prefix: &Path,
    files: &mut Vec<(String, PathBuf)>,
) -> Result<()> {
    for item in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let item = item?;
        let path = item.path();
        let name = prefix.join(item.file_name());
        let Ok(real) = path.canonicalize() else {
            continue;
        };
        if !real.starts_with(root) {
            continue;
        }
        let kind = item.file_type()?;
        if kind.is_dir() {
            collect_files(root, &path, &name, files)?;
        } else if real.is_file() {
            files.push((name.to_string_lossy().replace('\\', "/"), real));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_dot_dot_absolute_or_leading_out_through_a_link_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("t/1")).unwrap();
        std::fs::write(root.join("t/1/results.json"), "{}").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink("t/1", root.join("latest")).unwrap();
        assert_eq!(
            resolve(&root, "t/1/results.json"),
            Ok(root.join("t/1/results.json"))
        );
        assert_eq!(
            resolve(&root, "latest/results.json"),
            Ok(root.join("t/1/results.json"))
        );
        assert_eq!(resolve(&root, ""), Ok(root.clone()));
        for bad in ["../x", "t/../../x", "t/1/..", "./t", "out/secret", "out"] {
            assert_eq!(resolve(&root, bad), Err(Refused::Outside), "{bad}");
        }
        assert_eq!(resolve(&root, "t/2"), Err(Refused::NotFound));
        // A leading `/` is the results folder's root, not the machine's.
        assert_eq!(resolve(&root, "/etc/passwd"), Err(Refused::NotFound));
        assert_eq!(resolve(&root, "/t/1"), Ok(root.join("t/1")));
    }

    #[test]
    fn a_zipped_run_folder_holds_its_files_under_its_name_and_nothing_from_outside() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        let run = root.join("t/20260101T000000Z");
        std::fs::create_dir_all(run.join("nodes")).unwrap();
        std::fs::write(run.join("results.json"), "{\"verdict\":\"valid\"}").unwrap();
        std::fs::write(run.join("nodes/n1.log"), "line\n".repeat(1000)).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), run.join("leak")).unwrap();
        let bytes = zip_folder(&root, &run).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut names: Vec<String> = archive.file_names().map(String::from).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "20260101T000000Z/nodes/n1.log",
                "20260101T000000Z/results.json"
            ]
        );
        let mut log = String::new();
        archive
            .by_name("20260101T000000Z/nodes/n1.log")
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert_eq!(log, "line\n".repeat(1000));
    }
}
