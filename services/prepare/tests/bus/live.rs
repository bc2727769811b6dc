//! Live: the real prepare following the fake Binance kline stream, watched over a real
//! nats-server as the deployment's users.

use std::time::{Duration, Instant};

use futures::StreamExt;
use waveplot_protocol::blob::Signal;
use waveplot_protocol::{
    AnomalyEvent, Blob, CandleEvent, Interval, Message, PreparedEvent, PriceEvent, RenderReply,
    RequestId, SignalEvent, Symbol, WatchReply, WatchRequest,
};
use waveplot_service::bus::Subscription;
use waveplot_testkit::fake_binance::FakeBinance;
use waveplot_testkit::fake_binance::ws::{FakeBinanceWs, close_of};

use super::{Setup, ask, next_event, stack_with};

const MINUTE: i64 = 60_000;
const STREAM: &str = "btcusdt@kline_1m";

/// prepare with both fakes, and `extra` settings.
async fn live_stack(extra: &[(&'static str, String)]) -> (Setup, FakeBinance, FakeBinanceWs) {
    let rest = FakeBinance::start_synthetic().await;
    let ws = FakeBinanceWs::start().await;
    let mut env = vec![
        ("BINANCE_URL", rest.url.clone()),
        ("BINANCE_WS_URL", ws.url.clone()),
    ];
    env.extend_from_slice(extra);
    (stack_with(&env).await, rest, ws)
}

fn watch(id: &str, symbol: &str) -> WatchRequest {
    let mut w = WatchRequest::new(
        RequestId::parse(id).unwrap(),
        Symbol::parse(symbol).unwrap(),
        Interval::M1,
    );
    w.window = Some(200);
    w
}

async fn send_watch(s: &Setup, w: &WatchRequest) -> WatchReply {
    let reply = s
        .bus
        .request(
            s.subjects.watch(),
            w.encode().into(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    WatchReply::decode(&reply).unwrap()
}

/// The observer's subscription to a subject, in place on the server.
async fn hear(s: &Setup, subject: String) -> Subscription {
    let sub = s.watch.subscribe(subject, None).await.unwrap();
    s.watch.flush().await.unwrap();
    sub
}

/// A minute's open time `back` minutes before the current one.
fn minutes_ago(back: i64) -> i64 {
    (jiff::Timestamp::now().as_millisecond() / MINUTE - back) * MINUTE
}

/// Renders the watch's window that ends at the candle opening at `end_ms` through the
/// bus and returns its blob.
async fn render(s: &Setup, w: &WatchRequest, end_ms: i64) -> (PreparedEvent, Blob) {
    let mut prepared = hear(s, s.subjects.prepared_any()).await;
    let r = w.render(RequestId::generate(), end_ms);
    assert!(matches!(ask(s, &r).await, RenderReply::Accepted { .. }));
    let e = PreparedEvent::decode(&next_event(&mut prepared).await.payload).unwrap();
    let store = s.stack.store().await.unwrap();
    let blob = Blob::decode(&store.get(e.key.as_str()).await.unwrap().unwrap()).unwrap();
    (e, blob)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watched_pair_publishes_price_candle_anomaly_and_signal_events_equal_to_a_render() {
    let (s, _rest, ws) = live_stack(&[]).await;
    let w = watch("w1", "BTC");
    let base = minutes_ago(30);
    // Which way the price must jump for the signal to change: the newest candle's signal
    // in the window ending one candle earlier.
    let (_, before) = render(&s, &w, base - MINUTE).await;
    let previous = *before.analysis.signals.signal.last().unwrap();
    let factor = if previous == Signal::Sell { 0.8 } else { 1.2 };

    let mut prices = hear(&s, s.subjects.price(&w.symbol, w.interval)).await;
    let mut candles = hear(&s, s.subjects.candle(&w.symbol, w.interval)).await;
    let mut anomalies = hear(&s, s.subjects.anomaly(&w.symbol, w.interval)).await;
    let mut signals = hear(&s, s.subjects.signal(&w.symbol, w.interval)).await;
    let WatchReply::Watching { lease_ms, .. } = send_watch(&s, &w).await else {
        panic!("refused:\n{}", s.prepare().log())
    };
    assert_eq!(lease_ms, 30_000);
    let streams = ws
        .wait_for_streams(&[STREAM], Duration::from_secs(10))
        .await;
    assert_eq!(streams, [STREAM], "{}", s.prepare().log());

    ws.update("BTCUSDT", "1m", base, 123.5, base + 1500);
    let price = PriceEvent::decode(&next_event(&mut prices).await.payload).unwrap();
    assert_eq!(
        (price.candle.open_ms, price.candle.close, price.event_ms),
        (base, 123.5, base + 1500)
    );
    // A second update within the second is not published.
    ws.update("BTCUSDT", "1m", base, 124.0, base + 1600);

    let close = close_of(base) * factor;
    ws.close_at("BTCUSDT", "1m", base, close);
    let candle = CandleEvent::decode(&next_event(&mut candles).await.payload).unwrap();
    assert_eq!((candle.candle.open_ms, candle.filled), (base, false));
    assert!(
        (candle.candle.close - close).abs() < 1e-6,
        "{}",
        candle.candle.close
    );
    let anomaly = AnomalyEvent::decode(&next_event(&mut anomalies).await.payload).unwrap();
    let signal = SignalEvent::decode(&next_event(&mut signals).await.payload).unwrap();

    // The same window rendered: the same blob key, threshold, D1 and signal.
    let (prepared, blob) = render(&s, &w, base).await;
    let n = blob.candles.len();
    assert_eq!(n, 200);
    assert_eq!(anomaly.window.key, prepared.key);
    assert_eq!(signal.window.key, prepared.key);
    assert_eq!(anomaly.threshold, blob.analysis.anomalies.threshold);
    assert_eq!(
        anomaly.threshold,
        prepared.header.unwrap().summary.unwrap().anomaly_threshold
    );
    assert_eq!(anomaly.value, blob.analysis.details[0][n - 1]);
    assert_eq!(
        (anomaly.open_ms, anomaly.close),
        (base, blob.candles.close[n - 1])
    );
    assert_eq!(signal.signal, blob.analysis.signals.signal[n - 1]);
    assert_eq!(signal.previous, previous);
    assert_ne!(signal.signal, previous);
    assert_eq!(signal.buffer, blob.analysis.signals.buffer);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), prices.next())
            .await
            .is_err(),
        "the second update within a second was published"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_stream_is_reopened_and_the_candles_it_missed_come_from_rest() {
    let (s, _rest, ws) = live_stack(&[]).await;
    let w = watch("w1", "BTC");
    let mut candles = hear(&s, s.subjects.candle(&w.symbol, w.interval)).await;
    assert!(matches!(
        send_watch(&s, &w).await,
        WatchReply::Watching { .. }
    ));
    assert_eq!(
        ws.wait_for_streams(&[STREAM], Duration::from_secs(10))
            .await,
        [STREAM]
    );
    ws.ping(STREAM, b"are you there");
    let base = minutes_ago(30);
    ws.close("BTCUSDT", "1m", base);
    let first = CandleEvent::decode(&next_event(&mut candles).await.payload).unwrap();
    assert_eq!(first.candle.open_ms, base);
    assert_eq!(
        ws.wait_for_pongs(1, Duration::from_secs(5)).await,
        [b"are you there".to_vec()],
        "the ping is answered"
    );

    ws.cut();
    let reopened = Instant::now();
    while ws.accepted().len() < 2 {
        assert!(
            reopened.elapsed() < Duration::from_secs(10),
            "{}",
            s.prepare().log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        ws.wait_for_streams(&[STREAM], Duration::from_secs(5)).await,
        [STREAM]
    );
    ws.close("BTCUSDT", "1m", base + 3 * MINUTE);
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = CandleEvent::decode(&next_event(&mut candles).await.payload).unwrap();
        got.push((
            e.candle.open_ms - base,
            e.filled,
            e.candle.close == close_of(e.candle.open_ms),
        ));
    }
    assert_eq!(
        got,
        [
            (MINUTE, true, true),
            (2 * MINUTE, true, true),
            (3 * MINUTE, false, true)
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_lasts_while_it_is_renewed_and_the_pairs_are_bounded() {
    let (s, _rest, ws) =
        live_stack(&[("WATCH_LEASE", "2s".into()), ("LIVE_PAIRS", "1".into())]).await;
    let w = watch("w1", "BTC");
    assert!(matches!(
        send_watch(&s, &w).await,
        WatchReply::Watching { lease_ms: 2000, .. }
    ));
    assert_eq!(
        ws.wait_for_streams(&[STREAM], Duration::from_secs(10))
            .await,
        [STREAM]
    );

    let eth = watch("w2", "ETH");
    let WatchReply::Rejected {
        error,
        watch_id,
        retry_after_ms,
        ..
    } = send_watch(&s, &eth).await
    else {
        panic!("a second pair was followed")
    };
    assert_eq!(watch_id, Some(eth.watch_id.clone()));
    // Room frees when BTC's lease of 2 s ends unless renewed, and the sweep after it.
    assert!(
        retry_after_ms.is_some_and(|ms| (1000..=2250).contains(&ms)),
        "{retry_after_ms:?}"
    );
    assert!(
        error.contains("at most 1 pairs live (LIVE_PAIRS), all taken (BTCUSDT 1m)"),
        "{error}"
    );
    let mut huge = watch("w3", "BTC");
    huge.window = Some(2_000_000);
    let WatchReply::Rejected {
        error,
        retry_after_ms,
        ..
    } = send_watch(&s, &huge).await
    else {
        panic!("accepted")
    };
    assert!(error.contains("window"), "{error}");
    assert_eq!(retry_after_ms, None, "asked again, it is refused again");

    // Renewed every second, the lease of 2 s holds for 3 s.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(matches!(
            send_watch(&s, &w).await,
            WatchReply::Watching { .. }
        ));
        assert_eq!(ws.streams(), [STREAM]);
    }
    // Not renewed, it ends, and so does the stream.
    let ended = ws.wait_for_streams(&[], Duration::from_secs(4)).await;
    assert!(ended.is_empty(), "{ended:?}\n{}", s.prepare().log());
    assert!(
        matches!(send_watch(&s, &eth).await, WatchReply::Watching { .. }),
        "the pair is free again"
    );
}
