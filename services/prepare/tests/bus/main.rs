//! The real prepare binary against a real nats-server and a real S3 server.

mod live;

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use waveplot_protocol::{
    Blob, FailedEvent, Interval, Message, PlotId, PreparedEvent, RenderReply, RenderRequest,
    RequestId, Source, Subjects, Symbol,
};
use waveplot_service::{Bus, BusError};
use waveplot_testkit::fake_binance::{FakeBinance, Fault};
use waveplot_testkit::{NatsUser, Role, Service, Stack};

/// nats-server, the S3 server and prepare, and two bus clients of the test's own: one
/// logged in as the gateway (it sends render requests), one as an observer (it watches
/// the events).
struct Setup {
    stack: Stack,
    bus: Bus,
    watch: Bus,
    subjects: Subjects,
}

impl Setup {
    fn prepare(&self) -> &Service {
        self.stack.service(Role::Prepare)
    }
}

async fn stack() -> Setup {
    stack_with(&[]).await
}

/// A stack whose prepare gets `extra` environment variables too.
async fn stack_with(extra: &[(&'static str, String)]) -> Setup {
    let builder = Stack::builder().roles([Role::Prepare]);
    let builder = extra
        .iter()
        .fold(builder, |b, (key, value)| b.env(Role::Prepare, key, value));
    let stack = builder.start();
    let connect = |user: NatsUser| {
        let (url, login) = (stack.nats.url(), stack.nats.login(user));
        async move { Bus::connect(&url, login.as_ref(), "test").await.unwrap() }
    };
    let bus = connect(NatsUser::Gateway).await;
    let watch = connect(NatsUser::Observer).await;
    Setup {
        stack,
        bus,
        watch,
        subjects: Subjects::default(),
    }
}

fn request(source: Source) -> RenderRequest {
    let mut r = RenderRequest::new(
        RequestId::generate(),
        Symbol::parse("BTC").unwrap(),
        Interval::M5,
    );
    r.source = source;
    r
}

async fn ask(s: &Setup, r: &RenderRequest) -> RenderReply {
    let reply = s
        .bus
        .request(
            s.subjects.render(),
            r.encode().into(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    RenderReply::decode(&reply).unwrap()
}

async fn next_event(
    sub: &mut waveplot_service::bus::Subscription,
) -> waveplot_service::bus::Message {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an event within 10 s")
        .unwrap()
}

/// A subscription to every `prepared` event, in place before the next request is sent.
async fn prepared_events(s: &Setup) -> waveplot_service::bus::Subscription {
    let sub = s
        .watch
        .subscribe(s.subjects.prepared_any(), None)
        .await
        .unwrap();
    s.watch.flush().await.unwrap();
    sub
}

#[tokio::test]
async fn a_sample_request_is_accepted_and_its_blob_stored_and_announced() {
    let s = stack().await;
    let mut events = prepared_events(&s).await;
    let r = request(Source::Sample);
    let RenderReply::Accepted {
        request_id, plots, ..
    } = ask(&s, &r).await
    else {
        panic!("rejected:\n{}", s.prepare().log())
    };
    assert_eq!(
        (request_id, plots),
        (r.request_id.clone(), PlotId::ALL.to_vec())
    );
    let m = next_event(&mut events).await;
    assert_eq!(m.subject, "waveplot.prepared.BTCUSDT.5m");
    let e = PreparedEvent::decode(&m.payload).unwrap();
    assert_eq!(
        (e.request_id, e.candles, e.reused),
        (r.request_id.clone(), 864, false)
    );
    assert_eq!(e.backend, waveplot_protocol::blob::Backend::Cpu);
    let maps =
        std::fs::read_to_string(format!("/proc/{}/maps", s.prepare().pid().unwrap())).unwrap();
    assert!(
        !maps.contains("libvulkan"),
        "auto found no hardware GPU, yet the service loaded Vulkan (its driver costs ~50 MB)"
    );
    let store = s.stack.store().await.unwrap();
    let blob = Blob::decode(&store.get(e.key.as_str()).await.unwrap().unwrap()).unwrap();
    assert_eq!(blob.header.candles, 864);
    assert!(
        blob.header
            .source_label
            .starts_with("sample data (2022-08-14"),
        "{}",
        blob.header.source_label
    );

    let again = request(Source::Sample);
    assert!(matches!(
        ask(&s, &again).await,
        RenderReply::Accepted { .. }
    ));
    let e2 = PreparedEvent::decode(&next_event(&mut events).await.payload).unwrap();
    assert_eq!(
        (e2.key, e2.reused),
        (e.key, true),
        "the same window is computed once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_binance_fetch_does_not_hold_up_other_sources() {
    let fake = FakeBinance::start_synthetic().await;
    let s = stack_with(&[
        ("PREPARE_CONCURRENCY", "1".into()),
        ("BINANCE_URL", fake.url.clone()),
    ])
    .await;
    let mut events = prepared_events(&s).await;
    // exchangeInfo answers; the klines fetch is then told to wait twice for 3 s.
    fake.fail_with([
        Fault::Slow(Duration::ZERO),
        Fault::Status(429, Some(3)),
        Fault::Status(429, Some(3)),
    ]);
    let mut limited = request(Source::Binance);
    limited.window = Some(200);
    assert!(matches!(
        ask(&s, &limited).await,
        RenderReply::Accepted { .. }
    ));
    let sample = request(Source::Sample);
    let asked = std::time::Instant::now();
    assert!(matches!(
        ask(&s, &sample).await,
        RenderReply::Accepted { .. }
    ));
    let first = PreparedEvent::decode(&next_event(&mut events).await.payload).unwrap();
    assert_eq!(
        first.request_id,
        sample.request_id,
        "the sample is prepared while Binance is waited out:\n{}",
        s.prepare().log()
    );
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "{:?}",
        asked.elapsed()
    );
    let second = PreparedEvent::decode(&next_event(&mut events).await.payload).unwrap();
    assert_eq!(second.request_id, limited.request_id);
}

/// A slow or unreachable Binance (each attempt slow, then retried) used to keep the
/// acceptance past the gateway's 5 s wait, which then blamed prepare. `ask` waits 5 s,
/// as the gateway does; `exchangeInfo` answers only after 6.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_binance_does_not_hold_up_the_acceptance() {
    let fake = FakeBinance::start_synthetic().await;
    let s = stack_with(&[("BINANCE_URL", fake.url.clone())]).await;
    let mut events = prepared_events(&s).await;
    fake.fail_with([Fault::Slow(Duration::from_secs(6))]);
    let mut r = request(Source::Binance);
    r.window = Some(200);
    assert!(matches!(ask(&s, &r).await, RenderReply::Accepted { .. }));
    let e = PreparedEvent::decode(&next_event(&mut events).await.payload).unwrap();
    assert_eq!((e.request_id, e.candles), (r.request_id, 200));
}

#[tokio::test]
async fn invalid_requests_are_rejected_at_once_with_the_reason() {
    let s = stack().await;
    let mut r = request(Source::Sample);
    r.wavelet = Some(waveplot_protocol::Wavelet::parse("db99").unwrap());
    let RenderReply::Rejected {
        error, request_id, ..
    } = ask(&s, &r).await
    else {
        panic!("accepted")
    };
    assert!(error.contains("db99"), "{error}");
    assert_eq!(request_id, Some(r.request_id));

    let mut sol = request(Source::Sample);
    sol.symbol = Symbol::parse("SOL").unwrap();
    let RenderReply::Rejected { error, .. } = ask(&s, &sol).await else {
        panic!("accepted")
    };
    assert!(error.contains("bundled samples: BTCUSDT 5m"), "{error}");

    let garbage = s
        .bus
        .request(
            s.subjects.render(),
            Bytes::from_static(b"{\"v\":1,\"request_id\":\"abc\"}"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let RenderReply::Rejected {
        error, request_id, ..
    } = RenderReply::decode(&garbage).unwrap()
    else {
        panic!("accepted")
    };
    assert!(error.contains("missing field"), "{error}");
    assert_eq!(
        request_id.unwrap().as_str(),
        "abc",
        "the ID is recovered from a malformed request"
    );
}

#[tokio::test]
async fn garbage_on_the_render_subject_is_logged_and_the_service_keeps_serving() {
    let s = stack().await;
    for junk in [&b""[..], b"\xff\xfe", &[b'{'; 1000], b"null"] {
        s.bus
            .publish(s.subjects.render(), Bytes::copy_from_slice(junk), "junk")
            .await
            .unwrap();
    }
    // The largest message the deployment's server takes (`max_payload`, 128 KiB)…
    let big = vec![b'x'; 130_000];
    s.bus
        .publish(s.subjects.render(), Bytes::from(big), "big")
        .await
        .unwrap();
    // …and a larger one is refused before it leaves the client.
    let e = s
        .bus
        .publish(
            s.subjects.render(),
            Bytes::from(vec![b'x'; 140_000]),
            "bigger",
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("publish"), "{e}");
    assert!(
        matches!(
            ask(&s, &request(Source::Sample)).await,
            RenderReply::Accepted { .. }
        ),
        "{}",
        s.prepare().log()
    );
    assert!(
        s.prepare().log().contains("render request rejected"),
        "{}",
        s.prepare().log()
    );
}

/// An outage of the store after acceptance is waited out: the accepted request comes
/// back until its blob is stored. One that outlasts every delivery (1 + 2 + 4 + 8 s of
/// waits) fails the render, saying how often it was tried.
#[tokio::test]
async fn a_store_outage_after_acceptance_is_waited_out_and_one_that_lasts_fails() {
    let mut s = stack().await;
    let mut failed = s
        .watch
        .subscribe(s.subjects.failed_any(), None)
        .await
        .unwrap();
    let mut prepared = prepared_events(&s).await;
    s.stack.s3.stop();
    let r = request(Source::Sample);
    assert!(matches!(ask(&s, &r).await, RenderReply::Accepted { .. }));
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.stack.s3.restart();
    let m = tokio::time::timeout(Duration::from_secs(30), prepared.next())
        .await
        .expect("the blob is stored once the store is back")
        .unwrap();
    assert_eq!(
        PreparedEvent::decode(&m.payload).unwrap().request_id,
        r.request_id
    );

    s.stack.s3.stop();
    let r = request(Source::Sample);
    assert!(matches!(ask(&s, &r).await, RenderReply::Accepted { .. }));
    let m = tokio::time::timeout(Duration::from_secs(90), failed.next())
        .await
        .expect("a failed event once every delivery failed")
        .unwrap();
    assert_eq!(m.subject, "waveplot.failed.prepare");
    let e = FailedEvent::decode(&m.payload).unwrap();
    assert_eq!(e.request_id, Some(r.request_id));
    assert!(e.reason.contains("blob"), "{}", e.reason);
    assert!(e.reason.ends_with("(tried 5 times)"), "{}", e.reason);
}

/// A prepare killed while it holds accepted requests leaves them in the stream; started
/// again, it prepares them. (Plain request/reply would have lost them.)
#[tokio::test]
async fn requests_accepted_by_a_prepare_that_dies_are_prepared_after_its_restart() {
    let mut s = stack().await;
    let mut prepared = prepared_events(&s).await;
    // With the store away, the accepted request is held, not prepared.
    s.stack.s3.stop();
    let r = request(Source::Sample);
    assert!(matches!(ask(&s, &r).await, RenderReply::Accepted { .. }));
    s.stack.kill(Role::Prepare);
    s.stack.s3.restart();
    s.stack.restart(Role::Prepare);
    let m = tokio::time::timeout(Duration::from_secs(30), prepared.next())
        .await
        .expect("the restarted prepare prepares the accepted request")
        .unwrap();
    assert_eq!(
        PreparedEvent::decode(&m.payload).unwrap().request_id,
        r.request_id
    );
}

#[tokio::test]
async fn without_prepare_a_request_fails_at_once_and_sigterm_exits_cleanly() {
    let mut s = stack().await;
    let status = s.stack.service_mut(Role::Prepare).terminate().unwrap();
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        s.prepare().log()
    );
    let started = std::time::Instant::now();
    let e = s
        .bus
        .request(
            s.subjects.render(),
            request(Source::Sample).encode().into(),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::NoResponders { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
