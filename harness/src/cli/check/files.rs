//! Finding history files under the paths given.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Expands directories (recursively, sorted) into the history files they hold.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| path.display().to_string())?;
        if meta.is_dir() {
            walk(path, &mut files).with_context(|| path.display().to_string())?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

const HISTORY_EXTENSIONS: &[&str] = &["jsonl", "json", "edn", "log", "txt"];

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| HISTORY_EXTENSIONS.contains(&e))
        {
            files.push(path);
        }
    }
    Ok(())
}
