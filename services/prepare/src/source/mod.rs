//! Where candles come from: the bundled sample and klines files in the operator's
//! candle directory (Binance's REST API is not wired in yet). Every source yields the
//! same columnar [`Candles`], oldest first, checked for order and sanity; the window
//! is cut from them here, the same way for every source.

pub(crate) mod file;
pub(crate) mod sample;

use std::path::PathBuf;

use thiserror::Error;
use waveplot_protocol::blob::Candles;
use waveplot_protocol::{RenderRequest, Source};

use crate::analysis::Window;

/// Why a request's candles cannot be had.
#[derive(Debug, Error)]
pub(crate) enum SourceError {
    /// Binance's REST API is not available in this build.
    #[error(
        "the binance source is not available in this build yet; use source \"sample\" ({}) or \"file:NAME\"",
        sample::available()
    )]
    BinanceUnavailable,
    /// No sample is bundled for the pair.
    #[error(
        "no bundled sample for {symbol} {interval}; bundled samples: {}",
        sample::available()
    )]
    NoSample {
        /// The requested symbol.
        symbol: String,
        /// The requested interval.
        interval: String,
    },
    /// A `file:` source was asked for but no candle directory is configured.
    #[error(
        "file sources are disabled: the operator has not configured a candle directory (--candle-dir / CANDLE_DIR)"
    )]
    NoCandleDir,
    /// The named file is not in the candle directory.
    #[error("no candle file named '{0}' in the candle directory")]
    NoSuchFile(String),
    /// The file exists but could not be read or checked.
    #[error(transparent)]
    File(#[from] file::FileError),
    /// No candle of the source lies at or before the requested end.
    #[error("no candles at or before the requested end time {0}")]
    NothingBefore(String),
}

/// The configured sources.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// The operator's candle directory, for `file:NAME`.
    pub(crate) candle_dir: Option<PathBuf>,
}

impl Sources {
    /// Checks, without loading, that a request's source can be used (so a request
    /// is rejected at once rather than failing after it was accepted).
    pub(crate) fn check(&self, req: &RenderRequest) -> Result<(), SourceError> {
        match &req.source {
            Source::Binance => Err(SourceError::BinanceUnavailable),
            Source::Sample if sample::exists(&req.symbol, req.interval) => Ok(()),
            Source::Sample => Err(SourceError::NoSample {
                symbol: req.symbol.to_string(),
                interval: req.interval.to_string(),
            }),
            Source::File(name) => self.file_path(name).map(drop),
        }
    }

    fn file_path(&self, name: &str) -> Result<PathBuf, SourceError> {
        let dir = self.candle_dir.as_ref().ok_or(SourceError::NoCandleDir)?;
        let path = dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(SourceError::NoSuchFile(name.to_owned()))
        }
    }

    /// Loads a request's window. Blocking: call it off the async runtime.
    pub(crate) fn load(&self, req: &RenderRequest) -> Result<Window, SourceError> {
        let started = std::time::Instant::now();
        let (all, label) = match &req.source {
            Source::Binance => return Err(SourceError::BinanceUnavailable),
            Source::Sample => {
                let candles = sample::candles(&req.symbol, req.interval).ok_or_else(|| {
                    SourceError::NoSample {
                        symbol: req.symbol.to_string(),
                        interval: req.interval.to_string(),
                    }
                })?;
                (std::borrow::Cow::Borrowed(candles), "sample data")
            }
            Source::File(name) => {
                let loaded = file::read(&self.file_path(name)?, req.interval)?;
                (std::borrow::Cow::Owned(loaded.candles), "file")
            }
        };
        let candles = cut_window(&all, req.window_len() as usize, req.end_ms)?;
        let (first, last) = (
            candles.open_time_ms[0],
            candles.open_time_ms[candles.len() - 1],
        );
        let label = match &req.source {
            Source::File(name) => format!("{label} {name}"),
            _ => format!("{label} ({} to {})", day(first), day(last)),
        };
        Ok(Window {
            symbol: req.symbol.clone(),
            interval: req.interval,
            source: req.source.clone(),
            source_label: label,
            candles,
            load_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// The last `n` candles opening at or before `end_ms` (all of them if fewer exist).
pub(crate) fn cut_window(
    all: &Candles,
    n: usize,
    end_ms: Option<i64>,
) -> Result<Candles, SourceError> {
    let end = match end_ms {
        Some(t) => all.open_time_ms.partition_point(|&o| o <= t),
        None => all.len(),
    };
    if end == 0 {
        return Err(SourceError::NothingBefore(file::fmt_ms(
            end_ms.unwrap_or_default(),
        )));
    }
    Ok(all.slice(end.saturating_sub(n)..end))
}

/// `2022-08-14 00:00 UTC` style, for labels.
fn day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use waveplot_protocol::{Interval, RequestId, Symbol};

    use super::*;

    fn request(source: Source) -> RenderRequest {
        let mut r = RenderRequest::new(
            RequestId::generate(),
            Symbol::parse("BTC").unwrap(),
            Interval::M5,
        );
        r.source = source;
        r
    }

    #[test]
    fn the_sample_window_is_the_last_candles_and_is_labelled_as_sample_data() {
        let w = Sources::default().load(&request(Source::Sample)).unwrap();
        assert_eq!(w.candles.len(), 864);
        assert_eq!(w.candles.open_time_ms[0], 1_660_435_200_000);
        assert_eq!(
            w.source_label,
            "sample data (2022-08-14 00:00 UTC to 2022-08-16 23:55 UTC)"
        );
    }

    #[test]
    fn a_window_can_end_in_the_past() {
        let mut r = request(Source::Sample);
        r.window = Some(100);
        r.end_ms = Some(1_660_435_200_000 + 150);
        let w = Sources::default().load(&r).unwrap();
        assert_eq!(w.candles.len(), 100);
        assert_eq!(*w.candles.open_time_ms.last().unwrap(), 1_660_435_200_000);
        r.end_ms = Some(0);
        let e = Sources::default().load(&r).unwrap_err().to_string();
        assert!(e.contains("no candles at or before"), "{e}");
    }

    #[test]
    fn unavailable_sources_are_refused_before_loading_with_what_to_use() {
        let s = Sources::default();
        let e = s.check(&request(Source::Binance)).unwrap_err().to_string();
        assert!(e.contains("use source \"sample\""), "{e}");
        let mut r = request(Source::Sample);
        r.symbol = Symbol::parse("SOL").unwrap();
        assert!(
            s.check(&r)
                .unwrap_err()
                .to_string()
                .contains("bundled samples: BTCUSDT 5m")
        );
        let e = s
            .check(&request(Source::File("x.csv".into())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CANDLE_DIR"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let with_dir = Sources {
            candle_dir: Some(dir.path().to_owned()),
        };
        let e = with_dir
            .check(&request(Source::File("x.csv".into())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no candle file named 'x.csv'"), "{e}");
    }

    #[test]
    fn a_file_in_the_candle_directory_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/ETHUSDT-5m-2026-01-02_2026-01-06.csv");
        std::fs::copy(data, dir.path().join("eth.csv")).unwrap();
        let sources = Sources {
            candle_dir: Some(dir.path().to_owned()),
        };
        let mut r = request(Source::File("eth.csv".into()));
        r.symbol = Symbol::parse("ETH").unwrap();
        sources.check(&r).unwrap();
        let w = sources.load(&r).unwrap();
        assert_eq!(w.candles.len(), 864);
        assert_eq!(w.source_label, "file eth.csv");
    }
}
