//! The state of one render as the API reports it (`GET /api/render/{id}`, and every
//! Server-Sent Event): per-chart state, keys, timings and errors, and once the blob
//! is in, the band statistics and a summary of the window. Updated only from events.

use std::collections::BTreeMap;

use serde::Serialize;
use waveplot_protocol::blob::{BandStats, Blob};
use waveplot_protocol::{
    DoneEvent, PlotId, PrepareTimings, PreparedEvent, RenderRequest, RequestId,
};

/// Where a render stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Accepted; charts are being made.
    Running,
    /// Every chart is done.
    Complete,
    /// Some charts are done, some failed (each says why).
    Partial,
    /// Nothing could be drawn (the reason is in `error`).
    Failed,
}

/// Where one chart stands: pending until its `done` event, its failure or the deadline;
/// a failure is final, a chart that arrives late still replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlotState {
    /// Not in yet.
    Pending,
    /// In the store.
    Done,
    /// Failed, or missing at the deadline (the chart's `error` says why).
    Failed,
}

/// One chart's state.
#[derive(Debug, Clone, Serialize)]
pub struct PlotStatus {
    /// `pending`, `done` or `failed`.
    pub state: PlotState,
    /// Where the browser fetches the image.
    pub url: Option<String>,
    /// The image's store key.
    pub key: Option<String>,
    /// Image width in pixels.
    pub width: Option<u32>,
    /// Image height in pixels.
    pub height: Option<u32>,
    /// Image size in bytes.
    pub bytes: Option<u64>,
    /// Drawing time, ms.
    pub render_ms: Option<f64>,
    /// True when the image existed already.
    pub reused: Option<bool>,
    /// Why the chart failed.
    pub error: Option<String>,
}

impl PlotStatus {
    fn pending() -> Self {
        Self {
            state: PlotState::Pending,
            url: None,
            key: None,
            width: None,
            height: None,
            bytes: None,
            render_ms: None,
            reused: None,
            error: None,
        }
    }
}

/// What prepare reported.
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    /// The blob's store key.
    pub key: String,
    /// Candles analysed.
    pub candles: u32,
    /// Open time of the first candle, ms.
    pub first_open_ms: i64,
    /// Open time of the last candle, ms.
    pub last_open_ms: i64,
    /// Compute backend.
    pub backend: String,
    /// Device of the backend.
    pub device: String,
    /// True when the blob existed already.
    pub reused: bool,
    /// Prepare's timings.
    pub timings_ms: PrepareTimings,
}

/// Numbers about the window, read from the blob, for the metrics panel.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The source in words.
    pub source_label: String,
    /// Close of the last candle.
    pub last_close: f64,
    /// Change of the close over the window, percent.
    pub change_pct: f64,
    /// Candles missing inside the window.
    pub missing_candles: u32,
    /// Levels requested and used, and why fewer, if so.
    pub levels_requested: u32,
    /// Levels used.
    pub levels_used: u32,
    /// Why fewer levels were used, if they were.
    pub level_note: Option<String>,
    /// Wavelet, mode and MRA kind.
    pub wavelet: String,
    /// Extension mode.
    pub mode: String,
    /// MRA kind.
    pub mra: String,
    /// Number of anomalies.
    pub anomalies: usize,
    /// The anomaly threshold.
    pub anomaly_threshold: f64,
    /// BUY candles.
    pub buy: u32,
    /// SELL candles.
    pub sell: u32,
    /// HOLD candles.
    pub hold: u32,
    /// Candle loading time, ms.
    pub load_ms: f64,
    /// Analysis time, ms.
    pub analysis_ms: f64,
}

impl Summary {
    /// The summary of a blob.
    pub fn of(blob: &Blob) -> Self {
        let h = &blob.header;
        let close = &blob.candles.close;
        let (first, last) = (
            close.first().copied().unwrap_or(0.0),
            close.last().copied().unwrap_or(0.0),
        );
        let a = &blob.analysis;
        Self {
            source_label: h.source_label.clone(),
            last_close: last,
            change_pct: if first == 0.0 {
                0.0
            } else {
                (last / first - 1.0) * 100.0
            },
            missing_candles: h.missing_candles,
            levels_requested: h.levels_requested,
            levels_used: h.levels_used,
            level_note: h.level_note.clone(),
            wavelet: h.params.wavelet.clone(),
            mode: h.params.mode.clone(),
            mra: h.params.mra.to_string(),
            anomalies: a.anomalies.indices.len(),
            anomaly_threshold: a.anomalies.threshold,
            buy: a.signals.buy,
            sell: a.signals.sell,
            hold: a.signals.hold,
            load_ms: h.load_ms,
            analysis_ms: h.analysis_ms,
        }
    }
}

/// A render's whole state.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The request ID.
    pub id: RequestId,
    /// Where the render stands.
    pub state: State,
    /// The request as accepted.
    pub request: RenderRequest,
    /// Milliseconds since the request was accepted (frozen when it ends).
    pub elapsed_ms: f64,
    /// What went wrong for the whole render, if anything.
    pub error: Option<String>,
    /// Prepare's report, once in.
    pub prepared: Option<Prepared>,
    /// Each requested chart.
    pub plots: BTreeMap<PlotId, PlotStatus>,
    /// Numbers about the window, once the blob is read.
    pub summary: Option<Summary>,
    /// Band statistics, level 1 first, once the blob is read.
    pub bands: Option<Vec<BandStats>>,
}

impl Status {
    /// A fresh, running render of `request`.
    pub fn new(request: RenderRequest) -> Self {
        Self {
            id: request.request_id.clone(),
            state: State::Running,
            plots: request
                .plots
                .iter()
                .map(|p| (*p, PlotStatus::pending()))
                .collect(),
            request,
            elapsed_ms: 0.0,
            error: None,
            prepared: None,
            summary: None,
            bands: None,
        }
    }

    /// Applies prepare's report and what the blob says.
    pub fn prepared(&mut self, e: &PreparedEvent, blob: Option<&Blob>) {
        self.prepared = Some(Prepared {
            key: e.key.to_string(),
            candles: e.candles,
            first_open_ms: e.first_open_ms,
            last_open_ms: e.last_open_ms,
            backend: e.backend.clone(),
            device: e.device.clone(),
            reused: e.reused,
            timings_ms: e.timings_ms.clone(),
        });
        if let Some(blob) = blob {
            self.summary = Some(Summary::of(blob));
            self.bands = Some(blob.analysis.bands.clone());
        }
        self.settle();
    }

    /// A chart is in the store.
    pub fn done(&mut self, e: &DoneEvent) {
        if let Some(p) = self.plots.get_mut(&e.plot_id) {
            *p = PlotStatus {
                state: PlotState::Done,
                url: Some(format!("/{}", e.key)),
                key: Some(e.key.to_string()),
                width: Some(e.width),
                height: Some(e.height),
                bytes: Some(e.bytes),
                render_ms: Some(e.render_ms),
                reused: Some(e.reused),
                error: None,
            };
        }
        self.settle();
    }

    /// A chart failed (`Some(plot)`), or the whole render did (`None`).
    pub fn failed(&mut self, plot: Option<PlotId>, reason: &str) {
        match plot {
            Some(p) => self.fail_plot(p, reason),
            None => {
                self.error = Some(reason.to_owned());
                let pending: Vec<PlotId> = self.pending_plots();
                for p in pending {
                    self.fail_plot(p, reason);
                }
            }
        }
        self.settle();
    }

    /// The deadline passed for a chart still pending: it fails with `reason`.
    pub fn expire(&mut self, plot: PlotId, reason: &str) {
        self.fail_plot(plot, reason);
    }

    fn fail_plot(&mut self, plot: PlotId, reason: &str) {
        if let Some(p) = self
            .plots
            .get_mut(&plot)
            .filter(|p| p.state == PlotState::Pending)
        {
            p.state = PlotState::Failed;
            p.error = Some(reason.to_owned());
        }
    }

    /// The charts not done or failed yet.
    pub fn pending_plots(&self) -> Vec<PlotId> {
        self.plots
            .iter()
            .filter(|(_, s)| s.state == PlotState::Pending)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Ends the render once every chart is done or failed and the analysis is in (or
    /// failed, or timed out).
    pub fn settle(&mut self) {
        if self.state != State::Running || !self.pending_plots().is_empty() {
            return;
        }
        if self.prepared.is_none() && self.error.is_none() {
            return;
        }
        let done = self
            .plots
            .values()
            .filter(|p| p.state == PlotState::Done)
            .count();
        self.state = match done {
            0 => State::Failed,
            d if d == self.plots.len() => State::Complete,
            _ => State::Partial,
        };
    }

    /// True once the render has ended (complete, partial or failed).
    pub fn is_final(&self) -> bool {
        self.state != State::Running
    }
}
