//! The report's plots, drawn here as inline SVG (no script needed to see them):
//! the latency of every operation over time, one plot per function, on a log scale
//! with p50/p95/p99 lines per time window; the throughput of ok, fail and info
//! completions per second; both with the faults shaded and labelled; and the
//! availability figures.
//!
//! A large history stays small: points are drawn for the operations the timeline
//! draws one by one (all of them up to [`super::KEEP_ALL`], else those near a
//! counterexample), and the percentile lines and rates count every operation.

use super::data::{duration, when, Data};
use super::esc;
use crate::results::availability::{Availability, Share};
use crate::results::faults::{ms, Band};
use checker::history::{History, Outcome};
use std::collections::BTreeMap;
use std::fmt::Write;

pub(super) const W: f64 = 1000.0;
pub(super) const H: f64 = 190.0;
pub(super) const LEFT: f64 = 74.0;
pub(super) const RIGHT: f64 = 60.0;
pub(super) const TOP: f64 = 18.0;
pub(super) const BOTTOM: f64 = 22.0;
/// Percentile lines are computed over this many windows of the run.
const WINDOWS: usize = 60;

/// The plots section: availability, one latency plot per function, throughput.
pub fn section(history: &History, data: &Data, availability: &Availability) -> String {
    let mut out =
        String::from("<section id=\"plots\"><h2>Latency, throughput, availability</h2>\n");
    out.push_str(&availability_table(availability));
    let frame = Frame {
        end: data.end.max(1e-6),
    };
    let lat = latencies(history);
    for (f, ops) in &lat {
        let points: Vec<(f64, f64, bool)> = data
            .ops
            .iter()
            .filter(|o| &o.f == f && o.o != "info")
            .map(|o| (o.s, (o.e - o.s).max(0.0), o.o == "ok"))
            .collect();
        out.push_str(&latency_plot(&frame, f, ops, &points, &data.bands));
    }
    out.push_str(&throughput_plot(&frame, history, &data.bands));
    out.push_str("</section>\n");
    out
}

/// Invocation time and latency (ms) of every completed operation, and whether it was
/// ok, by function.
type Latencies<'a> = BTreeMap<&'a str, Vec<(f64, f64, bool)>>;

fn latencies(history: &History) -> Latencies<'_> {
    let mut out: Latencies = BTreeMap::new();
    for op in history.ops.iter().filter(|o| o.outcome != Outcome::Info) {
        let l = ms(op.ret.saturating_sub(op.call));
        out.entry(op.f.as_str())
            .or_default()
            .push((ms(op.call), l, op.outcome == Outcome::Ok));
    }
    out
}

fn availability_table(a: &Availability) -> String {
    let row = |name: &str, s: &Share| {
        format!(
            "<tr><td>{}</td><td>{:.1}%</td><td>{} of {}</td></tr>",
            esc(name),
            s.ok_share * 100.0,
            s.ok,
            s.ops
        )
    };
    let mut out = String::from(
        "<table id=\"availability\"><tr><th>operations invoked</th><th>ok</th><th>count</th></tr>",
    );
    out.push_str(&row("over the whole run", &a.overall));
    out.push_str(&row("while no fault was in force", &a.no_fault));
    for (kind, s) in &a.by_fault {
        out.push_str(&row(&format!("during {kind}"), s));
    }
    out.push_str("</table>\n");
    out
}

/// The run's time axis, shared by every plot.
pub(super) struct Frame {
    pub(super) end: f64,
}

impl Frame {
    pub(super) fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.end).clamp(0.0, 1.0) * (W - LEFT - RIGHT)
    }

    /// The SVG's opening, the fault bands and the time axis.
    pub(super) fn open(&self, id: &str, title: &str, bands: &[Band]) -> String {
        let mut s = format!(
            "<figure><figcaption>{}</figcaption><svg class=\"plot\" id=\"{id}\" viewBox=\"0 0 {W} {H}\" xmlns=\"http://www.w3.org/2000/svg\">",
            esc(title)
        );
        for b in bands {
            let (a, z) = (self.x(b.s), self.x(b.e));
            let _ = write!(
                s,
                "<g class=\"pband\" data-kind=\"{k}\"><title>fault {k} {d}, {} to {}</title>\
                 <rect class=\"band {k}\" x=\"{a:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"/>\
                 <text class=\"bandlabel\" x=\"{:.1}\" y=\"{:.1}\">{k}</text></g>",
                when(b.s, self.end),
                when(b.e, self.end),
                (z - a).max(1.5),
                H - TOP - BOTTOM,
                a + 2.0,
                TOP - 4.0,
                k = esc(&b.kind),
                d = esc(&b.detail),
            );
        }
        let step = nice_step(self.end / 8.0);
        let mut t = 0.0;
        while t <= self.end + 1e-12 {
            let x = self.x(t);
            let _ = write!(
                s,
                "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{}\"/><text x=\"{x:.1}\" y=\"{}\" class=\"tick\">{}</text>",
                H - BOTTOM,
                H - 6.0,
                when(t, self.end)
            );
            t += step;
        }
        s
    }
}

/// Horizontal grid lines at `values` of a linear axis, labelled on the left.
pub(super) fn linear_ticks(values: &[f64], y: impl Fn(f64) -> f64) -> String {
    let mut s = String::new();
    for &v in values {
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"ytick\" x=\"{}\" y=\"{:.1}\">{v:.0}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    s
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// A log-scale y axis over whole decades.
struct LogAxis {
    lo: i32,
    hi: i32,
}

impl LogAxis {
    fn over(values: impl Iterator<Item = f64>) -> LogAxis {
        let (mut lo, mut hi) = (f64::INFINITY, 0f64);
        for v in values.filter(|v| *v > 0.0) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            return LogAxis { lo: -1, hi: 0 };
        }
        let lo = lo.log10().floor() as i32;
        LogAxis {
            lo,
            hi: (hi.log10().ceil() as i32).max(lo + 1),
        }
    }

    fn y(&self, v: f64) -> f64 {
        let l = v.max(10f64.powi(self.lo)).log10();
        TOP + (self.hi as f64 - l) / (self.hi - self.lo) as f64 * (H - TOP - BOTTOM)
    }

    fn ticks(&self) -> String {
        let mut s = String::new();
        for k in self.lo..=self.hi {
            let y = self.y(10f64.powi(k));
            let _ = write!(
                s,
                "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"ytick\" x=\"{}\" y=\"{:.1}\">{}</text>",
                W - RIGHT,
                LEFT - 4.0,
                y + 4.0,
                duration(10f64.powi(k))
            );
        }
        s
    }
}

/// One function's latencies: its points (ok dots, fail crosses), and p50/p95/p99
/// per window over every completed operation.
fn latency_plot(
    frame: &Frame,
    f: &str,
    all: &[(f64, f64, bool)],
    points: &[(f64, f64, bool)],
    bands: &[Band],
) -> String {
    let axis = LogAxis::over(all.iter().map(|p| p.1));
    let title = format!(
        "Latency of {f} ({} completed; log scale; dots ok, crosses fail; lines p50, p95, p99 per window)",
        all.len()
    );
    let mut s = frame.open(&format!("latency-{}", esc(f)), &title, bands);
    s.push_str(&axis.ticks());
    let (mut ok, mut fail) = (String::new(), String::new());
    for &(t, l, is_ok) in points {
        let (x, y) = (frame.x(t), axis.y(l));
        if is_ok {
            let _ = write!(ok, "M{x:.1} {y:.1}h0");
        } else {
            let _ = write!(fail, "M{:.1} {:.1}l4 4m0-4l-4 4", x - 2.0, y - 2.0);
        }
    }
    let _ = write!(
        s,
        "<path class=\"dots ok\" data-points=\"{}\" d=\"{ok}\"/><path class=\"dots fail\" d=\"{fail}\"/>",
        points.iter().filter(|p| p.2).count()
    );
    let windows = windows(frame, all);
    for (q, class) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
        s.push_str(&percentile_line(frame, &axis, &windows, q, class));
    }
    s.push_str("</svg></figure>\n");
    s
}

/// The latencies invoked in each of [`WINDOWS`] windows, sorted.
fn windows(frame: &Frame, all: &[(f64, f64, bool)]) -> Vec<Vec<f64>> {
    let width = frame.end / WINDOWS as f64;
    let mut windows: Vec<Vec<f64>> = vec![Vec::new(); WINDOWS];
    for &(t, l, _) in all {
        windows[((t / width) as usize).min(WINDOWS - 1)].push(l);
    }
    for w in &mut windows {
        w.sort_unstable_by(f64::total_cmp);
    }
    windows
}

/// The `q` quantile of each window's latencies, as one line (broken where a window
/// is empty), labelled at its right end.
fn percentile_line(
    frame: &Frame,
    axis: &LogAxis,
    windows: &[Vec<f64>],
    q: f64,
    class: &str,
) -> String {
    let width = frame.end / WINDOWS as f64;
    let mut d = String::new();
    let mut pen_up = true;
    let mut last = None;
    for (i, w) in windows.iter().enumerate() {
        if w.is_empty() {
            pen_up = true;
            continue;
        }
        let rank = ((q * w.len() as f64).ceil() as usize).clamp(1, w.len()) - 1;
        let (x, y) = (frame.x((i as f64 + 0.5) * width), axis.y(w[rank]));
        let _ = write!(d, "{}{x:.1} {y:.1}", if pen_up { "M" } else { "L" });
        pen_up = false;
        last = Some((x, y));
    }
    // The three labels side by side: equal quantiles would draw them on one another.
    let shift = match class {
        "p50" => 4.0,
        "p95" => 22.0,
        _ => 40.0,
    };
    match last {
        Some((x, y)) => format!(
            "<path class=\"pline {class}\" d=\"{d}\"/><text class=\"plabel\" x=\"{:.1}\" y=\"{:.1}\">{class}</text>",
            x + shift,
            y + 3.0
        ),
        None => String::new(),
    }
}

/// Completions per second (per window on a logical clock) of ok, fail and info.
fn throughput_plot(frame: &Frame, history: &History, bands: &[Band]) -> String {
    let width = bucket_ms(frame.end);
    let n = ((frame.end / width).ceil() as usize).max(1);
    let mut counts = vec![[0u32; 3]; n];
    let time_of = |i: u64| {
        history
            .events
            .binary_search_by_key(&i, |e| e.index)
            .ok()
            .map(|p| ms(history.events[p].time))
    };
    for op in &history.ops {
        let (t, slot) = match op.outcome {
            Outcome::Ok => (Some(ms(op.ret)), 0),
            Outcome::Fail => (Some(ms(op.ret)), 1),
            Outcome::Info => (op.complete_index.and_then(time_of), 2),
        };
        if let Some(t) = t {
            counts[((t / width) as usize).min(n - 1)][slot] += 1;
        }
    }
    let per = if frame.end >= 1000.0 {
        width / 1000.0
    } else {
        1.0
    };
    let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64 / per;
    let y = |v: f64| TOP + (1.0 - v / top) * (H - TOP - BOTTOM);
    let unit = if frame.end >= 1000.0 {
        "per second"
    } else {
        "per window"
    };
    let title = format!(
        "Throughput: completions {unit} (ok solid, fail dashed, info dotted; windows of {})",
        duration(width)
    );
    let mut s = frame.open("throughput", &title, bands);
    s.push_str(&linear_ticks(&[0.0, top / 2.0, top], y));
    for (slot, class) in ["ok", "fail", "info"].iter().enumerate() {
        let mut d = String::new();
        for (i, c) in counts.iter().enumerate() {
            let x = frame.x((i as f64 + 0.5) * width);
            let _ = write!(
                d,
                "{}{x:.1} {:.1}",
                if i == 0 { "M" } else { "L" },
                y(c[slot] as f64 / per)
            );
        }
        let total: u32 = counts.iter().map(|c| c[slot]).sum();
        let _ = write!(
            s,
            "<path class=\"rate {class}\" data-total=\"{total}\" d=\"{d}\"/>"
        );
    }
    s.push_str("</svg></figure>\n");
    s
}

/// Rate windows: a second for a run of seconds (more past 600 s, so at most 600),
/// else a 50th of the history.
fn bucket_ms(end: f64) -> f64 {
    if end >= 5_000.0 {
        1000.0 * (end / 600_000.0).ceil().max(1.0)
    } else {
        end / 50.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.5), 2.0);
        assert_eq!(nice_step(3000.0), 5000.0);
    }

    #[test]
    fn the_log_axis_covers_whole_decades_around_every_latency() {
        let a = LogAxis::over([0.5, 3.0, 40.0].into_iter());
        assert_eq!((a.lo, a.hi), (-1, 2));
        assert!(a.y(0.1) > a.y(1.0) && a.y(1.0) > a.y(100.0));
        assert_eq!(a.y(100.0), TOP);
    }
}
