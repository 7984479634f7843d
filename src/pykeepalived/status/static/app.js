// pykeepalived dashboard: live from `events` (server-sent events), no library, no build step.
// Every URL is relative to the page, so the dashboard works from a sub-path behind a reverse proxy.
"use strict";
(() => {
  const TIMELINE_S = 600;          // the transition timeline shows up to the last 10 minutes
  const RATES_S = 300;             // the rate charts up to the last 5 minutes
  // both start narrower and widen as the page has watched for longer (a fresh page is not 95 % empty)
  const TIMELINE_SPANS = [60, 120, 300, 600], RATES_SPANS = [60, 120, 300];
  const pageStart = Date.now() / 1000;
  const STALE_S = 15;              // no event for this long: the stream is stale (the server sends every <= 5 s)
  const TOKEN_KEY = "pykeepalived-token";
  const SVGNS = "http://www.w3.org/2000/svg";
  const STATE_FILL = {MASTER: "#2e7d32", BACKUP: "#1565c0", FAULT: "#c62828", INIT: "#8d8d8d", STOP: "#5f6368",
                      GONE: "#c4c8cc"};
  const PALETTE = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#546e7a"];
  const FWD = {NAT: "NAT", DR: "DR", TUN: "TUN"};

  const st = {
    sources: new Map(),      // id -> {id, name, url, connected, error, since, doc, prev}
    timelines: new Map(),    // "sid\u0000instance" -> {sid, inst, segs: [{t, state}]}
    transitions: [],         // {t, lb, inst, from, to}, oldest first
    series: new Map(),       // "sid\u0000service server" -> [{t, conns, active, inbytes, outbytes}] (raw counters)
    access: {read: true, write: false, transport: "?", token: "?"},
    lastEvent: 0,
    streamUp: false,         // our own event stream is open (when it drops, everything shown is stale)
    busy: new Set(),         // "service server" with a command in flight
  };

  // ----------------------------------------------------------------------------------------- helpers
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k === "cls") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of kids.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function s(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = String(v);
      else e.setAttribute(k, String(v));
    }
    for (const c of kids.flat()) if (c) e.append(c);
    return e;
  }
  const now = () => Date.now() / 1000;
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  function clock(t, ms) {
    const d = new Date(t * 1000);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      (ms ? "." + pad(d.getMilliseconds(), 3) : "");
  }
  function ago(sec) {
    sec = Math.max(0, Math.floor(sec));
    const d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60);
    return (d ? d + "d " : "") + (d || hh ? hh + "h " : "") + (d || hh || m ? m + "m " : "") + (sec % 60) + "s";
  }
  function num(v, digits = 0) {
    if (v === null || v === undefined || Number.isNaN(v)) return "\u2013";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    return v.toFixed(digits);
  }
  const dur = sec => (sec >= 1 ? sec.toFixed(2) + " s" : (sec * 1000).toFixed(1) + " ms");
  const hostport = (a, p) => (a.includes(":") ? "[" + a + "]" : a) + ":" + p;
  const serverName = k => hostport(k.addr, k.port);
  function serviceName(k) {  // what the runtime API takes (lvs.overrides.parse_service)
    if (k.protocol === "fwm") return "fwm " + k.fwmark;
    return k.protocol + ":" + hostport(k.addr, k.port);
  }
  function serviceTitle(k) {
    if (k.protocol === "fwm") return "FWM " + k.fwmark + (k.family === 6 ? " IPv6" : "");
    return k.protocol.toUpperCase() + " " + hostport(k.addr, k.port);
  }
  function notice(text, kind) {
    const n = document.getElementById("notice");
    n.textContent = text || "";
    n.className = kind || "";
  }
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  function authHeaders(extra) {
    const hd = Object.assign({}, extra || {});
    if (token()) hd.Authorization = "Bearer " + token();
    return hd;
  }

  // ------------------------------------------------------------------------------------ the stream
  let es = null;
  let retry = null;
  function connect() {
    if (retry) { clearTimeout(retry); retry = null; }
    es = new EventSource("events");
    es.addEventListener("open", () => { st.lastEvent = now(); st.streamUp = true; renderStream(); });
    es.addEventListener("sources", ev => {
      st.lastEvent = now();
      onSources(JSON.parse(ev.data));
      render();
    });
    es.addEventListener("status", ev => {
      st.lastEvent = now();
      const nl = ev.data.indexOf("\n");
      onStatus(ev.data.slice(0, nl), JSON.parse(ev.data.slice(nl + 1)));
      render();
    });
    es.addEventListener("error", () => {
      if (st.streamUp) {  // the daemon serving this page is gone (or restarting): nothing shown is live now
        st.streamUp = false;
        for (const src of st.sources.values()) markGone(src.id, now());
        render();
      }
      if (es.readyState === EventSource.CLOSED) {  // refused (e.g. 503: too many viewers): try again later
        es = null;
        retry = setTimeout(connect, 3000);
      }
      renderStream();
    });
  }

  function onSources(list) {
    const t = now();
    for (const m of list) {
      const old = st.sources.get(m.id);
      const src = old || {doc: null, prev: null};
      const wasUp = old ? old.connected : null;
      Object.assign(src, m);
      st.sources.set(m.id, src);
      if (wasUp === true && !m.connected) markGone(m.id, m.since || t);  // a peer went away: unknown now
    }
  }

  function markGone(sid, t) {
    const src = st.sources.get(sid);
    for (const tl of st.timelines.values()) {
      if (tl.sid === sid) pushState(sid, src ? src.name : sid, tl.inst, "GONE", t);
    }
  }

  function onStatus(sid, doc) {
    const src = st.sources.get(sid) || {id: sid, name: sid, connected: true, doc: null, prev: null};
    st.sources.set(sid, src);
    const prev = src.doc;
    src.prev = prev;
    src.doc = doc;
    if (doc.vrrp.length) src.lastVrrp = doc.vrrp;
    const present = new Set(doc.vrrp.map(v => v.name));
    for (const tl of st.timelines.values()) {  // an instance the daemon no longer runs (stopping, reloaded)
      if (tl.sid === sid && !present.has(tl.inst)) pushState(sid, src.name, tl.inst, "GONE", doc.taken_at);
    }
    for (const v of doc.vrrp) {
      // when the daemon says when it changed, place the change there; else at this document's time
      const since = v.last_transition && (!prev || v.last_transition > prev.taken_at - 0.001)
        ? v.last_transition : doc.taken_at;
      pushState(sid, src.name, v.name, v.state, since, !prev && !v.last_transition);
    }
    sample(sid, doc);
  }

  function pushState(sid, lb, inst, state, t, unknownBefore) {
    const key = sid + "\u0000" + inst;
    let tl = st.timelines.get(key);
    if (!tl) {
      tl = {sid, inst, segs: []};
      if (unknownBefore) tl.segs.push({t: t - TIMELINE_S, state: "GONE", initial: true});
      st.timelines.set(key, tl);
    }
    const last = tl.segs[tl.segs.length - 1];
    if (last && last.state === state) return;
    if (last && t < last.t) t = last.t;
    tl.segs.push({t, state});
    if (last && !last.initial) st.transitions.push({t, lb, inst, from: last.state, to: state});
    if (st.transitions.length > 200) st.transitions.splice(0, st.transitions.length - 200);
    const cut = now() - TIMELINE_S;
    while (tl.segs.length > 2 && tl.segs[1].t < cut) tl.segs.shift();
  }

  function sample(sid, doc) {
    const cut = now() - RATES_S - 10;
    for (const vs of doc.virtual_services) {
      for (const d of vs.destinations) {
        const key = sid + "\u0000" + serviceName(vs.service.key) + " " + serverName(d.key);
        let ser = st.series.get(key);
        if (!ser) st.series.set(key, ser = []);
        if (ser.length && ser[ser.length - 1].t >= doc.taken_at) continue;
        ser.push({t: doc.taken_at, conns: d.stats.conns, active: d.active_conns, inbytes: d.stats.inbytes,
                  outbytes: d.stats.outbytes});
        while (ser.length && ser[0].t < cut) ser.shift();
      }
    }
  }

  // A rate over the last RATE_SPAN seconds (counters are read about once a second, not in step with the
  // documents: a rate between two neighbours would jump between 0 and twice the truth).
  const RATE_SPAN = 5;
  function value(ser, i, metric) {
    const p = ser[i];
    if (metric === "active") return p.active;
    const f = {cps: "conns", inbps: "inbytes", outbps: "outbytes"}[metric];
    let j = i;
    while (j > 0 && ser[j - 1].t >= p.t - RATE_SPAN) j--;
    if (j === i && i > 0) j = i - 1;
    const q = ser[j];
    if (j === i || p.t <= q.t || p[f] < q[f]) return null;  // no earlier sample, or counters were reset
    return (p[f] - q[f]) / (p.t - q.t);
  }

  // ----------------------------------------------------------------------------------------- access
  async function whoami() {
    try {
      const r = await fetch("api/v1/whoami", {headers: authHeaders(), cache: "no-store"});
      st.access = await r.json();
    } catch (e) {
      st.access = {read: true, write: false, transport: "?", token: "?"};
    }
    renderAccess();
    render();
  }

  function renderAccess() {
    const a = st.access;
    const form = document.getElementById("auth");
    const label = document.getElementById("access");
    let text = a.write ? "read-write" : "read-only";
    if (a.transport === "tcp") {
      if (a.token === "unset") text += " (this listener has no token file)";
      else if (a.token === "accepted") text += " (token accepted)";
      else if (a.token === "refused") text += " (token refused)";
      else text += " (a token allows drain/undrain)";
    }
    label.textContent = "access: " + text;
    label.dataset.write = a.write ? "1" : "0";
    form.classList.toggle("hidden-token", a.transport !== "tcp" || a.token === "unset");
    document.getElementById("forget-token").disabled = !token();
  }

  async function command(body) {
    const key = body.service + " " + body.server;
    st.busy.add(key);
    render();
    try {
      const r = await fetch("api/v1/command", {
        method: "POST", cache: "no-store", body: JSON.stringify(body),
        headers: authHeaders({"Content-Type": "application/json"}),
      });
      let a;
      try { a = await r.json(); } catch (e) { a = {ok: false, error: "HTTP " + r.status}; }
      if (a.ok) notice(body.command + " " + body.server + ": " + (a.message || "done"), "ok");
      else notice(body.command + " " + body.server + " refused: " + (a.error || "HTTP " + r.status), "error");
      if (r.status === 403) whoami();
    } catch (e) {
      notice(body.command + " failed: " + e.message, "error");
    } finally {
      st.busy.delete(key);
      render();
    }
  }

  // ----------------------------------------------------------------------------------------- render
  function ordered() {
    return [...st.sources.values()].sort((a, b) => (a.id === "local" ? -1 : b.id === "local" ? 1 :
      a.id.localeCompare(b.id, undefined, {numeric: true})));
  }

  function render() {
    renderStream();
    renderLbs();
    renderTimeline();
    renderServices();
  }

  function renderStream() {
    const pill = document.getElementById("stream");
    const age = now() - st.lastEvent;
    let cls = "live", text = "live";
    if (!es || es.readyState !== EventSource.OPEN) { cls = "down"; text = "reconnecting\u2026"; }
    else if (!st.lastEvent || age > STALE_S) { cls = "wait"; text = "waiting\u2026"; }
    pill.className = "pill " + cls;
    pill.textContent = text;
    pill.dataset.state = cls;
    const local = st.sources.get("local");
    document.getElementById("updated").textContent = local && local.doc
      ? "updated " + clock(local.doc.taken_at) : "";
  }

  function renderLbs() {
    const box = document.getElementById("lbs");
    const cards = [];
    for (const src of ordered()) {
      const doc = src.doc;
      const up = st.streamUp && src.connected && doc;
      const status = src.id === "local" ? h("span", {cls: "tag", text: "this daemon"})
        : h("span", {cls: "tag", text: "peer", title: src.url || ""});
      const conn = up ? null : h("span", {cls: "pill down", "data-role": "unreachable",
        text: !st.streamUp ? "not live" : "unreachable" + (src.since ? " since " + clock(src.since) : "")});
      const meta = doc ? [
        "pykeepalived " + (doc.daemon.version || "?"), doc.daemon.dataplane + " data plane",
        "pid " + doc.daemon.pid, "up " + ago(doc.taken_at - doc.daemon.started_at),
        doc.daemon.config_file.split("/").pop(),
      ].join(" \u00b7 ") : (src.error || "no document yet");
      const vrrp = doc && (up || doc.vrrp.length) ? doc.vrrp : src.lastVrrp || [];
      const rows = vrrp.map(v => {
        const prio = v.effective_priority === v.base_priority ? String(v.effective_priority)
          : v.effective_priority + " (base " + v.base_priority + ")";
        const shown = up ? v.state : "GONE";
        return h("tr", {"data-instance": v.name},
          h("td", {cls: "mono", text: v.name}),
          h("td", {}, h("span", {cls: "state " + shown, "data-role": "state", "data-state": v.state,
                                 title: up ? "" : "last known: " + v.state, text: up ? v.state : v.state + "?"})),
          h("td", {cls: "n", text: prio}),
          h("td", {cls: "mono", text: v.master_address || "\u2013"}),
          h("td", {cls: "mono", text: (v.vips || []).join(" ") || "\u2013"}),
          h("td", {cls: "muted", text: v.last_transition ? "since " + clock(v.last_transition) : ""}));
      });
      const table = rows.length ? h("table", {cls: "vrrp"},
        h("thead", {}, h("tr", {}, ["Instance", "State", "Priority", "Master", "VIPs", ""].map(
          (x, i) => h("th", {cls: i === 2 ? "n" : "", text: x})))),
        h("tbody", {}, rows)) : h("p", {cls: "muted", text: doc ? "no VRRP instance" : ""});
      cards.push(h("div", {cls: "card" + (up ? "" : " stale"), "data-lb": src.name, "data-source": src.id,
                           "data-connected": up ? "1" : "0"},
        h("h3", {}, src.name + " ", status, " ", conn),
        h("div", {cls: "meta muted", text: meta}),
        table));
    }
    if (cards.length) box.replaceChildren(...cards);
  }

  function spanOf(choices) {
    const age = now() - pageStart;
    return choices.find(c => age <= 0.9 * c) || choices[choices.length - 1];
  }
  const spanText = sec => (sec % 60 ? sec + " seconds" : sec === 60 ? "minute" : sec / 60 + " minutes");

  function axis(x0, x1, y, span) {
    const every = span <= 60 ? 10 : span <= 120 ? 20 : 60;
    const out = [];
    for (let a = 0; a <= span; a += every) {
      const x = x1 - (x1 - x0) * a / span;
      out.push(s("line", {x1: x, x2: x, y1: y - 4, y2: y, stroke: "#b0b7bf"}));
      out.push(s("text", {x, y: y + 12, "font-size": 11, "text-anchor": "middle", fill: "#66707a",
                          text: a === 0 ? "now" : a % 60 ? "-" + a + "s" : "-" + a / 60 + "m"}));
    }
    return out;
  }

  function renderTimeline() {
    const box = document.getElementById("timeline");
    const span = spanOf(TIMELINE_SPANS);
    const t1 = now(), t0 = t1 - span;
    document.getElementById("timeline-span").textContent = spanText(span);
    const W = 1000, L = 190, R = 990, RH = 22;
    const tls = [...st.timelines.values()].sort((a, b) => (a.sid + a.inst).localeCompare(b.sid + b.inst));
    const H = 10 + tls.length * RH + 22;
    const X = t => L + (R - L) * (Math.max(t0, Math.min(t1, t)) - t0) / span;
    const g = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "VRRP state timeline"});
    tls.forEach((tl, i) => {
      const y = 10 + i * RH;
      const src = st.sources.get(tl.sid);
      g.append(s("text", {x: 8, y: y + 15, "font-size": 12, fill: "#1d2329",
                          text: (src ? src.name : tl.sid) + " " + tl.inst}));
      g.append(s("rect", {x: L, y: y + 2, width: R - L, height: RH - 6, fill: "#eef0f2"}));
      tl.segs.forEach((seg, j) => {
        const end = j + 1 < tl.segs.length ? tl.segs[j + 1].t : t1;
        if (end < t0) return;
        const x = X(seg.t), w = Math.max(1, X(end) - x);
        const r = s("rect", {x, y: y + 2, width: w, height: RH - 6, fill: STATE_FILL[seg.state] || "#999",
                             "data-state": seg.state});
        const label = seg.state === "GONE" ? (seg.initial ? "unknown" : "unreachable") : seg.state;
        r.append(s("title", {text: label + " from " + clock(seg.t) + (j + 1 < tl.segs.length
          ? " to " + clock(end) : "")}));
        g.append(r);
        if (j > 0 && seg.t >= t0) g.append(s("line", {x1: x, x2: x, y1: y, y2: y + RH - 2, stroke: "#1d2329"}));
        if (w > 60) g.append(s("text", {x: x + 4, y: y + 14, "font-size": 11,
                                        fill: seg.state === "GONE" ? "#5f6368" : "#fff", text: label}));
      });
    });
    g.append(...axis(L, R, 10 + tls.length * RH + 8, span));
    box.replaceChildren(g);
    const list = document.getElementById("transitions");
    const items = st.transitions.slice(-30).reverse().map(x => h("li", {"data-lb": x.lb, "data-instance": x.inst,
      "data-to": x.to}, h("span", {cls: "mono", text: clock(x.t, true)}), " " + x.lb + " " + x.inst + ": ",
      h("b", {text: x.from === "GONE" ? "unknown" : x.from}), " \u2192 ",
      h("b", {text: x.to === "GONE" ? "unreachable" : x.to})));
    list.replaceChildren(...items);
  }

  function checksCell(d) {
    if (!d.checks || !d.checks.length) return h("td", {cls: "muted", text: "\u2013"});
    return h("td", {}, d.checks.map(c => h("span", {
      cls: "check " + (c.up === true ? "ok" : c.up === false ? "bad" : "unknown"),
      title: c.target + ": " + c.attempts + " attempts, " + c.failures + " failed" +
        (c.last_run ? ", last " + clock(c.last_run) : ""),
      text: c.kind})));
  }

  function latencyCell(d) {
    const cs = (d.checks || []).filter(c => c.last_duration !== null && c.last_duration !== undefined);
    if (!cs.length) return h("td", {cls: "n muted", text: "\u2013"});
    const parts = cs.map(c => {
      const n = (c.durations && c.durations.counts || []).reduce((a, b) => a + b, 0);
      const avg = n ? c.durations.sum / n : null;
      return dur(c.last_duration) + (avg !== null ? " (avg " + dur(avg) + ")" : "");
    });
    return h("td", {cls: "n", "data-role": "latency", text: parts.join(", ")});
  }

  function chart(sid, vs, metric) {
    const W = 1000, H = 150, L = 60, R = 990, T = 10, B = 120;
    const span = spanOf(RATES_SPANS);
    const t1 = now(), t0 = t1 - span;
    const lines = [];
    let max = 0;
    vs.destinations.forEach((d, i) => {
      const ser = st.series.get(sid + "\u0000" + serviceName(vs.service.key) + " " + serverName(d.key)) || [];
      const pts = [];
      ser.forEach((p, k) => {
        const v = p.t >= t0 ? value(ser, k, metric) : null;
        if (v !== null) { pts.push({t: p.t, v}); max = Math.max(max, v); }
      });
      lines.push({pts, color: PALETTE[i % PALETTE.length]});
    });
    max = max > 0 ? max * 1.1 : 1;
    const X = t => L + (R - L) * (t - t0) / span;
    const Y = v => B - (B - T) * v / max;
    const g = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": metric + " per real server"});
    for (const f of [0, 0.5, 1]) {
      g.append(s("line", {x1: L, x2: R, y1: Y(max * f), y2: Y(max * f), stroke: "#e3e6ea"}));
      g.append(s("text", {x: L - 6, y: Y(max * f) + 4, "font-size": 11, "text-anchor": "end", fill: "#66707a",
                          text: num(max * f, max < 10 ? 1 : 0)}));
    }
    g.append(...axis(L, R, B + 8, span));
    for (const ln of lines) {
      if (!ln.pts.length) continue;
      const pts = ln.pts.map(p => X(p.t).toFixed(1) + "," + Y(p.v).toFixed(1)).join(" ");
      g.append(s("polyline", {points: pts, fill: "none", stroke: ln.color, "stroke-width": 2,
                              "stroke-linejoin": "round"}));
    }
    return g;
  }

  // A button survives re-renders (a document arrives every second under traffic): a click whose mousedown
  // and mouseup straddle a render still lands.
  const buttons = new Map();
  function button(key, cls, label, busy, title, act) {
    let b = buttons.get(key);
    if (!b) {
      b = h("button", {type: "button"});
      b.addEventListener("click", () => { if (b.act) b.act(); });
      buttons.set(key, b);
    }
    b.className = cls;
    b.dataset.action = cls;
    b.textContent = label;
    b.disabled = busy;
    b.title = title;
    b.act = act;
    return b;
  }

  function renderServices() {
    const box = document.getElementById("services");
    const metric = document.getElementById("metric").value;
    document.getElementById("rates-span").textContent = spanText(spanOf(RATES_SPANS));
    const out = [];
    for (const src of ordered()) {
      const doc = src.doc;
      if (!doc) continue;
      const up = st.streamUp && src.connected;
      const mine = src.id === "local";
      for (const vs of doc.virtual_services) {
        const svc = vs.service;
        const sname = serviceName(svc.key);
        const plane = new Map(svc.destinations.map(x => [serverName(x.key), x]));
        const q = vs.quorum;
        let sched = svc.scheduler;
        if (svc.persistence_timeout) sched += " \u00b7 persistence " + svc.persistence_timeout + " s";
        const fwd = [...new Set(svc.destinations.map(x => FWD[x.forward] || x.forward))].join("/");
        const rows = vs.destinations.map((d, i) => {
          const name = serverName(d.key);
          const p = plane.get(name);
          const ser = st.series.get(src.id + "\u0000" + sname + " " + name) || [];
          const n = ser.length - 1;
          const last = n >= 0 ? {cps: value(ser, n, "cps"), inbps: value(ser, n, "inbps"),
                                 outbps: value(ser, n, "outbps")} : {};
          const sorry = d.health === "sorry";
          const drained = d.override === "drained";
          const busy = st.busy.has(sname + " " + name);
          let action = h("td", {});
          if (mine && up && st.access.write && !sorry) {
            const cmd = drained ? "undrain" : "drain";
            action = h("td", {}, button(sname + " " + name, cmd, drained ? "Undrain" : "Drain", busy,
                                        cmd + " " + name + " in " + sname,
                                        () => command({command: cmd, service: sname, server: name})));
          }
          return h("tr", {"data-server": name, cls: drained ? "drained" : ""},
            h("td", {cls: "mono"}, h("span", {cls: "sw c" + (i % PALETTE.length)}), name),
            h("td", {}, h("span", {cls: "badge " + d.health, "data-role": "health", text: d.health})),
            checksCell(d),
            h("td", {cls: "n", "data-role": "weight", "data-plane": p ? p.weight : "absent",
                     title: "the checkers want " + d.weight + "; the data plane has " + (p ? p.weight : "none")},
              p ? String(p.weight) : "\u2013", p && p.weight === d.weight ? "" :
                h("small", {cls: "muted", text: " (wants " + d.weight + ")"})),
            h("td", {}, d.override ? h("span", {cls: "badge override", "data-role": "override", text: d.override})
              : h("span", {cls: "badge none", "data-role": "override", text: "\u2013"})),
            h("td", {cls: "n", text: d.active_conns}),
            h("td", {cls: "n", text: d.inactive_conns}),
            h("td", {cls: "n", text: num(last.cps, 1)}),
            h("td", {cls: "n", text: num(last.inbps)}),
            h("td", {cls: "n", text: num(last.outbps)}),
            latencyCell(d),
            action);
        });
        const headers = ["Real server", "Health", "Checks", "Weight", "Override", "Active", "Inactive",
                         "Conn/s", "In B/s", "Out B/s", "Check latency", ""];
        out.push(h("div", {cls: "svc" + (up ? "" : " stale"), "data-lb": src.name, "data-service": sname},
          h("h3", {}, serviceTitle(svc.key) + " ", h("span", {cls: "tag", text: src.name}), " ",
            h("small", {cls: "muted", text: [sched, fwd, q.up ? "quorum up" : "QUORUM LOST",
              "alive weight " + q.weight_sum + "/" + q.quorum,
              vs.sorry_server ? "sorry " + serverName(vs.sorry_server) : ""].filter(Boolean).join(" \u00b7 ")})),
          h("div", {cls: "chart"}, chart(src.id, vs, metric)),
          h("table", {cls: "rs"},
            h("thead", {}, h("tr", {}, headers.map((x, i) => h("th", {cls: i >= 5 && i <= 10 ? "n" : "", text: x})))),
            h("tbody", {}, rows))));
      }
    }
    if (!out.length) out.push(h("p", {cls: "muted", text: "no virtual server"}));
    box.replaceChildren(...out);
  }

  // ------------------------------------------------------------------------------------------ start
  document.getElementById("auth").addEventListener("submit", ev => {
    ev.preventDefault();
    const input = document.getElementById("token");
    if (input.value.trim()) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    whoami();
  });
  document.getElementById("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    whoami();
  });
  document.getElementById("metric").addEventListener("change", render);
  setInterval(() => { renderStream(); renderTimeline(); }, 1000);
  whoami();
  connect();
})();
