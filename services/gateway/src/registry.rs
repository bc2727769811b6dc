//! The renders this gateway knows about: each one's [`Status`] behind a watch channel
//! (so SSE streams see every change), identical in-flight requests coalesced into one,
//! and finished results remembered so that asking again answers at once.
//!
//! Memory is bounded: at most [`MAX_RENDERS`] renders are kept; the oldest finished
//! ones are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use waveplot_protocol::{RenderRequest, RequestId, Source};

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
    pub identity: String,
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
    by_identity: HashMap<String, RequestId>,
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
        let id = inner.by_identity.get(&identity(request))?;
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
            identity: identity(&request),
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

/// The request without its ID: two requests with equal identities draw the same charts.
fn identity(request: &RenderRequest) -> String {
    let mut r = request.clone();
    r.request_id = RequestId::parse("x").unwrap_or_else(|_| RequestId::generate());
    serde_json::to_string(&r).unwrap_or_default()
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
