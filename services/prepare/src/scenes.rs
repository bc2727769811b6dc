//! The chart-ready form: for a large window, prepare records each requested PNG chart
//! as a scene ([`waveplot_protocol::Scene`]) while it still holds the whole analysis,
//! and stores it beside the blob; the plotters replay the scenes instead of reading the
//! blob, so their time and memory follow the charts' pixels, not the window's candles.

use std::sync::Arc;

use anyhow::Result;
use tokio::sync::mpsc;
use waveplot_protocol::scene::{MAX_SCENE_BYTES, SCENE_VERSION};
use waveplot_protocol::{
    Blob, BlobKey, ImageFormat, PlotId, RenderRequest, SceneKey, Scenes, TimeZone,
};
use waveplot_service::Store;

/// Windows of this many candles or more get scenes. A smaller blob is a few MB at
/// most, which a plotter reads whole in one request, and its charts take milliseconds:
/// recording them in prepare would only lengthen the path to the first chart, which
/// six plotters draw side by side.
pub(crate) const SCENES_FROM: u32 = 16_384;

/// Charts recorded at the same time: the charts of one render share the cores.
const RECORDERS: usize = 2;

/// Memory recording takes besides the blob, in bytes a candle: each of the
/// [`RECORDERS`] charts holds the window's times and up to four series it derives
/// (eight bytes a candle each), and the overview its high–low lines (twelve bytes a
/// line, in a list that may have grown to twice that). The scenes themselves are
/// stored as they are recorded, a few at a time, each at most [`MAX_SCENE_BYTES`].
pub(crate) const BYTES_PER_CANDLE: u64 = RECORDERS as u64 * 5 * 8 + 24;

/// Whether a render of `candles` candles gets scenes: PNG charts of a window of at
/// least [`SCENES_FROM`] candles.
pub(crate) fn wanted(request: &RenderRequest, candles: u32) -> bool {
    request.format == ImageFormat::Png && candles >= SCENES_FROM
}

/// A chart a render asks for, as a scene would draw it.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    /// Which chart.
    pub(crate) plot: PlotId,
    /// Its size in pixels.
    pub(crate) size: (u32, u32),
    /// Where its scene is stored.
    pub(crate) key: SceneKey,
}

/// The charts of `request` that get scenes ([`wanted`]), for the blob at `key` of
/// `candles` candles.
pub(crate) fn charts(request: &RenderRequest, key: &BlobKey, candles: u32) -> Vec<Chart> {
    if !wanted(request, candles) {
        return Vec::new();
    }
    let zone = request.tz.clone().unwrap_or_default();
    request
        .plots
        .iter()
        .map(|&plot| {
            let size = plot.size_for(request.width, request.height);
            Chart {
                plot,
                size,
                key: key.scene_key(plot, size, &zone),
            }
        })
        .collect()
}

/// Records the scenes of `charts` from `blob` with times in `zone`, [`RECORDERS`] at a
/// time, and sends each, encoded and with its place in `charts`, to `out` as soon as it
/// is recorded. Fails if a chart cannot be recorded, or its scene is one a plotter
/// would refuse ([`Scene::check`](waveplot_protocol::Scene::check), larger than
/// [`MAX_SCENE_BYTES`]). Stops early, without an error, when `out` is closed. Blocks:
/// call it off the async runtime.
fn record(
    blob: &Blob,
    charts: &[Chart],
    zone: &TimeZone,
    out: mpsc::Sender<(usize, Vec<u8>)>,
) -> Result<()> {
    let one = |chart: &Chart| -> Result<Vec<u8>> {
        let scene = waveplot_plotter::scene(blob, chart.plot, chart.size, zone)?;
        scene.check()?;
        let bytes = scene.encode()?;
        let size = bytes.len() as u64;
        anyhow::ensure!(
            size <= MAX_SCENE_BYTES,
            "the scene is {size} bytes; a plotter reads at most {MAX_SCENE_BYTES}"
        );
        Ok(bytes)
    };
    std::thread::scope(|s| {
        let recorders: Vec<_> = (0..RECORDERS)
            .map(|first| {
                let out = out.clone();
                s.spawn(move || -> Result<()> {
                    for (i, chart) in charts.iter().enumerate().skip(first).step_by(RECORDERS) {
                        let bytes = one(chart)
                            .map_err(|e| e.context(format!("record chart {}", chart.plot)))?;
                        if out.blocking_send((i, bytes)).is_err() {
                            break;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        drop(out);
        // Every recorder joined before any result is looked at.
        let results: Vec<Result<()>> = recorders
            .into_iter()
            .map(|r| {
                r.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a scene recorder panicked")))
            })
            .collect();
        results.into_iter().collect()
    })
}

/// Records the scenes of `charts` from `blob` with times in `zone` off the async
/// runtime and stores each as it comes. The scenes are optional: when one cannot be
/// recorded or stored, that is logged and `None` returned, and the plotters draw from
/// the blob, as for a small window.
pub(crate) async fn record_and_store(
    store: &Store,
    blob: Arc<Blob>,
    charts: Vec<Chart>,
    zone: TimeZone,
) -> Option<Scenes> {
    if charts.is_empty() {
        return None;
    }
    let keys: Vec<SceneKey> = charts.iter().map(|c| c.key.clone()).collect();
    // One scene waits while another is stored: the recorders never run far ahead.
    let (out, mut scenes) = mpsc::channel(1);
    let recording = tokio::task::spawn_blocking(move || record(&blob, &charts, &zone, out));
    let (mut stored, mut largest, mut failed) = (0, 0, None);
    while let Some((i, bytes)) = scenes.recv().await {
        largest = u64::max(largest, bytes.len() as u64);
        match store.put(keys[i].as_str(), bytes.into()).await {
            Ok(()) => stored += 1,
            Err(e) => {
                failed = Some(anyhow::Error::new(e).context("store a scene"));
                break;
            }
        }
    }
    drop(scenes);
    let recorded = match recording.await {
        Ok(recorded) => recorded,
        Err(e) => Err(anyhow::Error::new(e).context("scene task")),
    };
    let outcome = failed.map_or(recorded, Err).and_then(|()| {
        anyhow::ensure!(
            stored == keys.len(),
            "{stored} of {} scenes stored",
            keys.len()
        );
        Ok(())
    });
    match outcome {
        Ok(()) => Some(Scenes {
            version: SCENE_VERSION,
            largest_bytes: largest,
        }),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "no scenes; the plotters draw from the blob"
            );
            None
        }
    }
}

/// The scenes of `charts`, if every one is stored (charts of a reused blob); `None`
/// otherwise, or when the store cannot say (logged).
pub(crate) async fn stored(store: &Store, charts: &[Chart]) -> Option<Scenes> {
    if charts.is_empty() {
        return None;
    }
    let mut largest = 0;
    for chart in charts {
        match store.size(chart.key.as_str()).await {
            Ok(Some(size)) => largest = u64::max(largest, size),
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    key = %chart.key,
                    "cannot look for a scene; the plotters draw from the blob"
                );
                return None;
            }
        }
    }
    Some(Scenes {
        version: SCENE_VERSION,
        largest_bytes: largest,
    })
}
