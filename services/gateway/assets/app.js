// waveplot page: a request is a URL (/?symbol=ETHUSDT&interval=1h...), charts arrive
// one by one over Server-Sent Events, every failure is said in words a trader reads.
// A live page (live=1; auto=1 is read as an alias) holds a watch: the server starts a
// render at each candle close and says so over Server-Sent Events, no polling.
"use strict";

const $ = (id) => document.getElementById(id);
// Request fields the form edits; each is in the URL only when it is set.
const FIELDS = ["symbol", "interval", "source", "window", "wavelet", "levels", "mra", "anomaly_k", "trend_level", "tz"];
const NUMBERS = ["window", "levels", "anomaly_k", "trend_level"];
// What each list offers, to say that a link named something else.
const CHOICES = { interval: "an interval", source: "a source of this server", mra: "a decomposition" };
// Tile order: the two price charts first, the two tall charts side by side (so a
// two-column row never pairs a tall chart with a short one), then the rest.
const LAYOUT = ["01", "04", "02a", "02b", "03", "05"];
const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000 };
let meta = null;
let events = null;
let current = null;
let zoomToken = 0;
// The live page's watch: what it follows, its event stream, and when the price was shown.
let live = null;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

async function init() {
  const res = await fetch("/api/meta").catch(() => null);
  if (!res || !res.ok) throw new Error("the waveplot server does not answer; reload when it is back");
  meta = await res.json();
  $("symbols").replaceChildren(...meta.symbols.map((s) => new Option(s)));
  $("interval").replaceChildren(...meta.intervals.map((i) => new Option(i, i, i === "5m", i === "5m")));
  $("source").replaceChildren(...meta.sources.map((s) => new Option(s)));
  zones();
  $("form").addEventListener("submit", (e) => { e.preventDefault(); run({ push: true }); });
  $("live").addEventListener("change", () => { syncUrl(false); watchLive(current ? current.request : request()); });
  window.addEventListener("popstate", follow);
  follow();
}

/** Renders what the URL names, or says what in it this page does not offer. */
function follow() {
  const { named, problems } = fromUrl();
  if (problems.length) say(problems.join(" ") + " Pick from the lists and press Run.", true);
  else if (named) run({});
}

/** The time-zone choices: UTC (the default, as on the exchange), this browser's own
 * zone, then every zone the browser knows. */
function zones() {
  const own = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const all = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  const options = [new Option("UTC", "")];
  if (own && own !== "UTC") options.push(new Option(`${own} (this device)`, own));
  options.push(...all.filter((z) => z !== own && z !== "UTC").map((z) => new Option(z)));
  $("tz").replaceChildren(...options);
}

/** Fills the form from the URL. Returns whether it names a render, and, in words,
 * each choice it names that a list here does not offer (that field keeps its default). */
function fromUrl() {
  const params = new URLSearchParams(location.search);
  const defaults = { source: meta.sources[0], interval: "5m", symbol: "BTCUSDT" };
  const tz = params.get("tz");
  // A shared link may name a zone this browser does not list; keep it selectable.
  if (tz && ![...$("tz").options].some((o) => o.value === tz)) $("tz").append(new Option(tz));
  const problems = [];
  for (const f of FIELDS) {
    const wanted = params.get(f);
    const field = $(f);
    field.value = wanted ?? defaults[f] ?? "";
    if (field.tagName !== "SELECT" || wanted === null) continue;
    // A list's default option has the value "" and its name as text (mra: modwt).
    const option = [...field.options].find((o) => o.value === wanted || o.text === wanted);
    if (option) {
      field.value = option.value;
    } else {
      field.value = defaults[f] ?? "";
      const valid = [...field.options].map((o) => o.text).join(", ");
      problems.push(`${wanted} is not ${CHOICES[f]}; valid: ${valid}.`);
    }
  }
  $("live").checked = params.get("live") === "1" || params.get("auto") === "1";
  if (FIELDS.slice(3).some((f) => params.has(f))) $("more").open = true;
  return { named: params.has("symbol"), problems };
}

function request() {
  const b = {};
  for (const f of FIELDS) {
    const v = $(f).value.trim();
    if (v !== "") b[f] = NUMBERS.includes(f) ? Number(v) : v;
  }
  b.symbol = b.symbol.toUpperCase();
  b.width = chartWidth();
  return b;
}

/** The image width that fits one chart tile on this screen, in steps of 160 px so
 * that similar screens share cached charts. The charts' text has a fixed pixel
 * size, so a smaller image is also a more legible one on a phone. */
function chartWidth() {
  const grid = $("charts");
  const columns = getComputedStyle(grid).gridTemplateColumns.split(" ").length || 1;
  const tile = (grid.clientWidth || innerWidth) / columns - 20;
  const px = Math.ceil((tile * Math.min(2, devicePixelRatio || 1)) / 160) * 160;
  return Math.min(1920, Math.max(640, px));
}

function syncUrl(push, symbol) {
  const params = new URLSearchParams();
  for (const f of FIELDS) {
    const v = f === "symbol" ? (symbol || $(f).value.trim().toUpperCase()) : $(f).value.trim();
    if (v !== "" && !(f === "source" && v === meta.sources[0])) params.set(f, v);
  }
  if ($("live").checked) params.set("live", "1");
  const url = "/?" + params.toString();
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

function say(text, isError, fix) {
  $("message").textContent = text;
  $("notice").className = isError ? "error" : "";
  $("fix").hidden = !fix;
  if (fix) {
    $("fix").textContent = fix.label;
    $("fix").onclick = fix.action;
  }
}

/** Starts a render of the form's request (and, on a live page, its watch). */
async function run({ push = false }) {
  const b = request();
  syncUrl(push);
  watchLive(b);
  if (events) events.close();
  tiles([], false);
  $("run").disabled = true;
  say(`Analysing ${b.symbol} ${b.interval}…`);
  let res;
  try {
    res = await fetch("/api/render", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) });
  } catch {
    return failed("The waveplot server cannot be reached. Check the connection; it may be restarting.");
  }
  const answer = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) return failed(...explain(answer.error || `HTTP ${res.status}`, res.status, b));
  $("run").disabled = false;
  followRender(b, answer, false);
}

/** Shows a render as its events come. `refresh` keeps the charts on screen until their
 * replacements arrive, so a wall board does not flash. */
function followRender(b, answer, refresh) {
  if (events) events.close();
  current = { request: b, final: false, live: refresh };
  tiles(answer.plots, refresh);
  $("progress").max = answer.plots.length;
  $("progress").hidden = false;
  events = new EventSource(answer.events_url);
  events.addEventListener("status", (e) => show(JSON.parse(e.data)));
  events.onerror = () => {
    if (current.final) return;
    // EventSource reconnects by itself; the next status replaces this message.
    say("The connection to the waveplot server was lost; trying again…", true, { label: "Run again", action: () => run({}) });
  };
}

function failed(text, fix) {
  $("run").disabled = false;
  $("progress").hidden = true;
  say(text, true, fix);
}

/** An API error in a trader's words, and the action that may fix it. */
function explain(error, status, b) {
  const sample = meta.sources.includes("sample") && b.source !== "sample"
    ? { label: "Show the bundled sample instead", action: () => { $("source").value = "sample"; run({ push: true }); } }
    : null;
  const unknown = /unknown symbol (\S+)/i.exec(error);
  if (unknown) {
    return [`Binance does not list ${unknown[1]}. Check the spelling: a spot pair such as BTCUSDT or ETHBTC (a bare coin like SOL means SOLUSDT).`];
  }
  if (/binance/i.test(error) && /did not answer|unreachable|refuses|rate limit|connect/i.test(error)) {
    return [`Binance cannot be reached from here, so there are no live candles (${error}).`, sample];
  }
  if (status === 504 && b.source === "binance") {
    return ["Binance did not answer in time; this board may be offline.", sample];
  }
  if (status === 503) return [`The analysis service is down, so nothing can be computed now. Try again in a minute. (${error})`];
  if (status === 504) return [`The analysis service is busy or stuck and did not answer. Try again in a minute. (${error})`];
  const sentence = error[0].toUpperCase() + error.slice(1);
  return [/[.!?]$/.test(sentence) ? sentence : sentence + "."];
}

function tiles(plots, keep) {
  const order = (id) => (LAYOUT.indexOf(id) + 1) || 99;
  const ids = [...plots].sort((a, b) => order(a) - order(b));
  const old = new Map([...$("charts").children].map((f) => [f.id, f]));
  $("charts").replaceChildren(...ids.map((id) => {
    const fig = keep && old.get("plot-" + id);
    if (fig) {
      fig.querySelector(".state").textContent = "updating…";
      return fig;
    }
    const title = (meta.plots.find(([p]) => p === id) || [id, ""])[1];
    return el("figure", { id: "plot-" + id, className: id.length > 2 ? "tall" : "" },
      el("figcaption", {}, el("span", { textContent: `${id} · ${title}` }), el("span", { className: "state", textContent: "drawing…" })),
      el("div", { className: "frame" }));
  }));
  $("progress").value = 0;
  if (!keep) {
    $("summary").hidden = true;
    $("bands").hidden = true;
  }
}

function show(st) {
  let finished = 0;
  const r = st.request;
  for (const [id, p] of Object.entries(st.plots)) {
    const fig = $("plot-" + id);
    if (!fig) continue;
    const state = fig.querySelector(".state");
    fig.classList.toggle("failed", p.state === "failed");
    if (p.state === "done") {
      finished++;
      picture(fig, id, p, r);
      state.textContent = p.reused ? "ready (cached)" : `drawn in ${seconds(p.render_ms)}`;
    } else if (p.state === "failed") {
      finished++;
      fig.querySelector(".frame").replaceChildren(el("p", { className: "tile-error", textContent: `This chart could not be drawn: ${p.error}` }));
      state.textContent = "failed";
    }
  }
  $("progress").value = finished;
  if (r.symbol !== current.request.symbol) {
    // The server names the pair in full (SOL is SOLUSDT); the URL and form follow.
    current.request.symbol = r.symbol;
    $("symbol").value = r.symbol;
    syncUrl(false, r.symbol);
  }
  if (st.summary && st.prepared) summary(st);
  if (st.bands && st.prepared) bands(st);
  const total = Object.keys(st.plots).length;
  if (st.state === "running") {
    say(`${current.live ? "A candle closed: updating" : "Analysing"} ${r.symbol} ${r.interval}… ${finished} of ${total} charts ready.`);
    return;
  }
  current.final = true;
  events.close();
  $("progress").hidden = true;
  const took = seconds(st.elapsed_ms);
  const tz = r.tz || "UTC";
  if (st.state === "complete" && current.live) say(`${r.symbol} ${r.interval}: updated for the candle of ${when(st.prepared.last_open_ms, false, tz)} ${tz}, in ${took}.`);
  else if (st.state === "complete") say(`${r.symbol} ${r.interval}: all ${total} charts ready in ${took}.`);
  else if (st.state === "partial") say(`Partial result: ${total - doneCount(st)} of ${total} charts are missing (each tile says why); the others are shown.`, true, { label: "Try again", action: () => run({}) });
  else {
    const [text, fix] = explain(st.error || "no chart could be drawn", 0, r);
    say(text, true, fix);
  }
  current.status = st;
}

function doneCount(st) {
  return Object.values(st.plots).filter((p) => p.state === "done").length;
}

function picture(fig, id, p, r) {
  const frame = fig.querySelector(".frame");
  const old = frame.querySelector("img");
  if (old && old.getAttribute("src") === p.url) return;
  const title = fig.querySelector("figcaption span").textContent;
  const img = el("img", { src: p.url, width: p.width, height: p.height, alt: `Chart ${title}, ${r.symbol} ${r.interval}` });
  const button = el("button", { type: "button", className: "zoom", title: "Show full size" }, img);
  button.setAttribute("aria-label", `${title}: show full size`);
  button.addEventListener("click", () => zoom(id, p.url, `${title} · ${r.symbol} ${r.interval}`, `waveplot-${r.symbol}-${r.interval}-${id}.png`));
  // The old chart stays until the new one has loaded, so a refresh never blanks a tile.
  img.addEventListener("load", () => frame.replaceChildren(button), { once: true });
  img.addEventListener("error", () => frame.replaceChildren(el("p", { className: "tile-error", textContent: "The chart image could not be loaded; the server may be down." })), { once: true });
  if (!old) frame.replaceChildren(button);
}

function seconds(ms) {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** `14 Aug 2022 00:00`: a time in the render's time zone. */
function when(ms, withYear, timeZone) {
  const d = new Date(ms);
  const day = d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: withYear ? "numeric" : undefined, timeZone });
  const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone });
  return `${day} ${time}`;
}

/** Seconds in one bar of `interval` (a month counts 30 days). */
function barSeconds(interval) {
  const m = /^(\d+)([smhdwM])$/.exec(interval);
  return m ? Number(m[1]) * UNIT_S[m[2]] : 60;
}

function period(s) {
  if (s == null || !isFinite(s)) return "—";
  const units = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  for (const [u, n] of units) if (s >= u) return `${+(s / u).toPrecision(s / u < 10 ? 2 : 3)} ${n}`;
  return `${s.toFixed(1)} s`;
}

function summary(st) {
  const s = st.summary, p = st.prepared, r = st.request;
  const up = s.change_pct >= 0;
  const change = el("span", { className: up ? "up" : "down", textContent: `${up ? "▲ +" : "▼ "}${s.change_pct.toFixed(2)} %` });
  change.title = "change of the close over the window";
  $("summary-title").replaceChildren(
    el("span", { className: "pair", textContent: `${r.symbol} · ${r.interval}` }),
    el("span", { className: "price", textContent: s.last_close.toLocaleString("en-US", { maximumFractionDigits: 8 }) }),
    change,
    el("span", { className: "over", textContent: `over ${period((p.last_open_ms - p.first_open_ms) / 1000 + barSeconds(r.interval))}` }));
  const drawn = Object.values(st.plots).filter((x) => x.render_ms != null && !x.reused).map((x) => x.render_ms);
  const charts = drawn.length ? `charts ${seconds(Math.min(...drawn))}–${seconds(Math.max(...drawn))} each` : "charts from cache";
  const facts = [
    ["Candles", `${p.candles.toLocaleString("en-US")} × ${r.interval}` + (s.missing_candles ? ` (${s.missing_candles} missing)` : "")],
    // The label repeats the window in parentheses; the full label is the tooltip.
    ["Source", s.source_label.replace(/\s*\(\d{4}-.*\)$/, ""), s.source_label],
    ["Anomalies", `${s.anomalies} above ${s.anomaly_threshold.toFixed(2)}`],
    ["Signals", `BUY ${s.buy} · SELL ${s.sell} · HOLD ${s.hold}`],
    [`Window (${r.tz || "UTC"})`, `${when(p.first_open_ms, true, r.tz || "UTC")} – ${when(p.last_open_ms, false, r.tz || "UTC")}`],
    ["Computed on", `${p.backend.toUpperCase()} · ${p.device || "unknown device"}`],
    ["Analysis", `${s.wavelet}, ${s.levels_used} levels, ${s.mra}` + (s.level_note ? ` (${s.level_note})` : "")],
    ["Times", `load ${seconds(s.load_ms)} · analysis ${seconds(s.analysis_ms)} · ${charts} · total ${st.state === "running" ? "…" : seconds(st.elapsed_ms)}`],
  ];
  $("facts").replaceChildren(...facts.map(([k, v, title = ""]) => el("div", {}, el("dt", { textContent: k }), el("dd", { textContent: v, title }))));
  $("summary").hidden = false;
}

function bands(st) {
  const bar = barSeconds(st.request.interval);
  const num = (x) => (x == null ? "—" : x.toLocaleString("en-US", { maximumFractionDigits: 2 }));
  $("bands").querySelector("tbody").replaceChildren(...st.bands.map((b) => {
    const row = [`${period(b.period_min_bars * bar)} – ${period(b.period_max_bars * bar)}`,
      period(b.peak_period_s), period(b.trough_period_s), num(b.amplitude), num(b.sigma), String(b.zero_crossings)];
    return el("tr", {}, el("th", { scope: "row", textContent: `D${b.level}` }), ...row.map((t) => el("td", { textContent: t })));
  }));
  $("bands").hidden = false;
}

function zoom(id, url, title, filename) {
  $("viewer-title").textContent = title;
  $("viewer-img").alt = title;
  $("viewer-download").download = filename;
  showInViewer(url);
  $("viewer").showModal();
  sharpen(id);
}

function showInViewer(url) {
  $("viewer-img").src = url;
  $("viewer-open").href = url;
  $("viewer-download").href = url;
}

/** The tiles' charts are sized for the tiles; the viewer asks for the same chart at
 * its own width and swaps it in when drawn (the analysis is reused, so that is quick). */
async function sharpen(id) {
  const token = ++zoomToken;
  const width = Math.min(1920, Math.ceil(($("viewer").clientWidth * Math.min(2, devicePixelRatio || 1)) / 160) * 160);
  if (!current || width <= current.request.width) return;
  $("viewer-note").textContent = "drawing a sharper copy…";
  const body = JSON.stringify({ ...current.request, symbol: current.status ? current.status.request.symbol : current.request.symbol, width, plots: [id] });
  const res = await fetch("/api/render", { method: "POST", headers: { "content-type": "application/json" }, body }).catch(() => null);
  if (!res || !res.ok) return void ($("viewer-note").textContent = "");
  const source = new EventSource((await res.json()).events_url);
  source.addEventListener("status", (e) => {
    const st = JSON.parse(e.data);
    if (st.state === "running") return;
    source.close();
    if (token !== zoomToken || !$("viewer").open) return;
    $("viewer-note").textContent = "";
    if (st.plots[id] && st.plots[id].state === "done") showInViewer(st.plots[id].url);
  });
  source.onerror = () => { source.close(); $("viewer-note").textContent = ""; };
}

/** On a live page, holds a watch of `b` (the request on screen): each close's render
 * arrives as an event and replaces the charts; the forming price shows in the header.
 * Anything else ends the watch. */
async function watchLive(shown) {
  const { end_ms: _end, ...b } = shown;
  const key = JSON.stringify(b);
  if (live && live.key === key && $("live").checked) return;
  if (live) live.source.close();
  live = null;
  $("live-note").textContent = "";
  if (!$("live").checked) return;
  if ((b.source || meta.sources[0]) !== "binance") {
    $("live-note").textContent = "live charts follow Binance; this source does not change";
    return;
  }
  const mine = { key, source: { close() {} }, shown: 0 };
  live = mine;
  $("live-note").textContent = "connecting…";
  const res = await fetch("/api/watch", { method: "POST", headers: { "content-type": "application/json" }, body: key }).catch(() => null);
  const answer = res ? await res.json().catch(() => ({})) : {};
  if (live !== mine) return;
  if (!res || !res.ok) {
    const wait = res && res.status === 503 ? Number(res.headers.get("retry-after")) : NaN;
    if (wait > 0) {
      // Room is taken for now: ask again when the server says some may be free.
      $("live-note").textContent = `not live yet: ${answer.error || "busy"} (asking again in ${wait} s)`;
      setTimeout(() => { if (live === mine && $("live").checked) { live = null; watchLive(b); } }, wait * 1000);
      return;
    }
    $("live-note").textContent = `not live: ${answer.error || "the server cannot be reached"}`;
    return;
  }
  const source = new EventSource(answer.events_url);
  mine.source = source;
  $("live-note").textContent = "live: new charts at each close";
  source.addEventListener("render", (e) => {
    const r = JSON.parse(e.data);
    // The close's render replaces what is shown, unless a newer one already did.
    if (current && current.request.end_ms >= r.end_ms) return;
    followRender({ ...b, end_ms: r.end_ms }, r, true);
  });
  source.addEventListener("price", (e) => {
    const p = JSON.parse(e.data);
    if (Date.now() - mine.shown < 1000) return;
    mine.shown = Date.now();
    const tz = b.tz || "UTC";
    const at = new Date(p.event_ms).toLocaleTimeString("en-GB", { hourCycle: "h23", timeZone: tz });
    $("live-note").textContent = `live · ${p.close.toLocaleString("en-US", { maximumFractionDigits: 8 })} at ${at} (candle forming)`;
  });
  source.addEventListener("error", (e) => {
    if (e.data) $("live-note").textContent = `live: ${JSON.parse(e.data).error}`;
  });
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED || live !== mine) return;
    // The watch ended (the server restarted, or lost it): take a new one shortly.
    live = null;
    $("live-note").textContent = "live: reconnecting…";
    setTimeout(() => { if (!live && $("live").checked) watchLive(b); }, 5000);
  };
}

init().catch((e) => say("The page could not start: " + e.message, true));
