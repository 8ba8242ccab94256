//! Clients written in any language: an external adapter process per logical client
//! process, spoken to in newline-delimited JSON on its stdin and stdout
//! (`docs/adapters.md`).
//!
//! The harness keeps the history sound whatever the adapter does. It sends one
//! `invoke` at a time and waits at most the client timeout for the answer with the
//! same id. When the adapter hangs, exits, writes a line that is not JSON, answers
//! another id or a message that is not an answer, nobody knows whether the operation
//! took effect: the operation is indeterminate (`info`; `fail` for reads, which
//! change nothing, as with every built-in client), the adapter is killed, the cause
//! goes to the process's log and to the run's warnings, and the next operation gets
//! a fresh adapter. An answer whose value contradicts the workload (a list read on a
//! register) is a `malformed-response`, indeterminate in the same way.
//!
//! Adapters die with the harness: each runs in its own process group, which is
//! killed when its logical process retires or the run ends, and the kernel kills it
//! if the harness itself dies (`PR_SET_PDEATHSIG`).

use crate::client::{indeterminate, BoxFuture, Client, ClientFactory, Target};
use crate::generator::Workload;
use crate::op::{Completion, Op, OpFn};
use anyhow::{anyhow, Context};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How to start an adapter: a system file's `[client]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterCommand {
    pub program: String,
    pub args: Vec<String>,
    /// Added to the harness's own environment.
    pub env: Vec<(String, String)>,
    /// `None`: the harness's working directory.
    pub working_dir: Option<PathBuf>,
    /// Passed to the adapter in `init` (`settings`), beside `timeout_ms`.
    pub settings: Map<String, Value>,
}

/// Everything an adapter client needs besides the cluster.
#[derive(Debug, Clone)]
pub struct AdapterOptions {
    pub command: AdapterCommand,
    /// Per operation: no answer within it is an indeterminate result.
    pub timeout: Duration,
    pub workload: Workload,
}

/// The shortest wait for `init_ok`: an interpreter's start-up on a busy machine can
/// take longer than one operation's timeout.
const MIN_INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Incidents kept for the results; beyond these only a count.
const MAX_INCIDENTS: usize = 50;

/// Makes one adapter session per logical process ([`ClientFactory::open_process`]);
/// the clients of one process to different nodes share it.
pub struct AdapterClientFactory {
    options: AdapterOptions,
    run: OnceLock<RunContext>,
    sessions: Mutex<HashMap<u64, Weak<Session>>>,
    incidents: Arc<Mutex<Incidents>>,
    /// Ids for [`ClientFactory::open`], which names no process.
    anonymous: std::sync::atomic::AtomicU64,
}

/// What every adapter of a run is told and where its log goes.
struct RunContext {
    logs: PathBuf,
    nodes: Value,
}

#[derive(Default)]
struct Incidents {
    kept: Vec<String>,
    more: usize,
}

impl AdapterClientFactory {
    pub fn new(options: AdapterOptions) -> AdapterClientFactory {
        AdapterClientFactory {
            options,
            run: OnceLock::new(),
            sessions: Mutex::new(HashMap::new()),
            incidents: Arc::default(),
            anonymous: std::sync::atomic::AtomicU64::new(1 << 40),
        }
    }
}

impl ClientFactory for AdapterClientFactory {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        let process = self
            .anonymous
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.open_process(process, target)
    }

    fn open_process(&self, process: u64, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        let run = self.run.get().ok_or_else(|| {
            anyhow!("adapter clients opened before the cluster's nodes were known")
        })?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|_, s| s.strong_count() > 0);
        let session = match sessions.get(&process).and_then(Weak::upgrade) {
            Some(s) => s,
            None => {
                let s = Arc::new(Session {
                    process,
                    home: target.id.clone(),
                    options: self.options.clone(),
                    log: run.logs.join(format!("{process}.log")),
                    nodes: run.nodes.clone(),
                    incidents: Arc::clone(&self.incidents),
                    state: tokio::sync::Mutex::new(State::default()),
                });
                sessions.insert(process, Arc::downgrade(&s));
                s
            }
        };
        Ok(Arc::new(AdapterClient {
            session,
            node: target.id.clone(),
        }))
    }

    fn prepare(&self, run_dir: &Path, targets: &[Target]) -> anyhow::Result<()> {
        let logs = run_dir.join("clients");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let nodes = Value::Array(targets.iter().map(node_json).collect());
        self.run
            .set(RunContext { logs, nodes })
            .map_err(|_| anyhow!("adapter clients prepared twice"))
    }

    fn incidents(&self) -> Vec<String> {
        let i = self.incidents.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = i.kept.clone();
        if i.more > 0 {
            out.push(format!("... and {} more adapter incidents", i.more));
        }
        out
    }
}

/// A node as `init` lists it: id, host and port split out of its URL.
fn node_json(t: &Target) -> Value {
    let rest = t.url.split_once("://").map_or(t.url.as_str(), |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    match rest.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            json!({"id": t.id, "host": host, "port": port.parse::<u16>().unwrap_or(0), "url": t.url})
        }
        _ => json!({"id": t.id, "host": rest, "port": null, "url": t.url}),
    }
}

/// One logical process's adapter, started on first use and again after it was
/// killed.
struct Session {
    process: u64,
    /// The node the process was opened for first (its node, when sessions are sticky).
    home: String,
    options: AdapterOptions,
    log: PathBuf,
    nodes: Value,
    incidents: Arc<Mutex<Incidents>>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    running: Option<Running>,
    next_id: u64,
}

/// A live adapter process; dropping it kills its process group.
struct Running {
    child: Child,
    pid: Option<u32>,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SAFETY: a plain syscall; the group is the adapter's own (process_group(0)).
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

/// Why starting an adapter failed: the adapter refused (its `error` answer to
/// `init`), or it could not get that far.
struct StartError {
    cause: String,
}

impl Session {
    /// Notes an incident in the process's log and in the run's warnings.
    fn incident(&self, what: &str) {
        self.note(what);
        let mut i = self.incidents.lock().unwrap_or_else(|e| e.into_inner());
        if i.kept.len() < MAX_INCIDENTS {
            i.kept.push(format!(
                "adapter of process {} ({}): {what}",
                self.process,
                self.log.display()
            ));
        } else {
            i.more += 1;
        }
    }

    /// A line from the harness in the process's log, beside the adapter's stderr.
    fn note(&self, what: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            let _ = writeln!(f, "[faultline] {what}");
        }
    }

    /// Starts the adapter and exchanges `init` / `init_ok`.
    async fn start(&self) -> Result<Running, StartError> {
        let fail = |cause: String| StartError { cause };
        let mut running = self.spawn().map_err(|e| fail(format!("{e:#}")))?;
        let init = json!({
            "type": "init",
            "process": self.process,
            "nodes": self.nodes,
            "node": self.home,
            "workload": self.options.workload.name(),
            "settings": self.settings(),
        });
        let wait = self.options.timeout.max(MIN_INIT_TIMEOUT);
        let answer = match exchange(&mut running, &init, wait).await {
            Ok(a) => a,
            Err(cause) => return Err(fail(format!("during init: {cause}"))),
        };
        match answer.get("type").and_then(Value::as_str) {
            Some("init_ok") => {
                self.note(&format!("started (pid {})", running.pid.unwrap_or(0)));
                Ok(running)
            }
            Some("error") => Err(fail(format!(
                "refused init: {}",
                answer
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("(no error text)")
            ))),
            _ => Err(fail(format!(
                "answered init with {answer}, not {{\"type\": \"init_ok\"}}"
            ))),
        }
    }

    fn settings(&self) -> Value {
        let mut s = self.options.command.settings.clone();
        s.insert(
            "timeout_ms".into(),
            json!(self.options.timeout.as_millis() as u64),
        );
        Value::Object(s)
    }

    fn spawn(&self) -> anyhow::Result<Running> {
        let c = &self.options.command;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let mut cmd = Command::new(&c.program);
        cmd.args(&c.args)
            .envs(c.env.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .process_group(0)
            .kill_on_drop(true);
        if let Some(d) = &c.working_dir {
            cmd.current_dir(d);
        }
        // SAFETY: prctl is async-signal-safe; the child dies with the harness.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the adapter `{}`", c.program))?;
        let stdin = child.stdin.take().context("the adapter's stdin")?;
        let stdout = child.stdout.take().context("the adapter's stdout")?;
        Ok(Running {
            pid: child.id(),
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }

    /// Gets the adapter running (again, if it exited since the last operation).
    async fn ensure_running(&self, state: &mut State) -> Result<(), StartError> {
        if let Some(r) = &mut state.running {
            match r.child.try_wait() {
                Ok(None) => return Ok(()),
                Ok(Some(status)) => {
                    self.incident(&format!("exited between operations ({status}); restarted"))
                }
                Err(e) => self.incident(&format!("cannot tell whether it runs ({e}); restarted")),
            }
            state.running = None;
        }
        state.running = Some(self.start().await?);
        Ok(())
    }

    async fn invoke(&self, op: &Op, node: &str) -> Completion {
        let mut state = self.state.lock().await;
        if let Err(e) = self.ensure_running(&mut state).await {
            // The operation was never handed to an adapter: certainly not applied.
            self.incident(&format!("could not start: {}", e.cause));
            return Completion::unreached(op.value.clone(), format!("adapter-start: {}", e.cause));
        }
        state.next_id += 1;
        let id = state.next_id;
        let mut request = json!({
            "type": "invoke",
            "id": id,
            "f": wire_f(op.f),
            "key": op.key,
            "value": op.value,
            "node": node,
        });
        if op.f == OpFn::Txn {
            // A transaction names its keys in its micro-ops.
            request.as_object_mut().map(|m| m.remove("key"));
        }
        let Some(running) = state.running.as_mut() else {
            return indeterminate(op, "adapter-start: not running".into());
        };
        let answer = exchange(running, &request, self.options.timeout).await;
        let answer = answer.and_then(|a| match a.get("id") {
            Some(got) if got == &json!(id) => Ok(a),
            Some(got) => Err(format!(
                "adapter-wrong-id: answered id {got} while id {id} was in flight"
            )),
            None => Err(format!(
                "adapter-wrong-id: an answer without an id while id {id} was in flight: {}",
                clip(&a.to_string())
            )),
        });
        match answer {
            Ok(a) => {
                let c = self.completion(op, &a);
                if let Some(e) = c
                    .error
                    .as_deref()
                    .filter(|e| e.starts_with("malformed-response"))
                {
                    self.incident(&format!("operation {id}: {e}"));
                }
                c
            }
            Err(cause) => {
                state.running = None;
                self.incident(&format!(
                    "operation {id} ({} key {}): {cause}; killed",
                    op.f, op.key
                ));
                indeterminate(op, cause)
            }
        }
    }

    /// The completion an answer (with the right id) says.
    fn completion(&self, op: &Op, a: &Value) -> Completion {
        let error = a.get("error").and_then(Value::as_str).map(str::to_string);
        let version = match a.get("version") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) => Some(n),
                None if op.f.is_read() => {
                    return indeterminate(
                        op,
                        format!(
                            "malformed-response: \"version\" is {v}, not a non-negative integer"
                        ),
                    )
                }
                None => None,
            },
        };
        match a.get("type").and_then(Value::as_str) {
            Some("ok") if op.f.is_read() => match a.get("value") {
                None => indeterminate(
                    op,
                    "malformed-response: an ok read without \"value\"".into(),
                ),
                Some(v) => match shape_error(self.options.workload, v) {
                    Some(why) => indeterminate(op, format!("malformed-response: {why}")),
                    None => Completion::ok(v.clone()).with_version(version),
                },
            },
            Some("ok") if op.f == OpFn::Txn => self.completed_txn(op, a.get("value")),
            Some("ok") => Completion::ok(op.value.clone()).with_version(version),
            Some("fail") => {
                let unreached = a.get("unreached").and_then(Value::as_bool) == Some(true);
                let error = error.unwrap_or_else(|| "fail".into());
                if unreached {
                    Completion::unreached(op.value.clone(), error)
                } else {
                    Completion::fail(op.value.clone(), error)
                }
            }
            Some("info") => indeterminate(op, error.unwrap_or_else(|| "info".into())),
            _ => indeterminate(
                op,
                format!(
                    "malformed-response: {} is not an ok, fail or info answer",
                    clip(&a.to_string())
                ),
            ),
        }
    }
}

impl Session {
    /// An `ok` transaction: its micro-ops with the reads filled in, checked against
    /// what was asked; anything else is a malformed answer, and indeterminate (its
    /// writes may have happened).
    fn completed_txn(&self, op: &Op, answer: Option<&Value>) -> Completion {
        let model = self.options.workload.txn_model();
        let checked = match (crate::txn::from_json(&op.value), model) {
            (Ok(asked), Some(model)) => {
                crate::txn::completed(&asked, answer.unwrap_or(&Value::Null), model)
            }
            (Err(e), _) => Err(e),
            (_, None) => Err(format!(
                "a transaction in the {} workload",
                self.options.workload
            )),
        };
        match checked {
            Ok(mops) => Completion::ok(crate::txn::to_json(&mops)),
            Err(why) => indeterminate(op, format!("malformed-response: {}", clip(&why))),
        }
    }
}

/// Why a read's value cannot be an answer in this workload, if it cannot.
fn shape_error(workload: Workload, v: &Value) -> Option<String> {
    let lists = matches!(
        workload,
        Workload::Append | Workload::Set | Workload::Counter | Workload::PnCounter
    );
    let fits = match v {
        Value::Null => true,
        Value::Array(items) => lists && items.iter().all(|i| i.is_i64()),
        n => !lists && n.is_i64(),
    };
    (!fits).then(|| {
        let want = if lists {
            "a list of integers or null"
        } else {
            "an integer or null"
        };
        format!(
            "a read in the {workload} workload returned {}, not {want}",
            clip(&v.to_string())
        )
    })
}

/// The `f` an adapter is sent: final reads are reads.
fn wire_f(f: OpFn) -> &'static str {
    match f {
        OpFn::FinalRead => "read",
        f => f.name(),
    }
}

/// Sends one message and reads the next non-empty line as JSON, within `wait`.
async fn exchange(r: &mut Running, message: &Value, wait: Duration) -> Result<Value, String> {
    let io = async {
        let mut line = message.to_string();
        line.push('\n');
        if let Err(e) = r.stdin.write_all(line.as_bytes()).await {
            return Err(format!("adapter-exit: cannot write to it ({e})"));
        }
        let _ = r.stdin.flush().await;
        loop {
            let mut answer = String::new();
            match r.stdout.read_line(&mut answer).await {
                Ok(0) => return Err("adapter-exit: it closed its stdout".to_string()),
                Ok(_) if answer.trim().is_empty() => continue,
                Ok(_) => {
                    return serde_json::from_str::<Value>(answer.trim()).map_err(|e| {
                        format!(
                            "adapter-garbage: a line that is not JSON ({e}): {}",
                            clip(answer.trim())
                        )
                    })
                }
                Err(e) => return Err(format!("adapter-garbage: unreadable output ({e})")),
            }
        }
    };
    let result = match tokio::time::timeout(wait, io).await {
        Ok(r) => r,
        Err(_) => Err(format!("adapter-timeout: no answer within {wait:?}")),
    };
    match result {
        Err(cause) if cause.starts_with("adapter-exit") => {
            // Say how it ended, if it already has.
            let status = tokio::time::timeout(Duration::from_millis(200), r.child.wait()).await;
            match status {
                Ok(Ok(s)) => Err(format!("{cause}; {s}")),
                _ => Err(cause),
            }
        }
        other => other,
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// One process's client to one node: its process's adapter, and the node to name.
struct AdapterClient {
    session: Arc<Session>,
    node: String,
}

impl Client for AdapterClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.session.invoke(op, &self.node))
    }

    fn ready(&self) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async {
            let s = &self.session;
            let mut state = s.state.lock().await;
            s.ensure_running(&mut state).await.map_err(|e| {
                let log = std::fs::read_to_string(&s.log).unwrap_or_default();
                let tail = log.trim_end().rsplit('\n').next().unwrap_or("");
                anyhow!(
                    "the client adapter of process {} did not start: {} (its log, {}, ends: {})",
                    s.process,
                    e.cause,
                    s.log.display(),
                    clip(tail)
                )
            })
        })
    }
}
