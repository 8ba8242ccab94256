//! What runs on a host, as `sh` scripts (rendered here, pure, and run by
//! [`super::conn::Conn`]), and where a run's files live there.
//!
//! Everything a run puts on a host is named by its run id, so that runs never touch
//! each other's things and `faultline clean --hosts` can find a dead run's:
//! - `/tmp/faultline-<id>/<node>/`: `owner` (which controller process runs it),
//!   `bin/` (the uploaded binary), `log`, `data/`, `pid`, `exit`, and `clock` (the
//!   node's libfaketime file, when the test has clock faults). Everything is per
//!   node, not per host, so that hosts that happen to share a filesystem (or the
//!   namespace-hosts of the tests) never write the same file;
//! - iptables chains `FL-<id>-PART`, `FL-<id>-PKT`, `FL-<id>-DUP` and their jumps.
//!
//! A node runs under a supervisor: `setsid sh` (a session and process group of its
//! own, whose id it writes to `pid`) that starts the node with its output appended to
//! `log`, waits for it and writes its exit status to `exit`. Signals go to the whole
//! group, so a node's children are killed, paused and resumed with it; a node that
//! dies on its own leaves `exit`, one that faultline kills (the supervisor with it)
//! does not.

use shell_words::quote;

/// The run's folder on every host.
pub fn run_root(run_id: &str) -> String {
    format!("/tmp/faultline-{run_id}")
}

/// A node's folder on its host.
pub fn node_dir(run_id: &str, node: &str) -> String {
    format!("{}/{node}", run_root(run_id))
}

/// Where a node's uploaded binary `name` lives on its host.
pub fn binary(run_id: &str, node: &str, name: &str) -> String {
    format!("{}/bin/{name}", node_dir(run_id, node))
}

/// The prefix of the run's iptables chains.
pub fn chain_prefix(run_id: &str) -> String {
    format!("FL-{run_id}-")
}

/// The nemesis writes its chains as `FAULTLINE-*` (inside a namespace of its own,
/// nobody else's rules are there); on a shared host they are the run's own
/// `FL-<id>-*` instead. What goes to the host is renamed one way, what comes back
/// (an `iptables-save`) the other, with anybody else's `FAULTLINE-*` chains hidden
/// so the nemesis never counts or removes them.
pub fn chains_to_host(text: &str, run_id: &str) -> String {
    text.replace("FAULTLINE-", &chain_prefix(run_id))
}

/// See [`chains_to_host`].
pub fn chains_from_host(text: &str, run_id: &str) -> String {
    text.replace("FAULTLINE-", "OTHER-FAULTLINE-")
        .replace(&chain_prefix(run_id), "FAULTLINE-")
}

/// The node's folders on its host, with the owner record (`<boot id> <pid> <start
/// time>` of the controller process) and, with `clock`, its clock file at offset
/// zero; failing if the node's folder exists.
pub fn prepare(run_id: &str, node: &str, owner: &str, clock: bool) -> String {
    let dir = node_dir(run_id, node);
    let mut s = format!(
        "set -e\n[ ! -e {d} ] || {{ echo 'run id {run_id} is already in use on this host ({dir})' >&2; exit 1; }}\n\
         umask 077\nmkdir -p {d}/bin {d}/data\nprintf '%s\\n' {owner} > {d}/owner\n",
        d = quote(&dir),
        owner = quote(owner),
    );
    if clock {
        // libfaketime runs inside the node, which may not run as root.
        s.push_str(&format!(
            "printf '+0\\n' > {f}\nchmod 644 {f}\n",
            f = quote(&clock_file(run_id, node))
        ));
    }
    s
}

/// A node's libfaketime file on its host.
pub fn clock_file(run_id: &str, node: &str) -> String {
    format!("{}/clock", node_dir(run_id, node))
}

/// Replaces a node's clock file (`file`, as [`clock_file`] names it) with `text`
/// atomically, and notes in the node's log the offset and the wall clock the node now
/// reads (`date` under the same libfaketime) next to the host's real one. Three
/// processes in all (`mv` and two `date`s): a bump of several nodes writes one after
/// the other, so each write is kept short.
pub fn write_clock(file: &str, text: &str, lib: &str) -> String {
    let f = quote(file).into_owned();
    let offset = text.trim();
    format!(
        "f={f}\nd=${{f%/*}}\nprintf '%s\\n' {t} > \"$f.tmp\" && mv \"$f.tmp\" \"$f\" || exit 1\n\
         skewed=$(env LD_PRELOAD={lib} FAKETIME_TIMESTAMP_FILE=\"$f\" FAKETIME_NO_CACHE=1 date -u +%s.%3N)\n\
         set -- $(date -u '+%s.%3N %Y-%m-%dT%H:%M:%S.%3NZ')\n\
         echo \"[faultline $2] clock set to {offset} by faultline: the node's wall clock reads $skewed, real time $1\" >> \"$d/log\"\n",
        t = quote(offset),
        lib = quote(lib),
    )
}

/// Everything a node start needs, with host paths.
#[derive(Debug, Clone)]
pub struct RemoteLaunch {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    /// A supplementary group the node runs with (on top of its own), so that
    /// iptables can tell its packets from those of the other nodes on its host
    /// ([`node_group`]).
    pub group: Option<u32>,
}

impl RemoteLaunch {
    fn command_line(&self) -> String {
        let env = self
            .env
            .iter()
            .map(|(k, v)| quote(&format!("{k}={v}")).into_owned());
        let argv = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| quote(a).into_owned());
        // `id -G` is expanded when the supervisor evals the line: the node keeps
        // every group it would have had.
        let exec = match self.group {
            Some(g) => format!("exec setpriv --groups \"$(id -G | tr ' ' ,),{g}\" env"),
            None => "exec env".to_string(),
        };
        std::iter::once(exec)
            .chain(env)
            .chain(argv)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Starts a node under its supervisor and prints the supervisor's pid (= the
/// node's process group).
pub fn start(run_id: &str, node: &str, launch: &RemoteLaunch) -> String {
    let d = quote(&node_dir(run_id, node)).into_owned();
    // The supervisor: $0 is the node's folder, $1 the node's command.
    let supervisor = "echo $$ > \"$0/pid.tmp\"; mv \"$0/pid.tmp\" \"$0/pid\"; \
        (cd \"$2\" && eval \"$1\") >> \"$0/log\" 2>&1 < /dev/null & wait $!; \
        echo $? > \"$0/exit.tmp\"; mv \"$0/exit.tmp\" \"$0/exit\"";
    format!(
        "d={d}\nrm -f \"$d/pid\" \"$d/exit\"\n{note}\
         setsid sh -c {sup} \"$d\" {cmd} {cwd} < /dev/null > /dev/null 2>&1 &\n\
         i=0; while [ ! -s \"$d/pid\" ]; do i=$((i+1)); [ $i -lt 1000 ] || {{ echo 'the supervisor did not start' >&2; exit 1; }}; sleep 0.01; done\n\
         cat \"$d/pid\"\n",
        note = note_line(&format!("starting {node}: {}", launch.command_line())),
        sup = quote(supervisor),
        cmd = quote(&launch.command_line()),
        cwd = quote(&launch.cwd),
    )
}

/// Appends a harness note to the node's log (`$d` is the node's folder).
fn note_line(msg: &str) -> String {
    format!(
        "echo \"[faultline $(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)] \"{} >> \"$d/log\"\n",
        quote(msg)
    )
}

/// A shell test that is true while any process of session `$p` is alive (zombies
/// are dead: whoever reaps them is not ours to wait for).
const ALIVE: &str = "ps -o stat= -s \"$p\" 2>/dev/null | grep -qv '^Z'";

/// Sends `signal` to the node's process group, and waits until the group is gone
/// (`KILL`), stopped (`STOP`) or running again (`CONT`); prints nothing if the node
/// was not running.
pub fn signal(run_id: &str, node: &str, signal: &str, what: &str) -> String {
    let d = quote(&node_dir(run_id, node)).into_owned();
    let done = match signal {
        "KILL" => format!("! {ALIVE}"),
        "STOP" => "! ps -o stat= -s \"$p\" | grep -qv '^[TZ]'".to_string(),
        _ => "! ps -o stat= -s \"$p\" | grep -q '^T'".to_string(),
    };
    let cleanup = if signal == "KILL" {
        "rm -f \"$d/pid\"\n"
    } else {
        ""
    };
    format!(
        "d={d}\np=$(cat \"$d/pid\" 2>/dev/null) || exit 0\n{ALIVE} || exit 0\n\
         kill -{signal} \"-$p\" 2>/dev/null\n\
         i=0; until {done}; do i=$((i+1)); [ $i -lt 500 ] || {{ echo \"process group $p did not take SIG{signal}\" >&2; exit 1; }}; sleep 0.01; done\n\
         {cleanup}{note}echo signalled\n",
        note = note_line(&format!("{node} {what} by faultline")),
    )
}

/// For every node: `<node> running|exited <status>|stopped`, then the last lines of
/// each log that exited, between markers.
pub fn status(run_id: &str, nodes: &[String]) -> String {
    let root = quote(&run_root(run_id)).into_owned();
    let names: Vec<String> = nodes.iter().map(|n| quote(n).into_owned()).collect();
    format!(
        "for n in {names}; do d={root}/$n\n\
         if [ -f \"$d/exit\" ]; then echo \"$n exited $(cat \"$d/exit\")\"; echo '--- log'; tail -n 20 \"$d/log\"; echo '--- end'\n\
         elif p=$(cat \"$d/pid\" 2>/dev/null) && {ALIVE}; then echo \"$n running\"; else echo \"$n stopped\"; fi; done\n",
        names = names.join(" ")
    )
}

/// Asks the run's nodes on this host (`node`, or every node folder there) to stop
/// (SIGTERM to each group), gives them `grace_s` seconds, then kills what is left.
/// Prints the groups it killed.
pub fn stop_all(run_id: &str, node: Option<&str>, grace_s: u32) -> String {
    let pids = match node {
        Some(n) => format!("{}/pid", quote(&node_dir(run_id, n))),
        None => format!("{}/*/pid", quote(&run_root(run_id))),
    };
    format!(
        "groups=$(cat {pids} 2>/dev/null)\n\
         for p in $groups; do kill -TERM \"-$p\" 2>/dev/null; kill -CONT \"-$p\" 2>/dev/null; done\n\
         i=0; while [ $i -lt {ticks} ]; do left=''; for p in $groups; do {ALIVE} && left=\"$left $p\"; done; [ -z \"$left\" ] && break; i=$((i+1)); sleep 0.1; done\n\
         for p in $groups; do if {ALIVE}; then kill -KILL \"-$p\" 2>/dev/null; echo \"killed $p\"; fi; done\n\
         for p in $groups; do i=0; while {ALIVE} && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.05; done; {ALIVE} && echo \"process group $p survived SIGKILL\" >&2; done; true\n",
        ticks = grace_s * 10
    )
}

/// The supplementary group node number `index` (1, 2, ...) of run `run_id` runs
/// with when nodes share hosts: a high number derived from the run id, so that two
/// runs on one host never match each other's nodes, and that no real group is likely
/// to have.
pub fn node_group(run_id: &str, index: usize) -> u32 {
    let hash = run_id.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    1_900_000_000 + (hash % 1_000_000) * 100 + (index as u32 % 100)
}

/// The chain (filter `OUTPUT`) of a run whose nodes share hosts: partitions are
/// drops of one node's packets to another node's ports, told apart by the sender's
/// group ([`node_group`]), so the address alone never decides.
pub fn port_chain(run_id: &str) -> String {
    format!("{}PORTS", chain_prefix(run_id))
}

/// Creates the run's [`port_chain`], empty, with one jump to it at the top of
/// `OUTPUT`.
pub fn install_port_chain(run_id: &str) -> String {
    let c = port_chain(run_id);
    format!(
        "PATH=$PATH:/usr/sbin:/sbin
iptables -w -N {c} && iptables -w -I OUTPUT 1 -j {c}
"
    )
}

/// One drop of [`port_chain`]: packets a node (by its `group`) sends to another
/// node's `ports` at `dst` (TCP and UDP).
pub fn port_drops(group: u32, dst: std::net::Ipv4Addr, ports: &[u16], chain: &str) -> Vec<String> {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    ["tcp", "udp"]
        .iter()
        .map(|proto| {
            format!(
                "-A {chain} -d {dst}/32 -p {proto} -m multiport --dports {} -m owner --gid-owner {group} --suppl-groups -j DROP",
                ports.join(",")
            )
        })
        .collect()
}

/// An `iptables-restore --noflush` script that sets [`port_chain`] to `rules`.
pub fn port_chain_script(chain: &str, rules: &[String]) -> String {
    let mut s = format!("*filter\n:{chain} - [0:0]\n");
    for r in rules {
        s.push_str(r);
        s.push('\n');
    }
    s.push_str("COMMIT\n");
    s
}

/// Removes every iptables chain whose name starts with `prefix` (and the jumps to
/// them), in the filter and mangle tables. Prints what it removed.
pub fn remove_chains(prefix: &str) -> String {
    let pat = quote(prefix).into_owned();
    format!(
        "command -v iptables-save >/dev/null 2>&1 || exit 0\n\
         for t in filter mangle; do\n\
         iptables-save -t $t 2>/dev/null | grep -e \"^-A [A-Z]* -j {p}\" | while read -r a c j target; do iptables -w -t $t -D \"$c\" -j \"$target\" && echo \"jump $c -> $target\"; done\n\
         for c in $(iptables-save -t $t 2>/dev/null | grep -o \"^:{p}[A-Za-z0-9-]*\" | cut -c2-); do iptables -w -t $t -F \"$c\" && iptables -w -t $t -X \"$c\" && echo \"chain $t/$c\"; done\n\
         done\n",
        p = pat.trim_matches('\'')
    )
}

/// Empties a node's data folder (for a fresh start: its process is gone).
pub fn wipe_data(run_id: &str, node: &str) -> String {
    let data = quote(&format!("{}/data", node_dir(run_id, node))).into_owned();
    format!("set -e\nrm -rf {data}\nmkdir -m 700 {data}\n")
}

/// Removes a node's folder (and the run's, once empty), or the whole run's folder.
pub fn remove_files(run_id: &str, node: Option<&str>) -> String {
    let root = quote(&run_root(run_id)).into_owned();
    match node {
        Some(n) => format!(
            "rm -rf {}\nrmdir {root} 2>/dev/null; true\n",
            quote(&node_dir(run_id, n))
        ),
        None => format!("rm -rf {root}\n"),
    }
}

/// Lists the runs on a host: `run <id> <owner record>` for each folder, `chain <id>`
/// for each run's chain (a dead run may have left either without the other).
pub fn list_runs() -> String {
    "for d in /tmp/faultline-*; do [ -d \"$d\" ] || continue; echo \"run ${d#/tmp/faultline-} $(cat \"$d\"/*/owner 2>/dev/null | head -n 1)\"; done\n\
     command -v iptables-save >/dev/null 2>&1 && for t in filter mangle; do iptables-save -t $t 2>/dev/null | grep -o '^:FL-[a-z0-9]*-' | sed 's/^:FL-\\(.*\\)-$/chain \\1/'; done\n\
     true\n"
        .to_string()
}

/// What a host must have, as problems (one per line; none: ready). `program` is
/// checked on the host's PATH when it is not uploaded; with `clock` (the clock kinds
/// asked for) libfaketime is looked for and printed as `faketime <path>`.
pub fn preflight(
    run_id: &str,
    node: &str,
    needs_iptables: bool,
    clock: Option<&str>,
    program: Option<&str>,
    shared: bool,
) -> String {
    let mut s = String::from(
        "if [ \"$(id -u)\" = 0 ]; then echo 'ok root'; elif sudo -n true 2>/dev/null; then echo 'ok sudo'; else echo 'problem: the user is not root and cannot sudo without a password'; fi\n\
         for c in setsid ps kill tail; do command -v $c >/dev/null 2>&1 || echo \"problem: $c is not installed\"; done\n\
         [ -w /tmp ] || echo 'problem: /tmp is not writable'\n",
    );
    if needs_iptables {
        s.push_str("PATH=$PATH:/usr/sbin:/sbin; for c in iptables iptables-save iptables-restore; do command -v $c >/dev/null 2>&1 || echo \"problem: $c is not installed (partitions need package iptables)\"; done\n");
    }
    if needs_iptables && shared {
        s.push_str("command -v setpriv >/dev/null 2>&1 || echo 'problem: setpriv is not installed (package util-linux): several nodes on one host run with groups of their own'\n\
                    command -v unshare >/dev/null 2>&1 && ! unshare -n iptables -w -A OUTPUT -m owner --gid-owner 1 --suppl-groups -j DROP 2>/dev/null && echo 'problem: iptables here has no owner match with --suppl-groups, which partitions between nodes sharing a host need'\n");
    }
    if let Some(kinds) = clock {
        s.push_str(&format!(
            "lib=''; for f in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1 /usr/lib64/faketime/libfaketime.so.1; do [ -f \"$f\" ] && {{ lib=$f; break; }}; done\n\
             if [ -n \"$lib\" ]; then echo \"faketime $lib\"; else echo 'problem: clock faults ({k}) need libfaketime, which is not installed here (apt-get install faketime)'; fi\n",
            k = kinds.replace('\'', "")
        ));
    }
    if let Some(p) = program {
        s.push_str(&format!(
            "command -v {q} >/dev/null 2>&1 || echo 'problem: the system binary {p} is not on the PATH (install it, or give the system command an absolute local path to upload)'\n",
            q = quote(p),
            p = p.replace('\'', "")
        ));
    }
    s.push_str(&format!(
        "[ ! -e {} ] || echo 'problem: run id {run_id} is already in use here'\n",
        quote(&node_dir(run_id, node))
    ));
    s
}

/// Prints `netem` when the host can do faultline's netem recipe (packet faults),
/// otherwise `none: <why>`. The recipe's qdiscs are tried on the loopback of a
/// throwaway network namespace (`unshare -n`), so the host's own interfaces are
/// never touched; without `unshare`, whether the kernel has the module is all it
/// can tell.
pub fn netem_probe() -> String {
    "PATH=$PATH:/usr/sbin:/sbin\n\
     command -v tc >/dev/null 2>&1 || { echo 'none: tc is not installed (package iproute2)'; exit 0; }\n\
     if command -v unshare >/dev/null 2>&1; then\n\
     err=$(unshare -n sh -c 'tc qdisc add dev lo root handle 1: prio bands 4 && tc qdisc add dev lo parent 1:4 handle 40: netem delay 1ms' 2>&1) \
     && echo netem || echo \"none: the kernel refused a netem qdisc in a throwaway namespace ($(echo $err | head -c 200))\"\n\
     elif [ -d /sys/module/sch_netem ] || modinfo sch_netem >/dev/null 2>&1; then echo netem\n\
     else echo 'none: the kernel has no sch_netem module'; fi\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_are_renamed_to_the_run_and_back_hiding_other_chains() {
        let script =
            "*filter\n:FAULTLINE-PART - [0:0]\n-A FAULTLINE-PART -s 10.0.0.2/32 -j DROP\nCOMMIT\n";
        let to = chains_to_host(script, "abc123");
        assert!(to.contains(":FL-abc123-PART") && !to.contains("FAULTLINE"));
        let saved = ":FL-abc123-PART - [0:0]\n:FAULTLINE-PART - [0:0]\n:FL-zzz999-PART - [0:0]\n-A INPUT -j FL-abc123-PART\n";
        let back = chains_from_host(saved, "abc123");
        assert_eq!(
            back,
            ":FAULTLINE-PART - [0:0]\n:OTHER-FAULTLINE-PART - [0:0]\n:FL-zzz999-PART - [0:0]\n-A INPUT -j FAULTLINE-PART\n"
        );
    }

    #[test]
    fn a_start_script_runs_the_node_in_its_own_session_with_its_log() {
        let launch = RemoteLaunch {
            program: "/tmp/faultline-abc123/bin/raft-kv".into(),
            args: vec!["--id".into(), "n 1".into()],
            env: vec![("RUST_LOG".into(), "info".into())],
            cwd: "/tmp/faultline-abc123/n1/data".into(),
            group: None,
        };
        let s = start("abc123", "n1", &launch);
        assert!(s.contains("setsid sh -c"), "{s}");
        assert!(s.contains("d=/tmp/faultline-abc123/n1"), "{s}");
        // The command is one quoted word for the supervisor, which evals it.
        let command = launch.command_line();
        assert_eq!(
            shell_words::split(&command).unwrap(),
            [
                "exec",
                "env",
                "RUST_LOG=info",
                "/tmp/faultline-abc123/bin/raft-kv",
                "--id",
                "n 1"
            ]
        );
        assert!(s.contains(&*quote(&command)), "{s}");
    }

    #[test]
    fn a_clock_write_replaces_the_file_atomically_and_reads_the_clock_under_libfaketime() {
        assert!(prepare("abc123", "n1", "b 1 2", true)
            .contains("'+0\\n' > /tmp/faultline-abc123/n1/clock"));
        assert!(!prepare("abc123", "n1", "b 1 2", false).contains("clock"));
        let lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
        let s = write_clock(&clock_file("abc123", "n1"), "+3600.000\n", lib);
        assert!(s.starts_with("f=/tmp/faultline-abc123/n1/clock\n"), "{s}");
        assert!(s.contains("> \"$f.tmp\" && mv \"$f.tmp\" \"$f\""), "{s}");
        assert!(
            s.contains(&format!("LD_PRELOAD={lib} FAKETIME_TIMESTAMP_FILE=\"$f\"")),
            "{s}"
        );
        assert!(s.contains("clock set to +3600.000 by faultline"), "{s}");
    }

    #[test]
    fn nodes_sharing_a_host_are_told_apart_by_group_and_port() {
        let (g1, g2) = (node_group("abc123", 1), node_group("abc123", 2));
        assert!(g1 != g2 && g1 >= 1_900_000_000 && g2 < i32::MAX as u32);
        assert_ne!(node_group("abc124", 1), g1);
        let chain = port_chain("abc123");
        assert_eq!(chain, "FL-abc123-PORTS");
        let rules = port_drops(g1, "10.0.0.2".parse().unwrap(), &[8080, 8090], &chain);
        assert_eq!(
            rules[0],
            format!("-A FL-abc123-PORTS -d 10.0.0.2/32 -p tcp -m multiport --dports 8080,8090 -m owner --gid-owner {g1} --suppl-groups -j DROP")
        );
        assert!(rules[1].contains("-p udp"));
        let script = port_chain_script(&chain, &rules);
        assert!(
            script.starts_with("*filter\n:FL-abc123-PORTS - [0:0]\n-A "),
            "{script}"
        );
        let launch = RemoteLaunch {
            program: "/bin/node".into(),
            args: vec![],
            env: vec![],
            cwd: "/".into(),
            group: Some(g1),
        };
        assert!(launch.command_line().starts_with(&format!(
            "exec setpriv --groups \"$(id -G | tr ' ' ,),{g1}\" env "
        )));
    }

    #[test]
    fn the_netem_probe_answers_netem_or_says_why_not() {
        // Run here, as root, the machine's own kernel decides which.
        let out = std::process::Command::new("sh")
            .args(["-c", &netem_probe()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        assert!(
            text == "netem\n" || (text.starts_with("none: ") && text.lines().count() == 1),
            "{text:?}"
        );
        assert!(!text.contains("syntax error"), "{text:?}");
    }

    #[test]
    fn every_remote_path_is_scoped_by_the_run_id() {
        assert_eq!(node_dir("abc123", "n2"), "/tmp/faultline-abc123/n2");
        assert!(remove_files("abc123", Some("n1")).contains("rm -rf /tmp/faultline-abc123/n1"));
        assert!(remove_chains(&chain_prefix("abc123")).contains("FL-abc123-"));
        assert!(prepare("abc123", "n1", "b 1 2", false).contains("/tmp/faultline-abc123/n1/data"));
        assert!(stop_all("abc123", Some("n2"), 1).contains("/tmp/faultline-abc123/n2/pid"));
    }
}
