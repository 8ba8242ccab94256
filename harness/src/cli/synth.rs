//! `faultline synth`: writes a synthetic history (faultline's JSONL format) from a
//! simulated linearizable object, optionally with one injected anomaly.

use super::exit;
use checker::synth::{generate, Anomaly, SynthModel, SynthOptions};
use checker::synth_txn::{write_txns_jsonl, TxnAnomaly, TxnDatatype, TxnSynthOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SynthArgs {
    /// The simulated object: register, cas-register or kv; or transactions:
    /// list-append or rw-register (strict serializable unless an anomaly is injected).
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
    /// after the read completed); for transactions G0, G1c, G-single or G2-item.
    #[arg(long, value_name = "A")]
    pub anomaly: Option<String>,
    /// Draw written values from 1..=N, so values repeat (default: every value
    /// written is unique).
    #[arg(long, value_name = "N")]
    pub values: Option<u64>,
    /// Micro-operations per transaction (list-append, rw-register).
    #[arg(long, default_value_t = 4)]
    pub txn_length: usize,
    /// Writes after which a key is retired for a fresh one (list-append, rw-register).
    #[arg(long, default_value_t = 32)]
    pub max_writes_per_key: usize,
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
    if !(0.0..=1.0).contains(&args.crash_rate) {
        return bad(format!(
            "--crash-rate: {} is not a probability between 0 and 1",
            args.crash_rate
        ));
    }
    if let Some(datatype) = txn_datatype(&args.model) {
        return txn(&args, datatype);
    }
    let Some(model) = SynthModel::from_name(&args.model) else {
        return bad(format!(
            "--model: unknown model `{}` (known: {}, list-append, rw-register)",
            args.model,
            SynthModel::NAMES.join(", ")
        ));
    };
    let anomaly = match anomaly_flag(&args, Anomaly::from_name, Anomaly::NAMES, "") {
        Ok(a) => a,
        Err(message) => return bad(message),
    };
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
    if let Err(code) = write(&args, &outcome.history) {
        return code;
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

/// Writes the history where asked.
fn write(args: &SynthArgs, history: &checker::history::History) -> Result<(), ExitCode> {
    let text = history.to_jsonl();
    let written = match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("standard output: {e}")),
    };
    written.map_err(|message| {
        eprintln!("faultline synth: cannot write the history: {message}");
        exit::code(exit::HARNESS_ERROR)
    })
}

fn txn_datatype(model: &str) -> Option<TxnDatatype> {
    match model {
        "list-append" => Some(TxnDatatype::ListAppend),
        "rw-register" => Some(TxnDatatype::RwRegister),
        _ => None,
    }
}

/// A transactional history (`checker::synth_txn`).
fn txn(args: &SynthArgs, datatype: TxnDatatype) -> ExitCode {
    let bad = |message: String| {
        eprintln!("faultline synth: {message}");
        exit::code(exit::BAD_INPUT)
    };
    let anomaly = match anomaly_flag(
        args,
        TxnAnomaly::from_name,
        &TxnAnomaly::NAMES,
        " for transactions",
    ) {
        Ok(a) => a,
        Err(message) => return bad(message),
    };
    let options = TxnSynthOptions {
        datatype,
        clients: args.clients,
        txns: args.ops,
        length: args.txn_length,
        keys: args.keys,
        max_writes_per_key: args.max_writes_per_key,
        crash_rate: args.crash_rate,
        anomaly,
        seed: args.seed,
    };
    if let Err(message) = options.validate() {
        return bad(message);
    }
    let (events, injected) = match write_txns(args, &options) {
        Ok(written) => written,
        Err(code) => return code,
    };
    let mut summary = format!(
        "faultline synth: {events} events, {} transactions, {} clients, model {}",
        options.txns, args.clients, args.model
    );
    match (anomaly, injected) {
        (Some(a), Some(time)) => summary.push_str(&format!(
            "; {} injected at the transaction invoked at time {time}",
            TxnAnomaly::NAMES[a as usize]
        )),
        (Some(_), None) => {
            summary.push_str("; too few transactions to inject the anomaly: none injected")
        }
        (None, _) => {}
    }
    eprintln!("{summary}");
    exit::code(exit::VALID)
}

/// Writes the transactions to `-o` or standard output as they are made (a million
/// would not fit in memory as a history): the number of events, and where the
/// anomaly was injected.
fn write_txns(
    args: &SynthArgs,
    options: &TxnSynthOptions,
) -> Result<(usize, Option<u64>), ExitCode> {
    let written = match &args.output {
        Some(path) => std::fs::File::create(path)
            .and_then(|f| {
                let mut out = std::io::BufWriter::new(f);
                let written = write_txns_jsonl(options, &mut out)?;
                out.flush()?;
                Ok(written)
            })
            .map_err(|e| format!("{}: {e}", path.display())),
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write_txns_jsonl(options, &mut out)
                .and_then(|w| out.flush().map(|_| w))
                .map_err(|e| format!("standard output: {e}"))
        }
    };
    written.map_err(|message| {
        eprintln!("faultline synth: cannot write the history: {message}");
        exit::code(exit::HARNESS_ERROR)
    })
}

/// `--anomaly`, read with the names a kind of history knows.
fn anomaly_flag<A>(
    args: &SynthArgs,
    parse: fn(&str) -> Option<A>,
    names: &[&str],
    what: &str,
) -> Result<Option<A>, String> {
    args.anomaly
        .as_deref()
        .map(|name| {
            parse(name).ok_or_else(|| {
                format!(
                    "--anomaly: unknown anomaly `{name}`{what} (known: {})",
                    names.join(", ")
                )
            })
        })
        .transpose()
}
