//! One Binance kline stream: the connection (raw form, `<BINANCE_WS_URL>/ws/<symbol
//! in lower case>@kline_<interval>`, one connection per pair so that a pair's watch
//! ending closes exactly its connection) and its messages, parsed and checked like a
//! REST page's rows.

use std::time::Duration;

use futures::StreamExt as _;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use waveplot_protocol::blob::Candles;
use waveplot_protocol::{Interval, Kline, Symbol};

use crate::source::klines;

/// The largest message accepted from Binance: a kline message is about 400 bytes.
pub(crate) const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// How far ahead of this machine's clock a candle may open, and a closed one close.
/// Clocks kept by NTP differ by far less; a candle further ahead is refused, since the
/// candle cache would otherwise take it as the newest and skip the real ones before it.
pub(crate) const CLOCK_SKEW_MS: i64 = 60_000;

/// How long connecting (TCP, TLS and the WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open kline stream.
pub(crate) type Connection = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The URL of a pair's kline stream under `base` (`wss://data-stream.binance.vision`).
pub(crate) fn url(base: &str, symbol: &Symbol, interval: Interval) -> String {
    format!(
        "{}/ws/{}@kline_{interval}",
        base.trim_end_matches('/'),
        symbol.as_str().to_ascii_lowercase()
    )
}

/// Opens the stream at `url`, within [`CONNECT_TIMEOUT`], refusing messages and frames
/// larger than [`MAX_MESSAGE_BYTES`].
pub(crate) async fn connect(url: &str) -> anyhow::Result<Connection> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let connecting = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| anyhow::anyhow!("no connection within {CONNECT_TIMEOUT:?}"))??;
    Ok(ws)
}

/// The next frame of the stream: a text message's text, or `None` for a ping (answered
/// as the stream is read), a pong or a binary frame; `None` when the stream ends.
pub(crate) async fn next_frame(ws: &mut Connection) -> Option<anyhow::Result<Option<String>>> {
    match ws.next().await? {
        Ok(Message::Text(text)) => Some(Ok(Some(text.as_str().to_owned()))),
        Ok(Message::Close(frame)) => {
            let why = frame.map_or_else(String::new, |f| format!(": {} {}", f.code, f.reason));
            Some(Err(anyhow::anyhow!("Binance closed the stream{why}")))
        }
        Ok(_) => Some(Ok(None)),
        Err(e) => Some(Err(e.into())),
    }
}

/// A kline message of the stream, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Update {
    /// The candle so far (or, when `closed`, final), as a one-candle column set.
    pub(crate) candle: Candles,
    /// Whether the candle closed (`"x": true`).
    pub(crate) closed: bool,
    /// Binance's event time (`"E"`), ms.
    pub(crate) event_ms: i64,
}

impl Update {
    /// The candle's open time.
    pub(crate) fn open_ms(&self) -> i64 {
        self.candle.open_time_ms[0]
    }

    /// The candle as the contract writes it.
    pub(crate) fn kline(&self) -> Kline {
        kline(&self.candle, 0)
    }
}

/// Candle `i` of `c` as the contract writes it.
pub(crate) fn kline(c: &Candles, i: usize) -> Kline {
    Kline {
        open_ms: c.open_time_ms[i],
        close_ms: c.close_time_ms[i],
        open: c.open[i],
        high: c.high[i],
        low: c.low[i],
        close: c.close[i],
        volume: c.volume[i],
        quote_volume: c.quote_volume[i],
        trades: c.trades[i],
        taker_buy_base: c.taker_buy_base[i],
        taker_buy_quote: c.taker_buy_quote[i],
    }
}

/// A kline message as Binance sends it on a raw stream.
#[derive(Deserialize)]
struct Envelope {
    e: String,
    #[serde(rename = "E")]
    event_ms: i64,
    k: Raw,
}

#[derive(Deserialize)]
struct Raw {
    t: i64,
    #[serde(rename = "T")]
    close_ms: i64,
    s: String,
    i: String,
    o: String,
    c: String,
    h: String,
    l: String,
    v: String,
    n: u64,
    x: bool,
    q: String,
    #[serde(rename = "V")]
    taker_base: String,
    #[serde(rename = "Q")]
    taker_quote: String,
}

/// Parses a message of the stream of `symbol` `interval` received at `now_ms`: a kline
/// of that pair, its numbers checked as a REST row's are, one interval long (28 to 31
/// days for `1M`), opening (closing, when closed) at most [`CLOCK_SKEW_MS`] after
/// `now_ms`. Anything else is an error saying what it is.
pub(crate) fn parse(
    text: &str,
    symbol: &Symbol,
    interval: Interval,
    now_ms: i64,
) -> Result<Update, String> {
    let message: Envelope =
        serde_json::from_str(text).map_err(|e| format!("not a kline message ({e})"))?;
    let k = message.k;
    if message.e != "kline" || k.s != symbol.as_str() || k.i != interval.as_str() {
        return Err(format!(
            "a '{}' message of {} {} on the stream of {symbol} {interval}",
            message.e, k.s, k.i
        ));
    }
    let (t, close_ms, n) = (k.t.to_string(), k.close_ms.to_string(), k.n.to_string());
    let record = csv::ByteRecord::from(vec![
        t.as_str(),
        &k.o,
        &k.h,
        &k.l,
        &k.c,
        &k.v,
        close_ms.as_str(),
        &k.q,
        n.as_str(),
        &k.taker_base,
        &k.taker_quote,
    ]);
    let mut candle = Candles::default();
    klines::push_record(&mut candle, &record)?;
    let day = 86_400_000;
    let lengths = match interval {
        Interval::Mo1 => 28 * day..=31 * day,
        _ => interval.millis()..=interval.millis(),
    };
    if !lengths.contains(&(k.close_ms - k.t + 1)) {
        return Err(format!(
            "a {interval} candle opening at {} closes at {}: a {interval} candle closes one {interval} after it opens, less 1 ms",
            klines::fmt_ms(k.t),
            klines::fmt_ms(k.close_ms)
        ));
    }
    let (what, at) = if k.x {
        ("closing", k.close_ms)
    } else {
        ("opening", k.t)
    };
    if at > now_ms.saturating_add(CLOCK_SKEW_MS) {
        return Err(format!(
            "a candle {what} at {}, {} s after this machine's clock ({}); at most {} s ahead is taken",
            klines::fmt_ms(at),
            (at - now_ms) / 1000,
            klines::fmt_ms(now_ms),
            CLOCK_SKEW_MS / 1000
        ));
    }
    Ok(Update {
        candle,
        closed: k.x,
        event_ms: message.event_ms,
    })
}

#[cfg(test)]
mod tests {
    use waveplot_testkit::fake_binance::ws;

    use super::*;

    /// The clock of the tests: 2023-11-14T22:24:00Z, after every candle they send.
    const NOW: i64 = 1_700_000_040_000 + 600_000;

    fn btc() -> Symbol {
        Symbol::parse("BTCUSDT").unwrap()
    }

    #[test]
    fn candles_ahead_of_the_clock_or_of_the_wrong_length_are_refused() {
        let open = NOW - 120_000;
        let parsed = |m: &serde_json::Value, now| parse(&m.to_string(), &btc(), Interval::M1, now);
        let closed = ws::message("BTCUSDT", "1m", open, 100.0, true, open + 60_000);
        assert!(parsed(&closed, NOW).is_ok());
        assert!(
            parsed(&closed, open + 60_000 - 1 - CLOCK_SKEW_MS).is_ok(),
            "within the skew"
        );
        let e = parsed(&closed, open - CLOCK_SKEW_MS).unwrap_err();
        assert!(
            e.starts_with(
                "a candle closing at 2023-11-14T22:22:59.999Z, 119 s after this machine's clock"
            ),
            "{e}"
        );
        let forming = ws::message("BTCUSDT", "1m", open, 100.0, false, open);
        assert!(
            parsed(&forming, open - CLOCK_SKEW_MS).is_ok(),
            "it closes in the future"
        );
        let e = parsed(&forming, open - CLOCK_SKEW_MS - 1).unwrap_err();
        assert!(e.starts_with("a candle opening at"), "{e}");
        let mut long = closed.clone();
        long["k"]["T"] = (open + 120_000 - 1).into();
        let e = parsed(&long, NOW).unwrap_err();
        assert_eq!(
            e,
            "a 1m candle opening at 2023-11-14T22:22:00Z closes at 2023-11-14T22:23:59.999Z: a 1m candle closes one 1m after it opens, less 1 ms"
        );
        let month = |days: i64| {
            let mut m = ws::message("BTCUSDT", "1d", open, 100.0, true, open);
            m["k"]["i"] = "1M".into();
            m["k"]["T"] = (open + days * 86_400_000 - 1).into();
            parse(
                &m.to_string(),
                &btc(),
                Interval::Mo1,
                open + 40 * 86_400_000,
            )
        };
        assert!(month(28).is_ok() && month(31).is_ok());
        assert!(month(27).is_err() && month(32).is_err());
    }

    #[test]
    fn a_kline_message_is_read_as_binance_documents_it() {
        let text = r#"{"e":"kline","E":1672515782136,"s":"BTCUSDT","k":{"t":1672515780000,"T":1672515839999,"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"0.00100000","c":"0.00200000","h":"0.00250000","l":"0.00150000","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}"#;
        let u = parse(text, &btc(), Interval::M1, NOW).unwrap_err();
        assert!(u.contains("high"), "the open is below the low: {u}");
        let text = text.replace("\"o\":\"0.00100000\"", "\"o\":\"0.00160000\"");
        let u = parse(&text, &btc(), Interval::M1, NOW).unwrap();
        assert!(!u.closed);
        assert_eq!(
            (u.open_ms(), u.event_ms),
            (1_672_515_780_000, 1_672_515_782_136)
        );
        let k = u.kline();
        assert_eq!(
            (k.open, k.close, k.high, k.low),
            (0.0016, 0.002, 0.0025, 0.0015)
        );
        assert_eq!(
            (k.close_ms, k.trades, k.taker_buy_quote),
            (1_672_515_839_999, 100, 0.5)
        );
    }

    #[test]
    fn the_fakes_closed_candle_is_the_rest_fakes_candle() {
        let open = 1_700_000_040_000;
        let m = ws::message(
            "BTCUSDT",
            "1m",
            open,
            ws::close_of(open),
            true,
            open + 60_000,
        );
        let u = parse(&m.to_string(), &btc(), Interval::M1, NOW).unwrap();
        assert!(u.closed);
        assert_eq!(u.kline().close, ws::close_of(open));
    }

    #[test]
    fn messages_of_other_pairs_and_malformed_ones_are_refused_with_what_they_are() {
        let open = 1_700_000_040_000;
        let eth = ws::message("ETHUSDT", "1m", open, 100.0, true, open);
        let e = parse(&eth.to_string(), &btc(), Interval::M1, NOW).unwrap_err();
        assert_eq!(
            e,
            "a 'kline' message of ETHUSDT 1m on the stream of BTCUSDT 1m"
        );
        let five = ws::message("BTCUSDT", "5m", open, 100.0, true, open);
        assert!(parse(&five.to_string(), &btc(), Interval::M1, NOW).is_err());
        for junk in ["", "null", "{}", "[1,2]", r#"{"result":null,"id":1}"#] {
            let e = parse(junk, &btc(), Interval::M1, NOW).unwrap_err();
            assert!(e.starts_with("not a kline message"), "{junk}: {e}");
        }
        let mut nan = ws::message("BTCUSDT", "1m", open, 100.0, true, open);
        nan["k"]["c"] = "NaN".into();
        assert!(parse(&nan.to_string(), &btc(), Interval::M1, NOW).is_err());
    }

    #[test]
    fn a_pairs_stream_url_is_the_raw_form_in_lower_case() {
        assert_eq!(
            url("wss://data-stream.binance.vision/", &btc(), Interval::H1),
            "wss://data-stream.binance.vision/ws/btcusdt@kline_1h"
        );
    }
}
