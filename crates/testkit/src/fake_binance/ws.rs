//! A fake of Binance's kline WebSocket streams (`/ws/<symbol>@kline_<interval>`, the
//! raw stream form): a server on a loopback port 0 that accepts any number of
//! connections and sends them what the test says, when it says it: updates of a
//! forming candle (`"x": false`), its close (`"x": true`), pings, raw text, and a cut
//! connection. The candles are those [`FakeBinance::start_synthetic`] serves over REST,
//! so a gap filled from REST joins the streamed ones exactly.
//!
//! [`FakeBinance::start_synthetic`]: super::FakeBinance::start_synthetic

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use super::{interval_ms, kline, synthetic_close};

/// What the test has a connection do.
#[derive(Debug)]
enum Command {
    Send(Message),
    Cut,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// Open connections: their stream and how to reach them.
    open: HashMap<u64, (String, mpsc::UnboundedSender<Command>)>,
    /// The stream of every connection ever accepted, in order.
    accepted: Vec<String>,
    /// The payloads of the pongs received.
    pongs: Vec<Vec<u8>>,
}

/// A running fake; the server lives as long as the runtime it was started on.
#[derive(Clone)]
pub struct FakeBinanceWs {
    /// `ws://127.0.0.1:PORT`, the base URL (`BINANCE_WS_URL`).
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeBinanceWs {
    /// Starts the fake.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = inner.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, shared.clone()));
            }
        });
        Self { url, inner }
    }

    /// The streams of the open connections (`btcusdt@kline_1m`), sorted.
    pub fn streams(&self) -> Vec<String> {
        let mut streams: Vec<String> = self
            .inner
            .lock()
            .unwrap()
            .open
            .values()
            .map(|(s, _)| s.clone())
            .collect();
        streams.sort();
        streams
    }

    /// The stream of every connection accepted so far, in order.
    pub fn accepted(&self) -> Vec<String> {
        self.inner.lock().unwrap().accepted.clone()
    }

    /// Waits up to `limit` until the open connections' streams are `want` (sorted).
    pub async fn wait_for_streams(&self, want: &[&str], limit: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let streams = self.streams();
            if streams == want || tokio::time::Instant::now() >= deadline {
                return streams;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends an update of the forming candle opening at `open_ms` (`"x": false`) whose
    /// latest price is `price`, to every connection of the pair's stream; `event_ms`
    /// is Binance's event time (`"E"`).
    pub fn update(&self, symbol: &str, interval: &str, open_ms: i64, price: f64, event_ms: i64) {
        self.kline(symbol, interval, open_ms, price, false, event_ms);
    }

    /// Sends the close (`"x": true`) of the synthetic candle opening at `open_ms`: the
    /// very candle the REST fake serves.
    pub fn close(&self, symbol: &str, interval: &str, open_ms: i64) {
        self.close_at(symbol, interval, open_ms, synthetic_close(open_ms));
    }

    /// Sends the close of the candle opening at `open_ms` with `price` as its close.
    pub fn close_at(&self, symbol: &str, interval: &str, open_ms: i64, price: f64) {
        let step = interval_ms(interval).expect("a Binance interval");
        self.kline(symbol, interval, open_ms, price, true, open_ms + step);
    }

    fn kline(
        &self,
        symbol: &str,
        interval: &str,
        open_ms: i64,
        price: f64,
        closed: bool,
        event_ms: i64,
    ) {
        let text = message(symbol, interval, open_ms, price, closed, event_ms).to_string();
        self.send(&stream(symbol, interval), Message::text(text));
    }

    /// Sends raw text to every connection of `stream`.
    pub fn send_text(&self, stream: &str, text: &str) {
        self.send(stream, Message::text(text));
    }

    /// Pings every connection of `stream` with `payload`.
    pub fn ping(&self, stream: &str, payload: &[u8]) {
        self.send(stream, Message::Ping(payload.to_vec().into()));
    }

    /// Waits up to `limit` until `count` pongs have come (a pong crosses the socket
    /// while the client goes on, so it may come after what the client did next); the
    /// payloads of those received by then.
    pub async fn wait_for_pongs(&self, count: usize, limit: Duration) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let pongs = self.inner.lock().unwrap().pongs.clone();
            if pongs.len() >= count || tokio::time::Instant::now() >= deadline {
                return pongs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Cuts every open connection, without a close handshake.
    pub fn cut(&self) {
        for (_, tx) in self.inner.lock().unwrap().open.values() {
            let _ = tx.send(Command::Cut);
        }
    }

    fn send(&self, stream: &str, message: Message) {
        for (s, tx) in self.inner.lock().unwrap().open.values() {
            if s == stream {
                let _ = tx.send(Command::Send(message.clone()));
            }
        }
    }
}

/// `btcusdt@kline_1m`: the stream name Binance gives a pair's klines.
pub fn stream(symbol: &str, interval: &str) -> String {
    format!("{}@kline_{interval}", symbol.to_ascii_lowercase())
}

/// One connection: the handshake, then the test's commands out and pongs in, until
/// either side ends it. Its stream is the path after `/ws/` (the whole path if it is
/// not there, so that a wrong URL shows in [`FakeBinanceWs::streams`]).
async fn serve(tcp: tokio::net::TcpStream, inner: Arc<Mutex<Inner>>) {
    let mut path = String::new();
    #[allow(
        clippy::result_large_err,
        reason = "the handshake callback's type is tungstenite's"
    )]
    let callback = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    let name = path.strip_prefix("/ws/").unwrap_or(&path).to_owned();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = {
        let mut inner = inner.lock().unwrap();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.open.insert(id, (name.clone(), tx));
        inner.accepted.push(name);
        id
    };
    loop {
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Send(message)) => {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
                Some(Command::Cut) | None => break,
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Pong(payload))) => {
                    inner.lock().unwrap().pongs.push(payload.to_vec());
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    inner.lock().unwrap().open.remove(&id);
}

/// A kline message as Binance sends it on a raw stream: the candle opening at
/// `open_ms` as the REST fake has it, but with `price` as its close; `closed` is `"x"`
/// and `event_ms` is `"E"`.
pub fn message(
    symbol: &str,
    interval: &str,
    open_ms: i64,
    price: f64,
    closed: bool,
    event_ms: i64,
) -> Value {
    let step = interval_ms(interval).expect("a Binance interval");
    let k = kline(open_ms, step, price);
    json!({
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": k[0], "T": k[6], "s": symbol, "i": interval, "f": 100, "L": 200,
            "o": k[1], "c": k[4], "h": k[2], "l": k[3], "v": k[5], "n": k[8],
            "x": closed, "q": k[7], "V": k[9], "Q": k[10], "B": k[11],
        }
    })
}

/// The close of the synthetic candle opening at `open_ms` as the REST fake serves it,
/// with Binance's eight decimals.
pub fn close_of(open_ms: i64) -> f64 {
    format!("{:.8}", synthetic_close(open_ms))
        .parse()
        .expect("a formatted number")
}
