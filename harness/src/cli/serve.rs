//! `faultline serve`: the runs under a results folder over HTTP, read-only: an index
//! of every run (failing first), each run's `report.html`, its files, and the run
//! folder as a zip. It listens on loopback unless `--allow-remote` says otherwise,
//! because whoever reaches it reads every file of every run. A path that leads out
//! of the results folder (`..`, `%2e%2e`, a link) is refused.

use super::{exit, outln};
use crate::error::bad_input;
use crate::results::browse::{self, Refused};
use crate::results::index::RunIndex;
use crate::results::render::index::{index_page, listing_page};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The results folder whose runs are served (every run under it, campaigns' too).
    #[arg(long, value_name = "DIR", default_value = crate::config::defaults::RESULTS_DIR)]
    results: PathBuf,
    /// Address and port to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Allow an address other machines can reach: they can then read every file of every run.
    #[arg(long)]
    allow_remote: bool,
}

/// A message from faultline itself, on standard error.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "faultline serve: {message}");
}

pub fn run(args: ServeArgs) -> ExitCode {
    let (root, addr) = match settle(&args) {
        Ok(s) => s,
        Err(e) => {
            say(&format!("{e:#}"));
            return exit::code(exit::BAD_INPUT);
        }
    };
    let Some(runtime) = super::runtime(say) else {
        return exit::code(exit::HARNESS_ERROR);
    };
    let code = runtime.block_on(serve(root, args.results, addr));
    exit::code(code)
}

/// The canonical results folder and the address, or why they cannot be used.
fn settle(args: &ServeArgs) -> anyhow::Result<(PathBuf, SocketAddr)> {
    let root = args.results.canonicalize().ok().filter(|p| p.is_dir()).ok_or_else(|| {
        bad_input(format!(
            "--results {}: no such folder (runs are written to ./results unless --results-dir says otherwise)",
            args.results.display()
        ))
    })?;
    let addr: SocketAddr = args.bind.parse().map_err(|_| {
        bad_input(format!(
            "--bind {}: not an address and port, such as 127.0.0.1:8080",
            args.bind
        ))
    })?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(bad_input(format!(
            "--bind {addr}: not a loopback address; the server hands every file of every run to whoever reaches it, so it listens on loopback (127.0.0.1, ::1) unless --allow-remote is given"
        )));
    }
    Ok((root, addr))
}

/// Serves until Ctrl-C or SIGTERM; returns the exit code.
async fn serve(root: PathBuf, shown: PathBuf, addr: SocketAddr) -> u8 {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            say(&format!("cannot listen on {addr}: {e}"));
            return exit::HARNESS_ERROR;
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    let index = Arc::new(RunIndex::new(root));
    // Read every run once now, so the first visit is served from the cache.
    let warm = index.clone();
    tokio::task::spawn_blocking(move || warm.entries());
    let app = router(index, shown.display().to_string());
    outln!(
        "faultline serve: http://{local}/ (the runs under {}, read-only); Ctrl-C stops it",
        shown.display()
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await;
    match served {
        Ok(()) => {
            say("stopped");
            exit::VALID
        }
        Err(e) => {
            say(&format!("the server failed: {e}"));
            exit::HARNESS_ERROR
        }
    }
}

/// Ctrl-C (SIGINT) or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
}

#[derive(Clone)]
struct Served {
    index: Arc<RunIndex>,
    shown: Arc<str>,
}

/// The routes; every one is a GET (HEAD too): nothing can change a run.
pub fn router(index: Arc<RunIndex>, shown: String) -> Router {
    Router::new()
        .route("/", get(index_html))
        .route("/index.json", get(index_json))
        .route("/runs", get(root_listing))
        .route("/runs/", get(root_listing))
        .route("/runs/*path", get(run_file))
        .route("/zip/*path", get(run_zip))
        .with_state(Served {
            index,
            shown: shown.into(),
        })
}

async fn entries(s: &Served) -> Result<Vec<crate::results::index::RunEntry>, Response> {
    let index = s.index.clone();
    match tokio::task::spawn_blocking(move || index.entries()).await {
        Ok(Ok(e)) => Ok(e),
        Ok(Err(e)) => Err(failed(&format!("{e:#}"))),
        Err(e) => Err(failed(&format!("reading the runs failed: {e}"))),
    }
}

async fn index_html(State(s): State<Served>) -> Response {
    match entries(&s).await {
        Ok(e) => Html(index_page(&s.shown, &e)).into_response(),
        Err(r) => r,
    }
}

async fn index_json(State(s): State<Served>) -> Response {
    match entries(&s).await {
        Ok(e) => axum::Json(e).into_response(),
        Err(r) => r,
    }
}

async fn root_listing(State(s): State<Served>) -> Response {
    run_file(State(s), UrlPath(String::new())).await
}

/// A file of the results folder, or a folder's listing.
async fn run_file(State(s): State<Served>, UrlPath(rel): UrlPath<String>) -> Response {
    let path = match browse::resolve(s.index.root(), &rel) {
        Ok(p) => p,
        Err(r) => return refused(r, &rel),
    };
    if path.is_dir() {
        let rel = rel.trim_matches('/').to_string();
        let is_run = path.join("results.json").is_file();
        return match browse::list(&path) {
            Ok(items) => Html(listing_page(&rel, &items, is_run)).into_response(),
            Err(e) => failed(&format!("{e:#}")),
        };
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let kind = content_type(&path, &bytes);
            (
                [
                    (header::CONTENT_TYPE, kind),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => failed(&format!("reading {rel}: {e}")),
    }
}

/// A run folder (or any folder of the results) as one zip archive.
async fn run_zip(State(s): State<Served>, UrlPath(rel): UrlPath<String>) -> Response {
    let root = s.index.root().to_path_buf();
    let dir = match browse::resolve(&root, &rel) {
        Ok(p) if p.is_dir() => p,
        Ok(_) => return refused(Refused::NotFound, &rel),
        Err(r) => return refused(r, &rel),
    };
    let name = zip_name(&rel);
    let zipped = tokio::task::spawn_blocking(move || browse::zip_folder(&root, &dir)).await;
    match zipped {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => failed(&format!("{e:#}")),
        Err(e) => failed(&format!("zipping failed: {e}")),
    }
}

/// `<test>-<timestamp>.zip` from the run's last two path parts, in characters any
/// file system takes.
fn zip_name(rel: &str) -> String {
    let parts: Vec<&str> = rel.trim_matches('/').rsplit('/').take(2).collect();
    let joined: String = parts.into_iter().rev().collect::<Vec<_>>().join("-");
    let safe: String = joined
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}.zip", if safe.is_empty() { "results" } else { &safe })
}

fn content_type(path: &Path, bytes: &[u8]) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "zip" => "application/zip",
        _ if std::str::from_utf8(bytes).is_ok() => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn refused(why: Refused, rel: &str) -> Response {
    match why {
        Refused::Outside => (
            StatusCode::FORBIDDEN,
            format!("refused: {rel} is not inside the results folder\n"),
        )
            .into_response(),
        Refused::NotFound => (StatusCode::NOT_FOUND, format!("not found: {rel}\n")).into_response(),
    }
}

fn failed(why: &str) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, format!("{why}\n")).into_response()
}
