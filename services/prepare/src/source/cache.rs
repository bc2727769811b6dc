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

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use waveplot_protocol::blob::Candles;
use waveplot_protocol::{Interval, Symbol};
use waveplot_service::Store;

use super::binance::{Binance, Fetched};
use super::{SourceError, file, write};

/// Most candles a stream's candle fetches from Binance to fill the cache up to it.
pub(crate) const MAX_FILL: i64 = 1000;

/// Candles kept per series.
pub(crate) const MAX_CANDLES: usize = 100_000;

/// The cached span of a series and the chunks that hold it, oldest first.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Head {
    v: u32,
    from_ms: i64,
    to_ms: i64,
    chunks: Vec<String>,
}

/// A candle cache over an object store.
#[derive(Debug, Clone)]
pub(crate) struct CandleCache {
    store: Store,
    /// Candles kept per series; beyond it the oldest are dropped.
    pub(crate) max_candles: usize,
    /// Chunks a head may list before they are merged into one.
    pub(crate) max_chunks: usize,
}

impl CandleCache {
    /// A cache in `store`, keeping up to 100 000 candles per series (about 12 MB of
    /// CSV; more than two years of 15m candles).
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            max_candles: MAX_CANDLES,
            max_chunks: 16,
        }
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
        let all = merge(&parts);
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
        let csv = write::csv(&fetched.candles.slice(0..covered));
        if covered > 0 {
            if let Err(e) = self.store.put(&key, csv.into()).await {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "candle cache not written"
                );
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
            if let Err(e) = self.store.put(&key, write::csv(&series).into()).await {
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    "candle cache not compacted"
                );
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
        if let Err(e) = self.store.put(&key, write::csv(candle).into()).await {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "candle cache not written"
            );
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

    /// The candles of the chunks `head` lists; `None` if one is gone or unreadable.
    async fn chunks(&self, head: &Head) -> Option<Candles> {
        let mut parts = Vec::with_capacity(head.chunks.len());
        for key in &head.chunks {
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
            parts.push(chunk.candles);
        }
        Some(merge(&parts))
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

fn chunk_start(key: &str) -> i64 {
    let name = key.rsplit('/').next().unwrap_or("");
    name.split('-')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(i64::MIN)
}

/// The candles of all parts, ordered by open time; where parts overlap, the later
/// part's candle is kept.
fn merge(parts: &[Candles]) -> Candles {
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
