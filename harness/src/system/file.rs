//! The TOML form of a user's system (`docs/systems.md`). Unknown fields are errors: a
//! misspelt `restart` must not silently restart nodes as fresh members. Programs given
//! as relative paths are relative to the system file, so a file checked into a
//! repository works from any directory.

use super::faults::{FaultClass, FaultSet};
use super::leader::LeaderLookup;
use super::maelstrom;
use super::membership::{MembershipApi, MembershipSpec};
use super::promise::parse_models;
use super::template::CommandTemplate;
use super::{Readiness, SpecSource, SystemSpec};
use crate::adapter::ClientProtocol;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::external::AdapterCommand;

impl SystemSpec {
    /// A user system described by a TOML file (format in `docs/systems.md`). Errors
    /// name the file and the field (and the line, for syntax errors).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<SystemSpec> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("system file {}: cannot read it", path.display()))?;
        SystemSpec::from_toml_str(&text, path)
    }

    /// As [`SystemSpec::from_toml_file`], from text; `path` names the file in errors
    /// and anchors relative paths.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<SystemSpec> {
        let file: SystemFile = toml::from_str(text).map_err(|e| {
            anyhow!(
                "system file {}: {}",
                path.display(),
                e.to_string().trim_end()
            )
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let base = base.canonicalize().unwrap_or(base);
        file.into_spec(path, &base)
            .map_err(|e| anyhow!("system file {}: {e:#}", path.display()))
    }
}

/// The TOML form of a system. Unknown fields are errors: a misspelt `restart` must
/// not silently restart nodes as fresh members.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemFile {
    name: String,
    command: Words,
    restart: Option<Words>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    working_dir: Option<PathBuf>,
    protocol: Option<ClientProtocol>,
    port: u16,
    peer_port: Option<u16>,
    #[serde(default)]
    ready: ReadyFile,
    #[serde(default = "default_leader")]
    leader: LeaderFile,
    faults: Option<Vec<String>>,
    /// The models the system claims to keep: a run's exit code follows them.
    promises: Option<Vec<String>>,
    client: Option<ClientFile>,
    /// `[membership]`: how to add and remove members (`--nemesis membership`).
    membership: Option<MembershipFile>,
    /// Maelstrom nodes only: keep the node's working directory across restarts (for
    /// nodes that persist their state); by default a restarted node starts empty.
    keep_working_dir: Option<bool>,
}

/// `[membership]`: the system's admin commands, run on the controller once per node
/// changed (exit status 0: done), and how a fresh node starts to join.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipFile {
    add: Words,
    remove: Words,
    /// Default: `command`.
    join: Option<Words>,
}

/// `[client]`: the system's client adapter (`docs/adapters.md`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientFile {
    command: Words,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Default: the system file's folder, so `["python3", "client.py"]` finds the
    /// script beside the file from any directory.
    working_dir: Option<PathBuf>,
    /// Passed to the adapter in `init`.
    #[serde(default)]
    settings: toml::Table,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Words {
    Line(String),
    List(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReadyFile {
    /// Path for an HTTP check; the default is `/health`.
    http: Option<String>,
    /// `true` for a TCP connect check instead.
    #[serde(default)]
    tcp: bool,
    timeout_secs: Option<f64>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum LeaderFile {
    None,
    Health,
}

fn default_leader() -> LeaderFile {
    LeaderFile::None
}

impl Words {
    fn template(self, field: &str, base: &Path) -> Result<CommandTemplate> {
        let mut t = match self {
            Words::Line(l) => CommandTemplate::parse_words(&l),
            Words::List(l) => CommandTemplate::from_words(l),
        }
        .with_context(|| format!("field `{field}`"))?;
        // Programs given as relative paths are relative to the system file, so a file
        // checked into a repository works from any directory.
        if t.program.contains('/') && !t.program.starts_with('/') && !t.program.starts_with('{') {
            let relative = t.program.trim_start_matches("./");
            t.program = base.join(relative).display().to_string();
        }
        Ok(t)
    }
}

impl SystemFile {
    fn into_spec(self, path: &Path, base: &Path) -> Result<SystemSpec> {
        if self.name.trim().is_empty() {
            bail!("field `name`: must not be empty");
        }
        let command = self.command.template("command", base)?;
        let restart = self
            .restart
            .map(|r| r.template("restart", base))
            .transpose()?;
        check_program(&command.program).context("field `command`")?;
        if let Some(r) = &restart {
            check_program(&r.program).context("field `restart`")?;
        }
        let readiness = match (self.ready.http, self.ready.tcp) {
            (Some(_), true) => bail!("field `ready`: give either `http` or `tcp = true`, not both"),
            (None, true) => Readiness::Tcp,
            (Some(p), false) if !p.starts_with('/') => {
                bail!("field `ready.http`: the path must start with '/', got {p:?}")
            }
            (Some(p), false) => Readiness::Http { path: p },
            (None, false) => Readiness::Http {
                path: "/health".into(),
            },
        };
        let ready_timeout = match self.ready.timeout_secs {
            None => Duration::from_secs(20),
            Some(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Duration::from_secs_f64(s),
            Some(s) => {
                bail!("field `ready.timeout_secs`: must be between 0 and 3600 seconds, got {s}")
            }
        };
        let self_faults_unset = self.faults.is_none();
        let faults = match self.faults {
            None => FaultSet::ALL_BUT_CLOCK,
            Some(names) => {
                let mut kinds = Vec::new();
                for n in &names {
                    let k = FaultClass::parse(n).ok_or_else(|| {
                        let known: Vec<&str> = FaultClass::ALL.iter().map(|k| k.name()).collect();
                        anyhow!(
                            "field `faults`: unknown fault {n:?} (known: {})",
                            known.join(", ")
                        )
                    })?;
                    kinds.push(k);
                }
                FaultSet::from_classes(&kinds)
            }
        };
        let membership = match self.membership {
            None => None,
            Some(m) => Some(MembershipSpec {
                api: MembershipApi::Commands {
                    add: m.add.template("membership.add", base)?,
                    remove: m.remove.template("membership.remove", base)?,
                },
                join: match m.join {
                    Some(j) => j.template("membership.join", base)?,
                    None => command.clone(),
                },
            }),
        };
        let faults = match (membership.is_some(), faults.membership) {
            (false, true) => bail!(
                "field `faults`: \"membership\" needs a [membership] table with the commands that add and remove a member (docs/systems.md)"
            ),
            (true, _) if self_faults_unset => FaultSet {
                membership: true,
                ..faults
            },
            _ => faults,
        };
        let keep_working_dir = self.keep_working_dir;
        let (protocol, client) = client_of(self.protocol, self.client, base)?;
        let working_dir = self
            .working_dir
            .map(|d| if d.is_absolute() { d } else { base.join(d) });
        let spec = SystemSpec {
            name: self.name,
            command,
            restart,
            extra_args: Vec::new(),
            env: self.env.into_iter().collect(),
            working_dir,
            protocol,
            port: self.port,
            peer_port: self.peer_port,
            readiness,
            cluster_ready: crate::system::ClusterReadiness::Nodes,
            ready_timeout,
            leader: match self.leader {
                LeaderFile::None => LeaderLookup::None,
                LeaderFile::Health => LeaderLookup::Health,
            },
            faults,
            source: SpecSource::File(path.to_path_buf()),
            unavailable: None,
            promises: self
                .promises
                .map(|p| parse_models(p.iter().map(String::as_str)))
                .transpose()
                .map_err(|e| anyhow!("field `promises`: {e}"))?,
            client,
            membership,
        };
        let spec = match (spec.protocol, keep_working_dir) {
            (ClientProtocol::Maelstrom, keep) => maelstrom::wrap(spec, keep.unwrap_or(false))?,
            (_, Some(_)) => bail!(
                "field `keep_working_dir`: only Maelstrom nodes (protocol = \"maelstrom\") have a working directory the harness manages"
            ),
            (_, None) => spec,
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// The protocol and adapter of a system file: `[client]` means the external
/// protocol, and then `protocol` may only say so; without either, the KV protocol.
fn client_of(
    protocol: Option<ClientProtocol>,
    client: Option<ClientFile>,
    base: &Path,
) -> Result<(ClientProtocol, Option<AdapterCommand>)> {
    let Some(c) = client else {
        return match protocol {
            Some(ClientProtocol::External) => bail!(
                "field `protocol`: \"external\" needs a [client] table with the adapter's `command` (docs/adapters.md)"
            ),
            p => Ok((p.unwrap_or(ClientProtocol::Kv), None)),
        };
    };
    if let Some(p) = protocol.filter(|p| *p != ClientProtocol::External) {
        bail!("field `protocol`: {p:?} contradicts the [client] table, whose adapter is how faultline speaks to this system; remove one of them");
    }
    let command = c.command.template("client.command", base)?;
    check_program(&command.program).context("field `client.command`")?;
    let settings = match serde_json::to_value(&c.settings) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => bail!("field `client.settings`: must be a table"),
    };
    let working_dir = c
        .working_dir
        .map(|d| if d.is_absolute() { d } else { base.join(d) })
        .unwrap_or_else(|| base.to_path_buf());
    let adapter = AdapterCommand {
        program: command.program,
        args: command.args,
        env: c.env.into_iter().collect(),
        working_dir: Some(working_dir),
        settings,
    };
    Ok((ClientProtocol::External, Some(adapter)))
}

/// Fails early, with the path, when a program does not exist or is not executable; a
/// bare name is looked up on `PATH`.
pub(crate) fn check_program(program: &str) -> Result<()> {
    if program.contains('{') {
        return Ok(()); // decided per node
    }
    let found = if program.contains('/') {
        Some(PathBuf::from(program))
    } else {
        std::env::var_os("PATH")
            .map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(program))
                    .find(|c| is_executable(c))
            })
            .unwrap_or(None)
    };
    match found {
        Some(p) if is_executable(&p) => Ok(()),
        Some(p) if p.exists() => bail!("program {} is not executable", p.display()),
        Some(p) => bail!("program {} does not exist", p.display()),
        None => bail!("program {program:?} is not on PATH"),
    }
}

pub(crate) fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, dir: &Path) -> Result<SystemSpec> {
        SystemSpec::from_toml_str(text, &dir.join("sys.toml"))
    }

    const NODE: &str = "name = \"a\"\ncommand = \"sh {id}\"\nport = 1\n";

    #[test]
    fn a_client_table_makes_the_system_speak_through_its_adapter() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{NODE}[client]\ncommand = [\"sh\", \"client.sh\", \"--fast\"]\nenv = {{ TOKEN = \"x\" }}\n[client.settings]\ndatabase = \"test\"\nretries = 2\n"
        );
        let spec = parse(&text, dir.path()).unwrap();
        assert_eq!(spec.protocol, ClientProtocol::External);
        let c = spec.client.unwrap();
        assert_eq!(
            (c.program.as_str(), c.args.clone()),
            ("sh", vec!["client.sh".to_string(), "--fast".into()])
        );
        assert_eq!(c.env, vec![("TOKEN".to_string(), "x".to_string())]);
        // Relative script names are found beside the system file, from any directory.
        assert_eq!(c.working_dir.unwrap(), dir.path().canonicalize().unwrap());
        assert_eq!(
            serde_json::Value::Object(c.settings),
            serde_json::json!({"database": "test", "retries": 2})
        );
        let spec = parse(NODE, dir.path()).unwrap();
        assert_eq!((spec.protocol, spec.client), (ClientProtocol::Kv, None));
    }

    #[test]
    fn a_client_table_that_contradicts_the_protocol_or_is_missing_is_refused_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let err = |text: String| format!("{:#}", parse(&text, dir.path()).unwrap_err());
        let e = err(format!(
            "{NODE}protocol = \"kv\"\n[client]\ncommand = \"sh c.sh\"\n"
        ));
        assert!(
            e.contains("field `protocol`") && e.contains("[client]"),
            "{e}"
        );
        let e = err(format!("{NODE}protocol = \"external\"\n"));
        assert!(
            e.contains("field `protocol`") && e.contains("needs a [client] table"),
            "{e}"
        );
        let e = err(format!("{NODE}[client]\ncommand = \"./no-such-adapter\"\n"));
        assert!(
            e.contains("`client.command`") && e.contains("does not exist"),
            "{e}"
        );
        let e = err(format!("{NODE}[client]\ncommand = \"sh\"\ncwd = \"/\"\n"));
        assert!(e.contains("cwd"), "{e}");
        let ok = parse(
            &format!("{NODE}protocol = \"external\"\n[client]\ncommand = \"sh c.sh\"\n"),
            dir.path(),
        );
        assert_eq!(ok.unwrap().protocol, ClientProtocol::External);
    }
}
