//! What a system under test is, as far as the cluster is concerned: how to start a
//! node, how to tell it is ready, how to talk to it, and which faults make sense.
//!
//! Built-in reference systems are a few lines each in [`SystemSpec::builtin`]; any
//! other system is described by a TOML file ([`SystemSpec::from_toml_file`], format in
//! `docs/systems.md`), which is how users test their own implementations.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The built-in systems `faultline test --system NAME` knows.
pub const BUILTIN_NAMES: &[&str] = &[
    "raft-kv",
    "dynamo-kv",
    "pb-kv",
    "cl-bank",
    "etcd",
    "redis-sentinel",
];

/// How the harness's clients speak to the system. New real systems (etcd, Redis) add a
/// variant and a client in the workloads crate; nothing else changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ClientProtocol {
    /// The faultline KV protocol (`docs/protocol.md`).
    Kv,
    /// etcd v3's HTTP JSON gateway (`workloads::etcd`).
    Etcd,
    /// Redis (RESP), primaries found through Sentinel (`workloads::redis`).
    Redis,
}

impl fmt::Display for ClientProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientProtocol::Kv => f.write_str("kv"),
            ClientProtocol::Etcd => f.write_str("etcd"),
            ClientProtocol::Redis => f.write_str("redis"),
        }
    }
}

/// How the harness decides a node is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// `GET http://ip:port{path}` answers 2xx.
    Http { path: String },
    /// A TCP connection to `ip:port` is accepted (systems without an HTTP endpoint).
    Tcp,
}

/// How the harness finds the current leader or primary, if the system has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderLookup {
    /// The system has no leader (or the harness cannot ask).
    None,
    /// The `leader` field of `GET /health` (faultline KV protocol).
    Health,
    /// etcd's `/v3/maintenance/status`: the leader's member id, matched to a node.
    EtcdStatus,
    /// The primary most Redis sentinels name (`SENTINEL get-master-addr-by-name`).
    RedisSentinel,
}

/// One kind of fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    Partition,
    Kill,
    Pause,
    Clock,
    Packet,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Partition,
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::Packet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Clock => "clock",
            FaultKind::Packet => "packet",
        }
    }

    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The faults a system supports. Clock faults are opt-in because libfaketime only
/// moves clocks read through libc: a Go binary, or anything reading the vDSO or
/// `rdtsc` itself, would silently ignore them and the test would prove nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSet {
    pub partition: bool,
    pub kill: bool,
    pub pause: bool,
    pub clock: bool,
    pub packet: bool,
}

impl FaultSet {
    pub const ALL: FaultSet = FaultSet {
        partition: true,
        kill: true,
        pause: true,
        clock: true,
        packet: true,
    };
    /// Everything but clock faults: the default for a system described by a file.
    pub const ALL_BUT_CLOCK: FaultSet = FaultSet {
        clock: false,
        ..FaultSet::ALL
    };

    pub fn supports(&self, kind: FaultKind) -> bool {
        match kind {
            FaultKind::Partition => self.partition,
            FaultKind::Kill => self.kill,
            FaultKind::Pause => self.pause,
            FaultKind::Clock => self.clock,
            FaultKind::Packet => self.packet,
        }
    }

    pub fn kinds(&self) -> Vec<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .filter(|k| self.supports(*k))
            .collect()
    }

    fn from_kinds(kinds: &[FaultKind]) -> FaultSet {
        let has = |k| kinds.contains(&k);
        FaultSet {
            partition: has(FaultKind::Partition),
            kill: has(FaultKind::Kill),
            pause: has(FaultKind::Pause),
            clock: has(FaultKind::Clock),
            packet: has(FaultKind::Packet),
        }
    }
}

/// Where a spec came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    Builtin,
    File(PathBuf),
}

/// A command line with `{placeholder}`s, one template per argument, so a substituted
/// value (a data directory with a space in it) never splits into two arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTemplate {
    pub program: String,
    pub args: Vec<String>,
}

/// Placeholders a command template may use. `{{` and `}}` stand for literal braces.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("id", "the node's id: n1, n2, ..."),
    ("index", "the node's number: 1, 2, ..."),
    ("ip", "the node's IP address"),
    ("port", "the client port"),
    ("addr", "ip:port, the address the node serves clients on"),
    (
        "peers",
        "every node (this one included) as id=ip:port, comma-separated",
    ),
    ("others", "every other node as id=ip:port, comma-separated"),
    (
        "data_dir",
        "the node's own data directory, kept across restarts",
    ),
    ("node_count", "the number of nodes"),
    ("peer_port", "the peer port (needs `peer_port`)"),
    ("peer_addr", "ip:peer_port (needs `peer_port`)"),
    (
        "initial_cluster",
        "every node as id=http://ip:peer_port, comma-separated, etcd style (needs `peer_port`)",
    ),
];

/// What a template is filled in with for one node.
#[derive(Debug, Clone)]
pub struct NodeVars<'a> {
    pub id: &'a str,
    pub index: usize,
    pub ip: Ipv4Addr,
    pub data_dir: &'a Path,
    /// Every node of the cluster, this one included, in order.
    pub members: &'a [(String, Ipv4Addr)],
}

impl CommandTemplate {
    /// A template from whitespace-separated words (no quoting: use the list form in a
    /// TOML file for an argument with spaces).
    pub fn parse_words(line: &str) -> Result<CommandTemplate> {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        CommandTemplate::from_words(words)
    }

    pub fn from_words(mut words: Vec<String>) -> Result<CommandTemplate> {
        if words.is_empty() || words[0].trim().is_empty() {
            bail!("the command is empty");
        }
        let program = words.remove(0);
        Ok(CommandTemplate {
            program,
            args: words,
        })
    }

    fn words(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.program).chain(self.args.iter())
    }

    /// Checks every placeholder is known (and usable with this spec).
    pub fn validate(&self, has_peer_port: bool) -> Result<()> {
        for w in self.words() {
            for name in placeholders_in(w)? {
                if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
                    let known: Vec<String> = PLACEHOLDERS
                        .iter()
                        .map(|(p, _)| format!("{{{p}}}"))
                        .collect();
                    bail!("unknown placeholder {{{name}}} in {} (known: {}; write {{{{ and }}}} for literal braces)", excerpt(w), known.join(", "));
                }
                if !has_peer_port
                    && matches!(name.as_str(), "peer_port" | "peer_addr" | "initial_cluster")
                {
                    bail!(
                        "placeholder {{{name}}} in {} needs `peer_port` to be set",
                        excerpt(w)
                    );
                }
            }
        }
        Ok(())
    }

    /// The program and arguments for one node.
    pub fn render(&self, spec: &SystemSpec, vars: &NodeVars) -> Result<(String, Vec<String>)> {
        let program = render_word(&self.program, spec, vars)?;
        let args = self
            .args
            .iter()
            .map(|a| render_word(a, spec, vars))
            .collect::<Result<Vec<_>>>()?;
        Ok((program, args))
    }
}

impl fmt::Display for CommandTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.words().map(String::as_str).collect();
        f.write_str(&words.join(" "))
    }
}

/// A word as quoted in an error message, shortened if it is an inline script.
fn excerpt(word: &str) -> String {
    if word.chars().count() <= 60 {
        format!("{word:?}")
    } else {
        let head: String = word.chars().take(57).collect();
        format!("{head:?}...")
    }
}

fn placeholders_in(word: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = word;
    while let Some(i) = rest.find(['{', '}']) {
        let c = rest.as_bytes()[i];
        let after = &rest[i + 1..];
        if after.starts_with(c as char) {
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            bail!(
                "unmatched '}}' in {} (write '}}}}' for a literal brace)",
                excerpt(word)
            );
        }
        let end = after.find('}').ok_or_else(|| {
            anyhow!(
                "unclosed '{{' in {} (write '{{{{' for a literal brace)",
                excerpt(word)
            )
        })?;
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

fn render_word(word: &str, spec: &SystemSpec, v: &NodeVars) -> Result<String> {
    let peer_port = spec.peer_port;
    let need_peer =
        |name: &str| peer_port.ok_or_else(|| anyhow!("{{{name}}} needs the system's peer_port"));
    let join = |f: &dyn Fn(&str, Ipv4Addr) -> String, skip_self: bool| -> String {
        v.members
            .iter()
            .filter(|(id, _)| !(skip_self && id == v.id))
            .map(|(id, ip)| f(id, *ip))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i] as char;
        let after = &rest[i + 1..];
        if after.starts_with(c) {
            out.push(c);
            rest = &after[1..];
            continue;
        }
        if c == '}' {
            bail!("unmatched '}}' in {word:?}");
        }
        let end = after
            .find('}')
            .ok_or_else(|| anyhow!("unclosed '{{' in {word:?}"))?;
        let name = &after[..end];
        let port = spec.port;
        let value = match name {
            "id" => v.id.to_string(),
            "index" => v.index.to_string(),
            "ip" => v.ip.to_string(),
            "port" => port.to_string(),
            "addr" => format!("{}:{port}", v.ip),
            "peers" => join(&|id, ip| format!("{id}={ip}:{port}"), false),
            "others" => join(&|id, ip| format!("{id}={ip}:{port}"), true),
            "data_dir" => v.data_dir.display().to_string(),
            "node_count" => v.members.len().to_string(),
            "peer_port" => need_peer(name)?.to_string(),
            "peer_addr" => format!("{}:{}", v.ip, need_peer(name)?),
            "initial_cluster" => {
                let pp = need_peer(name)?;
                join(&|id, ip| format!("{id}=http://{ip}:{pp}"), false)
            }
            other => bail!("unknown placeholder {{{other}}} in {word:?}"),
        };
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One node's command line, with every placeholder filled in: program, arguments and
/// extra environment (on top of the harness's own).
pub type RenderedCommand = (String, Vec<String>, Vec<(String, String)>);

/// Everything the harness needs to know about a system under test.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    pub name: String,
    /// How to start a node for the first time.
    pub command: CommandTemplate,
    /// How to start a node again after a kill, from its existing data directory
    /// (e.g. etcd's `--initial-cluster-state existing`); `None` means as `command`.
    pub restart: Option<CommandTemplate>,
    /// Appended to both commands: bug switches and tuning chosen per test.
    pub extra_args: Vec<String>,
    /// Extra environment for each node; values are templates like the command's.
    pub env: Vec<(String, String)>,
    /// The node's working directory; `None` means its data directory.
    pub working_dir: Option<PathBuf>,
    pub protocol: ClientProtocol,
    /// The port clients connect to, on every node's own IP.
    pub port: u16,
    /// A second port for peer traffic, for systems that separate them (etcd).
    pub peer_port: Option<u16>,
    pub readiness: Readiness,
    /// How long a node may take to become ready at start.
    pub ready_timeout: Duration,
    pub leader: LeaderLookup,
    pub faults: FaultSet,
    pub source: SpecSource,
}

impl SystemSpec {
    /// A built-in reference system by name (see [`BUILTIN_NAMES`]).
    pub fn builtin(name: &str) -> Result<SystemSpec> {
        match name {
            "raft-kv" => SystemSpec::kv_reference("raft-kv", LeaderLookup::Health),
            "dynamo-kv" => SystemSpec::kv_reference("dynamo-kv", LeaderLookup::None),
            // cl-bank speaks the bank endpoints, not the KV protocol: the runner gives it
            // the bank workload's client and refuses other workloads.
            "pb-kv" => SystemSpec::kv_reference("pb-kv", LeaderLookup::Health),
            // Chandy-Lamport assumes no failures and reliable FIFO channels: crashes lose
            // its in-memory state and partitions stall every snapshot, so only faults
            // that delay (pauses, packet delay and loss, which its channels resend
            // through) are allowed.
            "cl-bank" => SystemSpec::kv_reference("cl-bank", LeaderLookup::None).map(|spec| SystemSpec {
                faults: FaultSet { partition: false, kill: false, clock: false, ..FaultSet::ALL },
                ..spec
            }),
            "etcd" => crate::real_systems::etcd(),
            "redis-sentinel" => crate::real_systems::redis_sentinel(),
            other => bail!("unknown system {other:?}: built-in systems are {}; for your own system pass a TOML file (see docs/systems.md)", BUILTIN_NAMES.join(", ")),
        }
    }

    /// A built-in name, or else a path to a TOML system file.
    pub fn resolve(name_or_file: &str) -> Result<SystemSpec> {
        if BUILTIN_NAMES.contains(&name_or_file) {
            return SystemSpec::builtin(name_or_file);
        }
        let path = Path::new(name_or_file);
        if name_or_file.ends_with(".toml") || path.is_file() {
            return SystemSpec::from_toml_file(path);
        }
        SystemSpec::builtin(name_or_file)
    }

    /// The reference systems share one command line (`--id --listen --peers
    /// --data-dir`), the KV protocol and `/health`.
    fn kv_reference(name: &str, leader: LeaderLookup) -> Result<SystemSpec> {
        let bin = find_workspace_binary(name)?;
        let command = CommandTemplate {
            program: bin.display().to_string(),
            args: [
                "--id",
                "{id}",
                "--listen",
                "{addr}",
                "--peers",
                "{peers}",
                "--data-dir",
                "{data_dir}",
            ]
            .map(String::from)
            .to_vec(),
        };
        Ok(SystemSpec {
            name: name.to_string(),
            command,
            restart: None,
            extra_args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            protocol: ClientProtocol::Kv,
            port: 8080,
            peer_port: None,
            readiness: Readiness::Http {
                path: "/health".into(),
            },
            ready_timeout: Duration::from_secs(20),
            leader,
            faults: FaultSet::ALL,
            source: SpecSource::Builtin,
        })
    }

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

    /// Adds arguments to both the start and restart commands.
    pub fn with_extra_args(
        mut self,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> SystemSpec {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Describes where this spec came from, for messages.
    pub fn origin(&self) -> String {
        match &self.source {
            SpecSource::Builtin => format!("built-in system {}", self.name),
            SpecSource::File(p) => format!("system {} ({})", self.name, p.display()),
        }
    }

    /// Checks the templates; called by the cluster before it starts anything.
    pub fn validate(&self) -> Result<()> {
        self.command
            .validate(self.peer_port.is_some())
            .context("field `command`")?;
        if let Some(r) = &self.restart {
            r.validate(self.peer_port.is_some())
                .context("field `restart`")?;
        }
        for (k, v) in &self.env {
            CommandTemplate {
                program: v.clone(),
                args: vec![],
            }
            .validate(self.peer_port.is_some())
            .with_context(|| format!("field `env.{k}`"))?;
        }
        if self.port == 0 {
            bail!("field `port`: must be between 1 and 65535");
        }
        if self.peer_port == Some(self.port) {
            bail!("field `peer_port`: must differ from `port` ({})", self.port);
        }
        Ok(())
    }

    /// The argv and environment of one node, for its first start or a restart.
    pub fn render(&self, vars: &NodeVars, restart: bool) -> Result<RenderedCommand> {
        let template = match (&self.restart, restart) {
            (Some(r), true) => r,
            _ => &self.command,
        };
        let (program, mut args) = template.render(self, vars)?;
        args.extend(self.extra_args.iter().cloned());
        let env = self
            .env
            .iter()
            .map(|(k, v)| Ok((k.clone(), render_word(v, self, vars)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((program, args, env))
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
    #[serde(default = "default_protocol")]
    protocol: ClientProtocol,
    port: u16,
    peer_port: Option<u16>,
    #[serde(default)]
    ready: ReadyFile,
    #[serde(default = "default_leader")]
    leader: LeaderFile,
    faults: Option<Vec<String>>,
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

fn default_protocol() -> ClientProtocol {
    ClientProtocol::Kv
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
        let faults = match self.faults {
            None => FaultSet::ALL_BUT_CLOCK,
            Some(names) => {
                let mut kinds = Vec::new();
                for n in &names {
                    let k = FaultKind::parse(n).ok_or_else(|| {
                        let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                        anyhow!(
                            "field `faults`: unknown fault {n:?} (known: {})",
                            known.join(", ")
                        )
                    })?;
                    kinds.push(k);
                }
                FaultSet::from_kinds(&kinds)
            }
        };
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
            protocol: self.protocol,
            port: self.port,
            peer_port: self.peer_port,
            readiness,
            ready_timeout,
            leader: match self.leader {
                LeaderFile::None => LeaderLookup::None,
                LeaderFile::Health => LeaderLookup::Health,
            },
            faults,
            source: SpecSource::File(path.to_path_buf()),
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// Fails early, with the path, when a program does not exist or is not executable; a
/// bare name is looked up on `PATH`.
fn check_program(program: &str) -> Result<()> {
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

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds a workspace binary (a reference system) next to the running executable, or
/// in the workspace's `target/release` or `target/debug`.
pub fn find_workspace_binary(name: &str) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join(name));
            // Test binaries live in target/<profile>/deps.
            if dir.ends_with("deps") {
                if let Some(up) = dir.parent() {
                    candidates.push(up.join(name));
                }
            }
        }
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf);
    for root in workspace.into_iter().chain(std::env::current_dir().ok()) {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        candidates.push(target.join("release").join(name));
        candidates.push(target.join("debug").join(name));
    }
    if let Some(found) = candidates.iter().find(|c| is_executable(c)) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    bail!(
        "the {name} binary was not found (looked in: {}); build it with `cargo build --release -p {name}`",
        looked.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(command: &str, peer_port: Option<u16>) -> SystemSpec {
        SystemSpec {
            name: "t".into(),
            command: CommandTemplate::parse_words(command).unwrap(),
            restart: None,
            extra_args: vec![],
            env: vec![],
            working_dir: None,
            protocol: ClientProtocol::Kv,
            port: 7000,
            peer_port,
            readiness: Readiness::Tcp,
            ready_timeout: Duration::from_secs(1),
            leader: LeaderLookup::None,
            faults: FaultSet::ALL,
            source: SpecSource::Builtin,
        }
    }

    fn members() -> Vec<(String, Ipv4Addr)> {
        vec![
            ("n1".into(), Ipv4Addr::new(10, 77, 3, 1)),
            ("n2".into(), Ipv4Addr::new(10, 77, 3, 2)),
        ]
    }

    #[test]
    fn renders_every_placeholder() {
        let spec = spec_with(
            "/bin/x --id={id} {index} {addr} {peers} {others} {data_dir} {node_count} {peer_addr} {initial_cluster} {{lit}}",
            Some(7001),
        );
        spec.validate().unwrap();
        let m = members();
        let vars = NodeVars {
            id: "n2",
            index: 2,
            ip: m[1].1,
            data_dir: Path::new("/d/n2"),
            members: &m,
        };
        let (program, args, _) = spec.render(&vars, false).unwrap();
        assert_eq!(program, "/bin/x");
        assert_eq!(
            args,
            vec![
                "--id=n2",
                "2",
                "10.77.3.2:7000",
                "n1=10.77.3.1:7000,n2=10.77.3.2:7000",
                "n1=10.77.3.1:7000",
                "/d/n2",
                "2",
                "10.77.3.2:7001",
                "n1=http://10.77.3.1:7001,n2=http://10.77.3.2:7001",
                "{lit}"
            ]
        );
    }

    #[test]
    fn rejects_unknown_and_unusable_placeholders() {
        let e = spec_with("/bin/x {nope}", None).validate().unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown placeholder {nope}"),
            "{e:#}"
        );
        let e = spec_with("/bin/x {peer_addr}", None)
            .validate()
            .unwrap_err();
        assert!(format!("{e:#}").contains("needs `peer_port`"), "{e:#}");
        let e = spec_with("/bin/x {id", None).validate().unwrap_err();
        assert!(format!("{e:#}").contains("unclosed"), "{e:#}");
    }

    #[test]
    fn restart_template_and_extra_args() {
        let mut spec =
            spec_with("/bin/x --new {id}", None).with_extra_args(["--bug", "stale-read"]);
        spec.restart = Some(CommandTemplate::parse_words("/bin/x --existing {id}").unwrap());
        let m = members();
        let vars = NodeVars {
            id: "n1",
            index: 1,
            ip: m[0].1,
            data_dir: Path::new("/d"),
            members: &m,
        };
        assert_eq!(
            spec.render(&vars, false).unwrap().1,
            vec!["--new", "n1", "--bug", "stale-read"]
        );
        assert_eq!(
            spec.render(&vars, true).unwrap().1,
            vec!["--existing", "n1", "--bug", "stale-read"]
        );
    }

    #[test]
    fn toml_file_full_form() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my.toml");
        let text = r#"
name = "my-kv"
command = ["/bin/sh", "-c", "exec sleep 1000", "{id}"]
restart = "/bin/sh -c true {id}"
port = 9000
peer_port = 9001
leader = "health"
faults = ["partition", "kill", "clock"]
[env]
NODE = "{id}@{ip}"
[ready]
tcp = true
timeout_secs = 5
"#;
        std::fs::write(&path, text).unwrap();
        let spec = SystemSpec::from_toml_file(&path).unwrap();
        assert_eq!(spec.name, "my-kv");
        assert_eq!(spec.command.args, vec!["-c", "exec sleep 1000", "{id}"]);
        assert_eq!(
            spec.restart.as_ref().unwrap().args,
            vec!["-c", "true", "{id}"]
        );
        assert_eq!(spec.readiness, Readiness::Tcp);
        assert_eq!(spec.ready_timeout, Duration::from_secs(5));
        assert_eq!(spec.leader, LeaderLookup::Health);
        assert_eq!(
            spec.faults.kinds(),
            vec![FaultKind::Partition, FaultKind::Kill, FaultKind::Clock]
        );
        assert_eq!(
            spec.env,
            vec![("NODE".to_string(), "{id}@{ip}".to_string())]
        );
        assert_eq!(spec.source, SpecSource::File(path.clone()));
    }

    #[test]
    fn toml_defaults() {
        let spec = SystemSpec::from_toml_str(
            "name = \"a\"\ncommand = \"sh {id}\"\nport = 1\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(
            spec.readiness,
            Readiness::Http {
                path: "/health".into()
            }
        );
        assert_eq!(spec.protocol, ClientProtocol::Kv);
        assert!(!spec.faults.clock && spec.faults.kill && spec.faults.partition);
        assert_eq!(spec.leader, LeaderLookup::None);
    }

    #[test]
    fn toml_errors_name_file_and_field() {
        let check = |text: &str, want: &[&str]| {
            let e = format!(
                "{:#}",
                SystemSpec::from_toml_str(text, Path::new("/tmp/sys.toml")).unwrap_err()
            );
            assert!(e.contains("/tmp/sys.toml"), "{e}");
            for w in want {
                assert!(e.contains(w), "missing {w:?} in {e}");
            }
        };
        check(
            "name = \"a\"\ncommand = \"sh\"\nport = 1\nrestrat = \"sh\"\n",
            &["restrat", "line 4"],
        );
        check("name = \"a\"\ncommand = \"sh\"\n", &["port"]);
        check(
            "name = \"a\"\ncommand = \"sh\"\nport = 70000\n",
            &["port", "line 3"],
        );
        check(
            "name = \"a\"\ncommand = \"sh {bad}\"\nport = 1\n",
            &["`command`", "{bad}"],
        );
        check(
            "name = \"a\"\ncommand = \"sh\"\nport = 1\nfaults = [\"nuke\"]\n",
            &["`faults`", "nuke"],
        );
        check(
            "name = \"a\"\ncommand = \"sh\"\nport = 1\nprotocol = \"smtp\"\n",
            &["protocol", "smtp"],
        );
        check(
            "name = \"a\"\ncommand = \"./no-such-binary {id}\"\nport = 1\n",
            &["`command`", "does not exist"],
        );
        check(
            "name = \"a\"\ncommand = \"sh\"\nport = 1\n[ready]\nhttp = \"health\"\n",
            &["ready.http", "'/'"],
        );
    }

    #[test]
    fn unknown_builtin_lists_the_known_ones() {
        let e = SystemSpec::builtin("nope").unwrap_err().to_string();
        assert!(
            e.contains("raft-kv") && e.contains("docs/systems.md"),
            "{e}"
        );
    }
}
