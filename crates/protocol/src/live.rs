//! Live: watches (`<prefix>.watch`) and the market events prepare publishes while a
//! pair is watched.
//!
//! A tool (or the gateway, for its live pages) sends a [`WatchRequest`]; prepare
//! follows the pair's Binance kline stream for as long as someone renews the lease
//! (the same request again, before [`WatchReply::Watching`]'s `lease_ms` runs out).
//! While it follows, prepare publishes, for each pair:
//!
//! - [`PriceEvent`] on `<prefix>.price.<SYMBOL>.<INTERVAL>`: the forming candle, at
//!   most once a second;
//! - [`CandleEvent`] on `<prefix>.candle.<SYMBOL>.<INTERVAL>`: each closed candle, in
//!   order, once it is in the candle cache (a render of the window ending at it then
//!   needs nothing from Binance);
//!
//! and for each watched analysis (a watch's window and parameters), computed causally
//! from the window that ends at the closed candle:
//!
//! - [`AnomalyEvent`] on `<prefix>.anomaly.<SYMBOL>.<INTERVAL>`: the newest candle's
//!   |D1| is above the window's anomaly threshold;
//! - [`SignalEvent`] on `<prefix>.signal.<SYMBOL>.<INTERVAL>`: the newest candle's
//!   signal differs from the one of the window that ended a candle earlier.
//!
//! Market events are published on plain NATS, not kept by the event stream: a
//! subscriber hears them while it is subscribed.

use serde::{Deserialize, Serialize};

use crate::blob::Signal;
use crate::id::RequestId;
use crate::interval::Interval;
use crate::key::BlobKey;
use crate::message::{Message, V1};
use crate::request::{AnalysisParams, MraKind, RenderRequest};
use crate::source::Source;
use crate::subject::Subjects;
use crate::symbol::Symbol;
use crate::wavelet::{Mode, Wavelet};

/// Asks prepare to follow a pair live, or renews that lease. Sent as a request on
/// `<prefix>.watch`; the same `watch_id` again renews the lease (and may change the
/// analysis). The optional fields are those of a [`RenderRequest`], with its defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WatchRequest {
    /// Schema version, always 1.
    pub v: V1,
    /// The watch's ID, chosen by the watcher: a renewal repeats it.
    pub watch_id: RequestId,
    /// Trading pair, e.g. `BTCUSDT`.
    pub symbol: Symbol,
    /// Kline interval, e.g. `5m`.
    pub interval: Interval,
    /// Candles of the analysed window; default: the interval's look-back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// Wavelet; default `haar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wavelet: Option<Wavelet>,
    /// Extension mode; default `symmetric`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// MRA kind; default `modwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mra: Option<MraKind>,
    /// Decomposition levels; default 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<u32>,
    /// Anomaly factor k; default 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly_k: Option<f64>,
    /// Trend smooth level; default 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend_level: Option<u32>,
}

impl WatchRequest {
    /// A watch of a pair with the default analysis.
    pub fn new(watch_id: RequestId, symbol: Symbol, interval: Interval) -> Self {
        Self {
            v: V1,
            watch_id,
            symbol,
            interval,
            window: None,
            wavelet: None,
            mode: None,
            mra: None,
            levels: None,
            anomaly_k: None,
            trend_level: None,
        }
    }

    /// The render of the window that ends at the candle opening at `end_ms`, with this
    /// watch's analysis, from Binance: what a live page redraws at each close, and what
    /// the market events of that close are computed from.
    pub fn render(&self, request_id: RequestId, end_ms: i64) -> RenderRequest {
        let mut r = RenderRequest::new(request_id, self.symbol.clone(), self.interval);
        r.source = Source::Binance;
        r.end_ms = Some(end_ms);
        r.window = self.window;
        r.wavelet = self.wavelet.clone();
        r.mode = self.mode;
        r.mra = self.mra;
        r.levels = self.levels;
        r.anomaly_k = self.anomaly_k;
        r.trend_level = self.trend_level;
        r
    }
}

impl Message for WatchRequest {
    const NAME: &'static str = "watch request";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.watch()
    }
    fn message_id(&self) -> String {
        format!("{}.watch", self.watch_id)
    }
}

/// The reply to a watch request, tagged by `"status"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum WatchReply {
    /// The pair is followed; renew before `lease_ms` has passed.
    Watching {
        /// Schema version, always 1.
        v: V1,
        /// The watch's ID.
        watch_id: RequestId,
        /// How long the lease lasts from now, ms; renew well within it.
        lease_ms: u64,
    },
    /// The watch is refused; nothing is followed for it.
    Rejected {
        /// Schema version, always 1.
        v: V1,
        /// The watch's ID (empty when the request was too malformed to have one).
        watch_id: Option<RequestId>,
        /// What is wrong and what to do, in words for a person.
        error: String,
        /// Present when the watch is refused for want of room (every live pair or every
        /// lease taken), not for what it asks: the ms after which one of the watches
        /// holding that room ends unless it is renewed, a time to ask again. Absent when
        /// the same request would be refused again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

impl Message for WatchReply {
    const NAME: &'static str = "watch reply";
    /// Replies go to the request's reply inbox; this is the request subject.
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.watch()
    }
    fn message_id(&self) -> String {
        match self {
            Self::Watching { watch_id, .. } => format!("{watch_id}.watching"),
            Self::Rejected {
                watch_id: Some(id), ..
            } => format!("{id}.rejected"),
            Self::Rejected { watch_id: None, .. } => "unnamed.rejected".to_owned(),
        }
    }
}

/// One candle, as Binance reports it, numbers parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Kline {
    /// Open time, ms since the Unix epoch (UTC).
    pub open_ms: i64,
    /// Close time, ms since the Unix epoch (UTC).
    pub close_ms: i64,
    /// Open price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Close price (for a forming candle: the latest price).
    pub close: f64,
    /// Base-asset volume.
    pub volume: f64,
    /// Quote-asset volume.
    pub quote_volume: f64,
    /// Number of trades.
    pub trades: u64,
    /// Taker buy base-asset volume.
    pub taker_buy_base: f64,
    /// Taker buy quote-asset volume.
    pub taker_buy_quote: f64,
}

/// `<prefix>.candle.<SYMBOL>.<INTERVAL>`: a candle closed, and is in the candle cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CandleEvent {
    /// Schema version, always 1.
    pub v: V1,
    /// Trading pair.
    pub symbol: Symbol,
    /// Kline interval.
    pub interval: Interval,
    /// The closed candle.
    pub candle: Kline,
    /// True when it came from Binance's REST API, filling a gap after a reconnect,
    /// rather than from the live stream.
    pub filled: bool,
}

impl Message for CandleEvent {
    const NAME: &'static str = "candle event";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.candle(&self.symbol, self.interval)
    }
    fn message_id(&self) -> String {
        format!(
            "{}.{}.{}.candle",
            self.symbol, self.interval, self.candle.open_ms
        )
    }
}

/// `<prefix>.price.<SYMBOL>.<INTERVAL>`: the forming candle so far, at most once a
/// second per pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceEvent {
    /// Schema version, always 1.
    pub v: V1,
    /// Trading pair.
    pub symbol: Symbol,
    /// Kline interval.
    pub interval: Interval,
    /// The forming candle; its `close` is the latest price.
    pub candle: Kline,
    /// When Binance sent it, ms since the Unix epoch (UTC).
    pub event_ms: i64,
}

impl Message for PriceEvent {
    const NAME: &'static str = "price event";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.price(&self.symbol, self.interval)
    }
    fn message_id(&self) -> String {
        format!("{}.{}.{}.price", self.symbol, self.interval, self.event_ms)
    }
}

/// The window an analysis event was computed from: the candles up to and including the
/// closed one, analysed as a render of it would be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LiveWindow {
    /// Candles in the window.
    pub candles: u32,
    /// The analysis parameters, defaults resolved.
    pub params: AnalysisParams,
    /// The blob key a render of this window has ([`WatchRequest::render`]): the same
    /// window and analysis.
    pub key: BlobKey,
}

/// `<prefix>.anomaly.<SYMBOL>.<INTERVAL>`: the candle that just closed has |D1| above
/// the window's anomaly threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnomalyEvent {
    /// Schema version, always 1.
    pub v: V1,
    /// Trading pair.
    pub symbol: Symbol,
    /// Kline interval.
    pub interval: Interval,
    /// Open time of the candle, ms since the Unix epoch (UTC).
    pub open_ms: i64,
    /// Its close price.
    pub close: f64,
    /// Its D1 (signed). At the newest candle the MODWT sees the series extended past
    /// its end (README, "Live"), so this is not the value it will have once later
    /// candles exist.
    pub value: f64,
    /// The window's threshold, `median + k·MAD` of |D1|.
    pub threshold: f64,
    /// The window analysed.
    pub window: LiveWindow,
}

impl Message for AnomalyEvent {
    const NAME: &'static str = "anomaly event";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.anomaly(&self.symbol, self.interval)
    }
    fn message_id(&self) -> String {
        format!("{}.anomaly", self.window.key)
    }
}

/// `<prefix>.signal.<SYMBOL>.<INTERVAL>`: the signal of the newest candle changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SignalEvent {
    /// Schema version, always 1.
    pub v: V1,
    /// Trading pair.
    pub symbol: Symbol,
    /// Kline interval.
    pub interval: Interval,
    /// Open time of the candle, ms since the Unix epoch (UTC).
    pub open_ms: i64,
    /// Its close price.
    pub close: f64,
    /// The signal now: the newest candle's in the window ending at it.
    pub signal: Signal,
    /// The signal before: the newest candle's in the window that ended one candle
    /// earlier.
    pub previous: Signal,
    /// The close minus the trend smooth at the candle.
    pub deviation: f64,
    /// The neutral buffer around the trend: BUY below −buffer, SELL above +buffer.
    pub buffer: f64,
    /// The window analysed.
    pub window: LiveWindow,
}

impl Message for SignalEvent {
    const NAME: &'static str = "signal event";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.signal(&self.symbol, self.interval)
    }
    fn message_id(&self) -> String {
        format!("{}.signal", self.window.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_watch_gets_the_render_defaults_and_its_render_ends_at_the_candle() {
        let json = br#"{"v":1,"watch_id":"w1","symbol":"btc","interval":"1m"}"#;
        let w = WatchRequest::decode(json).unwrap();
        assert_eq!(
            w,
            WatchRequest::new(
                RequestId::parse("w1").unwrap(),
                Symbol::parse("BTCUSDT").unwrap(),
                Interval::M1
            )
        );
        let r = w.render(RequestId::parse("r1").unwrap(), 60_000);
        assert_eq!(r.source, Source::Binance);
        assert_eq!(r.end_ms, Some(60_000));
        assert_eq!(r.params(), AnalysisParams::default());
        let json = br#"{"v":1,"watch_id":"w1","symbol":"btc","interval":"1m","levels":3,"anomaly_k":4.5,"window":100}"#;
        let r = WatchRequest::decode(json).unwrap().render(r.request_id, 0);
        assert_eq!(
            (r.levels, r.anomaly_k, r.window),
            (Some(3), Some(4.5), Some(100))
        );
    }

    #[test]
    fn replies_are_tagged_by_status() {
        let reply = WatchReply::Watching {
            v: V1,
            watch_id: RequestId::parse("w1").unwrap(),
            lease_ms: 30_000,
        };
        let json = String::from_utf8(reply.encode()).unwrap();
        assert_eq!(
            json,
            r#"{"status":"watching","v":1,"watch_id":"w1","lease_ms":30000}"#
        );
        assert_eq!(WatchReply::decode(json.as_bytes()).unwrap(), reply);
    }
}
