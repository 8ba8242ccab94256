//! netem on a host, with what the host had kept: before the nemesis's `tc -batch`
//! puts faultline's qdisc (root handle [`ROOT_HANDLE`]) on a device, the device's root
//! qdisc is recorded in the node's folder (`netem-<device>`); healing deletes
//! faultline's qdisc and puts the recorded one back when it was not the kernel's
//! default (a default one comes back by itself). A controller killed during a delay
//! leaves the qdisc and the record: `faultline clean --hosts` removes the qdisc of
//! each record in a dead run's folders, only if its handle is faultline's, and
//! restores what the record says.
//!
//! The handle says a qdisc is faultline's; the record, in the run's folder, says which
//! run's it is (a qdisc carries no name of its own).

use super::remote::{node_dir, run_root};
use nemesis::control::NodeCommand;
use nemesis::packet::netem::ROOT_HANDLE;
use shell_words::quote;

/// The script that runs a netem command of the nemesis on a node's host, recording
/// the device's qdisc before faultline's goes on and restoring it after it comes
/// off; `None` for any other command (run as it is).
pub fn guard(run_id: &str, node: &str, command: &NodeCommand) -> Option<String> {
    if command.program != "tc" {
        return None;
    }
    let args: Vec<&str> = command.args.iter().map(String::as_str).collect();
    let head = format!(
        "PATH=$PATH:/usr/sbin:/sbin\nd={}\n",
        quote(&node_dir(run_id, node))
    );
    match args.as_slice() {
        ["-batch", "-"] => {
            let dev = batch_device(command.input.as_deref()?)?;
            Some(format!(
                "{head}dev={dev}\nr=\"$d/netem-$dev\"\n\
                 [ -f \"$r\" ] || {{ tc qdisc show dev \"$dev\" root > \"$r.tmp\" && mv \"$r.tmp\" \"$r\"; }} || exit 1\n\
                 exec tc -batch -\n",
                dev = quote(dev)
            ))
        }
        ["qdisc", "del", "dev", dev, "root"] => Some(format!(
            "{head}dev={dev}\nr=\"$d/netem-$dev\"\ntc qdisc del dev \"$dev\" root; rc=$?\n{restore}rm -f \"$r\"\nexit $rc\n",
            dev = quote(dev),
            restore = restore()
        )),
        _ => None,
    }
}

/// The device of a netem batch (`qdisc replace dev DEV root ...` first).
fn batch_device(batch: &str) -> Option<&str> {
    let words: Vec<&str> = batch.lines().next()?.split_whitespace().collect();
    match words.as_slice() {
        ["qdisc", "replace", "dev", dev, "root", ..] if batch.contains(" netem ") => Some(dev),
        _ => None,
    }
}

/// Puts back the qdisc recorded in `$r` on `$dev`, unless it was the kernel's default
/// (handle `0:`, back by itself) or faultline's own; says so when it cannot.
fn restore() -> String {
    format!(
        "if [ -s \"$r\" ]; then set -- $(head -n 1 \"$r\"); kind=$2; handle=$3\n\
         if [ \"$handle\" != 0: ] && [ \"$handle\" != {ROOT_HANDLE} ]; then shift 4; [ \"$1\" = refcnt ] && shift 2\n\
         if tc qdisc replace dev \"$dev\" root handle \"$handle\" \"$kind\" \"$@\" 2>/dev/null; then echo \"restored $kind on $dev\"; \
         else echo \"$dev had '$(head -n 1 \"$r\")' before faultline's netem: put it back by hand\"; fi\n\
         fi; fi\n"
    )
}

/// Removes the netem qdiscs a run (`node`, or every node of it on this host) left,
/// from the records in its folders: faultline's qdisc (by its handle) goes, the
/// recorded one comes back. Prints one line per qdisc removed or restored.
pub fn clean(run_id: &str, node: Option<&str>) -> String {
    let records = match node {
        Some(n) => format!("{}/netem-*", quote(&node_dir(run_id, n))),
        None => format!("{}/*/netem-*", quote(&run_root(run_id))),
    };
    format!(
        "PATH=$PATH:/usr/sbin:/sbin\ncommand -v tc >/dev/null 2>&1 || exit 0\n\
         for r in {records}; do [ -f \"$r\" ] || continue; dev=${{r##*/netem-}}\n\
         if tc qdisc show dev \"$dev\" root | grep -q ' {ROOT_HANDLE} '; then tc qdisc del dev \"$dev\" root && echo \"removed netem on $dev\"; fi\n\
         {restore}rm -f \"$r\"; done\n",
        restore = restore()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tc(args: &[&str], input: Option<&str>) -> NodeCommand {
        NodeCommand {
            program: "tc".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            input: input.map(String::from),
        }
    }

    const BATCH: &str = "qdisc replace dev eth0 root handle fa17: prio bands 4\nqdisc replace dev eth0 parent fa17:4 handle 40: netem delay 80ms\n";

    #[test]
    fn only_the_nemesis_netem_commands_are_guarded() {
        assert!(guard("abc123", "n1", &tc(&["-batch", "-"], Some(BATCH))).is_some());
        assert!(guard(
            "abc123",
            "n1",
            &tc(&["qdisc", "del", "dev", "eth0", "root"], None)
        )
        .is_some());
        assert!(guard(
            "abc123",
            "n1",
            &tc(&["-batch", "-"], Some("filter add dev x\n"))
        )
        .is_none());
        let ip = NodeCommand {
            program: "ip".into(),
            args: vec!["route".into()],
            input: None,
        };
        assert!(guard("abc123", "n1", &ip).is_none());
    }

    /// Runs `script` with a fake `tc` first on the PATH: it logs its arguments to
    /// `tc.log` and answers `qdisc show` with `tc.show` (what the host has now).
    fn with_fake_tc(dir: &Path, script: &str, input: Option<&str>) -> String {
        let fake = dir.join("tc");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\necho \"$*\" >> {log}\n[ \"$1 $2\" = 'qdisc show' ] && cat {show}\n[ \"$1\" = -batch ] && cat > /dev/null\nexit 0\n",
                log = dir.join("tc.log").display(),
                show = dir.join("tc.show").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = std::process::Command::new("sh")
            .args(["-c", script])
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input.unwrap_or("").as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{script}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    // The kernel here has neither netem nor prio, so these run the scripts against a
    // fake `tc` and check the commands they give it.
    #[test]
    fn a_hosts_own_qdisc_is_recorded_before_netem_and_restored_after() {
        let run = crate::backend::netns::naming::new_run_id();
        let node = node_dir(&run, "n1");
        std::fs::create_dir_all(&node).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let show = dir.path().join("tc.show");
        std::fs::write(
            &show,
            "qdisc tbf 8001: root refcnt 2 rate 1Mbit burst 1Kb lat 50ms\n",
        )
        .unwrap();
        let apply = guard(&run, "n1", &tc(&["-batch", "-"], Some(BATCH))).unwrap();
        with_fake_tc(dir.path(), &apply, Some(BATCH));
        let record = std::fs::read_to_string(format!("{node}/netem-eth0")).unwrap();
        assert!(record.starts_with("qdisc tbf 8001:"), "{record}");
        // faultline's qdisc is on now; a second fault must not record it as the host's.
        std::fs::write(&show, "qdisc prio fa17: root refcnt 2 bands 4\n").unwrap();
        with_fake_tc(dir.path(), &apply, Some(BATCH));
        let heal = guard(
            &run,
            "n1",
            &tc(&["qdisc", "del", "dev", "eth0", "root"], None),
        )
        .unwrap();
        let out = with_fake_tc(dir.path(), &heal, None);
        let log = std::fs::read_to_string(dir.path().join("tc.log")).unwrap();
        std::fs::remove_dir_all(run_root(&run)).unwrap();
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            [
                "qdisc show dev eth0 root",
                "-batch -",
                "-batch -",
                "qdisc del dev eth0 root",
                "qdisc replace dev eth0 root handle 8001: tbf rate 1Mbit burst 1Kb lat 50ms",
            ]
        );
        assert_eq!(out, "restored tbf on eth0\n");
        assert!(!Path::new(&format!("{node}/netem-eth0")).exists());
    }

    #[test]
    fn clean_removes_only_faultlines_qdisc_of_the_run_and_leaves_a_default_to_the_kernel() {
        let run = crate::backend::netns::naming::new_run_id();
        let node = node_dir(&run, "n2");
        let dir = tempfile::tempdir().unwrap();
        let put = |path: String, text: &str| std::fs::write(path, text).unwrap();
        let default = "qdisc noqueue 0: root refcnt 2\n";
        let show = dir.path().join("tc.show").display().to_string();
        let log = dir.path().join("tc.log");
        std::fs::create_dir_all(&node).unwrap();
        put(format!("{node}/netem-eth1"), default);
        put(format!("{node}/netem-eth2"), default);
        // eth1 and eth2 answer alike here: faultline's qdisc on both.
        put(show.clone(), "qdisc prio fa17: root refcnt 2 bands 4\n");
        let out = with_fake_tc(dir.path(), &clean(&run, None), None);
        let logged = std::fs::read_to_string(&log).unwrap();
        let left: Vec<_> = std::fs::read_dir(&node).unwrap().collect();
        std::fs::remove_dir_all(run_root(&run)).unwrap();
        assert_eq!(out, "removed netem on eth1\nremoved netem on eth2\n");
        assert!(
            logged.contains("qdisc del dev eth1 root") && !logged.contains("replace"),
            "{logged}"
        );
        assert!(left.is_empty(), "records left: {left:?}");
        // A qdisc that is not faultline's is never deleted.
        std::fs::create_dir_all(&node).unwrap();
        put(format!("{node}/netem-eth1"), default);
        put(show, "qdisc fq_codel 0: root refcnt 2\n");
        std::fs::write(&log, "").unwrap();
        let out = with_fake_tc(dir.path(), &clean(&run, Some("n2")), None);
        let logged = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_dir_all(run_root(&run)).unwrap();
        assert_eq!(out, "");
        assert_eq!(logged, "qdisc show dev eth1 root\n");
    }
}
