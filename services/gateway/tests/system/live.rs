//! A live page's API against the whole system, the fake Binance stream feeding
//! prepare: a watch starts a render at each close and says so over Server-Sent Events.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::{Value, json};
use waveplot_testkit::fake_binance::FakeBinance;
use waveplot_testkit::fake_binance::ws::FakeBinanceWs;
use waveplot_testkit::{Role, Stack};

use crate::helpers::{client, wait_final};

/// The next event of an SSE stream named `name`, as (name, data).
fn next_named(lines: &mut impl Iterator<Item = String>, name: &str) -> Value {
    let mut event = String::new();
    for line in lines {
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            if event == name {
                return serde_json::from_str(data).unwrap();
            }
        }
    }
    panic!("the stream ended before a {name} event")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_starts_the_render_of_each_closed_candle_and_streams_it() {
    let rest = FakeBinance::start_synthetic().await;
    let ws = FakeBinanceWs::start().await;
    let sys = Stack::builder()
        .render_deadline(Duration::from_secs(30))
        .env(Role::Prepare, "BINANCE_URL", rest.url.clone())
        .env(Role::Prepare, "BINANCE_WS_URL", ws.url.clone())
        .env(Role::Prepare, "LIVE_PAIRS", "1")
        .start();
    let http = sys.http();
    let body = json!({"symbol": "BTC", "interval": "1m", "window": 300, "plots": ["01", "05"]});
    let (created, events) = tokio::task::spawn_blocking(move || {
        let created: Value = client()
            .post(format!("{http}/api/watch"))
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let url = format!(
            "{http}{}",
            created["events_url"].as_str().unwrap_or("/none")
        );
        let stream = waveplot_testkit::http_client_builder()
            .build()
            .unwrap()
            .get(url)
            .send()
            .unwrap();
        (created, stream)
    })
    .await
    .unwrap();
    assert!(created["id"].is_string(), "{created}");
    assert_eq!(events.status(), 200);
    let stream = "btcusdt@kline_1m";
    let streams = ws
        .wait_for_streams(&[stream], Duration::from_secs(20))
        .await;
    assert_eq!(streams, [stream], "{}", sys.logs());

    let open = (jiff::Timestamp::now().as_millisecond() / 60_000 - 5) * 60_000;
    ws.close("BTCUSDT", "1m", open);
    let http = sys.http();
    let (render, status) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(events).lines().map_while(Result::ok);
        let render = next_named(&mut lines, "render");
        let id = render["id"].as_str().unwrap().to_owned();
        (render, wait_final(&http, &id, Duration::from_secs(60)))
    })
    .await
    .unwrap();
    assert_eq!(render["end_ms"], json!(open));
    assert_eq!(render["plots"], json!(["01", "05"]));
    assert_eq!(status["state"], "complete", "{status}");
    assert_eq!(status["prepared"]["last_open_ms"], json!(open));
    assert_eq!(status["prepared"]["candles"], json!(300));

    // Not Binance, or a window in the past: refused in words; a second pair while
    // LIVE_PAIRS=1 is taken: busy until BTC's lease (30 s) could end.
    let http = sys.http();
    let refused = tokio::task::spawn_blocking(move || {
        [
            json!({"symbol": "BTC", "interval": "5m", "source": "sample"}),
            json!({"symbol": "BTC", "interval": "1m", "end_ms": open}),
            json!({"symbol": "ETH", "interval": "1m"}),
        ]
        .map(|body| {
            let res = client()
                .post(format!("{http}/api/watch"))
                .json(&body)
                .send()
                .unwrap();
            let retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u32>().unwrap());
            (
                res.status().as_u16(),
                res.json::<Value>().unwrap()["error"].clone(),
                retry_after,
            )
        })
    })
    .await
    .unwrap();
    assert_eq!(refused[2].0, 503, "{refused:?}");
    assert!(
        refused[2]
            .1
            .as_str()
            .unwrap()
            .contains("all taken (BTCUSDT 1m)"),
        "{refused:?}"
    );
    assert!(
        refused[2].2.is_some_and(|s| (1..=31).contains(&s)),
        "{refused:?}"
    );
    assert_eq!(refused[0].0, 400);
    assert!(
        refused[0]
            .1
            .as_str()
            .unwrap()
            .contains("live charts follow Binance"),
        "{refused:?}"
    );
    assert_eq!(refused[1].0, 400);
    assert!(
        refused[1].1.as_str().unwrap().contains("leave end_ms out"),
        "{refused:?}"
    );
}
