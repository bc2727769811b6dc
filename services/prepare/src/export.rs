//! The JSON export of an analysis (`prepare analyze --json`): the blob's content in a
//! flat, documented shape for notebooks and other tools. Field by field in the README.

use std::collections::BTreeMap;

use serde::Serialize;
use waveplot_protocol::blob::{BandStats, Blob, Signal};

/// The export document. Arrays are aligned with the candles unless said otherwise.
#[derive(Debug, Serialize)]
pub(crate) struct Export<'a> {
    symbol: &'a str,
    interval: &'a str,
    source: String,
    source_label: &'a str,
    wavelet: &'a str,
    mode: &'a str,
    mra: &'a str,
    levels_requested: u32,
    levels: u32,
    level_note: Option<&'a str>,
    missing_candles: u32,
    candles: ExportCandles<'a>,
    coeffs: &'a [Vec<f64>],
    details: &'a [Vec<f64>],
    smooths: &'a [Vec<f64>],
    anomalies: ExportAnomalies<'a>,
    signals: ExportSignals<'a>,
    bands: &'a [BandStats],
    backend: &'static str,
    device: &'a str,
    timings_ms: BTreeMap<&'static str, f64>,
}

#[derive(Debug, Serialize)]
struct ExportCandles<'a> {
    open_time: &'a [i64],
    open: &'a [f64],
    high: &'a [f64],
    low: &'a [f64],
    close: &'a [f64],
    volume: &'a [f64],
}

#[derive(Debug, Serialize)]
struct ExportAnomalies<'a> {
    k: f64,
    median: f64,
    mad: f64,
    threshold: f64,
    indices: &'a [u32],
    open_time: Vec<i64>,
    values: &'a [f64],
}

#[derive(Debug, Serialize)]
struct ExportSignals<'a> {
    trend_level: u32,
    deviation_std: f64,
    buffer: f64,
    buy: u32,
    sell: u32,
    hold: u32,
    trend: &'a [f64],
    deviation: Vec<f64>,
    signal: &'a [Signal],
}

impl<'a> Export<'a> {
    /// The export of a blob.
    pub(crate) fn new(blob: &'a Blob) -> Self {
        let h = &blob.header;
        let c = &blob.candles;
        let a = &blob.analysis;
        let trend = a
            .smooths
            .get((a.signals.trend_level as usize).saturating_sub(1))
            .map_or(&[][..], Vec::as_slice);
        Export {
            symbol: h.symbol.as_str(),
            interval: h.interval.as_str(),
            source: h.source.to_string(),
            source_label: &h.source_label,
            wavelet: h.params.wavelet.as_str(),
            mode: h.params.mode.as_str(),
            mra: h.params.mra.as_str(),
            levels_requested: h.levels_requested,
            levels: h.levels_used,
            level_note: h.level_note.as_deref(),
            missing_candles: h.missing_candles,
            candles: ExportCandles {
                open_time: &c.open_time_ms,
                open: &c.open,
                high: &c.high,
                low: &c.low,
                close: &c.close,
                volume: &c.volume,
            },
            coeffs: &a.coeffs,
            details: &a.details,
            smooths: &a.smooths,
            anomalies: ExportAnomalies {
                k: a.anomalies.k,
                median: a.anomalies.median,
                mad: a.anomalies.mad,
                threshold: a.anomalies.threshold,
                indices: &a.anomalies.indices,
                open_time: a
                    .anomalies
                    .indices
                    .iter()
                    .map(|&i| c.open_time_ms[i as usize])
                    .collect(),
                values: &a.anomalies.values,
            },
            signals: ExportSignals {
                trend_level: a.signals.trend_level,
                deviation_std: a.signals.deviation_std,
                buffer: a.signals.buffer,
                buy: a.signals.buy,
                sell: a.signals.sell,
                hold: a.signals.hold,
                trend,
                deviation: c.close.iter().zip(trend).map(|(x, t)| x - t).collect(),
                signal: &a.signals.signal,
            },
            bands: &a.bands,
            backend: h.backend.as_str(),
            device: &h.device,
            timings_ms: BTreeMap::from([("load", h.load_ms), ("analysis", h.analysis_ms)]),
        }
    }
}
