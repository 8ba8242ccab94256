//! `corrupt` and `truncate` over ssh: the nemesis picks a file among those the node
//! wrote ([`list`], run on its host) and damages it there ([`damage`]): bits
//! inverted with `dd` and `od`, or the file cut with `truncate`, then synced. With
//! disk faults on the lazy filesystem the damage goes through the mount, as it does
//! locally.

use super::remote::node_dir;
use anyhow::{anyhow, Result};
use nemesis::control::Damage;
use shell_words::quote;

/// Problems that stop a host from damaging files (one `problem:` line each).
pub fn preflight(kinds: &str) -> String {
    format!(
        "for c in find dd od truncate; do command -v $c >/dev/null 2>&1 || echo \"problem: $c is not installed (disk faults ({k}) need it)\"; done\n",
        k = kinds.replace(['\'', '"', '$', '`'], "")
    )
}

fn data_dir(run_id: &str, node: &str) -> String {
    format!("{}/data", node_dir(run_id, node))
}

/// Prints `<size> <path>` for every non-empty file under the node's data directory.
pub fn list(run_id: &str, node: &str) -> String {
    format!(
        "cd {} && find . -type f -size +0c -printf '%s %P\\n'\n",
        quote(&data_dir(run_id, node))
    )
}

/// The files of [`list`]'s output, relative, with sizes, sorted by path.
pub fn parse_list(out: &str) -> Result<Vec<(String, u64)>> {
    let mut files = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (size, path) = l
                .split_once(' ')
                .ok_or_else(|| anyhow!("unexpected line {l:?} in the file list"))?;
            let size = size
                .parse()
                .map_err(|_| anyhow!("unexpected size in {l:?}"))?;
            Ok((path.to_string(), size))
        })
        .collect::<Result<Vec<_>>>()?;
    files.sort();
    Ok(files)
}

/// Damages `file` of the node's data directory and syncs it.
pub fn damage(run_id: &str, node: &str, file: &str, damage: Damage) -> String {
    let f = quote(&format!("{}/{file}", data_dir(run_id, node))).into_owned();
    let head = format!("f={f}\n[ -f \"$f\" ] || {{ echo \"no file $f\" >&2; exit 1; }}\n");
    match damage {
        // Each byte read, inverted and written back as an octal escape of printf.
        Damage::Flip { offset, len } => format!(
            "{head}s=''; for b in $(dd if=\"$f\" bs=1 skip={offset} count={len} 2>/dev/null | od -An -v -tu1); do s=\"$s\\\\$(printf %03o $((255 - b)))\"; done\n\
             printf \"$s\" | dd of=\"$f\" bs=1 seek={offset} conv=notrunc,fsync 2>/dev/null\n"
        ),
        Damage::Truncate { to } => {
            format!("{head}truncate -s {to} \"$f\" && {{ sync \"$f\" 2>/dev/null || sync; }}\n")
        }
    }
}

impl super::Inner {
    pub(super) fn data_files(&self, node: &str) -> Result<Vec<(String, u64)>> {
        self.check_live()?;
        let i = self.index_of(node)?;
        parse_list(&self.run_blocking(i, &list(&self.run_id, node))?)
    }

    pub(super) fn damage_file(&self, node: &str, file: &str, how: Damage) -> Result<()> {
        self.check_live()?;
        let i = self.index_of(node)?;
        self.run_blocking(i, &damage(&self.run_id, node, file, how))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .args(["-c", script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_scripts_list_flip_and_cut_a_nodes_files_as_the_local_damage_does() {
        let run = crate::backend::netns::naming::new_run_id();
        let data = data_dir(&run, "n1");
        std::fs::create_dir_all(format!("{data}/sub")).unwrap();
        let bytes: Vec<u8> = (0..=255u8).collect();
        std::fs::write(format!("{data}/sub/log.bin"), &bytes).unwrap();
        std::fs::write(format!("{data}/a"), b"x").unwrap();
        std::fs::write(format!("{data}/empty"), b"").unwrap();
        let files = parse_list(&sh(&list(&run, "n1")));
        sh(&damage(
            &run,
            "n1",
            "sub/log.bin",
            Damage::Flip { offset: 0, len: 16 },
        ));
        sh(&damage(
            &run,
            "n1",
            "sub/log.bin",
            Damage::Flip {
                offset: 250,
                len: 6,
            },
        ));
        let flipped = std::fs::read(format!("{data}/sub/log.bin")).unwrap();
        sh(&damage(
            &run,
            "n1",
            "sub/log.bin",
            Damage::Truncate { to: 100 },
        ));
        let cut = std::fs::metadata(format!("{data}/sub/log.bin"))
            .unwrap()
            .len();
        let missing = std::process::Command::new("sh")
            .args([
                "-c",
                &damage(&run, "n1", "nope", Damage::Truncate { to: 1 }),
            ])
            .output()
            .unwrap();
        std::fs::remove_dir_all(super::super::remote::run_root(&run)).unwrap();
        assert_eq!(
            files.unwrap(),
            [("a".to_string(), 1), ("sub/log.bin".to_string(), 256)]
        );
        let expected: Vec<u8> = bytes
            .iter()
            .enumerate()
            .map(|(i, b)| if (16..250).contains(&i) { *b } else { !b })
            .collect();
        assert_eq!(flipped, expected);
        assert_eq!(cut, 100);
        assert!(!missing.status.success());
        assert!(String::from_utf8_lossy(&missing.stderr).contains("no file"));
    }
}
