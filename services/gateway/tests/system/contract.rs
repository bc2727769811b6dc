//! The contract documents against the running system: what the bus carries validates
//! against the AsyncAPI document the gateway serves (checked with Python's jsonschema,
//! as a tool in another language would), the OpenAPI document passes
//! openapi-spec-validator, the example client saves the charts of a render, and every
//! service instance answers the NATS service API.
//!
//! The Python packages come from `docs/requirements.txt`; `WAVEPLOT_PYTHON` names the
//! interpreter that has them (default `python3`). Without them the tests fail, saying so.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use waveplot_protocol::blob::Signal;
use waveplot_protocol::{
    Blob, Interval, Message, PlotId, PreparedEvent, RenderReply, RenderRequest, RequestId,
    Subjects, Symbol, WatchReply, WatchRequest,
};
use waveplot_service::Bus;
use waveplot_service::bus::Subscription;
use waveplot_testkit::fake_binance::FakeBinance;
use waveplot_testkit::fake_binance::ws::{FakeBinanceWs, close_of};
use waveplot_testkit::{NatsServer, NatsUser, Role, Stack};

use crate::helpers::{client, post_render, system, wait_final};
use crate::{as_user, failure_of, failures};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python that has `docs/requirements.txt`, checked.
fn python() -> String {
    let python = std::env::var("WAVEPLOT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args([
            "-c",
            "import nats, jsonschema, openapi_spec_validator, schemathesis",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{python} lacks the contract tests' packages: `pip install -r docs/requirements.txt` \
         (in a virtual environment whose python WAVEPLOT_PYTHON names)"
    );
    python
}

/// The messages `sub` receives within `quiet` of each other, as (subject, payload).
async fn drain(sub: &mut Subscription, quiet: Duration) -> Vec<(String, Bytes)> {
    let mut got = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(quiet, sub.next()).await {
        got.push((m.subject, m.payload));
    }
    got
}

/// `message` sent on `subject` by `bus` as a request; the reply, within 5 s.
async fn ask(bus: &Bus, subject: String, message: &impl Message) -> Bytes {
    bus.request(subject, message.encode().into(), Duration::from_secs(5))
        .await
        .unwrap()
}

/// Renders the BTCUSDT 5m sample through `http`; its final status.
fn render_sample(http: &str) -> Value {
    let body = json!({"symbol": "BTC", "interval": "5m", "source": "sample"});
    let (code, created) = post_render(http, &body);
    assert_eq!(code, 200, "{created}");
    wait_final(
        http,
        created["id"].as_str().unwrap(),
        Duration::from_secs(60),
    )
}

/// Fetches `path` of the gateway into `dir`, returning the file.
fn fetch(http: &str, path: &str, dir: &Path, name: &str) -> PathBuf {
    let text = client()
        .get(format!("{http}{path}"))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn every_message_on_the_bus_validates_against_the_served_asyncapi_document() {
    let python = python();
    let sys = system(30);
    let subjects = Subjects::default();
    let observer = as_user(&sys, NatsUser::Observer, "contract").await;
    let mut everything = observer
        .subscribe(subjects.everything(), None)
        .await
        .unwrap();
    observer.flush().await.unwrap();
    let (_watcher, mut failed) = failures(&sys, "contract-failures").await;

    // A render through the API: its request and its events.
    let http = sys.http();
    let status = tokio::task::spawn_blocking(move || render_sample(&http))
        .await
        .unwrap();
    assert_eq!(status["state"], "complete", "{status}");

    // Both replies, asked as the gateway asks.
    let gateway = as_user(&sys, NatsUser::Gateway, "contract-gateway").await;
    let btc = Symbol::parse("BTCUSDT").unwrap();
    let mut good = RenderRequest::new(RequestId::generate(), btc.clone(), "5m".parse().unwrap());
    good.source = "sample".parse().unwrap();
    good.plots = vec![PlotId::Overview];
    let mut bad = good.clone();
    bad.request_id = RequestId::generate();
    // Within the schema (which a request out of range would not be), refused by prepare.
    bad.wavelet = Some("db99".parse().unwrap());
    let mut replies = Vec::new();
    for request in [&good, &bad] {
        replies.push(ask(&gateway, subjects.render(), request).await);
    }
    assert!(matches!(
        RenderReply::decode(&replies[0]).unwrap(),
        RenderReply::Accepted { .. }
    ));
    assert!(matches!(
        RenderReply::decode(&replies[1]).unwrap(),
        RenderReply::Rejected { .. }
    ));

    // A failure: a prepared event naming a blob that is not in the store.
    let captured = drain(&mut everything, Duration::from_secs(2)).await;
    let (_, payload) = captured
        .iter()
        .find(|(s, _)| s.starts_with("waveplot.prepared."))
        .expect("a prepared event");
    let mut forged = PreparedEvent::decode(payload).unwrap();
    forged.request_id = RequestId::generate();
    forged.key = forged
        .key
        .as_str()
        .replace(".msgpack", "")
        .rsplit_once('-')
        .map(|(stem, _)| format!("{stem}-00000000deadbeef.msgpack"))
        .unwrap()
        .parse()
        .unwrap();
    forged.plots = vec![PlotId::Overview];
    let prepare = as_user(&sys, NatsUser::Prepare, "contract-forger").await;
    prepare.send(&subjects, &forged).await.unwrap();
    failure_of(&mut failed, forged.request_id.as_str()).await;
    let mut captured = [
        captured,
        drain(&mut everything, Duration::from_secs(1)).await,
    ]
    .concat();
    captured.extend(replies.into_iter().map(|r| ("reply".to_owned(), r)));

    let every = [
        "accepted",
        "done",
        "failed",
        "prepared",
        "renderReply",
        "renderRequest",
    ];
    check_messages(&python, &sys.http(), &captured, &every).await;
}

/// A watch over the bus and what it publishes: the watch request and both replies, and
/// the price, candle, anomaly and signal events of a close that jumps the price the way
/// that changes the signal (as found from a render of the window before it).
#[tokio::test(flavor = "multi_thread")]
async fn every_market_message_validates_against_the_served_asyncapi_document() {
    const MINUTE: i64 = 60_000;
    let python = python();
    let rest = FakeBinance::start_synthetic().await;
    let ws = FakeBinanceWs::start().await;
    let sys = Stack::builder()
        .env(Role::Prepare, "BINANCE_URL", rest.url.clone())
        .env(Role::Prepare, "BINANCE_WS_URL", ws.url.clone())
        .start();
    let subjects = Subjects::default();
    let observer = as_user(&sys, NatsUser::Observer, "contract-market").await;
    let mut everything = observer
        .subscribe(subjects.everything(), None)
        .await
        .unwrap();
    observer.flush().await.unwrap();

    let mut watch = WatchRequest::new(
        RequestId::generate(),
        Symbol::parse("BTCUSDT").unwrap(),
        Interval::M1,
    );
    watch.window = Some(200);
    let base = (jiff::Timestamp::now().as_millisecond() / MINUTE - 30) * MINUTE;

    // The signal of the window's newest candle one candle before the close.
    let gateway = as_user(&sys, NatsUser::Gateway, "contract-market-gateway").await;
    let mut before = watch.render(RequestId::generate(), base - MINUTE);
    before.plots = vec![PlotId::Overview];
    let reply = ask(&gateway, subjects.render(), &before).await;
    assert!(matches!(
        RenderReply::decode(&reply).unwrap(),
        RenderReply::Accepted { .. }
    ));
    let key = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let m = everything.next().await.unwrap();
            if let Ok(e) = PreparedEvent::decode(&m.payload) {
                if e.request_id == before.request_id {
                    return e.key;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no prepared event within 30 s\n{}", sys.logs()));
    let store = sys.store().await.unwrap();
    let blob = Blob::decode(&store.get(key.as_str()).await.unwrap().unwrap()).unwrap();
    let previous = *blob.analysis.signals.signal.last().unwrap();
    let factor = if previous == Signal::Sell { 0.8 } else { 1.2 };

    let mut captured = Vec::new();
    let mut refused = watch.clone();
    refused.watch_id = RequestId::generate();
    refused.interval = Interval::S1;
    for (request, answer) in [(&watch, "watching"), (&refused, "rejected")] {
        let reply = ask(&observer, subjects.watch(), request).await;
        let said = WatchReply::decode(&reply).unwrap();
        assert_eq!(
            matches!(said, WatchReply::Watching { .. }),
            answer == "watching",
            "{said:?}"
        );
        captured.push(("watchRequest".to_owned(), request.encode().into()));
        captured.push(("watchReply".to_owned(), reply));
    }
    let stream = "btcusdt@kline_1m";
    let streams = ws
        .wait_for_streams(&[stream], Duration::from_secs(20))
        .await;
    assert_eq!(streams, [stream], "{}", sys.logs());
    ws.update("BTCUSDT", "1m", base, 123.5, base + 1500);
    ws.close_at("BTCUSDT", "1m", base, close_of(base) * factor);

    let market = ["price", "candle", "anomaly", "signal"];
    let mut heard = std::collections::BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while heard.len() < market.len() {
            let m = everything.next().await.unwrap();
            if let Some(kind) = market.iter().find(|k| kind_of(&m.subject) == **k) {
                heard.insert(*kind);
                captured.push((m.subject, m.payload));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("heard only {heard:?} within 30 s\n{}", sys.logs()));
    let every = [&["watchRequest", "watchReply"][..], &market[..]].concat();
    check_messages(&python, &sys.http(), &captured, &every).await;
}

/// The AsyncAPI message a captured (subject, payload) is: "reply" stands for the reply
/// to a render request, "watchRequest" and "watchReply" for the watch request and its
/// reply that only their two ends see.
fn kind_of(subject: &str) -> &str {
    match subject.split('.').nth(1) {
        _ if subject == "reply" => "renderReply",
        _ if matches!(subject, "watchRequest" | "watchReply") => subject,
        Some("render") => "renderRequest",
        Some(
            kind @ ("accepted" | "prepared" | "done" | "failed" | "price" | "candle" | "anomaly"
            | "signal"),
        ) => kind,
        _ => panic!("a subject the contract does not name: {subject}"),
    }
}

/// Checks that `captured` are of exactly the kinds `every` and that each validates
/// against the AsyncAPI document the gateway at `http` serves, with `docs/check.py`,
/// which also checks the served OpenAPI document.
async fn check_messages(python: &str, http: &str, captured: &[(String, Bytes)], every: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let messages = dir.path().join("messages");
    std::fs::create_dir(&messages).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for (i, (subject, payload)) in captured.iter().enumerate() {
        let kind = kind_of(subject);
        kinds.insert(kind);
        std::fs::write(messages.join(format!("{kind}-{i}.json")), payload).unwrap();
    }
    let mut every = every.to_vec();
    every.sort_unstable();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), every);

    let http = http.to_owned();
    let docs = dir.path().to_owned();
    let (openapi, asyncapi) = tokio::task::spawn_blocking(move || {
        (
            fetch(&http, "/api/openapi.json", &docs, "openapi.json"),
            fetch(&http, "/api/asyncapi.json", &docs, "asyncapi.json"),
        )
    })
    .await
    .unwrap();
    let check = Command::new(python)
        .arg(repo().join("docs/check.py"))
        .arg("--openapi")
        .arg(&openapi)
        .arg("--asyncapi")
        .arg(&asyncapi)
        .arg(&messages)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains(&format!("{} messages valid", captured.len())),
        "{said}"
    );
}

/// Schemathesis generates requests from the served OpenAPI document, valid and not, for
/// every operation, and checks each answer against the document: its status is one
/// the document lists, its body fits the schema, nothing fails with a 5xx. Its check
/// that every schema-valid request is accepted is left out: a request may fit the
/// schema and still name a symbol or a window that does not exist (a 400 that says so).
/// Its stateful phase, which also checks each event of a render's stream against the
/// document, takes minutes here; it passed when run by hand.
#[test]
fn every_answer_of_the_api_is_what_its_openapi_document_says() {
    let python = python();
    // Binance, a closed port: a request for its candles fails at once.
    let closed = format!("http://127.0.0.1:{}", waveplot_testkit::free_port());
    let sys = Stack::builder()
        .env(waveplot_testkit::Role::Prepare, "BINANCE_URL", closed)
        .render_deadline(Duration::from_secs(10))
        .start();
    let http = sys.http();
    // Schemathesis keeps a cache in its working directory.
    let scratch = tempfile::tempdir().unwrap();
    let run = Command::new(&python)
        .current_dir(scratch.path())
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{http}/api/openapi.json"))
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args([
            "--max-examples",
            "15",
            "--request-timeout",
            "10",
            "--seed",
            "1",
        ])
        // The stateful phase follows each render's event stream to its end: minutes.
        .args(["--phases", "examples,coverage,fuzzing"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(said.contains("12 selected / 12 total"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_client_saves_the_charts_of_a_render() {
    let python = python();
    let sys = system(30);
    let out = tempfile::tempdir().unwrap();
    let login = sys.nats.login(NatsUser::Observer).unwrap();
    let example = Command::new(&python)
        .arg(repo().join("examples/save_charts.py"))
        .args([
            "--nats",
            &sys.nats.url(),
            "--gateway",
            &sys.http(),
            "--count",
            "6",
        ])
        .arg("--out")
        .arg(out.path())
        .env("WAVEPLOT_NATS_PASSWORD", login.password.expose_secret())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed when the test ends, which also ends the reader below.
    let mut example = Reaped(example);
    let stdout = example.0.stdout.take().unwrap();
    let http = sys.http();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        let body = json!({"symbol": "ETH", "interval": "5m", "source": "sample"});
        let (code, created) = post_render(&http, &body);
        assert_eq!(code, 200, "{created}");
        lines
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect::<Vec<Value>>()
    });
    let saved = tokio::time::timeout(Duration::from_secs(90), lines)
        .await
        .expect("the example saved six charts within 90 s")
        .unwrap();
    assert!(example.0.wait().unwrap().success());
    assert_eq!(saved.len(), 6, "{saved:?}");
    let http = sys.http();
    tokio::task::spawn_blocking(move || {
        for chart in saved {
            let on_disk = std::fs::read(chart["path"].as_str().unwrap()).unwrap();
            let key = chart["key"].as_str().unwrap();
            let served = client()
                .get(format!("{http}/plots/{key}"))
                .send()
                .unwrap()
                .bytes()
                .unwrap();
            assert!(on_disk.starts_with(b"\x89PNG"), "{chart}");
            assert_eq!(on_disk, served.as_ref(), "{chart}");
        }
    })
    .await
    .unwrap();
}

/// A child process, killed if the test ends before it does.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The answers every instance of `sys` gives to `$SRV.<verb>`, asked as the observer.
async fn ask_everyone(sys: &Stack, verb: &str) -> Vec<Value> {
    let observer = sys.nats.client(NatsUser::Observer).await;
    NatsServer::replies(&observer, format!("$SRV.{verb}")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_service_instance_answers_the_nats_service_api() {
    let sys = system(30);
    let mut names: Vec<String> = ask_everyone(&sys, "PING")
        .await
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    let mut want = vec!["waveplot-gateway".to_owned(), "waveplot-prepare".to_owned()];
    want.extend(PlotId::ALL.map(|p| format!("waveplot-plotter-{p}")));
    want.sort();
    assert_eq!(names, want);

    let http = sys.http();
    tokio::task::spawn_blocking(move || {
        render_sample(&http);
        // The gateway cannot tell this wavelet does not exist; prepare rejects it.
        let body =
            json!({"symbol": "BTC", "interval": "5m", "source": "sample", "wavelet": "db99"});
        let (code, rejected) = post_render(&http, &body);
        assert_eq!(code, 400, "{rejected}");
    })
    .await
    .unwrap();
    let stats = ask_everyone(&sys, "STATS").await;
    let of = |name: &str| {
        stats
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no stats from {name}: {stats:?}"))
    };
    let prepare = of("waveplot-prepare");
    assert_eq!(prepare["type"], "io.nats.micro.v1.stats_response");
    let endpoint = |s: &Value, name: &str| {
        s["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no endpoint {name}: {s}"))
    };
    let render = endpoint(prepare, "render");
    assert_eq!(render["subject"], "waveplot.render");
    assert_eq!(render["queue_group"], "prepare");
    assert_eq!(render["num_requests"], 2, "{render}");
    assert_eq!(render["num_errors"], 1, "{render}");
    assert!(
        render["last_error"].as_str().unwrap().contains("db99"),
        "{render}"
    );
    assert!(render["processing_time"].as_u64().unwrap() > 0, "{render}");
    assert_eq!(endpoint(prepare, "prepare")["num_requests"], 1);
    let plotter = of("waveplot-plotter-02a");
    assert_eq!(endpoint(plotter, "plot-02a")["num_requests"], 1);
    assert_eq!(endpoint(plotter, "plot-02a")["num_errors"], 0);
    let gateway = of("waveplot-gateway");
    assert!(
        endpoint(gateway, "events")["num_requests"]
            .as_u64()
            .unwrap()
            >= 8
    );
    let info = ask_everyone(&sys, "INFO").await;
    assert_eq!(info.len(), 8);
    assert!(
        info.iter()
            .all(|i| i["type"] == "io.nats.micro.v1.info_response"
                && i["metadata"]["subject_prefix"] == "waveplot"
                && !i["description"].as_str().unwrap().is_empty())
    );
}
