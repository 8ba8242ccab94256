//! The pages of `faultline serve` other than the reports themselves: the index of
//! every run (filter and sort in the page, failing runs first) and a folder's
//! listing. Self-contained like the report: inline CSS and script, nothing loaded
//! from elsewhere. The rows are written by the server, so the page is complete
//! without its script; the script only filters, sorts and counts.

use super::html::esc;
use crate::results::browse::Item;
use crate::results::index::RunEntry;
use std::fmt::Write;

const CSS: &str = r#"body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:12px 20px;max-width:1500px;color:#1d1d1f}
h1{font-size:22px;margin:4px 0 8px}code{font:12px ui-monospace,Menlo,Consolas,monospace}
table{border-collapse:collapse;margin:8px 0;width:100%}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th[data-sort]{cursor:pointer;user-select:none}th[data-sort]:hover{text-decoration:underline}th.asc::after{content:" \25B2"}th.desc::after{content:" \25BC"}
.verdict{font-weight:600;padding:1px 8px;border-radius:10px;white-space:nowrap}
.verdict.valid{background:#dff3e3;color:#11622a}.verdict.invalid{background:#fde2e1;color:#9b1c1c}.verdict.unknown{background:#fff1c7;color:#7a5b00}.verdict.error{background:#e8e8ee;color:#333}
.check{white-space:nowrap;margin-right:8px}.bar{margin:6px 0}.bar input{width:28em}.muted{color:#666}
"#;

const SCRIPT: &str = r#"(function(){
var body=document.querySelector('#runs tbody'),rows=[].slice.call(body.rows);
var q=document.getElementById('q'),v=document.getElementById('v'),shown=document.getElementById('shown');
function apply(){var t=q.value.toLowerCase(),want=v.value,n=0;
rows.forEach(function(r){var ok=(!want||r.dataset.verdict===want)&&(!t||r.textContent.toLowerCase().indexOf(t)>=0);
r.style.display=ok?'':'none';if(ok)n++;});
shown.textContent=n+' of '+rows.length+' runs shown';}
var key=null,dir=1;
[].forEach.call(document.querySelectorAll('th[data-sort]'),function(th){th.addEventListener('click',function(){
var k=th.dataset.sort;dir=(key===k)?-dir:1;key=k;
[].forEach.call(document.querySelectorAll('th[data-sort]'),function(h){h.classList.remove('asc','desc');});
th.classList.add(dir>0?'asc':'desc');
rows.sort(function(a,b){var x=a.dataset[k],y=b.dataset[k];
if(k==='seed'||k==='rank'){x=Number(x);y=Number(y);}
return (x<y?-1:x>y?1:0)*dir;});
rows.forEach(function(r){body.appendChild(r);});});});
q.addEventListener('input',apply);v.addEventListener('change',apply);apply();})();"#;

/// A word and a mark for a verdict, so it is not told by colour alone.
fn mark(verdict: &str) -> &'static str {
    match verdict {
        "valid" => "\u{2714}",
        "invalid" => "\u{2718}",
        "unknown" => "?",
        _ => "!",
    }
}

/// The index page of the runs under `root_shown` (the results folder as the user
/// named it).
pub fn index_page(root_shown: &str, entries: &[RunEntry]) -> String {
    let mut out = String::with_capacity(512 + entries.len() * 700);
    let failing = entries.iter().filter(|e| e.rank() < 3).count();
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>faultline runs</title><style>{CSS}</style></head><body>\
<h1>faultline runs</h1><p class=muted>{} runs under <code>{}</code>, {failing} not valid; failing runs first, newest first. Click a column to sort. <a href=\"/index.json\">JSON</a></p>\
<div class=bar><input id=q type=search placeholder=\"filter: name, system, seed, check...\"> <select id=v><option value=\"\">every verdict</option>\
<option value=invalid>invalid</option><option value=error>error</option><option value=unknown>unknown</option><option value=valid>valid</option></select> <span id=shown>{} runs</span></div>\
<table id=runs><thead><tr><th data-sort=rank>verdict</th><th data-sort=name>name</th><th data-sort=system>system</th><th data-sort=time>started (UTC)</th><th data-sort=seed>seed</th><th>checks</th><th>run</th></tr></thead><tbody>",
        entries.len(),
        esc(root_shown),
        entries.len(),
    );
    for e in entries {
        row(&mut out, e);
    }
    let _ = write!(
        out,
        "</tbody></table><script>{SCRIPT}</script></body></html>"
    );
    out
}

fn row(out: &mut String, e: &RunEntry) {
    let href = url_path(&e.path);
    let time = e
        .started_at
        .get(..19)
        .unwrap_or(&e.started_at)
        .replace('T', " ");
    let seed = e.seed.map_or(String::new(), |s| s.to_string());
    let _ = write!(
        out,
        "<tr data-verdict=\"{v}\" data-rank={} data-name=\"{n}\" data-system=\"{s}\" data-time=\"{t}\" data-seed=\"{seed}\">\
<td><span class=\"verdict {v}\">{} {v}</span>{}</td><td>{n}</td><td><code>{s}</code></td><td>{}</td><td>{seed}</td><td>",
        e.rank(),
        mark(&e.verdict),
        if e.interrupted { " <span class=muted>(interrupted)</span>" } else { "" },
        esc(&time),
        v = esc(&e.verdict),
        n = esc(&e.name),
        s = esc(&e.system),
        t = esc(&e.started_at),
    );
    for c in &e.checks {
        let v = c.verdict.to_string();
        let _ = write!(
            out,
            "<span class=check title=\"{}\">{} {}</span> ",
            esc(&c.summary),
            esc(&c.name),
            mark(&v)
        );
    }
    if let Some(err) = &e.error {
        let _ = write!(out, "<span class=muted>{}</span>", esc(err));
    }
    let report = if e.report {
        format!("<a href=\"/runs/{href}/report.html\">report</a> · ")
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "</td><td>{report}<a href=\"/runs/{href}/\">files</a> · <a href=\"/zip/{href}\">zip</a><br><code class=muted>{}</code></td></tr>",
        esc(&e.path)
    );
}

/// A folder's listing: each item linked, folders first, with sizes; the run's zip
/// when the folder is a run.
pub fn listing_page(rel: &str, items: &[Item], is_run: bool) -> String {
    let rel = rel.trim_matches('/');
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{t}</title><style>{CSS}</style></head><body>\
<p><a href=\"/\">all runs</a></p><h1><code>/{t}</code></h1>",
        t = esc(rel)
    );
    if is_run {
        let report = if items.iter().any(|i| i.name == "report.html") {
            format!(
                "<a href=\"/runs/{}/report.html\">report</a> · ",
                url_path(rel)
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<p>{report}<a href=\"/zip/{}\">the whole folder as a zip</a></p>",
            url_path(rel)
        );
    }
    out.push_str("<table><thead><tr><th>name</th><th>size</th></tr></thead><tbody>");
    if !rel.is_empty() {
        let up = rel.rsplit_once('/').map_or("", |(u, _)| u);
        let _ = write!(
            out,
            "<tr><td><a href=\"/runs/{}\">..</a></td><td></td></tr>",
            url_path(up)
        );
    }
    for item in items {
        let path = if rel.is_empty() {
            item.name.clone()
        } else {
            format!("{rel}/{}", item.name)
        };
        let (slash, size) = if item.is_dir {
            ("/", String::new())
        } else {
            ("", size_text(item.size))
        };
        let _ = write!(
            out,
            "<tr><td><a href=\"/runs/{}{slash}\">{}{slash}</a></td><td>{size}</td></tr>",
            url_path(&path),
            esc(&item.name)
        );
    }
    out.push_str("</tbody></table></body></html>");
    out
}

/// Bytes as people read them: `812 B`, `4.1 KB`, `2.3 MB`.
fn size_text(bytes: u64) -> String {
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_048_576.0),
    }
}

/// A path as it goes in a link: each part percent-encoded, `/` kept.
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::index::CheckEntry;
    use checker::verdict::Verdict;

    #[test]
    fn the_index_page_links_each_run_and_escapes_what_it_shows() {
        let entry = RunEntry {
            path: "a b/2026".into(),
            name: "<x>".into(),
            system: "raft-kv --bug=stale-read".into(),
            started_at: "2026-01-01T00:00:00.123+00:00".into(),
            seed: Some(5),
            verdict: "invalid".into(),
            checks: vec![CheckEntry {
                name: "linearizable".into(),
                verdict: Verdict::Invalid,
                summary: "1 key".into(),
            }],
            error: None,
            interrupted: false,
            report: true,
        };
        let page = index_page("results", &[entry]);
        assert!(
            page.contains("href=\"/runs/a%20b/2026/report.html\""),
            "{page}"
        );
        assert!(page.contains("href=\"/zip/a%20b/2026\""), "{page}");
        assert!(page.contains("&lt;x&gt;"));
        assert!(!page.contains("<x>"));
        assert!(page.contains("linearizable \u{2718}"));
        assert!(page.contains("2026-01-01 00:00:00"));
    }

    #[test]
    fn a_run_folders_listing_links_its_report_only_when_it_has_one() {
        let item = |name: &str, is_dir: bool| Item {
            name: name.into(),
            is_dir,
            size: 2048,
        };
        let without = listing_page(
            "t/1",
            &[item("nodes", true), item("results.json", false)],
            true,
        );
        assert!(!without.contains("report.html"), "{without}");
        assert!(without.contains("href=\"/zip/t/1\""), "{without}");
        assert!(
            without.contains("href=\"/runs/t/1/nodes/\">nodes/</a>"),
            "{without}"
        );
        assert!(without.contains("2.0 KB"), "{without}");
        assert!(without.contains("href=\"/runs/t\">..</a>"), "{without}");
        let with = listing_page("t/1", &[item("report.html", false)], true);
        assert!(
            with.contains("href=\"/runs/t/1/report.html\">report</a>"),
            "{with}"
        );
    }
}
