//! Live: from the kline message that closes a candle to the last chart of its render on
//! a live page.
//!
//! The bench watches a pair as a live page does (`POST /api/watch`, then its event
//! stream), has the fake Binance stream close one candle after another and, for each,
//! follows the render the gateway starts to its final status, downloading each chart
//! as soon as it is drawn, side by side, as the page does. The time runs from handing the closing message to the
//! fake stream to the last chart's bytes. The first close is reported apart: it fills
//! the candle cache from the REST API; at the later ones the cache has the window
//! and only the closed candle is new.

use std::io::BufRead as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cpu;
use crate::report::quantile;
use crate::stack::Stack;

/// What the live scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct LiveLatency {
    /// Candles in the watched window.
    pub window: usize,
    /// The first close (candle cache filled from the REST API), ms.
    pub first_ms: f64,
    /// Closes measured after the first.
    pub n: usize,
    /// Median from the closing message to the last chart downloaded, ms.
    pub p50_ms: f64,
    /// 95th percentile of the same, ms.
    pub p95_ms: f64,
    /// Slowest of the same, ms.
    pub max_ms: f64,
    /// Median from the closing message to the page hearing of the render, ms.
    pub render_event_p50_ms: f64,
    /// Medians of where a close's render spent its time (from its final status), ms.
    pub parts_p50_ms: Parts,
    /// CPU per measured close of every process of the stack (user + system), ms: the
    /// closes share two cores, so this, more than the latency, shows what a change
    /// saved.
    pub cpu_ms_per_close: Vec<(String, f64)>,
}

/// Where a close's render spent its time, as its final status tells.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Parts {
    /// prepare: loading the window (from the candle cache).
    pub load: f64,
    /// prepare: the analysis.
    pub analysis: f64,
    /// prepare: storing the blob.
    pub store: f64,
    /// prepare: from the request to its `prepared` event.
    pub prepare: f64,
    /// The slowest chart's drawing.
    pub slowest_chart: f64,
    /// The gateway: from the request to the final status.
    pub render: f64,
}

impl Parts {
    fn of(status: &Value) -> Self {
        let t = &status["prepared"]["timings_ms"];
        let ms = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        let slowest_chart = status["plots"]
            .as_object()
            .into_iter()
            .flat_map(|plots| plots.values())
            .map(|p| ms(&p["render_ms"]))
            .fold(0.0, f64::max);
        Self {
            load: ms(&t["load_ms"]),
            analysis: ms(&t["analysis_ms"]),
            store: ms(&t["store_ms"]),
            prepare: ms(&t["total_ms"]),
            slowest_chart,
            render: ms(&status["elapsed_ms"]),
        }
    }

    fn median(all: &[Self]) -> Self {
        let p50 = |f: fn(&Self) -> f64| quantile(&all.iter().map(f).collect::<Vec<_>>(), 0.5);
        Self {
            load: p50(|p| p.load),
            analysis: p50(|p| p.analysis),
            store: p50(|p| p.store),
            prepare: p50(|p| p.prepare),
            slowest_chart: p50(|p| p.slowest_chart),
            render: p50(|p| p.render),
        }
    }
}

impl LiveLatency {
    /// The measurement as a table for a terminal.
    pub fn table(&self) -> String {
        format!(
            "\nlive: closing kline message to the last chart on a live page ({} candles, {} closes)\n  first close (cache filled) {:.1} ms; then p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms; the page hears of the render after {:.1} ms (p50)\n",
            self.window,
            self.n,
            self.first_ms,
            self.p50_ms,
            self.p95_ms,
            self.max_ms,
            self.render_event_p50_ms
        ) + &format!(
            "  p50 parts of a render: load {:.1} ms, analysis {:.1} ms, store {:.1} ms, prepare in all {:.1} ms, slowest chart {:.1} ms, request to final status {:.1} ms\n",
            self.parts_p50_ms.load,
            self.parts_p50_ms.analysis,
            self.parts_p50_ms.store,
            self.parts_p50_ms.prepare,
            self.parts_p50_ms.slowest_chart,
            self.parts_p50_ms.render
        ) + &format!(
            "  CPU per close, ms: {} (total {:.1})\n",
            self.cpu_ms_per_close
                .iter()
                .map(|(name, ms)| format!("{name} {ms:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.cpu_ms_per_close.iter().map(|(_, ms)| ms).sum::<f64>()
        )
    }
}

/// What the page saw of one close: when it heard of the render and when its last
/// chart arrived.
struct Seen {
    end_ms: i64,
    heard: Instant,
    done: Instant,
    parts: Parts,
}

/// Watches BTCUSDT 1m on `stack` with a window of `window` candles and measures
/// `closes` closes after the first.
pub fn measure(stack: &Stack, window: usize, closes: usize) -> Result<LiveLatency> {
    let url = stack.system.http();
    let http = crate::client::client()?;
    let body = json!({"symbol": "BTCUSDT", "interval": "1m", "window": window});
    let res = http
        .post(format!("{url}/api/watch"))
        .json(&body)
        .send()
        .context("POST /api/watch")?;
    let code = res.status();
    let created: Value = res.json().context("watch answer")?;
    if !code.is_success() {
        bail!("the watch was refused: HTTP {code}: {}", created["error"]);
    }
    let events = created["events_url"].as_str().context("events_url")?;
    let stream = http
        .get(format!("{url}{events}"))
        .send()
        .context("GET the watch's events")?;
    let (tx, rx) = mpsc::channel();
    let page = std::thread::spawn({
        let (http, url) = (http.clone(), url.clone());
        move || follow(&http, &url, stream, &tx)
    });
    let name = "btcusdt@kline_1m";
    let streams = stack
        .runtime
        .block_on(stack.ws.wait_for_streams(&[name], Duration::from_secs(30)));
    anyhow::ensure!(
        streams == [name],
        "prepare did not open the kline stream: {streams:?}"
    );
    // Closed candles of the past, oldest first: each is the newest the stream closed.
    let minute = 60_000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_millis() as i64;
    let first = (now_ms / minute - 2 - closes as i64) * minute;
    let mut times = Vec::with_capacity(closes + 1);
    let mut parts = Vec::with_capacity(closes + 1);
    let processes = stack.processes();
    let mut before = Vec::new();
    for k in 0..=closes {
        if k == 1 {
            before = processes
                .iter()
                .map(|(name, pid)| cpu::ticks(name, *pid))
                .collect::<Result<Vec<_>>>()?;
        }
        let open = first + k as i64 * minute;
        let sent = Instant::now();
        stack.ws.close("BTCUSDT", "1m", open);
        let seen = loop {
            let seen = rx
                .recv_timeout(Duration::from_secs(120))
                .context("no chart within 120 s of a close")??;
            if seen.end_ms == open {
                break seen;
            }
        };
        times.push((
            (seen.heard - sent).as_secs_f64() * 1e3,
            (seen.done - sent).as_secs_f64() * 1e3,
        ));
        parts.push(seen.parts);
        // Between closes as between candles: nothing of the last one still runs.
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut cpu_ms_per_close = Vec::with_capacity(processes.len());
    for ((name, pid), before) in processes.iter().zip(before) {
        let after = cpu::ticks(name, *pid).context("a process stopped during the closes")?;
        cpu_ms_per_close.push((name.clone(), cpu::ms(after - before) / closes as f64));
    }
    drop(rx);
    drop(page);
    let later: Vec<f64> = times[1..].iter().map(|t| t.1).collect();
    let heard: Vec<f64> = times[1..].iter().map(|t| t.0).collect();
    Ok(LiveLatency {
        window,
        first_ms: times[0].1,
        n: later.len(),
        p50_ms: quantile(&later, 0.5),
        p95_ms: quantile(&later, 0.95),
        max_ms: quantile(&later, 1.0),
        render_event_p50_ms: quantile(&heard, 0.5),
        parts_p50_ms: Parts::median(&parts[1..]),
        cpu_ms_per_close,
    })
}

/// The page: reads the watch's events and, at each render, follows it to its end and
/// downloads its charts; sends what it saw until the bench stops listening.
fn follow(
    http: &reqwest::blocking::Client,
    url: &str,
    stream: reqwest::blocking::Response,
    tx: &mpsc::Sender<Result<Seen>>,
) {
    let mut event = String::new();
    for line in std::io::BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_owned();
            continue;
        }
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if event != "render" {
            continue;
        }
        let heard = Instant::now();
        let seen = serde_json::from_str::<Value>(data)
            .context("render event")
            .and_then(|render| {
                let events = render["events_url"].as_str().context("events_url")?;
                let end_ms = render["end_ms"].as_i64().context("end_ms")?;
                let last = charts(http, url, events)?;
                Ok(Seen {
                    end_ms,
                    heard,
                    done: Instant::now(),
                    parts: Parts::of(&last),
                })
            });
        if tx.send(seen).is_err() {
            return;
        }
    }
}

/// Follows a render's events to its final status and downloads each chart as the page
/// does: as soon as a status says it is drawn, side by side with the others (a browser
/// loads a page's images in parallel); the final status, once every chart is in.
fn charts(http: &reqwest::blocking::Client, url: &str, events: &str) -> Result<Value> {
    let stream = http
        .get(format!("{url}{events}"))
        .send()
        .context("GET the render's events")?;
    std::thread::scope(|scope| {
        let mut loading: Vec<(String, std::thread::ScopedJoinHandle<'_, Result<()>>)> = Vec::new();
        let mut last = Value::Null;
        for line in std::io::BufReader::new(stream).lines() {
            let line = line.context("read the render's events")?;
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            last = serde_json::from_str(data.trim()).context("status event")?;
            let plots = last["plots"]
                .as_object()
                .into_iter()
                .flat_map(|p| p.values());
            for chart in plots.filter_map(|p| p["url"].as_str()) {
                if loading.iter().all(|(started, _)| started != chart) {
                    let get = format!("{url}{chart}");
                    let load = scope.spawn(move || {
                        http.get(get)
                            .send()
                            .and_then(reqwest::blocking::Response::error_for_status)
                            .and_then(reqwest::blocking::Response::bytes)
                            .map(drop)
                            .context("download a chart")
                    });
                    loading.push((chart.to_owned(), load));
                }
            }
            if last["state"] != "running" {
                break;
            }
        }
        if last["state"] != "complete" {
            bail!("the render of a close ended {}: {last}", last["state"]);
        }
        for (_, load) in loading {
            load.join()
                .map_err(|_| anyhow::anyhow!("a chart's download panicked"))??;
        }
        Ok(last)
    })
}
