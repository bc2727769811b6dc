//! Binance's public REST API as a candle source: `GET /api/v3/klines`, paged 1000
//! candles at a time over the requested span, and `GET /api/v3/exchangeInfo` to check a
//! symbol before a request is accepted.
//!
//! Binance's rules shape this module: 429 and 418 come with `Retry-After` (ignoring it
//! escalates a rate limit into an IP ban), the used request weight of the current minute
//! comes back in `X-MBX-USED-WEIGHT-1M` (so the client slows down before it is limited),
//! 5xx and timeouts are transient, and errors carry a numeric `code` that is translated
//! into something a person can act on. The still-open candle is dropped, pages are
//! de-duplicated and ordered, and every row passes the same checks as a klines file.

mod http;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quick_cache::sync::Cache;
use tokio::time::Instant;

use thiserror::Error;
use waveplot_protocol::blob::Candles;
use waveplot_protocol::{Interval, Symbol};

use super::klines;

/// Candles per page: Binance's maximum for `/api/v3/klines`.
pub(crate) const PAGE: usize = 1000;

/// How long a symbol's `exchangeInfo` answer (its status, or that Binance does not list
/// it) is trusted: listings change rarely, and a request for a delisted symbol still
/// fails clearly at the klines call.
const STATUS_TTL: Duration = Duration::from_secs(600);

/// Symbols whose listing is kept: a burst of requests for made-up symbols costs one
/// `exchangeInfo` call each and at most this many entries.
const LISTINGS: usize = 4096;

/// What `exchangeInfo` said of a symbol.
#[derive(Debug, Clone)]
enum Listing {
    /// Listed, with its status (`TRADING`, `BREAK`, …).
    Listed(String),
    /// Not listed (`-1121`).
    Unknown,
}

/// Base URLs that serve the same public market data, for the region-restriction hint.
const ALTERNATIVES: &str = "https://data-api.binance.vision (public market data), https://api.binance.com, or https://api.binance.us (US)";

/// Why candles could not be had from Binance.
#[derive(Debug, Error)]
pub(crate) enum BinanceError {
    /// Binance does not list the symbol (`-1121`).
    #[error("unknown symbol {0} on Binance")]
    UnknownSymbol(String),
    /// Binance refused the interval (`-1120`).
    #[error("Binance refused the interval {interval}: {message}")]
    InvalidInterval {
        /// The interval asked for.
        interval: Interval,
        /// Binance's message.
        message: String,
    },
    /// The symbol exists but cannot be traded now (halted, delisted, pre-trading).
    #[error("{symbol} is not trading on Binance (status {status}); pick a symbol that is")]
    NotTrading {
        /// The symbol.
        symbol: String,
        /// Binance's status, e.g. `BREAK`.
        status: String,
    },
    /// HTTP 451: Binance refuses this region at this base URL.
    #[error(
        "Binance at {base} refuses requests from this region (HTTP 451); set BINANCE_URL (--binance-url) to one of {ALTERNATIVES}"
    )]
    Restricted {
        /// The base URL that refused.
        base: String,
    },
    /// 429/418 went on past the waits allowed, or asked for too long a wait (or a
    /// wait asked for earlier has that long to run).
    #[error("Binance rate limit (HTTP {status}) on {request}: {why}; try again later")]
    RateLimited {
        /// 429 or 418.
        status: u16,
        /// The request.
        request: String,
        /// Why the client gave up waiting.
        why: String,
    },
    /// 5xx, timeouts or connection failures went on past the retries allowed.
    #[error("Binance did not answer {request} after {attempts} attempts: {last}")]
    Unavailable {
        /// The request.
        request: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Binance answered with something this client cannot read.
    #[error("unexpected answer from Binance to {request}: {problem}")]
    Malformed {
        /// The request.
        request: String,
        /// What was wrong with it.
        problem: String,
    },
    /// Binance refused the request for another reason.
    #[error("Binance refused {request} (HTTP {status}, code {code}): {message}")]
    Refused {
        /// The request.
        request: String,
        /// HTTP status.
        status: u16,
        /// Binance's error code.
        code: i64,
        /// Binance's message.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Timeouts, retries and pacing. Production uses [`Policy::default`]; tests shorten the
/// waits so they run in milliseconds.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Time allowed for one request, body included.
    pub(crate) timeout: Duration,
    /// Retries after a 5xx, a timeout or a failed connection.
    pub(crate) retries: u32,
    /// First backoff; it doubles per retry, with ±50 % jitter.
    pub(crate) backoff: Duration,
    /// Longest `Retry-After` the client waits; a longer one ends the fetch.
    pub(crate) max_retry_after: Duration,
    /// Rate-limit answers (429/418) waited out before giving up.
    pub(crate) rate_limit_waits: u32,
    /// Request weight per minute the client stays below (Binance's limit is 6000).
    pub(crate) weight_budget: u32,
    /// Longest pause when the used weight nears the budget.
    pub(crate) max_pace: Duration,
    /// How long a symbol's listing is trusted.
    pub(crate) status_ttl: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retries: 4,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(60),
            rate_limit_waits: 3,
            // 80 % of 6000: other clients on the same IP share the budget.
            weight_budget: 4800,
            max_pace: Duration::from_secs(60),
            status_ttl: STATUS_TTL,
        }
    }
}

/// A Binance REST client: one per process, the governor of everything it sends to
/// Binance. Cheap to clone; clones share the listings and the hold.
#[derive(Debug, Clone)]
pub(crate) struct Binance {
    base: String,
    http: reqwest::Client,
    policy: Policy,
    /// What `exchangeInfo` said of each symbol asked about, and when. Concurrent checks
    /// of one symbol wait for a single call.
    listings: Arc<Cache<String, (Instant, Listing)>>,
    /// No request goes before this moment: the end of the last `Retry-After` Binance
    /// asked for (429, or 418 for a ban), or of the minute whose request weight reached
    /// the budget. Shared, so that every request of the process honours it, including a
    /// fetch that starts later (another render, or the same render delivered again).
    blocked_until: Arc<Mutex<Option<tokio::time::Instant>>>,
}

/// Candles fetched over a span and how far the span is final.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    /// Closed candles, oldest first, without duplicates.
    pub(crate) candles: Candles,
    /// Every closed candle opening at or before this time is in `candles` (or does not
    /// exist on Binance); later candles may still be open or not yet fetched.
    pub(crate) complete_to_ms: i64,
}

impl Binance {
    /// A client for `base` (e.g. `https://data-api.binance.vision`).
    pub(crate) fn new(base: &str, policy: Policy) -> Result<Self, BinanceError> {
        // The build carries only ring; reqwest needs it installed as the process
        // default. A second install is a harmless no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("waveplot/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.timeout)
            .build()
            .map_err(|e| BinanceError::Client(e.to_string()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            policy,
            listings: Arc::new(Cache::new(LISTINGS)),
            blocked_until: Arc::default(),
        })
    }

    /// Checks that Binance lists the symbol and that it is trading. The answer, that it
    /// is unknown included, is kept for the policy's `status_ttl`; checks of a symbol
    /// while its `exchangeInfo` call runs wait for that call. A failed call (Binance
    /// unreachable or limiting) is not kept.
    pub(crate) async fn check_symbol(&self, symbol: &Symbol) -> Result<(), BinanceError> {
        let key = symbol.to_string();
        let ttl = self.policy.status_ttl;
        self.listings.remove_if(&key, |(at, _)| at.elapsed() >= ttl);
        let listing = match self.listings.get_value_or_guard_async(&key).await {
            Ok((_, listing)) => listing,
            Err(guard) => {
                let listing = match self.fetch_status(symbol).await {
                    Ok(status) => Listing::Listed(status),
                    Err(BinanceError::UnknownSymbol(_)) => Listing::Unknown,
                    Err(e) => return Err(e),
                };
                let _ = guard.insert((Instant::now(), listing.clone()));
                listing
            }
        };
        match listing {
            Listing::Listed(status) if status == "TRADING" => Ok(()),
            Listing::Listed(status) => Err(BinanceError::NotTrading {
                symbol: key,
                status,
            }),
            Listing::Unknown => Err(BinanceError::UnknownSymbol(key)),
        }
    }

    async fn fetch_status(&self, symbol: &Symbol) -> Result<String, BinanceError> {
        #[derive(serde::Deserialize)]
        struct Info {
            symbols: Vec<Listed>,
        }
        #[derive(serde::Deserialize)]
        struct Listed {
            symbol: String,
            status: String,
        }
        let request = format!("/api/v3/exchangeInfo?symbol={symbol}");
        let body = self.get(&request, symbol, None).await?;
        let info: Info = serde_json::from_slice(&body).map_err(|e| malformed(&request, &e))?;
        info.symbols
            .into_iter()
            .find(|s| s.symbol == symbol.as_str())
            .map(|s| s.status)
            .ok_or_else(|| BinanceError::UnknownSymbol(symbol.to_string()))
    }

    /// The closed candles opening in `start_ms..=end_ms`, paging forward; `progress`
    /// gets the open time reached after each page.
    pub(crate) async fn klines(
        &self,
        symbol: &Symbol,
        interval: Interval,
        (start_ms, end_ms): (i64, i64),
        progress: &mut (dyn FnMut(i64) + Send),
    ) -> Result<Fetched, BinanceError> {
        let now = now_ms();
        let mut rows = BTreeMap::new();
        let mut from = start_ms;
        while from <= end_ms {
            let request = format!(
                "/api/v3/klines?symbol={symbol}&interval={interval}&startTime={from}&endTime={end_ms}&limit={PAGE}"
            );
            let body = self.get(&request, symbol, Some(interval)).await?;
            let page = parse_page(&body, &request)?;
            let last = page.last().map(|r| r.open_time);
            let full = page.len() >= PAGE;
            for row in page {
                if row.close_time < now {
                    rows.insert(row.open_time, row.record);
                }
            }
            match last {
                Some(last) if full && last >= from => {
                    progress(last);
                    from = last + 1;
                }
                _ => break,
            }
        }
        progress(end_ms);
        let mut candles = Candles::default();
        for (open_time, record) in rows {
            klines::push_record(&mut candles, &record)
                .map_err(|problem| malformed_row(symbol, interval, open_time, &problem))?;
        }
        Ok(Fetched {
            candles,
            complete_to_ms: end_ms.min(now - interval.millis()),
        })
    }
}

/// One kline of a page, kept as text so prices are parsed exactly once, by the klines
/// module's checked parser.
struct RawRow {
    open_time: i64,
    close_time: i64,
    record: csv::ByteRecord,
}

/// A klines page: an array of 12-element arrays, numbers as strings except the times
/// and the trade count.
fn parse_page(body: &[u8], request: &str) -> Result<Vec<RawRow>, BinanceError> {
    let rows: Vec<Vec<serde_json::Value>> =
        serde_json::from_slice(body).map_err(|e| malformed(request, &e))?;
    rows.into_iter()
        .enumerate()
        .map(|(i, row)| {
            raw_row(&row).ok_or_else(|| BinanceError::Malformed {
                request: request.to_owned(),
                problem: format!(
                    "kline {i} is not [open_time, \"open\", \"high\", \"low\", \"close\", \"volume\", close_time, \"quote_volume\", trades, \"taker_buy_base\", \"taker_buy_quote\", \"ignore\"]: {}",
                    serde_json::Value::Array(row.clone())
                ),
            })
        })
        .collect()
}

fn raw_row(row: &[serde_json::Value]) -> Option<RawRow> {
    if row.len() < 11 {
        return None;
    }
    let mut record = csv::ByteRecord::new();
    for (i, v) in row.iter().take(11).enumerate() {
        let integer = matches!(i, 0 | 6 | 8);
        match v {
            serde_json::Value::Number(n) if integer && n.is_i64() => {
                record.push_field(n.to_string().as_bytes());
            }
            serde_json::Value::String(s) if !integer => record.push_field(s.as_bytes()),
            _ => return None,
        }
    }
    Some(RawRow {
        open_time: row[0].as_i64()?,
        close_time: row[6].as_i64()?,
        record,
    })
}

fn malformed(request: &str, e: &serde_json::Error) -> BinanceError {
    BinanceError::Malformed {
        request: request.to_owned(),
        problem: format!("not the expected JSON ({e})"),
    }
}

fn malformed_row(
    symbol: &Symbol,
    interval: Interval,
    open_time: i64,
    problem: &str,
) -> BinanceError {
    BinanceError::Malformed {
        request: format!("/api/v3/klines?symbol={symbol}&interval={interval}"),
        problem: format!(
            "the candle opening at {}: {problem}",
            klines::fmt_ms(open_time)
        ),
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
