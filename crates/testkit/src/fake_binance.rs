//! A fake Binance (feature `fake-binance`): an axum server on a loopback port 0 that
//! answers `/api/v3/klines` and `/api/v3/exchangeInfo` in Binance's exact formats,
//! records every request it receives, and plays faults before answering normally:
//! scripted ones (status codes, `Retry-After`, slow answers, raw bodies), one per
//! request, and a rate-limit window during which every request gets 429 with
//! `Retry-After`.
//!
//! It serves either a fixed set of candles ([`FakeBinance::start`], for unit tests
//! that check paging and parsing) or, for whole-system runs, candles of any interval
//! made up on demand from their open time ([`FakeBinance::start_synthetic`]), so a
//! window "up to now" always exists.
//!
//! The server runs on the Tokio runtime it is started from, for as long as that runtime.
//! [`ws`] fakes Binance's kline WebSocket streams.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub mod ws;

/// What the fake does with one request instead of answering it normally.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// This status, with a `Retry-After` header if given, and an empty JSON error body.
    Status(u16, Option<u64>),
    /// This status and raw body.
    Body(u16, &'static str),
    /// Answer normally, but only after this long.
    Slow(Duration),
}

#[derive(Default)]
struct Inner {
    klines: Vec<Value>,
    synthetic: bool,
    statuses: HashMap<String, &'static str>,
    faults: VecDeque<Fault>,
    requests: Vec<String>,
    weight: Option<u64>,
    /// Every request until then is answered 429 with this `Retry-After` (seconds).
    limited: Option<(Instant, u64)>,
    rate_limited: u64,
}

/// A running fake; the server lives as long as the runtime it was started on.
#[derive(Clone)]
pub struct FakeBinance {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// A kline as Binance sends it: times and trade count as numbers, the rest as strings
/// with Binance's eight decimals.
pub fn kline(open_ms: i64, interval_ms: i64, close: f64) -> Value {
    let p = |x: f64| format!("{x:.8}");
    json!([
        open_ms,
        p(close - 1.0),
        p(close + 2.0),
        p(close - 2.0),
        p(close),
        p(10.5),
        open_ms + interval_ms - 1,
        p(10.5 * close),
        42,
        p(5.25),
        p(5.25 * close),
        "0"
    ])
}

/// `n` consecutive klines of `interval_ms` opening at `first_ms`, closes 100, 101, ….
pub fn series(first_ms: i64, interval_ms: i64, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            kline(
                first_ms + i as i64 * interval_ms,
                interval_ms,
                100.0 + i as f64,
            )
        })
        .collect()
}

/// The close of the synthetic candle opening at `open_ms`: two slow waves and a
/// ripple of up to ±5.00 drawn from a generator seeded with the candle's minute, so
/// every fetch of a span sees the same prices. The ripple is noise, as a market's
/// finest detail is: a ripple stepping by a constant (a multiplicative hash modulo
/// 1 000, as it was) made the finest detail alternate, and half of a window's candles
/// anomalies, which no market shows and which doubled the anomaly chart's drawing.
pub(crate) fn synthetic_close(open_ms: i64) -> f64 {
    let t = open_ms as f64;
    let minute = open_ms.div_euclid(60_000) as u64;
    let ripple = f64::from(fastrand::Rng::with_seed(minute).u32(0..1000)) / 100.0 - 5.0;
    30_000.0 + 2_000.0 * (t / 9.0e8).sin() + 300.0 * (t / 4.0e7).sin() + ripple
}

/// Milliseconds of a Binance interval name (`1m` … `1d`), if it is one.
pub(crate) fn interval_ms(name: &str) -> Option<i64> {
    let (count, unit) = name.split_at(name.len().checked_sub(1)?);
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(count.parse::<i64>().ok().filter(|c| *c > 0)? * unit_ms)
}

impl FakeBinance {
    /// Starts the fake serving `klines` (for any symbol it lists as TRADING: BTCUSDT).
    pub async fn start(candles: Vec<Value>) -> Self {
        Self::serve(Inner {
            klines: candles,
            statuses: HashMap::from([("BTCUSDT".to_owned(), "TRADING")]),
            ..Inner::default()
        })
        .await
    }

    /// Starts the fake serving synthetic candles of any interval up to the current
    /// one (still open, as on Binance), for BTCUSDT and ETHUSDT.
    pub async fn start_synthetic() -> Self {
        Self::serve(Inner {
            synthetic: true,
            statuses: HashMap::from([
                ("BTCUSDT".to_owned(), "TRADING"),
                ("ETHUSDT".to_owned(), "TRADING"),
            ]),
            ..Inner::default()
        })
        .await
    }

    async fn serve(inner: Inner) -> Self {
        let inner = Arc::new(Mutex::new(inner));
        let app = axum::Router::new()
            .route("/api/v3/klines", get(klines))
            .route("/api/v3/exchangeInfo", get(exchange_info))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// Plays these faults, one per request, before answering normally again.
    pub fn fail_with(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    /// Lists a symbol with this exchangeInfo status.
    pub fn list(&self, symbol: &str, status: &'static str) {
        self.inner
            .lock()
            .unwrap()
            .statuses
            .insert(symbol.to_owned(), status);
    }

    /// Reports this used weight in `X-MBX-USED-WEIGHT-1M` from now on.
    pub fn report_weight(&self, used: u64) {
        self.inner.lock().unwrap().weight = Some(used);
    }

    /// Answers every request with 429 and `Retry-After: retry_after_s` for the next
    /// `period`, as Binance does when a client exceeds its request weight.
    pub fn rate_limit_for(&self, period: Duration, retry_after_s: u64) {
        self.inner.lock().unwrap().limited = Some((Instant::now() + period, retry_after_s));
    }

    /// How many requests were answered 429 by [`FakeBinance::rate_limit_for`].
    pub fn rate_limited(&self) -> u64 {
        self.inner.lock().unwrap().rate_limited
    }

    /// Every request received so far, as path and query.
    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The `startTime` of every klines request received so far.
    pub fn kline_starts(&self) -> Vec<i64> {
        self.requests()
            .iter()
            .filter(|r| r.starts_with("/api/v3/klines"))
            .filter_map(|r| {
                r.split("startTime=")
                    .nth(1)?
                    .split('&')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

/// Records the request and takes the next fault, if any.
async fn intake(
    state: &Arc<Mutex<Inner>>,
    path: &str,
    query: &HashMap<String, String>,
) -> Option<Response> {
    let mut keys: Vec<_> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    keys.sort();
    let fault = {
        let mut inner = state.lock().unwrap();
        inner.requests.push(format!("{path}?{}", keys.join("&")));
        match inner.limited {
            Some((until, retry_after)) if Instant::now() < until => {
                inner.rate_limited += 1;
                Some(Fault::Status(429, Some(retry_after)))
            }
            _ => inner.faults.pop_front(),
        }
    };
    match fault? {
        Fault::Status(code, retry_after) => {
            let mut headers = HeaderMap::new();
            if let Some(s) = retry_after {
                headers.insert("retry-after", s.into());
            }
            let body = json!({"code": -1003, "msg": "Too many requests."}).to_string();
            Some((StatusCode::from_u16(code).unwrap(), headers, body).into_response())
        }
        Fault::Body(code, body) => {
            Some((StatusCode::from_u16(code).unwrap(), body).into_response())
        }
        Fault::Slow(d) => {
            tokio::time::sleep(d).await;
            None
        }
    }
}

async fn klines(State(state): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(faulted) = intake(&state, "/api/v3/klines", &q).await {
        return faulted;
    }
    let inner = state.lock().unwrap();
    if !inner
        .statuses
        .contains_key(q.get("symbol").map_or("", String::as_str))
    {
        let body = json!({"code": -1121, "msg": "Invalid symbol."});
        return (StatusCode::BAD_REQUEST, body.to_string()).into_response();
    }
    let num = |k: &str, d: i64| q.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (start, end, limit) = (
        num("startTime", 0),
        num("endTime", i64::MAX),
        num("limit", 500),
    );
    let mut headers = HeaderMap::new();
    if let Some(w) = inner.weight {
        headers.insert("x-mbx-used-weight-1m", w.into());
    }
    if inner.synthetic {
        let Some(step) = q.get("interval").and_then(|i| interval_ms(i)) else {
            let body = json!({"code": -1120, "msg": "Invalid interval."});
            return (StatusCode::BAD_REQUEST, body.to_string()).into_response();
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let first = start + (step - start.rem_euclid(step)) % step;
        let last = end.min(now);
        let page: Vec<Value> = (0..limit)
            .map(|i| first + i * step)
            .take_while(|open| *open <= last)
            .map(|open| kline(open, step, synthetic_close(open)))
            .collect();
        return (headers, json!(page).to_string()).into_response();
    }
    let page: Vec<&Value> = inner
        .klines
        .iter()
        .filter(|k| (start..=end).contains(&k[0].as_i64().unwrap()))
        .take(limit as usize)
        .collect();
    (headers, json!(page).to_string()).into_response()
}

async fn exchange_info(State(state): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(faulted) = intake(&state, "/api/v3/exchangeInfo", &q).await {
        return faulted;
    }
    let inner = state.lock().unwrap();
    let symbol = q.get("symbol").cloned().unwrap_or_default();
    match inner.statuses.get(&symbol) {
        Some(status) => json!({
            "timezone": "UTC",
            "serverTime": 1_700_000_000_000_i64,
            "rateLimits": [],
            "symbols": [{"symbol": symbol, "status": status, "baseAsset": "BTC", "quoteAsset": "USDT"}]
        })
        .to_string()
        .into_response(),
        None => {
            let body = json!({"code": -1121, "msg": "Invalid symbol."});
            (StatusCode::BAD_REQUEST, body.to_string()).into_response()
        }
    }
}
