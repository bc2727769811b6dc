//! The whole system from the real binaries, as a user and other tools see it.

mod contract;
mod helpers;
mod live;
mod privilege;

use std::time::{Duration, Instant};

use futures::StreamExt;
use helpers::{client, post_render, system, wait_final};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};
use waveplot_protocol::{Blob, DoneEvent, FailedEvent, Message, PlotId, PreparedEvent, Subjects};
use waveplot_service::Bus;
use waveplot_testkit::{NatsUser, Role};

fn sample() -> Value {
    json!({"symbol": "BTC", "interval": "5m", "source": "sample"})
}

fn assert_png(http: &str, url: &str, width: u64, height: u64) {
    let res = client().get(format!("{http}{url}")).send().unwrap();
    assert_eq!(res.status(), 200, "{url}");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let bytes = res.bytes().unwrap();
    assert_eq!(&bytes[1..4], b"PNG", "{url} is a PNG");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((u64::from(w), u64::from(h)), (width, height), "{url} size");
    let again = client()
        .get(format!("{http}{url}"))
        .header("if-none-match", etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304, "a cached image is not sent again");
}

#[test]
fn a_sample_render_makes_six_charts_in_the_bucket_and_a_complete_status() {
    let sys = system(30);
    let started = Instant::now();
    let (code, created) = post_render(&sys.http(), &sample());
    assert_eq!(code, 200, "{created}\n{}", sys.logs());
    let id = created["id"].as_str().unwrap();
    let st = wait_final(&sys.http(), id, Duration::from_secs(60));
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
    eprintln!("first render through the bus: {:?}", started.elapsed());
    for plot in PlotId::ALL {
        let p = &st["plots"][plot.as_str()];
        assert_eq!(p["state"], "done");
        assert_eq!(p["reused"], false, "a new blob's charts are drawn");
        assert_png(
            &sys.http(),
            p["url"].as_str().unwrap(),
            p["width"].as_u64().unwrap(),
            p["height"].as_u64().unwrap(),
        );
    }
    assert_eq!(
        st["summary"]["source_label"],
        "sample data (2022-08-14 00:00 UTC to 2022-08-16 23:55 UTC)"
    );
    assert_eq!(st["bands"].as_array().unwrap().len(), 8);
    assert_eq!(st["prepared"]["candles"], 864);

    let (_, again) = post_render(&sys.http(), &sample());
    assert_eq!(
        (again["id"].as_str().unwrap(), again["reused"].as_bool()),
        (id, Some(true)),
        "an identical request answers at once"
    );

    // Another request for two of the charts: the blob and both charts are found.
    let mut two = sample();
    two["plots"] = json!(["01", "03"]);
    let (_, created) = post_render(&sys.http(), &two);
    let st = wait_final(
        &sys.http(),
        created["id"].as_str().unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
    assert_eq!(st["prepared"]["reused"], true, "{st}");
    for plot in ["01", "03"] {
        assert_eq!(st["plots"][plot]["reused"], true, "{plot}: {st}");
    }

    let mut tokyo = sample();
    tokyo["tz"] = json!("asia/tokyo");
    let (code, created) = post_render(&sys.http(), &tokyo);
    assert_eq!(code, 200, "{created}");
    assert_ne!(
        created["id"].as_str().unwrap(),
        id,
        "another time zone, other charts"
    );
    let st = wait_final(
        &sys.http(),
        created["id"].as_str().unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
    assert_eq!(st["request"]["tz"], "Asia/Tokyo");
    let p = &st["plots"]["03"];
    let url = p["url"].as_str().unwrap();
    assert!(url.ends_with("@Asia.Tokyo.png"), "{url}");
    assert_png(
        &sys.http(),
        url,
        p["width"].as_u64().unwrap(),
        p["height"].as_u64().unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_independent_subscriber_sees_every_documented_event() {
    let sys = system(30);
    let observer = sys.nats.login(NatsUser::Observer);
    let bus = Bus::connect(&sys.nats.url(), observer.as_ref(), "observer")
        .await
        .unwrap();
    let mut all = bus
        .subscribe(Subjects::default().everything(), None)
        .await
        .unwrap();
    bus.flush().await.unwrap();
    let http = sys.http();
    let created = tokio::task::spawn_blocking(move || post_render(&http, &sample()).1)
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let (mut prepared, mut done) = (0, Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while done.len() < 6 {
        let m = tokio::time::timeout_at(deadline, all.next())
            .await
            .expect("six done events")
            .unwrap();
        let json: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
        if m.subject.starts_with("waveplot.prepared.") {
            let e = PreparedEvent::decode(&m.payload).unwrap();
            assert_eq!(
                (e.request_id.as_str(), m.subject.as_str()),
                (id.as_str(), "waveplot.prepared.BTCUSDT.5m")
            );
            for field in [
                "v",
                "request_id",
                "key",
                "candles",
                "backend",
                "device",
                "timings_ms",
            ] {
                assert!(json.get(field).is_some(), "prepared lacks {field}");
            }
            prepared += 1;
        } else if m.subject.starts_with("waveplot.done.") {
            let e = DoneEvent::decode(&m.payload).unwrap();
            assert_eq!(m.subject, format!("waveplot.done.{}", e.plot_id));
            for field in ["v", "request_id", "plot_id", "key", "bytes", "render_ms"] {
                assert!(json.get(field).is_some(), "done lacks {field}");
            }
            done.push(e.plot_id);
        }
    }
    assert_eq!(prepared, 1);
    done.sort();
    assert_eq!(done, PlotId::ALL.to_vec(), "each chart exactly once");
}

#[test]
fn two_replicas_of_a_plotter_share_the_work_and_each_chart_is_drawn_once() {
    let mut sys = system(30);
    sys.add_replica(Role::Plotter(PlotId::Overview));
    let mut ids = Vec::new();
    for window in 100..120 {
        let body = json!({"symbol": "BTC", "interval": "5m", "source": "sample", "window": window, "plots": ["01"]});
        let (code, created) = post_render(&sys.http(), &body);
        assert_eq!(code, 200, "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        assert_eq!(
            wait_final(&sys.http(), id, Duration::from_secs(60))["state"],
            "complete",
            "{}",
            sys.logs()
        );
    }
    let stored: Vec<usize> = sys
        .services()
        .filter(|(r, _)| *r == Role::Plotter(PlotId::Overview))
        .map(|(_, s)| s.log().matches("chart stored").count())
        .collect();
    assert_eq!(
        stored.iter().sum::<usize>(),
        20,
        "each chart drawn exactly once: {stored:?}"
    );
    assert!(
        stored.iter().all(|n| *n > 0),
        "both replicas took work: {stored:?}"
    );
}

#[test]
fn a_killed_plotter_costs_one_chart_with_a_reason_and_its_restart_heals() {
    let mut sys = system(8);
    sys.kill(Role::Plotter(PlotId::Bands));
    let (_, created) = post_render(&sys.http(), &sample());
    let st = wait_final(
        &sys.http(),
        created["id"].as_str().unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(st["state"], "partial", "{st}");
    let bands = &st["plots"]["02b"];
    assert_eq!(bands["state"], "failed");
    assert!(
        bands["error"]
            .as_str()
            .unwrap()
            .contains("no chart 02b within 8 s"),
        "{bands}"
    );
    for plot in ["01", "02a", "03", "04", "05"] {
        assert_eq!(st["plots"][plot]["state"], "done", "{plot}");
    }
    sys.restart(Role::Plotter(PlotId::Bands));
    let (_, created) = post_render(&sys.http(), &sample());
    assert_eq!(created["reused"], false, "a partial result is not reused");
    let st = wait_final(
        &sys.http(),
        created["id"].as_str().unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(st["state"], "complete", "{st}");
}

/// Sends `signal` to every plotter of `sys`.
fn signal_plotters(sys: &waveplot_testkit::Stack, signal: Signal) {
    for plot in PlotId::ALL {
        let pid = sys.service(Role::Plotter(plot)).pid().unwrap();
        kill_process(Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(), signal).unwrap();
    }
}

/// Polls the render until prepare's event has reached the gateway.
fn wait_prepared(sys: &waveplot_testkit::Stack, id: &str) {
    let started = Instant::now();
    loop {
        let st: Value = client()
            .get(format!("{}/api/render/{id}", sys.http()))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if !st["prepared"].is_null() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not prepared within 10 s: {st}\n{}",
            sys.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to the service of `role`.
fn signal_service(sys: &waveplot_testkit::Stack, role: Role, signal: Signal) {
    let pid = sys.service(role).pid().unwrap();
    kill_process(Pid::from_raw(i32::try_from(pid).unwrap()).unwrap(), signal).unwrap();
}

/// A render whose services are away across a restart of the NATS server completes:
/// the plotters, frozen until after the restart, find prepare's event in the stream,
/// and the gateway, frozen across the restart and while the charts are announced,
/// follows the stream again from the last event it saw. On plain NATS the gateway
/// would never hear of the charts, its connection being dead when they were
/// announced.
#[test]
fn a_render_completes_when_its_services_were_away_across_a_restart_of_the_bus() {
    let mut sys = system(30);
    signal_plotters(&sys, Signal::STOP);
    let (code, created) = post_render(&sys.http(), &sample());
    assert_eq!(code, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    wait_prepared(&sys, &id);
    signal_service(&sys, Role::Gateway, Signal::STOP);
    sys.nats.restart_gracefully();
    signal_plotters(&sys, Signal::CONT);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(sys.store()).unwrap();
    let charts = || runtime.block_on(store.list("plots/")).unwrap().len();
    let started = Instant::now();
    while charts() < 6 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            sys.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    signal_service(&sys, Role::Gateway, Signal::CONT);
    let st = wait_final(&sys.http(), &id, Duration::from_secs(30));
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
}

/// A plotter killed before the render and restarted a second later draws its chart:
/// the event waits in the stream for the plotter's consumer.
#[test]
fn a_plotter_restarted_within_the_deadline_still_draws_its_chart() {
    let mut sys = system(20);
    sys.kill(Role::Plotter(PlotId::Bands));
    let (_, created) = post_render(&sys.http(), &sample());
    let id = created["id"].as_str().unwrap().to_owned();
    wait_prepared(&sys, &id);
    std::thread::sleep(Duration::from_secs(1));
    sys.restart(Role::Plotter(PlotId::Bands));
    let st = wait_final(&sys.http(), &id, Duration::from_secs(30));
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
}

/// With the S3 server down for 5 s while the plotters fetch the blob and store their
/// charts, their deliveries are refused and come back until the store is back, and the
/// render completes.
#[test]
fn a_render_completes_when_the_store_returns_from_an_outage_during_the_chart_stores() {
    let mut sys = system(30);
    signal_plotters(&sys, Signal::STOP);
    let (_, created) = post_render(&sys.http(), &sample());
    let id = created["id"].as_str().unwrap().to_owned();
    wait_prepared(&sys, &id);
    sys.s3.stop();
    signal_plotters(&sys, Signal::CONT);
    std::thread::sleep(Duration::from_secs(5));
    sys.s3.restart();
    let st = wait_final(&sys.http(), &id, Duration::from_secs(30));
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
    let retried = sys
        .services()
        .filter(|(_, s)| s.log().contains("trying again"))
        .count();
    assert!(retried > 0, "no plotter met the outage:\n{}", sys.logs());
}

#[test]
fn without_prepare_the_api_answers_503_before_the_accept_timeout() {
    let mut sys = system(30);
    sys.kill(Role::Prepare);
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let (code, body) = post_render(&sys.http(), &sample());
    assert_eq!(code, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("prepare service unavailable: no prepare instance answered within 1.5 s"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// After a bus restart the services reconnect one by one; a render asked as soon as the
/// gateway is back must not be refused because prepare is a moment behind. Prepare is
/// frozen (SIGSTOP) across the restart and thawed 0.5 s after the gateway is back.
#[test]
fn a_render_asked_as_soon_as_the_bus_is_back_is_accepted() {
    let mut sys = system(20);
    let prepare = sys.service(Role::Prepare).pid().unwrap();
    let prepare = Pid::from_raw(i32::try_from(prepare).unwrap()).unwrap();
    let signal = |signal: Signal| kill_process(prepare, signal).unwrap();
    signal(Signal::STOP);
    sys.nats.restart();
    let started = Instant::now();
    while !sys.service(Role::Gateway).is_ready() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            sys.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, created) = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            signal(Signal::CONT);
        });
        post_render(&sys.http(), &sample())
    });
    assert_eq!(code, 200, "{created}\n{}", sys.logs());
    let st = wait_final(
        &sys.http(),
        created["id"].as_str().unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(st["state"], "complete", "{st}");
}

#[test]
fn bad_requests_get_a_400_that_says_what_is_valid() {
    let sys = system(30);
    for (body, want) in [
        (
            json!({"symbol": "BTC", "interval": "7m"}),
            "valid intervals",
        ),
        (json!({"symbol": "B$C", "interval": "5m"}), "invalid symbol"),
        (
            json!({"symbol": "BTC", "interval": "5m", "tz": "Berlin"}),
            "invalid time zone 'Berlin'; use an IANA time-zone name",
        ),
        (
            json!({"symbol": "BTC", "interval": "5m", "source": "sample", "wavelet": "db99"}),
            "db99",
        ),
        (
            json!({"symbol": "BTC", "interval": "5m", "colour": "red"}),
            "unknown field `colour`, expected one of `symbol`",
        ),
        (
            json!({"symbol": "NOPE"}),
            "interval is required: one of 1s, 1m, 3m",
        ),
        (
            json!({"symbol": "BTC", "interval": "5m", "window": "100"}),
            "window: invalid type: string \"100\", expected a whole number",
        ),
        (
            json!({"symbol": "SOL", "interval": "5m", "source": "sample"}),
            "bundled samples",
        ),
    ] {
        let (code, answer) = post_render(&sys.http(), &body);
        assert_eq!(code, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(want), "{body}: {answer}");
        assert!(!error.contains("deserialize"), "{body}: {answer}");
    }
    let res = client()
        .post(format!("{}/api/render", sys.http()))
        .body(r#"{"symbol":"BTC","interval":"5m"}"#)
        .send()
        .unwrap();
    assert_eq!(res.status(), 415);
    let answer: Value = res.json().unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("Content-Type: application/json"),
        "{answer}"
    );
    let res = client()
        .get(format!("{}/plots/../../etc/passwd", sys.http()))
        .send()
        .unwrap();
    assert!(res.status().is_client_error());
}

#[test]
fn a_stopped_s3_server_gives_clear_errors_and_the_system_recovers() {
    // Prepare tries a store failure five times over 15 s, each try retried by the store
    // client for up to a second or so: the render's deadline must leave room for all of
    // that, or the deadline, not the store's error, ends the render on a busy machine.
    let mut sys = system(45);
    sys.s3.stop();
    let (code, created) = post_render(&sys.http(), &sample());
    assert_eq!(code, 200, "{created}");
    let st = wait_final(
        &sys.http(),
        created["id"].as_str().unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(st["state"], "failed", "{st}");
    assert!(st["error"].as_str().unwrap().contains("blob"), "{st}");
    sys.s3.restart();
    let (_, created) = post_render(&sys.http(), &sample());
    let st = wait_final(
        &sys.http(),
        created["id"].as_str().unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
}

/// A client of `sys`'s bus named `name`, and its subscription to every `failed` event.
async fn failures(
    sys: &waveplot_testkit::Stack,
    name: &str,
) -> (Bus, waveplot_service::bus::Subscription) {
    let bus = as_user(sys, NatsUser::Observer, name).await;
    let failed = bus
        .subscribe("waveplot.failed.*".into(), None)
        .await
        .unwrap();
    (bus, failed)
}

/// A client of `sys`'s bus named `name`, logged in as `user`.
async fn as_user(sys: &waveplot_testkit::Stack, user: NatsUser, name: &str) -> Bus {
    let login = sys.nats.login(user);
    Bus::connect(&sys.nats.url(), login.as_ref(), name)
        .await
        .unwrap()
}

/// The first `failed` event on `failed` for the request `id`, within 10 s.
async fn failure_of(failed: &mut waveplot_service::bus::Subscription, id: &str) -> FailedEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let m = failed.next().await.unwrap();
            if let Ok(e) = FailedEvent::decode(&m.payload) {
                if e.request_id.as_ref().is_some_and(|r| r.as_str() == id) {
                    return e;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no failed event for {id} within 10 s"))
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_messages_and_a_corrupt_blob_are_survived() {
    let sys = system(20);
    let (bus, mut failed) = failures(&sys, "vandal").await;
    bus.flush().await.unwrap();
    let junk: Vec<&[u8]> = vec![
        b"",
        b"\xff\x00",
        b"{\"v\":1}",
        b"{\"v\":1,\"request_id\":\"vandal-1\",\"key\":\"nope\"}",
        &[b'x'; 100_000],
    ];
    // Each subject from the user allowed to publish on it: a vandal who took over one
    // of the services.
    for (subject, user) in [
        ("waveplot.render", NatsUser::Gateway),
        ("waveplot.prepared.BTCUSDT.5m", NatsUser::Prepare),
        ("waveplot.done.01", NatsUser::Plotter),
        ("waveplot.failed.plot", NatsUser::Plotter),
    ] {
        let vandal = as_user(&sys, user, "vandal").await;
        // Each with its own message ID: the event stream drops a repeated one.
        for (i, j) in junk.iter().enumerate() {
            let payload = bytes::Bytes::copy_from_slice(j);
            vandal
                .publish(subject.into(), payload, &format!("{subject}-{i}"))
                .await
                .unwrap();
        }
        vandal.flush().await.unwrap();
    }
    let m = failure_of(&mut failed, "vandal-1").await;
    assert!(m.reason.contains("malformed"), "{}", m.reason);

    let store = sys.store().await.unwrap();
    let http = sys.http();
    let first = tokio::task::spawn_blocking(move || {
        let (_, c) = post_render(
            &http,
            &json!({"symbol": "ETH", "interval": "5m", "source": "sample", "plots": ["01"]}),
        );
        wait_final(&http, c["id"].as_str().unwrap(), Duration::from_secs(30))
    })
    .await
    .unwrap();
    let key = first["prepared"]["key"].as_str().unwrap().to_owned();
    store
        .put(&key, bytes::Bytes::from_static(b"not a blob"))
        .await
        .unwrap();
    let http = sys.http();
    let second = tokio::task::spawn_blocking(move || {
        let (_, c) = post_render(
            &http,
            &json!({"symbol": "ETH", "interval": "5m", "source": "sample", "plots": ["02b"]}),
        );
        wait_final(&http, c["id"].as_str().unwrap(), Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(
        second["state"],
        "complete",
        "a corrupt stored blob is recomputed: {second}\n{}",
        sys.logs()
    );
    assert_eq!(second["prepared"]["key"], key.as_str(), "{second}");
    assert_eq!(second["prepared"]["reused"], false, "{second}");
    let stored = store.get(&key).await.unwrap().expect("a blob at the key");
    if let Err(e) = Blob::decode(&stored) {
        panic!("the corrupt blob was not replaced by a readable one: {e}");
    }
    assert!(
        sys.service(Role::Prepare).log().contains("unreadable"),
        "{}",
        sys.logs()
    );
}

/// A chart estimated above its plotter's `PLOT_MEMORY` fails at once with its need and
/// the setting named, and the other charts of the render are drawn.
#[test]
fn a_chart_that_needs_more_memory_than_its_plotter_has_fails_with_both_named() {
    let sys = waveplot_testkit::Stack::builder()
        .env(Role::Plotter(PlotId::Approximations), "PLOT_MEMORY", "64")
        .start();
    let body = json!({"symbol": "BTC", "interval": "5m", "source": "sample",
        "width": 4800, "height": 3600, "plots": ["01", "02a"]});
    let (code, created) = post_render(&sys.http(), &body);
    assert_eq!(code, 200, "{created}");
    let st = wait_final(
        &sys.http(),
        created["id"].as_str().unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(st["state"], "partial", "{st}\n{}", sys.logs());
    let error = st["plots"]["02a"]["error"].as_str().unwrap();
    assert!(error.contains("at 4800×3600 needs about 66 MiB"), "{error}");
    assert!(error.contains("64 MiB (PLOT_MEMORY)"), "{error}");
    assert_eq!(st["plots"]["01"]["state"], "done", "{st}");
}

/// A stack whose prepare reads `file:BTCUSDT-1m-walk.csv`, a walk of 20 500 one-minute
/// candles in the directory returned with it.
fn walk_stack() -> (tempfile::TempDir, waveplot_testkit::Stack) {
    let candles = tempfile::tempdir().unwrap();
    waveplot_testkit::klines::write_walk(&candles.path().join("BTCUSDT-1m-walk.csv"), 20_500)
        .unwrap();
    let sys = waveplot_testkit::Stack::builder()
        .env(
            Role::Prepare,
            "CANDLE_DIR",
            candles.path().display().to_string(),
        )
        .start();
    (candles, sys)
}

/// A window of 20 000 candles (a blob over 4 MiB) drawn as SVG (which has no scenes)
/// is read section by section, only the series each chart draws; the same blob without
/// its section index (schema 1.1) is still drawn, read whole as a stream (a PNG chart
/// whose scene was never recorded).
#[tokio::test(flavor = "multi_thread")]
async fn a_large_blob_is_read_by_sections_and_one_without_an_index_whole() {
    let (_candles, sys) = walk_stack();
    let store = sys.store().await.unwrap();
    let http = sys.http();
    let render = |plot: &'static str, format: &'static str| {
        let http = http.clone();
        tokio::task::spawn_blocking(move || {
            let body = json!({"symbol": "BTCUSDT", "interval": "1m", "format": format,
                "source": "file:BTCUSDT-1m-walk.csv", "window": 20_000, "plots": [plot]});
            let (code, c) = post_render(&http, &body);
            assert_eq!(code, 200, "{c}");
            wait_final(&http, c["id"].as_str().unwrap(), Duration::from_secs(30))
        })
    };
    let first = render("01", "svg").await.unwrap();
    assert_eq!(first["state"], "complete", "{first}\n{}", sys.logs());
    let log = sys.service(Role::Plotter(PlotId::Overview)).log();
    assert!(log.contains("read=\"sections\""), "{log}");
    let key = first["prepared"]["key"].as_str().unwrap().to_owned();
    let blob = store.get(&key).await.unwrap().unwrap();
    assert!(blob.len() > 4 << 20, "{} bytes", blob.len());
    let start = u64::from_be_bytes(blob[blob.len() - 8..].try_into().unwrap()) as usize;
    let mut old = blob[..start].to_vec();
    old[0] = 0x96;
    Blob::decode(&old).expect("a 1.1 blob");
    store.put(&key, old.into()).await.unwrap();
    let second = render("02b", "png").await.unwrap();
    assert_eq!(second["state"], "complete", "{second}\n{}", sys.logs());
    assert_eq!(second["prepared"]["reused"], true, "{second}");
    let log = sys.service(Role::Plotter(PlotId::Bands)).log();
    assert!(log.contains("read=\"whole\""), "{log}");
}

/// The PNG charts of a window of 20 000 candles are recorded by prepare as scenes
/// beside the blob and replayed by the plotters, which do not read the blob: the
/// charts are the very PNGs drawn from the blob. A chart whose scene is missing is
/// drawn from the blob, which fits in the memory set aside for the scene; one the
/// event names as without a scene is drawn from the blob without looking for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_window_s_charts_are_replayed_from_the_scenes_prepare_recorded() {
    let (_candles, sys) = walk_stack();
    let store = sys.store().await.unwrap();
    let observer = as_user(&sys, NatsUser::Observer, "observer").await;
    let mut prepared = observer
        .subscribe("waveplot.prepared.>".into(), None)
        .await
        .unwrap();
    let mut done = observer
        .subscribe("waveplot.done.03".into(), None)
        .await
        .unwrap();
    observer.flush().await.unwrap();
    let http = sys.http();
    let st = tokio::task::spawn_blocking(move || {
        let body = json!({"symbol": "BTCUSDT", "interval": "1m", "tz": "Europe/Berlin",
            "source": "file:BTCUSDT-1m-walk.csv", "window": 20_000, "plots": ["01", "04"]});
        let (code, c) = post_render(&http, &body);
        assert_eq!(code, 200, "{c}");
        wait_final(&http, c["id"].as_str().unwrap(), Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert_eq!(st["state"], "complete", "{st}\n{}", sys.logs());
    let blob_key =
        waveplot_protocol::BlobKey::parse(st["prepared"]["key"].as_str().unwrap()).unwrap();
    let blob = Blob::decode(&store.get(blob_key.as_str()).await.unwrap().unwrap()).unwrap();
    let zone = waveplot_protocol::TimeZone::parse("Europe/Berlin").unwrap();
    for plot in [PlotId::Overview, PlotId::Signals] {
        let log = sys.service(Role::Plotter(plot)).log();
        assert!(log.contains("read=\"scene\""), "{plot}: {log}");
        let size = plot.default_size();
        let scene = blob_key.scene_key(plot, size, &zone);
        assert!(store.exists(scene.as_str()).await.unwrap(), "{scene}");
        let chart = blob_key.plot_key(plot, size, waveplot_protocol::ImageFormat::Png, &zone);
        let replayed = store.get(chart.as_str()).await.unwrap().unwrap();
        let options = waveplot_plotter::RenderOptions {
            zone: zone.clone(),
            ..waveplot_plotter::RenderOptions::for_plot(plot)
        };
        let drawn = waveplot_plotter::render(&blob, plot, &options).unwrap();
        assert!(replayed == drawn, "{plot}: the replayed chart differs");
    }

    let m = tokio::time::timeout(Duration::from_secs(5), prepared.next())
        .await
        .unwrap()
        .unwrap();
    let mut event = PreparedEvent::decode(&m.payload).unwrap();
    assert!(event.scenes.is_some(), "{event:?}");
    event.request_id = waveplot_protocol::RequestId::generate();
    event.plots = vec![PlotId::Anomalies];
    let forger = as_user(&sys, NatsUser::Prepare, "forger").await;
    forger.send(&Subjects::default(), &event).await.unwrap();
    let drawn = done_for(&mut done, &event.request_id)
        .await
        .unwrap_or_else(|| panic!("no chart 03 without its scene\n{}", sys.logs()));
    assert_eq!(drawn.plot_id, PlotId::Anomalies);
    let log = sys.service(Role::Plotter(PlotId::Anomalies)).log();
    assert!(log.contains("drawing it from the blob"), "{log}");
    assert!(log.contains("read=\"sections\""), "{log}");

    // Named as without a scene, the chart is drawn from the blob straight away.
    event.request_id = waveplot_protocol::RequestId::generate();
    event.scenes.as_mut().unwrap().without = vec![PlotId::Anomalies];
    forger.send(&Subjects::default(), &event).await.unwrap();
    done_for(&mut done, &event.request_id)
        .await
        .unwrap_or_else(|| panic!("no chart 03 named as without a scene\n{}", sys.logs()));
    let log = sys.service(Role::Plotter(PlotId::Anomalies)).log();
    assert_eq!(log.matches("drawing it from the blob").count(), 1, "{log}");
    assert_eq!(log.matches("read=\"sections\"").count(), 2, "{log}");
}

/// The `done` event of request `id` from `done`, within 30 s.
async fn done_for(
    done: &mut waveplot_service::bus::Subscription,
    id: &waveplot_protocol::RequestId,
) -> Option<DoneEvent> {
    let found = async {
        loop {
            let m = done.next().await?;
            let e = DoneEvent::decode(&m.payload).unwrap();
            if &e.request_id == id {
                return Some(e);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), found)
        .await
        .ok()
        .flatten()
}

/// A `prepared` event that announces fewer candles than its blob holds (a forged or
/// stale one) fails the chart with both named: the plotter set memory aside for what
/// the event said, and does not read more.
#[tokio::test(flavor = "multi_thread")]
async fn a_blob_larger_than_its_event_announced_is_refused() {
    let sys = system(20);
    let (bus, mut failed) = failures(&sys, "forger").await;
    let mut prepared = bus
        .subscribe("waveplot.prepared.>".into(), None)
        .await
        .unwrap();
    bus.flush().await.unwrap();
    let http = sys.http();
    tokio::task::spawn_blocking(move || {
        let body = json!({"symbol": "BTC", "interval": "5m", "source": "sample", "plots": ["01"]});
        let (_, c) = post_render(&http, &body);
        wait_final(&http, c["id"].as_str().unwrap(), Duration::from_secs(30))
    })
    .await
    .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), prepared.next())
        .await
        .unwrap()
        .unwrap();
    let mut forged = PreparedEvent::decode(&m.payload).unwrap();
    forged.request_id = waveplot_protocol::RequestId::generate();
    forged.candles = 100;
    forged.plots = vec![PlotId::Bands];
    let forger = as_user(&sys, NatsUser::Prepare, "forger").await;
    forger.send(&Subjects::default(), &forged).await.unwrap();
    let e = failure_of(&mut failed, forged.request_id.as_str()).await;
    assert!(e.reason.contains("holds 864 candles"), "{}", e.reason);
    assert!(e.reason.contains("announced 100"), "{}", e.reason);
}
