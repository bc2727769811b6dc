//! The render request (gateway or any tool → prepare, on `<prefix>.render`) and the
//! immediate reply that accepts or rejects it.
//!
//! A request names a window of candles and how to analyse and draw it; every optional
//! field has a documented default, resolved by [`RenderRequest::params`] and friends so
//! that all services agree on it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::id::RequestId;
use crate::interval::Interval;
use crate::message::{Message, V1};
use crate::plot::{ImageFormat, PlotId};
use crate::source::Source;
use crate::subject::Subjects;
use crate::symbol::Symbol;
use crate::wavelet::{Mode, Wavelet};
use crate::zone::TimeZone;

/// Fewest candles a window may have: one Haar level needs two, but below this no chart says anything.
pub const MIN_WINDOW: u32 = 16;
/// Most candles a window may have.
pub const MAX_WINDOW: u32 = 1_000_000;
/// Most decomposition levels a request may ask for.
pub const MAX_LEVELS: u32 = 20;
/// Smallest chart side in pixels.
pub const MIN_SIDE: u32 = 320;
/// Largest chart side in pixels (the original's 16×12 in at 300 dpi is 4800×3600).
pub const MAX_SIDE: u32 = 8192;
/// Most pixels one chart may have: the original's largest picture, 4800×3600. A plotter
/// holds three bytes per pixel while it draws, so this bounds its canvas at 52 MB.
pub const MAX_PIXELS: u64 = 4800 * 3600;
/// Most candles a window drawn as SVG may have: an SVG holds an element per drawn
/// candle, so a larger window is drawn as PNG (whose size depends on pixels only).
pub const MAX_SVG_WINDOW: u32 = 20_000;

/// Which multiresolution analysis produces the display series.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MraKind {
    /// Shift-invariant MODWT-based MRA (circular, any length). The default.
    #[default]
    Modwt,
    /// Decimated DWT-based MRA, as `pywt.mra(..., transform="dwt")`.
    Dwt,
}

impl MraKind {
    /// The kind's name (`modwt`, `dwt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Modwt => "modwt",
            Self::Dwt => "dwt",
        }
    }
}

impl fmt::Display for MraKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MraKind {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "modwt" => Ok(Self::Modwt),
            "dwt" => Ok(Self::Dwt),
            _ => Err(ParseError::MraKind {
                input: s.to_owned(),
            }),
        }
    }
}

/// The analysis parameters of a window, with every default resolved. Part of the blob
/// key, so two requests with equal parameters share one blob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AnalysisParams {
    /// Wavelet name in PyWavelets' spelling (`haar`, `db4`, `sym5`, `coif3`).
    pub wavelet: Wavelet,
    /// Signal extension mode in PyWavelets' spelling (`symmetric`, `periodization`, ...).
    pub mode: Mode,
    /// MRA kind.
    pub mra: MraKind,
    /// Decomposition levels requested (the analysis may use fewer; the blob says how many).
    pub levels: u32,
    /// Anomaly threshold factor k in `median + k·MAD`.
    pub anomaly_k: f64,
    /// Smooth level used as the trend for signals (capped at the levels used).
    pub trend_level: u32,
}

impl Default for AnalysisParams {
    fn default() -> Self {
        Self {
            wavelet: Wavelet::haar(),
            mode: Mode::Symmetric,
            mra: MraKind::Modwt,
            levels: 8,
            anomaly_k: 6.0,
            trend_level: 6,
        }
    }
}

/// A render request, published on `<prefix>.render` as JSON.
///
/// Only `v`, `request_id`, `symbol` and `interval` are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RenderRequest {
    /// Schema version, always 1.
    pub v: V1,
    /// The request's ID; every event of this render carries it.
    pub request_id: RequestId,
    /// Trading pair, e.g. `BTCUSDT`.
    pub symbol: Symbol,
    /// Kline interval, e.g. `5m`.
    pub interval: Interval,
    /// Where the candles come from; default `binance`.
    #[serde(default)]
    pub source: Source,
    /// Number of candles; default: the interval's look-back ([`Interval::default_window`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MIN_WINDOW, max = MAX_WINDOW))]
    pub window: Option<u32>,
    /// Open time (ms) of the last candle of the window; default: the latest closed candle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub end_ms: Option<i64>,
    /// Wavelet; default `haar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wavelet: Option<Wavelet>,
    /// Extension mode; default `symmetric`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// MRA kind; default `modwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mra: Option<MraKind>,
    /// Decomposition levels; default 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_LEVELS))]
    pub levels: Option<u32>,
    /// Anomaly factor k; default 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub anomaly_k: Option<f64>,
    /// Trend smooth level; default 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub trend_level: Option<u32>,
    /// Chart width in pixels; default per chart ([`PlotId::default_size`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MIN_SIDE, max = MAX_SIDE))]
    pub width: Option<u32>,
    /// Chart height in pixels; default per chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MIN_SIDE, max = MAX_SIDE))]
    pub height: Option<u32>,
    /// Image format; default `png`.
    #[serde(default)]
    pub format: ImageFormat,
    /// Time zone of the charts' time axes and dates (an IANA name); default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<TimeZone>,
    /// Which charts to draw, each once; default all six.
    #[serde(default = "all_plots")]
    #[schemars(length(min = 1, max = 6), extend("uniqueItems" = true))]
    pub plots: Vec<PlotId>,
}

fn all_plots() -> Vec<PlotId> {
    PlotId::ALL.to_vec()
}

impl RenderRequest {
    /// A request with every optional field at its default.
    pub fn new(request_id: RequestId, symbol: Symbol, interval: Interval) -> Self {
        Self {
            v: V1,
            request_id,
            symbol,
            interval,
            source: Source::default(),
            window: None,
            end_ms: None,
            wavelet: None,
            mode: None,
            mra: None,
            levels: None,
            anomaly_k: None,
            trend_level: None,
            width: None,
            height: None,
            format: ImageFormat::default(),
            tz: None,
            plots: all_plots(),
        }
    }

    /// The number of candles in the window, defaults resolved.
    pub fn window_len(&self) -> u32 {
        self.window
            .unwrap_or_else(|| u32::try_from(self.interval.default_window()).unwrap_or(MAX_WINDOW))
    }

    /// The analysis parameters, defaults resolved.
    pub fn params(&self) -> AnalysisParams {
        let d = AnalysisParams::default();
        AnalysisParams {
            wavelet: self.wavelet.clone().unwrap_or(d.wavelet),
            mode: self.mode.unwrap_or(d.mode),
            mra: self.mra.unwrap_or(d.mra),
            levels: self.levels.unwrap_or(d.levels),
            anomaly_k: self.anomaly_k.unwrap_or(d.anomaly_k),
            trend_level: self.trend_level.unwrap_or(d.trend_level),
        }
    }

    /// The image size of one chart, defaults resolved: a side given alone keeps the
    /// chart's default aspect ratio.
    pub fn size_of(&self, plot: PlotId) -> (u32, u32) {
        plot.size_for(self.width, self.height)
    }

    /// Checks the ranges of the fields at `now_ms` (names of wavelets and modes are
    /// checked by prepare, which knows them). Each error names the field and what is
    /// allowed.
    pub fn check(&self, now_ms: i64) -> Result<(), ParseError> {
        let field = |field, reason: String| Err(ParseError::Field { field, reason });
        let window = self.window_len();
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
            return field(
                "window",
                format!("{window} candles; use {MIN_WINDOW} to {MAX_WINDOW}"),
            );
        }
        if let Some(levels) = self.levels.filter(|l| !(1..=MAX_LEVELS).contains(l)) {
            return field("levels", format!("{levels}; use 1 to {MAX_LEVELS}"));
        }
        if let Some(k) = self.anomaly_k.filter(|k| !(k.is_finite() && *k > 0.0)) {
            return field("anomaly_k", format!("{k}; use a positive number such as 6"));
        }
        if self.trend_level == Some(0) {
            return field("trend_level", "0; use 1 or more".to_owned());
        }
        if let Some(end) = self.end_ms {
            let latest = now_ms.saturating_add(self.interval.millis());
            if !(0..=latest).contains(&end) {
                return field(
                    "end_ms",
                    format!(
                        "{end}; use a time in ms after 1970 and no later than the close of the candle open now ({latest})"
                    ),
                );
            }
        }
        for (name, side) in [("width", self.width), ("height", self.height)] {
            if let Some(px) = side.filter(|px| !(MIN_SIDE..=MAX_SIDE).contains(px)) {
                return field(name, format!("{px} px; use {MIN_SIDE} to {MAX_SIDE}"));
            }
        }
        self.check_plots()?;
        if self.format == ImageFormat::Svg && window > MAX_SVG_WINDOW {
            return field(
                "format",
                format!(
                    "svg for {window} candles; SVG is drawn for windows of at most {MAX_SVG_WINDOW} candles, use png for larger ones"
                ),
            );
        }
        Ok(())
    }

    /// The plot list names each chart once, and every chart's picture is within
    /// [`MAX_PIXELS`].
    fn check_plots(&self) -> Result<(), ParseError> {
        let field = |reason: String| {
            Err(ParseError::Field {
                field: "plots",
                reason,
            })
        };
        if self.plots.is_empty() {
            return field("an empty list; leave it out for all six".to_owned());
        }
        for (i, plot) in self.plots.iter().enumerate() {
            if self.plots[..i].contains(plot) {
                return field(format!("{plot} is listed twice; name each chart once"));
            }
        }
        for &plot in &self.plots {
            let (w, h) = self.size_of(plot);
            let pixels = u64::from(w) * u64::from(h);
            if pixels > MAX_PIXELS {
                return Err(ParseError::Field {
                    field: "width",
                    reason: format!(
                        "chart {plot} would be {w}×{h} = {pixels} pixels; a chart has at most {MAX_PIXELS} (4800×3600), so choose a smaller width or height"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The plot list without repeats, in the order first given.
    pub fn dedup_plots(&mut self) {
        let mut seen = Vec::with_capacity(self.plots.len());
        self.plots.retain(|p| {
            let first = !seen.contains(p);
            seen.push(*p);
            first
        });
    }
}

impl Message for RenderRequest {
    const NAME: &'static str = "render request";
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.render()
    }
    fn message_id(&self) -> String {
        format!("{}.render", self.request_id)
    }
}

/// The immediate reply to a render request, tagged by `"status"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum RenderReply {
    /// The request is valid and being worked on; events follow.
    Accepted {
        /// Schema version, always 1.
        v: V1,
        /// The request's ID.
        request_id: RequestId,
        /// The charts that will be drawn (each ends in a `done` or `failed` event).
        plots: Vec<PlotId>,
    },
    /// The request is invalid; nothing will be published for it.
    Rejected {
        /// Schema version, always 1.
        v: V1,
        /// The request's ID (empty when the request was too malformed to have one).
        request_id: Option<RequestId>,
        /// What is wrong and what to do, in words for a person.
        error: String,
    },
}

impl Message for RenderReply {
    const NAME: &'static str = "render reply";
    /// Replies go to the request's reply inbox, not a fixed subject; this is the request subject.
    fn subject(&self, subjects: &Subjects) -> String {
        subjects.render()
    }
    fn message_id(&self) -> String {
        match self {
            Self::Accepted { request_id, .. } => format!("{request_id}.accepted"),
            Self::Rejected {
                request_id: Some(id),
                ..
            } => format!("{id}.rejected"),
            Self::Rejected {
                request_id: None, ..
            } => "unnamed.rejected".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01 00:00 UTC.
    const NOW_MS: i64 = 1_704_067_200_000;

    fn request() -> RenderRequest {
        RenderRequest::new(
            RequestId::parse("r1").unwrap(),
            Symbol::parse("BTC").unwrap(),
            Interval::M5,
        )
    }

    #[test]
    fn a_minimal_request_gets_the_documented_defaults() {
        let json = br#"{"v":1,"request_id":"r1","symbol":"btc","interval":"5m"}"#;
        let r = RenderRequest::decode(json).unwrap();
        assert_eq!(r, request());
        assert_eq!(r.window_len(), 864);
        assert_eq!(r.params(), AnalysisParams::default());
        assert_eq!(r.plots, PlotId::ALL.to_vec());
        assert_eq!(r.size_of(PlotId::Overview), (1280, 720));
        r.check(NOW_MS).unwrap();
    }

    /// One analysis, one blob: the blob key is built from the canonical names.
    #[test]
    fn names_as_typed_resolve_to_the_default_parameters() {
        let json = br#"{"v":1,"request_id":"r1","symbol":"btc","interval":"5m","wavelet":"Haar ","mode":" SYMMETRIC"}"#;
        let r = RenderRequest::decode(json).unwrap();
        assert_eq!(r.params(), AnalysisParams::default());
        let bad = br#"{"v":1,"request_id":"r1","symbol":"btc","interval":"5m","mode":"mirror"}"#;
        let e = RenderRequest::decode(bad).unwrap_err().to_string();
        assert!(e.contains("invalid mode 'mirror'"), "{e}");
    }

    #[test]
    fn a_full_request_round_trips() {
        let mut r = request();
        r.source = Source::Sample;
        r.window = Some(4320);
        r.wavelet = Some(Wavelet::parse("db4").unwrap());
        r.mode = Some(Mode::Periodization);
        r.mra = Some(MraKind::Dwt);
        r.width = Some(1920);
        r.format = ImageFormat::Svg;
        r.tz = Some(TimeZone::parse("Asia/Tokyo").unwrap());
        r.plots = vec![PlotId::Bands];
        assert_eq!(RenderRequest::decode(&r.encode()).unwrap(), r);
        assert_eq!(r.subject(&Subjects::default()), "waveplot.render");
        assert_eq!(r.size_of(PlotId::Overview), (1920, 1080));
    }

    #[test]
    fn out_of_range_fields_are_named_with_the_valid_range() {
        type Spoil = fn(&mut RenderRequest);
        let cases: [(Spoil, &str, &str); 13] = [
            (|r| r.window = Some(3), "window", "use 16 to 1000000"),
            (
                |r| r.window = Some(1_000_001),
                "window",
                "use 16 to 1000000",
            ),
            (|r| r.levels = Some(0), "levels", "use 1 to 20"),
            (|r| r.anomaly_k = Some(f64::NAN), "anomaly_k", "positive"),
            (|r| r.width = Some(10), "width", "use 320 to 8192"),
            (|r| r.height = Some(100_000), "height", "use 320 to 8192"),
            (|r| r.plots.clear(), "plots", "leave it out"),
            (
                |r| r.plots = vec![PlotId::Bands, PlotId::Bands],
                "plots",
                "listed twice",
            ),
            (|r| r.width = Some(8192), "width", "at most 17280000"),
            (|r| r.end_ms = Some(-1), "end_ms", "after 1970"),
            (
                |r| r.end_ms = Some(NOW_MS + 600_000),
                "end_ms",
                "no later than",
            ),
            (|r| r.format = ImageFormat::Svg, "format", "use png"),
            (|r| r.width = Some(4800), "width", "02a would be 4800×6750"),
        ];
        for (spoil, name, says) in cases {
            let mut r = request();
            r.window = Some(MAX_SVG_WINDOW + 1);
            spoil(&mut r);
            if name != "format" {
                r.format = ImageFormat::Png;
            }
            let e = r.check(NOW_MS).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid {name}")), "{e}");
            assert!(e.contains(says), "{e}");
        }
        let mut fine = request();
        fine.end_ms = Some(NOW_MS + 300_000);
        fine.window = Some(MAX_WINDOW);
        fine.width = Some(4800);
        fine.plots = vec![PlotId::Overview];
        fine.check(NOW_MS).unwrap();
    }

    #[test]
    fn repeated_plots_are_dropped_in_the_order_first_given() {
        let mut r = request();
        r.plots = vec![
            PlotId::Bands,
            PlotId::Overview,
            PlotId::Bands,
            PlotId::Overview,
        ];
        r.dedup_plots();
        assert_eq!(r.plots, [PlotId::Bands, PlotId::Overview]);
        r.check(NOW_MS).unwrap();
    }

    #[test]
    fn bad_requests_fail_to_decode_with_the_field_named() {
        let cases = [
            (
                r#"{"v":2,"request_id":"r","symbol":"BTC","interval":"5m"}"#,
                "schema version",
            ),
            (
                r#"{"v":1,"request_id":"r","symbol":"BTC","interval":"7m"}"#,
                "valid intervals",
            ),
            (
                r#"{"v":1,"request_id":"r","symbol":"B$","interval":"5m"}"#,
                "invalid symbol",
            ),
            (
                r#"{"v":1,"request_id":"r","interval":"5m"}"#,
                "missing field `symbol`",
            ),
            (
                r#"{"v":1,"request_id":"r","symbol":"BTC","interval":"5m","plots":["9"]}"#,
                "plot ID",
            ),
            (
                r#"{"v":1,"request_id":"r","symbol":"BTC","interval":"5m","tz":"Berlin"}"#,
                "invalid time zone 'Berlin'",
            ),
            (r#"not json"#, "malformed render request"),
        ];
        for (json, want) in cases {
            let e = RenderRequest::decode(json.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn replies_are_tagged_by_status() {
        let ok = RenderReply::Accepted {
            v: V1,
            request_id: RequestId::parse("r1").unwrap(),
            plots: vec![PlotId::Overview],
        };
        let json = String::from_utf8(ok.encode()).unwrap();
        assert_eq!(
            json,
            r#"{"status":"accepted","v":1,"request_id":"r1","plots":["01"]}"#
        );
        assert_eq!(RenderReply::decode(json.as_bytes()).unwrap(), ok);
        let no = RenderReply::Rejected {
            v: V1,
            request_id: None,
            error: "unknown wavelet".into(),
        };
        assert_eq!(RenderReply::decode(&no.encode()).unwrap(), no);
    }
}
