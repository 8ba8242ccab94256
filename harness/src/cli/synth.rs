//! `faultline synth`: writes a synthetic history (faultline's JSONL format) from a
//! simulated linearizable object, optionally with one injected anomaly.

use super::exit;
use checker::synth::{generate, Anomaly, SynthModel, SynthOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SynthArgs {
    /// The simulated object: register, cas-register or kv.
    #[arg(long, short, value_name = "M", default_value = "cas-register")]
    pub model: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Operations to invoke.
    #[arg(long, default_value_t = 1000)]
    pub ops: usize,
    /// Probability that an operation crashes: it may or may not take effect, completes
    /// `info` or never, and its client continues as a new process.
    #[arg(long, default_value_t = 0.0)]
    pub crash_rate: f64,
    /// Keys, for kv.
    #[arg(long, default_value_t = 8)]
    pub keys: usize,
    /// Inject one anomaly halfway through, a guaranteed violation: stale-read,
    /// lost-write, or future-read (a read of a value whose only write is invoked
    /// after the read completed).
    #[arg(long, value_name = "A")]
    pub anomaly: Option<String>,
    /// Draw written values from 1..=N, so values repeat (default: every value
    /// written is unique).
    #[arg(long, value_name = "N")]
    pub values: Option<u64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the history (default: standard output).
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

pub fn run(args: SynthArgs) -> ExitCode {
    let bad = |message: String| {
        eprintln!("faultline synth: {message}");
        exit::code(exit::BAD_INPUT)
    };
    let Some(model) = SynthModel::from_name(&args.model) else {
        return bad(format!(
            "--model: unknown model `{}` (known: {})",
            args.model,
            SynthModel::NAMES.join(", ")
        ));
    };
    let anomaly = match args.anomaly.as_deref() {
        None => None,
        Some(name) => match Anomaly::from_name(name) {
            Some(a) => Some(a),
            None => {
                return bad(format!(
                    "--anomaly: unknown anomaly `{name}` (known: {})",
                    Anomaly::NAMES.join(", ")
                ))
            }
        },
    };
    if !(0.0..=1.0).contains(&args.crash_rate) {
        return bad(format!(
            "--crash-rate: {} is not a probability between 0 and 1",
            args.crash_rate
        ));
    }
    if args.clients == 0 || args.keys == 0 {
        return bad("--clients and --keys must be at least 1".into());
    }
    let options = SynthOptions {
        model,
        clients: args.clients,
        ops: args.ops,
        crash_rate: args.crash_rate,
        keys: args.keys,
        anomaly,
        seed: args.seed,
        values: args.values,
    };
    if let Err(message) = options.validate() {
        return bad(message);
    }
    let outcome = generate(&options);
    let text = outcome.history.to_jsonl();
    let written = match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("standard output: {e}")),
    };
    if let Err(message) = written {
        eprintln!("faultline synth: cannot write the history: {message}");
        return exit::code(exit::HARNESS_ERROR);
    }
    let crashed = outcome
        .history
        .ops
        .iter()
        .filter(|op| op.is_indeterminate())
        .count();
    let mut summary = format!(
        "faultline synth: {} events, {} operations ({} indeterminate), {} clients, model {}",
        outcome.history.events.len(),
        outcome.history.ops.len(),
        crashed,
        args.clients,
        args.model
    );
    match (anomaly, outcome.anomaly_at) {
        (Some(_), Some(time)) => summary.push_str(&format!(
            "; anomaly injected into the operation invoked at time {time}"
        )),
        (Some(_), None) => summary
            .push_str("; the anomaly found no opportunity (history too short?): none injected"),
        (None, _) => {}
    }
    eprintln!("{summary}");
    exit::code(exit::VALID)
}
