use super::*;
use crate::source::binance::tests::quick;
use waveplot_testkit::fake_binance::{FakeBinance, series};

const MINUTE: i64 = 60_000;

fn btc() -> Symbol {
    Symbol::parse("BTC").unwrap()
}

/// A fake serving `n` closed 1m candles that ended an hour ago, and their first open time.
async fn fake(n: usize) -> (FakeBinance, Binance, i64) {
    let first = (jiff::Timestamp::now().as_millisecond() / MINUTE - 60 - n as i64) * MINUTE;
    let fake = FakeBinance::start(series(first, MINUTE, n)).await;
    let client = Binance::new(&fake.url, quick()).unwrap();
    (fake, client, first)
}

async fn fetch(cache: &CandleCache, b: &Binance, span: (i64, i64)) -> Candles {
    cache
        .klines(b, &btc(), Interval::M1, span, &mut |_| {})
        .await
        .unwrap()
}

#[tokio::test]
async fn a_second_fetch_asks_binance_only_for_newer_candles() {
    let (fake, binance, first) = fake(40).await;
    let cache = CandleCache::new(Store::memory());
    let got = fetch(&cache, &binance, (first, first + 29 * MINUTE)).await;
    assert_eq!(got.len(), 30);
    assert_eq!(fake.kline_starts(), [first]);
    let got = fetch(&cache, &binance, (first + 5 * MINUTE, first + 39 * MINUTE)).await;
    assert_eq!(got.len(), 40, "cached and new candles together");
    assert_eq!(fake.kline_starts(), [first, first + 29 * MINUTE + 1]);
    // A head rewritten in another form shows whether a read writes it again.
    let head = "candles/BTCUSDT/1m/head.json";
    let mut spaced = b" ".to_vec();
    spaced.extend_from_slice(&cache.store.get(head).await.unwrap().unwrap());
    cache.store.put(head, spaced.clone().into()).await.unwrap();
    fetch(&cache, &binance, (first + 10 * MINUTE, first + 39 * MINUTE)).await;
    assert_eq!(fake.kline_starts().len(), 2, "nothing new: no request");
    let stored = cache.store.get(head).await.unwrap().unwrap();
    assert_eq!(stored, spaced, "and no write");
}

#[tokio::test]
async fn the_cache_survives_a_restart_in_a_directory_store() {
    let (fake, binance, first) = fake(20).await;
    let dir = tempfile::tempdir().unwrap();
    let span = (first, first + 19 * MINUTE);
    let before = fetch(
        &CandleCache::new(Store::local_dir(dir.path()).unwrap()),
        &binance,
        span,
    )
    .await;
    let again = CandleCache::new(Store::local_dir(dir.path()).unwrap());
    assert_eq!(fetch(&again, &binance, span).await, before);
    assert_eq!(fake.kline_starts().len(), 1);
}

#[tokio::test]
async fn older_candles_are_fetched_before_the_cached_span_and_joined() {
    let (fake, binance, first) = fake(30).await;
    let cache = CandleCache::new(Store::memory());
    fetch(&cache, &binance, (first + 20 * MINUTE, first + 29 * MINUTE)).await;
    let got = fetch(&cache, &binance, (first, first + 29 * MINUTE)).await;
    assert_eq!(got.len(), 30);
    assert_eq!(fake.kline_starts(), [first + 20 * MINUTE, first]);
    assert!(fake.requests()[1].contains(&format!("endTime={}", first + 20 * MINUTE - 1)));
}

#[tokio::test]
async fn a_series_is_bounded_and_compacted_into_one_chunk() {
    let (_fake, binance, first) = fake(60).await;
    let store = Store::memory();
    let cache = CandleCache {
        max_candles: 25,
        max_chunks: 2,
        ..CandleCache::new(store.clone())
    };
    for end in [9, 19, 29, 59] {
        fetch(&cache, &binance, (first, first + end * MINUTE)).await;
    }
    let (head, cached) = cache.read("candles/BTCUSDT/1m").await.unwrap();
    assert_eq!(head.chunks.len(), 1, "{:?}", head.chunks);
    assert_eq!(cached.len(), 25);
    assert_eq!(cached.open_time_ms[0], first + 35 * MINUTE);
    let old = format!("candles/BTCUSDT/1m/{first}-{}.csv", first + 9 * MINUTE);
    assert!(
        !store.exists(&old).await.unwrap(),
        "compacted chunks are deleted"
    );
}

#[tokio::test]
async fn a_render_that_read_the_head_before_a_compaction_still_finds_its_chunks() {
    let (fake, binance, first) = fake(30).await;
    let store = Store::memory();
    let cache = CandleCache {
        max_chunks: 2,
        ..CandleCache::new(store.clone())
    };
    for end in [9, 19] {
        fetch(&cache, &binance, (first, first + end * MINUTE)).await;
    }
    let prefix = "candles/BTCUSDT/1m";
    let before = cache.head(prefix).await.unwrap();
    assert_eq!(before.chunks.len(), 2);
    fetch(&cache, &binance, (first, first + 29 * MINUTE)).await;
    assert_eq!(
        cache.head(prefix).await.unwrap().chunks.len(),
        1,
        "compacted"
    );
    for key in &before.chunks {
        assert!(!store.exists(key).await.unwrap(), "{key} is deleted");
    }
    let read = cache
        .chunks(&before)
        .await
        .expect("the chunks are in memory");
    assert_eq!(read.len(), 20);
    assert_eq!(fake.kline_starts().len(), 3, "nothing fetched again");
}

#[tokio::test]
async fn a_chunk_deleted_by_another_replica_makes_the_cache_refetch_not_fail() {
    let (fake, binance, first) = fake(20).await;
    let store = Store::memory();
    let span = (first, first + 19 * MINUTE);
    fetch(&CandleCache::new(store.clone()), &binance, span).await;
    store
        .delete(&format!(
            "candles/BTCUSDT/1m/{first}-{}.csv",
            first + 19 * MINUTE
        ))
        .await
        .unwrap();
    let replica = CandleCache::new(store.clone());
    assert_eq!(fetch(&replica, &binance, span).await.len(), 20);
    assert_eq!(fake.kline_starts(), [first, first]);
}

#[tokio::test]
async fn chunks_once_written_or_read_are_read_from_memory_within_its_bound() {
    let (fake, binance, first) = fake(30).await;
    let store = Store::memory();
    let span = (first, first + 29 * MINUTE);
    let writer = CandleCache::new(store.clone());
    let before = fetch(&writer, &binance, span).await;
    let chunk = format!("candles/BTCUSDT/1m/{first}-{}.csv", first + 29 * MINUTE);
    // A chunk never changes under its name; spoiling the stored one shows which
    // reads still go to the store.
    store.put(&chunk, "spoilt".into()).await.unwrap();
    assert_eq!(
        fetch(&writer, &binance, span).await,
        before,
        "the writer kept it"
    );
    assert_eq!(fake.kline_starts().len(), 1);
    let fresh = bytes::Bytes::from(write::csv(&before));
    store.put(&chunk, fresh.clone()).await.unwrap();
    let small = CandleCache::with_memo(store.clone(), 29 * 88);
    assert!(
        small.read("candles/BTCUSDT/1m").await.is_some(),
        "read from the store"
    );
    store.put(&chunk, "spoilt".into()).await.unwrap();
    assert!(
        small.read("candles/BTCUSDT/1m").await.is_none(),
        "30 candles do not fit a memory of 29: read again, and found spoilt"
    );
    let reader = CandleCache::new(store.clone());
    store.put(&chunk, fresh).await.unwrap();
    assert_eq!(reader.read("candles/BTCUSDT/1m").await.unwrap().1, before);
    store.put(&chunk, "spoilt".into()).await.unwrap();
    assert_eq!(
        reader.read("candles/BTCUSDT/1m").await.unwrap().1,
        before,
        "the reader kept what it read"
    );
}

/// The candle opening at `open` as a stream reports its close, with its own close
/// price (the REST fake's series has 100 + i).
fn streamed(open: i64, close: f64) -> Candles {
    let mut c = Candles::default();
    let record = csv::ByteRecord::from(vec![
        open.to_string(),
        format!("{close}"),
        format!("{close}"),
        format!("{close}"),
        format!("{close}"),
        "1".into(),
        (open + MINUTE - 1).to_string(),
        format!("{close}"),
        "1".into(),
        "0.5".into(),
        format!("{}", close / 2.0),
    ]);
    super::super::klines::push_record(&mut c, &record).unwrap();
    c
}

#[tokio::test]
async fn streamed_candles_join_the_series_and_a_gap_before_one_is_filled_from_binance() {
    let (fake, binance, first) = fake(40).await;
    let cache = CandleCache {
        max_chunks: 4,
        ..CandleCache::new(Store::memory())
    };
    let prefix = "candles/BTCUSDT/1m";
    // An empty series starts with the streamed candle.
    cache
        .append(
            &binance,
            &btc(),
            Interval::M1,
            &streamed(first + 10 * MINUTE, 7.0),
        )
        .await;
    let (head, got) = cache.read(prefix).await.unwrap();
    assert_eq!(
        (head.from_ms, head.to_ms),
        (first + 10 * MINUTE, first + 11 * MINUTE - 1)
    );
    assert_eq!(got.close, [7.0]);
    // The next one joins as a chunk of its own; a repeat changes nothing.
    for _ in 0..2 {
        cache
            .append(
                &binance,
                &btc(),
                Interval::M1,
                &streamed(first + 11 * MINUTE, 8.0),
            )
            .await;
    }
    assert_eq!(cache.read(prefix).await.unwrap().1.close, [7.0, 8.0]);
    assert!(fake.kline_starts().is_empty(), "nothing asked of Binance");
    // Three candles later: the two between come from Binance, the streamed one is kept.
    cache
        .append(
            &binance,
            &btc(),
            Interval::M1,
            &streamed(first + 14 * MINUTE, 9.0),
        )
        .await;
    assert_eq!(fake.kline_starts(), [first + 12 * MINUTE]);
    let (head, got) = cache.read(prefix).await.unwrap();
    assert_eq!(got.close, [7.0, 8.0, 112.0, 113.0, 9.0]);
    assert_eq!(head.to_ms, first + 15 * MINUTE - 1);
    // Past four chunks the series is merged into one.
    assert_eq!(head.chunks.len(), 4, "{:?}", head.chunks);
    cache
        .append(
            &binance,
            &btc(),
            Interval::M1,
            &streamed(first + 15 * MINUTE, 10.0),
        )
        .await;
    let (head, got) = cache.read(prefix).await.unwrap();
    assert_eq!(head.chunks.len(), 1, "{:?}", head.chunks);
    assert_eq!(got.close, [7.0, 8.0, 112.0, 113.0, 9.0, 10.0]);
    // A render's window ending at the streamed candle asks Binance only for older ones.
    let window = fetch(&cache, &binance, (first, first + 15 * MINUTE)).await;
    assert_eq!(window.len(), 16);
    assert_eq!(fake.kline_starts(), [first + 12 * MINUTE, first]);
    // A candle with more than MAX_FILL missing before it is left to the next render: the series
    // keeps its history and no hole opens in it.
    let far = first + (16 + super::MAX_FILL + 1) * MINUTE;
    cache
        .append(&binance, &btc(), Interval::M1, &streamed(far, 11.0))
        .await;
    assert_eq!(fake.kline_starts(), [first + 12 * MINUTE, first]);
    let (head, got) = cache.read(prefix).await.unwrap();
    assert_eq!(head.to_ms, first + 16 * MINUTE - 1);
    assert_eq!(got.len(), 16);
}

#[test]
fn merged_parts_are_ordered_without_duplicates() {
    let part = |times: &[i64]| {
        let mut c = Candles::default();
        for &t in times {
            let rec = csv::ByteRecord::from(vec![
                t.to_string(),
                "1".into(),
                "2".into(),
                "0.5".into(),
                "1.5".into(),
                "3".into(),
                (t + 59_999).to_string(),
                "4".into(),
                "5".into(),
                "1".into(),
                "2".into(),
            ]);
            crate::source::klines::push_record(&mut c, &rec).unwrap();
        }
        c
    };
    let (a, b) = (part(&[0, 60_000, 120_000]), part(&[60_000, 180_000]));
    let merged = merge(&[&a, &b]);
    assert_eq!(merged.open_time_ms, [0, 60_000, 120_000, 180_000]);
    let c = part(&[240_000, 300_000]);
    assert!(in_order(&[&a, &c]) && !in_order(&[&a, &b]) && !in_order(&[&c, &a]));
    let joined = merge(&[&a, &c]);
    assert_eq!(joined.open_time_ms, [0, 60_000, 120_000, 240_000, 300_000]);
    assert_eq!(joined.close, [a.close.clone(), c.close.clone()].concat());
}
