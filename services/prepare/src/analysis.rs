//! From a window of candles to the blob the plotters draw: resolves the analysis
//! parameters, runs the wavelet library and packs its results into the wire schema.
//!
//! The CPU library is the reference; the Vulkan pass (when the [`Backend`] hands
//! out a GPU for the window) must reproduce it, and the header says which ran.

use std::time::Instant;

use thiserror::Error;
use waveplot_protocol::blob::{self, Blob, BlobView, CandleColumns, Header};
use waveplot_protocol::{AnalysisParams, Interval, MraKind, Source, Symbol};
use waveplot_wavelet as wl;

use crate::backend::Backend;
use crate::source::WindowCandles;

/// Why a window could not be analysed.
#[derive(Debug, Error)]
pub(crate) enum AnalysisError {
    /// A parameter names something the library does not know (wavelet, mode).
    #[error("{0}")]
    Params(#[source] wl::Error),
    /// The analysis itself refused the input (too short, non-finite values).
    #[error("cannot analyse {candles} candles: {source}")]
    Input {
        /// Number of candles given.
        candles: usize,
        /// The library's reason.
        #[source]
        source: wl::Error,
    },
    /// The Vulkan pass failed (only fatal with `--backend vulkan`).
    #[error("the Vulkan pass failed: {0}")]
    Gpu(#[source] waveplot_gpu::Error),
}

/// A window of candles and what it is.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Trading pair.
    pub(crate) symbol: Symbol,
    /// Kline interval.
    pub(crate) interval: Interval,
    /// Where the candles came from.
    pub(crate) source: Source,
    /// The source in words, for chart titles.
    pub(crate) source_label: String,
    /// The candles, oldest first.
    pub(crate) candles: WindowCandles,
    /// Time spent loading them, ms.
    pub(crate) load_ms: f64,
}

/// The most memory preparing a window of `candles` candles at `levels` levels takes, in
/// bytes: loading and parsing the candles, the analysis (details, smooths,
/// coefficients and their scratch) and encoding the blob. Measured with `prepare
/// analyze` on a file of 1 050 000 one-minute candles (x86_64, CPU analysis): 66 MiB
/// for 100 000 candles at 8 levels, 302, 410, 541 and 949 MiB for 1 000 000 at 1, 4, 8
/// and 19, about 280 bytes a candle and 37 more per level. This keeps the larger
/// figures measured before the MODWT synthesised each level as soon as it had its
/// coefficients (310, 464, 655 and 1101 MiB; 73 MiB for 100 000 candles) and rounds
/// them up by a tenth and more: a Vulkan pass, not measured at that size here,
/// holds its buffers (140 MB for a million candles at 8 levels) beside the same series.
pub(crate) fn memory(candles: u32, levels: u32) -> u64 {
    (32 << 20) + u64::from(candles) * (300 + 56 * u64::from(levels))
}

/// The library's parameters for the wire parameters.
pub(crate) fn library_params(p: &AnalysisParams) -> Result<wl::AnalysisParams, AnalysisError> {
    Ok(wl::AnalysisParams {
        wavelet: wl::Wavelet::new(p.wavelet.as_str()).map_err(AnalysisError::Params)?,
        mode: p.mode.as_str().parse().map_err(AnalysisError::Params)?,
        mra: match p.mra {
            MraKind::Modwt => wl::MraKind::Modwt,
            MraKind::Dwt => wl::MraKind::Dwt,
        },
        levels: p.levels as usize,
        anomaly_k: p.anomaly_k,
        trend_level: Some(p.trend_level as usize),
    })
}

/// An analysed window: a blob whose candles are still the window's, which may be a
/// range of a kept file's ([`WindowCandles`]), so that storing and drawing it copies
/// none of them.
#[derive(Debug)]
pub(crate) struct Analysed {
    /// The blob's header.
    pub(crate) header: Header,
    /// The blob's analysis.
    analysis: blob::Analysis,
    /// The window's candles.
    candles: WindowCandles,
}

impl Analysed {
    /// The blob, borrowed: what is encoded and drawn.
    pub(crate) fn view(&self) -> BlobView<'_> {
        BlobView {
            header: &self.header,
            candles: self.candles.columns(),
            analysis: &self.analysis,
        }
    }

    /// The blob, with candles of its own (a range of a kept file's is copied out).
    pub(crate) fn into_blob(self) -> Blob {
        Blob {
            header: self.header,
            candles: self.candles.into_candles(),
            analysis: self.analysis,
        }
    }
}

/// Analyses a window on the backend's GPU when it takes the window, else on the
/// CPU.
pub(crate) fn analyse(
    window: Window,
    params: &AnalysisParams,
    backend: &Backend,
) -> Result<Analysed, AnalysisError> {
    let lib_params = library_params(params)?;
    let started = Instant::now();
    let (result, device) = run(&window, &lib_params, backend)?;
    let analysis_ms = started.elapsed().as_secs_f64() * 1e3;
    let candles = window.candles.columns();
    let mut header = header(&window, candles, params, &result, device, analysis_ms);
    let analysis = wire_analysis(result);
    header.summary = Some(blob::WindowSummary::of(candles, &analysis));
    Ok(Analysed {
        header,
        analysis,
        candles: window.candles,
    })
}

/// Where the analysis ran: `vulkan` and the GPU's name, or `cpu` and the CPU's.
struct Device {
    backend: waveplot_protocol::blob::Backend,
    name: String,
}

fn run(
    window: &Window,
    params: &wl::AnalysisParams,
    backend: &Backend,
) -> Result<(wl::Analysis, Device), AnalysisError> {
    let n = window.candles.len();
    let closes = window.candles.close();
    let bar_seconds = window.interval.seconds() as f64;
    let input = |source| AnalysisError::Input { candles: n, source };
    if let Some(gpu) = backend.gpu_for(n) {
        match gpu.analyse(closes, params, bar_seconds) {
            Ok((result, _)) => {
                let name = gpu.device().to_string();
                return Ok((
                    result,
                    Device {
                        backend: waveplot_protocol::blob::Backend::Vulkan,
                        name,
                    },
                ));
            }
            Err(waveplot_gpu::Error::Input(e)) => return Err(input(e)),
            Err(e) if backend.strict() => return Err(AnalysisError::Gpu(e)),
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "the Vulkan pass failed; analysing on the CPU"
            ),
        }
    }
    let mut plan = wl::AnalysisPlan::new(n, params).map_err(input)?;
    let result = plan.run(closes, bar_seconds).map_err(input)?;
    let name = cpu_device();
    Ok((
        result,
        Device {
            backend: waveplot_protocol::blob::Backend::Cpu,
            name,
        },
    ))
}

fn header(
    w: &Window,
    c: CandleColumns<'_>,
    params: &AnalysisParams,
    r: &wl::Analysis,
    device: Device,
    analysis_ms: f64,
) -> Header {
    let last = c.len() - 1;
    let level_note = (r.levels_used < r.levels_requested).then(|| {
        format!(
            "{} levels requested, {} used: {} candles allow at most {} with this wavelet",
            r.levels_requested,
            r.levels_used,
            c.len(),
            r.levels_used
        )
    });
    Header {
        symbol: w.symbol.clone(),
        interval: w.interval,
        source: w.source.clone(),
        source_label: w.source_label.clone(),
        first_open_ms: c.open_time_ms[0],
        last_open_ms: c.open_time_ms[last],
        last_close_ms: c.close_time_ms[last],
        candles: count(c.len()),
        missing_candles: crate::source::klines::missing_candles(c.open_time_ms, w.interval),
        params: params.clone(),
        levels_requested: count(r.levels_requested),
        levels_used: count(r.levels_used),
        level_note,
        backend: device.backend,
        device: device.name,
        created_ms: jiff::Timestamp::now().as_millisecond(),
        load_ms: w.load_ms,
        analysis_ms,
        summary: None,
    }
}

fn wire_analysis(r: wl::Analysis) -> blob::Analysis {
    let signals = &r.signals;
    blob::Analysis {
        coeffs: r.coeffs,
        anomalies: blob::Anomalies {
            k: r.anomalies.k,
            median: r.anomalies.median,
            mad: r.anomalies.mad,
            threshold: r.anomalies.threshold,
            indices: r.anomalies.points.iter().map(|p| count(p.index)).collect(),
            values: r.anomalies.points.iter().map(|p| p.value).collect(),
        },
        signals: blob::Signals {
            trend_level: count(signals.trend_level),
            deviation_std: signals.std,
            buffer: signals.buffer,
            buy: count(signals.buy),
            sell: count(signals.sell),
            hold: count(signals.hold),
            signal: signals.per_index.iter().map(|s| wire_signal(*s)).collect(),
        },
        bands: r.bands.iter().map(wire_band).collect(),
        details: r.mra.details,
        smooths: r.mra.smooths,
    }
}

fn wire_signal(s: wl::signals::Signal) -> blob::Signal {
    match s {
        wl::signals::Signal::Buy => blob::Signal::Buy,
        wl::signals::Signal::Sell => blob::Signal::Sell,
        wl::signals::Signal::Hold => blob::Signal::Hold,
    }
}

fn wire_band(b: &wl::bands::BandStats) -> blob::BandStats {
    blob::BandStats {
        level: count(b.level),
        period_min_bars: b.period_min_bars,
        period_max_bars: b.period_max_bars,
        sigma: b.sigma,
        mean_abs_change: b.mean_abs_diff,
        range: b.range,
        zero_crossings: count(b.zero_crossings),
        peak_period_bars: b.peak_period_bars,
        trough_period_bars: b.trough_period_bars,
        peak_period_s: b.peak_period_seconds,
        trough_period_s: b.trough_period_seconds,
        amplitude: b.amplitude,
    }
}

/// Counts and indices on the wire are u32: windows are capped far below 2^32 candles.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Names the CPU for the blob's `device`: the model where the kernel reports one.
fn cpu_device() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        });
    let arch = std::env::consts::ARCH;
    model.map_or_else(|| format!("{arch} CPU"), |m| format!("{m} ({arch})"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use waveplot_protocol::{AnalysisParams, Interval, PlotId, Source, Symbol, TimeZone};

    use super::*;
    use crate::source::sample;

    /// A window of the BTCUSDT 5m sample with `candles`.
    fn window(candles: WindowCandles) -> Window {
        Window {
            symbol: Symbol::parse("BTCUSDT").unwrap(),
            interval: Interval::M5,
            source: Source::Sample,
            source_label: String::new(),
            candles,
            load_ms: 0.0,
        }
    }

    /// A window that is a range of a kept file's candles is encoded and drawn from the
    /// file's candles, and gives the same blob and scenes as a copy of its own candles.
    #[test]
    fn a_window_that_is_a_range_encodes_the_blob_of_its_own_candles() {
        let all = sample::candles(&Symbol::parse("BTCUSDT").unwrap(), Interval::M5).unwrap();
        let range = 100..700;
        let params = AnalysisParams::default();
        let cpu = Backend::cpu();
        let cut = analyse(
            window(WindowCandles::Cut(Arc::new(all.clone()), range.clone())),
            &params,
            &cpu,
        )
        .unwrap();
        let own = analyse(window(all.slice(range.clone()).into()), &params, &cpu).unwrap();
        let mut bytes = Vec::new();
        cut.view().encode_to(&mut bytes).unwrap();
        let decoded = Blob::decode(&bytes).unwrap();
        assert_eq!(decoded.candles, all.slice(range));
        let zone = TimeZone::default();
        for plot in PlotId::ALL {
            let scene = |blob: &Analysed| {
                let scene = waveplot_plotter::scene(blob.view(), plot, plot.default_size(), &zone);
                scene.unwrap().encode().unwrap()
            };
            assert!(scene(&cut) == scene(&own), "{plot}: the scenes differ");
        }
        let own = timeless(own.into_blob());
        assert_eq!(timeless(decoded), own);
        assert_eq!(timeless(cut.into_blob()), own);
    }

    /// `blob` without the times its making took.
    fn timeless(mut blob: Blob) -> Blob {
        blob.header.created_ms = 0;
        blob.header.analysis_ms = 0.0;
        blob
    }
}
