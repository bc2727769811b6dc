//! The renders this gateway knows about: each one's [`Status`] behind a watch channel
//! (so SSE streams see every change), identical in-flight requests coalesced into one,
//! and finished results remembered so that asking again answers at once.
//!
//! Memory is bounded: at most [`MAX_RENDERS`] renders are kept; the oldest finished
//! ones are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use waveplot_protocol::{
    ImageFormat, Interval, MraKind, PlotId, RenderRequest, RequestId, Source, Symbol, TimeZone,
};

use crate::status::{State, Status};

/// Renders kept in memory.
pub const MAX_RENDERS: usize = 1024;

/// One render: its status, shared with every watcher.
#[derive(Debug)]
pub struct Render {
    /// Status updates; the latest value is the current status.
    pub status: watch::Sender<Status>,
    /// When it was accepted.
    pub started: std::time::Instant,
    /// The request without its ID, for coalescing and reuse.
    pub identity: Identity,
}

impl Render {
    /// Applies an event to the status. The update that ends the render also stamps its
    /// elapsed time, because that is the last status an SSE stream sends.
    pub fn update(&self, apply: impl FnOnce(&mut Status)) {
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1e3;
        self.status.send_modify(|st| {
            let was_final = st.is_final();
            apply(st);
            if st.is_final() && !was_final {
                st.elapsed_ms = elapsed_ms;
            }
        });
    }
}

/// All renders, by ID and by identity.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<RequestId, Arc<Render>>,
    by_identity: HashMap<Identity, RequestId>,
    order: VecDeque<RequestId>,
}

impl Registry {
    /// The render with this ID.
    pub fn get(&self, id: &RequestId) -> Option<Arc<Render>> {
        self.lock().by_id.get(id).cloned()
    }

    /// A render of an identical request that is still running or whose result is
    /// still valid: finished completely, and (for Binance) before a newer candle closed.
    pub fn reusable(&self, request: &RenderRequest, now_ms: i64) -> Option<Arc<Render>> {
        let inner = self.lock();
        let id = inner.by_identity.get(&Identity::of(request))?;
        let render = inner.by_id.get(id)?;
        let status = render.status.borrow();
        let fresh = match status.state {
            State::Running => true,
            State::Complete => still_fresh(&status, now_ms),
            State::Partial | State::Failed => false,
        };
        fresh.then(|| render.clone())
    }

    /// Registers a new render and returns it.
    pub fn insert(&self, request: RenderRequest) -> Arc<Render> {
        let id = request.request_id.clone();
        let render = Arc::new(Render {
            identity: Identity::of(&request),
            status: watch::Sender::new(Status::new(request)),
            started: std::time::Instant::now(),
        });
        let mut inner = self.lock();
        inner
            .by_identity
            .insert(render.identity.clone(), id.clone());
        inner.by_id.insert(id.clone(), render.clone());
        inner.order.push_back(id);
        inner.evict();
        render
    }

    /// Forgets a render that never started (rejected, or prepare unreachable).
    pub fn remove(&self, id: &RequestId) {
        let mut inner = self.lock();
        if let Some(render) = inner.by_id.remove(id) {
            if inner.by_identity.get(&render.identity) == Some(id) {
                inner.by_identity.remove(&render.identity);
            }
        }
        inner.order.retain(|o| o != id);
    }

    /// Number of renders still running.
    pub fn running(&self) -> usize {
        self.lock()
            .by_id
            .values()
            .filter(|r| !r.status.borrow().is_final())
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn evict(&mut self) {
        while self.order.len() > MAX_RENDERS {
            let Some(pos) = self.order.iter().position(|id| {
                self.by_id
                    .get(id)
                    .is_none_or(|r| r.status.borrow().is_final())
            }) else {
                return;
            };
            if let Some(id) = self.order.remove(pos) {
                if let Some(render) = self.by_id.remove(&id) {
                    if self.by_identity.get(&render.identity) == Some(&id) {
                        self.by_identity.remove(&render.identity);
                    }
                }
            }
        }
    }
}

/// A request without its ID: two requests with equal identities draw the same charts.
/// Fields are compared as the client gave them (an omitted wavelet is not `haar`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    symbol: Symbol,
    interval: Interval,
    source: Source,
    window: Option<u32>,
    end_ms: Option<i64>,
    wavelet: Option<String>,
    mode: Option<String>,
    mra: Option<MraKind>,
    levels: Option<u32>,
    /// The anomaly factor's bits: a checked request's factor is finite, so equal bits
    /// are equal numbers.
    anomaly_k: Option<u64>,
    trend_level: Option<u32>,
    width: Option<u32>,
    height: Option<u32>,
    format: ImageFormat,
    tz: Option<TimeZone>,
    plots: Vec<PlotId>,
}

impl Identity {
    /// The identity of `request`. Every field is named, so a field added to the request
    /// does not compile until it is placed here or deliberately left out.
    fn of(request: &RenderRequest) -> Self {
        let RenderRequest {
            v: _,
            request_id: _,
            symbol,
            interval,
            source,
            window,
            end_ms,
            wavelet,
            mode,
            mra,
            levels,
            anomaly_k,
            trend_level,
            width,
            height,
            format,
            tz,
            plots,
        } = request;
        Self {
            symbol: symbol.clone(),
            interval: *interval,
            source: source.clone(),
            window: *window,
            end_ms: *end_ms,
            wavelet: wavelet.clone(),
            mode: mode.clone(),
            mra: *mra,
            levels: *levels,
            anomaly_k: anomaly_k.map(f64::to_bits),
            trend_level: *trend_level,
            width: *width,
            height: *height,
            format: *format,
            tz: tz.clone(),
            plots: plots.clone(),
        }
    }
}

/// A finished Binance render goes stale when the next candle closes (a request without
/// an end time means "up to the latest closed candle"); samples and files never change.
fn still_fresh(status: &Status, now_ms: i64) -> bool {
    let r = &status.request;
    if r.source != Source::Binance || r.end_ms.is_some() {
        return true;
    }
    status
        .prepared
        .as_ref()
        .is_some_and(|p| now_ms < p.last_open_ms + 2 * r.interval.millis())
}
