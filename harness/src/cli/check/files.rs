//! Finding history files under the paths given.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Expands directories (recursively, sorted) into the history files they hold; a
/// run's results folder gives its history alone.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| path.display().to_string())?;
        if let Some(history) = run_history(path) {
            files.push(history);
        } else if meta.is_dir() {
            walk(path, &mut files).with_context(|| path.display().to_string())?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

const HISTORY_EXTENSIONS: &[&str] = &["jsonl", "json", "edn", "log", "txt"];

/// The history of a run's results folder (`history.jsonl` beside the run's
/// `test.json`): its other files (results, node logs, the test) are not histories.
fn run_history(dir: &Path) -> Option<PathBuf> {
    let history = dir.join("history.jsonl");
    (history.is_file() && dir.join("test.json").is_file()).then_some(history)
}

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
        if let Some(history) = run_history(&path) {
            files.push(history);
        } else if path.is_dir() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_gives_its_history_alone_and_other_folders_every_history_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("runs/20261207T1");
        std::fs::create_dir_all(run.join("nodes")).unwrap();
        for f in ["history.jsonl", "test.json", "results.json", "nodes/n1.log"] {
            std::fs::write(run.join(f), "").unwrap();
        }
        let loose = dir.path().join("loose");
        std::fs::create_dir_all(&loose).unwrap();
        for f in ["a.edn", "b.jsonl", "notes.md"] {
            std::fs::write(loose.join(f), "").unwrap();
        }
        assert_eq!(
            collect(std::slice::from_ref(&run)).unwrap(),
            vec![run.join("history.jsonl")]
        );
        assert_eq!(
            collect(&[dir.path().to_path_buf()]).unwrap(),
            vec![
                loose.join("a.edn"),
                loose.join("b.jsonl"),
                run.join("history.jsonl")
            ]
        );
    }
}
