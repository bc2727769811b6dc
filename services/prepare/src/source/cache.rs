//! The candle cache: Binance candles kept in the object store per symbol and interval,
//! so a render asks Binance only for candles newer (or older) than those it already
//! has, across restarts and across prepare replicas sharing a bucket.
//!
//! # Layout and consistency
//!
//! A series lives under `candles/<SYMBOL>/<INTERVAL>/`:
//! - chunks `<FROM_MS>-<TO_MS>.csv`: every closed candle opening in that span, in the
//!   project's klines CSV layout. A chunk is **immutable** and its name is its span;
//!   closed Binance candles never change, so two replicas that fetch the same span
//!   write the same bytes under the same name, and any write order is harmless.
//! - `head.json`: the span covered and the chunks that hold it, written
//!   **last-writer-wins** after its chunks are complete.
//!
//! Conditional writes (compare-and-swap on the head) were not chosen: not every S3 the
//! project targets supports them, and losing a race costs little here. A replica whose
//! head is overwritten only loses the span it added (the next render fetches it again);
//! a head never lists a chunk that was not fully written. Compaction merges the chunks
//! into one and deletes the old ones, so a reader may find a listed chunk gone: it then
//! ignores the cache for that render and writes a fresh head. Storage is bounded by
//! [`CandleCache::max_candles`] per series, oldest candles dropped first.
//!
//! A cache that cannot be read or written is logged and bypassed: it never fails a render.
//!
//! # Chunks in memory
//!
//! Since a chunk never changes under its name, the chunks a process writes or reads are
//! also kept decoded in memory ([`MEMO_BYTES`] in all, least recently used dropped
//! first), and a read asks the store only for the head and the chunks it lacks. A
//! watched pair's close then costs its render one small GET, not one per chunk and a
//! parse of each: with the page's 4 320-candle window, loading it at a close took 20 ms
//! on Garage and now takes 1 ms, and a live update's median on s3s-fs went from about
//! 600 ms to 220 ms (waveplot-bench `--live-only`, 2-core x86_64). Only the head, which
//! another replica may rewrite, is always read. A chunk that compaction deletes stays in
//! memory until it is the least recently used, so a render that read the head before
//! the compaction still finds its chunks; only a replica that never held them refetches.

use std::collections::HashSet;
use std::sync::Arc;

use quick_cache::OptionsBuilder;
use quick_cache::sync::Cache;
use serde::{Deserialize, Serialize};
use waveplot_protocol::blob::Candles;
use waveplot_protocol::{Interval, Symbol};
use waveplot_service::Store;

use super::binance::{Binance, Fetched};
use super::parsed::ByCandles;
use super::{SourceError, file, write};

/// Most candles a stream's candle fetches from Binance to fill the cache up to it.
pub(crate) const MAX_FILL: i64 = 1000;

/// Candles kept per series.
pub(crate) const MAX_CANDLES: usize = 100_000;

/// Bytes of decoded chunks kept in memory (88 a candle): three series of
/// [`MAX_CANDLES`] candles (8.8 MB each), or the series of the eight pairs prepare
/// follows live by default until each holds a month of 1m candles.
pub(crate) const MEMO_BYTES: u64 = 32 << 20;

/// The cached span of a series and the chunks that hold it, oldest first.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Head {
    v: u32,
    from_ms: i64,
    to_ms: i64,
    chunks: Vec<String>,
}

/// Decoded chunks by key.
type Memo = Cache<String, Arc<Candles>, ByCandles>;

/// A candle cache over an object store. Cheap to clone; clones share the chunks kept
/// in memory.
#[derive(Clone)]
pub(crate) struct CandleCache {
    store: Store,
    memo: Arc<Memo>,
    /// Candles kept per series; beyond it the oldest are dropped.
    pub(crate) max_candles: usize,
    /// Chunks a head may list before they are merged into one.
    pub(crate) max_chunks: usize,
}

impl std::fmt::Debug for CandleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleCache")
            .field("store", &self.store)
            .field("chunks_in_memory", &self.memo.len())
            .field("bytes_in_memory", &self.memo.weight())
            .field("max_candles", &self.max_candles)
            .field("max_chunks", &self.max_chunks)
            .finish()
    }
}

impl CandleCache {
    /// A cache in `store`, keeping up to 100 000 candles per series (about 12 MB of
    /// CSV; more than two years of 15m candles).
    pub(crate) fn new(store: Store) -> Self {
        Self::with_memo(store, MEMO_BYTES)
    }

    /// A cache in `store` keeping at most `memo_bytes` of decoded chunks in memory.
    pub(crate) fn with_memo(store: Store, memo_bytes: u64) -> Self {
        let options = OptionsBuilder::new()
            .estimated_items_capacity(256)
            .weight_capacity(memo_bytes)
            // A compacted series is one chunk; it must be admitted whole.
            .hot_allocation(0.97)
            .build()
            .expect("every option is set");
        Self {
            store,
            memo: Arc::new(Cache::with_options(
                options,
                ByCandles,
                Default::default(),
                Default::default(),
            )),
            max_candles: MAX_CANDLES,
            max_chunks: 16,
        }
    }

    /// Writes the chunk `key` holding `candles`, and keeps it in memory; false
    /// (logged with `what`) when the store refused it.
    async fn put_chunk(&self, key: &str, candles: Candles, what: &str) -> bool {
        let written = self.store.put(key, write::csv(&candles).into()).await;
        if let Err(e) = &written {
            tracing::warn!(error = e as &dyn std::error::Error, "{what}");
            return false;
        }
        self.memo.insert(key.to_owned(), Arc::new(candles));
        true
    }

    /// The candles opening in `start..=end`: what the cache holds plus what Binance adds
    /// beyond it, which is then stored.
    pub(crate) async fn klines(
        &self,
        binance: &Binance,
        symbol: &Symbol,
        interval: Interval,
        (start, end): (i64, i64),
        progress: &mut (dyn FnMut(i64) + Send),
    ) -> Result<Candles, SourceError> {
        let prefix = format!("candles/{symbol}/{interval}");
        let (head, cached) = self.read(&prefix).await.unwrap_or_default();
        let joins = !head.chunks.is_empty() && start <= head.to_ms + 1 && end + 1 >= head.from_ms;
        if !joins && !head.chunks.is_empty() && end < head.from_ms {
            // An old span apart from the cache: served, not kept (renders move forward).
            return Ok(binance
                .klines(symbol, interval, (start, end), progress)
                .await?
                .candles);
        }
        let mut spans = Vec::new();
        if joins && start < head.from_ms {
            spans.push((start, head.from_ms - 1));
        }
        if !joins || end > head.to_ms {
            spans.push((if joins { head.to_ms + 1 } else { start }, end));
        }
        if spans.is_empty() {
            // The cache holds the span (each render of a watched pair's close): nothing
            // to fetch, so nothing to write.
            return Ok(cached);
        }
        let (mut next, replaced) = if joins {
            (head, Vec::new())
        } else {
            let empty = Head {
                from_ms: start,
                to_ms: start - 1,
                ..Head::default()
            };
            (empty, head.chunks)
        };
        let mut parts = vec![if joins { cached } else { Candles::default() }];
        for span in spans {
            let fetched = binance.klines(symbol, interval, span, progress).await?;
            self.add(&prefix, &mut next, span.0, &fetched).await;
            parts.push(fetched.candles);
        }
        let all = merge(&parts.iter().collect::<Vec<_>>());
        self.finish(&prefix, next, &all, replaced).await;
        Ok(all)
    }

    /// Stores a fetched span as a chunk and records it in `head`.
    async fn add(&self, prefix: &str, head: &mut Head, from: i64, fetched: &Fetched) {
        let to = fetched.complete_to_ms;
        if to < from {
            return;
        }
        let covered = fetched.candles.open_time_ms.partition_point(|&t| t <= to);
        let key = format!("{prefix}/{from}-{to}.csv");
        if covered > 0 {
            let chunk = fetched.candles.slice(0..covered);
            if !self
                .put_chunk(&key, chunk, "candle cache not written")
                .await
            {
                return;
            }
            head.chunks.push(key);
        }
        head.from_ms = head.from_ms.min(from);
        head.to_ms = head.to_ms.max(to);
        head.chunks.sort_by_key(|k| chunk_start(k));
    }

    /// Bounds the series, merges chunks when there are many, writes the head, then
    /// deletes the chunks it no longer lists (`stale`: those of a replaced head).
    async fn finish(&self, prefix: &str, mut head: Head, all: &Candles, mut stale: Vec<String>) {
        if head.chunks.is_empty() {
            return;
        }
        let kept = all.open_time_ms.partition_point(|&t| t < head.from_ms);
        let upto = all.open_time_ms.partition_point(|&t| t <= head.to_ms);
        let series = all.slice(kept..upto);
        if series.len() > self.max_candles || head.chunks.len() > self.max_chunks {
            let series = series.slice(series.len().saturating_sub(self.max_candles)..series.len());
            head.from_ms = series.open_time_ms.first().copied().unwrap_or(head.from_ms);
            let key = format!("{prefix}/{}-{}.csv", head.from_ms, head.to_ms);
            if !self
                .put_chunk(&key, series, "candle cache not compacted")
                .await
            {
                return;
            }
            stale.extend(std::mem::replace(&mut head.chunks, vec![key.clone()]));
        }
        if !self.write_head(prefix, &mut head).await {
            return;
        }
        stale.retain(|k| !head.chunks.contains(k));
        for key in stale {
            if let Err(e) = self.store.delete(&key).await {
                tracing::warn!(error = &e as &dyn std::error::Error, %key, "old cache chunk not deleted");
            }
        }
    }

    /// Writes `head`; false (logged) if it could not be written.
    async fn write_head(&self, prefix: &str, head: &mut Head) -> bool {
        head.v = 1;
        let json = serde_json::to_vec(&head).expect("a head serialises");
        let written = self
            .store
            .put(&format!("{prefix}/head.json"), json.into())
            .await;
        if let Err(e) = &written {
            tracing::warn!(
                error = e as &dyn std::error::Error,
                "candle cache head not written"
            );
        }
        written.is_ok()
    }

    /// Adds a candle that just closed (`candle`, one row) to its series, as a chunk of
    /// its own: nothing to do if the series has it; where the series stops short of the
    /// candle before it (the stream was down), that gap is fetched from Binance first,
    /// when at most [`MAX_FILL`] candles are missing (with more, the candle is left to
    /// the next render's fetch); an empty series starts with it. Failures are
    /// logged: a render then fetches what the cache lacks.
    pub(crate) async fn append(
        &self,
        binance: &Binance,
        symbol: &Symbol,
        interval: Interval,
        candle: &Candles,
    ) {
        let prefix = format!("candles/{symbol}/{interval}");
        let (open, step) = (candle.open_time_ms[0], interval.millis());
        // The close time, not open + step − 1: months differ in length.
        let to = candle.close_time_ms[0];
        let mut head = self.head(&prefix).await.unwrap_or_default();
        // The head covers every candle opening up to `to_ms`: with `to_ms + step >= open`
        // the candle before this one is in, and none lies between.
        if !head.chunks.is_empty() && head.to_ms + step < open {
            if head.to_ms + 1 < open - MAX_FILL * step {
                // Filling only the newest candles would leave a hole in the series; the
                // next render fetches what the cache lacks instead.
                tracing::info!(%symbol, %interval, "the candle cache is too far behind the stream to catch up from it");
                return;
            }
            let from = head.to_ms + 1;
            if let Err(e) = self
                .klines(binance, symbol, interval, (from, open - 1), &mut |_| {})
                .await
            {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "the candle cache could not catch up with the stream"
                );
                return;
            }
            head = self.head(&prefix).await.unwrap_or_default();
            if head.to_ms + step < open {
                return;
            }
        }
        if !head.chunks.is_empty() && head.to_ms >= open {
            return;
        }
        let key = format!("{prefix}/{open}-{to}.csv");
        if !self
            .put_chunk(&key, candle.clone(), "candle cache not written")
            .await
        {
            return;
        }
        if head.chunks.is_empty() {
            head.from_ms = open;
        }
        head.to_ms = to;
        head.chunks.push(key);
        if head.chunks.len() <= self.max_chunks {
            self.write_head(&prefix, &mut head).await;
        } else if let Some(all) = self.chunks(&head).await {
            self.finish(&prefix, head, &all, Vec::new()).await;
        }
    }

    /// The head of the series under `prefix`; `None` if there is no usable one.
    async fn head(&self, prefix: &str) -> Option<Head> {
        let bytes = self.get_logged(&format!("{prefix}/head.json")).await?;
        serde_json::from_slice(&bytes)
            .inspect_err(|e| {
                tracing::warn!(
                    error = e as &dyn std::error::Error,
                    prefix,
                    "unreadable cache head; ignored"
                )
            })
            .ok()
    }

    /// The head and the candles of its chunks; `None` if there is no usable cache.
    async fn read(&self, prefix: &str) -> Option<(Head, Candles)> {
        let head = self.head(prefix).await?;
        let candles = self.chunks(&head).await?;
        Some((head, candles))
    }

    /// The candles of the chunks `head` lists, from memory or else from the store;
    /// `None` if one is gone or unreadable.
    async fn chunks(&self, head: &Head) -> Option<Candles> {
        let mut parts = Vec::with_capacity(head.chunks.len());
        for key in &head.chunks {
            if let Some(kept) = self.memo.get(key) {
                parts.push(kept);
                continue;
            }
            let Some(bytes) = self.get_logged(key).await else {
                tracing::info!(
                    key,
                    "a cached chunk is gone (another replica compacted); refetching"
                );
                return None;
            };
            let chunk = file::parse(&bytes, key)
                .inspect_err(|e| {
                    tracing::warn!(
                        error = e as &dyn std::error::Error,
                        "unreadable cache chunk; ignored"
                    )
                })
                .ok()?;
            let mut candles = chunk.candles;
            // Kept for long, and weighed by its candles: no room beyond them.
            candles.shrink_to_fit();
            let chunk = Arc::new(candles);
            self.memo.insert(key.clone(), chunk.clone());
            parts.push(chunk);
        }
        Some(merge(&parts.iter().map(|p| &**p).collect::<Vec<_>>()))
    }

    /// The chunks the head of the series under `prefix` lists: none when the head is
    /// missing or unreadable (every chunk of the series is then unlisted), `None` when
    /// the store cannot say.
    pub(crate) async fn listed_chunks(store: &Store, prefix: &str) -> Option<HashSet<String>> {
        let head = store.get(&format!("{prefix}/head.json")).await.ok()?;
        Some(
            head.and_then(|bytes| serde_json::from_slice::<Head>(&bytes).ok())
                .map(|head| head.chunks.into_iter().collect())
                .unwrap_or_default(),
        )
    }

    async fn get_logged(&self, key: &str) -> Option<bytes::Bytes> {
        self.store
            .get(key)
            .await
            .inspect_err(|e| {
                tracing::warn!(
                    error = e as &dyn std::error::Error,
                    "candle cache unreadable; bypassed"
                )
            })
            .ok()
            .flatten()
    }
}

/// True when each part's open times rise and end before the next part's first.
fn in_order(parts: &[&Candles]) -> bool {
    let times = parts.iter().map(|p| &p.open_time_ms);
    times.clone().all(|t| t.is_sorted_by(|a, b| a < b))
        && times
            .filter_map(|t| Some((*t.first()?, *t.last()?)))
            .is_sorted_by(|a, b| a.1 < b.0)
}

fn chunk_start(key: &str) -> i64 {
    let name = key.rsplit('/').next().unwrap_or("");
    name.split('-')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(i64::MIN)
}

/// The candles of all parts, ordered by open time; where parts overlap, the later
/// part's candle is kept.
fn merge(parts: &[&Candles]) -> Candles {
    if in_order(parts) {
        // The chunks of a head: each ends before the next begins.
        let mut out = Candles::default();
        for part in parts {
            out.extend_from(part);
        }
        return out;
    }
    let mut rows: Vec<(i64, usize, usize)> = parts
        .iter()
        .enumerate()
        .rev()
        .flat_map(|(p, c)| {
            c.open_time_ms
                .iter()
                .enumerate()
                .map(move |(i, &t)| (t, p, i))
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows.dedup_by_key(|r| r.0);
    let mut out = Candles::default();
    for (_, p, i) in rows {
        let c = &parts[p];
        out.open_time_ms.push(c.open_time_ms[i]);
        out.close_time_ms.push(c.close_time_ms[i]);
        out.open.push(c.open[i]);
        out.high.push(c.high[i]);
        out.low.push(c.low[i]);
        out.close.push(c.close[i]);
        out.volume.push(c.volume[i]);
        out.quote_volume.push(c.quote_volume[i]);
        out.trades.push(c.trades[i]);
        out.taker_buy_base.push(c.taker_buy_base[i]);
        out.taker_buy_quote.push(c.taker_buy_quote[i]);
    }
    out
}

#[cfg(test)]
mod tests;
