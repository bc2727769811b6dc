//! Reading only part of a blob: a reader that draws one chart names the series it
//! needs ([`Parts`]) and [`Blob::decode_parts`] skips the others as it reads, from any
//! [`std::io::Read`] (a store's byte stream), so that neither the encoded blob nor the
//! series it does not need are ever held. A skipped candle column is an empty vector;
//! a skipped level is an empty vector in its place, so `smooths[j - 1]` still names
//! level j.

use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::codec::{ELEMENTS, read_sections, section};
use super::{
    Analysis, Anomalies, BandStats, Blob, CandleColumns, Candles, Header, Signal, Signals,
};
use crate::error::BlobError;
use crate::request::MAX_LEVELS;

/// A column of [`Candles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `open_time_ms`.
    OpenTime,
    /// `close_time_ms`.
    CloseTime,
    /// `open`.
    Open,
    /// `high`.
    High,
    /// `low`.
    Low,
    /// `close`.
    Close,
    /// `volume`.
    Volume,
    /// `quote_volume`.
    QuoteVolume,
    /// `trades`.
    Trades,
    /// `taker_buy_base`.
    TakerBuyBase,
    /// `taker_buy_quote`.
    TakerBuyQuote,
}

impl Column {
    /// Every column, in the blob's order.
    pub const ALL: [Column; 11] = [
        Column::OpenTime,
        Column::CloseTime,
        Column::Open,
        Column::High,
        Column::Low,
        Column::Close,
        Column::Volume,
        Column::QuoteVolume,
        Column::Trades,
        Column::TakerBuyBase,
        Column::TakerBuyQuote,
    ];

    /// The column's field name in the blob.
    pub fn name(self) -> &'static str {
        match self {
            Column::OpenTime => "open_time_ms",
            Column::CloseTime => "close_time_ms",
            Column::Open => "open",
            Column::High => "high",
            Column::Low => "low",
            Column::Close => "close",
            Column::Volume => "volume",
            Column::QuoteVolume => "quote_volume",
            Column::Trades => "trades",
            Column::TakerBuyBase => "taker_buy_base",
            Column::TakerBuyQuote => "taker_buy_quote",
        }
    }

    /// The column called `name`, if any.
    pub(super) fn named(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The column's length in `candles`.
    pub fn len_in(self, c: CandleColumns<'_>) -> usize {
        match self {
            Column::OpenTime => c.open_time_ms.len(),
            Column::CloseTime => c.close_time_ms.len(),
            Column::Open => c.open.len(),
            Column::High => c.high.len(),
            Column::Low => c.low.len(),
            Column::Close => c.close.len(),
            Column::Volume => c.volume.len(),
            Column::QuoteVolume => c.quote_volume.len(),
            Column::Trades => c.trades.len(),
            Column::TakerBuyBase => c.taker_buy_base.len(),
            Column::TakerBuyQuote => c.taker_buy_quote.len(),
        }
    }
}

/// Which decomposition levels of a per-level series a reader keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Levels {
    /// None of them.
    None,
    /// All of them.
    All,
    /// Only these levels (1-based).
    Only(Vec<u32>),
}

impl Levels {
    /// Whether level `j` (1-based) is kept.
    pub fn keeps(&self, j: u32) -> bool {
        match self {
            Levels::None => false,
            Levels::All => true,
            Levels::Only(levels) => levels.contains(&j),
        }
    }
}

/// The parts of a blob a reader keeps. The header, the anomalies, the band statistics
/// and the signals' counts are always kept: they are small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    /// Candle columns kept.
    pub columns: Vec<Column>,
    /// Whether the `wavedec` coefficients are kept.
    pub coeffs: bool,
    /// Details kept.
    pub details: Levels,
    /// Smooths kept.
    pub smooths: Levels,
    /// Whether the per-candle signal is kept.
    pub signal: bool,
}

impl Parts {
    /// The whole blob.
    pub fn all() -> Parts {
        Parts {
            columns: Column::ALL.to_vec(),
            coeffs: true,
            details: Levels::All,
            smooths: Levels::All,
            signal: true,
        }
    }

    /// Whether `column` is kept.
    pub fn keeps(&self, column: Column) -> bool {
        self.columns.contains(&column)
    }
}

impl Blob {
    /// Decodes from `reader` the parts of a blob that `choose` picks once it has seen
    /// the header (or refuses, for a blob larger than the reader planned for),
    /// skipping the rest as it reads; then checks that every kept series has one value
    /// per candle ([`Blob::check_parts`]). Errors as [`Blob::decode`]; a failing reader is
    /// [`BlobError::Read`].
    pub fn decode_parts(
        mut reader: impl Read,
        choose: impl FnOnce(&Header) -> Result<Parts, BlobError>,
    ) -> Result<(Blob, Parts), BlobError> {
        let elements = read_sections(&mut reader)?;
        let mut de = rmp_serde::Deserializer::new(reader);
        let header = Header::deserialize(&mut de).map_err(section("header"))?;
        let parts = choose(&header)?;
        let candles = CandlesSeed(&parts)
            .deserialize(&mut de)
            .map_err(section("candles"))?;
        let analysis = AnalysisSeed(&parts)
            .deserialize(&mut de)
            .map_err(section("analysis"))?;
        if elements >= ELEMENTS + 2 {
            // Read to the end, so that a blob cut short anywhere is malformed.
            IgnoredAny::deserialize(&mut de).map_err(section("index"))?;
            u64::deserialize(&mut de).map_err(section("index"))?;
        }
        Blob::checked(header, candles, analysis, parts)
    }

    /// The blob of these sections, read with `parts`, once [`Blob::check_parts`] passes.
    pub(super) fn checked(
        header: Header,
        candles: Candles,
        analysis: Analysis,
        parts: Parts,
    ) -> Result<(Blob, Parts), BlobError> {
        let blob = Blob {
            header,
            candles,
            analysis,
        };
        blob.check_parts(&parts)?;
        Ok((blob, parts))
    }
}

/// Reads [`Candles`], keeping the columns of a [`Parts`].
struct CandlesSeed<'p>(&'p Parts);

impl<'de> DeserializeSeed<'de> for CandlesSeed<'_> {
    type Value = Candles;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Candles, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CandlesSeed<'_> {
    type Value = Candles;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the candles as a map of columns")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Candles, A::Error> {
        let mut c = Candles::default();
        while let Some(key) = map.next_key::<String>()? {
            match Column::named(&key).filter(|&col| self.0.keeps(col)) {
                Some(column) => map.next_value_seed(ColumnSeed {
                    candles: &mut c,
                    column,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(c)
    }
}

/// Reads one column into its place in [`Candles`].
pub(super) struct ColumnSeed<'c> {
    /// Where the column goes.
    pub(super) candles: &'c mut Candles,
    /// Which column it is.
    pub(super) column: Column,
}

impl<'de> DeserializeSeed<'de> for ColumnSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        match slot(self.candles, self.column) {
            Slot::Times(v) => *v = Vec::deserialize(de)?,
            Slot::Counts(v) => *v = Vec::deserialize(de)?,
            Slot::Values(v) => *v = Vec::deserialize(de)?,
        }
        Ok(())
    }
}

/// Where a column of [`Candles`] goes, by its type.
pub(super) enum Slot<'c> {
    /// Times in ms.
    Times(&'c mut Vec<i64>),
    /// Trade counts.
    Counts(&'c mut Vec<u64>),
    /// Prices and volumes.
    Values(&'c mut Vec<f64>),
}

/// The place of `column` in `c`.
pub(super) fn slot(c: &mut Candles, column: Column) -> Slot<'_> {
    match column {
        Column::OpenTime => Slot::Times(&mut c.open_time_ms),
        Column::CloseTime => Slot::Times(&mut c.close_time_ms),
        Column::Open => Slot::Values(&mut c.open),
        Column::High => Slot::Values(&mut c.high),
        Column::Low => Slot::Values(&mut c.low),
        Column::Close => Slot::Values(&mut c.close),
        Column::Volume => Slot::Values(&mut c.volume),
        Column::QuoteVolume => Slot::Values(&mut c.quote_volume),
        Column::Trades => Slot::Counts(&mut c.trades),
        Column::TakerBuyBase => Slot::Values(&mut c.taker_buy_base),
        Column::TakerBuyQuote => Slot::Values(&mut c.taker_buy_quote),
    }
}

/// Reads [`Analysis`], keeping the series of a [`Parts`].
struct AnalysisSeed<'p>(&'p Parts);

impl<'de> DeserializeSeed<'de> for AnalysisSeed<'_> {
    type Value = Analysis;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Analysis, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AnalysisSeed<'_> {
    type Value = Analysis;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the analysis as a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Analysis, A::Error> {
        let parts = self.0;
        let mut a = Analysis::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "coeffs" if parts.coeffs => a.coeffs = map.next_value()?,
                "details" => a.details = map.next_value_seed(LevelsSeed(&parts.details))?,
                "smooths" => a.smooths = map.next_value_seed(LevelsSeed(&parts.smooths))?,
                "anomalies" => a.anomalies = map.next_value::<Anomalies>()?,
                "signals" => a.signals = map.next_value_seed(SignalsSeed(parts.signal))?,
                "bands" => a.bands = map.next_value::<Vec<BandStats>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(a)
    }
}

/// Reads the series of each level, keeping those of a [`Levels`] and leaving an empty
/// vector in place of the others.
struct LevelsSeed<'l>(&'l Levels);

impl<'de> DeserializeSeed<'de> for LevelsSeed<'_> {
    type Value = Vec<Vec<f64>>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Vec<Vec<f64>>, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LevelsSeed<'_> {
    type Value = Vec<Vec<f64>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("one series per level")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Vec<f64>>, A::Error> {
        let mut out = Vec::new();
        loop {
            if out.len() > MAX_LEVELS as usize {
                return Err(serde::de::Error::custom(format!(
                    "more than {MAX_LEVELS} levels"
                )));
            }
            let level = u32::try_from(out.len() + 1).unwrap_or(u32::MAX);
            if self.0.keeps(level) {
                match seq.next_element::<Vec<f64>>()? {
                    Some(series) => out.push(series),
                    None => break,
                }
            } else {
                match seq.next_element::<IgnoredAny>()? {
                    Some(_) => out.push(Vec::new()),
                    None => break,
                }
            }
        }
        Ok(out)
    }
}

/// Reads [`Signals`], keeping the per-candle signal or not.
pub(super) struct SignalsSeed(pub(super) bool);

impl<'de> DeserializeSeed<'de> for SignalsSeed {
    type Value = Signals;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Signals, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SignalsSeed {
    type Value = Signals;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the signals as a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Signals, A::Error> {
        let mut s = Signals::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "trend_level" => s.trend_level = map.next_value()?,
                "deviation_std" => s.deviation_std = map.next_value()?,
                "buffer" => s.buffer = map.next_value()?,
                "buy" => s.buy = map.next_value()?,
                "sell" => s.sell = map.next_value()?,
                "hold" => s.hold = map.next_value()?,
                "signal" if self.0 => s.signal = map.next_value::<Vec<Signal>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(s)
    }
}
