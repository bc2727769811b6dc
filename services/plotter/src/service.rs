//! The plotter service on the bus: for every `prepared` event that asks for this
//! instance's chart, read the parts of the blob it draws as they stream in and draw
//! the chart (both off the async runtime), store the image under its
//! content-addressed key (reusing it when it already exists) and announce it with a
//! `done` event. Replicas of one plot ID share one durable consumer of the event
//! stream ([`consumer_name`]), so each chart is drawn once however many boards run
//! it, and an event waits in the stream while none runs. A failure of the store is
//! tried again (see [`waveplot_service::serve`](mod@waveplot_service::serve)); any other failure, and the last
//! try, becomes a `failed` event with the reason.

use std::cell::RefCell;
use std::io::Read;
use std::ops::Range;
use std::rc::Rc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use tokio_util::sync::CancellationToken;
use waveplot_protocol::blob::{Header, Index, Parts, TAIL_BYTES};
use waveplot_protocol::scene::{MAX_SCENE_BYTES, SCENE_VERSION};
use waveplot_protocol::{
    Blob, BlobError, DoneEvent, ImageFormat, Message, PlotId, PlotKey, PreparedEvent, RequestId,
    Scene, SceneKey, Scenes, Stage, Subjects, V1,
};
use waveplot_service::bus::Message as BusMessage;
use waveplot_service::health::Readiness;
use waveplot_service::{Capacity, Context, Failure, Handler, Store, Subscription};

use crate::{RenderOptions, memory, parts, render, render_scene, scene_memory};

/// How the service works.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The chart this instance draws.
    pub plot: PlotId,
    /// Charts drawn at the same time.
    pub concurrency: usize,
    /// MiB the charts drawn at the same time may take together, by
    /// [`memory`]'s estimate; a chart estimated above it is refused.
    pub memory_mib: u32,
}

/// Windows of this many candles or more are read section by section (blobs of about
/// 4 MiB and up); smaller ones whole, in one read of the store, which costs less than
/// the two it takes to find the sections first. A blob read whole is decoded through
/// its index all the same: the sections the chart does not draw are never parsed.
pub const SECTIONS_FROM: u32 = 16_384;

/// The most bytes a blob read whole may have: one of fewer than [`SECTIONS_FROM`]
/// candles at the most levels takes under 8 MiB (about 470 bytes a candle).
const SMALL_BLOB_BYTES: u64 = 8 << 20;

/// The default of [`Settings::memory_mib`]: room for the largest chart the request
/// limits allow (a million candles at 20 levels, 4800×3600: about 455 MiB).
pub const DEFAULT_MEMORY_MIB: u32 = 512;

/// The durable consumer that all replicas drawing `plot` share: `plot-01` …
pub fn consumer_name(plot: PlotId) -> String {
    format!("plot-{plot}")
}

/// Serves `prepared` events until `shutdown`, then lets the charts in flight finish.
/// Returns an error only if the bus subscription is lost.
pub async fn run(
    ctx: Context,
    settings: Settings,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<()> {
    let handler = Plotter {
        ctx: ctx.clone(),
        plot: settings.plot,
        memory_mib: settings.memory_mib,
    };
    let capacity = Capacity {
        slots: settings.concurrency,
        memory_mib: settings.memory_mib,
    };
    waveplot_service::serve(ctx, handler, capacity, readiness, shutdown).await
}

/// `prepared` events in, charts and `done` events out.
struct Plotter {
    ctx: Context,
    plot: PlotId,
    memory_mib: u32,
}

impl Handler for Plotter {
    type Job = PreparedEvent;
    type Event = DoneEvent;

    fn subscription(&self, subjects: &Subjects) -> Subscription {
        Subscription::Events {
            consumer: consumer_name(self.plot),
            filter: subjects.prepared_any(),
        }
    }

    fn origin(&self) -> (Stage, Option<PlotId>) {
        (Stage::Plot, Some(self.plot))
    }

    /// Takes the events that ask for this chart; a malformed one fails the request it
    /// names, if it names one, and so does a chart that needs more memory than this
    /// plotter has.
    async fn accept(&self, message: BusMessage) -> Result<Option<PreparedEvent>, Failure> {
        match PreparedEvent::decode(&message.payload) {
            Ok(event) if !event.plots.contains(&self.plot) => Ok(None),
            Ok(event) => {
                let need = self.memory(&event).div_ceil(1 << 20);
                if need > u64::from(self.memory_mib) {
                    let (w, h) = self.plot.size_for(event.width, event.height);
                    let error = anyhow::anyhow!(
                        "chart {} of {} candles at {w}×{h} needs about {need} MiB; this plotter draws in {} MiB (PLOT_MEMORY)",
                        self.plot,
                        event.candles,
                        self.memory_mib
                    );
                    return Err(Failure::new(Some(event.request_id), error));
                }
                Ok(Some(event))
            }
            Err(e) => {
                tracing::warn!(subject = %message.subject, error = %e, "malformed prepared event");
                Err(Failure::new(
                    RequestId::find_in(&message.payload),
                    anyhow::Error::new(e).context("malformed prepared event"),
                ))
            }
        }
    }

    /// A chart replayed from its scene takes what its pixels and the largest scene of
    /// the event take ([`scene_memory`]), whatever the window; one drawn from the blob
    /// [`Plotter::blob_memory`].
    fn memory(&self, event: &PreparedEvent) -> u64 {
        let size = self.plot.size_for(event.width, event.height);
        match replays(event, self.plot) {
            Some(scenes) => scene_memory(size, scenes.largest_bytes),
            None => self.blob_memory(event, size),
        }
    }

    async fn work(&self, event: PreparedEvent) -> Result<DoneEvent, Failure> {
        let (done, read) = self
            .draw(&event)
            .await
            .map_err(|e| Failure::new(Some(event.request_id.clone()), e))?;
        tracing::info!(request_id = %done.request_id, plot = %self.plot, bytes = done.bytes, render_ms = done.render_ms, reused = done.reused, read, "chart stored");
        Ok(done)
    }
}

impl Plotter {
    /// [`memory`](crate::memory) of the event's window at `size`; an event without the
    /// blob's header (from an older prepare) counts every level there can be.
    fn blob_memory(&self, event: &PreparedEvent, size: (u32, u32)) -> u64 {
        memory(self.plot, event.candles, self.levels(event), size)
    }

    /// The levels the blob of `event` has, as the event says; every level there can be
    /// when it does not say (an event from an older prepare).
    fn levels(&self, event: &PreparedEvent) -> u32 {
        event
            .header
            .as_ref()
            .map_or(waveplot_protocol::request::MAX_LEVELS, |h| h.levels_used)
    }

    /// Draws and stores the chart of `event`, or finds it stored; returns its event and
    /// how it was drawn (`scene`; from the blob read in `sections` or `whole`; or
    /// `none` for a stored chart).
    async fn draw(&self, event: &PreparedEvent) -> Result<(DoneEvent, &'static str)> {
        let (width, height) = self.plot.size_for(event.width, event.height);
        let zone = event.tz.clone().unwrap_or_default();
        let key = event
            .key
            .plot_key(self.plot, (width, height), event.format, &zone);
        let store = &self.ctx.store;
        let started = Instant::now();
        let done = |bytes: u64, render_ms: f64, store_ms: f64, reused: bool| DoneEvent {
            v: V1,
            request_id: event.request_id.clone(),
            plot_id: self.plot,
            key: key.clone(),
            blob_key: event.key.clone(),
            format: event.format,
            width,
            height,
            bytes,
            render_ms,
            store_ms,
            reused,
        };
        // A blob prepare has just computed has no stored charts yet, or only ones that
        // outlived an earlier blob at its key (swept, unreadable or of an older
        // version), which are better drawn again from the new one: only a reused
        // blob's charts are looked for, which saves a request per chart.
        if event.reused
            && let Some(size) = store
                .size(key.as_str())
                .await
                .context("look for an existing chart")?
        {
            return Ok((done(size, 0.0, ms(started), true), "none"));
        }
        if let Some(scenes) = replays(event, self.plot) {
            let scene_key = event.key.scene_key(self.plot, (width, height), &zone);
            match self.replay(&scene_key, (width, height)).await {
                Ok((image, render_ms)) => {
                    let fetch_ms = ms(started) - render_ms;
                    let (size, store_ms) = self.store(&key, image).await?;
                    return Ok((done(size, render_ms, fetch_ms + store_ms, false), "scene"));
                }
                // Memory was set aside for the scene: the blob is read only if drawing
                // from it fits in that.
                Err(e) => {
                    let set_aside = scene_memory((width, height), scenes.largest_bytes);
                    let need = self.blob_memory(event, (width, height));
                    if need > set_aside {
                        return Err(e.context(format!(
                            "drawing the chart from the blob instead needs about {} MiB, more than the {} MiB set aside for its scene",
                            need >> 20,
                            set_aside >> 20
                        )));
                    }
                    tracing::warn!(key = %scene_key, error = format!("{e:#}"), "the chart's scene cannot be replayed; drawing it from the blob");
                }
            }
        }
        // A small blob costs less to read whole than to look up its sections.
        let (index, whole) = if event.candles < SECTIONS_FROM {
            (None, Whole::default())
        } else {
            let tail = store
                .get_suffix(event.key.as_str(), TAIL_BYTES)
                .await
                .context("fetch the blob's index")?
                .with_context(|| format!("the blob {} is not in the store", event.key))?;
            let index =
                Index::from_tail(&tail.bytes, tail.size).context("read the blob's index")?;
            let whole = Whole {
                size: tail.size,
                etag: tail.etag,
            };
            (index, whole)
        };
        let (plot, options) = (
            self.plot,
            RenderOptions {
                width,
                height,
                format: event.format,
                zone,
            },
        );
        let read = if index.is_some() { "sections" } else { "whole" };
        let (event_candles, event_levels) = (event.candles, self.levels(event));
        let (source, blob_key) = (store.clone(), event.key.clone());
        // Only the series this chart draws are read, each decoded as it streams in.
        let (image, render_ms) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, f64)> {
            let planned = (event_candles, event_levels);
            let (blob, _) = read_parts(
                &source,
                blob_key.as_str(),
                (index.as_ref(), &whole),
                plot,
                planned,
            )?;
            let rendering = Instant::now();
            let image = render(&blob, plot, &options).context("draw the chart")?;
            Ok((image, ms(rendering)))
        })
        .await
        .context("chart task")??;
        // Fetching and decoding overlap; both count as the store's time.
        let fetch_ms = ms(started) - render_ms;
        let (size, store_ms) = self.store(&key, image).await?;
        Ok((done(size, render_ms, fetch_ms + store_ms, false), read))
    }

    /// Reads the scene at `key` (at most [`MAX_SCENE_BYTES`]) and replays it off the
    /// async runtime, if it is of this chart at `size`; returns the image and the
    /// milliseconds replaying took.
    async fn replay(&self, key: &SceneKey, size: (u32, u32)) -> Result<(Vec<u8>, f64)> {
        let plot = self.plot;
        let (bytes, _) = self
            .ctx
            .store
            .get_prefix(key.as_str(), MAX_SCENE_BYTES + 1)
            .await
            .context("fetch the chart's scene")?
            .with_context(|| format!("the chart's scene {key} is not in the store"))?;
        tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, f64)> {
            let started = Instant::now();
            let scene = Scene::decode(&bytes).context("read the chart's scene")?;
            anyhow::ensure!(
                scene.plot == plot && (scene.width, scene.height) == size,
                "the scene is of chart {} at {}×{}, not of chart {plot} at {}×{}",
                scene.plot,
                scene.width,
                scene.height,
                size.0,
                size.1
            );
            let image = render_scene(&scene).context("draw the chart's scene")?;
            Ok((image, ms(started)))
        })
        .await
        .context("chart task")?
    }

    /// Stores `image` at `key`; returns its size and the milliseconds storing took.
    async fn store(&self, key: &PlotKey, image: Vec<u8>) -> Result<(u64, f64)> {
        let size = image.len() as u64;
        let storing = Instant::now();
        self.ctx
            .store
            .put(key.as_str(), image.into())
            .await
            .context("store the chart")?;
        Ok((size, ms(storing)))
    }
}

/// The scenes chart `plot` of `event` is replayed from: prepare stored the scenes of
/// the event's charts (PNG only) in the version this plotter replays, this chart's
/// among them.
fn replays(event: &PreparedEvent, plot: PlotId) -> Option<&Scenes> {
    let scenes = event.scenes.as_ref()?;
    let replayed = scenes.version == SCENE_VERSION && event.format == ImageFormat::Png;
    (replayed && scenes.has(plot)).then_some(scenes)
}

/// The blob an index was read from: every range read is tied to it.
#[derive(Debug, Default)]
struct Whole {
    /// Its size in bytes.
    size: u64,
    /// Its entity tag, when the store gives one.
    etag: Option<String>,
}

/// Reads the parts of the blob at `key` that chart `plot` draws, refusing a blob larger
/// than the `(candles, levels)` its event announced: with the blob's `index`, the byte
/// ranges of those series ([`Ranges`]) of the very blob the index came from (`whole`:
/// a blob replaced meanwhile is refused, not mixed with the old one's offsets); without
/// one (a small blob), the whole blob in one read, decoded by the index it holds
/// ([`Blob::decode_parts_in`]). Blocks on the store:
/// call it off the async runtime, from a thread the runtime started.
fn read_parts(
    store: &Store,
    key: &str,
    (index, whole): (Option<&Index>, &Whole),
    plot: PlotId,
    (candles, levels): (u32, u32),
) -> Result<(Blob, Parts)> {
    let runtime = tokio::runtime::Handle::current();
    let choose = |header: &Header| {
        if header.candles > candles || header.levels_used > levels {
            return Err(BlobError::Inconsistent(format!(
                "the blob holds {} candles at {} levels; its event announced {candles} at {levels}, and memory was set aside for that",
                header.candles, header.levels_used
            )));
        }
        Ok(parts(plot, header))
    };
    let read = match index {
        Some(index) => {
            let ranges = Ranges {
                store,
                key,
                whole,
                runtime,
                current: Rc::default(),
            };
            Blob::decode_sections(index, choose, |range| ranges.open(range))
        }
        None => {
            let (bytes, size) = runtime
                .block_on(store.get_prefix(key, SMALL_BLOB_BYTES))
                .context("fetch the blob")?
                .with_context(|| format!("the blob {key} is not in the store"))?;
            anyhow::ensure!(
                size <= SMALL_BLOB_BYTES,
                "the blob {key} is {size} bytes; one of fewer than {SECTIONS_FROM} candles, which its event announced, is at most {SMALL_BLOB_BYTES}"
            );
            Blob::decode_parts_in(&bytes, choose)
        }
    };
    read.context("read the blob")
}

/// Ranges of a blob read in increasing order with as few reads of the store as it
/// takes: a range that starts less than [`Ranges::GAP`] after where the current read
/// stands continues it, skipping the bytes between; one further on starts a new read
/// there, to the blob's end, which is dropped when a later range is further still.
/// Every read of the store costs a round trip; skipping a small gap costs less.
struct Ranges<'s> {
    store: &'s Store,
    key: &'s str,
    /// The blob's size and entity tag.
    whole: &'s Whole,
    runtime: tokio::runtime::Handle,
    current: Rc<RefCell<Option<Cursor>>>,
}

/// A read of the store in progress, and the blob offset it stands at.
struct Cursor {
    at: u64,
    reader: Box<dyn Read + Send>,
}

/// One range, read from the shared [`Cursor`].
struct Section {
    cursor: Rc<RefCell<Option<Cursor>>>,
    left: u64,
}

impl Ranges<'_> {
    /// Bytes skipped rather than starting a new read: about what the store sends in the
    /// time a round trip takes.
    const GAP: u64 = 4 << 20;

    /// A reader of `range`, which starts at or after every range opened before.
    fn open(&self, range: Range<u64>) -> Result<Section, BlobError> {
        let mut current = self.current.borrow_mut();
        let gap = current
            .as_ref()
            .and_then(|c| range.start.checked_sub(c.at))
            .filter(|&gap| gap < Self::GAP);
        match (current.as_mut(), gap) {
            (Some(cursor), Some(gap)) => {
                let skipped =
                    std::io::copy(&mut (&mut cursor.reader).take(gap), &mut std::io::sink())
                        .map_err(BlobError::Read)?;
                cursor.at += skipped;
            }
            _ => {
                let object = self
                    .runtime
                    .block_on(self.store.get_range_stream(
                        self.key,
                        range.start..self.whole.size,
                        self.whole.etag.as_deref(),
                    ))
                    .map_err(std::io::Error::other)
                    .and_then(|o| o.ok_or_else(|| std::io::Error::other("the blob is gone")))
                    .map_err(BlobError::Read)?;
                *current = Some(Cursor {
                    at: range.start,
                    reader: Box::new(object.into_reader()),
                });
            }
        }
        Ok(Section {
            cursor: self.current.clone(),
            left: range.end - range.start,
        })
    }
}

impl Read for Section {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut current = self.cursor.borrow_mut();
        let Some(cursor) = current.as_mut() else {
            return Ok(0);
        };
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = cursor.reader.read(&mut buf[..want])?;
        cursor.at += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture blob, encoded as prepare stores it (with its section index).
    fn stored_blob() -> (Vec<u8>, Header) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/BTCUSDT-5m-864.msgpack"
        );
        let blob = Blob::decode(&std::fs::read(path).unwrap()).unwrap();
        (blob.encode().unwrap(), blob.header)
    }

    /// `read_parts` with the index and entity tag read from the blob stored at `key`
    /// now, after `meanwhile` has run.
    async fn read_after(
        store: &Store,
        key: &'static str,
        header: &Header,
        meanwhile: impl std::future::Future<Output = ()>,
    ) -> Result<(Blob, Parts)> {
        let tail = store.get_suffix(key, TAIL_BYTES).await?.unwrap();
        let index = Index::from_tail(&tail.bytes, tail.size)?.expect("an index");
        let whole = Whole {
            size: tail.size,
            etag: tail.etag,
        };
        meanwhile.await;
        let (store, planned) = (store.clone(), (header.candles, header.levels_used));
        tokio::task::spawn_blocking(move || {
            read_parts(&store, key, (Some(&index), &whole), PlotId::Bands, planned)
        })
        .await?
    }

    #[tokio::test]
    async fn sections_are_read_from_the_blob_the_index_came_from_or_not_at_all() {
        let store = Store::memory();
        let key = "analysis/BTCUSDT/5m/1-864-0123456789abcdef.msgpack";
        let (bytes, header) = stored_blob();
        store.put(key, bytes.clone().into()).await.unwrap();
        let (blob, _) = read_after(&store, key, &header, async {}).await.unwrap();
        assert_eq!(blob.header.candles, header.candles);

        let replaced = read_after(&store, key, &header, async {
            store.put(key, bytes.clone().into()).await.unwrap();
        })
        .await
        .map(drop)
        .expect_err("a blob replaced after its index was read");
        assert!(
            format!("{replaced:#}").contains("changed while it was read"),
            "{replaced:#}"
        );
    }
}
