//! Live: prepare follows Binance's kline stream of every pair someone watches, keeps
//! each closed candle in the candle cache and publishes the market events of
//! [`waveplot_protocol::live`].
//!
//! # Watches
//!
//! A watch request on `<prefix>.watch` (prepare's queue group answers it) is checked as
//! a render of its window would be, then holds a lease of [`LiveSettings::lease`]; the
//! same `watch_id` again renews it. A pair is followed while at least one lease on it
//! lasts, through one connection of its own, so that the last lease running out closes
//! exactly that connection. Bounds: [`LiveSettings::max_pairs`] pairs (`LIVE_PAIRS`),
//! [`MAX_LEASES`] leases and [`MAX_ANALYSES`] distinct analyses per pair; a watch beyond
//! them is refused with the bound named. Live analyses run one at a time, whatever the
//! number of pairs, so they take at most one render's memory next to the renders'.
//!
//! Live charts follow intervals of `1m` and longer (a `1s` candle closes too often to
//! redo the analyses at each close) and windows of at most [`MAX_WINDOW`] candles, what
//! the candle cache keeps of a series, so that each close reads the window from the
//! cache. Watch requests are answered [`ANSWERING`] at a time; the renewal of a lease on
//! the same pair skips the source check.
//!
//! With several prepare replicas each watch request, and each renewal, goes to any one
//! of them, so a watched pair is soon followed by most replicas, each publishing its
//! events: candle, anomaly and signal events then come once per replica, with the same
//! `Nats-Msg-Id`, by which a reader drops the copies; price events, throttled by each
//! replica on its own, differ and cannot be told apart. A deployment that serves tools
//! on the bus runs one replica.
//!
//! # A stream
//!
//! Binance pings every 20 s and the stream answers as it reads; a stream silent for
//! [`IDLE`] (not even a ping) is taken for dead. A lost stream is opened again after a backoff of 1 s,
//! doubling to 60 s (with a fifth of jitter), and one that lasted
//! [`LiveSettings::reconnect_after`] is reopened at once, ahead of the disconnect
//! Binance makes after 24 hours. After a reconnect, the candles that closed meanwhile
//! are fetched from the REST API through the cache (at most the 1 000 newest) and
//! published as candle events with `filled: true`; the analyses run for the newest of
//! them. A fill that fails is tried again at the next message, at most every
//! [`FILL_RETRY`]. A message that is not a kline of the pair, one interval long and at
//! most 60 s ahead of the clock is ignored.

mod events;
mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use waveplot_protocol::blob::{Candles, Signal};
use waveplot_protocol::{
    AnalysisParams, Blob, BlobKey, CandleEvent, Interval, Message, PriceEvent, RequestId, Symbol,
    V1, WatchReply, WatchRequest,
};
use waveplot_service::bus::Message as BusMessage;

use crate::service::{Prepare, QUEUE_GROUP, blob_key};

/// Binance's public market-data WebSocket endpoint.
pub const DEFAULT_WS_URL: &str = "wss://data-stream.binance.vision";

/// Most leases held at once.
pub const MAX_LEASES: usize = 256;

/// Most distinct analyses (window and parameters) watched on one pair: each runs at
/// every close.
pub const MAX_ANALYSES: usize = 4;

/// A stream that sends nothing (not even a ping) for this long is taken for dead.
pub const IDLE: Duration = Duration::from_secs(60);

/// The longest window a watch may ask for: what the candle cache keeps of a series.
pub const MAX_WINDOW: usize = crate::source::cache::MAX_CANDLES;

/// Watch requests answered at once (each may wait on Binance to check a new symbol).
pub const ANSWERING: usize = 16;

/// The shortest wait before a failed gap fill is tried again.
pub const FILL_RETRY: Duration = Duration::from_secs(10);

/// How long closing a stream may take before it is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The forming candle is published at most this often per pair.
const PRICE_EVERY: Duration = Duration::from_secs(1);

/// How often expired leases are looked for.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// The first wait before opening a lost stream again, and the longest.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// How prepare follows pairs live.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Binance's WebSocket base URL; streams are `<ws_url>/ws/<stream>`.
    pub ws_url: String,
    /// Most pairs followed at once; 0 refuses every watch.
    pub max_pairs: usize,
    /// How long a lease lasts unless renewed.
    pub lease: Duration,
    /// A stream open this long is reopened (Binance ends it at 24 hours).
    pub reconnect_after: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            ws_url: DEFAULT_WS_URL.to_owned(),
            max_pairs: 8,
            lease: Duration::from_secs(30),
            reconnect_after: Duration::from_secs(23 * 3600 + 30 * 60),
        }
    }
}

type Pair = (Symbol, Interval);

/// One watched analysis: a window length and parameters, defaults resolved.
#[derive(Debug, Clone, PartialEq)]
struct Analysis {
    window: u32,
    params: AnalysisParams,
}

impl Analysis {
    fn of(watch: &WatchRequest) -> Self {
        let r = watch.render(RequestId::generate(), 0);
        Self {
            window: r.window_len(),
            params: r.params(),
        }
    }
}

/// A lease on a pair.
struct Lease {
    watch: WatchRequest,
    expires: Instant,
}

/// The leases and the streams followed for them.
#[derive(Default)]
struct State {
    leases: HashMap<RequestId, Lease>,
    followers: HashMap<Pair, CancellationToken>,
}

/// Why a watch is refused.
struct Refusal {
    /// In words for a person.
    error: String,
    /// For want of room: when a watch holding it ends unless renewed.
    retry_after: Option<Duration>,
}

impl Refusal {
    /// From `now` until `first` and the sweep after it, at least a second (a second too
    /// when nothing holds the room any more: the refusal raced the sweep).
    fn wait_until(first: Option<Instant>, now: Instant) -> Duration {
        first.map_or(Duration::from_secs(1), |end| {
            (end.saturating_duration_since(now) + SWEEP_EVERY).max(Duration::from_secs(1))
        })
    }
}

impl From<String> for Refusal {
    fn from(error: String) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

/// Live following for one prepare.
pub(crate) struct Live {
    prepare: Arc<Prepare>,
    settings: LiveSettings,
    state: Mutex<State>,
    /// Live analyses run one at a time.
    analysing: Arc<tokio::sync::Semaphore>,
}

/// Answers watch requests and ends expired leases until `shutdown`; then closes every
/// stream.
pub(crate) async fn serve(
    prepare: Arc<Prepare>,
    settings: LiveSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let live = Arc::new(Live {
        prepare,
        settings,
        state: Mutex::default(),
        analysing: Arc::new(tokio::sync::Semaphore::new(1)),
    });
    let answering = Arc::new(tokio::sync::Semaphore::new(ANSWERING));
    let ctx = &live.prepare.ctx;
    let mut requests = ctx
        .bus
        .subscribe(ctx.subjects.watch(), Some(QUEUE_GROUP.to_owned()))
        .await?;
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    let ended = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            _ = sweep.tick() => live.sweep(),
            message = requests.next() => match message {
                Some(message) => {
                    let Ok(slot) = answering.clone().acquire_owned().await else {
                        break Ok(());
                    };
                    let live = live.clone();
                    tokio::spawn(async move {
                        live.answer(message).await;
                        drop(slot);
                    });
                }
                None => break Err(anyhow::anyhow!("the subscription to watch requests ended")),
            },
        }
    };
    for cancel in live.state.lock().expect("live state").followers.values() {
        cancel.cancel();
    }
    ended
}

impl Live {
    /// Takes or renews the lease a watch request asks for and answers it.
    async fn answer(self: &Arc<Self>, message: BusMessage) {
        let reply = match self.take(&message.payload).await {
            Ok(watch_id) => WatchReply::Watching {
                v: V1,
                watch_id,
                lease_ms: u64::try_from(self.settings.lease.as_millis()).unwrap_or(u64::MAX),
            },
            Err((watch_id, Refusal { error, retry_after })) => {
                metrics::counter!("waveplot_prepare_watches_refused_total").increment(1);
                tracing::warn!(watch_id = ?watch_id, %error, "watch refused");
                WatchReply::Rejected {
                    v: V1,
                    watch_id,
                    error,
                    retry_after_ms: retry_after
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                }
            }
        };
        if let Some(to) = message.reply {
            let bus = &self.prepare.ctx.bus;
            if let Err(e) = bus.reply(to, reply.encode().into()).await {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "could not answer a watch request"
                );
            }
        }
    }

    async fn take(
        self: &Arc<Self>,
        payload: &[u8],
    ) -> Result<RequestId, (Option<RequestId>, Refusal)> {
        let watch = WatchRequest::decode(payload)
            .map_err(|e| (watch_id_in(payload), Refusal::from(e.to_string())))?;
        let id = watch.watch_id.clone();
        let refuse = |refusal: Refusal| (Some(id.clone()), refusal);
        if self.settings.max_pairs == 0 {
            return Err(refuse(
                "live charts are off on this deployment (LIVE_PAIRS is 0)"
                    .to_owned()
                    .into(),
            ));
        }
        if watch.interval == Interval::S1 {
            return Err(refuse(
                "live charts follow intervals of 1m and longer; a 1s candle closes too often to redo the analysis at each".to_owned().into(),
            ));
        }
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let render = watch.render(RequestId::generate(), now_ms);
        let window = render.window_len() as usize;
        if window > MAX_WINDOW {
            return Err(refuse(format!(
                "a live window is at most {MAX_WINDOW} candles (what the candle cache keeps of a series), not {window}"
            ).into()));
        }
        self.prepare
            .check(&render)
            .map_err(|e| refuse(Refusal::from(e)))?;
        let renewal = self
            .state
            .lock()
            .expect("live state")
            .leases
            .get(&id)
            .is_some_and(|l| {
                (&l.watch.symbol, l.watch.interval) == (&watch.symbol, watch.interval)
            });
        if !renewal {
            self.prepare
                .sources
                .check(&render)
                .await
                .map_err(|e| refuse(Refusal::from(e.to_string())))?;
        }
        let mut state = self.state.lock().expect("live state");
        self.admit(&state, &watch).map_err(refuse)?;
        let pair = (watch.symbol.clone(), watch.interval);
        let expires = Instant::now() + self.settings.lease;
        state.leases.insert(id.clone(), Lease { watch, expires });
        if let std::collections::hash_map::Entry::Vacant(entry) = state.followers.entry(pair) {
            let cancel = CancellationToken::new();
            let pair = entry.key().clone();
            tracing::info!(symbol = %pair.0, interval = %pair.1, "following the pair live");
            tokio::spawn(Follower::new(self.clone(), pair, cancel.clone()).run());
            entry.insert(cancel);
            metrics::gauge!("waveplot_prepare_live_pairs").set(state.followers.len() as f64);
        }
        Ok(id)
    }

    /// Whether `watch` fits the bounds, with the leases it replaces (its own) left out.
    fn admit(&self, state: &State, watch: &WatchRequest) -> Result<(), Refusal> {
        let pair = (watch.symbol.clone(), watch.interval);
        let max = self.settings.max_pairs;
        let now = Instant::now();
        if !state.followers.contains_key(&pair) && state.followers.len() >= max {
            // A pair ends when the last of its leases does; the first to end frees room.
            let mut ends: HashMap<&Pair, Instant> = HashMap::new();
            for lease in state.leases.values() {
                let pair = (lease.watch.symbol.clone(), lease.watch.interval);
                if let Some((pair, _)) = state.followers.get_key_value(&pair) {
                    let end = ends.entry(pair).or_insert(lease.expires);
                    *end = (*end).max(lease.expires);
                }
            }
            let first = ends.into_values().min();
            let mut taken: Vec<String> = state
                .followers
                .keys()
                .map(|(s, i)| format!("{s} {i}"))
                .collect();
            taken.sort();
            return Err(Refusal {
                error: format!(
                    "this deployment follows at most {max} pairs live (LIVE_PAIRS), all taken ({}); watch one of them or try again when a watch ends",
                    taken.join(", ")
                ),
                retry_after: Some(Refusal::wait_until(first, now)),
            });
        }
        if !state.leases.contains_key(&watch.watch_id) && state.leases.len() >= MAX_LEASES {
            let first = state.leases.values().map(|l| l.expires).min();
            return Err(Refusal {
                error: format!(
                    "{MAX_LEASES} watches are held already, the most this deployment keeps; try again when one ends"
                ),
                retry_after: Some(Refusal::wait_until(first, now)),
            });
        }
        let mut analyses = vec![Analysis::of(watch)];
        for (id, lease) in &state.leases {
            let theirs = Analysis::of(&lease.watch);
            if *id != watch.watch_id
                && (&lease.watch.symbol, lease.watch.interval) == (&pair.0, pair.1)
                && !analyses.contains(&theirs)
            {
                analyses.push(theirs);
            }
        }
        if analyses.len() > MAX_ANALYSES {
            return Err(format!(
                "{} {} is watched with {MAX_ANALYSES} different analyses already, the most per pair; watch it with one of theirs",
                pair.0, pair.1
            )
            .into());
        }
        Ok(())
    }

    /// Ends expired leases, and the streams of pairs no lease is on any more.
    fn sweep(&self) {
        let now = Instant::now();
        let mut state = self.state.lock().expect("live state");
        state.leases.retain(|_, lease| lease.expires > now);
        let State { leases, followers } = &mut *state;
        followers.retain(|pair, cancel| {
            let watched = leases
                .values()
                .any(|l| (&l.watch.symbol, l.watch.interval) == (&pair.0, pair.1));
            if !watched {
                tracing::info!(symbol = %pair.0, interval = %pair.1, "no watch left; the pair is no longer followed");
                cancel.cancel();
            }
            watched
        });
        metrics::gauge!("waveplot_prepare_live_pairs").set(followers.len() as f64);
    }

    /// The distinct analyses watched on `pair`, each with one of its watches.
    fn analyses(&self, pair: &Pair) -> Vec<(Analysis, WatchRequest)> {
        let state = self.state.lock().expect("live state");
        let mut out: Vec<(Analysis, WatchRequest)> = Vec::new();
        let mut leases: Vec<&Lease> = state
            .leases
            .values()
            .filter(|l| (&l.watch.symbol, l.watch.interval) == (&pair.0, pair.1))
            .collect();
        leases.sort_by(|a, b| a.watch.watch_id.cmp(&b.watch.watch_id));
        for lease in leases {
            let analysis = Analysis::of(&lease.watch);
            if !out.iter().any(|(a, _)| *a == analysis) {
                out.push((analysis, lease.watch.clone()));
            }
        }
        out
    }

    /// The analysis of the window of `watch` that ends at the candle opening at
    /// `end_ms`, as a render of it computes it, and the key of its blob.
    async fn analysis_of(
        &self,
        watch: &WatchRequest,
        end_ms: i64,
    ) -> anyhow::Result<(Blob, BlobKey)> {
        let request = watch.render(RequestId::generate(), end_ms);
        let params = request.params();
        let window = self.prepare.sources.load(&request).await?;
        let key = blob_key(&window, &params);
        let backend = self.prepare.backend.clone();
        // The slot moves into the blocking task: it is held while the analysis runs, even
        // when the follower that waits for it is cancelled.
        let slot = self.analysing.clone().acquire_owned().await?;
        let blob = tokio::task::spawn_blocking(move || {
            let blob = crate::analysis::analyse(window, &params, &backend)
                .map(crate::analysis::Analysed::into_blob);
            drop(slot);
            blob
        })
        .await??;
        Ok((blob, key))
    }

    /// Publishes a market event (plain NATS; a failure is logged).
    async fn publish<M: Message>(&self, event: &M) {
        let ctx = &self.prepare.ctx;
        let subject = event.subject(&ctx.subjects);
        metrics::counter!("waveplot_prepare_market_events_total", "kind" => M::NAME).increment(1);
        if let Err(e) = ctx
            .bus
            .publish(subject, event.encode().into(), &event.message_id())
            .await
        {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "a market event was not published"
            );
        }
    }
}

/// The `watch_id` of a watch request that failed to decode as a whole, if it has one.
fn watch_id_in(payload: &[u8]) -> Option<RequestId> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    RequestId::parse(value.get("watch_id")?.as_str()?).ok()
}

/// How a connection ended.
enum Ended {
    /// Open for `reconnect_after`: reopen at once.
    Renew,
    /// Lost; `heard` if it delivered anything (the backoff then starts again).
    Lost { heard: bool },
}

/// Follows one pair's stream until cancelled.
struct Follower {
    live: Arc<Live>,
    symbol: Symbol,
    interval: Interval,
    cancel: CancellationToken,
    /// The close time of the newest candle known closed: handled, filled, or (at the
    /// first message) the one before the candle the stream reports.
    closed_through: Option<i64>,
    /// When a gap fill last failed.
    fill_failed: Option<Instant>,
    /// When the forming candle was last published.
    last_price: Option<Instant>,
    /// The newest candle's signal of each analysis at the last close: its open time
    /// and the signal.
    signals: Vec<(Analysis, i64, Signal)>,
}

impl Follower {
    fn new(live: Arc<Live>, (symbol, interval): Pair, cancel: CancellationToken) -> Self {
        Self {
            live,
            symbol,
            interval,
            cancel,
            closed_through: None,
            fill_failed: None,
            last_price: None,
            signals: Vec::new(),
        }
    }

    async fn run(mut self) {
        let url = stream::url(&self.live.settings.ws_url, &self.symbol, self.interval);
        let cancel = self.cancel.clone();
        let mut backoff = BACKOFF.0;
        loop {
            let ended = tokio::select! {
                () = cancel.cancelled() => return,
                ended = self.connection(&url) => ended,
            };
            match ended {
                Ended::Renew => {
                    backoff = BACKOFF.0;
                    continue;
                }
                Ended::Lost { heard: true } => backoff = BACKOFF.0,
                Ended::Lost { heard: false } => {}
            }
            let wait = backoff.mul_f64(0.8 + 0.4 * fastrand::f64());
            backoff = (backoff * 2).min(BACKOFF.1);
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One connection, until it is lost or due for renewal.
    async fn connection(&mut self, url: &str) -> Ended {
        let (symbol, interval) = (self.symbol.clone(), self.interval);
        let mut ws = match stream::connect(url).await {
            Ok(ws) => ws,
            Err(e) => {
                tracing::warn!(%symbol, %interval, url, error = format!("{e:#}"), "cannot open Binance's kline stream; trying again");
                return Ended::Lost { heard: false };
            }
        };
        tracing::info!(%symbol, %interval, url, "Binance's kline stream is open");
        let renew_at = Instant::now() + self.live.settings.reconnect_after;
        let mut heard = false;
        loop {
            let next = tokio::select! {
                () = tokio::time::sleep_until(renew_at) => {
                    tracing::info!(%symbol, %interval, "reopening the stream ahead of Binance's 24-hour limit");
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                    return Ended::Renew;
                }
                next = tokio::time::timeout(IDLE, stream::next_frame(&mut ws)) => next,
            };
            let text = match next {
                Err(_) => {
                    tracing::warn!(%symbol, %interval, "nothing from Binance for {} s; reconnecting", IDLE.as_secs());
                    return Ended::Lost { heard };
                }
                Ok(None) => {
                    tracing::warn!(%symbol, %interval, "Binance's kline stream ended; reconnecting");
                    return Ended::Lost { heard };
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(%symbol, %interval, error = format!("{e:#}"), "Binance's kline stream failed; reconnecting");
                    return Ended::Lost { heard };
                }
                Ok(Some(Ok(frame))) => frame,
            };
            heard = true;
            let Some(text) = text else {
                continue;
            };
            let now_ms = jiff::Timestamp::now().as_millisecond();
            match stream::parse(&text, &symbol, interval, now_ms) {
                Ok(update) => self.on_update(update).await,
                Err(problem) => {
                    metrics::counter!("waveplot_prepare_stream_messages_ignored_total")
                        .increment(1);
                    tracing::warn!(%symbol, %interval, problem, "a message of the kline stream was ignored");
                }
            }
        }
    }

    async fn on_update(&mut self, update: stream::Update) {
        let open = update.open_ms();
        let through = *self.closed_through.get_or_insert(open - 1);
        let retry = self.fill_failed.is_none_or(|t| t.elapsed() >= FILL_RETRY);
        if open > through + 1 && retry {
            self.fill(through + 1, open - 1).await;
        }
        if !update.closed {
            if self.last_price.is_none_or(|t| t.elapsed() >= PRICE_EVERY) {
                self.last_price = Some(Instant::now());
                let event = PriceEvent {
                    v: V1,
                    symbol: self.symbol.clone(),
                    interval: self.interval,
                    candle: update.kline(),
                    event_ms: update.event_ms,
                };
                self.live.publish(&event).await;
            }
            return;
        }
        if self.closed_through.is_some_and(|through| open <= through) {
            return;
        }
        let sources = &self.live.prepare.sources;
        sources
            .keep_closed(&self.symbol, self.interval, &update.candle)
            .await;
        self.closed(&update.candle, false).await;
        self.analyse(open).await;
        self.closed_through = Some(update.candle.close_time_ms[0]);
    }

    /// Publishes the candle events of `candles`.
    async fn closed(&self, candles: &Candles, filled: bool) {
        for i in 0..candles.len() {
            let event = CandleEvent {
                v: V1,
                symbol: self.symbol.clone(),
                interval: self.interval,
                candle: stream::kline(candles, i),
                filled,
            };
            self.live.publish(&event).await;
        }
    }

    /// Fetches the candles that closed in `from..=to` while the stream was away,
    /// publishes them and analyses the newest.
    async fn fill(&mut self, from: i64, to: i64) {
        let step = self.interval.millis();
        let from = from.max(to + 1 - crate::source::cache::MAX_FILL * step);
        let sources = &self.live.prepare.sources;
        match sources
            .closed_between(&self.symbol, self.interval, (from, to))
            .await
        {
            Ok(candles) => {
                tracing::info!(symbol = %self.symbol, interval = %self.interval, candles = candles.len(), "filled the gap of a reconnect from the REST API");
                self.closed(&candles, true).await;
                if let Some(&newest) = candles.open_time_ms.last() {
                    self.analyse(newest).await;
                }
                // What Binance has not got (a halt) is not asked for again.
                self.closed_through = Some(to);
                self.fill_failed = None;
            }
            Err(e) => {
                self.fill_failed = Some(Instant::now());
                tracing::warn!(
                    symbol = %self.symbol,
                    interval = %self.interval,
                    error = &e as &dyn std::error::Error,
                    "the candles closed during a reconnect could not be fetched; trying again in {} s",
                    FILL_RETRY.as_secs()
                );
            }
        }
    }

    /// Runs every watched analysis of the window ending at the candle opening at
    /// `open` and publishes its anomaly and signal events.
    async fn analyse(&mut self, open: i64) {
        let pair = (self.symbol.clone(), self.interval);
        let mut signals = Vec::new();
        for (analysis, watch) in self.live.analyses(&pair) {
            let (blob, key) = match self.live.analysis_of(&watch, open).await {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(symbol = %self.symbol, interval = %self.interval, error = format!("{e:#}"), "the live analysis failed");
                    continue;
                }
            };
            let newest = blob.candles.open_time_ms.last().copied();
            if newest != Some(open) {
                // Events speak of the candle that closed; a window that ends elsewhere
                // (Binance does not list it yet) says nothing about it.
                tracing::warn!(symbol = %self.symbol, interval = %self.interval, open, ?newest, "the live window does not end at the closed candle; no events for it");
                continue;
            }
            if let Some(event) = events::anomaly(&blob, &key) {
                self.live.publish(&event).await;
            }
            let Some(now) = events::newest_signal(&blob) else {
                continue;
            };
            if let Some(previous) = self.previous_signal(&analysis, &watch, &blob).await {
                if let Some(event) = events::signal(&blob, &key, previous) {
                    self.live.publish(&event).await;
                }
            }
            signals.push((analysis, open, now));
        }
        self.signals = signals;
    }

    /// The newest candle's signal in the window that ends one candle before `blob`'s:
    /// remembered from the last close, or else computed.
    async fn previous_signal(
        &self,
        analysis: &Analysis,
        watch: &WatchRequest,
        blob: &Blob,
    ) -> Option<Signal> {
        let times = &blob.candles.open_time_ms;
        let before = *times.get(times.len().checked_sub(2)?)?;
        let remembered = self
            .signals
            .iter()
            .find(|(a, at, _)| a == analysis && *at == before);
        if let Some((_, _, signal)) = remembered {
            return Some(*signal);
        }
        let (earlier, _) = self.live.analysis_of(watch, before).await.ok()?;
        events::newest_signal(&earlier)
    }
}
