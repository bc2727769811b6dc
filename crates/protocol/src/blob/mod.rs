//! The analysis blob: one MessagePack document per analysed window, written by
//! prepare and read by the plotters (and any other tool).
//!
//! On the wire it is a MessagePack array:
//!
//! ```text
//! [ MAGIC (bin, b"WAVEPLOT"), major (uint), minor (uint), header (map), candles (map), analysis (map),
//!   index (map, since 1.2), index start (uint64, since 1.2) ]
//! ```
//!
//! Structs are maps keyed by field name. A minor version only adds fields (readers
//! ignore fields they do not know, and new fields carry defaults) or appends array
//! elements after the analysis; a major version may change anything, and a reader
//! refuses a major it does not know. All floating-point series are f64: the CPU
//! reference computes in f64, and a GPU's f32 results widen to f64 exactly, so one
//! reader path serves both (the header's `backend` says which produced them).

mod codec;
pub mod index;
pub mod parts;

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;
use crate::interval::Interval;
use crate::request::AnalysisParams;
use crate::source::Source;
use crate::symbol::Symbol;

pub use index::{Index, Section, TAIL_BYTES};
pub use parts::{Column, Levels, Parts};

/// The compute backend that produced an analysis: `cpu` or `vulkan` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Backend {
    /// The f64 CPU reference.
    Cpu,
    /// The Vulkan compute pass.
    Vulkan,
}

impl Backend {
    /// The backend's name (`cpu`, `vulkan`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Vulkan => "vulkan",
        }
    }

    /// Parses a backend's name.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        match input {
            "cpu" => Ok(Self::Cpu),
            "vulkan" => Ok(Self::Vulkan),
            _ => Err(ParseError::Field {
                field: "backend",
                reason: format!("'{input}'; use cpu or vulkan"),
            }),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Backend> for String {
    fn from(b: Backend) -> String {
        b.as_str().to_owned()
    }
}

crate::parse_impls!(Backend);

/// The blob schema's major version this build writes and reads.
pub const SCHEMA_MAJOR: u16 = 1;
/// The blob schema's minor version this build writes.
pub const SCHEMA_MINOR: u16 = 2;
/// The most bytes a blob's header takes, magic and versions included: a reader that
/// wants only the header reads this prefix (see [`Blob::decode_header`]). Real headers
/// are under 8 KiB; one larger is malformed.
pub const MAX_HEADER_BYTES: u64 = 64 * 1024;
/// The first element of every blob.
pub const MAGIC: &[u8; 8] = b"WAVEPLOT";

/// A whole blob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blob {
    /// What the blob is about and how it was made.
    pub header: Header,
    /// The candles of the window, oldest first.
    pub candles: Candles,
    /// The analysis results the charts draw.
    pub analysis: Analysis,
}

/// A blob's sections, borrowed: what a writer that keeps the candles apart from the
/// analysis encodes ([`BlobView::encode_to`]) and draws without copying either (prepare,
/// whose window may be a range of a kept file's candles). [`Blob::view`] borrows a
/// whole blob.
#[derive(Debug, Clone, Copy)]
pub struct BlobView<'a> {
    /// What the blob is about and how it was made.
    pub header: &'a Header,
    /// The candles of the window, oldest first.
    pub candles: CandleColumns<'a>,
    /// The analysis results the charts draw.
    pub analysis: &'a Analysis,
}

impl Blob {
    /// The blob, borrowed.
    pub fn view(&self) -> BlobView<'_> {
        BlobView {
            header: &self.header,
            candles: self.candles.columns(),
            analysis: &self.analysis,
        }
    }
}

/// What the blob is about and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Header {
    /// Trading pair.
    pub symbol: Symbol,
    /// Kline interval.
    pub interval: Interval,
    /// Where the candles came from.
    pub source: Source,
    /// How to name the source to a person, e.g. "sample data (2022-08-14 to 2022-08-16)".
    pub source_label: String,
    /// Open time (ms, UTC) of the first candle.
    pub first_open_ms: i64,
    /// Open time (ms, UTC) of the last candle.
    pub last_open_ms: i64,
    /// Close time (ms, UTC) of the last candle.
    pub last_close_ms: i64,
    /// Number of candles.
    pub candles: u32,
    /// Candles missing inside the window (gaps in the open times), reported, never filled.
    pub missing_candles: u32,
    /// Analysis parameters, defaults resolved.
    pub params: AnalysisParams,
    /// Decomposition levels requested.
    pub levels_requested: u32,
    /// Decomposition levels used (fewer when the window is too short; see `level_note`).
    pub levels_used: u32,
    /// Why fewer levels were used than requested, if they were.
    pub level_note: Option<String>,
    /// Compute backend.
    pub backend: Backend,
    /// The device the backend ran on.
    pub device: String,
    /// When the blob was made (ms, UTC).
    pub created_ms: i64,
    /// Candle loading time, ms.
    pub load_ms: f64,
    /// Analysis time, ms.
    pub analysis_ms: f64,
    /// The window's numbers at a glance, so that a reader of the header alone (the
    /// gateway, prepare reusing a blob) never decodes the series. Added in 1.1; absent
    /// in older blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<WindowSummary>,
}

/// The window's numbers at a glance: what a status panel shows without the series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WindowSummary {
    /// Close of the first candle.
    pub first_close: f64,
    /// Close of the last candle.
    pub last_close: f64,
    /// Number of anomalies.
    pub anomalies: u32,
    /// The anomaly threshold, `median + k·MAD` of |D1|.
    pub anomaly_threshold: f64,
    /// BUY candles.
    pub buy: u32,
    /// SELL candles.
    pub sell: u32,
    /// HOLD candles.
    pub hold: u32,
    /// Statistics of each detail band, level 1 first (as in the analysis).
    pub bands: Vec<BandStats>,
}

impl WindowSummary {
    /// The summary of `candles` and their `analysis`.
    pub fn of(candles: CandleColumns<'_>, analysis: &Analysis) -> Self {
        let close = |c: Option<&f64>| c.copied().unwrap_or(0.0);
        Self {
            first_close: close(candles.close.first()),
            last_close: close(candles.close.last()),
            anomalies: u32::try_from(analysis.anomalies.indices.len()).unwrap_or(u32::MAX),
            anomaly_threshold: analysis.anomalies.threshold,
            buy: analysis.signals.buy,
            sell: analysis.signals.sell,
            hold: analysis.signals.hold,
            bands: analysis.bands.clone(),
        }
    }

    /// Change of the close over the window, percent (0 when the first close is 0).
    pub fn change_pct(&self) -> f64 {
        if self.first_close == 0.0 {
            0.0
        } else {
            (self.last_close / self.first_close - 1.0) * 100.0
        }
    }
}

/// Candles as columns: each field has one entry per candle, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Candles {
    /// Open times (ms, UTC).
    pub open_time_ms: Vec<i64>,
    /// Close times (ms, UTC); not always open + interval − 1 (trading halts end candles early).
    pub close_time_ms: Vec<i64>,
    /// Open prices.
    pub open: Vec<f64>,
    /// High prices.
    pub high: Vec<f64>,
    /// Low prices.
    pub low: Vec<f64>,
    /// Close prices.
    pub close: Vec<f64>,
    /// Base-asset volume.
    pub volume: Vec<f64>,
    /// Quote-asset volume.
    pub quote_volume: Vec<f64>,
    /// Number of trades.
    pub trades: Vec<u64>,
    /// Taker buy base-asset volume.
    pub taker_buy_base: Vec<f64>,
    /// Taker buy quote-asset volume.
    pub taker_buy_quote: Vec<f64>,
}

impl Candles {
    /// Number of candles (the length of `open_time_ms`).
    pub fn len(&self) -> usize {
        self.open_time_ms.len()
    }

    /// True when there are no candles.
    pub fn is_empty(&self) -> bool {
        self.open_time_ms.is_empty()
    }

    /// The candles at `range` (e.g. the last N of a longer series).
    ///
    /// # Panics
    /// If `range` reaches past the candles.
    pub fn slice(&self, range: Range<usize>) -> Candles {
        self.columns().slice(range).to_candles()
    }

    /// The columns, borrowed.
    pub fn columns(&self) -> CandleColumns<'_> {
        CandleColumns {
            open_time_ms: &self.open_time_ms,
            close_time_ms: &self.close_time_ms,
            open: &self.open,
            high: &self.high,
            low: &self.low,
            close: &self.close,
            volume: &self.volume,
            quote_volume: &self.quote_volume,
            trades: &self.trades,
            taker_buy_base: &self.taker_buy_base,
            taker_buy_quote: &self.taker_buy_quote,
        }
    }

    /// Appends the candles of `other` after these (their order is the caller's to
    /// keep).
    pub fn extend_from(&mut self, other: &Candles) {
        self.open_time_ms.extend_from_slice(&other.open_time_ms);
        self.close_time_ms.extend_from_slice(&other.close_time_ms);
        self.open.extend_from_slice(&other.open);
        self.high.extend_from_slice(&other.high);
        self.low.extend_from_slice(&other.low);
        self.close.extend_from_slice(&other.close);
        self.volume.extend_from_slice(&other.volume);
        self.quote_volume.extend_from_slice(&other.quote_volume);
        self.trades.extend_from_slice(&other.trades);
        self.taker_buy_base.extend_from_slice(&other.taker_buy_base);
        self.taker_buy_quote
            .extend_from_slice(&other.taker_buy_quote);
    }

    /// Gives back the room the columns grew beyond their candles, for candles kept
    /// long after they were read.
    pub fn shrink_to_fit(&mut self) {
        self.open_time_ms.shrink_to_fit();
        self.close_time_ms.shrink_to_fit();
        self.open.shrink_to_fit();
        self.high.shrink_to_fit();
        self.low.shrink_to_fit();
        self.close.shrink_to_fit();
        self.volume.shrink_to_fit();
        self.quote_volume.shrink_to_fit();
        self.trades.shrink_to_fit();
        self.taker_buy_base.shrink_to_fit();
        self.taker_buy_quote.shrink_to_fit();
    }
}

/// [`Candles`], borrowed ([`Candles::columns`]): each column has one entry per candle,
/// oldest first (or none, where a reader skipped it; see [`Parts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CandleColumns<'a> {
    /// Open times (ms, UTC).
    pub open_time_ms: &'a [i64],
    /// Close times (ms, UTC).
    pub close_time_ms: &'a [i64],
    /// Open prices.
    pub open: &'a [f64],
    /// High prices.
    pub high: &'a [f64],
    /// Low prices.
    pub low: &'a [f64],
    /// Close prices.
    pub close: &'a [f64],
    /// Base-asset volume.
    pub volume: &'a [f64],
    /// Quote-asset volume.
    pub quote_volume: &'a [f64],
    /// Number of trades.
    pub trades: &'a [u64],
    /// Taker buy base-asset volume.
    pub taker_buy_base: &'a [f64],
    /// Taker buy quote-asset volume.
    pub taker_buy_quote: &'a [f64],
}

impl<'a> CandleColumns<'a> {
    /// Number of candles (the length of `open_time_ms`).
    pub fn len(&self) -> usize {
        self.open_time_ms.len()
    }

    /// True when there are no candles.
    pub fn is_empty(&self) -> bool {
        self.open_time_ms.is_empty()
    }

    /// The candles at `range`, still borrowed.
    ///
    /// # Panics
    /// If `range` reaches past the candles.
    pub fn slice(self, range: Range<usize>) -> CandleColumns<'a> {
        let r = || range.clone();
        CandleColumns {
            open_time_ms: &self.open_time_ms[r()],
            close_time_ms: &self.close_time_ms[r()],
            open: &self.open[r()],
            high: &self.high[r()],
            low: &self.low[r()],
            close: &self.close[r()],
            volume: &self.volume[r()],
            quote_volume: &self.quote_volume[r()],
            trades: &self.trades[r()],
            taker_buy_base: &self.taker_buy_base[r()],
            taker_buy_quote: &self.taker_buy_quote[r()],
        }
    }

    /// The candles, copied.
    pub fn to_candles(self) -> Candles {
        Candles {
            open_time_ms: self.open_time_ms.to_vec(),
            close_time_ms: self.close_time_ms.to_vec(),
            open: self.open.to_vec(),
            high: self.high.to_vec(),
            low: self.low.to_vec(),
            close: self.close.to_vec(),
            volume: self.volume.to_vec(),
            quote_volume: self.quote_volume.to_vec(),
            trades: self.trades.to_vec(),
            taker_buy_base: self.taker_buy_base.to_vec(),
            taker_buy_quote: self.taker_buy_quote.to_vec(),
        }
    }
}

/// The analysis results. Series of length N are aligned with the candles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The `wavedec` coefficients in PyWavelets' order: cA_J, cD_J, ..., cD_1.
    pub coeffs: Vec<Vec<f64>>,
    /// Details D1..DJ (D1 first), each of length N, in price units.
    pub details: Vec<Vec<f64>>,
    /// Smooths S1..SJ (S1 first), each of length N, in price units.
    pub smooths: Vec<Vec<f64>>,
    /// Anomalies of the finest detail.
    pub anomalies: Anomalies,
    /// Trading signals around the trend.
    pub signals: Signals,
    /// Statistics of each detail band, level 1 first.
    pub bands: Vec<BandStats>,
}

/// Anomalies: indices where |D1| exceeds `median + k·MAD` of |D1|.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Anomalies {
    /// The factor k.
    pub k: f64,
    /// Median of |D1|.
    pub median: f64,
    /// Median absolute deviation of |D1| from its median.
    pub mad: f64,
    /// `median + k·MAD`.
    pub threshold: f64,
    /// Candle indices of the anomalies, ascending.
    pub indices: Vec<u32>,
    /// D1 at those indices (signed).
    pub values: Vec<f64>,
}

/// One trading signal per candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Close below trend − buffer.
    Buy,
    /// Close within the buffer around the trend.
    Hold,
    /// Close above trend + buffer.
    Sell,
}

/// Trading signals: close against the trend smooth, with a neutral buffer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// The smooth level used as the trend (index into `smooths` is this − 1).
    pub trend_level: u32,
    /// Population standard deviation of close − trend.
    pub deviation_std: f64,
    /// Neutral buffer, 0.8 · `deviation_std`.
    pub buffer: f64,
    /// Number of BUY candles.
    pub buy: u32,
    /// Number of SELL candles.
    pub sell: u32,
    /// Number of HOLD candles; buy + sell + hold = N.
    pub hold: u32,
    /// The signal of each candle.
    pub signal: Vec<Signal>,
}

/// Statistics of one detail band D_j, which holds periods of 2^j to 2^(j+1) bars.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BandStats {
    /// The level j (1 = finest).
    pub level: u32,
    /// Shortest period of the band, bars (2^j).
    pub period_min_bars: f64,
    /// Longest period of the band, bars (2^(j+1)).
    pub period_max_bars: f64,
    /// Population standard deviation of D_j.
    pub sigma: f64,
    /// Mean absolute first difference of D_j.
    pub mean_abs_change: f64,
    /// max − min of D_j.
    pub range: f64,
    /// Sign changes between consecutive samples.
    pub zero_crossings: u32,
    /// Mean distance between consecutive local maxima, bars; `None` with fewer than two maxima.
    pub peak_period_bars: Option<f64>,
    /// Mean distance between consecutive local minima, bars; `None` with fewer than two minima.
    pub trough_period_bars: Option<f64>,
    /// `peak_period_bars` in seconds.
    pub peak_period_s: Option<f64>,
    /// `trough_period_bars` in seconds.
    pub trough_period_s: Option<f64>,
    /// (mean of local maxima − mean of local minima) / 2; `None` without maxima or minima.
    pub amplitude: Option<f64>,
}

#[cfg(test)]
mod backend_tests {
    use super::Backend;

    /// Blobs written before the type existed carry the name as a string; they still read.
    #[test]
    fn the_backend_is_a_plain_string_in_json_and_messagepack() {
        assert_eq!(
            serde_json::to_string(&Backend::Vulkan).unwrap(),
            "\"vulkan\""
        );
        let packed = rmp_serde::to_vec(&Backend::Cpu).unwrap();
        assert_eq!(packed, rmp_serde::to_vec("cpu").unwrap());
        assert_eq!(
            rmp_serde::from_slice::<Backend>(&packed).unwrap(),
            Backend::Cpu
        );
        assert!(serde_json::from_str::<Backend>("\"metal\"").is_err());
    }
}
