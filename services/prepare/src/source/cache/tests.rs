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
    fetch(&cache, &binance, (first + 10 * MINUTE, first + 39 * MINUTE)).await;
    assert_eq!(fake.kline_starts().len(), 2, "nothing new: no request");
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
async fn a_chunk_deleted_by_another_replica_makes_the_cache_refetch_not_fail() {
    let (fake, binance, first) = fake(20).await;
    let store = Store::memory();
    let cache = CandleCache::new(store.clone());
    let span = (first, first + 19 * MINUTE);
    fetch(&cache, &binance, span).await;
    store
        .delete(&format!(
            "candles/BTCUSDT/1m/{first}-{}.csv",
            first + 19 * MINUTE
        ))
        .await
        .unwrap();
    assert_eq!(fetch(&cache, &binance, span).await.len(), 20);
    assert_eq!(fake.kline_starts(), [first, first]);
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
    let merged = merge(&[part(&[0, 60_000, 120_000]), part(&[60_000, 180_000])]);
    assert_eq!(merged.open_time_ms, [0, 60_000, 120_000, 180_000]);
}
