//! Forged blobs: the warm-up blob re-encoded with a major schema version no reader
//! knows, stored where a request's blob is about to go (prepare must recompute it) or
//! announced in a `prepared` event under a key no chart exists for (every plotter must
//! fail with a reason naming the version).

use std::time::Duration;

use anyhow::{Context as _, Result};
use futures::StreamExt as _;
use serde_json::{Value, json};
use waveplot_protocol::blob::{MAGIC, SCHEMA_MAJOR};
use waveplot_protocol::{
    Blob, BlobKey, FailedEvent, ImageFormat, Interval, Message as _, PlotId, PrepareTimings,
    PreparedEvent, RenderRequest, RequestId, Source, Subjects, Symbol, V1, WindowId,
};
use waveplot_service::bus::Subscription;
use waveplot_service::{Bus, Store};
use waveplot_testkit::NatsUser;

use super::Warm;
use super::classify::Class;
use super::follow::follow;
use super::load::Shared;
use crate::stack::Stack;

/// A major schema version no reader knows.
const UNKNOWN_MAJOR: u64 = 99;

/// The blob `blob` re-encoded with an unknown major version (the rest is valid).
fn with_unknown_major(blob: &Blob) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, 6)?;
    rmp::encode::write_bin(&mut out, MAGIC)?;
    rmp::encode::write_uint(&mut out, UNKNOWN_MAJOR)?;
    rmp::encode::write_uint(&mut out, 0)?;
    let mut ser = rmp_serde::Serializer::new(&mut out).with_struct_map();
    serde::Serialize::serialize(&blob.header, &mut ser)?;
    serde::Serialize::serialize(&blob.candles, &mut ser)?;
    serde::Serialize::serialize(&blob.analysis, &mut ser)?;
    anyhow::ensure!(
        Blob::decode(&out).is_err() && UNKNOWN_MAJOR != u64::from(SCHEMA_MAJOR),
        "the re-encoded blob is still readable"
    );
    Ok(out)
}

/// The warm-up blob from `store`, re-encoded with an unknown major version.
async fn forged(store: &Store, warm: &Warm) -> Result<Vec<u8>> {
    let blob = store.get(&warm.key).await?.context("the warm-up blob")?;
    with_unknown_major(&Blob::decode(&blob)?)
}

/// A BTC 5m sample request (its window left to the caller).
fn btc_sample() -> Result<RenderRequest> {
    let mut request = RenderRequest::new(
        RequestId::generate(),
        Symbol::parse("BTCUSDT")?,
        Interval::M5,
    );
    request.source = Source::Sample;
    Ok(request)
}

/// The content-addressed key of `request`'s blob of `candles` ending where the warm-up
/// window ends.
fn window_key(request: &RenderRequest, warm: &Warm, candles: u32) -> BlobKey {
    BlobKey::for_window(&WindowId {
        symbol: &request.symbol,
        interval: request.interval,
        source: &request.source,
        end_open_ms: warm.last_open_ms,
        candles,
        params: &request.params(),
    })
}

/// The BTC 5m sample request of `window` candles with a fresh anomaly factor, and the
/// content-addressed key its blob will have.
fn sample_request(shared: &Shared, warm: &Warm, window: u32) -> Result<(Value, BlobKey)> {
    let body = shared.unique(
        &json!({"symbol": "BTCUSDT", "interval": "5m", "source": "sample", "window": window}),
    );
    let mut request = btc_sample()?;
    request.window = Some(window);
    request.anomaly_k = body["anomaly_k"].as_f64();
    let key = window_key(&request, warm, window);
    Ok((body, key))
}

/// Stores an unknown-major blob where a request's blob will go, sends the request, and
/// checks that prepare computed a fresh blob and every chart was drawn.
pub(super) fn unknown_major_recomputed(
    stack: &Stack,
    shared: &Shared,
    http: &reqwest::blocking::Client,
    warm: &Warm,
) -> Result<String> {
    let (body, key) = sample_request(shared, warm, 600)?;
    stack.runtime.block_on(async {
        let store = stack.system.store().await?;
        let bad = forged(&store, warm).await?;
        store.put(key.as_str(), bad.into()).await?;
        anyhow::Ok(())
    })?;
    let (class, st) = follow(http, shared, &body);
    shared.record(6, class.clone());
    anyhow::ensure!(
        matches!(class, Class::Complete),
        "the render did not complete: {class:?}"
    );
    let prepared = &st["prepared"];
    anyhow::ensure!(
        prepared["key"] == key.as_str() && prepared["reused"] == false,
        "prepare did not recompute the blob at {key}: {prepared}"
    );
    Ok(format!("{key} recomputed; six charts done"))
}

/// Stores an unknown-major blob under a key no chart exists for, publishes a `prepared`
/// event for it, and waits for every plotter's `failed` event.
pub(super) async fn unknown_major_refused(stack: &Stack, warm: &Warm) -> Result<String> {
    let nats = &stack.system.nats;
    let (url, observer, prepare) = (
        nats.url(),
        nats.login(NatsUser::Observer),
        nats.login(NatsUser::Prepare),
    );
    let bus = Bus::connect(&url, observer.as_ref(), "waveplot-bench-faults").await?;
    let forger = Bus::connect(&url, prepare.as_ref(), "waveplot-bench-faults").await?;
    let store = stack.system.store().await?;
    let bad = forged(&store, warm).await?;
    let request = btc_sample()?;
    // A window no render uses, so no chart of it exists and every plotter reads the blob.
    let candles = 601;
    let key = window_key(&request, warm, candles);
    store.put(key.as_str(), bad.into()).await?;
    let subjects = Subjects::default();
    let mut failed = bus
        .subscribe(format!("{}.failed.plot", subjects.prefix()), None)
        .await?;
    bus.flush().await?;
    let event = prepared_event(&request, key, candles, warm);
    forger.send(&subjects, &event).await?;
    let reasons = refusals(&mut failed, &request.request_id).await?;
    let unclear: Vec<_> = reasons
        .iter()
        .filter(|(_, r)| !r.contains("not supported"))
        .collect();
    anyhow::ensure!(
        unclear.is_empty(),
        "reasons that do not name the version: {unclear:?}"
    );
    Ok(format!(
        "6 plotters refused it, e.g. \"{}\"",
        reasons[0].1.chars().take(100).collect::<String>()
    ))
}

/// The `prepared` event of `request`'s blob at `key`, for every chart, as if reused.
fn prepared_event(
    request: &RenderRequest,
    key: BlobKey,
    candles: u32,
    warm: &Warm,
) -> PreparedEvent {
    PreparedEvent {
        v: V1,
        request_id: request.request_id.clone(),
        symbol: request.symbol.clone(),
        interval: request.interval,
        source: request.source.clone(),
        key,
        candles,
        first_open_ms: warm.first_open_ms,
        last_open_ms: warm.last_open_ms,
        backend: waveplot_protocol::blob::Backend::Cpu,
        device: "waveplot-bench".into(),
        reused: true,
        plots: PlotId::ALL.to_vec(),
        width: None,
        height: None,
        format: ImageFormat::Png,
        tz: None,
        timings_ms: PrepareTimings::default(),
        header: None,
        scenes: None,
    }
}

/// The reason of every plotter's `failed` event for `request_id`, waited for up to 15 s.
async fn refusals(
    failed: &mut Subscription,
    request_id: &RequestId,
) -> Result<Vec<(Option<PlotId>, String)>> {
    let mut reasons = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(15), async {
        while reasons.len() < PlotId::ALL.len() {
            let Some(m) = failed.next().await else {
                break;
            };
            if let Ok(e) = FailedEvent::decode(&m.payload) {
                if e.request_id.as_ref() == Some(request_id) {
                    reasons.push((e.plot_id, e.reason));
                }
            }
        }
    })
    .await;
    anyhow::ensure!(
        waited.is_ok() && reasons.len() == PlotId::ALL.len(),
        "{} of 6 plotters reported a failure within 15 s: {reasons:?}",
        reasons.len()
    );
    Ok(reasons)
}
