//! Windows already read from klines files, kept in memory so that renders of the same
//! window with other analysis parameters (another wavelet, anomaly factor, chart size)
//! do not parse the file again: a 4 320-candle window of a large file cost 42 ms of a
//! 141 ms render to parse.
//!
//! An entry is keyed by the file's path, size and modification time and by the span
//! asked for, so a file replaced or appended to is read afresh. The entries together
//! hold at most the configured bytes (88 bytes per candle); the least recently used go
//! first, and a window larger than the whole budget is never kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use waveplot_protocol::Interval;
use waveplot_protocol::blob::Candles;

use super::Span;

/// Bytes one candle holds in memory: 11 columns of 8 bytes.
const CANDLE_BYTES: u64 = 88;

/// What identifies a window of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    interval: Interval,
    last: usize,
    end_ms: Option<i64>,
}

/// Weighs a window by its candles.
#[derive(Debug, Clone)]
struct ByCandles;

impl Weighter<Key, Arc<Candles>> for ByCandles {
    fn weight(&self, _key: &Key, candles: &Arc<Candles>) -> u64 {
        (candles.len() as u64 * CANDLE_BYTES).max(1)
    }
}

/// Parsed file windows within a memory budget. Cheap to clone; clones share entries.
#[derive(Clone)]
pub(crate) struct ParsedWindows {
    cache: Arc<Cache<Key, Arc<Candles>, ByCandles>>,
}

impl std::fmt::Debug for ParsedWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedWindows")
            .field("entries", &self.cache.len())
            .field("bytes", &self.cache.weight())
            .finish()
    }
}

impl ParsedWindows {
    /// A cache holding at most `budget_bytes` of candles.
    pub(crate) fn new(budget_bytes: u64) -> Self {
        Self {
            cache: Arc::new(Cache::with_weighter(64, budget_bytes, ByCandles)),
        }
    }

    /// The key of `span` of the file at `path` as it is now; `None` for a span that is
    /// not a render's window, or a file whose metadata cannot be read.
    fn key(path: &std::path::Path, interval: Interval, span: Span) -> Option<Key> {
        let Span::Last { n, end_ms } = span else {
            return None;
        };
        let meta = std::fs::metadata(path).ok()?;
        Some(Key {
            path: path.to_owned(),
            len: meta.len(),
            modified: meta.modified().ok(),
            interval,
            last: n,
            end_ms,
        })
    }

    /// The window `span` of the file at `path`, from memory when the same file (same
    /// size and modification time) was read for it before, else from `read`.
    pub(crate) fn get_or_read<E>(
        &self,
        path: &std::path::Path,
        interval: Interval,
        span: Span,
        read: impl FnOnce() -> Result<Candles, E>,
    ) -> Result<Candles, E> {
        let Some(key) = Self::key(path, interval, span) else {
            return read();
        };
        if let Some(candles) = self.cache.get(&key) {
            metrics::counter!("waveplot_prepare_file_windows_total", "outcome" => "hit")
                .increment(1);
            return Ok(Candles::clone(&candles));
        }
        metrics::counter!("waveplot_prepare_file_windows_total", "outcome" => "miss").increment(1);
        let candles = read()?;
        self.cache.insert(key, Arc::new(candles.clone()));
        Ok(candles)
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.cache.weight()
    }
}

impl Default for ParsedWindows {
    /// A budget of 128 MiB: one million-candle window (88 MB) or many small ones.
    fn default() -> Self {
        Self::new(128 << 20)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn candles(n: usize) -> Candles {
        Candles {
            open_time_ms: (0..n as i64).map(|i| i * 60_000).collect(),
            close: vec![1.0; n],
            ..Candles::default()
        }
    }

    #[test]
    fn a_window_is_read_once_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.csv");
        std::fs::write(&path, "first").unwrap();
        let cache = ParsedWindows::new(1 << 20);
        let reads = Cell::new(0);
        let span = Span::Last {
            n: 100,
            end_ms: None,
        };
        let read = || {
            reads.set(reads.get() + 1);
            Ok::<_, ()>(candles(100))
        };
        for _ in 0..3 {
            let got = cache.get_or_read(&path, Interval::M1, span, read).unwrap();
            assert_eq!(got.len(), 100);
        }
        assert_eq!(reads.get(), 1, "read once, then from memory");
        let other = Span::Last {
            n: 50,
            end_ms: None,
        };
        cache.get_or_read(&path, Interval::M1, other, read).unwrap();
        assert_eq!(reads.get(), 2, "another window is another entry");
        std::fs::write(&path, "appended, longer").unwrap();
        cache.get_or_read(&path, Interval::M1, span, read).unwrap();
        assert_eq!(reads.get(), 3, "a changed file is read again");
        let between = Span::Between {
            start_ms: 0,
            end_ms: 1,
        };
        cache
            .get_or_read(&path, Interval::M1, between, read)
            .unwrap();
        cache
            .get_or_read(&path, Interval::M1, between, read)
            .unwrap();
        assert_eq!(
            reads.get(),
            5,
            "spans other than a render's window are not kept"
        );
    }

    #[test]
    fn the_entries_stay_within_the_budget_and_a_window_over_it_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.csv");
        std::fs::write(&path, "x").unwrap();
        let budget = 1000 * CANDLE_BYTES;
        let cache = ParsedWindows::new(budget);
        for n in 100..120 {
            let span = Span::Last { n, end_ms: None };
            cache
                .get_or_read(&path, Interval::M1, span, || Ok::<_, ()>(candles(n)))
                .unwrap();
            assert!(cache.bytes() <= budget, "{} > {budget}", cache.bytes());
        }
        let huge = Span::Last {
            n: 2000,
            end_ms: None,
        };
        cache
            .get_or_read(&path, Interval::M1, huge, || Ok::<_, ()>(candles(2000)))
            .unwrap();
        assert!(cache.bytes() <= budget);
        let mut read_again = false;
        cache
            .get_or_read(&path, Interval::M1, huge, || {
                read_again = true;
                Ok::<_, ()>(candles(2000))
            })
            .unwrap();
        assert!(read_again, "a window over the budget is not kept");
    }

    #[test]
    fn a_failed_read_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.csv");
        std::fs::write(&path, "x").unwrap();
        let cache = ParsedWindows::new(1 << 20);
        let span = Span::Last {
            n: 10,
            end_ms: None,
        };
        assert_eq!(
            cache.get_or_read(&path, Interval::M1, span, || Err::<Candles, _>("bad row")),
            Err("bad row")
        );
        let got = cache.get_or_read(&path, Interval::M1, span, || Ok::<_, &str>(candles(10)));
        assert_eq!(got.map(|c| c.len()), Ok(10));
    }
}
