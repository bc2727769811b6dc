//! The real candles bundled in the binary, so that a first run works offline and
//! produces real charts. The build script gzips `data/*.csv` into the binary (the
//! repository keeps the plain CSVs people read and diff); each sample is decompressed
//! and parsed once per process, on first use.

use std::io::Read;

use std::sync::OnceLock;

use waveplot_protocol::blob::Candles;
use waveplot_protocol::{Interval, Symbol};

use super::file;

/// One bundled sample.
struct Sample {
    symbol: &'static str,
    interval: Interval,
    gz: &'static [u8],
    parsed: OnceLock<Candles>,
}

static SAMPLES: [Sample; 3] = [
    Sample {
        symbol: "BTCUSDT",
        interval: Interval::M5,
        gz: include_bytes!(concat!(
            env!("OUT_DIR"),
            "/BTCUSDT-5m-2022-07-14_2022-08-16.csv.gz"
        )),
        parsed: OnceLock::new(),
    },
    Sample {
        symbol: "BTCUSDT",
        interval: Interval::H1,
        gz: include_bytes!(concat!(env!("OUT_DIR"), "/BTCUSDT-1h-2021-Q1.csv.gz")),
        parsed: OnceLock::new(),
    },
    Sample {
        symbol: "ETHUSDT",
        interval: Interval::M5,
        gz: include_bytes!(concat!(
            env!("OUT_DIR"),
            "/ETHUSDT-5m-2026-01-02_2026-01-06.csv.gz"
        )),
        parsed: OnceLock::new(),
    },
];

/// What samples exist, for error messages: `BTCUSDT 5m, BTCUSDT 1h, ETHUSDT 5m`.
pub(crate) fn available() -> String {
    SAMPLES
        .iter()
        .map(|s| format!("{} {}", s.symbol, s.interval))
        .collect::<Vec<_>>()
        .join(", ")
}

/// True if a sample of this symbol and interval is bundled.
pub(crate) fn exists(symbol: &Symbol, interval: Interval) -> bool {
    find(symbol, interval).is_some()
}

/// The bundled candles of this symbol and interval, if any.
pub(crate) fn candles(symbol: &Symbol, interval: Interval) -> Option<&'static Candles> {
    let sample = find(symbol, interval)?;
    Some(sample.parsed.get_or_init(|| {
        // The bundled files are checked by this crate's tests; a failure here is a build defect.
        let mut csv = Vec::new();
        flate2::read::GzDecoder::new(sample.gz)
            .read_to_end(&mut csv)
            .expect("bundled sample decompresses");
        file::parse(&csv, sample.symbol)
            .expect("bundled sample parses")
            .candles
    }))
}

fn find(symbol: &Symbol, interval: Interval) -> Option<&'static Sample> {
    SAMPLES
        .iter()
        .find(|s| s.symbol == symbol.as_str() && s.interval == interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_sample_parses_with_its_documented_size() {
        let sizes: Vec<usize> = SAMPLES
            .iter()
            .map(|s| {
                let symbol = Symbol::parse(s.symbol).unwrap();
                candles(&symbol, s.interval).unwrap().len()
            })
            .collect();
        assert_eq!(sizes, [9792, 2158, 1016]);
        let compressed: usize = SAMPLES.iter().map(|s| s.gz.len()).sum();
        assert!(
            compressed < 1_000_000,
            "{compressed} bytes: not compressed?"
        );
    }

    #[test]
    fn only_bundled_pairs_are_found_and_the_list_names_them() {
        assert!(exists(&Symbol::parse("BTC").unwrap(), Interval::M5));
        assert!(!exists(&Symbol::parse("SOL").unwrap(), Interval::M5));
        assert!(!exists(&Symbol::parse("ETH").unwrap(), Interval::H1));
        assert_eq!(available(), "BTCUSDT 5m, BTCUSDT 1h, ETHUSDT 5m");
    }
}
