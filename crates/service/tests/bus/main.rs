//! The bus against a real nats-server: what the services rely on.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use waveplot_protocol::Message as _;
use waveplot_service::{Bus, BusError};
use waveplot_testkit::NatsServer;

mod permissions;

async fn next(
    sub: &mut waveplot_service::bus::Subscription,
) -> Option<waveplot_service::bus::Message> {
    tokio::time::timeout(Duration::from_millis(300), sub.next())
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn published_messages_carry_json_content_type_and_a_message_id() {
    let nats = NatsServer::start();
    let bus = Bus::connect(&nats.url(), None, "test").await.unwrap();
    let raw = async_nats::connect(nats.url()).await.unwrap();
    let mut sub = raw.subscribe("w.done.*").await.unwrap();
    // A round trip on the subscriber's connection (see `Bus::flush`).
    Bus::Nats(raw.clone()).flush().await.unwrap();
    bus.publish("w.done.01".into(), Bytes::from_static(b"{}"), "r1-01")
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(2), sub.next())
        .await
        .unwrap()
        .unwrap();
    let headers = m.headers.unwrap();
    assert_eq!(
        headers.get("Content-Type").unwrap().as_str(),
        "application/json"
    );
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), "r1-01");
}

#[tokio::test]
async fn a_queue_group_gets_each_message_once_and_plain_subscribers_get_all() {
    let nats = NatsServer::start();
    let a = Bus::connect(&nats.url(), None, "a").await.unwrap();
    let b = Bus::connect(&nats.url(), None, "b").await.unwrap();
    let mut qa = a
        .subscribe("w.prepared.>".into(), Some("plot-01".into()))
        .await
        .unwrap();
    let mut qb = b
        .subscribe("w.prepared.>".into(), Some("plot-01".into()))
        .await
        .unwrap();
    let mut all = a.subscribe("w.>".into(), None).await.unwrap();
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    for i in 0..20u8 {
        a.publish(
            "w.prepared.BTCUSDT.5m".into(),
            Bytes::from(vec![i]),
            &i.to_string(),
        )
        .await
        .unwrap();
    }
    let (mut got_a, mut got_b, mut got_all) = (0, 0, 0);
    while next(&mut qa).await.is_some() {
        got_a += 1;
    }
    while next(&mut qb).await.is_some() {
        got_b += 1;
    }
    while next(&mut all).await.is_some() {
        got_all += 1;
    }
    assert_eq!(
        got_a + got_b,
        20,
        "each message once in the group ({got_a} + {got_b})"
    );
    assert_eq!(got_all, 20);
}

#[tokio::test]
async fn a_request_nobody_serves_fails_at_once_with_no_responders() {
    let nats = NatsServer::start();
    let bus = Bus::connect(&nats.url(), None, "t").await.unwrap();
    let started = std::time::Instant::now();
    let e = bus
        .request("w.render".into(), Bytes::new(), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::NoResponders { .. }), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no responders must not wait for the timeout"
    );
}

#[tokio::test]
async fn a_request_is_answered_by_one_member_of_the_group_and_times_out_when_ignored() {
    let nats = NatsServer::start();
    let server = Bus::connect(&nats.url(), None, "server").await.unwrap();
    let client = Bus::connect(&nats.url(), None, "client").await.unwrap();
    let mut requests = server
        .subscribe("w.render".into(), Some("prepare".into()))
        .await
        .unwrap();
    server.flush().await.unwrap();
    let responder = server.clone();
    let handle = tokio::spawn(async move {
        let m = requests.next().await.unwrap();
        responder
            .reply(m.reply.unwrap(), Bytes::from_static(b"accepted"))
            .await
            .unwrap();
        requests
    });
    let reply = client
        .request("w.render".into(), Bytes::new(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(&reply[..], b"accepted");
    let _still_subscribed = handle.await.unwrap();
    let e = client
        .request("w.render".into(), Bytes::new(), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Timeout { .. }), "{e}");
}

/// A reply that does not answer the request (another client's, sent into this inbox)
/// is dropped and the right one still taken, on NATS and on the in-process bus.
#[tokio::test]
async fn a_request_takes_only_the_reply_that_answers_it() {
    let nats = NatsServer::start();
    let nats_bus = |name: &'static str| {
        let url = nats.url();
        async move { Bus::connect(&url, None, name).await.unwrap() }
    };
    let local = Bus::Local(waveplot_service::bus::LocalBus::new());
    for (server, client) in [
        (nats_bus("server").await, nats_bus("client").await),
        (local.clone(), local.clone()),
    ] {
        let mut requests = server.subscribe("w.watch".into(), None).await.unwrap();
        server.flush().await.unwrap();
        let responder = server.clone();
        tokio::spawn(async move {
            let m = requests.next().await.unwrap();
            let to = m.reply.unwrap();
            for reply in ["forged", "answer"] {
                responder
                    .reply(to.clone(), Bytes::from(reply))
                    .await
                    .unwrap();
            }
        });
        let reply = client
            .request_answer(
                "w.watch".into(),
                Bytes::new(),
                Duration::from_secs(5),
                |r| r == b"answer",
            )
            .await
            .unwrap();
        assert_eq!(&reply[..], b"answer");
    }
}

#[tokio::test]
async fn connecting_to_a_server_that_is_not_there_says_so() {
    let port = waveplot_testkit::free_port();
    let e = Bus::connect(&format!("nats://127.0.0.1:{port}"), None, "t")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is nats-server running"), "{e}");
}

#[tokio::test]
async fn a_server_that_is_not_there_is_named_with_the_client_s_error_as_the_cause() {
    let url = format!("nats://127.0.0.1:{}", waveplot_testkit::free_port());
    let e = Bus::connect(&url, None, "test").await.unwrap_err();
    assert!(matches!(&e, BusError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains("is nats-server running"), "{e}");
    assert!(
        std::error::Error::source(&e).is_some(),
        "the client's error is kept as the cause: {e:?}"
    );
}

/// A `failed` event of the plot stage saying `reason` (an event any test can send).
fn event(reason: &str) -> waveplot_protocol::FailedEvent {
    waveplot_protocol::FailedEvent {
        v: waveplot_protocol::V1,
        request_id: None,
        stage: waveplot_protocol::Stage::Plot,
        plot_id: None,
        reason: reason.to_owned(),
    }
}

/// The next delivery of a durable consumer within 5 s.
async fn delivery(
    deliveries: &mut waveplot_service::bus::Deliveries,
) -> waveplot_service::bus::Delivery {
    tokio::time::timeout(Duration::from_secs(5), deliveries.next())
        .await
        .expect("a delivery within 5 s")
        .expect("the consumer is open")
}

async fn stream_bus(nats: &NatsServer, name: &str) -> Bus {
    let bus = Bus::connect(&nats.url(), None, name).await.unwrap();
    let subjects = waveplot_protocol::Subjects::default();
    bus.ensure_events(&subjects, waveplot_service::bus::EventLimits::default())
        .await
        .unwrap();
    bus
}

/// An event sent before any consumer exists waits in the stream; a refused delivery
/// comes back after its delay as the next attempt; an acknowledged one never does;
/// setting the stream up again is harmless; a copy sent with the same message ID is
/// dropped.
#[tokio::test]
async fn events_wait_for_their_consumer_and_come_back_until_acknowledged() {
    let nats = NatsServer::start();
    let subjects = waveplot_protocol::Subjects::default();
    let bus = stream_bus(&nats, "a").await;
    let first = event("first");
    bus.send(&subjects, &first).await.unwrap();
    bus.send(&subjects, &first).await.unwrap();
    let again = stream_bus(&nats, "b").await;
    let mut deliveries = again
        .consume(&subjects, "probe", subjects.failed_any(), 1)
        .await
        .unwrap();
    let d = delivery(&mut deliveries).await;
    assert_eq!(
        (d.attempt, &d.message.payload[..]),
        (1, &first.encode()[..])
    );
    d.nak(Duration::from_millis(100)).await;
    let d = delivery(&mut deliveries).await;
    assert_eq!(d.attempt, 2, "the refused delivery comes back");
    d.ack().await;
    let second = event("second");
    bus.send(&subjects, &second).await.unwrap();
    let d = delivery(&mut deliveries).await;
    assert_eq!(
        (d.attempt, &d.message.payload[..]),
        (1, &second.encode()[..]),
        "neither the acknowledged event nor its copy came back"
    );
    d.ack().await;
}

/// Replicas that name the same consumer divide the events between them.
#[tokio::test]
async fn replicas_of_one_consumer_share_its_events() {
    let nats = NatsServer::start();
    let subjects = waveplot_protocol::Subjects::default();
    let bus = stream_bus(&nats, "a").await;
    let mut a = bus
        .consume(&subjects, "plot-01", subjects.failed_any(), 1)
        .await
        .unwrap();
    let mut b = bus
        .consume(&subjects, "plot-01", subjects.failed_any(), 1)
        .await
        .unwrap();
    for i in 0..20 {
        bus.send(&subjects, &event(&i.to_string())).await.unwrap();
    }
    let mut seen = Vec::new();
    for replica in [&mut a, &mut b] {
        while let Ok(Some(d)) =
            tokio::time::timeout(Duration::from_millis(500), replica.next()).await
        {
            d.ack().await;
            seen.push(d.message.payload);
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20, "every event once");
}

/// A restart of the server over the same store loses neither the stream nor the
/// durable consumer's place, and the follower and the consumer both go on after it.
#[tokio::test]
async fn a_restart_of_the_server_loses_no_event_for_the_follower_or_the_consumer() {
    let mut nats = NatsServer::start();
    let subjects = waveplot_protocol::Subjects::default();
    let bus = stream_bus(&nats, "a").await;
    let mut follower = bus.follow(&subjects).await.unwrap();
    let mut deliveries = bus
        .consume(&subjects, "probe", subjects.failed_any(), 1)
        .await
        .unwrap();
    bus.send(&subjects, &event("before")).await.unwrap();
    delivery(&mut deliveries).await.ack().await;
    let seen = tokio::time::timeout(Duration::from_secs(5), follower.next()).await;
    assert_eq!(seen.unwrap().unwrap().payload, event("before").encode());
    nats.restart_gracefully();
    let after = event("after");
    tokio::time::timeout(Duration::from_secs(20), bus.send(&subjects, &after))
        .await
        .expect("the publish is acknowledged once the server is back")
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(30), deliveries.next())
        .await
        .expect("the consumer goes on after the restart")
        .unwrap();
    assert_eq!(d.message.payload, after.encode());
    d.ack().await;
    let seen = tokio::time::timeout(Duration::from_secs(30), follower.next())
        .await
        .expect("the follower goes on after the restart");
    assert_eq!(seen.unwrap().payload, after.encode());
}
