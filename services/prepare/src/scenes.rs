//! The chart-ready form: for a large window, prepare records each requested PNG chart
//! as a scene ([`waveplot_protocol::Scene`]) while it still holds the whole analysis,
//! and stores it beside the blob; the plotters replay the scenes instead of reading the
//! blob, so their time and memory follow the charts' pixels, not the window's candles.

use std::sync::Arc;

use anyhow::Result;
use tokio::sync::mpsc;
use waveplot_protocol::blob::BlobView;
use waveplot_protocol::scene::SCENE_VERSION;
use waveplot_protocol::{BlobKey, ImageFormat, PlotId, RenderRequest, SceneKey, Scenes, TimeZone};
use waveplot_service::Store;

use crate::analysis::Analysed;

/// Windows of this many candles or more get scenes. A smaller blob is a few MB at
/// most, which a plotter reads whole in one request, and its charts take milliseconds:
/// recording them in prepare would only lengthen the path to the first chart, which
/// six plotters draw side by side.
pub(crate) const SCENES_FROM: u32 = 16_384;

/// Charts recorded at the same time. Two: the blob's upload (encoding here, hashing
/// and writing in the S3 server) shares the cores with the recorders, but it ends
/// before the scenes do, and one recorder then drew the rest of the charts on one core
/// while the other idled. Two split the six charts about evenly (by the order of
/// `plots`, the recorders take every other chart) and hold the window's series twice.
/// Measured on a 2-core x86_64 VM (Intel Xeon) with the bench's million-candle window,
/// five runs each, one build after the other: 1 377–1 810 ms cold with two recorders
/// against 1 462–1 929 with one (the two faster in four runs of five, by 74 ms at the
/// median), prepare's peak 341–354 MiB against 324–334; 100 000 candles took as long
/// (212–247 ms against 210–263).
const RECORDERS: usize = 2;

/// Memory recording takes besides the blob, in bytes a candle: each of the
/// [`RECORDERS`] charts holds the window's times and up to four series it derives
/// (eight bytes a candle each), and the overview its high–low lines (twelve bytes a
/// line, in a list that may have grown to twice that). The scenes themselves are
/// stored as they are recorded, a few at a time, each at most
/// [`MAX_SCENE_BYTES`](waveplot_protocol::scene::MAX_SCENE_BYTES).
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

/// What becomes of one chart's scene: its encoded bytes, or why it has none.
type Recorded = (usize, Result<Vec<u8>>);

/// Records the scenes of `charts` from `blob` with times in `zone`, [`RECORDERS`] at a
/// time, and sends each, with its place in `charts`, to `out` as soon as it is
/// recorded: encoded, or why it cannot be (the chart cannot be recorded, or its scene
/// is one a plotter would refuse: [`Scene::check`](waveplot_protocol::Scene::check),
/// larger than `max_bytes`). Stops early when `out` is closed. Fails only if a
/// recorder panicked. Blocks: call it off the async runtime.
fn record(
    blob: BlobView<'_>,
    charts: &[Chart],
    zone: &TimeZone,
    max_bytes: u64,
    out: mpsc::Sender<Recorded>,
) -> Result<()> {
    let one = |chart: &Chart| -> Result<Vec<u8>> {
        let scene = waveplot_plotter::scene(blob, chart.plot, chart.size, zone)?;
        scene.check()?;
        let bytes = scene.encode()?;
        let size = bytes.len() as u64;
        anyhow::ensure!(
            size <= max_bytes,
            "the scene is {size} bytes; a plotter reads at most {max_bytes}"
        );
        Ok(bytes)
    };
    std::thread::scope(|s| {
        let recorders: Vec<_> = (0..RECORDERS)
            .map(|first| {
                let out = out.clone();
                s.spawn(move || {
                    for (i, chart) in charts.iter().enumerate().skip(first).step_by(RECORDERS) {
                        if out.blocking_send((i, one(chart))).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(out);
        // Every recorder joined before any result is looked at.
        let panicked = recorders
            .into_iter()
            .map(std::thread::ScopedJoinHandle::join)
            .filter(Result::is_err)
            .count();
        anyhow::ensure!(panicked == 0, "{panicked} scene recorders panicked");
        Ok(())
    })
}

/// Records the scenes of `charts` from `blob` with times in `zone` off the async
/// runtime and stores each as it comes. The scenes are optional. A chart whose scene
/// cannot be recorded within a scene's limits (at most `max_bytes`) is logged and
/// named in [`Scenes::without`]: its plotter draws it from the blob. When no chart has
/// a scene, or one cannot be stored, that is logged and `None` returned, and the
/// plotters draw from the blob, as for a small window.
pub(crate) async fn record_and_store(
    store: &Store,
    blob: Arc<Analysed>,
    charts: Vec<Chart>,
    zone: TimeZone,
    max_bytes: u64,
) -> Option<Scenes> {
    if charts.is_empty() {
        return None;
    }
    let plots: Vec<(PlotId, SceneKey)> = charts.iter().map(|c| (c.plot, c.key.clone())).collect();
    // One scene waits while another is stored: the recorders never run far ahead.
    let (out, mut scenes) = mpsc::channel(1);
    let recording =
        tokio::task::spawn_blocking(move || record(blob.view(), &charts, &zone, max_bytes, out));
    let (mut stored, mut largest, mut without, mut failed) = (0, 0, Vec::new(), None);
    while let Some((i, recorded)) = scenes.recv().await {
        let (plot, key) = &plots[i];
        let bytes = match recorded {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(plot = %plot, error = format!("{e:#}"), "no scene for this chart; its plotter draws it from the blob");
                without.push(*plot);
                continue;
            }
        };
        largest = u64::max(largest, bytes.len() as u64);
        match store.put(key.as_str(), bytes.into()).await {
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
        anyhow::ensure!(stored > 0, "no chart has a scene");
        anyhow::ensure!(
            stored + without.len() == plots.len(),
            "{stored} of {} scenes stored",
            plots.len()
        );
        Ok(())
    });
    match outcome {
        Ok(()) => {
            without.sort_unstable();
            Some(Scenes {
                version: SCENE_VERSION,
                largest_bytes: largest,
                without,
            })
        }
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "no scenes; the plotters draw from the blob"
            );
            None
        }
    }
}

/// The scenes of `charts` that are stored (charts of a reused blob), the others named
/// in [`Scenes::without`] (theirs could not be recorded, or was swept: their plotters
/// draw from the blob); `None` when none is stored, or when the store cannot say
/// (logged).
pub(crate) async fn stored(store: &Store, charts: &[Chart]) -> Option<Scenes> {
    let (mut largest, mut without) = (None, Vec::new());
    for chart in charts {
        match store.size(chart.key.as_str()).await {
            Ok(Some(size)) => largest = largest.max(Some(size)),
            Ok(None) => without.push(chart.plot),
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
    without.sort_unstable();
    Some(Scenes {
        version: SCENE_VERSION,
        largest_bytes: largest?,
        without,
    })
}

#[cfg(test)]
mod tests {
    use waveplot_protocol::{AnalysisParams, Interval, Source, Symbol};

    use super::*;
    use crate::analysis::{Window, analyse};
    use crate::backend::Backend;
    use crate::source::sample;

    /// The BTCUSDT 5m sample analysed, and its key.
    fn sample_blob() -> (Arc<Analysed>, BlobKey) {
        let symbol = Symbol::parse("BTCUSDT").unwrap();
        let window = Window {
            candles: sample::candles(&symbol, Interval::M5)
                .unwrap()
                .clone()
                .into(),
            symbol,
            interval: Interval::M5,
            source: Source::Sample,
            source_label: String::new(),
            load_ms: 0.0,
        };
        let params = AnalysisParams::default();
        let key = crate::service::blob_key(&window, &params);
        let blob = analyse(window, &params, &Backend::cpu()).unwrap();
        (Arc::new(blob), key)
    }

    /// A chart whose scene is larger than a plotter reads is named as without one and
    /// the others are stored; a reused blob is announced the same way; a render none
    /// of whose charts has a scene has none.
    #[tokio::test]
    async fn a_chart_whose_scene_is_too_large_goes_without_and_the_others_keep_theirs() {
        let (blob, key) = sample_blob();
        let zone = TimeZone::default();
        let charts: Vec<Chart> = PlotId::ALL
            .into_iter()
            .map(|plot| {
                let size = plot.default_size();
                let key = key.scene_key(plot, size, &zone);
                Chart { plot, size, key }
            })
            .collect();
        let sizes: Vec<u64> = charts
            .iter()
            .map(|c| {
                let scene = waveplot_plotter::scene(blob.view(), c.plot, c.size, &zone).unwrap();
                scene.encode().unwrap().len() as u64
            })
            .collect();
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        let max_bytes = sorted[2];
        assert!(sorted[2] < sorted[3], "{sizes:?}");
        let store = Store::memory();
        let scenes = record_and_store(
            &store,
            blob.clone(),
            charts.clone(),
            zone.clone(),
            max_bytes,
        )
        .await
        .expect("three charts have scenes");
        let mut too_large: Vec<PlotId> = (charts.iter().zip(&sizes))
            .filter(|&(_, &size)| size > max_bytes)
            .map(|(c, _)| c.plot)
            .collect();
        too_large.sort_unstable();
        assert_eq!(scenes.without, too_large);
        assert_eq!(scenes.largest_bytes, max_bytes);
        for chart in &charts {
            let kept = store.size(chart.key.as_str()).await.unwrap().is_some();
            assert_eq!(kept, scenes.has(chart.plot), "{}", chart.plot);
        }
        assert_eq!(stored(&store, &charts).await, Some(scenes));

        let store = Store::memory();
        let none = record_and_store(&store, blob.clone(), charts.clone(), zone.clone(), 1).await;
        assert_eq!(none, None);
        assert_eq!(stored(&store, &charts).await, None);
    }
}
