//! Where candles come from: Binance's REST API, the bundled sample, and klines files in
//! the operator's candle directory. Every source yields the same columnar [`Candles`],
//! oldest first, checked for order and sanity; the window is cut from them here, the
//! same way for every source.

pub(crate) mod archive;
pub(crate) mod binance;
pub(crate) mod cache;
pub(crate) mod file;
pub(crate) mod klines;
pub(crate) mod parsed;
pub(crate) mod sample;
pub(crate) mod write;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use waveplot_protocol::blob::{CandleColumns, Candles};
use waveplot_protocol::{Interval, RenderRequest, Source, Symbol};

use crate::analysis::Window;
pub(crate) use binance::{Binance, Policy};
pub(crate) use cache::CandleCache;

/// Why a request's candles cannot be had.
#[derive(Debug, Error)]
pub(crate) enum SourceError {
    /// No Binance client is configured (only in tests and tools that leave it out).
    #[error("the binance source is not configured here; use source \"sample\" or \"file:NAME\"")]
    NoBinance,
    /// Binance could not deliver the candles.
    #[error(transparent)]
    Binance(#[from] binance::BinanceError),
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
    /// No candle of the source opens in the requested span.
    #[error("no candles open between {0} and {1}")]
    NothingBetween(String, String),
    /// A blocking loading task stopped abnormally.
    #[error("candle loading stopped")]
    Task(#[source] tokio::task::JoinError),
    /// No candle of the source lies at or before the requested end.
    #[error("no candles at or before the requested end time {0}")]
    NothingBefore(String),
}

impl SourceError {
    /// Whether trying again later may succeed: Binance kept rate-limiting. The client
    /// waits out every `Retry-After` before its next request, so a later try never
    /// hurries Binance. An unreachable Binance is not retried beyond the client's own
    /// retries: the user hears of it at once.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            SourceError::Binance(binance::BinanceError::RateLimited { .. })
        )
    }
}

/// Which candles of a source: the last `n` up to a time (a render's window), or all of
/// those opening in a span (`prepare fetch --start … --end …`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Span {
    /// The last `n` candles opening at or before `end_ms` (default: now).
    Last {
        /// How many.
        n: usize,
        /// The latest open time wanted.
        end_ms: Option<i64>,
    },
    /// Every candle opening in `start_ms..=end_ms`.
    Between {
        /// The earliest open time wanted.
        start_ms: i64,
        /// The latest open time wanted.
        end_ms: i64,
    },
}

impl Span {
    /// Where the span's candles lie among `open_times` (oldest first, no time twice).
    pub(crate) fn range(self, open_times: &[i64]) -> std::ops::Range<usize> {
        match self {
            Span::Last { n, end_ms } => {
                let end = end_ms.map_or(open_times.len(), |t| {
                    open_times.partition_point(|&o| o <= t)
                });
                end.saturating_sub(n)..end
            }
            Span::Between { start_ms, end_ms } => {
                let from = open_times.partition_point(|&o| o < start_ms);
                from..open_times.partition_point(|&o| o <= end_ms).max(from)
            }
        }
    }

    /// The span's candles in `all` (the last `n` are all of them if fewer exist); an
    /// error when none opens at or before the window's end, or in the span.
    pub(crate) fn cut(self, all: &Candles) -> Result<Candles, SourceError> {
        let range = self.checked_range(&all.open_time_ms)?;
        Ok(all.slice(range))
    }

    /// [`Span::range`], or the error [`Span::cut`] gives when it is empty.
    fn checked_range(self, open_time_ms: &[i64]) -> Result<Range<usize>, SourceError> {
        let range = self.range(open_time_ms);
        match self {
            Span::Last { end_ms, .. } if range.end == 0 => Err(SourceError::NothingBefore(
                klines::fmt_ms(end_ms.unwrap_or_default()),
            )),
            Span::Between { start_ms, end_ms } if range.is_empty() => Err(
                SourceError::NothingBetween(klines::fmt_ms(start_ms), klines::fmt_ms(end_ms)),
            ),
            _ => Ok(range),
        }
    }
}

/// A window's candles: its own, or a range of a parsed file's candles that
/// [`parsed::ParsedFiles`] keeps. The analysis reads the closes, the blob's encoder and
/// the scene recorder read the columns of the range ([`WindowCandles::columns`]), so a
/// window of a kept file is never copied: a million-candle window's eleven columns
/// (84 MiB) are not held twice while its blob and scenes are stored, which is when
/// prepare's memory peaks. The range keeps the file's candles alive until then, even
/// if the cache lets the file go meanwhile.
#[derive(Debug, Clone)]
pub(crate) enum WindowCandles {
    /// Candles of the window's own.
    Own(Box<Candles>),
    /// The candles at a range of a parsed file's.
    Cut(Arc<Candles>, Range<usize>),
}

impl WindowCandles {
    /// Number of candles.
    pub(crate) fn len(&self) -> usize {
        self.open_time_ms().len()
    }

    /// Open times (ms, UTC).
    pub(crate) fn open_time_ms(&self) -> &[i64] {
        self.columns().open_time_ms
    }

    /// Close prices.
    pub(crate) fn close(&self) -> &[f64] {
        self.columns().close
    }

    /// The candles' columns, borrowed.
    pub(crate) fn columns(&self) -> CandleColumns<'_> {
        match self {
            WindowCandles::Own(c) => c.columns(),
            WindowCandles::Cut(all, range) => all.columns().slice(range.clone()),
        }
    }

    /// The candles at `range` of these.
    fn narrow(self, range: Range<usize>) -> WindowCandles {
        match self {
            WindowCandles::Own(c) if range == (0..c.len()) => WindowCandles::Own(c),
            WindowCandles::Own(c) => WindowCandles::Own(Box::new(c.slice(range))),
            WindowCandles::Cut(all, within) => {
                WindowCandles::Cut(all, within.start + range.start..within.start + range.end)
            }
        }
    }

    /// The candles as columns of their own (a range is copied out).
    pub(crate) fn into_candles(self) -> Candles {
        match self {
            WindowCandles::Own(c) => *c,
            WindowCandles::Cut(all, range) => all.slice(range),
        }
    }
}

impl From<Candles> for WindowCandles {
    fn from(candles: Candles) -> Self {
        WindowCandles::Own(Box::new(candles))
    }
}

/// How long accepting a Binance request may wait for `exchangeInfo`: well inside the
/// 5 s a gateway waits for prepare to accept, so a slow Binance never reads as "prepare
/// did not answer".
pub(crate) const BINANCE_CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// The configured sources.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// The operator's candle directory, for `file:NAME`.
    pub(crate) candle_dir: Option<PathBuf>,
    /// The Binance client, for `binance`.
    pub(crate) binance: Option<Binance>,
    /// Where Binance candles are kept between renders, if anywhere.
    pub(crate) cache: Option<CandleCache>,
    /// Klines files already parsed.
    pub(crate) parsed: parsed::ParsedFiles,
}

impl Sources {
    /// Checks, without loading, that a request's source can be used (so a request
    /// is rejected at once rather than failing after it was accepted). For Binance this
    /// asks `exchangeInfo` whether the symbol is trading (cached), for at most
    /// [`BINANCE_CHECK_BUDGET`]: a Binance that is slow, unreachable or rate-limiting
    /// is retried and waited for by the fetch instead, whose failure names the cause.
    pub(crate) async fn check(&self, req: &RenderRequest) -> Result<(), SourceError> {
        match &req.source {
            Source::Binance => {
                let binance = self.binance.as_ref().ok_or(SourceError::NoBinance)?;
                match tokio::time::timeout(BINANCE_CHECK_BUDGET, binance.check_symbol(&req.symbol))
                    .await
                {
                    Ok(checked) => Ok(checked?),
                    Err(_) => {
                        tracing::warn!(
                            symbol = %req.symbol,
                            "Binance did not confirm the symbol within {} s; accepted, the fetch will tell",
                            BINANCE_CHECK_BUDGET.as_secs()
                        );
                        Ok(())
                    }
                }
            }
            Source::Sample if sample::exists(&req.symbol, req.interval) => Ok(()),
            Source::Sample => Err(no_sample(&req.symbol, req.interval)),
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

    /// Loads a request's window; file parsing runs off the async runtime.
    pub(crate) async fn load(&self, req: &RenderRequest) -> Result<Window, SourceError> {
        let started = std::time::Instant::now();
        let span = Span::Last {
            n: req.window_len() as usize,
            end_ms: req.end_ms,
        };
        let (candles, source_label) = self
            .candles(&req.source, &req.symbol, req.interval, span, &mut |_| {})
            .await?;
        Ok(Window {
            symbol: req.symbol.clone(),
            interval: req.interval,
            source: req.source.clone(),
            source_label,
            candles,
            load_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// The candles of a span from a source, with the label that says where they came
    /// from; `progress` sees the open time reached during long downloads.
    pub(crate) async fn candles(
        &self,
        source: &Source,
        symbol: &Symbol,
        interval: Interval,
        span: Span,
        progress: &mut (dyn FnMut(i64) + Send),
    ) -> Result<(WindowCandles, String), SourceError> {
        let all: WindowCandles = match source {
            Source::Binance => self
                .binance_candles(symbol, interval, span, progress)
                .await?
                .into(),
            Source::Sample => {
                let (symbol, interval) = (symbol.clone(), interval);
                off_runtime(move || {
                    sample::candles(&symbol, interval)
                        .cloned()
                        .ok_or_else(|| no_sample(&symbol, interval))
                })
                .await?
                .into()
            }
            Source::File(name) => {
                let path = self.file_path(name)?;
                let parsed = self.parsed.clone();
                off_runtime(move || Ok(parsed.window(&path, interval, span)?)).await?
            }
        };
        let range = span.checked_range(all.open_time_ms())?;
        let candles = all.narrow(range);
        let times = candles.open_time_ms();
        let (first, last) = (times[0], times[times.len() - 1]);
        let label = match source {
            Source::File(name) => format!("file {name}"),
            Source::Sample => format!("sample data ({} to {})", day(first), day(last)),
            Source::Binance => format!("Binance ({} to {})", day(first), day(last)),
        };
        Ok((candles, label))
    }

    /// Keeps a candle that Binance's stream reported closed (`candle`, one row) in the
    /// candle cache, so that a render of the window ending at it asks Binance nothing.
    pub(crate) async fn keep_closed(&self, symbol: &Symbol, interval: Interval, candle: &Candles) {
        if let (Some(cache), Some(binance)) = (&self.cache, &self.binance) {
            cache.append(binance, symbol, interval, candle).await;
        }
    }

    /// Binance's closed candles opening in `from..=to`, through the cache; none if none
    /// opens there.
    pub(crate) async fn closed_between(
        &self,
        symbol: &Symbol,
        interval: Interval,
        (from, to): (i64, i64),
    ) -> Result<Candles, SourceError> {
        let span = Span::Between {
            start_ms: from,
            end_ms: to,
        };
        match self
            .candles(&Source::Binance, symbol, interval, span, &mut |_| {})
            .await
        {
            Ok((candles, _)) => Ok(candles.into_candles()),
            Err(SourceError::NothingBetween(..)) => Ok(Candles::default()),
            Err(e) => Err(e),
        }
    }

    async fn binance_candles(
        &self,
        symbol: &Symbol,
        interval: Interval,
        span: Span,
        progress: &mut (dyn FnMut(i64) + Send),
    ) -> Result<Candles, SourceError> {
        let binance = self.binance.as_ref().ok_or(SourceError::NoBinance)?;
        let step = interval.millis();
        let (start, end) = match span {
            // One candle more than asked: the newest may still be open and is dropped.
            Span::Last { n, end_ms } => {
                let end = end_ms.unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
                (end - (n as i64 + 1) * step, end)
            }
            Span::Between { start_ms, end_ms } => (start_ms, end_ms),
        };
        match &self.cache {
            Some(cache) => {
                cache
                    .klines(binance, symbol, interval, (start, end), progress)
                    .await
            }
            None => Ok(binance
                .klines(symbol, interval, (start, end), progress)
                .await?
                .candles),
        }
    }
}

/// Runs blocking work (file parsing, sample decompression) off the async runtime.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(SourceError::Task)?
}

fn no_sample(symbol: &Symbol, interval: Interval) -> SourceError {
    SourceError::NoSample {
        symbol: symbol.to_string(),
        interval: interval.to_string(),
    }
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

    #[tokio::test]
    async fn the_sample_window_is_the_last_candles_and_is_labelled_as_sample_data() {
        let w = Sources::default()
            .load(&request(Source::Sample))
            .await
            .unwrap();
        assert_eq!(w.candles.len(), 864);
        assert_eq!(w.candles.open_time_ms()[0], 1_660_435_200_000);
        assert_eq!(
            w.source_label,
            "sample data (2022-08-14 00:00 UTC to 2022-08-16 23:55 UTC)"
        );
    }

    #[tokio::test]
    async fn a_window_can_end_in_the_past() {
        let mut r = request(Source::Sample);
        r.window = Some(100);
        r.end_ms = Some(1_660_435_200_000 + 150);
        let w = Sources::default().load(&r).await.unwrap();
        assert_eq!(w.candles.len(), 100);
        assert_eq!(*w.candles.open_time_ms().last().unwrap(), 1_660_435_200_000);
        r.end_ms = Some(0);
        let e = Sources::default().load(&r).await.unwrap_err().to_string();
        assert!(e.contains("no candles at or before"), "{e}");
    }

    #[tokio::test]
    async fn unavailable_sources_are_refused_before_loading_with_what_to_use() {
        let s = Sources::default();
        let e = s
            .check(&request(Source::Binance))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("use source \"sample\""), "{e}");
        let mut r = request(Source::Sample);
        r.symbol = Symbol::parse("SOL").unwrap();
        assert!(
            s.check(&r)
                .await
                .unwrap_err()
                .to_string()
                .contains("bundled samples: BTCUSDT 5m")
        );
        let e = s
            .check(&request(Source::File("x.csv".into())))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("CANDLE_DIR"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let with_dir = Sources {
            candle_dir: Some(dir.path().to_owned()),
            ..Sources::default()
        };
        let e = with_dir
            .check(&request(Source::File("x.csv".into())))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no candle file named 'x.csv'"), "{e}");
    }

    #[tokio::test]
    async fn a_file_in_the_candle_directory_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/ETHUSDT-5m-2026-01-02_2026-01-06.csv");
        std::fs::copy(data, dir.path().join("eth.csv")).unwrap();
        let sources = Sources {
            candle_dir: Some(dir.path().to_owned()),
            ..Sources::default()
        };
        let mut r = request(Source::File("eth.csv".into()));
        r.symbol = Symbol::parse("ETH").unwrap();
        sources.check(&r).await.unwrap();
        let w = sources.load(&r).await.unwrap();
        assert_eq!(w.candles.len(), 864);
        assert_eq!(w.source_label, "file eth.csv");
    }

    #[tokio::test]
    async fn a_binance_window_is_checked_loaded_through_the_cache_and_labelled() {
        use waveplot_testkit::fake_binance::{FakeBinance, series};
        let step = Interval::M5.millis();
        let first = (jiff::Timestamp::now().as_millisecond() / step - 20) * step;
        let fake = FakeBinance::start(series(first, step, 20)).await;
        let sources = Sources {
            binance: Some(Binance::new(&fake.url, binance::tests::quick()).unwrap()),
            cache: Some(CandleCache::new(waveplot_service::Store::memory())),
            ..Sources::default()
        };
        let mut r = request(Source::Binance);
        r.window = Some(10);
        sources.check(&r).await.unwrap();
        let w = sources.load(&r).await.unwrap();
        assert_eq!(w.candles.len(), 10);
        assert_eq!(w.candles.open_time_ms()[9], first + 19 * step);
        assert!(
            w.source_label.starts_with("Binance ("),
            "{}",
            w.source_label
        );
        r.symbol = Symbol::parse("XYZ").unwrap();
        let e = sources.check(&r).await.unwrap_err().to_string();
        assert_eq!(e, "unknown symbol XYZUSDT on Binance");
    }
}
