use std::time::{Duration, Instant};

use super::*;
use waveplot_testkit::fake_binance::{FakeBinance, Fault, kline, series};

const MINUTE: i64 = 60_000;

/// Short waits so that faults cost milliseconds. The request timeout stays generous:
/// a debug build on a busy machine can be slow to answer, and a timeout there would
/// retry a request that the tests count.
pub(crate) fn quick() -> Policy {
    Policy {
        timeout: Duration::from_secs(10),
        retries: 2,
        backoff: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(2),
        rate_limit_waits: 2,
        weight_budget: 4800,
        max_pace: Duration::from_millis(50),
        status_ttl: Duration::from_secs(600),
    }
}

fn btc() -> Symbol {
    Symbol::parse("BTC").unwrap()
}

/// The first open time of `n` whole minutes that all closed an hour ago.
fn past(n: i64) -> i64 {
    (now_ms() / MINUTE - 60 - n) * MINUTE
}

async fn fake_with(n: usize) -> (FakeBinance, Binance, i64) {
    fake_with_policy(n, quick()).await
}

/// A fake Binance serving `n` closed minutes, a client of it under `policy`, and the
/// first minute's open time.
async fn fake_with_policy(n: usize, policy: Policy) -> (FakeBinance, Binance, i64) {
    let first = past(n as i64);
    let fake = FakeBinance::start(series(first, MINUTE, n)).await;
    let client = Binance::new(&fake.url, policy).unwrap();
    (fake, client, first)
}

async fn fetch(client: &Binance, span: (i64, i64)) -> Result<Fetched, BinanceError> {
    client.klines(&btc(), Interval::M1, span, &mut |_| {}).await
}

#[tokio::test]
async fn a_window_of_three_pages_is_fetched_in_order_and_the_partial_last_page_ends_it() {
    let (fake, client, first) = fake_with(2500).await;
    let got = fetch(&client, (first, now_ms())).await.unwrap();
    assert_eq!(got.candles.len(), 2500);
    assert_eq!(got.candles.open_time_ms[0], first);
    assert!(
        got.candles
            .open_time_ms
            .windows(2)
            .all(|w| w[1] - w[0] == MINUTE)
    );
    assert_eq!(
        got.candles.close[2499], 2599.0,
        "parsed from \"2599.00000000\""
    );
    let starts = fake.kline_starts();
    assert_eq!(
        starts,
        [first, first + 999 * MINUTE + 1, first + 1999 * MINUTE + 1]
    );
    assert!(
        fake.requests()[0].contains("limit=1000"),
        "{:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn the_still_open_candle_is_dropped() {
    let open = now_ms() / MINUTE * MINUTE;
    let mut klines = series(open - 3 * MINUTE, MINUTE, 3);
    klines.push(kline(open, MINUTE, 1.0));
    let fake = FakeBinance::start(klines).await;
    let client = Binance::new(&fake.url, quick()).unwrap();
    let got = fetch(&client, (open - 3 * MINUTE, now_ms())).await.unwrap();
    assert_eq!(got.candles.len(), 3);
    assert_eq!(*got.candles.open_time_ms.last().unwrap(), open - MINUTE);
    assert!(got.complete_to_ms < open);
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_the_fetch_succeeds() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([Fault::Status(429, Some(1))]);
    let started = Instant::now();
    let got = fetch(&client, (first, now_ms())).await.unwrap();
    assert_eq!(got.candles.len(), 10);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(fake.kline_starts().len(), 2);
}

#[tokio::test]
async fn a_418_ban_longer_than_the_client_waits_ends_with_a_clear_error() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([Fault::Status(418, Some(7200))]);
    let e = fetch(&client, (first, now_ms()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HTTP 418") && e.contains("IP banned for 7200 s"),
        "{e}"
    );
    assert_eq!(fake.requests().len(), 1, "gave up without hammering");
}

#[tokio::test]
async fn rate_limits_that_go_on_end_with_a_clear_error() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([
        Fault::Status(429, None),
        Fault::Status(429, None),
        Fault::Status(429, None),
    ]);
    let e = fetch(&client, (first, now_ms()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("still limited after 2 waits"), "{e}");
}

#[tokio::test]
async fn a_server_error_is_retried_then_the_fetch_succeeds() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([Fault::Status(500, None)]);
    assert_eq!(
        fetch(&client, (first, now_ms()))
            .await
            .unwrap()
            .candles
            .len(),
        10
    );
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn server_errors_that_go_on_end_after_bounded_retries() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([
        Fault::Status(503, None),
        Fault::Status(502, None),
        Fault::Status(500, None),
    ]);
    let e = fetch(&client, (first, now_ms()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("did not answer") && e.contains("after 3 attempts: HTTP 500"),
        "{e}"
    );
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_retried() {
    let policy = Policy {
        timeout: Duration::from_millis(300),
        ..quick()
    };
    let (fake, client, first) = fake_with_policy(10, policy).await;
    fake.fail_with([Fault::Slow(Duration::from_millis(800))]);
    assert_eq!(
        fetch(&client, (first, now_ms()))
            .await
            .unwrap()
            .candles
            .len(),
        10
    );
    fake.fail_with([Fault::Slow(Duration::from_millis(800)); 3]);
    let e = fetch(&client, (first, now_ms()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no answer within 300ms"), "{e}");
}

#[tokio::test]
async fn unknown_symbol_is_rejected_with_binance_message() {
    let (_fake, client, first) = fake_with(10).await;
    let xyz = Symbol::parse("XYZ").unwrap();
    let e = client
        .klines(&xyz, Interval::M1, (first, now_ms()), &mut |_| {})
        .await;
    assert_eq!(
        e.unwrap_err().to_string(),
        "unknown symbol XYZUSDT on Binance"
    );
    let e = client.check_symbol(&xyz).await.unwrap_err();
    assert_eq!(e.to_string(), "unknown symbol XYZUSDT on Binance");
}

#[tokio::test]
async fn an_interval_binance_refuses_is_named() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([Fault::Body(
        400,
        r#"{"code":-1120,"msg":"Invalid interval."}"#,
    )]);
    let e = fetch(&client, (first, now_ms()))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "Binance refused the interval 1m: Invalid interval.");
}

#[tokio::test]
async fn malformed_json_names_the_request_and_the_problem() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([Fault::Body(200, r#"[[1700000000000,"1.0""#)]);
    let e = fetch(&client, (first, now_ms()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime="),
        "{e}"
    );
    assert!(
        e.contains("not the expected JSON (EOF while parsing"),
        "{e}"
    );
    fake.fail_with([Fault::Body(200, r#"[[1700000000000, 1.5]]"#)]);
    let e = fetch(&client, (first, now_ms()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("kline 0 is not [open_time"), "{e}");
}

#[tokio::test]
async fn a_restricted_region_names_the_other_base_urls() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([Fault::Body(451, "")]);
    let e = fetch(&client, (first, now_ms()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HTTP 451") && e.contains("https://api.binance.us"),
        "{e}"
    );
}

#[tokio::test]
async fn a_symbol_that_is_not_trading_is_refused_and_statuses_are_cached() {
    let (fake, client, _) = fake_with(1).await;
    fake.list("LUNAUSDT", "BREAK");
    let luna = Symbol::parse("LUNA").unwrap();
    let e = client.check_symbol(&luna).await.unwrap_err().to_string();
    assert!(
        e.contains("LUNAUSDT is not trading on Binance (status BREAK)"),
        "{e}"
    );
    client.check_symbol(&btc()).await.unwrap();
    client.check_symbol(&btc()).await.unwrap();
    client.clone().check_symbol(&luna).await.unwrap_err();
    assert_eq!(fake.requests().len(), 2, "{:?}", fake.requests());
}

/// A used weight at the budget holds every request of the process, on every clone,
/// until the next minute (here at most the policy's longest pause, 400 ms).
#[tokio::test]
async fn a_used_weight_near_the_limit_holds_back_every_request_of_the_process() {
    let policy = Policy {
        max_pace: Duration::from_millis(400),
        ..quick()
    };
    let (fake, client, first) = fake_with_policy(10, policy).await;
    // The hold ends at the next minute at the latest: start well inside one.
    let into_minute = now_ms().rem_euclid(MINUTE);
    if into_minute > MINUTE - 2_000 {
        let left = u64::try_from(MINUTE - into_minute).unwrap();
        tokio::time::sleep(Duration::from_millis(left + 10)).await;
    }
    fake.report_weight(5900);
    fetch(&client, (first, now_ms())).await.unwrap();
    let started = Instant::now();
    let (clone, btc) = (client.clone(), btc());
    let (a, b) = tokio::join!(fetch(&client, (first, now_ms())), clone.check_symbol(&btc));
    a.unwrap();
    b.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "held for {:?}",
        started.elapsed()
    );
}

/// A burst of checks of made-up symbols asks `exchangeInfo` once per symbol, however
/// many arrive at once or after, until the listing expires.
#[tokio::test]
async fn a_burst_of_unknown_symbols_asks_binance_once_per_symbol_within_the_cache_time() {
    let policy = Policy {
        status_ttl: Duration::from_secs(3),
        ..quick()
    };
    let (fake, client, _) = fake_with_policy(1, policy).await;
    let symbols = ["NOPE", "FAKE", "ZZZZ"].map(|s| Symbol::parse(s).unwrap());
    let burst = (0..60).map(|i| {
        let (client, symbol) = (client.clone(), symbols[i % 3].clone());
        async move { client.check_symbol(&symbol).await }
    });
    for outcome in futures::future::join_all(burst).await {
        let e = outcome.unwrap_err();
        assert!(matches!(e, BinanceError::UnknownSymbol(_)), "{e}");
    }
    let infos = |fake: &FakeBinance| {
        let requests = fake.requests();
        let infos: Vec<_> = requests
            .into_iter()
            .filter(|r| r.starts_with("/api/v3/exchangeInfo"))
            .collect();
        infos
    };
    let asked = infos(&fake);
    assert_eq!(asked.len(), 3, "{asked:?}");
    for symbol in &symbols {
        assert!(
            asked.iter().any(|r| r.contains(symbol.as_str())),
            "{asked:?}"
        );
    }
    client.check_symbol(&symbols[0]).await.unwrap_err();
    assert_eq!(infos(&fake).len(), 3, "still known to be unknown");
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    client.check_symbol(&symbols[0]).await.unwrap_err();
    assert_eq!(
        infos(&fake).len(),
        4,
        "asked again once the listing expired"
    );
}

/// A `Retry-After` outlives the fetch that met it: a later fetch on a clone (another
/// render, or the same one delivered again) sends nothing until it has run out.
#[tokio::test]
async fn a_pause_binance_asked_for_holds_back_every_later_request_of_the_client() {
    let policy = Policy {
        rate_limit_waits: 0,
        ..quick()
    };
    let (fake, client, first) = fake_with_policy(10, policy).await;
    fake.fail_with([Fault::Status(429, Some(1))]);
    let e = fetch(&client, (first, now_ms())).await.unwrap_err();
    assert!(matches!(e, BinanceError::RateLimited { .. }), "{e}");
    let started = Instant::now();
    let got = fetch(&client.clone(), (first, now_ms())).await.unwrap();
    assert_eq!(got.candles.len(), 10);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the later fetch went after {:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests().len(), 2, "one request each, none repeated");
}

/// A pause longer than the client waits fails a later fetch at once, without a
/// request to Binance.
#[tokio::test]
async fn a_pause_longer_than_the_client_waits_fails_a_later_fetch_without_a_request() {
    let (fake, client, first) = fake_with(10).await;
    fake.fail_with([Fault::Status(429, Some(30))]);
    fetch(&client, (first, now_ms())).await.unwrap_err();
    let sent = fake.requests().len();
    let e = fetch(&client, (first, now_ms())).await.unwrap_err();
    assert!(
        e.to_string().contains("s to run, longer than the 2 s"),
        "{e}"
    );
    assert_eq!(fake.requests().len(), sent, "nothing was sent");
}
