//! How a system's membership is changed: its own admin interface, asked by the harness
//! when the nemesis removes nodes or adds them back (`--nemesis membership`).
//!
//! A change always goes through the system: the harness only starts and stops the
//! processes the change needs (a removed node keeps running until it is added back;
//! then it is stopped, its data wiped, and started fresh with the `join` command).

use super::template::{render_word, CommandTemplate, NodeVars};
use super::SystemSpec;
use anyhow::{anyhow, bail, Context, Result};
use nemesis::MembershipChange;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// How long one admin request or command may take. raft-kv gives a change ten request
/// timeouts (20 s by default); a change stuck behind a partition is abandoned sooner,
/// and its outcome is then unknown (the nemesis treats the nodes as maybe out).
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The system's admin interface for membership changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipApi {
    /// `PUT /admin/members {"members": {"n1": "ip:port", ...}}` on any member, which
    /// forwards it to the leader: the voters become exactly those (raft-kv).
    KvAdmin,
    /// etcd's member API through its JSON gateway (`/v3/cluster/member/list`, `add`,
    /// `remove`), one member at a time, matched by peer URL; a fresh member starts
    /// with `--initial-cluster-state existing`.
    Etcd,
    /// A system file's `[membership]` commands, run on the controller once per node
    /// changed; exit status 0 means done. Placeholders are the changed node's, and
    /// `{peers}`, `{others}`, `{node_count}` and `{initial_cluster}` describe the
    /// membership after the change.
    Commands {
        add: CommandTemplate,
        remove: CommandTemplate,
    },
}

/// What a system needs for membership changes: the interface, and how a fresh node
/// starts to be added (its first start otherwise, e.g. raft-kv's `--join`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipSpec {
    pub api: MembershipApi,
    /// The command that starts a fresh node waiting to be added (placeholders as in
    /// `command`, with the membership after the change).
    pub join: CommandTemplate,
}

/// One node as a change names it.
#[derive(Debug, Clone)]
pub struct MemberAddr<'a> {
    pub id: &'a str,
    pub index: usize,
    pub ip: Ipv4Addr,
    pub data_dir: &'a Path,
    /// How far the node's ports are from the system's (nodes sharing a host).
    pub port_shift: u16,
}

impl MemberAddr<'_> {
    /// `ip:port` of the node's client port.
    fn client(&self, spec: &SystemSpec) -> String {
        format!("{}:{}", self.ip, spec.port + self.port_shift)
    }
}

impl MembershipSpec {
    /// Checks the templates' placeholders.
    pub fn validate(&self, has_peer_port: bool) -> Result<()> {
        self.join
            .validate(has_peer_port)
            .context("field `membership.join`")?;
        if let MembershipApi::Commands { add, remove } = &self.api {
            add.validate(has_peer_port)
                .context("field `membership.add`")?;
            remove
                .validate(has_peer_port)
                .context("field `membership.remove`")?;
        }
        Ok(())
    }

    /// Whether a node coming back is added before it starts (etcd refuses to start a
    /// node that is not a member yet) rather than started first and then added (a
    /// node that waits to be added, raft-kv's `--join`, a system file's `join`).
    pub fn add_before_start(&self) -> bool {
        self.api == MembershipApi::Etcd
    }

    /// Removes `nodes` (`change` Remove) or adds them (Add; wiped already, started
    /// as [`MembershipSpec::add_before_start`] says) so that the members are `members`, the nodes after the
    /// change.
    pub async fn change(
        &self,
        spec: &SystemSpec,
        change: MembershipChange,
        nodes: &[MemberAddr<'_>],
        members: &[MemberAddr<'_>],
    ) -> Result<()> {
        let add = change == MembershipChange::Add;
        match &self.api {
            MembershipApi::KvAdmin => put_members(spec, members).await,
            MembershipApi::Etcd => etcd_change(spec, nodes, members, add).await,
            MembershipApi::Commands { add: a, remove: r } => {
                let (template, what) = if add { (a, "add") } else { (r, "remove") };
                run_each(template, spec, nodes, members, what).await
            }
        }
    }
}

/// The template variables of `node` with the membership `members`, the nodes' ports
/// shifted by `port_shifts` ([`shifts`]).
pub fn vars_of<'a>(
    node: &MemberAddr<'a>,
    members: &'a [(String, Ipv4Addr)],
    port_shifts: &'a [(String, u16)],
) -> NodeVars<'a> {
    NodeVars {
        id: node.id,
        index: node.index,
        ip: node.ip,
        data_dir: node.data_dir,
        members,
        port_shifts,
    }
}

/// The port shifts of `nodes`, for [`vars_of`].
pub fn shifts(nodes: &[&MemberAddr<'_>]) -> Vec<(String, u16)> {
    nodes
        .iter()
        .map(|m| (m.id.to_string(), m.port_shift))
        .collect()
}

fn pairs(members: &[MemberAddr<'_>]) -> Vec<(String, Ipv4Addr)> {
    members.iter().map(|m| (m.id.to_string(), m.ip)).collect()
}

/// raft-kv's `PUT /admin/members`, sent to every member at once (any member forwards
/// to the leader; the copies that reach it second are refused as a change already in
/// progress): done when one answers 2xx, so a member cut off from the leader costs
/// nothing. Idempotent: asking for the membership in force is answered done.
async fn put_members(spec: &SystemSpec, members: &[MemberAddr<'_>]) -> Result<()> {
    let book: BTreeMap<&str, String> = members.iter().map(|m| (m.id, m.client(spec))).collect();
    let body = serde_json::json!({ "members": book });
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(ADMIN_TIMEOUT)
        .build()?;
    let mut tasks = tokio::task::JoinSet::new();
    for m in members {
        let url = format!("http://{}/admin/members", m.client(spec));
        let (client, body, id) = (client.clone(), body.clone(), m.id.to_string());
        tasks.spawn(async move {
            match client.put(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    Err(format!("{id}: {status} {}", text.trim()))
                }
                Err(e) => Err(format!("{id}: {e}")),
            }
        });
    }
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("request task failed: {e}")),
        }
    }
    errors.sort();
    bail!(
        "PUT /admin/members ({}) refused by every member: {}",
        members.iter().map(|m| m.id).collect::<Vec<_>>().join(","),
        errors.join("; ")
    )
}

/// etcd: adds or removes each node's member (by its peer URL), asking the members
/// that stay in turn. Idempotent: a node already in (or out) is left as it is.
async fn etcd_change(
    spec: &SystemSpec,
    nodes: &[MemberAddr<'_>],
    members: &[MemberAddr<'_>],
    add: bool,
) -> Result<()> {
    let peer_port = spec
        .peer_port
        .ok_or_else(|| anyhow!("etcd membership needs the peer port"))?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(ADMIN_TIMEOUT)
        .build()?;
    for node in nodes {
        let peer_url = format!("http://{}:{}", node.ip, peer_port + node.port_shift);
        let mut errors = Vec::new();
        let mut done = false;
        for m in members.iter().filter(|m| m.id != node.id) {
            let base = format!("http://{}/v3/cluster/member", m.client(spec));
            match etcd_one(&client, &base, &peer_url, add).await {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(e) => errors.push(format!("{}: {e:#}", m.id)),
            }
        }
        if !done {
            bail!(
                "etcd member {} of {}: {}",
                if add { "add" } else { "remove" },
                node.id,
                errors.join("; ")
            );
        }
    }
    Ok(())
}

/// One member change through one member's gateway at `base`.
async fn etcd_one(client: &reqwest::Client, base: &str, peer_url: &str, add: bool) -> Result<()> {
    let post = |what: &'static str, body: serde_json::Value| {
        let req = client.post(format!("{base}/{what}")).json(&body);
        async move {
            let r = req.send().await?;
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            if !status.is_success() {
                bail!("{what}: {status} {v}");
            }
            Ok(v)
        }
    };
    let list = post("list", serde_json::json!({})).await?;
    let id = list["members"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|m| {
            let urls = m["peerURLs"].as_array()?;
            urls.iter()
                .any(|u| u.as_str() == Some(peer_url))
                .then(|| m["ID"].clone())
        });
    match (add, id) {
        (true, Some(_)) | (false, None) => Ok(()),
        (true, None) => post("add", serde_json::json!({ "peerURLs": [peer_url] }))
            .await
            .map(drop),
        (false, Some(id)) => post("remove", serde_json::json!({ "ID": id }))
            .await
            .map(drop),
    }
}

/// Runs a `[membership]` command for each node, in order, on the controller.
async fn run_each(
    template: &CommandTemplate,
    spec: &SystemSpec,
    nodes: &[MemberAddr<'_>],
    members: &[MemberAddr<'_>],
    what: &str,
) -> Result<()> {
    let after = pairs(members);
    for node in nodes {
        let shifts = shifts(&members.iter().chain([node]).collect::<Vec<_>>());
        let vars = vars_of(node, &after, &shifts);
        let program = render_word(&template.program, spec, &vars)?;
        let args = template
            .args
            .iter()
            .map(|a| render_word(a, spec, &vars))
            .collect::<Result<Vec<_>>>()?;
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&args).kill_on_drop(true);
        let out = tokio::time::timeout(ADMIN_TIMEOUT, cmd.output())
            .await
            .map_err(|_| {
                anyhow!(
                    "`membership.{what}` for {} did not finish within {ADMIN_TIMEOUT:?}",
                    node.id
                )
            })?
            .with_context(|| format!("running `membership.{what}` ({program})"))?;
        if !out.status.success() {
            bail!(
                "`membership.{what}` for {} failed ({}): {}",
                node.id,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(())
}

/// The raft-kv kind: the admin endpoint, and the first start's command with `--join`.
pub fn kv_admin(command: &CommandTemplate) -> MembershipSpec {
    let mut join = command.clone();
    join.args.push("--join".into());
    MembershipSpec {
        api: MembershipApi::KvAdmin,
        join,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::FaultClass;

    fn spec_file(dir: &Path, membership: &str, faults: &str) -> Result<SystemSpec> {
        let text = format!(
            "name = \"m\"\ncommand = \"sh -c 'sleep 100' {{id}}\"\nport = 9000\n{faults}\n{membership}"
        );
        SystemSpec::from_toml_str(&text, &dir.join("m.toml"))
    }

    #[test]
    fn a_membership_table_enables_the_fault_and_its_commands_see_the_membership_after_the_change() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("calls");
        let table = format!(
            "[membership]\nremove = \"sh -c 'echo remove $0 $1 >> {0}' {{id}} {{peers}}\"\nadd = \"sh -c 'echo add $0 $1 >> {0}' {{id}} {{peers}}\"\njoin = \"sh -c 'sleep 100' {{id}} --join\"\n",
            out.display()
        );
        let spec = spec_file(dir.path(), &table, "").unwrap();
        assert!(spec.faults.supports(FaultClass::Membership));
        let m = spec.membership.clone().unwrap();
        assert_eq!(m.join.args.last().map(String::as_str), Some("--join"));
        let d = Path::new("/d");
        let node = |id: &'static str, i: u8| MemberAddr {
            id,
            index: i as usize,
            ip: Ipv4Addr::new(10, 0, 0, i),
            data_dir: d,
            port_shift: 0,
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            m.change(
                &spec,
                MembershipChange::Remove,
                &[node("n2", 2)],
                &[node("n1", 1), node("n3", 3)],
            )
            .await
            .unwrap();
            m.change(
                &spec,
                MembershipChange::Add,
                &[node("n2", 2)],
                &[node("n1", 1), node("n2", 2), node("n3", 3)],
            )
            .await
            .unwrap();
        });
        let calls = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            calls,
            "remove n2 n1=10.0.0.1:9000,n3=10.0.0.3:9000\nadd n2 n1=10.0.0.1:9000,n2=10.0.0.2:9000,n3=10.0.0.3:9000\n"
        );
    }

    #[test]
    fn a_failing_membership_command_is_an_error_with_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let table =
            "[membership]\nremove = \"sh -c 'echo no quorum >&2; exit 3'\"\nadd = \"true\"\n";
        let spec = spec_file(dir.path(), table, "").unwrap();
        let m = spec.membership.clone().unwrap();
        let n = MemberAddr {
            id: "n1",
            index: 1,
            ip: Ipv4Addr::new(10, 0, 0, 1),
            data_dir: Path::new("/d"),
            port_shift: 0,
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let e = rt
            .block_on(m.change(
                &spec,
                MembershipChange::Remove,
                std::slice::from_ref(&n),
                &[],
            ))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("membership.remove") && e.contains("no quorum"),
            "{e}"
        );
    }

    #[test]
    fn membership_in_faults_without_a_membership_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = format!(
            "{:#}",
            spec_file(dir.path(), "", "faults = [\"kill\", \"membership\"]").unwrap_err()
        );
        assert!(e.contains("[membership]") && e.contains("m.toml"), "{e}");
        let spec = spec_file(dir.path(), "", "").unwrap();
        assert!(!spec.faults.supports(FaultClass::Membership));
    }
}
