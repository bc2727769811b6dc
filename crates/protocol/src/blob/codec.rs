//! Encoding and decoding of [`Blob`]s. Decoding reads the magic and version before
//! touching the rest, borrows from the input (a length prefix can never make it
//! allocate more than the input holds), and checks that the arrays agree with each
//! other, so a reader gets either a blob it can draw or a typed error.

use rmp::decode::{read_array_len, read_bin_len, read_int};
use serde::Deserialize;

use super::{Analysis, Blob, Candles, Header, MAGIC, SCHEMA_MAJOR, SCHEMA_MINOR};
use crate::error::BlobError;

/// Array elements of a blob: magic, major, minor, header, candles, analysis.
const ELEMENTS: u32 = 6;

impl Blob {
    /// Encodes the blob as MessagePack.
    pub fn encode(&self) -> Result<Vec<u8>, BlobError> {
        let mut out = Vec::with_capacity(self.size_hint());
        self.encode_to(&mut out)?;
        Ok(out)
    }

    /// Encodes the blob as MessagePack into `out` as it goes, so that a large blob can
    /// be streamed to the store without being held whole; the writer's errors are
    /// [`BlobError::Encode`].
    pub fn encode_to(&self, mut out: impl std::io::Write) -> Result<(), BlobError> {
        let w = |e: rmp::encode::ValueWriteError| BlobError::Encode(e.into());
        rmp::encode::write_array_len(&mut out, ELEMENTS).map_err(w)?;
        rmp::encode::write_bin(&mut out, MAGIC).map_err(w)?;
        rmp::encode::write_uint(&mut out, SCHEMA_MAJOR.into()).map_err(w)?;
        rmp::encode::write_uint(&mut out, SCHEMA_MINOR.into()).map_err(w)?;
        let mut ser = rmp_serde::Serializer::new(&mut out).with_struct_map();
        serde::Serialize::serialize(&self.header, &mut ser)?;
        serde::Serialize::serialize(&self.candles, &mut ser)?;
        serde::Serialize::serialize(&self.analysis, &mut ser)?;
        Ok(())
    }

    /// A generous estimate of the encoded size: 9 bytes per f64.
    fn size_hint(&self) -> usize {
        let n = self.candles.len();
        let series = 11 + self.analysis.details.len() + self.analysis.smooths.len() * 2 + 1;
        1024 + n * series * 9
    }

    /// Decodes and checks a blob. Garbage, truncation, a wrong magic, an unknown major
    /// version and arrays of inconsistent lengths are errors, never panics.
    pub fn decode(bytes: &[u8]) -> Result<Blob, BlobError> {
        let mut de = rmp_serde::Deserializer::from_read_ref(sections(bytes)?);
        let header = Header::deserialize(&mut de).map_err(section("header"))?;
        let candles = Candles::deserialize(&mut de).map_err(section("candles"))?;
        let analysis = Analysis::deserialize(&mut de).map_err(section("analysis"))?;
        let blob = Blob {
            header,
            candles,
            analysis,
        };
        blob.check()?;
        Ok(blob)
    }

    /// Decodes only the header, leaving the series unread: what a reader needs to know
    /// what a blob holds costs the header's bytes, not the window's.
    pub fn decode_header(bytes: &[u8]) -> Result<Header, BlobError> {
        let mut de = rmp_serde::Deserializer::from_read_ref(sections(bytes)?);
        Header::deserialize(&mut de).map_err(section("header"))
    }

    /// Checks that every series has one value per candle and that the header agrees.
    pub fn check(&self) -> Result<(), BlobError> {
        let n = self.candles.len();
        let bad = |what: String| Err(BlobError::Inconsistent(what));
        if self.header.candles as usize != n {
            return bad(format!(
                "header says {} candles, the blob has {n}",
                self.header.candles
            ));
        }
        let c = &self.candles;
        let columns = [
            ("close_time_ms", c.close_time_ms.len()),
            ("open", c.open.len()),
            ("high", c.high.len()),
            ("low", c.low.len()),
            ("close", c.close.len()),
            ("volume", c.volume.len()),
            ("quote_volume", c.quote_volume.len()),
            ("trades", c.trades.len()),
            ("taker_buy_base", c.taker_buy_base.len()),
            ("taker_buy_quote", c.taker_buy_quote.len()),
        ];
        let a = &self.analysis;
        let levels = self.header.levels_used as usize;
        let series = a.details.iter().map(|d| ("details", d.len()));
        let series = series.chain(a.smooths.iter().map(|s| ("smooths", s.len())));
        let signal = std::iter::once(("signals.signal", a.signals.signal.len()));
        for (name, len) in columns.into_iter().chain(series).chain(signal) {
            if len != n {
                return bad(format!("{name} has {len} values for {n} candles"));
            }
        }
        for (name, len) in [
            ("details", a.details.len()),
            ("smooths", a.smooths.len()),
            ("bands", a.bands.len()),
        ] {
            if len != levels {
                return bad(format!("{name} has {len} levels, the header says {levels}"));
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

/// Checks the magic, the version and the element count, and returns the bytes from the
/// header on.
fn sections(bytes: &[u8]) -> Result<&[u8], BlobError> {
    let mut rd = bytes;
    let malformed = |what| BlobError::Malformed { what, source: None };
    let len = read_array_len(&mut rd).map_err(|_| BlobError::BadMagic)?;
    let magic_len = read_bin_len(&mut rd).map_err(|_| BlobError::BadMagic)?;
    if magic_len as usize != MAGIC.len() || rd.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(BlobError::BadMagic);
    }
    rd = &rd[MAGIC.len()..];
    let major: u16 = read_int(&mut rd).map_err(|_| malformed("unreadable major version"))?;
    let minor: u16 = read_int(&mut rd).map_err(|_| malformed("unreadable minor version"))?;
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
    Ok(rd)
}

/// Maps a section's decoding error to a malformed-blob error naming the section.
fn section(what: &'static str) -> impl Fn(rmp_serde::decode::Error) -> BlobError {
    move |e| BlobError::Malformed {
        what,
        source: Some(e),
    }
}
