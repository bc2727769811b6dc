//! The renders this gateway knows about: each one's [`Status`] behind a watch channel
//! (so SSE streams see every change), identical in-flight requests coalesced into one,
//! and finished results remembered so that asking again answers at once.
//!
//! Memory is bounded: at most [`MAX_RENDERS`] renders are kept; the oldest finished
//! ones are forgotten first.
//!
//! A complete render is answered from here only within [`REUSE_FOR`] of when it was
//! accepted: its charts are in the store, which keeps what a render used for at least
//! ten minutes from the use (prepare's retention; prepare notes the use after the
//! gateway accepted the render), but a later sweep may delete them, and a render
//! answered from here never reaches prepare to count as a use. After that, the same
//! request goes through prepare again, which reuses the blob and the plotters the charts
//! while they are stored and computes what was swept.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use waveplot_protocol::{
    ImageFormat, Interval, Mode, MraKind, PlotId, RenderRequest, RequestId, Source, Symbol,
    TimeZone, Wavelet,
};

use crate::status::{State, Status};

/// Renders kept in memory.
pub const MAX_RENDERS: usize = 1024;

/// How long after it was accepted a complete render is answered from memory: half the
/// ten minutes for which the store keeps what a render used.
pub const REUSE_FOR: std::time::Duration = std::time::Duration::from_secs(300);

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
    /// still valid at `now_ms` (Unix ms): complete, accepted less than [`REUSE_FOR`]
    /// ago, and (for Binance) before a newer candle closed.
    pub fn reusable(&self, request: &RenderRequest, now_ms: i64) -> Option<Arc<Render>> {
        self.reusable_at(request, now_ms, std::time::Instant::now())
    }

    /// [`Registry::reusable`] at the moment `now`.
    fn reusable_at(
        &self,
        request: &RenderRequest,
        now_ms: i64,
        now: std::time::Instant,
    ) -> Option<Arc<Render>> {
        let inner = self.lock();
        let id = inner.by_identity.get(&Identity::of(request))?;
        let render = inner.by_id.get(id)?;
        let status = render.status.borrow();
        let recent = now.saturating_duration_since(render.started) < REUSE_FOR;
        let fresh = match status.state {
            State::Running => true,
            State::Complete => recent && still_fresh(&status, now_ms),
            State::Partial | State::Failed => false,
        };
        fresh.then(|| render.clone())
    }

    /// Registers a new render and returns it.
    pub fn insert(&self, request: RenderRequest) -> Arc<Render> {
        Self::insert_into(self.lock(), request)
    }

    /// Registers a new render unless `limit` renders are running already.
    pub fn admit(&self, request: RenderRequest, limit: usize) -> Option<Arc<Render>> {
        let inner = self.lock();
        (inner.running() < limit).then(|| Self::insert_into(inner, request))
    }

    fn insert_into(mut inner: MutexGuard<'_, Inner>, request: RenderRequest) -> Arc<Render> {
        let id = request.request_id.clone();
        let render = Arc::new(Render {
            identity: Identity::of(&request),
            status: watch::Sender::new(Status::new(request)),
            started: std::time::Instant::now(),
        });
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
        self.lock().running()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn running(&self) -> usize {
        self.by_id
            .values()
            .filter(|r| !r.status.borrow().is_final())
            .count()
    }

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
    wavelet: Option<Wavelet>,
    mode: Option<Mode>,
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
            mode: *mode,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::status::tests::{done_event, prepared_event, request};

    const TWO: [PlotId; 2] = [PlotId::Overview, PlotId::Bands];

    /// `r` again under another ID, as a second client would send it.
    fn again(r: &RenderRequest) -> RenderRequest {
        let mut r = r.clone();
        r.request_id = RequestId::generate();
        r
    }

    /// The `n`th of a series of requests that differ only in their window.
    fn nth(n: usize) -> RenderRequest {
        let mut r = request(&TWO);
        r.window = Some(16 + u32::try_from(n).unwrap());
        r
    }

    fn complete(render: &Render) {
        let r = render.status.borrow().request.clone();
        render.update(|st| {
            st.prepared(&prepared_event(&r));
            for p in &r.plots {
                st.done(&done_event(&r, *p));
            }
        });
        assert_eq!(render.status.borrow().state, State::Complete);
    }

    fn partial(render: &Render) {
        let r = render.status.borrow().request.clone();
        render.update(|st| {
            st.prepared(&prepared_event(&r));
            st.done(&done_event(&r, r.plots[0]));
            st.failed(None, "the other charts failed");
        });
        assert_eq!(render.status.borrow().state, State::Partial);
    }

    fn fail(render: &Render) {
        render.update(|st| st.failed(None, "no candles"));
        assert_eq!(render.status.borrow().state, State::Failed);
    }

    #[test]
    fn no_more_renders_are_admitted_than_the_limit_until_one_ends() {
        let reg = Registry::default();
        let first = reg.admit(nth(0), 2).expect("room for the first");
        let second = reg.admit(nth(1), 2).expect("room for the second");
        assert!(reg.admit(nth(2), 2).is_none(), "a third is over the limit");
        complete(&first);
        let third = reg
            .admit(nth(2), 2)
            .expect("a finished render frees its place");
        assert!(reg.admit(nth(3), 2).is_none());
        fail(&second);
        fail(&third);
        assert_eq!(reg.running(), 0);
    }

    #[test]
    fn an_identical_request_joins_the_render_still_running() {
        let registry = Registry::default();
        let first = request(&TWO);
        let render = registry.insert(first.clone());
        let joined = registry.reusable(&again(&first), 0).expect("coalesced");
        assert!(Arc::ptr_eq(&joined, &render));
        assert_eq!(joined.status.borrow().id, first.request_id);
    }

    #[test]
    fn a_request_that_differs_in_any_field_but_its_id_starts_its_own_render() {
        type Change = fn(&mut RenderRequest);
        let changes: [(&str, Change); 16] = [
            ("symbol", |r| r.symbol = Symbol::parse("ETH").unwrap()),
            ("interval", |r| r.interval = Interval::H1),
            ("source", |r| r.source = Source::Binance),
            ("window", |r| r.window = Some(100)),
            ("end_ms", |r| r.end_ms = Some(1_660_694_100_000)),
            ("wavelet", |r| r.wavelet = Some(Wavelet::haar())),
            ("mode", |r| r.mode = Some(Mode::Symmetric)),
            ("mra", |r| r.mra = Some(MraKind::Modwt)),
            ("levels", |r| r.levels = Some(8)),
            ("anomaly_k", |r| r.anomaly_k = Some(6.0)),
            ("trend_level", |r| r.trend_level = Some(6)),
            ("width", |r| r.width = Some(1280)),
            ("height", |r| r.height = Some(720)),
            ("format", |r| r.format = ImageFormat::Svg),
            ("tz", |r| r.tz = Some(TimeZone::utc())),
            ("plots", |r| r.plots.reverse()),
        ];
        let registry = Registry::default();
        let base = request(&TWO);
        registry.insert(base.clone());
        for (field, change) in changes {
            let mut other = again(&base);
            change(&mut other);
            assert!(
                registry.reusable(&other, 0).is_none(),
                "a request with another {field} was coalesced"
            );
            registry.insert(other.clone());
            assert!(
                registry.reusable(&again(&other), 0).is_some(),
                "the same request with {field} set was not coalesced"
            );
        }
        let mut k = again(&base);
        k.anomaly_k = Some(f64::from_bits(6.0_f64.to_bits() + 1));
        assert!(
            registry.reusable(&k, 0).is_none(),
            "k differs in its last bit"
        );
    }

    #[test]
    fn a_complete_render_is_reused_and_a_partial_or_failed_one_is_not() {
        let registry = Registry::default();
        type Finish = fn(&Render);
        let outcomes: [(Finish, bool); 3] = [(complete, true), (partial, false), (fail, false)];
        for (n, (finish, reused)) in outcomes.into_iter().enumerate() {
            let r = nth(n);
            finish(&registry.insert(r.clone()));
            assert_eq!(
                registry.reusable(&again(&r), now_ms()).is_some(),
                reused,
                "{n}"
            );
        }
    }

    #[test]
    fn a_complete_render_of_the_latest_binance_candles_is_reused_until_the_next_candle_closes() {
        let registry = Registry::default();
        let mut latest = request(&TWO);
        latest.source = Source::Binance;
        let render = registry.insert(latest.clone());
        complete(&render);
        let last_open_ms = render
            .status
            .borrow()
            .prepared
            .as_ref()
            .unwrap()
            .last_open_ms;
        let next_closes_ms = last_open_ms + 2 * Interval::M5.millis();
        assert!(
            registry
                .reusable(&again(&latest), next_closes_ms - 1)
                .is_some()
        );
        assert!(registry.reusable(&again(&latest), next_closes_ms).is_none());

        let mut fixed = latest.clone();
        fixed.end_ms = Some(last_open_ms);
        complete(&registry.insert(fixed.clone()));
        assert!(
            registry.reusable(&again(&fixed), now_ms()).is_some(),
            "a window with an end does not go stale when candles close"
        );
        let sample = request(&TWO);
        complete(&registry.insert(sample.clone()));
        assert!(
            registry.reusable(&again(&sample), now_ms()).is_some(),
            "samples never change"
        );
    }

    #[test]
    fn a_complete_render_is_answered_from_memory_only_while_its_charts_are_sure_to_be_stored() {
        let registry = Registry::default();
        let r = request(&TWO);
        let render = registry.insert(r.clone());
        let late = render.started + 10 * REUSE_FOR;
        assert!(
            registry.reusable_at(&again(&r), now_ms(), late).is_some(),
            "a running render is joined however long it runs"
        );
        complete(&render);
        let last = render.started + REUSE_FOR - std::time::Duration::from_millis(1);
        assert!(registry.reusable_at(&again(&r), now_ms(), last).is_some());
        assert!(
            registry
                .reusable_at(&again(&r), now_ms(), render.started + REUSE_FOR)
                .is_none(),
            "REUSE_FOR after it was accepted the request goes through prepare again"
        );
    }

    fn now_ms() -> i64 {
        jiff::Timestamp::now().as_millisecond()
    }

    #[test]
    fn a_removed_render_is_forgotten_by_id_and_by_identity() {
        let registry = Registry::default();
        let r = request(&TWO);
        registry.insert(r.clone());
        registry.remove(&r.request_id);
        assert!(registry.get(&r.request_id).is_none());
        assert!(registry.reusable(&again(&r), 0).is_none());
        let inner = registry.lock();
        assert!(inner.by_identity.is_empty());
        assert!(inner.order.is_empty());
    }

    #[test]
    fn removing_an_older_render_keeps_the_newer_render_of_the_same_request() {
        let registry = Registry::default();
        let old = request(&TWO);
        fail(&registry.insert(old.clone()));
        let new = again(&old);
        registry.insert(new.clone());
        registry.remove(&old.request_id);
        let found = registry
            .reusable(&again(&old), 0)
            .expect("the newer render");
        assert_eq!(found.status.borrow().id, new.request_id);
    }

    #[test]
    fn beyond_the_bound_the_oldest_finished_render_is_forgotten_first() {
        let registry = Registry::default();
        let running = nth(0);
        registry.insert(running.clone());
        for n in 1..=MAX_RENDERS {
            fail(&registry.insert(nth(n)));
        }
        assert!(registry.get(&running.request_id).is_some(), "still running");
        let (oldest, next) = (nth(1), nth(2));
        let inner = registry.lock();
        assert_eq!(inner.by_id.len(), MAX_RENDERS);
        assert_eq!(inner.by_identity.len(), MAX_RENDERS);
        assert_eq!(inner.order.len(), MAX_RENDERS);
        assert!(!inner.by_identity.contains_key(&Identity::of(&oldest)));
        assert!(inner.by_identity.contains_key(&Identity::of(&next)));
        assert_eq!(inner.order.front(), Some(&running.request_id));
    }

    #[test]
    fn running_renders_are_kept_even_beyond_the_bound() {
        let registry = Registry::default();
        let renders: Vec<Arc<Render>> =
            (0..=MAX_RENDERS).map(|n| registry.insert(nth(n))).collect();
        assert_eq!(registry.running(), MAX_RENDERS + 1);
        fail(&renders[MAX_RENDERS]);
        registry.insert(nth(MAX_RENDERS + 1));
        assert_eq!(registry.lock().by_id.len(), MAX_RENDERS + 1);
        let id = |n: usize| renders[n].status.borrow().id.clone();
        assert!(
            registry.get(&id(MAX_RENDERS)).is_none(),
            "the only finished one"
        );
        assert!((0..MAX_RENDERS).all(|n| registry.get(&id(n)).is_some()));
    }

    #[test]
    fn evicting_an_older_render_keeps_the_newer_render_of_the_same_request() {
        let registry = Registry::default();
        let old = request(&TWO);
        fail(&registry.insert(old.clone()));
        let new = again(&old);
        registry.insert(new.clone());
        for n in 1..MAX_RENDERS {
            fail(&registry.insert(nth(n)));
        }
        assert!(registry.get(&old.request_id).is_none(), "evicted");
        let found = registry
            .reusable(&again(&old), 0)
            .expect("the newer render");
        assert_eq!(found.status.borrow().id, new.request_id);
    }

    #[test]
    fn running_counts_the_renders_not_finished() {
        let registry = Registry::default();
        let renders: Vec<Arc<Render>> = (0..4).map(|n| registry.insert(nth(n))).collect();
        complete(&renders[0]);
        fail(&renders[1]);
        assert_eq!(registry.running(), 2);
    }

    #[test]
    fn the_update_that_ends_a_render_stamps_its_elapsed_time_once() {
        let registry = Registry::default();
        let r = request(&TWO);
        let render = registry.insert(r.clone());
        std::thread::sleep(Duration::from_millis(5));
        render.update(|st| st.prepared(&prepared_event(&r)));
        assert_eq!(render.status.borrow().elapsed_ms, 0.0, "still running");
        complete(&render);
        let stamped = render.status.borrow().elapsed_ms;
        assert!(stamped >= 5.0, "{stamped}");
        std::thread::sleep(Duration::from_millis(5));
        render.update(|st| st.failed(None, "late"));
        assert_eq!(render.status.borrow().elapsed_ms, stamped);
    }
}
