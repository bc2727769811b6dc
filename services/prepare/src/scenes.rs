//! The chart-ready form: for a large window, prepare records each requested PNG chart
//! as a scene ([`waveplot_protocol::Scene`]) while it still holds the whole analysis,
//! and stores it beside the blob; the plotters replay the scenes instead of reading the
//! blob, so their time and memory follow the charts' pixels, not the window's candles.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use waveplot_protocol::scene::MAX_SCENE_BYTES;
use waveplot_protocol::{Blob, BlobKey, ImageFormat, PlotId, RenderRequest, SceneKey};
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
/// (eight bytes a candle each), and the overview its high–low lines (twelve).
pub(crate) const BYTES_PER_CANDLE: u64 = RECORDERS as u64 * (5 * 8 + 12);

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

/// The charts of `request` that get scenes, for the blob at `key` of `candles` candles:
/// every chart it asks for when it asks for PNG and the window has at least
/// [`SCENES_FROM`] candles; none otherwise.
pub(crate) fn charts(request: &RenderRequest, key: &BlobKey, candles: u32) -> Vec<Chart> {
    if request.format != ImageFormat::Png || candles < SCENES_FROM {
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

/// Records the scenes of `charts` from `blob`, [`RECORDERS`] at a time, and returns
/// them encoded, in the order of `charts`. Fails if a chart cannot be recorded or its
/// scene would be larger than a plotter reads ([`MAX_SCENE_BYTES`]). Blocks: call it
/// off the async runtime.
pub(crate) fn record(
    blob: &Blob,
    charts: &[Chart],
    request: &RenderRequest,
) -> Result<Vec<Vec<u8>>> {
    let zone = request.tz.clone().unwrap_or_default();
    let one = |chart: &Chart| -> Result<Vec<u8>> {
        let scene = waveplot_plotter::scene(blob, chart.plot, chart.size, &zone)
            .with_context(|| format!("record chart {}", chart.plot))?;
        let bytes = scene.encode()?;
        let size = bytes.len() as u64;
        anyhow::ensure!(
            size <= MAX_SCENE_BYTES,
            "the scene of chart {} is {size} bytes; a plotter reads at most {MAX_SCENE_BYTES}",
            chart.plot
        );
        Ok(bytes)
    };
    let per_recorder = charts.len().div_ceil(RECORDERS).max(1);
    std::thread::scope(|s| {
        let recorders: Vec<_> = charts
            .chunks(per_recorder)
            .map(|chunk| s.spawn(move || chunk.iter().map(one).collect::<Result<Vec<_>>>()))
            .collect();
        let mut out = Vec::with_capacity(charts.len());
        for recorder in recorders {
            let scenes = recorder
                .join()
                .map_err(|_| anyhow::anyhow!("a scene recorder panicked"))??;
            out.extend(scenes);
        }
        Ok(out)
    })
}

/// Records the scenes of `charts` from `blob` off the async runtime and stores them;
/// `Ok(false)` when they could not be recorded (the plotters then draw from the blob,
/// as for a small window), an error when the store fails.
pub(crate) async fn record_and_store(
    store: &Store,
    blob: Arc<Blob>,
    charts: Vec<Chart>,
    request: &RenderRequest,
) -> Result<bool> {
    if charts.is_empty() {
        return Ok(false);
    }
    let (keys, request) = (charts.clone(), request.clone());
    let recorded = tokio::task::spawn_blocking(move || record(&blob, &charts, &request))
        .await
        .context("scene task")?;
    let scenes = match recorded {
        Ok(scenes) => scenes,
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "no scenes; the plotters draw from the blob"
            );
            return Ok(false);
        }
    };
    for (chart, bytes) in keys.iter().zip(scenes) {
        store
            .put(chart.key.as_str(), bytes.into())
            .await
            .context("store a scene")?;
    }
    Ok(true)
}

/// Whether every one of `charts` has a stored scene (charts of a reused blob).
pub(crate) async fn stored(store: &Store, charts: &[Chart]) -> Result<bool> {
    if charts.is_empty() {
        return Ok(false);
    }
    for chart in charts {
        if !store
            .exists(chart.key.as_str())
            .await
            .context("look for a scene")?
        {
            return Ok(false);
        }
    }
    Ok(true)
}
