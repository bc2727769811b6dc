//! Encoding and decoding of [`Blob`]s. Decoding reads the magic and version before
//! touching the rest, never allocates far ahead of the bytes it has read (a length
//! prefix only ever reserves a bounded start), and checks that the arrays agree with
//! each other, so a reader gets either a blob it can draw or a typed error.

use std::io::Read;

use rmp::decode::{read_array_len, read_bin_len, read_int};
use serde::Deserialize;

use super::index::{Index, Section};
use super::parts::{Column, Parts};
use super::{Blob, BlobView, Header, MAGIC, SCHEMA_MAJOR, SCHEMA_MINOR};
use crate::error::BlobError;

/// Array elements of a blob: magic, major, minor, header, candles, analysis; since 1.2
/// two more follow, the index and its start.
pub(super) const ELEMENTS: u32 = 6;

impl Blob {
    /// Encodes the blob as MessagePack.
    pub fn encode(&self) -> Result<Vec<u8>, BlobError> {
        let mut out = Vec::with_capacity(self.view().size_hint());
        self.encode_to(&mut out)?;
        Ok(out)
    }

    /// Encodes the blob as MessagePack into `out` as it goes ([`BlobView::encode_to`]).
    pub fn encode_to(&self, out: impl std::io::Write) -> Result<(), BlobError> {
        self.view().encode_to(out)
    }

    /// Decodes and checks a blob. Garbage, truncation, a wrong magic, an unknown major
    /// version and arrays of inconsistent lengths are errors, never panics.
    pub fn decode(bytes: &[u8]) -> Result<Blob, BlobError> {
        Blob::decode_parts(bytes, |_| Ok(Parts::all())).map(|(blob, _)| blob)
    }

    /// Decodes only the header, leaving the series unread: what a reader needs to know
    /// what a blob holds costs the header's bytes, not the window's.
    pub fn decode_header(mut bytes: &[u8]) -> Result<Header, BlobError> {
        read_sections(&mut bytes)?;
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
        Header::deserialize(&mut de).map_err(section("header"))
    }

    /// Checks that every series has one value per candle and that the header agrees.
    pub fn check(&self) -> Result<(), BlobError> {
        self.check_parts(&Parts::all())
    }

    /// Checks that every series of `parts` has one value per candle, that the others
    /// are whole or empty (skipped), and that the header agrees
    /// ([`BlobView::check_parts`]).
    pub fn check_parts(&self, parts: &Parts) -> Result<(), BlobError> {
        self.view().check_parts(parts)
    }
}

impl BlobView<'_> {
    /// Encodes the blob as MessagePack into `out` as it goes, so that a large blob can
    /// be streamed to the store without being held whole, with its section index
    /// after the analysis ([`super::index`]); the writer's errors are
    /// [`BlobError::Encode`].
    pub fn encode_to(&self, out: impl std::io::Write) -> Result<(), BlobError> {
        let w = |e: rmp::encode::ValueWriteError| BlobError::Encode(e.into());
        let mut out = Counted { inner: out, n: 0 };
        let mut index = Index::default();
        rmp::encode::write_array_len(&mut out, ELEMENTS + 2).map_err(w)?;
        rmp::encode::write_bin(&mut out, MAGIC).map_err(w)?;
        rmp::encode::write_uint(&mut out, SCHEMA_MAJOR.into()).map_err(w)?;
        rmp::encode::write_uint(&mut out, SCHEMA_MINOR.into()).map_err(w)?;
        put(&mut out, &mut index, Section::Header, self.header)?;
        let c = self.candles;
        rmp::encode::write_map_len(&mut out, Column::ALL.len() as u32).map_err(w)?;
        for column in Column::ALL {
            rmp::encode::write_str(&mut out, column.name()).map_err(w)?;
            let s = Section::Column(column);
            match column {
                Column::OpenTime => put_numbers(&mut out, &mut index, s, c.open_time_ms),
                Column::CloseTime => put_numbers(&mut out, &mut index, s, c.close_time_ms),
                Column::Open => put_numbers(&mut out, &mut index, s, c.open),
                Column::High => put_numbers(&mut out, &mut index, s, c.high),
                Column::Low => put_numbers(&mut out, &mut index, s, c.low),
                Column::Close => put_numbers(&mut out, &mut index, s, c.close),
                Column::Volume => put_numbers(&mut out, &mut index, s, c.volume),
                Column::QuoteVolume => put_numbers(&mut out, &mut index, s, c.quote_volume),
                Column::Trades => put_numbers(&mut out, &mut index, s, c.trades),
                Column::TakerBuyBase => put_numbers(&mut out, &mut index, s, c.taker_buy_base),
                Column::TakerBuyQuote => put_numbers(&mut out, &mut index, s, c.taker_buy_quote),
            }?;
        }
        let a = self.analysis;
        rmp::encode::write_map_len(&mut out, 6).map_err(w)?;
        rmp::encode::write_str(&mut out, "coeffs").map_err(w)?;
        let start = out.n;
        rmp::encode::write_array_len(&mut out, a.coeffs.len() as u32).map_err(w)?;
        for level in &a.coeffs {
            put_series(&mut out, level)?;
        }
        index.push(Section::Coeffs, start..out.n);
        for (name, levels, part) in [
            ("details", &a.details, Section::Detail as fn(u32) -> Section),
            ("smooths", &a.smooths, Section::Smooth),
        ] {
            rmp::encode::write_str(&mut out, name).map_err(w)?;
            rmp::encode::write_array_len(&mut out, levels.len() as u32).map_err(w)?;
            for (j, series) in (1..).zip(levels) {
                put_numbers(&mut out, &mut index, part(j), series)?;
            }
        }
        rmp::encode::write_str(&mut out, "anomalies").map_err(w)?;
        put(&mut out, &mut index, Section::Anomalies, &a.anomalies)?;
        rmp::encode::write_str(&mut out, "signals").map_err(w)?;
        put(&mut out, &mut index, Section::Signals, &a.signals)?;
        rmp::encode::write_str(&mut out, "bands").map_err(w)?;
        put(&mut out, &mut index, Section::Bands, &a.bands)?;
        let start = out.n;
        index.write(&mut out, start).map_err(w)
    }

    /// A generous estimate of the encoded size: 9 bytes per f64.
    fn size_hint(&self) -> usize {
        let n = self.candles.len();
        let series = 11 + self.analysis.details.len() + self.analysis.smooths.len() * 2 + 1;
        1024 + n * series * 9
    }

    /// Checks that every series of `parts` has one value per candle, that the others
    /// are whole or empty (skipped), and that the header agrees.
    pub fn check_parts(&self, parts: &Parts) -> Result<(), BlobError> {
        let bad = |what: String| Err(BlobError::Inconsistent(what));
        let n = self.header.candles as usize;
        if parts.keeps(Column::OpenTime) && self.candles.len() != n {
            return bad(format!(
                "header says {n} candles, the blob has {}",
                self.candles.len()
            ));
        }
        let sized = |kept: bool, len: usize| len == n || (!kept && len == 0);
        for column in Column::ALL {
            let len = column.len_in(self.candles);
            if !sized(parts.keeps(column), len) {
                return bad(format!(
                    "{} has {len} values for {n} candles",
                    column.name()
                ));
            }
        }
        let a = self.analysis;
        let levels = self.header.levels_used as usize;
        for (name, len) in [
            ("details", a.details.len()),
            ("smooths", a.smooths.len()),
            ("bands", a.bands.len()),
        ] {
            if len != levels {
                return bad(format!("{name} has {len} levels, the header says {levels}"));
            }
        }
        let mut series = Vec::new();
        for (name, kept, all) in [
            ("details", &parts.details, &a.details),
            ("smooths", &parts.smooths, &a.smooths),
        ] {
            for (j, s) in (1u32..).zip(all) {
                series.push((name, kept.keeps(j), s.len()));
            }
        }
        series.push(("signals.signal", parts.signal, a.signals.signal.len()));
        for (name, kept, len) in series {
            if !sized(kept, len) {
                return bad(format!("{name} has {len} values for {n} candles"));
            }
        }
        if a.anomalies.indices.len() != a.anomalies.values.len()
            || a.anomalies.indices.iter().any(|&i| i as usize >= n)
        {
            return bad("anomaly indices and values disagree or point past the candles".into());
        }
        Ok(())
    }
}

/// A writer that counts the bytes written through it.
struct Counted<W> {
    inner: W,
    n: u64,
}

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.n += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `value` as section `section`, recording its range in `index`.
fn put<W: std::io::Write>(
    out: &mut Counted<W>,
    index: &mut Index,
    section: Section,
    value: &impl serde::Serialize,
) -> Result<(), BlobError> {
    let start = out.n;
    value.serialize(&mut rmp_serde::Serializer::new(&mut *out).with_struct_map())?;
    index.push(section, start..out.n);
    Ok(())
}

/// Writes `values` as section `section`, recording its range in `index`.
fn put_numbers<W: std::io::Write, T: Number>(
    out: &mut Counted<W>,
    index: &mut Index,
    section: Section,
    values: &[T],
) -> Result<(), BlobError> {
    let start = out.n;
    put_series(out, values)?;
    index.push(section, start..out.n);
    Ok(())
}

/// Writes `values` as a MessagePack array, the same bytes as serializing the slice
/// with `rmp_serde` (each value in its smallest form). A series is by far most of a
/// blob's bytes, so its values are encoded into a buffer of [`CHUNK_BYTES`] and
/// written a buffer at a time, not a marker and a number at a time through the
/// writer: a third of the time.
fn put_series<W: std::io::Write, T: Number>(
    out: &mut Counted<W>,
    values: &[T],
) -> Result<(), BlobError> {
    let w = |e: rmp::encode::ValueWriteError| BlobError::Encode(e.into());
    rmp::encode::write_array_len(&mut *out, values.len() as u32).map_err(w)?;
    let mut chunk = Vec::with_capacity(CHUNK_BYTES);
    for values in values.chunks(CHUNK_BYTES / 9) {
        chunk.clear();
        for &value in values {
            value.write(&mut chunk).map_err(w)?;
        }
        std::io::Write::write_all(out, &chunk)
            .map_err(|e| w(rmp::encode::ValueWriteError::InvalidDataWrite(e)))?;
    }
    Ok(())
}

/// Bytes of values [`put_series`] encodes before writing them (a number takes at most
/// nine).
const CHUNK_BYTES: usize = 64 << 10;

/// A number of a blob's series, written as `rmp_serde` writes it.
trait Number: Copy {
    /// Appends the value's MessagePack form to `out`.
    fn write(self, out: &mut Vec<u8>) -> Result<(), rmp::encode::ValueWriteError>;
}

impl Number for f64 {
    fn write(self, out: &mut Vec<u8>) -> Result<(), rmp::encode::ValueWriteError> {
        rmp::encode::write_f64(out, self)
    }
}

impl Number for i64 {
    fn write(self, out: &mut Vec<u8>) -> Result<(), rmp::encode::ValueWriteError> {
        rmp::encode::write_sint(out, self).map(drop)
    }
}

impl Number for u64 {
    fn write(self, out: &mut Vec<u8>) -> Result<(), rmp::encode::ValueWriteError> {
        rmp::encode::write_uint(out, self).map(drop)
    }
}

/// Reads and checks the magic, the version and the element count, leaving `rd` at the
/// header; returns the element count. A reader that fails (anything but running out
/// of bytes) is [`BlobError::Read`], whatever it was reading.
pub(super) fn read_sections(rd: &mut impl Read) -> Result<u32, BlobError> {
    let mut watched = Watched {
        inner: rd,
        failed: None,
    };
    let read = check_sections(&mut watched);
    match (read, watched.failed) {
        (Err(_), Some(io)) => Err(BlobError::Read(io)),
        (read, _) => read,
    }
}

/// [`read_sections`] without telling a failing reader from a malformed blob.
fn check_sections(rd: &mut impl Read) -> Result<u32, BlobError> {
    let malformed = |what| BlobError::Malformed { what, source: None };
    let len = read_array_len(rd).map_err(|_| BlobError::BadMagic)?;
    let magic_len = read_bin_len(rd).map_err(|_| BlobError::BadMagic)?;
    let mut magic = [0u8; MAGIC.len()];
    if magic_len as usize != MAGIC.len() || rd.read_exact(&mut magic).is_err() || magic != *MAGIC {
        return Err(BlobError::BadMagic);
    }
    let major: u16 = read_int(rd).map_err(|_| malformed("unreadable major version"))?;
    let minor: u16 = read_int(rd).map_err(|_| malformed("unreadable minor version"))?;
    if major != SCHEMA_MAJOR {
        return Err(BlobError::UnsupportedVersion {
            major,
            minor,
            supported: SCHEMA_MAJOR,
        });
    }
    if len < ELEMENTS {
        return Err(malformed("fewer than 6 top-level elements"));
    }
    Ok(len)
}

/// A reader that keeps its first failure (other than running out of bytes).
struct Watched<R> {
    inner: R,
    failed: Option<std::io::Error>,
}

impl<R: Read> Read for Watched<R> {
    /// Keeps the reader's own error and hands the decoder a stand-in, which it drops.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                return e;
            }
            let kind = e.kind();
            self.failed.get_or_insert(e);
            std::io::Error::from(kind)
        })
    }
}

/// Maps a section's decoding error to a malformed-blob error naming the section, or to
/// a read error when the reader itself failed (anything but running out of bytes).
pub(super) fn section(what: &'static str) -> impl Fn(rmp_serde::decode::Error) -> BlobError {
    use rmp_serde::decode::Error as E;
    move |e| match e {
        E::InvalidMarkerRead(io) | E::InvalidDataRead(io)
            if io.kind() != std::io::ErrorKind::UnexpectedEof =>
        {
            BlobError::Read(io)
        }
        e => BlobError::Malformed {
            what,
            source: Some(e),
        },
    }
}

/// The numbers of a section that is one array of them, read straight from its bytes by
/// `one` (a MessagePack float 64 or integer each, at least `smallest` bytes): a million
/// of them in a few milliseconds, where serde's generic path takes about ten times as
/// long. `None` when the bytes hold anything else, for the caller to decode them
/// through serde.
pub(super) fn numbers<T>(
    mut bytes: &[u8],
    smallest: usize,
    one: impl Fn(&mut &[u8]) -> Option<T>,
) -> Option<Vec<T>> {
    let n = usize::try_from(rmp::decode::read_array_len(&mut bytes).ok()?).ok()?;
    let mut out = Vec::with_capacity(n.min(bytes.len() / smallest.max(1)));
    for _ in 0..n {
        out.push(one(&mut bytes)?);
    }
    bytes.is_empty().then_some(out)
}

/// One MessagePack float 64 from `bytes`.
pub(super) fn float(bytes: &mut &[u8]) -> Option<f64> {
    rmp::decode::read_f64(bytes).ok()
}

/// One MessagePack integer of any width from `bytes`, if it fits an `i64`.
pub(super) fn signed(bytes: &mut &[u8]) -> Option<i64> {
    rmp::decode::read_int(bytes).ok()
}

/// One MessagePack integer of any width from `bytes`, if it fits a `u64`.
pub(super) fn unsigned(bytes: &mut &[u8]) -> Option<u64> {
    rmp::decode::read_int(bytes).ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{CHUNK_BYTES, Counted, Number, put_series};

    /// What [`put_series`] writes for `values`.
    fn encoded<T: Number>(values: &[T]) -> Vec<u8> {
        let mut out = Counted {
            inner: Vec::new(),
            n: 0,
        };
        put_series(&mut out, values).unwrap();
        assert_eq!(out.n, out.inner.len() as u64);
        out.inner
    }

    /// Values of every width, and series longer than a chunk.
    fn series<T: std::fmt::Debug>(
        value: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Vec<T>> {
        prop::collection::vec(value, 0..2 * CHUNK_BYTES / 9 + 10)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn floats_are_written_as_rmp_serde_writes_them(values in series(any::<f64>())) {
            prop_assert_eq!(encoded(&values), rmp_serde::to_vec(&values).unwrap());
        }

        #[test]
        fn signed_integers_are_written_as_rmp_serde_writes_them(
            values in series(prop_oneof![any::<i64>(), -300i64..300, 0i64..70_000])
        ) {
            prop_assert_eq!(encoded(&values), rmp_serde::to_vec(&values).unwrap());
        }

        #[test]
        fn unsigned_integers_are_written_as_rmp_serde_writes_them(
            values in series(prop_oneof![any::<u64>(), 0u64..300, 0u64..70_000])
        ) {
            prop_assert_eq!(encoded(&values), rmp_serde::to_vec(&values).unwrap());
        }
    }
}
