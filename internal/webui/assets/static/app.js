// pathpin's status page. It polls api/status every second and api/history
// every ten seconds (and at once when an uplink changes state), and draws
// both. Text from the network reaches the page through textContent only.
"use strict";
(() => {
  const STATUS_EVERY = 1000, HISTORY_EVERY = 10000, TIMEOUT = 4000;
  const STATES = ["up", "degraded", "down", "recovering"];
  // The SVG namespace: a name for createElementNS, not a location.
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  // ---- small helpers

  const num = (x) => typeof x === "number" && Number.isFinite(x);
  const str = (x) => (typeof x === "string" ? x : x == null ? "" : String(x));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  const stateClass = (s) => "st-" + (STATES.includes(s) ? s : "unknown");
  const stateWord = (s) => (typeof s === "string" && s !== "" ? s : "unknown");

  function badge(state) {
    return el("span", "badge state " + stateClass(state), stateWord(state));
  }

  // Times: the router's clock may not be the viewer's; the Date header of
  // the answers tells the difference (to a second).
  let skew = 0;
  const serverNow = () => Date.now() + skew;

  function parseTime(s) {
    if (typeof s !== "string") return null;
    const t = Date.parse(s.replace(/(\.\d{3})\d+/, "$1"));
    return Number.isNaN(t) || t <= 0 ? null : t;
  }

  function clock(t) {
    const d = new Date(t);
    const hms = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
    if (d.toDateString() === new Date(serverNow()).toDateString()) return hms;
    return d.toLocaleDateString([], { day: "numeric", month: "short" }) + " " + hms;
  }

  function hhmm(t) {
    return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }

  function duration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min";
    const h = Math.floor(m / 60);
    if (h < 48) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  const sig3 = (f) => String(Number(f.toPrecision(3)));

  // Bytes in the units ISPs count (as `pathpin status` shows them).
  function bytes(n) {
    if (!num(n)) return "–";
    const u = ["B", "KB", "MB", "GB", "TB", "PB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i === 0 ? String(n) : sig3(n)) + " " + u[i];
  }

  function bits(bps) {
    if (!num(bps)) return "–";
    const u = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    let i = 0;
    while (bps >= 1000 && i < u.length - 1) { bps /= 1000; i++; }
    return (i === 0 ? String(Math.round(bps)) : sig3(bps)) + " " + u[i];
  }

  const millis = (x) => (x < 100 ? x.toFixed(1) : String(Math.round(x))) + " ms";
  const pct = (x) => (x > 0 && x < 0.1 ? (x * 100).toFixed(1) : String(Math.round(x * 100))) + "%";

  // ---- fetching

  async function getJSON(url) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT);
    try {
      const res = await fetch(url, { cache: "no-store", signal: ctl.signal, headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error("HTTP " + res.status + " from " + url);
      const date = Date.parse(res.headers.get("Date") || "");
      // The header has whole seconds: the true time is up to 1 s later.
      if (!Number.isNaN(date) && Math.abs(date + 500 - Date.now() - skew) > 1500) skew = date + 500 - Date.now();
      return await res.json();
    } finally {
      clearTimeout(timer);
    }
  }

  function why(err) {
    if (err && err.name === "AbortError") return "no answer within " + TIMEOUT / 1000 + " s";
    if (err instanceof TypeError) return "no connection";
    if (err instanceof SyntaxError) return "the answer is not JSON";
    return str(err && err.message) || "unknown error";
  }

  // ---- status

  let failing = false, lastAnswer = 0, booted = false;
  const states = new Map(); // uplink name → state last seen

  async function pollStatus() {
    let report = null;
    try {
      report = await getJSON("api/status");
    } catch (err) {
      offline(err);
    }
    if (report) {
      lastAnswer = serverNow();
      online();
      try {
        if (renderStatus(report)) pollHistory();
        $("problem").hidden = true;
      } catch (err) {
        problem("pathpin answered, but the page could not show the answer: " + why(err));
      }
    }
    setTimeout(pollStatus, STATUS_EVERY);
  }

  function online() {
    if (!failing) return;
    failing = false;
    $("offline").hidden = true;
    $("main").classList.remove("stale");
    pollHistory();
  }

  function offline(err) {
    failing = true;
    $("offline").hidden = false;
    $("main").classList.add("stale");
    $("conn").className = "conn dead";
    setText($("conn"), "not answering");
    document.title = "pathpin: not answering";
    const last = lastAnswer ? "; the last answer came at " + clock(lastAnswer) : "";
    setText($("offline-detail"), "Trying again every second (" + why(err) + ")" + last + ".");
  }

  function problem(text) {
    const p = $("problem");
    p.hidden = false;
    setText(p, text);
  }

  // Each uplink's card is made once and then updated in place, so a
  // selection (an address to copy) survives the updates.
  const FACTS = [
    ["since", "since"], ["iface", "interface"], ["local", "local address"], ["public", "public address"],
    ["gateway", "gateway"], ["weight", "weight"], ["flows", "flows"], ["rate", "throughput"],
    ["probes", "probes, 1 min"], ["usage", "data"], ["change", "last change"], ["session", "PPPoE"],
    ["lease", "DHCP"], ["excused", "excused targets"], ["routes", "refused routes"], ["dropped", "dropped"],
  ];
  const cards = new Map();

  function card(name) {
    let c = cards.get(name);
    if (c) return c;
    const root = el("article", "uplink st-unknown");
    const head = el("header");
    const badgeEl = el("span", "badge state");
    head.append(el("h3", "name", name), badgeEl);
    const reason = el("p", "reason");
    const dl = el("dl", "facts");
    const facts = {};
    for (const [key, label] of FACTS) {
      const row = el("div");
      const dd = el("dd");
      row.append(el("dt", null, label), dd);
      row.hidden = true;
      dl.append(row);
      facts[key] = { row, dd };
    }
    root.append(head, reason, dl);
    c = { root, badge: badgeEl, reason, facts, samples: [] };
    cards.set(name, c);
    return c;
  }

  function fact(c, key, text) {
    const f = c.facts[key];
    const show = typeof text === "string" && text !== "";
    f.row.hidden = !show;
    setText(f.dd, show ? text : "");
  }

  // throughput from the counters of the last few seconds' answers.
  function throughput(c, u) {
    if (!num(u.rx_bytes) || !num(u.tx_bytes)) return "";
    const s = c.samples, t = performance.now(), last = s[s.length - 1];
    if (last && (u.rx_bytes < last.rx || u.tx_bytes < last.tx)) s.length = 0; // counters reset
    s.push({ t, rx: u.rx_bytes, tx: u.tx_bytes });
    while (s.length > 2 && t - s[0].t > 3500) s.shift();
    if (s.length < 2) return "…";
    const a = s[0], dt = (t - a.t) / 1000;
    return "↓ " + bits(((u.rx_bytes - a.rx) * 8) / dt) + "  ↑ " + bits(((u.tx_bytes - a.tx) * 8) / dt);
  }

  function renderUplink(u, now) {
    const c = card(u.name);
    const cls = "uplink " + stateClass(u.state);
    if (c.root.className !== cls) c.root.className = cls;
    setText(c.badge, stateWord(u.state));
    setText(c.reason, str(u.reason));

    const since = parseTime(u.since);
    fact(c, "since", since == null ? "" : clock(since) + " (" + duration(now - since) + ")");
    fact(c, "iface", str(u.interface));
    fact(c, "local", str(u.local));
    fact(c, "public", str(u.public_address));
    fact(c, "gateway", str(u.gateway));

    let weight = num(u.weight) ? String(u.weight) : "";
    if (u.weight === 0 && !u.standby) weight += " (standby)";
    if (u.standby) weight += " · standby: " + str(u.standby);
    if (u.probe_metered) weight += " · metered, probed on a budget";
    fact(c, "weight", weight);
    fact(c, "flows", num(u.flows) ? u.flows.toLocaleString() : "");
    fact(c, "rate", throughput(c, u));

    const probes = [];
    if (num(u.probe_rtt_ms)) probes.push("RTT " + millis(u.probe_rtt_ms));
    if (num(u.probe_loss)) probes.push("loss " + pct(u.probe_loss));
    if (num(u.probe_rounds) && u.probe_rounds > 0) probes.push(u.probe_rounds + " rounds");
    fact(c, "probes", probes.join(" · "));

    const us = u.usage;
    let usage = "";
    if (us && typeof us === "object") {
      usage = bytes(us.bytes_in) + " in, " + bytes(us.bytes_out) + " out";
      const from = parseTime(us.period_start);
      if (from != null) usage += " since " + clock(from);
      if (num(us.cap_bytes) && us.cap_bytes > 0) {
        usage += "; " + pct(((us.bytes_in || 0) + (us.bytes_out || 0)) / us.cap_bytes) + " of the cap of " + bytes(us.cap_bytes);
      }
      if (us.capped) usage += " (cap reached)";
    }
    fact(c, "usage", usage);

    const lc = u.last_change;
    let change = "";
    if (lc && typeof lc === "object") {
      const at = parseTime(lc.at);
      change = stateWord(lc.from) + " → " + stateWord(lc.to);
      if (at != null) change += ", " + clock(at) + " (" + duration(now - at) + " ago)";
      if (lc.reason) change += ": " + str(lc.reason);
    }
    fact(c, "change", change);

    const ss = u.pppoe_session;
    fact(c, "session", ss && typeof ss === "object"
      ? "session " + str(ss.id) + (ss.ac_name ? " at " + str(ss.ac_name) : "") + (ss.ac_mac ? " (" + str(ss.ac_mac) + ")" : "")
      : "");

    const l = u.dhcp_lease;
    let lease = "";
    if (l && typeof l === "object") {
      lease = str(l.state) + (l.address ? " " + str(l.address) : ", no lease");
      if (l.server) lease += " from " + str(l.server);
      const exp = parseTime(l.expires_at);
      if (exp != null) lease += ", expires " + clock(exp);
    }
    fact(c, "lease", lease);

    fact(c, "excused", Array.isArray(u.excused_targets) ? u.excused_targets.map(str).join(", ") : "");
    fact(c, "routes", Array.isArray(u.refused_routes) ? u.refused_routes.map(str).join("; ") : "");
    const d = u.dropped;
    fact(c, "dropped", d && typeof d === "object" && (d.refused || d.spoofed)
      ? (d.refused || 0).toLocaleString() + " new connections refused, " + (d.spoofed || 0).toLocaleString() + " spoofed packets"
      : "");
  }

  // renderStatus shows a report; it tells whether an uplink changed state
  // (or came or went) since the last one.
  function renderStatus(r) {
    const now = serverNow();
    const ups = (Array.isArray(r.uplinks) ? r.uplinks : []).filter((u) => u && typeof u.name === "string");
    const box = $("uplinks"), seen = new Set();
    let changed = false;
    ups.forEach((u, i) => {
      if (seen.has(u.name)) return;
      seen.add(u.name);
      renderUplink(u, now);
      const root = cards.get(u.name).root;
      if (box.children[i] !== root) box.insertBefore(root, box.children[i] || null);
      if (states.get(u.name) !== u.state) changed = true;
      states.set(u.name, u.state);
    });
    for (const [name, c] of cards) {
      if (seen.has(name)) continue;
      c.root.remove();
      cards.delete(name);
      states.delete(name);
      changed = true;
    }
    $("no-uplinks").hidden = ups.length > 0;
    renderPolicies(r.policies);

    $("conn").className = "conn live";
    setText($("conn"), (r.source === "kernel" ? "pathpin up is not running: the kernel's view" : "live") + " · " + clock(now));
    const bad = ups.filter((u) => u.state !== "up");
    document.title = bad.length
      ? "pathpin: " + bad.map((u) => u.name + " " + stateWord(u.state)).join(", ")
      : "pathpin: " + ups.length + " up";

    const first = !booted;
    booted = true;
    return changed && !first;
  }

  let policiesKey = null;

  function renderPolicies(ps) {
    ps = (Array.isArray(ps) ? ps : []).filter((p) => p && typeof p === "object");
    const key = JSON.stringify(ps);
    if (key === policiesKey) return;
    policiesKey = key;
    const rows = ps.map((p) => {
      const tr = el("tr");
      const ups = Array.isArray(p.uplinks) ? p.uplinks.map(str) : [];
      const verdict = str(p.verdict) || "none";
      tr.append(
        el("td", null, str(p.name)),
        el("td", "num", num(p.matched) ? p.matched.toLocaleString() : "–"),
        el("td", null, ups.length ? verdict + ": " + ups.join(", ") : verdict),
      );
      return tr;
    });
    const table = $("policies");
    table.tBodies[0].replaceChildren(...rows);
    table.hidden = rows.length === 0;
    $("no-policies").hidden = rows.length > 0;
  }

  // ---- history

  let hist = null, span = 3600 * 1000, historyBusy = false, historyAgain = false, historyTimer = 0;

  async function pollHistory() {
    if (historyBusy) {
      historyAgain = true;
      return;
    }
    historyBusy = true;
    clearTimeout(historyTimer);
    try {
      hist = parseHistory(await getJSON("api/history"));
      $("history-note").hidden = true;
      drawHistory();
    } catch (err) {
      const note = $("history-note");
      note.hidden = false;
      setText(note, "The history could not be read (" + why(err) + "); trying again.");
    }
    historyBusy = false;
    historyTimer = setTimeout(pollHistory, historyAgain ? 0 : HISTORY_EVERY);
    historyAgain = false;
  }

  function parseHistory(j) {
    j = j && typeof j === "object" ? j : {};
    const step = num(j.step_seconds) && j.step_seconds > 0 ? j.step_seconds * 1000 : 60000;
    const ups = (Array.isArray(j.uplinks) ? j.uplinks : [])
      .filter((u) => u && typeof u.name === "string")
      .map((u) => ({
        name: u.name,
        pts: (Array.isArray(u.points) ? u.points : [])
          .filter((p) => p && typeof p === "object")
          .map((p) => Object.assign({}, p, { t: parseTime(p.t) }))
          .filter((p) => p.t != null)
          .sort((a, b) => a.t - b.t),
      }));
    return { step, ups, events: Array.isArray(j.events) ? j.events : [] };
  }

  // Charts: drawn for the width they have, in CSS pixels.
  const H = 120, PL = 44, PR = 6, PT = 8, PB = 18;

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const e = Math.pow(10, Math.floor(Math.log10(v)));
    const f = v / e;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * e;
  }

  // frame draws the axes of a chart for [start, end] × [0, yMax].
  function frame(width, start, end, yMax, yFmt) {
    width = Math.max(width, 120);
    const root = svg("svg", { width, height: H, viewBox: "0 0 " + width + " " + H, role: "img" });
    const x = (t) => PL + ((t - start) / (end - start)) * (width - PL - PR);
    const y = (v) => H - PB - (Math.min(Math.max(v, 0), yMax) / yMax) * (H - PT - PB);
    for (const f of [0, 0.5, 1]) {
      const yy = y(yMax * f).toFixed(1);
      root.append(svg("line", { class: "grid", x1: PL, x2: width - PR, y1: yy, y2: yy }));
      const label = svg("text", { class: "axis", x: PL - 4, y: Number(yy) + 3, "text-anchor": "end" });
      label.textContent = yFmt(yMax * f);
      root.append(label);
    }
    // Ticks on the viewer's local quarter hours, or every 6 hours.
    const tick = end - start > 2 * 3600e3 ? 6 * 3600e3 : 15 * 60e3;
    const off = new Date(start).getTimezoneOffset() * 60e3;
    for (let t = Math.ceil((start - off) / tick) * tick + off; t <= end; t += tick) {
      const xx = x(t);
      if (xx < PL + 14 || xx > width - PR - 14) continue;
      root.append(svg("line", { class: "grid", x1: xx.toFixed(1), x2: xx.toFixed(1), y1: PT, y2: H - PB }));
      const label = svg("text", { class: "axis", x: xx.toFixed(1), y: H - 5, "text-anchor": "middle" });
      label.textContent = hhmm(t);
      root.append(label);
    }
    return { root, x, y, start, end, width };
  }

  // segments splits points into runs without gaps where get gives a number.
  function segments(pts, get, step) {
    const out = [];
    let cur = null, prev = -Infinity;
    for (const p of pts) {
      const v = get(p);
      if (!num(v)) { cur = null; continue; }
      if (!cur || p.t - prev > step * 1.5) { cur = []; out.push(cur); }
      cur.push([p.t, v]);
      prev = p.t;
    }
    return out;
  }

  function line(f, segs, cls) {
    let d = "", n = 0;
    for (const s of segs) {
      s.forEach(([t, v], i) => {
        d += (i ? "L" : "M") + f.x(t).toFixed(1) + "," + f.y(v).toFixed(1);
        n++;
      });
    }
    const p = svg("path", { class: "line " + cls, d: d || "M0,0", "data-points": n });
    f.root.append(p);
    return p;
  }

  function area(f, segs, cls) {
    let d = "";
    const base = f.y(0).toFixed(1);
    for (const s of segs) {
      if (s.length < 2) continue;
      d += "M" + f.x(s[0][0]).toFixed(1) + "," + base;
      for (const [t, v] of s) d += "L" + f.x(t).toFixed(1) + "," + f.y(v).toFixed(1);
      d += "L" + f.x(s[s.length - 1][0]).toFixed(1) + "," + base + "Z";
    }
    if (d) f.root.append(svg("path", { class: cls, d }));
  }

  // bands draws the state of each minute as a strip along the top.
  function bands(f, pts, step) {
    let run = null;
    const flush = () => {
      if (!run) return;
      const x0 = Math.max(f.x(run.t0), PL), x1 = Math.min(f.x(run.t1), f.width - PR);
      if (x1 > x0) {
        f.root.append(svg("rect", { class: "band " + stateClass(run.state), x: x0.toFixed(1), y: 0, width: Math.max(x1 - x0, 1).toFixed(1), height: 4 }));
      }
      run = null;
    };
    for (const p of pts) {
      if (typeof p.state !== "string") { flush(); continue; }
      if (run && run.state === p.state && p.t - run.t1 <= step * 0.5) { run.t1 = p.t + step; continue; }
      flush();
      run = { state: p.state, t0: p.t, t1: p.t + step };
    }
    flush();
  }

  // lossBars draws each minute's loss, 0 to 100% of the height.
  function lossBars(f, pts, step) {
    let d = "";
    const base = H - PB, full = H - PT - PB;
    for (const p of pts) {
      if (!num(p.loss) || p.loss <= 0) continue;
      const x0 = Math.max(f.x(p.t), PL), x1 = Math.max(f.x(p.t + step), x0 + 1);
      d += "M" + x0.toFixed(1) + "," + base + "V" + (base - Math.min(p.loss, 1) * full).toFixed(1) + "H" + x1.toFixed(1) + "V" + base + "Z";
    }
    if (d) f.root.append(svg("path", { class: "loss", d }));
  }

  function nearest(pts, t, step) {
    let lo = 0, hi = pts.length - 1;
    if (hi < 0) return null;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pts[mid].t < t) lo = mid + 1; else hi = mid;
    }
    let best = pts[lo];
    if (lo > 0 && Math.abs(pts[lo - 1].t - t) < Math.abs(best.t - t)) best = pts[lo - 1];
    return Math.abs(best.t - t) <= step ? best : null;
  }

  // readout shows, under a chart, the values at the pointer (or the tap).
  function readout(fig, f, describe) {
    const out = el("p", "readout");
    fig.append(out);
    const cursor = svg("line", { class: "cursor", x1: -9, x2: -9, y1: PT, y2: H - PB });
    f.root.append(cursor);
    const show = (ev) => {
      const r = f.root.getBoundingClientRect();
      if (!r.width) return;
      const px = ((ev.clientX - r.left) * f.width) / r.width;
      const t = f.start + ((px - PL) / (f.width - PL - PR)) * (f.end - f.start);
      const got = describe(t);
      const xx = got ? f.x(got.t).toFixed(1) : -9;
      cursor.setAttribute("x1", xx);
      cursor.setAttribute("x2", xx);
      setText(out, got ? got.text : "");
    };
    f.root.addEventListener("pointermove", show);
    f.root.addEventListener("pointerdown", show);
    f.root.addEventListener("pointerleave", (ev) => {
      if (ev.pointerType !== "mouse") return;
      cursor.setAttribute("x1", -9);
      cursor.setAttribute("x2", -9);
      setText(out, "");
    });
  }

  function figure(caption, keys) {
    const fig = el("figure", "chart");
    const cap = el("figcaption");
    cap.append(el("span", null, caption));
    for (const [cls, text] of keys) cap.append(el("span", "key " + cls, text));
    fig.append(cap);
    return fig;
  }

  function rttChart(fig, s, start, end, step) {
    const pts = s.pts.filter((p) => p.t >= start - step && p.t <= end);
    const tops = pts.map((p) => (num(p.rtt_max_ms) ? p.rtt_max_ms : p.rtt_p50_ms)).filter(num).sort((a, b) => a - b);
    const mids = pts.map((p) => p.rtt_p50_ms).filter(num);
    // The 98th percentile of the maxima: one timeout does not flatten the rest.
    const top = Math.max(tops.length ? tops[Math.floor(0.98 * (tops.length - 1))] : 0, ...mids, 1);
    const f = frame(fig.clientWidth, start, end, niceMax(top), (v) => (v ? Math.round(v) + " ms" : "0"));
    bands(f, pts, step);
    lossBars(f, pts, step);
    line(f, segments(pts, (p) => p.rtt_max_ms, step), "max");
    line(f, segments(pts, (p) => p.rtt_p50_ms, step), "p50");
    readout(fig, f, (t) => {
      const p = nearest(pts, t, step);
      if (!p) return null;
      const parts = [clock(p.t), stateWord(p.state)];
      if (num(p.rtt_p50_ms)) parts.push("RTT " + millis(p.rtt_p50_ms) + (num(p.rtt_max_ms) ? ", max " + millis(p.rtt_max_ms) : ""));
      if (num(p.loss)) parts.push("loss " + pct(p.loss));
      return { t: p.t, text: parts.join(" · ") };
    });
    fig.insertBefore(f.root, fig.lastChild);
  }

  function rateChart(fig, s, start, end, step) {
    const pts = s.pts.filter((p) => p.t >= start - step && p.t <= end);
    const bps = (b) => (num(b) ? (b * 8 * 1000) / step : null);
    const top = Math.max(1, ...pts.map((p) => Math.max(bps(p.bytes_in) || 0, bps(p.bytes_out) || 0)));
    const f = frame(fig.clientWidth, start, end, niceMax(top), (v) => (v ? bits(v).replace("/s", "") : "0"));
    const ins = segments(pts, (p) => bps(p.bytes_in), step);
    area(f, ins, "in-area");
    line(f, ins, "in");
    line(f, segments(pts, (p) => bps(p.bytes_out), step), "out");
    readout(fig, f, (t) => {
      const p = nearest(pts, t, step);
      if (!p) return null;
      const parts = [clock(p.t), "↓ " + bits(bps(p.bytes_in)), "↑ " + bits(bps(p.bytes_out))];
      if (num(p.new_conns)) parts.push(p.new_conns + " new connections");
      return { t: p.t, text: parts.join(" · ") };
    });
    fig.insertBefore(f.root, fig.lastChild);
  }

  function flowsChart(fig, ups, start, end, step) {
    const vis = ups.map((s) => s.pts.filter((p) => p.t >= start - step && p.t <= end));
    const top = Math.max(1, ...vis.flatMap((pts) => pts.map((p) => (num(p.flows) ? p.flows : 0))));
    const f = frame(fig.clientWidth, start, end, niceMax(top), (v) => String(Math.round(v)));
    vis.forEach((pts, i) => line(f, segments(pts, (p) => p.flows, step), "s" + (i % 6)));
    readout(fig, f, (t) => {
      let at = null;
      const parts = [];
      ups.forEach((s, i) => {
        const p = nearest(vis[i], t, step);
        if (!p) return;
        at = at ?? p.t;
        parts.push(s.name + " " + (num(p.flows) ? p.flows : "–"));
      });
      return at == null ? null : { t: at, text: clock(at) + " · " + parts.join(" · ") };
    });
    fig.insertBefore(f.root, fig.lastChild);
  }

  let drawnWidth = 0;

  function drawHistory() {
    const box = $("graphs");
    drawnWidth = box.clientWidth;
    if (!hist) return;
    const { step, ups } = hist;
    let end = -Infinity;
    for (const s of ups) if (s.pts.length) end = Math.max(end, s.pts[s.pts.length - 1].t);
    end = Number.isFinite(end) ? end + step : serverNow();
    const start = end - span;

    const draws = [];
    const groups = ups.map((s) => {
      const g = el("div", "graph-group");
      g.dataset.uplink = s.name;
      g.append(el("h3", null, s.name));
      const rtt = figure("RTT", [["k-p50", "median"], ["k-max", "max"], ["k-loss", "loss"]]);
      const rate = figure("Throughput", [["k-in", "in"], ["k-out", "out"]]);
      g.append(rtt, rate);
      draws.push(() => rttChart(rtt, s, start, end, step), () => rateChart(rate, s, start, end, step));
      return g;
    });
    if (ups.length) {
      const g = el("div", "graph-group");
      g.append(el("h3", null, "Flows per uplink"));
      const fl = figure("Connections", ups.map((s, i) => ["s" + (i % 6), s.name]));
      g.append(fl);
      draws.push(() => flowsChart(fl, ups, start, end, step));
      groups.push(g);
    }
    box.replaceChildren(...groups);
    // Now that the figures are laid out, each chart is drawn for its width.
    for (const draw of draws) draw();
    renderEvents(hist.events);
  }

  let eventsKey = null;

  function renderEvents(evs) {
    const key = evs.length + " " + JSON.stringify(evs[evs.length - 1] ?? null) + " " + new Date(serverNow()).toDateString();
    if (key === eventsKey) return;
    eventsKey = key;
    const items = [];
    for (let i = evs.length - 1; i >= 0; i--) {
      const e = evs[i];
      if (!e || typeof e !== "object") continue;
      const li = el("li");
      const at = parseTime(e.at);
      const time = el("time", null, at == null ? "?" : clock(at));
      if (at != null) time.dateTime = new Date(at).toISOString();
      li.append(time, el("span", "who", str(e.uplink)), badge(e.from), el("span", "arrow", "→"), badge(e.to));
      if (e.reason) li.append(el("span", "why", str(e.reason)));
      items.push(li);
    }
    $("events").replaceChildren(...items);
    $("no-events").hidden = items.length > 0;
  }

  // ---- controls

  function setSpan(ms) {
    span = ms;
    $("span-hour").setAttribute("aria-pressed", String(ms === 3600e3));
    $("span-day").setAttribute("aria-pressed", String(ms !== 3600e3));
    drawHistory();
  }
  $("span-hour").addEventListener("click", () => setSpan(3600e3));
  $("span-day").addEventListener("click", () => setSpan(86400e3));

  let resizeQueued = false;
  window.addEventListener("resize", () => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => {
      resizeQueued = false;
      if ($("graphs").clientWidth !== drawnWidth) drawHistory();
    });
  });

  pollStatus();
  pollHistory();
})();
