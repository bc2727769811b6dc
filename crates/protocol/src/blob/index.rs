//! The section index (schema 1.2): where each series of a blob lies, so that a reader
//! that draws one chart fetches the byte ranges of the series it needs and nothing
//! else ([`Blob::decode_sections`]).
//!
//! Since 1.2 the blob's top-level array has two more elements after the analysis: the
//! index, a map from a section's name to its `[start, end)` byte range in the blob,
//! and the index's own start as a fixed-width uint64 (`0xcf` and eight bytes, big
//! endian), always the blob's last nine bytes. A reader reads the blob's tail
//! ([`TAIL_BYTES`]), finds the index there ([`Index::from_tail`]) and then the ranges
//! it wants. Readers of 1.0 and 1.1 stop after the analysis and never see either.
//!
//! Sections: `header`; `candles.<column>` for each column; `analysis.coeffs`;
//! `analysis.details.<j>` and `analysis.smooths.<j>` for each level j (1 = finest);
//! `analysis.anomalies`; `analysis.signals`; `analysis.bands`. Each range holds one
//! MessagePack value.

use std::io::Read;
use std::ops::Range;

use serde::Deserialize as _;
use serde::de::DeserializeSeed as _;

use super::codec::{float, numbers, read_sections, section, signed, unsigned};
use super::parts::{Column, ColumnSeed, Parts, SignalsSeed, Slot, slot};
use super::{Analysis, Anomalies, BandStats, Blob, Candles, Header, MAX_HEADER_BYTES};
use crate::error::BlobError;
use crate::request::MAX_LEVELS;

/// How many bytes at a blob's end a reader fetches to find its index: the trailer and
/// an index of up to twenty levels, with room to spare. An index that starts earlier
/// is malformed.
pub const TAIL_BYTES: u64 = 16 * 1024;

/// The trailer: the index's start as a MessagePack uint64.
const TRAILER_BYTES: usize = 9;

/// One section of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The header.
    Header,
    /// A candle column.
    Column(Column),
    /// The `wavedec` coefficients.
    Coeffs,
    /// The detail of level j (1 = finest).
    Detail(u32),
    /// The smooth of level j.
    Smooth(u32),
    /// The anomalies.
    Anomalies,
    /// The signals, the per-candle signal included.
    Signals,
    /// The band statistics.
    Bands,
}

impl Section {
    /// The section's name in the index.
    pub fn name(self) -> String {
        match self {
            Section::Header => "header".to_owned(),
            Section::Column(c) => format!("candles.{}", c.name()),
            Section::Coeffs => "analysis.coeffs".to_owned(),
            Section::Detail(j) => format!("analysis.details.{j}"),
            Section::Smooth(j) => format!("analysis.smooths.{j}"),
            Section::Anomalies => "analysis.anomalies".to_owned(),
            Section::Signals => "analysis.signals".to_owned(),
            Section::Bands => "analysis.bands".to_owned(),
        }
    }

    /// The section called `name`; `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Section> {
        let level = |rest: &str| rest.parse::<u32>().ok().filter(|&j| j > 0);
        match name {
            "header" => Some(Section::Header),
            "analysis.coeffs" => Some(Section::Coeffs),
            "analysis.anomalies" => Some(Section::Anomalies),
            "analysis.signals" => Some(Section::Signals),
            "analysis.bands" => Some(Section::Bands),
            _ => {
                if let Some(column) = name.strip_prefix("candles.") {
                    Column::named(column).map(Section::Column)
                } else if let Some(j) = name.strip_prefix("analysis.details.") {
                    level(j).map(Section::Detail)
                } else {
                    level(name.strip_prefix("analysis.smooths.")?).map(Section::Smooth)
                }
            }
        }
    }
}

/// Where each section of a blob lies, as byte ranges from the blob's start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    sections: Vec<(Section, Range<u64>)>,
}

impl Index {
    /// Records that `section` lies at `range`.
    pub(super) fn push(&mut self, section: Section, range: Range<u64>) {
        self.sections.push((section, range));
    }

    /// The byte range of `section`, if the blob has it.
    pub fn range(&self, section: Section) -> Option<Range<u64>> {
        self.sections
            .iter()
            .find(|(s, _)| *s == section)
            .map(|(_, r)| r.clone())
    }

    /// Writes the index and the trailer that locates it, the index starting at byte
    /// `start` of the blob.
    pub(super) fn write(
        &self,
        out: &mut impl std::io::Write,
        start: u64,
    ) -> Result<(), rmp::encode::ValueWriteError> {
        rmp::encode::write_map_len(out, self.sections.len() as u32)?;
        for (section, range) in &self.sections {
            rmp::encode::write_str(out, &section.name())?;
            rmp::encode::write_array_len(out, 2)?;
            rmp::encode::write_uint(out, range.start)?;
            rmp::encode::write_uint(out, range.end)?;
        }
        rmp::encode::write_u64(out, start)
    }

    /// The index of a blob of `size` bytes from its last bytes `tail` (at most
    /// [`TAIL_BYTES`]): `None` when the blob has none (written before 1.2), an error
    /// when its trailer points at something that is not an index or outside the blob.
    pub fn from_tail(tail: &[u8], size: u64) -> Result<Option<Index>, BlobError> {
        let malformed = |what| BlobError::Malformed { what, source: None };
        let Some(at) = tail.len().checked_sub(TRAILER_BYTES) else {
            return Ok(None);
        };
        let trailer = &tail[at..];
        if trailer[0] != 0xcf || tail.len() as u64 > size {
            return Ok(None);
        }
        let start = u64::from_be_bytes(trailer[1..].try_into().expect("eight bytes"));
        let tail_start = size - tail.len() as u64;
        let Some(offset) = start
            .checked_sub(tail_start)
            .filter(|&o| o < at as u64)
            .map(|o| o as usize)
        else {
            return Err(malformed("index (its start is outside the blob's tail)"));
        };
        let mut rd = &tail[offset..at];
        let entries = rmp::decode::read_map_len(&mut rd).map_err(|_| malformed("index"))?;
        let mut index = Index::default();
        for _ in 0..entries {
            let mut name = [0u8; 64];
            let name = rmp::decode::read_str(&mut rd, &mut name).map_err(|_| malformed("index"))?;
            let pair = rmp::decode::read_array_len(&mut rd).map_err(|_| malformed("index"))?;
            let start: u64 = rmp::decode::read_int(&mut rd).map_err(|_| malformed("index"))?;
            let end: u64 = rmp::decode::read_int(&mut rd).map_err(|_| malformed("index"))?;
            if pair != 2 || start >= end || end > size {
                return Err(malformed("index (a range outside the blob)"));
            }
            if let Some(section) = Section::parse(name) {
                index.push(section, start..end);
            }
        }
        Ok(Some(index))
    }
}

/// Bytes any section may take beyond 32 a candle.
const SECTION_SLACK: u64 = 64 * 1024;

/// A series of the analysis from its section's bytes.
fn series_of(bytes: &[u8]) -> Result<Vec<f64>, BlobError> {
    match numbers(bytes, 9, float) {
        Some(series) => Ok(series),
        None => Vec::deserialize(&mut de(bytes)).map_err(section("analysis")),
    }
}

/// A decoder of one section's bytes.
fn de(bytes: &[u8]) -> rmp_serde::Deserializer<rmp_serde::decode::ReadRefReader<'_, [u8]>> {
    rmp_serde::Deserializer::from_read_ref(bytes)
}

impl Blob {
    /// Decodes the parts of a blob held whole in `bytes` that `choose` picks, as
    /// [`Blob::decode_sections`] does through the blob's index: the other sections are
    /// never parsed, and the kept series' numbers are decoded straight from their
    /// bytes. A blob without an index (written before 1.2) is decoded as
    /// [`Blob::decode_parts`] does.
    pub fn decode_parts_in(
        bytes: &[u8],
        choose: impl FnOnce(&Header) -> Result<Parts, BlobError>,
    ) -> Result<(Blob, Parts), BlobError> {
        let tail = &bytes[bytes.len().saturating_sub(TAIL_BYTES as usize)..];
        match Index::from_tail(tail, bytes.len() as u64)? {
            Some(index) => Self::decode_sections(&index, choose, |range| {
                let start = usize::try_from(range.start).ok();
                let end = usize::try_from(range.end).ok();
                start
                    .zip(end)
                    .and_then(|(start, end)| bytes.get(start..end))
                    .ok_or(BlobError::Malformed {
                        what: "index (a section lies beyond the blob's end)",
                        source: None,
                    })
            }),
            None => Self::decode_parts(bytes, choose),
        }
    }

    /// Decodes the parts of a blob that `choose` picks once it has seen the header,
    /// section by section: `open` gives a reader over a byte range of the blob (a
    /// ranged read of the store), and only the ranges of the kept series are opened,
    /// in the order they lie in the blob (so that `open` may serve neighbours from one
    /// read).
    /// Checks what it read as [`Blob::decode_parts`] does; a section the index lacks
    /// is a malformed blob.
    pub fn decode_sections<R: Read>(
        index: &Index,
        choose: impl FnOnce(&Header) -> Result<Parts, BlobError>,
        mut open: impl FnMut(Range<u64>) -> Result<R, BlobError>,
    ) -> Result<(Blob, Parts), BlobError> {
        // The magic and the versions lie before the header: a reader refuses a blob of
        // another major version however it reads it.
        let missing = || BlobError::Malformed {
            what: "index (a section is missing)",
            source: None,
        };
        let header_at = index.range(Section::Header).ok_or_else(missing)?.start;
        read_sections(&mut open(0..header_at)?)?;
        // Each section is read whole, one at a time, and its numbers decoded straight
        // from memory ([`numbers`]). The six charts' parts of a million-candle blob
        // decode in 321 ms so, against 880 ms through serde from a reader (two reads a
        // number) and 615 ms through serde from memory.
        // A section is at most `most` bytes, so a damaged or forged index cannot make a
        // reader hold more than its candles' worth of one section.
        let mut read = |s: Section, most: u64| -> Result<Vec<u8>, BlobError> {
            let range = index.range(s).ok_or_else(missing)?;
            if range.end - range.start > most {
                return Err(BlobError::Malformed {
                    what: "index (a section is larger than the blob's candles allow)",
                    source: None,
                });
            }
            let mut bytes = Vec::new();
            open(range.clone())?
                .take(range.end - range.start)
                .read_to_end(&mut bytes)
                .map_err(BlobError::Read)?;
            Ok(bytes)
        };
        let header = Header::deserialize(&mut de(&read(Section::Header, MAX_HEADER_BYTES)?))
            .map_err(section("header"))?;
        if header.levels_used > MAX_LEVELS {
            return Err(BlobError::Inconsistent(format!(
                "the header says {} levels; there are at most {MAX_LEVELS}",
                header.levels_used
            )));
        }
        let parts = choose(&header)?;
        // A series is 9 bytes a candle; the other sections take less, and the
        // coefficients a little more, which the fixed part covers.
        let most = SECTION_SLACK + 32 * u64::from(header.candles);
        let mut candles = Candles::default();
        for column in Column::ALL.into_iter().filter(|&c| parts.keeps(c)) {
            let bytes = read(Section::Column(column), most)?;
            let fast = match slot(&mut candles, column) {
                Slot::Times(v) => numbers(&bytes, 1, signed).map(|n| *v = n),
                Slot::Counts(v) => numbers(&bytes, 1, unsigned).map(|n| *v = n),
                Slot::Values(v) => numbers(&bytes, 9, float).map(|n| *v = n),
            };
            if fast.is_none() {
                ColumnSeed {
                    candles: &mut candles,
                    column,
                }
                .deserialize(&mut de(&bytes))
                .map_err(section("candles"))?;
            }
        }
        let levels = header.levels_used;
        let mut analysis = Analysis::default();
        if parts.coeffs {
            analysis.coeffs = Vec::deserialize(&mut de(&read(Section::Coeffs, most)?))
                .map_err(section("analysis"))?;
        }
        for (kept, part, series) in [
            (
                &parts.details,
                Section::Detail as fn(u32) -> Section,
                &mut analysis.details,
            ),
            (&parts.smooths, Section::Smooth, &mut analysis.smooths),
        ] {
            for j in 1..=levels {
                series.push(if kept.keeps(j) {
                    series_of(&read(part(j), most)?)?
                } else {
                    Vec::new()
                });
            }
        }
        analysis.anomalies = Anomalies::deserialize(&mut de(&read(Section::Anomalies, most)?))
            .map_err(section("analysis"))?;
        analysis.signals = SignalsSeed(parts.signal)
            .deserialize(&mut de(&read(Section::Signals, most)?))
            .map_err(section("analysis"))?;
        analysis.bands = Vec::<BandStats>::deserialize(&mut de(&read(Section::Bands, most)?))
            .map_err(section("analysis"))?;
        Blob::checked(header, candles, analysis, parts)
    }
}
