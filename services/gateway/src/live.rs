//! Live pages: the gateway holds a watch (a lease at prepare, `<prefix>.watch`) for
//! each page that follows a pair, and at every closed candle of the pair starts the
//! render of the window ending at it and tells the page over Server-Sent Events.
//!
//! A watch lives while a page follows its event stream, and for [`LINGER`] after the
//! last one left (a page that reloads finds it still there); the lease is renewed every
//! third of its length meanwhile, and once it ends prepare stops following the pair
//! when nobody else watches it. The renders of a close are ordinary renders: pages
//! watching the same pair and request share one ([`Registry::reusable`]).
//!
//! [`Registry::reusable`]: crate::registry::Registry::reusable

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::{FutureExt as _, StreamExt as _};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use waveplot_protocol::{
    CandleEvent, Message, PlotId, PriceEvent, RenderRequest, RequestId, WatchReply, WatchRequest,
};

use crate::app::AppState;
use crate::error::AppError;
use crate::routes::render;

/// Most watches one gateway holds.
pub const MAX_WATCHES: usize = 64;

/// A watch that no page follows ends this long after the last one left.
pub const LINGER: Duration = Duration::from_secs(30);

/// What a live page hears.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase", tag = "event")]
pub enum LiveEvent {
    /// A candle closed and the render of the window ending at it started: follow it
    /// as any render.
    Render {
        /// The render's ID.
        id: RequestId,
        /// Its status.
        status_url: String,
        /// Its events.
        events_url: String,
        /// Open time (ms) of the closed candle, the window's last.
        end_ms: i64,
        /// The charts it draws.
        plots: Vec<PlotId>,
    },
    /// The forming candle's latest price, at most once a second.
    Price {
        /// Open time (ms) of the forming candle.
        open_ms: i64,
        /// Its latest price.
        close: f64,
        /// Binance's event time, ms.
        event_ms: i64,
    },
    /// A close's render could not be started; the next close tries again.
    Error {
        /// Why, in words.
        error: String,
    },
}

impl LiveEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Render { .. } => "render",
            Self::Price { .. } => "price",
            Self::Error { .. } => "error",
        }
    }
}

/// One watch of a page.
#[derive(Debug)]
pub struct Watch {
    /// The watch's ID, also its lease's at prepare.
    pub id: RequestId,
    /// The render a close starts, without its ID and end.
    template: RenderRequest,
    events: broadcast::Sender<LiveEvent>,
    /// The last render announced, told first to a page that comes in.
    latest: Mutex<Option<LiveEvent>>,
    followers: AtomicUsize,
    /// When the last follower left, or the watch began.
    alone_since: Mutex<Instant>,
    /// Cancelled when the watch ends.
    pub ended: CancellationToken,
}

impl Watch {
    /// The events from now on, the last render announced first.
    pub fn follow(
        self: &Arc<Self>,
    ) -> (Option<LiveEvent>, broadcast::Receiver<LiveEvent>, Follower) {
        self.followers.fetch_add(1, Ordering::SeqCst);
        let latest = lock(&self.latest).clone();
        (latest, self.events.subscribe(), Follower(self.clone()))
    }

    fn abandoned(&self) -> bool {
        self.followers.load(Ordering::SeqCst) == 0 && lock(&self.alone_since).elapsed() >= LINGER
    }

    fn announce(&self, event: LiveEvent) {
        if matches!(event, LiveEvent::Render { .. }) {
            *lock(&self.latest) = Some(event.clone());
        }
        let _ = self.events.send(event);
    }
}

/// A page following a watch; dropping it counts the page out.
#[derive(Debug)]
pub struct Follower(Arc<Watch>);

impl Drop for Follower {
    fn drop(&mut self) {
        if self.0.followers.fetch_sub(1, Ordering::SeqCst) == 1 {
            *lock(&self.0.alone_since) = Instant::now();
        }
    }
}

/// The watches of this gateway.
#[derive(Debug, Default)]
pub struct Watches {
    by_id: Mutex<HashMap<RequestId, Arc<Watch>>>,
}

impl Watches {
    /// The watch with this ID, if it lasts.
    pub fn get(&self, id: &RequestId) -> Option<Arc<Watch>> {
        lock(&self.by_id).get(id).cloned()
    }

    fn remove(&self, id: &RequestId) {
        lock(&self.by_id).remove(id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes a lease on the pair of `template` (a checked render request of Binance
/// candles, without an end) and starts keeping it; the watch.
pub async fn watch(state: &AppState, template: RenderRequest) -> Result<Arc<Watch>, AppError> {
    if lock(&state.watches.by_id).len() >= MAX_WATCHES {
        return Err(AppError::Busy {
            message: format!(
                "busy: {MAX_WATCHES} live pages are open, the most this gateway follows; try again later"
            ),
            retry_after: 30,
        });
    }
    let id = RequestId::generate();
    let lease = lease(state, &watch_request(&id, &template)).await?;
    let watch = Arc::new(Watch {
        id: id.clone(),
        template,
        events: broadcast::channel(16).0,
        latest: Mutex::new(None),
        followers: AtomicUsize::new(0),
        alone_since: Mutex::new(Instant::now()),
        ended: CancellationToken::new(),
    });
    lock(&state.watches.by_id).insert(id, watch.clone());
    tokio::spawn(keep(state.clone(), watch.clone(), lease));
    Ok(watch)
}

fn watch_request(id: &RequestId, r: &RenderRequest) -> WatchRequest {
    let mut w = WatchRequest::new(id.clone(), r.symbol.clone(), r.interval);
    w.window = r.window;
    w.wavelet = r.wavelet.clone();
    w.mode = r.mode;
    w.mra = r.mra;
    w.levels = r.levels;
    w.anomaly_k = r.anomaly_k;
    w.trend_level = r.trend_level;
    w
}

/// Asks prepare for the lease (or its renewal); how long it lasts.
async fn lease(state: &AppState, request: &WatchRequest) -> Result<Duration, AppError> {
    let id = &request.watch_id;
    let is_answer = |reply: &[u8]| match WatchReply::decode(reply) {
        Ok(WatchReply::Watching { watch_id, .. }) => watch_id == *id,
        Ok(WatchReply::Rejected { watch_id, .. }) => watch_id.as_ref() == Some(id),
        Err(_) => false,
    };
    let payload = request.encode().into();
    let reply = render::ask(state, state.ctx.subjects.watch(), payload, is_answer).await?;
    match WatchReply::decode(&reply).map_err(|e| AppError::Internal(e.into()))? {
        WatchReply::Watching { lease_ms, .. } => Ok(Duration::from_millis(lease_ms.max(300))),
        WatchReply::Rejected {
            error,
            retry_after_ms: Some(ms),
            ..
        } => Err(AppError::Busy {
            message: error,
            retry_after: u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX),
        }),
        WatchReply::Rejected { error, .. } => Err(AppError::BadRequest(error)),
    }
}

/// Keeps a watch until no page follows it: renews its lease, starts a render at each
/// closed candle and passes the forming price on.
async fn keep(state: AppState, watch: Arc<Watch>, lease: Duration) {
    let ended = keep_until_abandoned(&state, &watch, lease).await;
    if let Err(error) = ended {
        tracing::warn!(watch = %watch.id, error, "a live page's watch ended");
        watch.announce(LiveEvent::Error { error });
    }
    state.watches.remove(&watch.id);
    watch.ended.cancel();
}

async fn keep_until_abandoned(
    state: &AppState,
    watch: &Watch,
    lease: Duration,
) -> Result<(), String> {
    let (bus, subjects) = (&state.ctx.bus, &state.ctx.subjects);
    let (symbol, interval) = (&watch.template.symbol, watch.template.interval);
    let subscribe = |subject: String| bus.subscribe(subject, None);
    let (mut candles, mut prices) = futures::try_join!(
        subscribe(subjects.candle(symbol, interval)),
        subscribe(subjects.price(symbol, interval)),
    )
    .map_err(|e| format!("cannot follow the pair's events: {e}"))?;
    let request = watch_request(&watch.id, &watch.template);
    let mut renew = tokio::time::interval(lease / 3);
    renew.tick().await;
    loop {
        tokio::select! {
            _ = renew.tick() => {
                if watch.abandoned() {
                    return Ok(());
                }
                match lease_again(state, &request).await {
                    Ok(()) => {}
                    Err(AppError::BadRequest(why)) => return Err(format!("prepare ended the watch: {why}")),
                    Err(e) => tracing::warn!(watch = %watch.id, error = e.message(), "the watch's lease was not renewed; trying again"),
                }
            }
            message = candles.next() => {
                let Some(message) = message else {
                    return Err("the subscription to the pair's candles ended".into());
                };
                // A reconnect sends the candles it missed in a burst: render the newest.
                let mut newest = CandleEvent::decode(&message.payload).ok();
                while let Some(Some(more)) = candles.next().now_or_never() {
                    if let Ok(e) = CandleEvent::decode(&more.payload) {
                        newest = Some(e);
                    }
                }
                if let Some(closed) = newest {
                    start(state, watch, closed.candle.open_ms).await;
                }
            }
            message = prices.next() => {
                let Some(message) = message else {
                    return Err("the subscription to the pair's prices ended".into());
                };
                if let Ok(p) = PriceEvent::decode(&message.payload) {
                    watch.announce(LiveEvent::Price {
                        open_ms: p.candle.open_ms,
                        close: p.candle.close,
                        event_ms: p.event_ms,
                    });
                }
            }
        }
    }
}

async fn lease_again(state: &AppState, request: &WatchRequest) -> Result<(), AppError> {
    lease(state, request).await.map(drop)
}

/// Starts the render of the window ending at the candle opening at `end_ms` and
/// announces it.
async fn start(state: &AppState, watch: &Watch, end_ms: i64) {
    let mut request = watch.template.clone();
    request.request_id = RequestId::generate();
    request.end_ms = Some(end_ms);
    let event = match render::start(state, request).await {
        Ok((render, _)) => {
            let status = render.status.borrow();
            let id = status.id.clone();
            LiveEvent::Render {
                status_url: format!("/api/render/{id}"),
                events_url: format!("/api/render/{id}/events"),
                id,
                end_ms,
                plots: status.plots.keys().copied().collect(),
            }
        }
        Err(e) => LiveEvent::Error {
            error: format!(
                "the render of the candle that closed could not start: {}",
                e.message()
            ),
        },
    };
    watch.announce(event);
}
