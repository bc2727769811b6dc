//! The web page in a real browser: headless Chromium, driven through chromedriver,
//! against the single-process `waveplot` with the bundled sample candles. The tests
//! fail (never skip) when Chromium or chromedriver is missing.
//!
//! Every run saves screenshots at desktop and phone widths in a temporary directory
//! (its path is printed) for a person to look at.

mod webdriver;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use waveplot_testkit::fake_binance::FakeBinance;
use waveplot_testkit::fake_binance::ws::FakeBinanceWs;
use waveplot_testkit::{Service, free_port};
use webdriver::{Browser, Chromedriver};

/// How long a render of the sample may take on a slow CI machine.
const RENDER: Duration = Duration::from_secs(90);

/// True once six chart images have loaded.
const SIX_CHARTS: &str = "const imgs = [...document.querySelectorAll('#charts img')]; \
     return imgs.length === 6 && imgs.every((i) => i.complete && i.naturalWidth > 0)";

/// The single-process `waveplot` over a scratch data directory.
struct Gateway {
    service: Service,
    http: String,
    _data: tempfile::TempDir,
}

impl Gateway {
    /// Starts `waveplot`; `binance_url` is where it looks for Binance.
    fn start(binance_url: &str) -> Self {
        Self::start_with(binance_url, &[])
    }

    /// Starts `waveplot` with Binance at `binance_url` and `more` flags.
    fn start_with(binance_url: &str, more: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("data directory");
        let addr = "127.0.0.1:0";
        let mut args = vec![
            "--http-addr",
            addr,
            "--data-dir",
            data.path().to_str().expect("UTF-8 temp path"),
            "--binance-url",
            binance_url,
        ];
        args.extend_from_slice(more);
        let service = Service::start_http(env!("CARGO_BIN_EXE_waveplot"), &args, &[]);
        let http = format!("http://{}", service.health);
        Self {
            service,
            http,
            _data: data,
        }
    }
}

/// A Binance stand-in that lists no symbol: every request gets Binance's answer to an
/// unknown one. Runs until the test process ends.
fn binance_without_symbols() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Binance");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = r#"{"code":-1121,"msg":"Invalid symbol."}"#;
            let response = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

/// Where this run's screenshots go.
fn screenshots() -> PathBuf {
    let dir = std::env::temp_dir().join("waveplot-browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Waits for six loaded charts, a filled metrics panel and a band table of `levels` rows.
fn assert_complete_result(browser: &Browser, gateway: &Gateway, levels: usize) {
    let charts = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        browser.wait_for("six loaded charts", SIX_CHARTS, RENDER);
    }));
    if let Err(e) = charts {
        eprintln!("gateway log:\n{}", gateway.service.log());
        std::panic::resume_unwind(e);
    }
    let facts = browser.run(
        "return [...document.querySelectorAll('#summary:not([hidden]) dd')].map((d) => d.innerText)",
        &[],
    );
    let facts = facts.as_array().expect("a list of facts");
    assert!(
        facts.len() >= 8
            && facts
                .iter()
                .all(|f| f.as_str().is_some_and(|t| !t.is_empty())),
        "the metrics panel is not filled: {facts:?}"
    );
    let headline = browser.text("#summary-title");
    assert!(
        headline.contains('%') && headline.chars().any(|c| c.is_ascii_digit()),
        "no last price and change in {headline:?}"
    );
    let times = browser.text("#facts div:last-child dd");
    assert!(
        times.contains("total") && !times.contains("total 0 ms"),
        "the times lack a total: {times:?}"
    );
    let rows = browser.run(
        "return [...document.querySelectorAll('#bands:not([hidden]) tbody tr')].map((r) => r.innerText)",
        &[],
    );
    let rows = rows.as_array().expect("a list of rows");
    assert_eq!(rows.len(), levels, "one band table row per level");
    let first = rows[0].as_str().unwrap_or_default();
    assert!(
        first.starts_with("D1") && first.contains("min"),
        "the first band says no period in time units: {first:?}"
    );
}

#[test]
fn a_sample_run_of_btc_5m_shows_six_charts_the_metrics_and_the_band_table() {
    let gateway = Gateway::start(&binance_without_symbols());
    let driver = Chromedriver::start();
    let browser = Browser::open(&driver, 1400, 1000);
    browser.goto(&format!("{}/", gateway.http));
    browser.wait_for(
        "interval choices",
        "return document.querySelectorAll('#interval option').length",
        Duration::from_secs(10),
    );
    browser.type_into("#symbol", "btcusdt");
    browser.select("#interval", "5m");
    browser.select("#source", "sample");
    browser.click("#run");
    assert_complete_result(&browser, &gateway, 8);
    let url = browser.run("return location.search", &[]);
    assert_eq!(
        url,
        json!("?symbol=BTCUSDT&interval=5m"),
        "the result is a URL"
    );
    let dir = screenshots();
    browser.screenshot(&dir.join("desktop-1400.png"));

    browser.click("#plot-01 button.zoom");
    let download = browser.wait_for(
        "the full-size viewer",
        "const d = document.getElementById('viewer'); \
         return d.open && document.getElementById('viewer-download').getAttribute('download')",
        Duration::from_secs(5),
    );
    assert_eq!(download, json!("waveplot-BTCUSDT-5m-01.png"));
    browser.screenshot(&dir.join("desktop-1400-viewer.png"));
    browser.run("document.getElementById('viewer').close()", &[]);

    browser.emulate_width(390, 844, true);
    browser.goto(&format!("{}/?symbol=BTCUSDT&interval=5m", gateway.http));
    assert_complete_result(&browser, &gateway, 8);
    let overflow = browser.run(
        "return document.documentElement.scrollWidth - innerWidth",
        &[],
    );
    assert!(
        overflow.as_i64().is_some_and(|px| px <= 0),
        "the page is wider than a phone by {overflow} px"
    );
    browser.screenshot(&dir.join("phone-390.png"));
    eprintln!("screenshots in {}", dir.display());
}

/// The sources of the charts on the page, sorted.
fn chart_sources(browser: &Browser) -> serde_json::Value {
    browser.run(
        "return [...document.querySelectorAll('#charts img')].map((i) => i.src).sort()",
        &[],
    )
}

#[test]
fn a_live_page_shows_the_forming_price_and_new_charts_after_a_close_without_a_reload() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the fakes");
    let (rest, ws) = runtime.block_on(async {
        (
            FakeBinance::start_synthetic().await,
            FakeBinanceWs::start().await,
        )
    });
    let gateway = Gateway::start_with(&rest.url, &["--binance-ws-url", &ws.url]);
    let driver = Chromedriver::start();
    let browser = Browser::open(&driver, 1400, 1000);
    browser.goto(&format!(
        "{}/?symbol=BTCUSDT&interval=1m&source=binance&auto=1",
        gateway.http
    ));
    assert_complete_result(&browser, &gateway, 8);
    let stream = "btcusdt@kline_1m";
    let streams = runtime.block_on(ws.wait_for_streams(&[stream], Duration::from_secs(20)));
    assert_eq!(streams, [stream], "{}", gateway.service.log());
    assert_eq!(
        browser.run("return location.search", &[]),
        json!("?symbol=BTCUSDT&interval=1m&source=binance&live=1"),
        "auto=1 is read as live=1"
    );
    let before = chart_sources(&browser);
    browser.run("window.notReloaded = true", &[]);

    let open = jiff::Timestamp::now().as_millisecond() / 60_000 * 60_000;
    let price = "return document.getElementById('live-note').innerText";
    let shown = (0..10).any(|_| {
        ws.update(
            "BTCUSDT",
            "1m",
            open,
            31_234.5,
            jiff::Timestamp::now().as_millisecond(),
        );
        std::thread::sleep(Duration::from_millis(1100));
        browser
            .run(price, &[])
            .as_str()
            .is_some_and(|t| t.contains("31,234.5"))
    });
    assert!(
        shown,
        "no forming price in the header: {}",
        browser.run(price, &[])
    );

    ws.close("BTCUSDT", "1m", open);
    let new_charts = format!(
        "const before = {before}; const imgs = [...document.querySelectorAll('#charts img')];          return imgs.length === 6 && imgs.every((i) => i.complete && i.naturalWidth > 0 && !before.includes(i.src))"
    );
    browser.wait_for("six new charts", &new_charts, RENDER);
    assert_eq!(
        browser.run("return window.notReloaded === true", &[]),
        json!(true),
        "the page reloaded"
    );
    let notice = browser.text("#message");
    assert!(notice.contains("updated for the candle of"), "{notice:?}");
    let last = browser.run("return current.status.prepared.last_open_ms", &[]);
    assert_eq!(last, json!(open), "the new charts end at the closed candle");
    browser.screenshot(&screenshots().join("live-after-close.png"));
}

/// The page's error notice once it shows one, within `limit`.
fn error_notice(browser: &Browser, limit: Duration) -> serde_json::Value {
    browser.wait_for(
        "an error",
        "const n = document.getElementById('notice'); \
         return n.classList.contains('error') && n.innerText",
        limit,
    )
}

#[test]
fn an_unknown_symbol_is_reported_in_words_a_trader_reads() {
    let gateway = Gateway::start(&binance_without_symbols());
    let driver = Chromedriver::start();
    let browser = Browser::open(&driver, 1400, 1000);
    browser.goto(&format!("{}/", gateway.http));
    browser.wait_for(
        "source choices",
        "return document.querySelectorAll('#source option').length",
        Duration::from_secs(10),
    );
    browser.type_into("#symbol", "XYZ");
    browser.select("#source", "binance");
    browser.click("#run");
    let message = error_notice(&browser, Duration::from_secs(30));
    let message = message.as_str().unwrap_or_default();
    assert!(
        message.contains("Binance does not list XYZUSDT") && message.contains("spelling"),
        "{message:?}"
    );
    browser.screenshot(&screenshots().join("unknown-symbol.png"));
}

#[test]
fn unreachable_binance_is_explained_and_the_offered_sample_renders() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let gateway = Gateway::start(&closed);
    let driver = Chromedriver::start();
    let browser = Browser::open(&driver, 1400, 1000);
    browser.goto(&format!(
        "{}/?symbol=BTCUSDT&interval=5m&source=binance",
        gateway.http
    ));
    let message = error_notice(&browser, Duration::from_secs(60));
    assert!(
        message.as_str().is_some_and(|m| m.contains("Binance")),
        "{message}"
    );
    browser.screenshot(&screenshots().join("binance-unreachable.png"));
    browser.click("#fix");
    assert_complete_result(&browser, &gateway, 8);
    assert_eq!(
        browser.run("return location.search", &[]),
        json!("?symbol=BTCUSDT&interval=5m")
    );
}

#[test]
fn a_deep_link_renders_on_load_and_fills_the_form() {
    let gateway = Gateway::start(&binance_without_symbols());
    let driver = Chromedriver::start();
    let browser = Browser::open(&driver, 1400, 1000);
    browser.goto(&format!(
        "{}/?symbol=ETHUSDT&interval=5m&source=sample&levels=6&tz=Asia/Kolkata",
        gateway.http
    ));
    assert_complete_result(&browser, &gateway, 6);
    let form = browser.run(
        "return ['symbol', 'interval', 'source', 'levels', 'tz'].map((id) => document.getElementById(id).value)",
        &[],
    );
    assert_eq!(
        form,
        json!(["ETHUSDT", "5m", "sample", "6", "Asia/Kolkata"])
    );
    assert!(browser.text("#summary-title").contains("ETHUSDT"));
    let first = browser.run("return current.status.prepared.first_open_ms", &[]);
    let first = jiff::Timestamp::from_millisecond(first.as_i64().expect("a time"))
        .expect("a valid time")
        .in_tz("Asia/Kolkata")
        .expect("a known zone")
        .strftime("%H:%M")
        .to_string();
    let window = browser.text("#facts div:nth-child(5)");
    assert!(
        window.starts_with("Window (Asia/Kolkata)") && window.contains(&first),
        "the window does not start at {first} in the link's time zone: {window:?}"
    );
    let chart = browser.run("return document.querySelector('#charts img').src", &[]);
    assert!(
        chart
            .as_str()
            .is_some_and(|src| src.contains("@Asia.Kolkata.png")),
        "{chart}"
    );
}

#[test]
fn a_deep_link_to_a_choice_not_offered_says_what_is_valid_and_keeps_a_valid_one() {
    let gateway = Gateway::start(&binance_without_symbols());
    let driver = Chromedriver::start();
    let browser = Browser::open(&driver, 1400, 1000);
    browser.goto(&format!(
        "{}/?symbol=NOPE&interval=7m&source=sample",
        gateway.http
    ));
    let message = error_notice(&browser, Duration::from_secs(10));
    let message = message.as_str().unwrap_or_default();
    assert!(
        message.contains("7m is not an interval; valid: 1s, 1m, 3m, 5m")
            && message.contains("1M")
            && !message.contains("deserialize"),
        "{message:?}"
    );
    browser.screenshot(&screenshots().join("deep-link-bad-interval.png"));
    let form = browser.run(
        "return ['symbol', 'interval', 'source'].map((id) => document.getElementById(id).value)",
        &[],
    );
    assert_eq!(form, json!(["NOPE", "5m", "sample"]));
    assert_eq!(
        browser.run(
            "return document.querySelectorAll('#charts img').length",
            &[]
        ),
        json!(0),
        "nothing is rendered from a link with a choice not offered"
    );
}
