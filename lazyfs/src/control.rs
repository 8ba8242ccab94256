//! The control protocol of a running lazy filesystem: one command per connection on
//! a Unix socket, one line each way. The request is the command's name
//! (`lose-unsynced`, `torn-write`, `stats`, `sync`); the answer one JSON [`Reply`].
//! Text commands, so an operator can also drive a mount with `socat`.

use crate::overlay::{DropReport, Stats};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// What a mount can be asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Drop every unsynced write (a power loss).
    LoseUnsynced,
    /// Write back every unsynced operation but the tail of each file's last write.
    TornWrite,
    /// What is held in memory now.
    Stats,
    /// Make everything durable (a clean shutdown).
    Sync,
}

impl Command {
    pub const ALL: [Command; 4] = [
        Command::LoseUnsynced,
        Command::TornWrite,
        Command::Stats,
        Command::Sync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::LoseUnsynced => "lose-unsynced",
            Command::TornWrite => "torn-write",
            Command::Stats => "stats",
            Command::Sync => "sync",
        }
    }

    pub fn parse(line: &str) -> Result<Command> {
        let line = line.trim();
        Command::ALL
            .into_iter()
            .find(|c| c.name() == line)
            .ok_or_else(|| {
                let names: Vec<&str> = Command::ALL.iter().map(|c| c.name()).collect();
                anyhow!("unknown command {line:?}; commands: {}", names.join(", "))
            })
    }
}

/// A mount's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Reply {
    /// What `lose-unsynced` or `torn-write` dropped.
    Dropped(DropReport),
    Stats(Stats),
    Synced,
    Error {
        message: String,
    },
}

/// Sends `command` to the mount listening on `socket` and returns its answer; an
/// [`Reply::Error`] becomes an error.
pub fn request(socket: &Path, command: Command, timeout: Duration) -> Result<Reply> {
    let mut s = UnixStream::connect(socket)
        .with_context(|| format!("connecting to lazyfs control socket {}", socket.display()))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    writeln!(s, "{}", command.name())?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).with_context(|| {
        format!(
            "reading the answer to {} from {}",
            command.name(),
            socket.display()
        )
    })?;
    let reply: Reply = serde_json::from_str(line.trim())
        .with_context(|| format!("lazyfs answered {:?} to {}", line.trim(), command.name()))?;
    if let Reply::Error { message } = &reply {
        bail!("lazyfs refused {}: {message}", command.name());
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_from_its_name_and_unknown_ones_are_refused_with_the_list() {
        for c in Command::ALL {
            assert_eq!(Command::parse(&format!(" {}\n", c.name())).unwrap(), c);
        }
        let e = Command::parse("drop").unwrap_err().to_string();
        assert!(e.contains("\"drop\"") && e.contains("torn-write"), "{e}");
    }

    #[test]
    fn replies_are_one_tagged_json_line() {
        let r = Reply::Dropped(DropReport {
            files: 2,
            bytes_lost: 10,
            ..Default::default()
        });
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"result":"dropped","files":2,"bytes_lost":10,"bytes_kept":0}"#
        );
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), r);
    }
}
