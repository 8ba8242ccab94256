//! `faultline check --check list-append|rw-register` on a stored history: the
//! transactional checks read their micro-operations straight from the file, never
//! building a `History`, so a million transactions fit in well under a gigabyte (a
//! history holds every value as JSON, about 11 KB per transaction). faultline's
//! JSONL is read line by line (`checker::txn::read_jsonl`); other formats (Elle's
//! EDN, the JSON elle-cli reads) through their importers, then dropped.
//!
//! A transaction that cannot be read (a micro-operation of the wrong shape, a read
//! that is not a list in a list-append history) is bad input: the error names the
//! file, the line where one is known, and what is wrong.

use super::checks::Checked;
use super::{print_warnings, ReadingFlags};
use crate::check::{self, promises, CheckContext, CheckKind};
use anyhow::{anyhow, Context, Result};
use checker::history::History;
use checker::import::{self, Format, Imported};
use checker::txn::{read_jsonl, ReadKind, Txns};
use checker::verdict::Verdict;
use std::io::{BufReader, Read};
use std::path::Path;
use std::time::Instant;

/// Where the transactions come from: the file itself, or a history imported once.
enum Source {
    Jsonl,
    Imported(Box<Imported>),
}

/// Runs the context's checks (all transactional) on the history at `path`.
pub(super) fn check_one(
    path: &Path,
    format: Option<Format>,
    readings: ReadingFlags,
    ctx: &CheckContext,
) -> Result<Checked> {
    let format = match format {
        Some(f) => Some(f),
        None => detect(path)?,
    };
    let source = match format {
        Some(Format::Jsonl) => Source::Jsonl,
        _ => Source::Imported(Box::new(super::load(path, format)?)),
    };
    let (warnings, readings) = match &source {
        Source::Jsonl => (Vec::new(), readings.apply_format(Some(Format::Jsonl))),
        Source::Imported(imported) => {
            let warnings: Vec<String> = imported.warnings.iter().map(|w| w.to_string()).collect();
            print_warnings(path, &warnings);
            (warnings, readings.apply(imported))
        }
    };
    let shown = path.display().to_string();
    let mut results = Vec::with_capacity(ctx.checks.len());
    for &kind in &ctx.checks {
        let read_kind = check::txn::read_kind(kind);
        let txns = txns(path, &source, read_kind)?;
        if txns.txns.is_empty() {
            anyhow::bail!(
                "the history has no `txn` operations (docs/history.md, \"Transactions\")"
            );
        }
        let started = Instant::now();
        let found = check::txn::check_txns(read_kind, &txns, ctx);
        results.push(check::result(kind, Ok(found), ctx, &shown, started));
    }
    let promises = promises::judge(&results, &History::default(), None);
    Ok(Checked {
        verdict: Verdict::all(results.iter().map(|c| c.verdict)),
        results,
        promises,
        readings,
        warnings,
    })
}

/// Whether every check the context names is transactional (and there is one).
pub(super) fn all_transactional(ctx: &CheckContext) -> bool {
    !ctx.checks.is_empty() && ctx.checks.iter().all(|k: &CheckKind| k.is_transactional())
}

/// The format of the file, from its first 64 KB (as `faultline check` detects it).
fn detect(path: &Path) -> Result<Option<Format>> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let text = match std::str::from_utf8(&head) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
    };
    Ok(import::detect(text))
}

/// The transactions of the history, read as `kind`; errors name the file.
fn txns(path: &Path, source: &Source, kind: ReadKind) -> Result<Txns> {
    match source {
        Source::Jsonl => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("{}: cannot read", path.display()))?;
            read_jsonl(BufReader::with_capacity(1 << 20, file), kind)
                .map_err(|e| anyhow!("{}:{}: {}", path.display(), e.line, e.what))
        }
        Source::Imported(imported) => {
            Txns::parse(&imported.history, kind).map_err(|e| anyhow!("{}: {e}", path.display()))
        }
    }
}
