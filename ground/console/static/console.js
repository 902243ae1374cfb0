// aisat console: polls the console server's JSON endpoints and draws the page.
// No framework and no build step: plain DOM and a hand-written SVG plot.
"use strict";

const CSRF = document.querySelector('meta[name="aisat-csrf"]').content;
const $ = (id) => document.getElementById(id);
const state = { dict: null, commands: {}, evAfter: 0, evSeverity: "", now: null,
                tlm: [], plotTimer: 0 };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-Aisat-Csrf": CSRF } };
  let reply;
  try { reply = await fetch(path, opts); } catch (e) {
    return { ok: false, error: "console server unreachable (" + e.message + ")", status: 0 };
  }
  let data;
  try { data = await reply.json(); } catch (e) { data = { ok: false, error: reply.statusText }; }
  data.status = reply.status;
  return data;
}

// --- formatting -----------------------------------------------------------------------
function utc(t) {
  if (t === null || t === undefined) return "--";
  return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19);
}
function dur(s) {
  if (s === null || s === undefined || !isFinite(s)) return "--";
  const neg = s < 0; s = Math.abs(Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
  const txt = (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(sec).padStart(2, "0");
  return (neg ? "-" : "") + txt;
}
function fmt(v) {
  if (v === null || v === undefined) return "--";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 1 : 2);
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}
function limitText(l) {
  if (!l) return "";
  const lo = [l.red_low, l.yellow_low].filter((x) => x !== undefined).join(" / ");
  const hi = [l.yellow_high, l.red_high].filter((x) => x !== undefined).join(" / ");
  return (lo ? "lo " + lo : "") + (lo && hi ? ", " : "") + (hi ? "hi " + hi : "");
}

// --- live state: header, overview, alarms ---------------------------------------------
const CARDS = [
  ["mode.current", "Mode"], ["power.battery_soc_pct", "Battery"], ["power.battery_voltage_v", "Bus voltage"],
  ["power.battery_current_a", "Battery current"], ["power.array_power_w", "Array power"],
  ["power.load_power_w", "Load power"], ["power.battery_temp_c", "Battery temp"],
  ["thermal.payload_temp_c", "Payload temp"], ["thermal.avionics_temp_c", "Avionics temp"],
  ["thermal.radiator_temp_c", "Radiator temp"], ["payload.state", "Payload"],
  ["payload.activity_pct", "Payload activity"], ["throttle.level_pct", "Throttle"],
  ["payload.tiles_done", "Tiles classified"], ["power.next_eclipse_in_s", "Next eclipse in"],
  ["link.recorder_depth", "Recorder depth"], ["limits.tripped_now", "Watchpoints tripped"],
  ["schedule.entries", "Scheduled onboard"]];

async function pollState() {
  const s = await api("/api/state");
  if (!s.ok) { $("ground-badge").textContent = s.error || "console error"; $("ground-badge").hidden = false; return; }
  const g = s.ground;
  state.now = (g && g.spacecraft_time_s) || s.now_s || null;
  $("clock").textContent = "SC " + utc(state.now) + " UTC";
  $("ground-badge").textContent = s.ground_error ? "ground: " + s.ground_error
    : s.archive_error ? "archive: " + s.archive_error : "";
  $("ground-badge").hidden = !$("ground-badge").textContent;
  const mode = s.overview["mode.current"];
  $("mode-badge").textContent = "mode " + fmt(mode && mode.value);
  const link = $("link-badge");
  if (g && g.in_contact) {
    const los = g.next_pass && g.next_pass.los_utc_s ? " · LOS in " + dur(g.next_pass.los_utc_s - state.now) : "";
    link.textContent = "in contact: " + (g.station || "?") + los;
    link.className = "hdr state-ok";
  } else if (g && g.next_pass && g.next_pass.aos_utc_s) {
    link.textContent = "no contact · AOS " + g.next_pass.station + " in " + dur(g.next_pass.aos_utc_s - state.now);
    link.className = "hdr muted";
  } else { link.textContent = "no contact"; link.className = "hdr muted"; }
  $("alarm-badge").textContent = "alarms " + s.unacknowledged;
  $("alarm-badge").className = "hdr" + (s.unacknowledged ? " state-red" : "");
  drawOverview(s.overview);
  drawAlarms(s.alarms);
  drawQueue(g);
}

function drawOverview(ov) {
  const box = $("overview");
  box.replaceChildren();
  for (const [name, label] of CARDS) {
    const p = ov[name];
    let value = p ? fmt(p.value) : "--";
    if (p && name.endsWith("_in_s") && typeof p.value === "number") value = dur(p.value);
    else if (p && p.units && p.value !== null) value += " " + p.units;
    const cls = !p || p.state === "none" ? "none" : p.stale ? "stale" : p.state;
    box.append(el("div", { class: "card " + cls, "data-point": name,
                           title: p ? name + (p.stale ? " (stale)" : "") : name },
      el("div", { class: "k" }, label + (p && p.stale ? " · stale" : "")), el("div", { class: "v" }, value)));
  }
}

function drawAlarms(alarms) {
  const list = $("alarms");
  list.replaceChildren();
  const open = alarms.filter((a) => !a.acked).reverse();
  const acked = alarms.filter((a) => a.acked).reverse().slice(0, 3);
  if (!open.length) list.append(el("li", { class: "acked" }, "no unacknowledged alarms"));
  for (const a of open.concat(acked)) {
    const li = el("li", { class: a.acked ? "acked" : a.active ? "" : "cleared", "data-alarm": a.id },
      el("b", {}, a.name), " ", a.count > 1 ? "×" + a.count + " " : "",
      el("div", { class: "small" }, a.text), el("div", { class: "small muted" },
        utc(a.last_s) + (a.source === "limit" && !a.active ? " · cleared" : "") +
        (a.acked ? " · acknowledged by " + a.acked_by : "")));
    if (!a.acked) {
      li.prepend(el("button", { type: "button", class: "ack", onclick: async () => {
        const r = await api("/api/alarms/" + a.id + "/ack", { by: "operator" });
        if (!r.ok) alert(r.error);
        pollState();
      } }, "Ack"));
    }
    list.append(li);
  }
}

function drawQueue(g) {
  const q = $("queue");
  q.replaceChildren();
  if (!g) return;
  $("uplink").textContent = g.uplink ? "uplink " + (typeof g.uplink === "object" ? JSON.stringify(g.uplink) : g.uplink) : "";
  for (const c of g.queue.concat(g.in_flight)) {
    q.append(el("li", {}, "#" + c.cmd_seq + " " + c.name + " " + c.stage + (c.at_s ? " (at " + utc(c.at_s) + ")" : "")));
  }
  if (!q.children.length) q.append(el("li", { class: "muted" }, "empty"));
}

// --- telemetry table --------------------------------------------------------------------
async function pollTelemetry() {
  const t = await api("/api/telemetry");
  if (!t.ok) return;
  state.tlm = t.points;
  drawTelemetry();
}

function drawTelemetry() {
  const filter = $("tlm-filter").value.trim().toLowerCase();
  const body = $("tlm").tBodies[0];
  body.replaceChildren();
  for (const p of state.tlm) {
    if (filter && !p.name.includes(filter)) continue;
    const cls = (p.stale ? "stale " : "") + "row-" + p.state;
    body.append(el("tr", { class: cls, "data-point": p.name, title: p.description },
      el("td", {}, p.name), el("td", { class: "val" }, fmt(p.value)), el("td", {}, p.units),
      el("td", { class: "small" }, limitText(p.limits)),
      el("td", { class: "small" }, p.age_s === null ? "never" : dur(Math.max(0, p.age_s)) + (p.stale ? " stale" : ""))));
  }
}

// --- plot -------------------------------------------------------------------------------
async function pollPlot() {
  const point = $("plot-point").value;
  if (!point) return;
  const win = $("plot-window").value;
  const q = "/api/series?buckets=400&point=" + encodeURIComponent(point) + (win ? "&window_s=" + win : "");
  const s = await api(q);
  if (!s.ok) { $("plot-info").textContent = s.error; return; }
  drawPlot(s);
}

function drawPlot(s) {
  const box = $("plot"), W = 800, H = 260, L = 56, R = 10, T = 10, B = 24;
  box.replaceChildren();
  const info = state.dict && state.dict.telemetry.find((t) => t.name === s.name);
  const limits = (info && info.limits) || {};
  if (!s.t.length) {
    box.append(svg("text", { x: W / 2 - 60, y: H / 2 }, "no samples in this window"));
    $("plot-info").textContent = s.name + ": 0 samples";
    return;
  }
  let t0 = s.t[0], t1 = s.t[s.t.length - 1];
  if (t1 <= t0) t1 = t0 + 1;
  // the range follows the data; a limit line is drawn when it falls inside that range
  let lo = Math.min(...s.v), hi = Math.max(...s.v);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
  const x = (t) => L + (t - t0) / (t1 - t0) * (W - L - R);
  const y = (v) => T + (hi - v) / (hi - lo) * (H - T - B);
  // gridlines: five levels for numbers, one per category for text points (modes, states)
  const levels = s.categories.length ? s.categories.map((_, i) => i) : [0, 1, 2, 3, 4].map((i) => lo + (hi - lo) * i / 4);
  for (const v of levels) {
    box.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "axis" }));
    const label = s.categories.length ? s.categories[v] : fmt(Number(v.toPrecision(4)));
    box.append(svg("text", { x: 2, y: y(v) + 4 }, String(label).slice(0, 9)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (t1 - t0) * i / 4;
    box.append(svg("text", { x: Math.min(x(t) - 24, W - 60), y: H - 6 }, utc(t).slice(11)));
  }
  for (const [k, cls] of [["red_low", "lim-red"], ["yellow_low", "lim-yellow"], ["yellow_high", "lim-yellow"], ["red_high", "lim-red"]]) {
    if (limits[k] !== undefined && !s.categories.length && limits[k] >= lo && limits[k] <= hi) {
      box.append(svg("line", { x1: L, x2: W - R, y1: y(limits[k]), y2: y(limits[k]), class: cls }));
      box.append(svg("text", { x: W - R - 70, y: y(limits[k]) - 3 }, k.replace("_", " ") + " " + limits[k]));
    }
  }
  let d = "";
  s.t.forEach((t, i) => {
    if (s.categories.length && i > 0) d += "L" + x(t).toFixed(1) + "," + y(s.v[i - 1]).toFixed(1);
    d += (i ? "L" : "M") + x(t).toFixed(1) + "," + y(s.v[i]).toFixed(1);
  });
  box.append(svg("path", { d: d, class: "line" }));
  const last = s.v[s.v.length - 1];
  $("plot-info").textContent = s.name + ": " + s.raw_count + " samples, " + s.t.length + " drawn · last " +
    (s.categories.length ? s.categories[last] : fmt(last)) + " " + (s.units || "") + " at " + utc(t1) +
    (s.truncated ? " · truncated" : "");
}

function restartPlot() {
  clearInterval(state.plotTimer);
  pollPlot();
  if ($("plot-live").checked) state.plotTimer = setInterval(pollPlot, 3000);
}

// --- events -----------------------------------------------------------------------------
async function pollEvents(reset) {
  if (reset) { state.evAfter = 0; $("events").replaceChildren(); }
  const sev = $("ev-severity").value;
  const e = await api("/api/events?limit=200&after_id=" + state.evAfter + (sev ? "&min_severity=" + sev : ""));
  if (!e.ok) return;
  const list = $("events");
  for (const ev of e.events) {
    state.evAfter = Math.max(state.evAfter, ev.id);
    list.prepend(el("li", { "data-event": ev.name },
      el("span", { class: "sev sev-" + ev.severity }, ev.severity), " ",
      el("span", { class: "muted small" }, utc(ev.time_s).slice(11)), " ", ev.text));
  }
  while (list.children.length > 300) list.lastChild.remove();
}

// --- commanding -------------------------------------------------------------------------
function commandDef(name) { return state.dict.commands.find((c) => c.name === name); }

function drawArgs() {
  const c = commandDef($("cmd-name").value);
  const box = $("cmd-args");
  box.replaceChildren();
  $("cmd-desc").textContent = c ? c.description + (c.hazardous ? "  [hazardous: asks for confirmation]" : "") : "";
  if (!c) return;
  for (const a of c.args) {
    let input;
    if (a.type === "enum") {
      input = el("select", {});
      for (const ch of a.choices) input.append(el("option", { value: ch }, ch));
    } else if (a.type === "bool") {
      input = el("input", { type: "checkbox" });
    } else if (a.type === "int" || a.type === "float") {
      input = el("input", { type: "number", required: "", step: a.type === "int" ? "1" : "any" });
      if (a.min !== undefined && a.min !== null) input.min = a.min;
      if (a.max !== undefined && a.max !== null) input.max = a.max;
    } else {
      input = el("input", { type: "text" });
      if (a.max_len) input.maxLength = a.max_len;
    }
    input.name = a.name;
    input.dataset.type = a.type;
    const range = a.min !== undefined && a.min !== null ? " [" + a.min + " .. " + (a.max ?? "") + "]" : "";
    box.append(el("label", { title: a.description || "" }, a.name + (a.units ? " (" + a.units + ")" : "") + range, input));
  }
}

function readArgs() {
  const args = {};
  for (const input of $("cmd-args").querySelectorAll("input, select")) {
    if (!input.checkValidity()) throw new Error(input.name + ": " + input.validationMessage);
    const t = input.dataset.type;
    if (t === "bool") args[input.name] = input.checked;
    else if (t === "int") args[input.name] = parseInt(input.value, 10);
    else if (t === "float") args[input.name] = parseFloat(input.value);
    else args[input.name] = input.value;
  }
  return args;
}

function confirmHazard(text) {
  return new Promise((resolve) => {
    const dlg = $("confirm-dialog");
    $("confirm-text").textContent = text;
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.showModal();
  });
}

async function sendCommand(ev) {
  ev.preventDefault();
  $("cmd-error").textContent = "";
  const name = $("cmd-name").value;
  const c = commandDef(name);
  let args;
  try { args = readArgs(); } catch (e) { $("cmd-error").textContent = e.message; return; }
  const body = { name: name, args: args };
  const at = $("cmd-at").value;
  if (at) body.at_s = Date.parse(at + "Z") / 1000;
  if (c.hazardous) {
    const ok = await confirmHazard(name + " " + JSON.stringify(args) + " is hazardous: " + c.description);
    if (!ok) { $("cmd-error").textContent = "not sent: not confirmed"; return; }
    body.confirm = true;
  }
  const r = await api("/api/commands", body);
  if (!r.ok) {
    $("cmd-error").textContent = r.error + (r.valid ? " (valid: " + [].concat(r.valid).join(", ") + ")" : "")
      + (r.expected ? " (expected " + r.expected + ")" : "");
    return;
  }
  const sent = $("cmd-sent");
  sent.textContent = "#" + r.command.cmd_seq + " " + r.command.name + " " + r.command.stage;
  sent.dataset.cmd = r.command.cmd_seq;
  pollCommands();
}

// every stage the ground may report, in order; "held" and "received"/"started" appear
// only when the ground reports them. Pending stages of a live command are drawn grey.
const STAGE_ORDER = ["queued", "held", "sent", "received", "accepted", "started", "completed"];
const EXPECTED = ["queued", "sent", "accepted", "completed"];

async function pollCommands() {
  const r = await api("/api/commands");
  if (!r.ok) return;
  const body = $("commands");
  body.replaceChildren();
  for (const c of r.commands) {
    const times = c.stage_times_s || {};
    const chips = el("span", {});
    const at = STAGE_ORDER.indexOf(c.stage);
    for (const st of STAGE_ORDER) {
      const reached = times[st] !== undefined || c.stage === st;
      const pending = !reached && c.stage !== "failed" && EXPECTED.includes(st) && STAGE_ORDER.indexOf(st) > at;
      if (!reached && !pending) continue;
      chips.append(el("span", { class: "stage" + (reached ? " done" : "") + (c.stage === st ? " current" : ""),
                               "data-stage": st, title: times[st] ? utc(times[st]) : "" }, st));
    }
    if (c.stage === "failed") chips.append(el("span", { class: "stage failed current", "data-stage": "failed" }, "failed" + (c.failed_at ? " at " + c.failed_at : "")));
    // a command still at the ground: hold it (kept, not sent), release it, or cancel it
    const actions = el("span", {});
    const acts = c.stage === "queued" ? ["hold", "cancel"] : c.stage === "held" ? ["release", "cancel"] : [];
    for (const act of acts) {
      actions.append(el("button", { type: "button", class: "act-" + act, onclick: async () => {
        const x = await api("/api/commands/" + c.cmd_seq + "/" + act, {});
        if (!x.ok) $("cmd-error").textContent = act + " #" + c.cmd_seq + ": " + x.error;
        pollCommands();
      } }, act[0].toUpperCase() + act.slice(1)));
    }
    body.append(el("tr", { "data-cmd": c.cmd_seq, "data-stage": c.stage },
      el("td", {}, c.cmd_seq), el("td", { class: "wrap" }, el("b", {}, c.name), " ", el("span", { class: "small muted" },
        Object.entries(c.args).map(([k, v]) => k + "=" + JSON.stringify(v)).join(" ")
        + (c.at_s ? " at " + utc(c.at_s) : ""))),
      el("td", {}, chips), el("td", { class: "wrap small" }, c.reason || ""), el("td", {}, actions)));
  }
  if (!r.commands.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "no commands sent from this console yet")));
  drawSchedule(r.schedule_note);
}

// --- schedule, passes, products ---------------------------------------------------------
function drawSchedule(note) {
  const box = $("schedule");
  box.replaceChildren();
  const p = (n) => state.tlm.find((x) => x.name === n);
  const entries = p("schedule.entries"), next = p("schedule.next_at_s");
  box.append(el("div", {}, "stored onboard: " + fmt(entries && entries.value) +
    (next && next.value ? " · next at " + utc(next.value) : "")));
  box.append(el("div", { class: "muted", id: "schedule-note" }, note ? "schedule.list #" + note.cmd_seq + ": " + note.text
    : "press List onboard to ask the spacecraft (schedule.list)"));
}

async function pollPasses() {
  const r = await api("/api/passes");
  if (!r.ok) return;
  const box = $("passes"), W = 1000, H = 60;
  box.replaceChildren();
  const now = state.now || Date.now() / 1000;
  const ends = r.passes.map((p) => p.los_s);
  const starts = r.passes.map((p) => p.aos_s - 600);
  const t0 = Math.max(now - 6 * 3600, Math.min(now - 1800, ...starts));
  const t1 = Math.max(now + 1800, ...ends.map((t) => t + 600));
  const x = (t) => (t - t0) / (t1 - t0) * W;
  const step = t1 - t0 > 4 * 3600 ? 3600 : t1 - t0 > 3600 ? 1800 : 600;
  for (let h = Math.ceil(t0 / step) * step; h < t1; h += step) {
    box.append(svg("text", { x: x(h) + 2, y: H - 4 }, utc(h).slice(11, 16)));
  }
  const seen = r.passes.filter((p) => !p.predicted);
  const lines = [];
  for (const p of r.passes) {
    if (p.los_s < t0 || p.aos_s > t1) continue;
    box.append(svg("rect", { x: x(p.aos_s), y: 12, width: Math.max(2, x(p.los_s) - x(p.aos_s)), height: 26,
                             class: p.predicted ? "predicted" : "past" }));
    box.append(svg("text", { x: x(p.aos_s), y: 9 }, p.station));
    const current = p.predicted && p.aos_s <= now && now <= p.los_s;
    if (p.predicted) {
      lines.push((current ? "current pass: " : "next pass: ") + p.station + " AOS " + utc(p.aos_s).slice(11)
        + " LOS " + utc(p.los_s).slice(11) + (current ? " (LOS in " + dur(p.los_s - now) + ")"
        : " (AOS in " + dur(p.aos_s - now) + ")"));
    }
  }
  const past = seen.slice(-4).map((p) => p.station + " " + utc(p.aos_s).slice(5, 16) + " (" + dur(p.los_s - p.aos_s) + " seen)");
  box.append(svg("line", { x1: x(now), x2: x(now), y1: 0, y2: H, class: "now" }));
  $("pass-text").textContent = lines.concat(past.length ? ["contacts in the archive: " + past.join(", ")] : [])
    .join("   ·   ") || "no contacts in the archive yet";
}

function productCells(p) {
  const summary = [], chips = el("td", { class: "wrap" });
  for (const [k, v] of Object.entries(p)) {
    if (["id", "time_s", "rx_s"].includes(k)) continue;
    if (Array.isArray(v)) {
      for (const t of v.slice(0, 16)) chips.append(el("span", { class: "tile" }, typeof t === "object" ? JSON.stringify(t) : t));
      if (v.length > 16) chips.append(el("span", { class: "muted" }, " +" + (v.length - 16) + " more " + k));
    } else if (v === null || typeof v !== "object") {
      summary.push(k + " " + fmt(v));
    }
  }
  return [el("td", { class: "wrap small" }, summary.join(" · ")), chips];
}

async function pollProducts() {
  const r = await api("/api/products");
  if (!r.ok) return;
  const body = $("products");
  body.replaceChildren();
  for (const p of r.products) {
    body.append(el("tr", { "data-product": p.id }, el("td", {}, p.id), el("td", {}, utc(p.time_s).slice(11)),
      ...productCells(p)));
  }
  if (!r.products.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no data products archived yet")));
}

async function pollJobs() {
  const r = await api("/api/jobs");
  if (!r.ok) return;
  const box = $("jobs");
  box.replaceChildren();
  for (const j of r.jobs) {
    const acc = j.accuracy === null || j.accuracy === undefined ? "" : " · accuracy " + (j.accuracy * 100).toFixed(1) + " %";
    const held = " · tiles on the ground " + j.tiles.length + "/" + (j.tiles_sent ?? "?")
      + (j.parts_missing.length ? " (parts " + j.parts_missing.join(",") + " still onboard)" : "");
    const saved = j.downlink_saved_frac === null || j.downlink_saved_frac === undefined ? ""
      : " · downlink saved " + (j.downlink_saved_frac * 100).toFixed(0) + " %";
    const tiles = el("div", { class: "tiles" });
    for (const i of j.tiles.slice(0, 32)) {
      const base = "/api/jobs/" + j.job_id + "/tiles/" + i + ".png";
      tiles.append(el("a", { href: base + "?band=swir", target: "_blank", title: "tile " + i + " (click: SWIR band)" },
        el("img", { src: base, alt: "job " + j.job_id + " tile " + i, width: 48, height: 48 })));
    }
    box.append(el("div", { class: "job", "data-job": j.job_id },
      el("b", {}, "job " + j.job_id), " " + j.status + (j.reason ? ": " + j.reason : "")
      + " · " + fmt(j.n_tiles) + " tiles" + acc + held + saved, tiles,
      ...j.bad.map((b) => el("div", { class: "bad" }, b))));
  }
  if (!r.jobs.length) box.append(el("div", { class: "muted" }, "no operator jobs on the ground yet (jobs.capture runs one)"));
}

// --- start ------------------------------------------------------------------------------
async function start() {
  const d = await api("/api/dictionary");
  if (!d.ok) { $("ground-badge").textContent = d.error; setTimeout(start, 2000); return; }
  state.dict = d;
  const sel = $("cmd-name");
  for (const c of d.commands) sel.append(el("option", { value: c.name }, c.name + (c.hazardous ? "  ⚠" : "")));
  sel.addEventListener("change", drawArgs);
  drawArgs();
  $("cmd-form").addEventListener("submit", sendCommand);
  const pp = $("plot-point");
  for (const t of d.telemetry) pp.append(el("option", { value: t.name }, t.name));
  pp.value = "power.battery_soc_pct";
  for (const id of ["plot-point", "plot-window", "plot-live"]) $(id).addEventListener("change", restartPlot);
  const sev = $("ev-severity");
  sev.append(el("option", { value: "" }, "all severities"));
  for (const s of ["ACTIVITY_LO", "ACTIVITY_HI", "WARNING_LO", "WARNING_HI", "FATAL"]) sev.append(el("option", { value: s }, "≥ " + s));
  sev.addEventListener("change", () => pollEvents(true));
  $("tlm-filter").addEventListener("input", drawTelemetry);
  $("sched-list").addEventListener("click", async () => {
    const r = await api("/api/commands", { name: "schedule.list", args: {} });
    if (!r.ok) $("schedule-note").textContent = r.error;
    pollCommands();
  });
  const every = (fn, ms) => { fn(); setInterval(fn, ms); };
  await pollState();  // the spacecraft clock first: the pass timeline is drawn around it
  setInterval(pollState, 1000);
  every(pollTelemetry, 2000);
  every(() => pollEvents(false), 2000);
  every(pollCommands, 1000);
  every(pollPasses, 5000);
  every(pollProducts, 5000);
  every(pollJobs, 5000);
  restartPlot();
}

start();
