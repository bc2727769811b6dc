//! The state of one render as the API reports it (`GET /api/render/{id}`, and every
//! Server-Sent Event): per-chart state, keys, timings and errors, and once the blob
//! is in, the band statistics and a summary of the window. Updated only from events.

use std::collections::BTreeMap;

use serde::Serialize;
use waveplot_protocol::blob::{BandStats, Header};
use waveplot_protocol::{
    BlobKey, DoneEvent, PlotId, PlotKey, PrepareTimings, PreparedEvent, RenderRequest, RequestId,
};

/// Where a render stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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

/// Where one chart stands. It leaves `pending` once: for `done` with its event, for
/// `failed` with its failure or at the deadline; a `done` event that arrives after a
/// failure still replaces it, no second failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PlotStatus {
    /// `pending`, `done` or `failed`.
    pub state: PlotState,
    /// Where the browser fetches the image.
    pub url: Option<String>,
    /// The image's store key.
    pub key: Option<PlotKey>,
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Prepared {
    /// The blob's store key.
    pub key: BlobKey,
    /// Candles analysed.
    pub candles: u32,
    /// Open time of the first candle, ms.
    pub first_open_ms: i64,
    /// Open time of the last candle, ms.
    pub last_open_ms: i64,
    /// Compute backend.
    pub backend: waveplot_protocol::blob::Backend,
    /// Device of the backend.
    pub device: String,
    /// True when the blob existed already.
    pub reused: bool,
    /// Prepare's timings.
    pub timings_ms: PrepareTimings,
}

/// Numbers about the window, from the blob's header in prepare's event, for the metrics panel.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    pub wavelet: waveplot_protocol::Wavelet,
    /// Extension mode.
    pub mode: waveplot_protocol::Mode,
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
    /// The summary of a blob's header; `None` for a header without a summary (a blob
    /// written before headers carried one).
    pub fn of(h: &Header) -> Option<Self> {
        let s = h.summary.as_ref()?;
        Some(Self {
            source_label: h.source_label.clone(),
            last_close: s.last_close,
            change_pct: s.change_pct(),
            missing_candles: h.missing_candles,
            levels_requested: h.levels_requested,
            levels_used: h.levels_used,
            level_note: h.level_note.clone(),
            wavelet: h.params.wavelet.clone(),
            mode: h.params.mode,
            mra: h.params.mra.to_string(),
            anomalies: s.anomalies as usize,
            anomaly_threshold: s.anomaly_threshold,
            buy: s.buy,
            sell: s.sell,
            hold: s.hold,
            load_ms: h.load_ms,
            analysis_ms: h.analysis_ms,
        })
    }
}

/// A render's whole state.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    /// Numbers about the window, once prepare reported.
    pub summary: Option<Summary>,
    /// Band statistics, level 1 first, once prepare reported.
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

    /// Applies prepare's report, with the summary its header carries.
    pub fn prepared(&mut self, e: &PreparedEvent) {
        self.prepared = Some(Prepared {
            key: e.key.clone(),
            candles: e.candles,
            first_open_ms: e.first_open_ms,
            last_open_ms: e.last_open_ms,
            backend: e.backend,
            device: e.device.clone(),
            reused: e.reused,
            timings_ms: e.timings_ms.clone(),
        });
        if let Some(header) = &e.header {
            self.summary = Summary::of(header);
            self.bands = header.summary.as_ref().map(|s| s.bands.clone());
        }
        self.settle();
    }

    /// A chart is in the store.
    pub fn done(&mut self, e: &DoneEvent) {
        if let Some(p) = self.plots.get_mut(&e.plot_id) {
            *p = PlotStatus {
                state: PlotState::Done,
                url: Some(format!("/{}", e.key)),
                key: Some(e.key.clone()),
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

#[cfg(test)]
pub(crate) mod tests {
    use waveplot_protocol::{Interval, Source, Symbol, TimeZone, V1, WindowId};

    use super::*;

    const LAST_OPEN_MS: i64 = 1_660_694_100_000;

    /// A request for `plots` of BTCUSDT 5m from the bundled sample.
    pub(crate) fn request(plots: &[PlotId]) -> RenderRequest {
        let mut r = RenderRequest::new(
            RequestId::generate(),
            Symbol::parse("BTC").unwrap(),
            Interval::M5,
        );
        r.source = Source::Sample;
        r.plots = plots.to_vec();
        r
    }

    fn blob_key(r: &RenderRequest) -> BlobKey {
        BlobKey::for_window(&WindowId {
            symbol: &r.symbol,
            interval: r.interval,
            source: &r.source,
            end_open_ms: LAST_OPEN_MS,
            candles: r.window_len(),
            params: &r.params(),
        })
    }

    /// Prepare's event for `r`, whose last candle opened at `LAST_OPEN_MS`.
    pub(crate) fn prepared_event(r: &RenderRequest) -> PreparedEvent {
        PreparedEvent {
            v: V1,
            request_id: r.request_id.clone(),
            symbol: r.symbol.clone(),
            interval: r.interval,
            source: r.source.clone(),
            key: blob_key(r),
            candles: r.window_len(),
            first_open_ms: LAST_OPEN_MS - 863 * r.interval.millis(),
            last_open_ms: LAST_OPEN_MS,
            backend: waveplot_protocol::blob::Backend::Cpu,
            device: "test".into(),
            reused: false,
            plots: r.plots.clone(),
            width: None,
            height: None,
            format: r.format,
            tz: None,
            timings_ms: PrepareTimings::default(),
            header: None,
            scenes: None,
        }
    }

    /// The plotter's event for chart `plot` of `r`.
    pub(crate) fn done_event(r: &RenderRequest, plot: PlotId) -> DoneEvent {
        let blob_key = blob_key(r);
        DoneEvent {
            v: V1,
            request_id: r.request_id.clone(),
            plot_id: plot,
            key: blob_key.plot_key(plot, r.size_of(plot), r.format, &TimeZone::utc()),
            blob_key,
            format: r.format,
            width: 1280,
            height: 720,
            bytes: 1000,
            render_ms: 12.5,
            store_ms: 1.0,
            reused: false,
        }
    }

    const TWO: [PlotId; 2] = [PlotId::Overview, PlotId::Bands];

    fn state_of(st: &Status, plot: PlotId) -> PlotState {
        st.plots[&plot].state
    }

    #[test]
    fn a_new_render_is_running_with_every_requested_chart_pending() {
        let st = Status::new(request(&TWO));
        assert_eq!(st.state, State::Running);
        assert!(!st.is_final());
        assert_eq!(st.plots.keys().copied().collect::<Vec<_>>(), TWO);
        assert!(st.plots.values().all(|p| p.state == PlotState::Pending));
        assert_eq!(st.pending_plots(), TWO);
        assert_eq!(st.error, None);
    }

    #[test]
    fn every_chart_done_after_the_analysis_completes_the_render() {
        let r = request(&TWO);
        let mut st = Status::new(r.clone());
        st.prepared(&prepared_event(&r));
        assert_eq!(st.state, State::Running, "no chart yet");
        st.done(&done_event(&r, PlotId::Overview));
        assert_eq!(st.state, State::Running, "one chart missing");
        assert_eq!(st.pending_plots(), [PlotId::Bands]);
        st.done(&done_event(&r, PlotId::Bands));
        assert_eq!(st.state, State::Complete);
        assert!(st.is_final());
        let p = &st.plots[&PlotId::Bands];
        let key = done_event(&r, PlotId::Bands).key;
        assert_eq!(p.state, PlotState::Done);
        assert_eq!(p.key.as_ref(), Some(&key));
        assert_eq!(p.url, Some(format!("/{key}")));
        assert_eq!(
            (p.width, p.height, p.bytes),
            (Some(1280), Some(720), Some(1000))
        );
        assert_eq!(st.prepared.as_ref().unwrap().last_open_ms, LAST_OPEN_MS);
    }

    #[test]
    fn charts_done_before_the_analysis_report_wait_for_it() {
        let r = request(&TWO);
        let mut st = Status::new(r.clone());
        for p in TWO {
            st.done(&done_event(&r, p));
        }
        assert!(st.pending_plots().is_empty());
        assert_eq!(st.state, State::Running);
        st.prepared(&prepared_event(&r));
        assert_eq!(st.state, State::Complete);
    }

    #[test]
    fn some_charts_done_and_the_others_failed_is_a_partial_render() {
        let r = request(&TWO);
        let mut st = Status::new(r.clone());
        st.prepared(&prepared_event(&r));
        st.done(&done_event(&r, PlotId::Overview));
        st.failed(Some(PlotId::Bands), "the plotter crashed");
        assert_eq!(st.state, State::Partial);
        assert_eq!(state_of(&st, PlotId::Overview), PlotState::Done);
        let bands = &st.plots[&PlotId::Bands];
        assert_eq!(bands.state, PlotState::Failed);
        assert_eq!(bands.error.as_deref(), Some("the plotter crashed"));
        assert_eq!(st.error, None, "only a chart failed");
    }

    #[test]
    fn every_chart_failed_is_a_failed_render() {
        let r = request(&TWO);
        let mut st = Status::new(r.clone());
        st.prepared(&prepared_event(&r));
        st.failed(Some(PlotId::Overview), "a");
        assert_eq!(st.state, State::Running);
        st.failed(Some(PlotId::Bands), "b");
        assert_eq!(st.state, State::Failed);
        assert_eq!(st.error, None);
    }

    #[test]
    fn a_failure_of_the_whole_render_fails_every_pending_chart_and_ends_it() {
        let r = request(&TWO);
        let mut st = Status::new(r);
        st.failed(None, "no candles for BTCUSDT");
        assert_eq!(st.state, State::Failed);
        assert_eq!(st.error.as_deref(), Some("no candles for BTCUSDT"));
        for p in st.plots.values() {
            assert_eq!(p.state, PlotState::Failed);
            assert_eq!(p.error.as_deref(), Some("no candles for BTCUSDT"));
        }
    }

    #[test]
    fn a_failure_of_the_whole_render_keeps_the_charts_already_done() {
        let r = request(&TWO);
        let mut st = Status::new(r.clone());
        st.done(&done_event(&r, PlotId::Overview));
        st.failed(None, "prepare stopped");
        assert_eq!(st.state, State::Partial);
        assert_eq!(state_of(&st, PlotId::Overview), PlotState::Done);
        assert_eq!(st.plots[&PlotId::Overview].error, None);
        assert_eq!(state_of(&st, PlotId::Bands), PlotState::Failed);
    }

    #[test]
    fn a_failure_does_not_undo_a_chart_that_is_done() {
        let r = request(&TWO);
        let mut st = Status::new(r.clone());
        st.done(&done_event(&r, PlotId::Overview));
        st.failed(Some(PlotId::Overview), "a duplicate plotter failed");
        st.expire(PlotId::Overview, "deadline");
        let p = &st.plots[&PlotId::Overview];
        assert_eq!(p.state, PlotState::Done);
        assert_eq!(p.error, None);
    }

    #[test]
    fn a_chart_fails_once_and_keeps_its_first_reason() {
        let r = request(&TWO);
        let mut st = Status::new(r);
        st.failed(Some(PlotId::Bands), "first");
        st.failed(Some(PlotId::Bands), "second");
        st.expire(PlotId::Bands, "deadline");
        assert_eq!(st.plots[&PlotId::Bands].error.as_deref(), Some("first"));
    }

    #[test]
    fn a_late_chart_replaces_its_failure_but_does_not_reopen_the_finished_render() {
        let r = request(&TWO);
        let mut st = Status::new(r.clone());
        st.prepared(&prepared_event(&r));
        st.done(&done_event(&r, PlotId::Overview));
        st.failed(Some(PlotId::Bands), "deadline");
        assert_eq!(st.state, State::Partial);
        st.done(&done_event(&r, PlotId::Bands));
        let bands = &st.plots[&PlotId::Bands];
        assert_eq!(bands.state, PlotState::Done);
        assert_eq!(bands.error, None);
        assert_eq!(
            st.state,
            State::Partial,
            "a finished render keeps its outcome"
        );
    }

    #[test]
    fn a_finished_render_keeps_its_outcome_whatever_arrives_later() {
        let r = request(&TWO);
        let mut failed = Status::new(r.clone());
        failed.failed(None, "prepare stopped");
        assert_eq!(failed.state, State::Failed);
        failed.prepared(&prepared_event(&r));
        failed.done(&done_event(&r, PlotId::Overview));
        failed.settle();
        assert_eq!(failed.state, State::Failed);

        let mut complete = Status::new(r.clone());
        complete.prepared(&prepared_event(&r));
        for p in TWO {
            complete.done(&done_event(&r, p));
        }
        complete.failed(Some(PlotId::Overview), "a stray failure");
        complete.failed(None, "another");
        complete.settle();
        assert_eq!(complete.state, State::Complete);
        assert!(complete.plots.values().all(|p| p.state == PlotState::Done));
    }

    #[test]
    fn events_for_charts_not_requested_change_nothing() {
        let r = request(&[PlotId::Overview]);
        let mut st = Status::new(r.clone());
        st.prepared(&prepared_event(&r));
        st.done(&done_event(&r, PlotId::Bands));
        st.failed(Some(PlotId::Signals), "not ours");
        st.expire(PlotId::Statistics, "not ours");
        assert_eq!(
            st.plots.keys().copied().collect::<Vec<_>>(),
            [PlotId::Overview]
        );
        assert_eq!(st.pending_plots(), [PlotId::Overview]);
        assert_eq!(st.state, State::Running);
    }

    #[test]
    fn the_deadline_fails_the_missing_charts_and_the_render_ends_when_it_settles() {
        let r = request(&TWO);
        let mut st = Status::new(r.clone());
        st.prepared(&prepared_event(&r));
        st.done(&done_event(&r, PlotId::Overview));
        st.expire(PlotId::Bands, "no chart 02b within 30 s");
        let bands = &st.plots[&PlotId::Bands];
        assert_eq!(bands.state, PlotState::Failed);
        assert_eq!(bands.error.as_deref(), Some("no chart 02b within 30 s"));
        assert_eq!(st.state, State::Running, "expiring alone does not end it");
        st.settle();
        assert_eq!(st.state, State::Partial);
    }

    #[test]
    fn without_an_analysis_the_render_ends_only_once_it_has_an_error() {
        let r = request(&TWO);
        let mut st = Status::new(r);
        for p in TWO {
            st.expire(p, "no analysis within 30 s");
        }
        st.settle();
        assert_eq!(st.state, State::Running, "neither analysis nor error yet");
        st.error = Some("the analysis did not finish within 30 s".into());
        st.settle();
        assert_eq!(st.state, State::Failed);
    }

    #[test]
    fn states_are_written_in_lowercase_on_the_wire() {
        let r = request(&[PlotId::Overview, PlotId::Bands, PlotId::Signals]);
        let mut st = Status::new(r.clone());
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["state"], "running");
        assert_eq!(json["plots"]["01"]["state"], "pending");
        st.prepared(&prepared_event(&r));
        st.done(&done_event(&r, PlotId::Overview));
        st.failed(Some(PlotId::Bands), "x");
        st.failed(Some(PlotId::Signals), "y");
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["state"], "partial");
        assert_eq!(json["plots"]["01"]["state"], "done");
        assert_eq!(json["plots"]["02b"]["state"], "failed");
        assert_eq!(json["plots"]["02b"]["error"], "x");
        let mut done = Status::new(request(&[PlotId::Overview]));
        done.failed(None, "z");
        assert_eq!(serde_json::to_value(&done).unwrap()["state"], "failed");
    }
}
