//! What a system under test is: how to start a node, how to tell it is ready, how to
//! talk to it, how to find its leader, and which faults make sense for it.
//!
//! Built-in systems are in [`builtin`]; any other system is a TOML file ([`file`],
//! format in `docs/systems.md`), which is how users test their own implementations.

pub mod builtin;
pub mod faults;
pub mod file;
pub mod leader;
pub mod maelstrom;
pub mod membership;
pub mod promise;
pub mod ready;
pub mod template;

pub use builtin::BUILTIN_NAMES;
pub use faults::{FaultClass, FaultSet};
pub use leader::LeaderLookup;
pub use promise::{Model, PromiseSource, Promises};
pub use ready::ClusterReadiness;
pub use template::{CommandTemplate, NodeVars, PLACEHOLDERS};

use crate::adapter::ClientProtocol;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the harness decides a node is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// `GET http://ip:port{path}` answers 2xx.
    Http { path: String },
    /// A TCP connection to `ip:port` is accepted (systems without an HTTP endpoint).
    Tcp,
}

/// Where a spec came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecSource {
    Builtin,
    File(PathBuf),
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
    /// What must hold of the whole cluster once every node is ready.
    pub cluster_ready: ClusterReadiness,
    /// How long a node may take to become ready at start.
    pub ready_timeout: Duration,
    pub leader: LeaderLookup,
    pub faults: FaultSet,
    pub source: SpecSource,
    /// Why this system cannot start on this machine (a reference binary not built
    /// yet), said before anything starts.
    pub unavailable: Option<String>,
    /// The models a system file says the system keeps (`promises = [...]`); `None`
    /// when it says nothing. Built-in systems' promises depend on their settings:
    /// [`SystemSpec::promises_for`].
    pub promises: Option<Vec<Model>>,
    /// The client adapter a system file's `[client]` table names, for
    /// [`ClientProtocol::External`] (`docs/adapters.md`).
    pub client: Option<workloads::external::AdapterCommand>,
    /// How to change the membership (`--nemesis membership`); `None`: the harness
    /// cannot.
    pub membership: Option<membership::MembershipSpec>,
}

impl SystemSpec {
    /// A built-in name, or else a path to a TOML system file.
    pub fn resolve(name_or_file: &str) -> Result<SystemSpec> {
        if let Some(path) = name_or_file.strip_prefix(maelstrom::PREFIX) {
            return maelstrom::binary_spec(path);
        }
        if BUILTIN_NAMES.contains(&name_or_file) {
            return builtin::builtin(name_or_file);
        }
        let path = Path::new(name_or_file);
        if name_or_file.ends_with(".toml") || path.is_file() {
            return SystemSpec::from_toml_file(path);
        }
        builtin::builtin(name_or_file)
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

    /// What the system promises when run with these node arguments and etcd read
    /// mode: a built-in's promises per setting, a system file's as written.
    pub fn promises_for(
        &self,
        system_args: &[String],
        etcd_reads: workloads::etcd::EtcdReads,
        isolation: workloads::sql::Isolation,
    ) -> Option<Vec<Model>> {
        match self.source {
            SpecSource::Builtin => {
                builtin::promises::for_settings(&self.name, system_args, etcd_reads, isolation)
            }
            SpecSource::File(_) => self.promises.clone(),
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
        if let Some(m) = &self.membership {
            m.validate(self.peer_port.is_some())?;
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

    /// Why nodes of this system cannot share a host, each on ports of its own (if
    /// they cannot): every command it starts a node with must take the client port
    /// from a placeholder (`{port}` or `{addr}`), and the peer port too (`{peer_port}`
    /// or `{peer_addr}`) when it has one; otherwise two nodes would listen on one port.
    pub fn check_port_shifts(&self) -> Result<()> {
        let mut templates = vec![("command", &self.command)];
        templates.extend(self.restart.iter().map(|r| ("restart", r)));
        templates.extend(self.membership.iter().map(|m| ("membership.join", &m.join)));
        let env: Vec<String> = self.env.iter().map(|(_, v)| v.clone()).collect();
        let env = CommandTemplate {
            program: String::new(),
            args: env,
        };
        for (field, t) in templates {
            let names = [t.placeholders(), env.placeholders()].concat();
            let has = |any: &[&str]| names.iter().any(|n| any.contains(&n.as_str()));
            let mut missing = Vec::new();
            if !has(&["port", "addr"]) {
                missing.push("{port} or {addr}");
            }
            if self.peer_port.is_some() && !has(&["peer_port", "peer_addr"]) {
                missing.push("{peer_port} or {peer_addr}");
            }
            if !missing.is_empty() {
                bail!(
                    "{}: field `{field}` names no {}, so every node would listen on the same port: \
                     its nodes cannot share a host (give each node a [[hosts]] table of its own)",
                    self.origin(),
                    missing.join(" nor ")
                );
            }
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
            .map(|(k, v)| Ok((k.clone(), template::render_word(v, self, vars)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((program, args, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

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
            cluster_ready: ClusterReadiness::Nodes,
            ready_timeout: Duration::from_secs(1),
            leader: LeaderLookup::None,
            faults: FaultSet::ALL,
            source: SpecSource::Builtin,
            unavailable: None,
            promises: None,
            client: None,
            membership: None,
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
            port_shifts: &[],
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
    fn nodes_sharing_a_host_render_with_their_own_shifted_ports() {
        let spec = spec_with(
            "/bin/x {addr} {others} {peer_addr} {initial_cluster}",
            Some(7001),
        );
        let m = vec![
            ("n1".into(), Ipv4Addr::new(10, 77, 3, 1)),
            ("n2".into(), Ipv4Addr::new(10, 77, 3, 1)),
        ];
        let shifts = [("n2".to_string(), 10)];
        let vars = NodeVars {
            id: "n2",
            index: 2,
            ip: m[1].1,
            data_dir: Path::new("/d/n2"),
            members: &m,
            port_shifts: &shifts,
        };
        let (_, args, _) = spec.render(&vars, false).unwrap();
        assert_eq!(
            args,
            [
                "10.77.3.1:7010",
                "n1=10.77.3.1:7000",
                "10.77.3.1:7011",
                "n1=http://10.77.3.1:7001,n2=http://10.77.3.1:7011"
            ]
        );
        spec.check_port_shifts().unwrap();
    }

    #[test]
    fn a_system_whose_port_is_fixed_cannot_put_two_nodes_on_one_host() {
        let e = spec_with("/bin/x --listen 0.0.0.0:7000 {peers}", None)
            .check_port_shifts()
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("field `command` names no {port} or {addr}"),
            "{e:#}"
        );
        let e = spec_with("/bin/x {addr}", Some(7001))
            .check_port_shifts()
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("{peer_port} or {peer_addr}"),
            "{e:#}"
        );
        assert!(builtin::builtin("raft-kv")
            .unwrap()
            .check_port_shifts()
            .is_ok());
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
            port_shifts: &[],
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
            vec![FaultClass::Partition, FaultClass::Kill, FaultClass::Clock]
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
        let e = builtin::builtin("nope").unwrap_err().to_string();
        assert!(
            e.contains("raft-kv") && e.contains("docs/systems.md"),
            "{e}"
        );
    }

    #[test]
    fn a_one_line_command_splits_as_a_shell_would() {
        let spec = SystemSpec::from_toml_str(
            "name = \"a\"\ncommand = \"sh -c 'exec my-node --id {id}' x\"\nport = 1\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(spec.command.program, "sh");
        assert_eq!(spec.command.args, vec!["-c", "exec my-node --id {id}", "x"]);
        // Shown as it runs: quoted where a word has spaces.
        assert_eq!(spec.command.to_string(), "sh -c 'exec my-node --id {id}' x");
        let e = SystemSpec::from_toml_str(
            "name = \"a\"\ncommand = \"sh -c 'unclosed\"\nport = 1\n",
            Path::new("x.toml"),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("`command`"), "{e:#}");
    }
}
