//! The deployment's NATS users (`deploy/nats/nats.conf`) against a real nats-server
//! started with that file: who may connect, publish, subscribe and consume what.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use waveplot_protocol::{FailedEvent, Interval, Market, Message as _, Stage, Subjects, Symbol, V1};
use waveplot_service::bus::{EventLimits, Subscription};
use waveplot_service::{Bus, BusError, Discovery, NatsLogin};
use waveplot_testkit::operator::Operator;
use waveplot_testkit::{NatsServer, NatsUser};

async fn connect(nats: &NatsServer, user: NatsUser) -> Bus {
    let login = nats.login(user).expect("a secured server has logins");
    let bus = Bus::connect(&nats.url(), Some(&login), user.name())
        .await
        .unwrap();
    // The observer may not touch the stream; the others create it.
    if user != NatsUser::Observer {
        bus.ensure_events(&Subjects::default(), EventLimits::default())
            .await
            .unwrap();
    }
    bus
}

/// An observer's subscription to everything, in place on the server.
async fn watch_everything(observer: &Bus) -> Subscription {
    let sub = observer
        .subscribe(Subjects::default().everything(), None)
        .await
        .unwrap();
    observer.flush().await.unwrap();
    sub
}

/// A secured server, an observer client of it, and the observer's subscription to
/// everything, in place (keep the client: its subscription ends with it).
async fn watched() -> (NatsServer, Bus, Subscription) {
    let nats = NatsServer::start_secured();
    let observer = connect(&nats, NatsUser::Observer).await;
    let all = watch_everything(&observer).await;
    (nats, observer, all)
}

/// The next message `sub` gets within 5 s, as (subject, payload).
async fn next(sub: &mut Subscription) -> (String, Bytes) {
    let m = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("a message within 5 s")
        .expect("the subscription is open");
    (m.subject, m.payload)
}

/// Asserts that `bus` gets no answer to a request on `subject`: the server drops what
/// it may not publish.
async fn unanswered(bus: &Bus, subject: String, payload: Bytes) {
    let e = bus
        .request(subject, payload, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(
        matches!(e, BusError::Timeout { .. } | BusError::NoResponders { .. }),
        "{e}"
    );
}

fn failure(stage: Stage, reason: &str) -> FailedEvent {
    FailedEvent {
        v: V1,
        request_id: None,
        stage,
        plot_id: None,
        reason: reason.to_owned(),
    }
}

#[tokio::test]
async fn a_client_without_a_valid_login_is_refused() {
    let nats = NatsServer::start_secured();
    let e = Bus::connect(&nats.url(), None, "anonymous")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, BusError::Login { user, .. } if user == "anonymous"),
        "{e:?}"
    );
    let wrong = NatsLogin::new("gateway", SecretString::from("not the password")).unwrap();
    let e = Bus::connect(&nats.url(), Some(&wrong), "guess")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("refused the login as gateway"),
        "{e}"
    );
    assert!(
        !format!("{e:?}").contains("not the password"),
        "the password never shows: {e:?}"
    );
}

#[tokio::test]
async fn only_the_gateway_publishes_render_requests() {
    let (nats, _observer, mut all) = watched().await;
    let render = Subjects::default().render();
    for user in [
        NatsUser::Plotter,
        NatsUser::Prepare,
        NatsUser::Observer,
        NatsUser::Gateway,
    ] {
        let bus = connect(&nats, user).await;
        let payload = Bytes::from(user.name());
        bus.publish(render.clone(), payload, user.name())
            .await
            .unwrap();
        bus.flush().await.unwrap();
    }
    // The server handled the publishes in order; only the last one went through.
    assert_eq!(next(&mut all).await, (render, Bytes::from("gateway")));
}

#[tokio::test]
async fn the_observer_sees_the_events_and_publishes_nothing() {
    let (nats, observer, mut all) = watched().await;
    let subjects = Subjects::default();
    for subject in [
        subjects.render(),
        subjects.done_any().replace('*', "01"),
        subjects.failed(Stage::Plot),
    ] {
        observer
            .publish(subject, Bytes::from("forged"), "forged")
            .await
            .unwrap();
    }
    observer.flush().await.unwrap();
    unanswered(&observer, subjects.render(), Bytes::from("{}")).await;
    // A plotter's failure goes through the event stream and reaches the observer.
    let plotter = connect(&nats, NatsUser::Plotter).await;
    let event = failure(Stage::Plot, "from the plotter");
    plotter.send(&subjects, &event).await.unwrap();
    let (subject, payload) = next(&mut all).await;
    assert_eq!(subject, subjects.failed(Stage::Plot));
    assert_eq!(FailedEvent::decode(&payload).unwrap(), event);
}

#[tokio::test]
async fn each_role_publishes_only_its_own_events() {
    let (nats, _observer, mut all) = watched().await;
    let subjects = Subjects::default();
    let forgeries = [
        (NatsUser::Gateway, subjects.failed(Stage::Prepare)),
        (NatsUser::Gateway, subjects.done_any().replace('*', "01")),
        (NatsUser::Prepare, subjects.failed(Stage::Plot)),
        (NatsUser::Prepare, subjects.done_any().replace('*', "03")),
        (NatsUser::Plotter, subjects.failed(Stage::Gateway)),
        (
            NatsUser::Plotter,
            subjects.prepared_any().replace('>', "BTCUSDT.5m"),
        ),
        (
            NatsUser::Plotter,
            subjects.accepted_any().replace('>', "BTCUSDT.5m"),
        ),
    ];
    for (user, subject) in forgeries {
        let bus = connect(&nats, user).await;
        bus.publish(subject, Bytes::from("forged"), &unique_id())
            .await
            .unwrap();
        bus.flush().await.unwrap();
    }
    let prepare = connect(&nats, NatsUser::Prepare).await;
    let event = failure(Stage::Prepare, "from prepare");
    prepare.send(&subjects, &event).await.unwrap();
    let (subject, payload) = next(&mut all).await;
    assert_eq!(subject, subjects.failed(Stage::Prepare), "{payload:?}");
    assert_eq!(FailedEvent::decode(&payload).unwrap(), event);
}

#[tokio::test]
async fn only_prepare_publishes_market_events_and_hears_watch_requests() {
    let (nats, _observer, mut all) = watched().await;
    let subjects = Subjects::default();
    let btc = Symbol::parse("BTC").unwrap();
    let mut thieves = Vec::new();
    for user in [NatsUser::Gateway, NatsUser::Plotter, NatsUser::Observer] {
        let bus = connect(&nats, user).await;
        for kind in Market::ALL {
            let subject = subjects.market(kind, &btc, Interval::M1);
            bus.publish(subject, Bytes::from("forged"), &unique_id())
                .await
                .unwrap();
        }
        bus.flush().await.unwrap();
        // Nobody but prepare may take watch requests, so nobody else can answer them:
        // were these allowed, they would take some of the requests sent below.
        let taken = bus
            .subscribe(subjects.watch(), Some("prepare".into()))
            .await;
        bus.flush().await.unwrap();
        thieves.push((bus, taken));
    }
    let prepare = connect(&nats, NatsUser::Prepare).await;
    let mut requests = prepare
        .subscribe(subjects.watch(), Some("prepare".into()))
        .await
        .unwrap();
    prepare.flush().await.unwrap();
    let candle = subjects.candle(&btc, Interval::M1);
    prepare
        .publish(candle.clone(), Bytes::from("from prepare"), &unique_id())
        .await
        .unwrap();
    assert_eq!(
        next(&mut all).await,
        (candle.clone(), Bytes::from("from prepare"))
    );
    // The observer and the gateway may ask for a watch; it reaches prepare alone.
    for user in [NatsUser::Observer, NatsUser::Gateway] {
        let bus = connect(&nats, user).await;
        bus.publish(subjects.watch(), Bytes::from(user.name()), &unique_id())
            .await
            .unwrap();
        bus.flush().await.unwrap();
        let (subject, payload) = next(&mut requests).await;
        assert_eq!(
            (subject, payload),
            (subjects.watch(), Bytes::from(user.name()))
        );
    }
    // The observer heard neither: what it gets next is prepare's next event.
    let after = Bytes::from("after the watch requests");
    prepare
        .publish(candle.clone(), after.clone(), &unique_id())
        .await
        .unwrap();
    assert_eq!(next(&mut all).await, (candle, after));
}

#[tokio::test]
async fn no_role_takes_work_from_another_roles_consumer() {
    let nats = NatsServer::start_secured();
    let subjects = Subjects::default();
    let attempts = [
        (NatsUser::Gateway, "prepare", subjects.accepted_any()),
        (NatsUser::Plotter, "prepare", subjects.accepted_any()),
        (NatsUser::Gateway, "plot-01", subjects.prepared_any()),
        (NatsUser::Prepare, "plot-01", subjects.prepared_any()),
        (NatsUser::Plotter, "mine", subjects.prepared_any()),
    ];
    for (user, name, filter) in attempts {
        let bus = connect(&nats, user).await;
        let e = bus.consume(&subjects, name, filter, 1).await.err();
        assert!(
            matches!(e, Some(BusError::Stream { .. })),
            "{} consumed through {name}",
            user.name()
        );
    }
    // Its own consumer each role may take.
    for (user, name, filter) in [
        (NatsUser::Prepare, "prepare", subjects.accepted_any()),
        (NatsUser::Plotter, "plot-02a", subjects.prepared_any()),
    ] {
        let bus = connect(&nats, user).await;
        bus.consume(&subjects, name, filter, 1).await.unwrap();
    }
}

/// A message ID no other test message has (the stream drops repeated IDs).
fn unique_id() -> String {
    waveplot_protocol::RequestId::generate().as_str().to_owned()
}

/// A private CA and a certificate it signed for 127.0.0.1: (CA PEM, server PEM, key PEM).
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.pem(), server.pem(), key.serialize_pem())
}

/// Between boards (`deploy/nats/nats-tls.conf`): a role logs in over TLS, trusting the
/// private CA it is given; a client that does not trust the certificate, or that does
/// not speak TLS, is refused.
#[tokio::test]
async fn across_boards_the_users_log_in_over_tls_and_plain_clients_are_refused() {
    let (ca, cert, key) = private_ca();
    let nats = NatsServer::start_secured_tls(&cert, &key);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let login = nats.login(NatsUser::Plotter).unwrap();

    let plotter = Bus::connect_with_ca(&nats.tls_url(), Some(&login), Some(&ca_file), "plotter")
        .await
        .unwrap();
    plotter
        .ensure_events(&Subjects::default(), EventLimits::default())
        .await
        .unwrap();
    let event = failure(Stage::Plot, "over TLS");
    plotter.send(&Subjects::default(), &event).await.unwrap();

    let anonymous = Bus::connect_with_ca(&nats.tls_url(), None, Some(&ca_file), "anonymous").await;
    assert!(
        matches!(anonymous, Err(BusError::Login { .. })),
        "nats.conf's users hold over TLS too"
    );
    let untrusted = Bus::connect(&nats.tls_url(), Some(&login), "untrusted").await;
    assert!(
        matches!(untrusted, Err(BusError::Connect { .. })),
        "a certificate no trusted CA signed was accepted"
    );
    let plain = Bus::connect(&nats.url(), Some(&login), "plain").await;
    assert!(plain.is_err(), "a client without TLS was let in");
}

/// An extra board of plotters as a leaf node (`deploy/nats/nats-hub.conf` on the main
/// board, `nats-leaf.conf` on the other): the link runs over TLS as the hub's `plotter`.
/// A plotter on the leaf works through its durable consumer of the hub's stream (its
/// JetStream calls mapped into the hub's domain) and its events reach the hub; what no
/// plotter may publish, such as a render request from the leaf's `gateway`, stays on the
/// leaf.
#[tokio::test]
async fn a_leaf_board_links_over_tls_and_carries_only_a_plotters_traffic() {
    let (ca, cert, key) = private_ca();
    let hub = NatsServer::start_hub_tls(&cert, &key);
    let leaf = NatsServer::start_leaf(&hub, &ca);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let on_hub = |user: NatsUser| {
        let login = hub.login(user);
        let (url, ca_file) = (hub.tls_url(), ca_file.clone());
        async move {
            Bus::connect_with_ca(&url, login.as_ref(), Some(&ca_file), user.name())
                .await
                .unwrap()
        }
    };
    let subjects = Subjects::default();
    let prepare = on_hub(NatsUser::Prepare).await;
    prepare
        .ensure_events(&subjects, EventLimits::default())
        .await
        .unwrap();
    let observer = on_hub(NatsUser::Observer).await;
    let mut all = watch_everything(&observer).await;

    let plotter = connect(&leaf, NatsUser::Plotter).await;
    let mut work = plotter
        .consume(&subjects, "plot-01", subjects.prepared_any(), 1)
        .await
        .expect("the leaf's plotter takes its consumer of the hub's stream");
    let prepared = "waveplot.prepared.BTCUSDT.5m".to_owned();
    prepare
        .publish(prepared.clone(), Bytes::from_static(b"{}"), &unique_id())
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(10), work.next())
        .await
        .expect("the hub's event reaches the leaf's plotter")
        .unwrap();
    assert_eq!(delivery.message.subject, prepared);
    delivery.ack().await;
    assert_eq!(next(&mut all).await.0, prepared);
    // The acknowledgement crossed the link too: the hub holds nothing unacknowledged.
    let login = hub.login(NatsUser::Plotter).unwrap();
    let raw = async_nats::ConnectOptions::with_user_and_password(
        login.user.clone(),
        login.password.expose_secret().to_owned(),
    )
    .custom_inbox_prefix("_INBOX.plotter")
    .add_root_certificates(ca_file.clone())
    .connect(hub.tls_url())
    .await
    .unwrap();
    let stream = async_nats::jetstream::new(raw)
        .get_stream(subjects.events_stream())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stream
        .consumer_info("plot-01")
        .await
        .unwrap()
        .num_ack_pending
        > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leaf's acknowledgement never reached the hub"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Its JetStream calls would get no answer: the link brings back plotters' inboxes.
    let login = leaf.login(NatsUser::Gateway);
    let gateway = Bus::connect(&leaf.url(), login.as_ref(), "gateway")
        .await
        .unwrap();
    gateway
        .publish(
            subjects.render(),
            Bytes::from_static(b"forged"),
            &unique_id(),
        )
        .await
        .unwrap();
    gateway.flush().await.unwrap();
    let event = failure(Stage::Plot, "drawn on the leaf");
    plotter.send(&subjects, &event).await.unwrap();
    let (subject, payload) = next(&mut all).await;
    assert_eq!(
        subject, "waveplot.failed.plot",
        "the first event from the leaf is the plotter's, not the leaf gateway's request"
    );
    assert_eq!(FailedEvent::decode(&payload).unwrap(), event);

    // The leaf's plotter answers the service API of the hub's observers.
    let instance = Discovery::new("plotter-01", "on the leaf", "waveplot");
    let stop = tokio_util::sync::CancellationToken::new();
    let answering = tokio::spawn({
        let stop = stop.clone();
        async move { instance.serve(&plotter, stop).await }
    });
    let login = hub.login(NatsUser::Observer).unwrap();
    let asker = async_nats::ConnectOptions::with_user_and_password(
        login.user.clone(),
        login.password.expose_secret().to_owned(),
    )
    .custom_inbox_prefix("_INBOX.observer")
    .add_root_certificates(ca_file)
    .connect(hub.tls_url())
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        if let Some(answer) = NatsServer::replies(&asker, "$SRV.PING".into()).await.pop() {
            break answer;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leaf's plotter never answered the hub's observer"
        );
    };
    assert_eq!(answer["name"], "waveplot-plotter-01");
    stop.cancel();
    answering.await.unwrap().unwrap();
}

/// A server in operator mode (users are JWTs an account signed): a client logs in with
/// a credentials file (`NATS_CREDS`) and uses the bus; a user that an unknown account
/// signed is refused, and a file that holds no credentials says so.
#[tokio::test]
async fn a_credentials_file_logs_in_to_a_server_in_operator_mode() {
    let operator = Operator::new();
    let nats = NatsServer::start_operator(&operator);
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let creds = file("plotter.creds", &operator.creds("plotter"));
    let bus = Bus::connect_with_credentials(&nats.url(), &creds, None, "plotter")
        .await
        .unwrap();
    bus.ensure_events(&Subjects::default(), EventLimits::default())
        .await
        .unwrap();
    let mut all = watch_everything(&bus).await;
    let event = failure(Stage::Plot, "logged in with a credentials file");
    bus.send(&Subjects::default(), &event).await.unwrap();
    assert_eq!(next(&mut all).await.0, "waveplot.failed.plot");

    let foreign = file("foreign.creds", &Operator::foreign_creds("intruder"));
    let e = Bus::connect_with_credentials(&nats.url(), &foreign, None, "intruder")
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Login { .. }), "{e:?}");
    let empty = file("empty.creds", "not a credentials file\n");
    let e = Bus::connect_with_credentials(&nats.url(), &empty, None, "confused")
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Credentials { .. }), "{e:?}");
    assert!(e.to_string().contains("empty.creds"), "{e}");
}

#[tokio::test]
async fn every_role_answers_the_service_api_and_the_observer_only_asks() {
    let nats = NatsServer::start_secured();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut ids = Vec::new();
    let mut services = Vec::new();
    for user in [NatsUser::Gateway, NatsUser::Prepare, NatsUser::Plotter] {
        let bus = connect(&nats, user).await;
        let instance = Discovery::new(user.name(), "a test instance", "waveplot");
        ids.push(instance.id().to_owned());
        let stop = shutdown.clone();
        services.push(tokio::spawn(
            async move { instance.serve(&bus, stop).await },
        ));
    }
    let observer = nats.client(NatsUser::Observer).await;
    // The observer may not subscribe where services answer: it cannot pose as one.
    let mut posing = observer.subscribe("$SRV.PING").await.unwrap();
    let mut answered = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // The instances subscribe as they start; ask until all three answer one PING.
    while answered.len() < ids.len() && tokio::time::Instant::now() < deadline {
        answered = NatsServer::replies(&observer, "$SRV.PING".into())
            .await
            .iter()
            .map(|ping| {
                assert_eq!(ping["type"], "io.nats.micro.v1.ping_response");
                ping["id"].as_str().unwrap().to_owned()
            })
            .collect();
    }
    answered.sort();
    ids.sort();
    assert_eq!(answered, ids, "every instance answers one PING once");
    let nobody = tokio::time::timeout(Duration::from_millis(300), posing.next()).await;
    assert!(
        !matches!(nobody, Ok(Some(_))),
        "the observer received a service API request"
    );
    // A request whose reply subject is not an inbox makes no service publish there:
    // answering is no way around a service's publish permissions.
    let mut watched = observer.subscribe("waveplot.>").await.unwrap();
    for target in [
        "waveplot.done.01",
        "waveplot.accepted.BTCUSDT.5m",
        "waveplot.render",
    ] {
        observer
            .publish_with_reply("$SRV.PING", target, Bytes::new())
            .await
            .unwrap();
    }
    observer.flush().await.unwrap();
    let forged = tokio::time::timeout(Duration::from_secs(1), watched.next()).await;
    assert!(
        !matches!(forged, Ok(Some(_))),
        "a service answered into a subject of the deployment: {forged:?}"
    );
    // A service role may not ask the others for their numbers.
    let gateway = connect(&nats, NatsUser::Gateway).await;
    unanswered(&gateway, "$SRV.STATS".into(), Bytes::new()).await;
    shutdown.cancel();
    for service in services {
        service.await.unwrap().unwrap();
    }
}
