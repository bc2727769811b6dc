//! Klines files already parsed, kept in memory so that renders from the same file
//! (another window, wavelet, anomaly factor, chart size) do not parse it again:
//! parsing a 1 050 000-row file took 354 ms of a 790 ms cold render of its last
//! 100 000 candles.
//!
//! An entry is a whole file's candles, keyed by the file's path, size and modification
//! time, so a file replaced or appended to is read afresh; a window is cut from it and
//! its spacing checked as when it is read from the file. The entries together hold at
//! most the configured bytes (88 bytes per candle); the least recently used go first.
//! One file at a time is read whole, keeping every candle until they would outgrow
//! the budget (other reads meanwhile keep only their window), so the cache takes at
//! most twice its budget: the kept files and the one being read. A file with more
//! candles than the budget holds is never kept: it is found so in the same single pass,
//! which goes on keeping only the window, and each later window reads it again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};
use waveplot_protocol::Interval;
use waveplot_protocol::blob::Candles;

use super::file::{self, FileError};
use super::{Span, WindowCandles};

/// Bytes one candle holds in memory: 11 columns of 8 bytes.
pub(super) const CANDLE_BYTES: u64 = 88;

/// The share of the budget one file may take: quick_cache admits no entry heavier than
/// its hot allocation, set to this.
const LARGEST_SHARE: f64 = 0.97;

/// What identifies a file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

/// Weighs an entry of candles (a file, a cache chunk) by its candles.
#[derive(Debug, Clone)]
pub(super) struct ByCandles;

impl<K> Weighter<K, Arc<Candles>> for ByCandles {
    fn weight(&self, _key: &K, candles: &Arc<Candles>) -> u64 {
        (candles.len() as u64 * CANDLE_BYTES).max(1)
    }
}

/// Parsed klines files within a memory budget. Cheap to clone; clones share entries.
#[derive(Clone)]
pub(crate) struct ParsedFiles {
    cache: Arc<Cache<Key, Arc<Candles>, ByCandles>>,
    /// The most candles one kept file may have.
    largest: usize,
    /// Held while a file is read whole.
    reading_whole: Arc<Mutex<()>>,
}

impl std::fmt::Debug for ParsedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedFiles")
            .field("entries", &self.cache.len())
            .field("bytes", &self.cache.weight())
            .finish()
    }
}

impl ParsedFiles {
    /// A cache holding at most `budget_bytes` of candles.
    pub(crate) fn new(budget_bytes: u64) -> Self {
        let options = OptionsBuilder::new()
            .estimated_items_capacity(16)
            .weight_capacity(budget_bytes)
            .hot_allocation(LARGEST_SHARE)
            .shards(1)
            .build()
            .expect("every option is set");
        let largest_bytes = (budget_bytes as f64 * LARGEST_SHARE) as u64;
        Self {
            cache: Arc::new(Cache::with_options(
                options,
                ByCandles,
                Default::default(),
                Default::default(),
            )),
            largest: usize::try_from(largest_bytes / CANDLE_BYTES).unwrap_or(usize::MAX),
            reading_whole: Arc::default(),
        }
    }

    /// The key of the file at `path` as it is now; `None` for a file whose metadata
    /// cannot be read.
    fn key(path: &Path) -> Option<Key> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Key {
            path: path.to_owned(),
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    /// The candles of `span` of the klines file at `path`, their spacing checked
    /// against `interval`: cut from memory when the same file (same size and
    /// modification time) was parsed before, else read from the file, which is kept
    /// when it fits the budget, no other file is being read whole, and it did not
    /// change while it was read.
    pub(crate) fn window(
        &self,
        path: &Path,
        interval: Interval,
        span: Span,
    ) -> Result<WindowCandles, FileError> {
        let key = Self::key(path);
        if let Some(all) = key.as_ref().and_then(|k| self.cache.get(k)) {
            metrics::counter!("waveplot_prepare_parsed_files_total", "outcome" => "hit")
                .increment(1);
            let range = span.range(&all.open_time_ms);
            let name = path.display().to_string();
            file::check_spacing(&all.open_time_ms[range.clone()], interval, &name)?;
            return Ok(WindowCandles::Cut(all, range));
        }
        metrics::counter!("waveplot_prepare_parsed_files_total", "outcome" => "miss").increment(1);
        let whole = self.reading_whole.try_lock().ok();
        let cap = if whole.is_some() && key.is_some() {
            self.largest
        } else {
            0
        };
        let kept = file::read_keeping(path, interval, Some(span), cap)?;
        if let (Some(key), Some(mut all)) = (key, kept.whole) {
            if Self::key(path).as_ref() == Some(&key) {
                all.shrink_to_fit();
                self.cache.insert(key, Arc::new(all));
            }
        }
        Ok(kept.window.candles.into())
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.cache.weight()
    }
}

impl Default for ParsedFiles {
    /// The default budget ([`DEFAULT_FILE_CACHE_MIB`](crate::service::DEFAULT_FILE_CACHE_MIB)).
    fn default() -> Self {
        Self::new(u64::from(crate::service::DEFAULT_FILE_CACHE_MIB) << 20)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;
    use crate::source::file::tests::many;

    const LAST_10: Span = Span::Last {
        n: 10,
        end_ms: None,
    };

    /// Writes `csv` at `path` with `modified` as its modification time.
    fn write(path: &Path, csv: &str, modified: SystemTime) {
        std::fs::write(path, csv).unwrap();
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
    }

    #[test]
    fn every_window_of_a_file_is_cut_from_one_parse_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.csv");
        let then = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let first = many(300);
        write(&path, &first, then);
        let cache = ParsedFiles::new(1 << 20);
        let all = file::read(&path, Interval::M5, None).unwrap().candles;
        let t = |i: usize| all.open_time_ms[i];
        let spans = [
            LAST_10,
            Span::Last {
                n: 50,
                end_ms: Some(t(200)),
            },
            Span::Between {
                start_ms: t(20),
                end_ms: t(40),
            },
        ];
        for span in spans {
            let got = cache.window(&path, Interval::M5, span).unwrap();
            assert_eq!(
                got.into_candles(),
                all.slice(span.range(&all.open_time_ms)),
                "{span:?}"
            );
        }
        assert_eq!(cache.bytes(), 300 * CANDLE_BYTES, "the whole file is kept");
        let kept = cache.window(&path, Interval::M5, spans[0]).unwrap();
        assert!(
            matches!(kept, WindowCandles::Cut(..)),
            "a kept file's windows are ranges of it, not copies"
        );
        // Other prices, same size and time: what comes back is what was parsed.
        write(&path, &first.replace(",20100,", ",20101,"), then);
        for span in spans {
            let got = cache.window(&path, Interval::M5, span).unwrap();
            assert_eq!(
                got.into_candles(),
                all.slice(span.range(&all.open_time_ms)),
                "{span:?}"
            );
        }
        write(
            &path,
            &first.replace(",20100,", ",20101,"),
            SystemTime::now(),
        );
        let changed = cache
            .window(
                &path,
                Interval::M5,
                Span::Last {
                    n: 300,
                    end_ms: None,
                },
            )
            .unwrap()
            .into_candles();
        assert_eq!(all.open[100], 20_100.0);
        assert_eq!(changed.open[100], 20_101.0, "a changed file is read again");
    }

    #[test]
    fn a_window_from_memory_has_its_spacing_checked_like_one_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.csv");
        std::fs::write(&path, many(100)).unwrap();
        let cache = ParsedFiles::new(1 << 20);
        let from_file = cache.window(&path, Interval::M1, LAST_10).unwrap_err();
        assert!(cache.bytes() == 0, "a failed read is not kept");
        cache.window(&path, Interval::M5, LAST_10).unwrap();
        let from_memory = cache.window(&path, Interval::M1, LAST_10).unwrap_err();
        assert_eq!(from_memory.to_string(), from_file.to_string());
        assert!(
            from_memory.to_string().contains("pass --interval 5m"),
            "{from_memory}"
        );
    }

    #[test]
    fn a_file_of_the_most_candles_the_budget_holds_is_kept_and_one_more_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ParsedFiles::new(500 * CANDLE_BYTES);
        for (rows, kept) in [(cache.largest + 1, false), (cache.largest, true)] {
            let path = dir.path().join(format!("{rows}.csv"));
            std::fs::write(&path, many(rows)).unwrap();
            let got = cache.window(&path, Interval::M5, LAST_10).unwrap();
            assert_eq!(got.len(), 10);
            assert_eq!(cache.bytes() > 0, kept, "{rows} rows");
        }
    }

    #[test]
    fn while_one_file_is_read_whole_another_keeps_only_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.csv");
        std::fs::write(&path, many(100)).unwrap();
        let cache = ParsedFiles::new(1 << 20);
        let reading = cache.reading_whole.lock().unwrap();
        let got = cache.window(&path, Interval::M5, LAST_10).unwrap();
        assert_eq!(got.len(), 10);
        assert_eq!(
            cache.bytes(),
            0,
            "not kept while another file is read whole"
        );
        drop(reading);
        cache.window(&path, Interval::M5, LAST_10).unwrap();
        assert_eq!(cache.bytes(), 100 * CANDLE_BYTES);
    }

    #[test]
    fn a_file_over_the_budget_is_never_kept_and_still_gives_its_windows() {
        let dir = tempfile::tempdir().unwrap();
        let (small, large) = (dir.path().join("s.csv"), dir.path().join("l.csv"));
        std::fs::write(&small, many(100)).unwrap();
        std::fs::write(&large, many(1_000)).unwrap();
        let budget = 500 * CANDLE_BYTES;
        let cache = ParsedFiles::new(budget);
        assert!(cache.largest < 1_000);
        let all = file::read(&large, Interval::M5, None).unwrap().candles;
        for span in [
            LAST_10,
            Span::Last {
                n: 100,
                end_ms: Some(all.open_time_ms[700]),
            },
            Span::Between {
                start_ms: all.open_time_ms[3],
                end_ms: all.open_time_ms[600],
            },
        ] {
            let got = cache.window(&large, Interval::M5, span).unwrap();
            assert_eq!(
                got.into_candles(),
                all.slice(span.range(&all.open_time_ms)),
                "{span:?}"
            );
            assert_eq!(cache.bytes(), 0, "{span:?}");
        }
        cache.window(&small, Interval::M5, LAST_10).unwrap();
        assert_eq!(cache.bytes(), 100 * CANDLE_BYTES);
        assert!(cache.bytes() <= budget);
    }
}
