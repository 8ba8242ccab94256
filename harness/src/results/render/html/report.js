// faultline report: draws the timeline and the counterexamples from the JSON data
// above. No library, no network: the page works from file://.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  // Many short-lived processes (each retired after an info) get thinner lanes, and
  // past a point only every few lanes is labelled.
  const N = D.lanes.length;
  const LANE = N > 200 ? 5 : N > 30 ? 11 : 16, TOP = 34, LEFT = 92, RIGHT = 36;
  const LABEL_EVERY = LANE >= 11 ? 1 : Math.ceil(14 / LANE);
  const NLANE = 18, NGAP = 8;
  const svg = document.getElementById("tl");
  const tip = document.getElementById("tip");
  const detail = document.getElementById("detail");
  const byIndex = new Map(D.ops.map((o) => [o.i, o]));
  // The whole run; imported histories may count time in nanoseconds of a logical
  // clock, so nothing here assumes milliseconds of real time.
  const END = Math.max(D.end, 1e-6);
  let view = { t0: 0, t1: END };
  let highlighted = new Set();

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function defs(root) {
    const d = el("defs", {}, root);
    const fail = el("pattern", { id: "hfail", width: 6, height: 6, patternUnits: "userSpaceOnUse" }, d);
    el("rect", { width: 6, height: 6, fill: "#e57373" }, fail);
    el("path", { d: "M0,0L6,6M6,0L0,6", stroke: "#7f0000", "stroke-width": 1.2 }, fail);
    const info = el("pattern", { id: "hinfo", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, d);
    el("rect", { width: 6, height: 6, fill: "#ffe082" }, info);
    el("rect", { width: 3, height: 6, fill: "#f5b000" }, info);
  }
  function fmt(ms) {
    if (END >= 1000) return (ms / 1000).toFixed(3) + " s";
    if (END >= 1) return ms.toFixed(3) + " ms";
    if (END >= 1e-3) return (ms * 1e3).toFixed(3) + " µs";
    return (ms * 1e6).toFixed(0) + " ns";
  }
  function describe(o) {
    const lines = [
      "#" + o.i + "  process " + o.p + (o.n ? "  node " + o.n : ""),
      o.f + (o.k ? " key " + o.k : "") + " " + (o.v || "") + "  ->  " + o.o + (o.r ? " " + o.r : ""),
      "invoked " + fmt(o.s) + ", " + (o.o === "info" ? "last heard of " : "returned ") + fmt(o.e) +
        "  (" + (o.e - o.s).toFixed(2) + " ms)",
    ];
    if (o.err) lines.push("error: " + o.err);
    const faults = D.bands.filter((b) => b.s <= o.e && b.e >= o.s).map((b) => b.kind + " " + b.detail);
    lines.push(faults.length ? "fault in force: " + faults.join("; ") : "no fault in force");
    return lines.join("\n");
  }
  function showTip(ev, text) {
    tip.textContent = text;
    tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 420) + "px";
    tip.style.top = ev.clientY + 14 + "px";
  }

  // One operation's bar: a rect for ok and fail; for info an open-ended path.
  function bar(parent, o, x0, x1, y, h, extra) {
    const w = Math.max(x1 - x0, 2);
    let cls = "op " + o.o + (o.c ? " flag" : "") + (extra || "");
    if (highlighted.has(o.i)) cls += " hl";
    let e;
    if (o.o === "info") {
      e = el("path", { d: `M${x0 + w},${y}H${x0}V${y + h}H${x0 + w}`, class: cls }, parent);
      el("path", { d: `M${x0 + w},${y}L${x0 + w + 5},${y + h / 2}L${x0 + w},${y + h}Z`, class: "op info" }, parent);
    } else {
      e = el("rect", { x: x0, y: y, width: w, height: h, class: cls }, parent);
    }
    e.setAttribute("data-op", o.i);
    return e;
  }

  function draw() {
    const W = Math.max(svg.clientWidth || 1000, 600);
    const nodesTop = TOP + D.lanes.length * LANE + NGAP;
    const H = nodesTop + D.nodes.length * NLANE + 8;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("height", H);
    svg.textContent = "";
    defs(svg);
    const span = view.t1 - view.t0;
    const x = (t) => LEFT + ((t - view.t0) / span) * (W - LEFT - RIGHT);
    const clip = (t) => Math.min(Math.max(x(t), LEFT - 2), W - RIGHT + 6);
    D.lanes.forEach((label, i) => {
      el("rect", { x: 0, y: TOP + i * LANE, width: W, height: LANE, class: "lanebg" + (i % 2 ? " odd" : "") }, svg);
      if (i % LABEL_EVERY === 0)
        el("text", { x: 4, y: TOP + i * LANE + Math.max(LANE - 3, 8), "font-size": LANE > 12 ? 11 : 9 }, svg).textContent = label;
    });
    // Axis: about ten ticks at round seconds.
    let step = 1e-6;
    for (let k = -6; k <= 8 && span / step > 12; k++)
      step = [1, 2, 5].map((m) => m * 10 ** k).find((s) => span / s <= 12) || 10 ** (k + 1);
    for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1 + 1e-12; t += step) {
      el("line", { x1: x(t), x2: x(t), y1: TOP - 4, y2: TOP + D.lanes.length * LANE, stroke: "#ccc" }, svg);
      el("text", { x: x(t) + 2, y: TOP - 6, "font-size": 11 }, svg).textContent = fmt(t);
    }
    const bands = el("g", { id: "bands" }, svg);
    D.bands.forEach((b) => {
      if (b.e < view.t0 || b.s > view.t1) return;
      const r = el("rect", { x: clip(b.s), y: 12, width: Math.max(clip(b.e) - clip(b.s), 2),
        height: H - 12, class: "band " + b.kind, "data-kind": b.kind }, bands);
      const t = el("text", { x: clip(b.s) + 2, y: 10, class: "bandlabel" }, bands);
      t.textContent = b.kind;
      const text = "fault " + b.kind + " " + b.detail + "\n" + fmt(b.s) + " to " + fmt(b.e) +
        (b.error ? "\nerror: " + b.error : "");
      r.addEventListener("mousemove", (ev) => showTip(ev, text));
      r.addEventListener("mouseleave", () => (tip.hidden = true));
    });
    const bins = el("g", { id: "bins" }, svg);
    D.bins.forEach((b) => {
      const s = b.b * D.bin_ms, e = s + D.bin_ms;
      if (e < view.t0 || s > view.t1) return;
      const n = b.ok + b.fail + b.info;
      const r = el("rect", { x: clip(s), y: TOP + b.l * LANE + (LANE > 8 ? 3 : 1), width: Math.max(clip(e) - clip(s), 1), height: LANE > 8 ? LANE - 6 : LANE - 2,
        class: "bin", opacity: Math.min(0.25 + n / 20, 0.9) }, bins);
      const text = n + " operations (" + b.ok + " ok, " + b.fail + " fail, " + b.info + " info), " + fmt(s) + " to " + fmt(e) +
        "\nfar from any counterexample: counted, not drawn one by one";
      r.addEventListener("mousemove", (ev) => showTip(ev, text));
      r.addEventListener("mouseleave", () => (tip.hidden = true));
    });
    const ops = el("g", { id: "ops" }, svg);
    D.ops.forEach((o) => {
      if (o.e < view.t0 || o.s > view.t1) return;
      bar(ops, o, clip(o.s), clip(o.e), TOP + o.l * LANE + (LANE > 8 ? 2 : 0.5), LANE > 8 ? LANE - 4 : LANE - 1);
    });
    drawNodes(x, clip, nodesTop, W);
    document.getElementById("window").textContent =
      "showing " + fmt(view.t0) + " to " + fmt(view.t1) + " of " + fmt(D.end) + "; " + D.total_ops + " operations" +
      (D.bin_ms ? " (" + D.ops.length + " drawn one by one, the rest counted in bins)" : "");
  }

  // Node lanes: spans while a node was down, paused, on a moved clock or out of the
  // cluster, and a labelled mark where each kill, restart, pause, resume, clock change
  // or membership change took effect.
  function drawNodes(x, clip, y0, W) {
    const g = el("g", { id: "nodes" }, svg);
    D.nodes.forEach((n, j) => {
      el("rect", { x: 0, y: y0 + j * NLANE, width: W, height: NLANE, class: "lanebg nodelane" }, g);
      el("text", { x: 4, y: y0 + j * NLANE + NLANE - 5, "font-size": 11 }, g).textContent = "node " + n;
    });
    D.spans.forEach((s) => {
      if (s.e < view.t0 || s.s > view.t1) return;
      el("rect", { x: clip(s.s), y: y0 + s.n * NLANE + 4, width: Math.max(clip(s.e) - clip(s.s), 1),
        height: NLANE - 8, class: "nspan " + s.state }, g);
    });
    const labelEnd = new Map();
    D.marks.forEach((m) => {
      if (m.t < view.t0 || m.t > view.t1) return;
      const mx = x(m.t), y = y0 + m.n * NLANE;
      const e = el("path", { d: `M${mx},${y + 1}V${y + NLANE - 1}`, class: "nmark " + m.what.split(" ")[0],
        "data-node": D.nodes[m.n], "data-what": m.what }, g);
      if (mx >= (labelEnd.get(m.n) || 0)) {
        el("text", { x: mx + 3, y: y + NLANE - 5, class: "nlabel" }, g).textContent = m.what;
        labelEnd.set(m.n, mx + m.what.length * 5.5 + 6);
      }
      const text = "node " + D.nodes[m.n] + ": " + m.what + " at " + fmt(m.t) +
        (m.members ? "\nmembers after the change: " + m.members.join(", ") : "") + (m.err ? "\nerror: " + m.err : "");
      e.addEventListener("mousemove", (ev) => showTip(ev, text));
      e.addEventListener("mouseleave", () => (tip.hidden = true));
    });
  }

  svg.addEventListener("mousemove", (ev) => {
    const i = ev.target.getAttribute && ev.target.getAttribute("data-op");
    if (i !== null && i !== undefined && byIndex.has(+i)) showTip(ev, describe(byIndex.get(+i)));
  });
  svg.addEventListener("mouseout", (ev) => { if (ev.target.getAttribute("data-op")) tip.hidden = true; });
  svg.addEventListener("click", (ev) => {
    const i = ev.target.getAttribute && ev.target.getAttribute("data-op");
    if (i !== null && byIndex.has(+i)) detail.textContent = describe(byIndex.get(+i));
  });

  function zoom(factor, at) {
    const span = view.t1 - view.t0;
    const c = at === undefined ? view.t0 + span / 2 : at;
    const ns = Math.min(Math.max(span * factor, END / 1e6), END);
    let t0 = c - (c - view.t0) * (ns / span);
    t0 = Math.min(Math.max(t0, 0), Math.max(END - ns, 0));
    view = { t0, t1: t0 + ns };
    draw();
  }
  function timeAt(clientX) {
    const r = svg.getBoundingClientRect();
    const f = (clientX - r.left - LEFT) / (r.width - LEFT - RIGHT);
    return view.t0 + Math.min(Math.max(f, 0), 1) * (view.t1 - view.t0);
  }
  document.getElementById("zin").onclick = () => zoom(0.5);
  document.getElementById("zout").onclick = () => zoom(2);
  document.getElementById("zall").onclick = () => { view = { t0: 0, t1: END }; draw(); };
  svg.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY < 0 ? 0.8 : 1.25, timeAt(ev.clientX)); }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, view: { ...view } }; });
  window.addEventListener("mouseup", () => (drag = null));
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    const span = drag.view.t1 - drag.view.t0;
    let t0 = drag.view.t0 - ((ev.clientX - drag.x) / (r.width - LEFT - RIGHT)) * span;
    t0 = Math.min(Math.max(t0, 0), Math.max(END - span, 0));
    view = { t0, t1: t0 + span };
    draw();
  });
  window.addEventListener("resize", draw);

  // Each counterexample: its operations on their process lanes, labelled, the one
  // that ends it outlined heavily, with the faults of its window shaded.
  function drawCe(div, ce) {
    const ops = ce.ops.map((i) => byIndex.get(i)).filter(Boolean);
    const procs = [...new Set(ops.map((o) => o.p))].sort((a, b) => a - b);
    const W = 1000, L = 26, T = 22, H = T + procs.length * L + 6;
    const s = el("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", xmlns: NS }, div);
    defs(s);
    const [t0, t1] = ce.window;
    const x = (t) => 110 + ((t - t0) / Math.max(t1 - t0, 1e-9)) * (W - 260);
    D.bands.forEach((b) => {
      if (b.e < t0 || b.s > t1) return;
      const a = Math.max(x(b.s), 110), z = Math.min(x(b.e), W - 10);
      el("rect", { x: a, y: 12, width: Math.max(z - a, 2), height: H - 12, class: "band " + b.kind }, s);
      el("text", { x: a + 2, y: 10, class: "bandlabel", "font-size": 10 }, s).textContent = b.kind + " " + b.detail.slice(0, 60);
    });
    procs.forEach((p, i) => {
      const node = (ops.find((o) => o.p === p) || {}).n || "";
      el("text", { x: 4, y: T + i * L + 16, "font-size": 12 }, s).textContent = "process " + p + " " + node;
    });
    const labelEnd = new Map();
    ops.sort((a, b) => a.s - b.s).forEach((o) => {
      const y = T + procs.indexOf(o.p) * L + 3;
      const b = bar(s, o, x(Math.max(o.s, t0)), x(Math.min(o.e, t1)), y, L - 12, ce.culprit === o.i ? " culprit" : "");
      b.addEventListener("mousemove", (ev) => showTip(ev, describe(o)));
      b.addEventListener("mouseleave", () => (tip.hidden = true));
      // A label that would overlap the previous one on its lane is left out (the
      // tooltip still has it), except the culprit's.
      const lx = x(Math.max(o.s, t0));
      const label = "#" + o.i + " " + o.f + " " + (o.v || "") +
        (o.o === "ok" && o.r && o.r !== o.v ? "→" + o.r : o.o === "ok" ? "" : " " + o.o);
      if (lx >= (labelEnd.get(o.p) || 0) || ce.culprit === o.i) {
        el("text", { x: lx, y: y + L - 1, "font-size": 10 }, s).textContent = label;
        labelEnd.set(o.p, lx + label.length * 5.6 + 4);
      }
    });
  }
  document.querySelectorAll(".cesvg").forEach((div) => drawCe(div, D.ces[+div.dataset.ce]));
  // A window of the timeline is a link: `#t=FROM-TO` (seconds), `&ce=N` outlines
  // counterexample N's operations. The counterexamples link to theirs.
  function fromHash() {
    const m = /^#t=([\d.]+)-([\d.]+)(?:&ce=(\d+))?$/.exec(location.hash);
    if (!m) return false;
    const t0 = +m[1] * 1000, t1 = Math.max(+m[2] * 1000, t0 + END / 1e6);
    view = { t0: Math.max(t0, 0), t1: Math.min(t1, END) };
    highlighted = new Set(m[3] !== undefined && D.ces[+m[3]] ? D.ces[+m[3]].ops : []);
    draw();
    document.getElementById("timeline").scrollIntoView();
    return true;
  }
  window.addEventListener("hashchange", fromHash);
  // The same link clicked again changes no hash: apply it anyway.
  document.querySelectorAll(".zoomto").forEach((a) => a.addEventListener("click", () => setTimeout(fromHash, 0)));
  if (!fromHash()) draw();
})();
