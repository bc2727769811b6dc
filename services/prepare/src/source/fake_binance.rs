//! A fake Binance for tests: an axum server on a loopback port 0 that answers
//! `/api/v3/klines` and `/api/v3/exchangeInfo` in Binance's exact formats from a set of
//! candles, records every request it receives, and plays scripted faults (status codes,
//! `Retry-After`, slow answers, raw bodies) before answering normally.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// What the fake does with one request instead of answering it normally.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
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
    statuses: HashMap<String, &'static str>,
    faults: VecDeque<Fault>,
    requests: Vec<String>,
    weight: Option<u64>,
}

/// A running fake; the server lives as long as the test's runtime.
#[derive(Clone)]
pub(crate) struct FakeBinance {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    inner: Arc<Mutex<Inner>>,
}

/// A kline as Binance sends it: times and trade count as numbers, the rest as strings
/// with Binance's eight decimals.
pub(crate) fn kline(open_ms: i64, interval_ms: i64, close: f64) -> Value {
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
pub(crate) fn series(first_ms: i64, interval_ms: i64, n: usize) -> Vec<Value> {
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

impl FakeBinance {
    /// Starts the fake serving `klines` (for any symbol it lists as TRADING: BTCUSDT).
    pub(crate) async fn start(candles: Vec<Value>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            klines: candles,
            statuses: HashMap::from([("BTCUSDT".to_owned(), "TRADING")]),
            ..Inner::default()
        }));
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
    pub(crate) fn fail_with(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.lock().unwrap().faults.extend(faults);
    }

    /// Lists a symbol with this exchangeInfo status.
    pub(crate) fn list(&self, symbol: &str, status: &'static str) {
        self.inner
            .lock()
            .unwrap()
            .statuses
            .insert(symbol.to_owned(), status);
    }

    /// Reports this used weight in `X-MBX-USED-WEIGHT-1M` from now on.
    pub(crate) fn report_weight(&self, used: u64) {
        self.inner.lock().unwrap().weight = Some(used);
    }

    /// Every request received so far, as path and query.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// The `startTime` of every klines request received so far.
    pub(crate) fn kline_starts(&self) -> Vec<i64> {
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
        inner.faults.pop_front()
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
    let page: Vec<&Value> = inner
        .klines
        .iter()
        .filter(|k| (start..=end).contains(&k[0].as_i64().unwrap()))
        .take(limit as usize)
        .collect();
    let mut headers = HeaderMap::new();
    if let Some(w) = inner.weight {
        headers.insert("x-mbx-used-weight-1m", w.into());
    }
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
