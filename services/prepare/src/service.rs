//! The prepare service on the bus, in two loops. The first answers render requests at
//! once: a valid one is published as an `accepted` event, which the event stream keeps,
//! and only then accepted; an invalid one is rejected with the reason. The second
//! takes the accepted requests through the durable consumer [`CONSUMER`] that all
//! replicas share, loads the candles, runs the analysis off the async runtime, stores
//! the blob under its content-addressed key (reusing it when it already exists) and
//! announces it. A prepare that dies holding an accepted request leaves it to another
//! replica or to itself restarted, and an outage of the store is waited out (see
//! [`waveplot_service::serve`](mod@waveplot_service::serve)). Every other failure after acceptance becomes a
//! `failed` event with the reason. Loading, analysing and storing hold one of
//! `PREPARE_CONCURRENCY` work slots, except a Binance fetch: waiting out a rate limit
//! (Retry-After, retries) must not starve the sample and file renders behind it, so
//! Binance candles are fetched before the slot is taken, under a bound of their own of
//! the same size (fetched candles take memory).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use tokio_util::sync::CancellationToken;
use waveplot_protocol::blob::Header;
use waveplot_protocol::scene::MAX_SCENE_BYTES;
use waveplot_protocol::{
    AcceptedEvent, AnalysisParams, Blob, BlobKey, Message, PlotId, PrepareTimings, PreparedEvent,
    RenderReply, RenderRequest, RequestId, Scenes, Source, Stage, Subjects, V1, WindowId,
};
use waveplot_service::bus::Message as BusMessage;
use waveplot_service::health::Readiness;
use waveplot_service::{Capacity, Context, Failure, Handler, Subscription};

use crate::analysis::{self, Window};
use crate::backend::Backend;
use crate::scenes;
use crate::source::parsed::ParsedFiles;
use crate::source::{Binance, CandleCache, Policy, Sources};

/// The queue group of prepare replicas: each request goes to one of them.
pub const QUEUE_GROUP: &str = "prepare";

/// The durable consumer of accepted requests that all prepare replicas share.
pub const CONSUMER: &str = "prepare";

/// How the service works.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The operator's directory of candle files for `file:NAME` sources.
    pub candle_dir: Option<std::path::PathBuf>,
    /// Binance REST base URL, e.g. `https://data-api.binance.vision`.
    pub binance_url: String,
    /// Renders prepared at the same time: loading their candles (Binance included),
    /// analysing and storing.
    pub concurrency: usize,
    /// Most candles one request may analyse (the operator's `MAX_WINDOW`).
    pub max_window: u32,
    /// MiB of parsed klines files kept in memory (the operator's `FILE_CACHE_MIB`).
    pub file_cache_mib: u32,
    /// MiB the renders prepared at the same time may take together, by estimate; a
    /// request estimated above it is rejected.
    pub memory_mib: u32,
    /// How long and how much the store keeps.
    pub retention: crate::retention::Retention,
    /// When renders last used each window; the sweep counts ages from them too.
    pub uses: crate::retention::Uses,
    /// The compute backend, chosen once at start-up.
    pub backend: Arc<Backend>,
    /// How pairs are followed live.
    pub live: crate::live::LiveSettings,
}

/// The default of [`Settings::memory_mib`]: room for the largest request the limits
/// allow (a million candles at 20 levels: about 1.4 GiB by the estimate).
pub const DEFAULT_MEMORY_MIB: u32 = 1536;

/// The default of [`Settings::file_cache_mib`]: a file of 1.47 million candles, or
/// many small ones.
pub const DEFAULT_FILE_CACHE_MIB: u32 = 128;

/// Serves render requests until `shutdown`, then lets the work in flight finish.
/// Returns an error only if the bus subscription is lost.
pub async fn run(
    ctx: Context,
    settings: Settings,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<()> {
    let prepare = Arc::new(Prepare {
        sources: Sources {
            candle_dir: settings.candle_dir,
            binance: Some(Binance::new(&settings.binance_url, Policy::default())?),
            // Binance candles are cached in the same store as the blobs.
            cache: Some(CandleCache::new(ctx.store.clone())),
            parsed: ParsedFiles::new(u64::from(settings.file_cache_mib) << 20),
        },
        ctx: ctx.clone(),
        backend: settings.backend,
        max_window: settings.max_window,
        memory_mib: settings.memory_mib,
        fetches: tokio::sync::Semaphore::new(settings.concurrency.max(1)),
        uses: settings.uses.clone(),
    });
    let capacity = Capacity {
        slots: settings.concurrency,
        memory_mib: settings.memory_mib,
    };
    let sweeper = tokio::spawn(crate::retention::run(
        ctx.store.clone(),
        settings.retention,
        settings.uses,
        shutdown.clone(),
    ));
    // The work first: a request is accepted only once something takes accepted ones.
    let working = Readiness::new(ctx.bus.clone(), ctx.store.clone());
    let work = waveplot_service::serve(
        ctx.clone(),
        prepare.clone(),
        capacity,
        working.clone(),
        shutdown.clone(),
    );
    let live = crate::live::serve(prepare.clone(), settings.live, shutdown.clone());
    let admit = async {
        working.wait_serving().await;
        waveplot_service::serve(ctx, Admit(prepare), capacity, readiness, shutdown).await
    };
    let served = tokio::try_join!(work, admit, live).map(drop);
    sweeper.abort();
    served
}

/// Render requests in, answered at once; an accepted one is recorded first.
struct Admit(Arc<Prepare>);

impl Handler for Admit {
    /// Nothing is left to do once a request is answered.
    type Job = std::convert::Infallible;
    type Event = AcceptedEvent;

    fn subscription(&self, subjects: &Subjects) -> Subscription {
        Subscription::Requests {
            subject: subjects.render(),
            queue: QUEUE_GROUP.to_owned(),
        }
    }

    fn origin(&self) -> (Stage, Option<PlotId>) {
        (Stage::Prepare, None)
    }

    /// Validates a request and answers it, accepted or rejected; checking a Binance
    /// symbol may wait on the network, but never for a work slot. An accepted request
    /// is published as an `accepted` event and answered once the stream has stored it;
    /// one that cannot be stored is not answered (the gateway says the bus is
    /// unavailable) and fails on the bus. A rejected one is counted as an error of the
    /// render endpoint (`nats micro stats`), and nothing is published for it.
    async fn accept(&self, message: BusMessage) -> Result<Option<Self::Job>, Failure> {
        let ctx = &self.0.ctx;
        let mut refused = None;
        let reply = match self.0.validate(&message.payload).await {
            Ok(request) => {
                let accepted = AcceptedEvent {
                    v: V1,
                    request_id: request.request_id.clone(),
                    accepted_ms: jiff::Timestamp::now().as_millisecond(),
                    request,
                };
                if let Err(e) = ctx.bus.send(&ctx.subjects, &accepted).await {
                    let error = anyhow::Error::new(e).context("record the accepted request");
                    return Err(Failure::new(Some(accepted.request_id), error));
                }
                RenderReply::Accepted {
                    v: V1,
                    request_id: accepted.request_id,
                    plots: accepted.request.plots,
                }
            }
            Err((request_id, error)) => {
                metrics::counter!("waveplot_prepare_rejected_total").increment(1);
                tracing::warn!(request_id = ?request_id, %error, "render request rejected");
                refused = Some(Failure::answered(request_id.clone(), error.clone()));
                RenderReply::Rejected {
                    v: V1,
                    request_id,
                    error,
                }
            }
        };
        if let Some(to) = message.reply {
            if let Err(e) = ctx.bus.reply(to, reply.encode().into()).await {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "could not answer a render request"
                );
            }
        }
        refused.map_or(Ok(None), Err)
    }

    async fn work(&self, job: Self::Job) -> Result<AcceptedEvent, Failure> {
        match job {}
    }
}

/// Render requests in, blobs and `prepared` events out.
pub(crate) struct Prepare {
    pub(crate) ctx: Context,
    pub(crate) sources: Sources,
    pub(crate) backend: Arc<Backend>,
    max_window: u32,
    memory_mib: u32,
    /// Binance fetches running at once (as many as work slots).
    fetches: tokio::sync::Semaphore,
    /// Where each render's window is noted as used, for the sweep.
    uses: crate::retention::Uses,
}

/// An accepted render; Binance candles are loaded before a slot is taken.
pub(crate) struct Job {
    request: RenderRequest,
    params: AnalysisParams,
    window: Option<Window>,
    /// When it was accepted, ms since the Unix epoch.
    accepted_ms: i64,
}

impl Handler for Prepare {
    type Job = Job;
    type Event = PreparedEvent;

    fn subscription(&self, subjects: &Subjects) -> Subscription {
        Subscription::Events {
            consumer: CONSUMER.to_owned(),
            filter: subjects.accepted_any(),
        }
    }

    fn origin(&self) -> (Stage, Option<PlotId>) {
        (Stage::Prepare, None)
    }

    /// Takes an accepted request, checked again against this replica's limits: anyone
    /// on the bus can publish an `accepted` event.
    async fn accept(&self, message: BusMessage) -> Result<Option<Self::Job>, Failure> {
        let event = AcceptedEvent::decode(&message.payload).map_err(|e| {
            let error = anyhow::Error::new(e).context("malformed accepted event");
            Failure::new(RequestId::find_in(&message.payload), error)
        })?;
        let id = event.request_id;
        if event.request.request_id != id {
            let error = anyhow::anyhow!(
                "the accepted event of {id} carries the request {}",
                event.request.request_id
            );
            return Err(Failure::new(Some(id), error));
        }
        let params = self
            .check(&event.request)
            .map_err(|error| Failure::new(Some(id), anyhow::anyhow!(error)))?;
        Ok(Some(Job {
            request: event.request,
            params,
            window: None,
            accepted_ms: event.accepted_ms,
        }))
    }

    async fn gather(&self, mut job: Job) -> Result<Job, Failure> {
        if job.request.source == Source::Binance {
            let id = job.request.request_id.clone();
            let _fetch = self
                .fetches
                .acquire()
                .await
                .map_err(|e| Failure::new(Some(id), e))?;
            let loaded = self.sources.load(&job.request).await;
            let id = Some(job.request.request_id.clone());
            job.window = Some(loaded.map_err(|e| {
                if e.is_transient() {
                    Failure::transient(id, e)
                } else {
                    Failure::new(id, e)
                }
            })?);
        }
        Ok(job)
    }

    fn memory(&self, job: &Job) -> u64 {
        memory(&job.request, job.params.levels)
    }

    async fn work(&self, job: Job) -> Result<PreparedEvent, Failure> {
        let id = job.request.request_id.clone();
        self.prepare(job)
            .await
            .map_err(|e| Failure::new(Some(id), e))
    }
}

impl Prepare {
    /// Reads a render request and checks it ([`Prepare::check`], and that its source
    /// has the symbol); a rejection names the request, when it can be read, and why.
    async fn validate(&self, payload: &[u8]) -> Result<RenderRequest, (Option<RequestId>, String)> {
        let request = RenderRequest::decode(payload)
            .map_err(|e| (RequestId::find_in(payload), e.to_string()))?;
        let id = || Some(request.request_id.clone());
        self.check(&request).map_err(|e| (id(), e))?;
        self.sources
            .check(&request)
            .await
            .map_err(|e| (id(), e.to_string()))?;
        Ok(request)
    }

    /// The request's own checks and this deployment's limits (`MAX_WINDOW`,
    /// `PREPARE_MEMORY`); the analysis parameters when it passes them.
    pub(crate) fn check(&self, request: &RenderRequest) -> Result<AnalysisParams, String> {
        let now_ms = jiff::Timestamp::now().as_millisecond();
        request.check(now_ms).map_err(|e| e.to_string())?;
        let window = request.window_len();
        if window > self.max_window {
            let limit = self.max_window;
            return Err(format!(
                "invalid window: {window} candles; this deployment analyses at most {limit} (MAX_WINDOW)"
            ));
        }
        let params = request.params();
        analysis::library_params(&params).map_err(|e| e.to_string())?;
        let need = memory(request, params.levels).div_ceil(1 << 20);
        if need > u64::from(self.memory_mib) {
            let (levels, limit) = (params.levels, self.memory_mib);
            return Err(format!(
                "invalid window: {window} candles at {levels} levels need about {need} MiB to analyse; this deployment gives prepare {limit} MiB (PREPARE_MEMORY): ask for fewer candles or levels"
            ));
        }
        Ok(params)
    }

    async fn prepare(&self, job: Job) -> Result<PreparedEvent> {
        let (request, params) = (&job.request, &job.params);
        let window = match job.window {
            Some(window) => window,
            None => self.sources.load(request).await?,
        };
        let mut timings = PrepareTimings {
            load_ms: window.load_ms,
            ..PrepareTimings::default()
        };
        let key = blob_key(&window, params);
        let times = window.candles.open_time_ms();
        let (first, last) = (times[0], times[times.len() - 1]);
        // Before the blob is looked for: a sweep that has not yet deleted it then keeps
        // it for the plotters and for the gateway's memory of this render.
        self.uses
            .record(&key, jiff::Timestamp::now().as_millisecond());
        let cached = self.cached(&key).await?;
        let reused = cached.is_some();
        let (header, scenes) = match cached {
            Some(header) => {
                let charts = scenes::charts(request, &key, header.candles);
                let stored = scenes::stored(&self.ctx.store, &charts).await;
                (header, stored)
            }
            None => {
                self.compute(window, (request, params), &key, &mut timings)
                    .await?
            }
        };
        timings.total_ms = since_ms(job.accepted_ms);
        Ok(PreparedEvent {
            v: V1,
            request_id: request.request_id.clone(),
            symbol: request.symbol.clone(),
            interval: request.interval,
            source: request.source.clone(),
            key,
            candles: header.candles,
            first_open_ms: first,
            last_open_ms: last,
            backend: header.backend,
            device: header.device.clone(),
            reused,
            plots: request.plots.clone(),
            width: request.width,
            height: request.height,
            format: request.format,
            tz: request.tz.clone(),
            timings_ms: timings,
            header: Some(header),
            scenes,
        })
    }

    /// The header of the blob already stored under `key`, if there is a readable one
    /// with a summary. An unreadable blob (corrupt, or of another schema version) and
    /// one written before headers carried summaries are recomputed.
    async fn cached(&self, key: &BlobKey) -> Result<Option<Header>> {
        let Some((bytes, _)) = self
            .ctx
            .store
            .get_prefix(key.as_str(), waveplot_protocol::blob::MAX_HEADER_BYTES)
            .await
            .context("look for an existing blob")?
        else {
            return Ok(None);
        };
        match Blob::decode_header(&bytes) {
            Ok(header) if header.summary.is_some() => Ok(Some(header)),
            Ok(_) => Ok(None),
            Err(e) => {
                let error = &e as &dyn std::error::Error;
                tracing::warn!(%key, error, "the stored blob is unreadable; computing it again");
                Ok(None)
            }
        }
    }

    /// Analyses `window`, stores the blob under `key` and, for a large window, the
    /// scenes of the charts asked for (recorded while the blob is uploaded); returns
    /// the blob's header and whether the scenes were stored.
    async fn compute(
        &self,
        window: Window,
        (request, params): (&RenderRequest, &AnalysisParams),
        key: &BlobKey,
        timings: &mut PrepareTimings,
    ) -> Result<(Header, Option<Scenes>)> {
        let params = params.clone();
        let backend = self.backend.clone();
        let blob =
            tokio::task::spawn_blocking(move || analysis::analyse(window, &params, &backend))
                .await
                .context("analysis task")??;
        timings.analysis_ms = blob.header.analysis_ms;
        let header = blob.header.clone();
        // Shared by the upload and the scene recorder, which both read the window's
        // candles where they are (see `WindowCandles`).
        let blob = Arc::new(blob);
        let storing = Instant::now();
        let store = &self.ctx.store;
        let uploaded = blob.clone();
        // Encoded as it is uploaded: a million-candle blob is about 300 MB that would
        // otherwise be held whole next to the analysis.
        let upload = async {
            let stored = store
                .put_streamed(key.as_str(), move |out| {
                    uploaded
                        .view()
                        .encode_to(out)
                        .map_err(std::io::Error::other)
                })
                .await
                .context("store the blob");
            (stored, ms(storing))
        };
        let charts = scenes::charts(request, key, header.candles);
        let zone = request.tz.clone().unwrap_or_default();
        let record = async {
            let stored = scenes::record_and_store(store, blob, charts, zone, MAX_SCENE_BYTES).await;
            (stored, ms(storing))
        };
        let ((blob_stored, store_ms), (scenes, scenes_ms)) = tokio::join!(upload, record);
        blob_stored?;
        timings.store_ms = store_ms;
        timings.scenes_ms = scenes_ms;
        Ok((header, scenes))
    }
}

/// The most memory preparing `request` at `levels` levels takes: the analysis
/// ([`analysis::memory`]) and, when its charts get scenes, recording them.
fn memory(request: &RenderRequest, levels: u32) -> u64 {
    let candles = request.window_len();
    let recording = if scenes::wanted(request, candles) {
        u64::from(candles) * scenes::BYTES_PER_CANDLE
    } else {
        0
    };
    analysis::memory(candles, levels) + recording
}

/// The key of the blob of `window` analysed with `params`.
pub(crate) fn blob_key(window: &Window, params: &AnalysisParams) -> BlobKey {
    let times = window.candles.open_time_ms();
    BlobKey::for_window(&WindowId {
        symbol: &window.symbol,
        interval: window.interval,
        source: &window.source,
        end_open_ms: times[times.len() - 1],
        candles: u32::try_from(times.len()).unwrap_or(u32::MAX),
        params,
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Milliseconds from `epoch_ms` (ms since the Unix epoch) to now, 0 if it is later.
fn since_ms(epoch_ms: i64) -> f64 {
    let now_us = jiff::Timestamp::now().as_microsecond();
    ((now_us - epoch_ms.saturating_mul(1000)) as f64 / 1e3).max(0.0)
}

/// The handler over the in-process bus and a memory store: no server, no binary.
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use waveplot_protocol::{Interval, Symbol};

    use super::*;
    use crate::retention::Uses;

    async fn serving() -> (
        Context,
        CancellationToken,
        tokio::task::JoinHandle<Result<()>>,
    ) {
        serving_with(Uses::default()).await
    }

    /// [`serving`], noting uses in `uses`.
    async fn serving_with(
        uses: Uses,
    ) -> (
        Context,
        CancellationToken,
        tokio::task::JoinHandle<Result<()>>,
    ) {
        let ctx = Context::in_process();
        let settings = Settings {
            candle_dir: None,
            binance_url: "http://127.0.0.1:9".into(),
            concurrency: 1,
            max_window: 1000,
            file_cache_mib: DEFAULT_FILE_CACHE_MIB,
            // Enough for 1000 candles at 8 levels, not at 20 (see `analysis::memory`).
            memory_mib: 33,
            retention: crate::retention::Retention {
                max_age: Duration::from_secs(86_400),
                max_bytes: u64::MAX,
                min_age: Duration::ZERO,
                every: Duration::from_secs(3600),
            },
            uses,
            backend: Arc::new(Backend::cpu()),
            live: crate::live::LiveSettings::default(),
        };
        let stop = CancellationToken::new();
        let readiness = Readiness::new(ctx.bus.clone(), ctx.store.clone());
        let task = tokio::spawn(run(ctx.clone(), settings, readiness.clone(), stop.clone()));
        while !readiness.is_serving() {
            tokio::task::yield_now().await;
        }
        (ctx, stop, task)
    }

    async fn ask(ctx: &Context, request: &RenderRequest) -> RenderReply {
        let reply = ctx
            .bus
            .request(
                ctx.subjects.render(),
                request.encode().into(),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        RenderReply::decode(&reply).unwrap()
    }

    /// Asks for `request`, which must be accepted, and returns the `prepared` event
    /// that `events` (a subscription to them) then receives.
    async fn prepared(
        ctx: &Context,
        events: &mut waveplot_service::bus::Subscription,
        request: &RenderRequest,
    ) -> PreparedEvent {
        let reply = ask(ctx, request).await;
        assert!(matches!(reply, RenderReply::Accepted { .. }), "{reply:?}");
        PreparedEvent::decode(&events.next().await.unwrap().payload).unwrap()
    }

    fn sample(wavelet: &str) -> RenderRequest {
        let mut r = RenderRequest::new(
            RequestId::generate(),
            Symbol::parse("BTC").unwrap(),
            Interval::M5,
        );
        r.source = Source::Sample;
        r.wavelet = Some(waveplot_protocol::Wavelet::parse(wavelet).unwrap());
        r
    }

    #[tokio::test]
    async fn a_sample_request_is_accepted_stored_and_announced_and_a_respelled_one_reuses_it() {
        let (ctx, stop, task) = serving().await;
        let mut events = ctx
            .bus
            .subscribe(ctx.subjects.prepared_any(), None)
            .await
            .unwrap();
        let first = sample("haar");
        let event = prepared(&ctx, &mut events, &first).await;
        assert_eq!(
            (event.request_id.clone(), event.reused),
            (first.request_id, false)
        );
        let blob = ctx.store.get(event.key.as_str()).await.unwrap().unwrap();
        let blob = Blob::decode(&blob).unwrap();
        assert_eq!(blob.candles.len(), event.candles as usize);
        let summary = event.header.as_ref().and_then(|h| h.summary.as_ref());
        assert_eq!(
            summary.map(|s| s.last_close),
            blob.candles.close.last().copied()
        );
        assert_eq!(
            event.header.as_ref(),
            Some(&blob.header),
            "the event carries the header"
        );

        let again = prepared(&ctx, &mut events, &sample(" HAAR")).await;
        assert_eq!((&again.key, again.reused), (&event.key, true));
        assert_eq!(
            again.header, event.header,
            "a reused blob's header comes with it"
        );
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_expired_blob_is_computed_again_when_asked_for_and_every_use_is_noted() {
        let uses = Uses::default();
        let (ctx, stop, task) = serving_with(uses.clone()).await;
        let mut events = ctx
            .bus
            .subscribe(ctx.subjects.prepared_any(), None)
            .await
            .unwrap();
        let now_ms = || jiff::Timestamp::now().as_millisecond();
        let before = now_ms();
        let first = prepared(&ctx, &mut events, &sample("haar")).await;
        assert!(ctx.store.exists(first.key.as_str()).await.unwrap());
        let used = uses.last(first.key.as_str());
        assert!(used >= Some(before), "a computed blob is noted as used");
        let retention = crate::retention::Retention {
            max_age: Duration::from_secs(60),
            max_bytes: u64::MAX,
            min_age: Duration::ZERO,
            every: Duration::from_secs(3600),
        };
        let later = jiff::Timestamp::now().as_millisecond() + 61_000;
        let swept = crate::retention::sweep(&ctx.store, &retention, &uses, later)
            .await
            .unwrap();
        assert_eq!(swept.deleted, 1);
        assert!(!ctx.store.exists(first.key.as_str()).await.unwrap());
        let again = prepared(&ctx, &mut events, &sample("haar")).await;
        assert_eq!((&again.key, again.reused), (&first.key, false));
        assert!(ctx.store.exists(first.key.as_str()).await.unwrap());
        let computed = uses.last(first.key.as_str());
        tokio::time::sleep(Duration::from_millis(5)).await;
        let reused = prepared(&ctx, &mut events, &sample("haar")).await;
        assert!(reused.reused);
        assert!(
            uses.last(first.key.as_str()) > computed,
            "a reused blob is noted as used"
        );
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_window_over_the_operator_s_limit_is_rejected_with_the_limit_named() {
        let (ctx, stop, task) = serving().await;
        let mut r = sample("haar");
        r.window = Some(1001);
        let RenderReply::Rejected { error, .. } = ask(&ctx, &r).await else {
            panic!("a window over MAX_WINDOW was accepted")
        };
        assert!(error.contains("at most 1000 (MAX_WINDOW)"), "{error}");
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn the_largest_request_the_limits_accept_fits_in_the_default_memory() {
        let mut r = sample("haar");
        r.window = Some(waveplot_protocol::request::MAX_WINDOW);
        let need = memory(&r, waveplot_protocol::request::MAX_LEVELS);
        assert!(scenes::wanted(&r, waveplot_protocol::request::MAX_WINDOW));
        assert!(
            need <= u64::from(DEFAULT_MEMORY_MIB) << 20,
            "{} MiB needed, {DEFAULT_MEMORY_MIB} MiB by default",
            need >> 20
        );
    }

    #[tokio::test]
    async fn a_request_needing_more_memory_than_prepare_has_is_rejected_with_both_named() {
        let (ctx, stop, task) = serving().await;
        let mut r = sample("haar");
        r.window = Some(1000);
        r.levels = Some(20);
        let RenderReply::Rejected { error, .. } = ask(&ctx, &r).await else {
            panic!("a request over PREPARE_MEMORY was accepted")
        };
        assert!(error.contains("need about 34 MiB"), "{error}");
        assert!(error.contains("33 MiB (PREPARE_MEMORY)"), "{error}");
        r.levels = Some(8);
        assert!(matches!(ask(&ctx, &r).await, RenderReply::Accepted { .. }));
        stop.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_unknown_wavelet_is_rejected_in_the_reply_and_nothing_is_published() {
        let (ctx, stop, task) = serving().await;
        let mut everything = ctx
            .bus
            .subscribe(ctx.subjects.everything(), None)
            .await
            .unwrap();
        let RenderReply::Rejected { error, .. } = ask(&ctx, &sample("db99")).await else {
            panic!("db99 was accepted")
        };
        assert!(error.contains("db99"), "{error}");
        stop.cancel();
        task.await.unwrap().unwrap();
        let mut published = Vec::new();
        while let Some(Some(m)) = futures::FutureExt::now_or_never(everything.next()) {
            if !m.subject.ends_with(".render") {
                published.push(m.subject);
            }
        }
        assert!(published.is_empty(), "{published:?}");
    }
}
