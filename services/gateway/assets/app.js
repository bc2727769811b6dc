// waveplot page: a request is a URL (/?symbol=ETHUSDT&interval=1h...), charts arrive
// one by one over Server-Sent Events, every failure is said in words a trader reads.
"use strict";

const $ = (id) => document.getElementById(id);
const FIELDS = ["symbol", "interval", "source", "window", "wavelet", "levels", "mra"];
let meta = null;
let events = null;
let refreshTimer = null;

async function init() {
  meta = await (await fetch("/api/meta")).json();
  $("symbols").replaceChildren(...meta.symbols.map((s) => new Option(s)));
  $("interval").replaceChildren(...meta.intervals.map((i) => new Option(i, i, i === "5m", i === "5m")));
  $("source").replaceChildren(...meta.sources.map((s) => new Option(s)));
  fromUrl(new URLSearchParams(location.search));
  $("form").addEventListener("submit", (e) => { e.preventDefault(); run(true); });
  $("auto").addEventListener("change", scheduleRefresh);
  window.addEventListener("popstate", () => { fromUrl(new URLSearchParams(location.search)); run(false); });
  if (new URLSearchParams(location.search).has("symbol")) run(false);
}

function fromUrl(params) {
  for (const f of FIELDS) if (params.has(f)) $(f).value = params.get(f);
}

function body() {
  const b = {};
  for (const f of FIELDS) {
    const v = $(f).value.trim();
    if (v === "") continue;
    b[f] = ["window", "levels"].includes(f) ? Number(v) : v;
  }
  const width = Math.min(1920, Math.max(640, Math.round(($("charts").clientWidth || 1280) * devicePixelRatio / (innerWidth > 1200 ? 2 : 1))));
  b.width = width;
  return b;
}

function toUrl(b, push) {
  const params = new URLSearchParams();
  for (const f of FIELDS) if (b[f] !== undefined && !(f === "source" && b[f] === meta.sources[0])) params.set(f, b[f]);
  const url = "/?" + params.toString();
  if (push && url !== location.pathname + location.search) history.pushState(null, "", url);
}

function say(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function run(push) {
  const b = body();
  toUrl(b, push);
  if (events) events.close();
  $("run").disabled = true;
  say(`Analysing ${b.symbol.toUpperCase()} ${b.interval}…`);
  tiles([]);
  let res;
  try {
    res = await fetch("/api/render", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) });
  } catch (e) {
    $("run").disabled = false;
    return say("The waveplot server cannot be reached. Is it running?", true);
  }
  const answer = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) {
    $("run").disabled = false;
    return say(explain(answer.error || `HTTP ${res.status}`, res.status), true);
  }
  tiles(answer.plots);
  $("progress").hidden = false;
  $("progress").max = answer.plots.length;
  events = new EventSource(answer.events_url);
  events.addEventListener("status", (e) => show(JSON.parse(e.data)));
  events.onerror = () => { events.close(); $("run").disabled = false; };
}

function explain(error, status) {
  if (status === 503 && /prepare/.test(error)) return "The analysis service is down. Try again in a moment. (" + error + ")";
  if (/binance source is not available|unreachable|451/.test(error)) return error + " — choose the source “sample” to see the bundled real candles.";
  if (/unknown symbol/i.test(error)) return error + " — check the spelling, e.g. BTCUSDT or ETH.";
  return error;
}

function tiles(plots) {
  $("charts").replaceChildren(...plots.map((p) => {
    const fig = document.createElement("figure");
    fig.id = "plot-" + p;
    const title = (meta.plots.find(([id]) => id === p) || [p, p])[1];
    fig.innerHTML = `<figcaption><span>${p} · ${title}</span><span class="state pending">drawing…</span></figcaption>`;
    return fig;
  }));
  $("metrics").hidden = true;
  $("bands").hidden = true;
  $("progress").value = 0;
}

function show(st) {
  let finished = 0;
  for (const [id, p] of Object.entries(st.plots)) {
    const fig = $("plot-" + id);
    if (!fig) continue;
    const state = fig.querySelector(".state");
    if (p.state === "done") {
      finished++;
      if (!fig.querySelector("img")) {
        const img = document.createElement("img");
        img.src = p.url;
        img.alt = `Chart ${id} for ${st.request.symbol} ${st.request.interval}`;
        img.width = p.width; img.height = p.height;
        img.tabIndex = 0;
        img.addEventListener("click", () => zoom(p.url, id));
        img.addEventListener("keydown", (e) => { if (e.key === "Enter") zoom(p.url, id); });
        fig.append(img);
      }
      state.textContent = p.reused ? "from cache" : `${p.render_ms.toFixed(0)} ms`;
      state.className = "state";
    } else if (p.state === "failed") {
      finished++;
      fig.classList.add("failed");
      state.textContent = "failed";
      if (!fig.querySelector(".tile-error")) fig.insertAdjacentHTML("beforeend", `<p class="tile-error"></p>`);
      fig.querySelector(".tile-error").textContent = p.error;
    }
  }
  $("progress").value = finished;
  if (st.summary) metrics(st);
  if (st.bands) bands(st);
  if (st.state !== "running") {
    $("run").disabled = false;
    $("progress").hidden = true;
    const total = `${st.elapsed_ms.toFixed(0)} ms`;
    if (st.state === "complete") say(`Done in ${total}.`);
    else if (st.state === "partial") say(`Some charts are missing (each tile says why); the others took ${total}.`, true);
    else say(explain(st.error || "The render failed.", 0), true);
    scheduleRefresh(st);
  }
}

function metrics(st) {
  const s = st.summary, p = st.prepared, r = st.request;
  const t = (ms) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  const items = [
    ["Last price", s.last_close.toLocaleString()],
    ["Change", `${s.change_pct >= 0 ? "+" : ""}${s.change_pct.toFixed(2)} %`],
    ["Candles", `${p.candles} × ${r.interval}`],
    ["Span (UTC)", `${t(p.first_open_ms)} → ${t(p.last_open_ms)}`],
    ["Source", s.source_label],
    ["Backend", `${p.backend} · ${p.device || "?"}`],
    ["Anomalies", `${s.anomalies} (> ${s.anomaly_threshold.toFixed(2)})`],
    ["Signals", `BUY ${s.buy} · SELL ${s.sell} · HOLD ${s.hold}`],
    ["Load / analysis", `${s.load_ms.toFixed(1)} / ${s.analysis_ms.toFixed(1)} ms`],
    ["Total", `${st.elapsed_ms.toFixed(0)} ms`],
  ];
  $("metrics").replaceChildren(...items.map(([k, v]) => {
    const d = document.createElement("div");
    d.className = "metric";
    d.innerHTML = "<span></span><b></b>";
    d.querySelector("span").textContent = k;
    d.querySelector("b").textContent = v;
    return d;
  }));
  $("metrics").hidden = false;
}

function period(seconds) {
  if (seconds == null) return "—";
  const units = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  for (const [u, n] of units) if (seconds >= u) return `${+(seconds / u).toFixed(1)} ${n}`;
  return `${seconds} s`;
}

function bands(st) {
  const bar = (st.prepared.last_open_ms - st.prepared.first_open_ms) / Math.max(1, st.prepared.candles - 1) / 1000;
  const rows = st.bands.map((b) => `<tr><td>D${b.level}</td><td>${period(b.period_min_bars * bar)} – ${period(b.period_max_bars * bar)}</td>` +
    `<td>${period(b.peak_period_s)}</td><td>${period(b.trough_period_s)}</td><td>${b.amplitude == null ? "—" : b.amplitude.toFixed(2)}</td>` +
    `<td>${b.sigma.toFixed(2)}</td><td>${b.zero_crossings}</td></tr>`).join("");
  $("bands").innerHTML = `<table><caption>Frequency bands</caption><thead><tr><th>Band</th><th>Periods</th><th>Peak→peak</th>` +
    `<th>Trough→trough</th><th>Amplitude</th><th>σ</th><th>Zero crossings</th></tr></thead><tbody>${rows}</tbody></table>`;
  $("bands").hidden = false;
}

function zoom(url, id) {
  $("viewer-img").src = url;
  $("viewer-img").alt = "Chart " + id;
  $("viewer-download").href = url;
  $("viewer-download").download = `waveplot-${id}.png`;
  $("viewer").showModal();
}

function scheduleRefresh(st) {
  clearTimeout(refreshTimer);
  if (!$("auto").checked || !st || !st.prepared) return;
  const intervalMs = (st.prepared.last_open_ms - st.prepared.first_open_ms) / Math.max(1, st.prepared.candles - 1);
  const nextClose = st.prepared.last_open_ms + 2 * intervalMs;
  refreshTimer = setTimeout(() => run(false), Math.max(5000, nextClose - Date.now() + 2000));
}

init().catch((e) => say("The page could not start: " + e.message, true));
