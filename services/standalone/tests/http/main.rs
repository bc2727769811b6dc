//! The single-process `waveplot` over HTTP, as a browser or a script uses it: the page,
//! a render of the bundled sample to its charts in the data directory, and a shutdown
//! that ends within the grace period even while a client holds a connection open.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waveplot_testkit::{Service, http_client_builder};

/// `waveplot` on a free port over a scratch data directory.
struct Waveplot {
    service: Service,
    http: String,
    port: u16,
    data: tempfile::TempDir,
}

impl Waveplot {
    fn start(extra: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let addr = "127.0.0.1:0";
        let mut args = vec![
            "--http-addr",
            addr,
            "--data-dir",
            data.path().to_str().unwrap(),
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        let service = Service::start_http(env!("CARGO_BIN_EXE_waveplot"), &args, &[]);
        let http = format!("http://{}", service.health);
        let port = service.health.port();
        Self {
            service,
            http,
            port,
            data,
        }
    }

    /// Renders the BTCUSDT 5m sample and waits for its final status.
    fn render_sample(&self) -> Value {
        let client = client();
        let created: Value = client
            .post(format!("{}/api/render", self.http))
            .json(&json!({"symbol": "BTC", "interval": "5m", "source": "sample"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let id = created["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status: Value = client
                .get(format!("{}/api/render/{id}", self.http))
                .send()
                .unwrap()
                .json()
                .unwrap();
            if status["state"] != "running" {
                return status;
            }
            assert!(Instant::now() < deadline, "still running: {status}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn client() -> reqwest::blocking::Client {
    http_client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn the_page_and_a_complete_render_are_served_from_one_process() {
    let app = Waveplot::start(&[]);
    let page = client().get(format!("{}/", app.http)).send().unwrap();
    assert!(page.text().unwrap().contains("<title>waveplot</title>"));
    let status = app.render_sample();
    assert_eq!(
        status["state"],
        "complete",
        "{status}\n{}",
        app.service.log()
    );
    let url = status["plots"]["04"]["url"].as_str().unwrap();
    let png = client()
        .get(format!("{}{url}", app.http))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let size = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!(size, (1280, 720));
    assert!(
        app.data.path().join("store").join(&url[1..]).exists(),
        "the chart is in the data directory"
    );
}

#[test]
fn sigterm_ends_the_process_within_the_grace_period_while_a_client_keeps_a_stream_open() {
    let mut app = Waveplot::start(&["--grace", "1s"]);
    let status = app.render_sample();
    let id = status["id"].as_str().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    write!(
        stream,
        "GET /api/render/{id}/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut head = String::new();
    BufReader::new(&stream).read_line(&mut head).unwrap();
    assert!(head.contains("200"), "{head}");
    let stopping = Instant::now();
    let exit = app.service.terminate().expect("waveplot exits");
    let took = stopping.elapsed();
    assert!(exit.success(), "{exit}\n{}", app.service.log());
    assert!(
        took < Duration::from_secs(5),
        "SIGTERM took {took:?} with a client connected (grace 1 s)\n{}",
        app.service.log()
    );
}

/// Reads what the server sends until it closes the connection, for at most `limit`.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let outcome = std::io::Read::read_to_end(stream, &mut all);
    let took = started.elapsed();
    assert!(
        outcome.is_ok() || took < limit,
        "still open after {took:?}: {}",
        String::from_utf8_lossy(&all)
    );
    (String::from_utf8_lossy(&all).into_owned(), took)
}

#[test]
fn the_event_stream_of_a_finished_render_ends_after_its_final_status() {
    let app = Waveplot::start(&[]);
    let status = app.render_sample();
    let id = status["id"].as_str().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    write!(
        stream,
        "GET /api/render/{id}/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (events, _) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(events.starts_with("HTTP/1.1 200"), "{events}");
    assert_eq!(events.matches("event: status").count(), 1, "{events}");
    assert!(events.contains("\"state\":\"complete\""), "{events}");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off_at_the_header_timeout() {
    let app = Waveplot::start(&["--header-timeout", "1s"]);
    let mut slow = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    write!(slow, "GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let (_, took) = read_until_closed(&mut slow, Duration::from_secs(10));
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );

    let mut idle = TcpStream::connect(("127.0.0.1", app.port)).unwrap();
    write!(idle, "GET /api/meta HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (answer, took) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        took < Duration::from_secs(5),
        "an idle kept-alive connection is closed: {took:?}"
    );
}

/// `stream` once `GET /api/meta` on it is answered `200`: the server has surely taken
/// and counted it (a connection still in the accept queue would leave its slot free).
fn served(stream: TcpStream) -> TcpStream {
    let head = meta_head(&stream);
    assert!(head.contains("200"), "{head}");
    stream
}

/// Reads what the server answers `extra`, a connection over a limit: a `503` with
/// `Retry-After` whose error contains `says`, and the connection closed.
fn assert_refused(mut extra: TcpStream, says: &str) {
    let (answer, _) = read_until_closed(&mut extra, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.contains(says), "{answer}");
}

#[test]
fn connections_over_the_limit_get_a_503_that_names_the_limit() {
    let app = Waveplot::start(&["--max-connections", "3", "--header-timeout", "30s"]);
    // Held open, kept alive for the 30 s header timeout.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| served(TcpStream::connect(("127.0.0.1", app.port)).unwrap()))
        .collect();
    assert_refused(
        TcpStream::connect(("127.0.0.1", app.port)).unwrap(),
        "at most 3 at once (HTTP_MAX_CONNECTIONS)",
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let page = client().get(format!("{}/api/meta", app.http)).send();
        if page.as_ref().is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the slots are freed: {page:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A connection to `port` on 127.0.0.1 from the loopback address `from`, as a client on
/// another host of the LAN would make it.
fn connect_from(from: Ipv4Addr, port: u16) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    socket
        .connect(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .unwrap();
    socket.into()
}

/// Sends `GET /api/meta` on `stream` and reads the answer's first line (empty, or an
/// error, if there is none: a refused connection may be closed before the request is
/// written).
fn meta_head(stream: &TcpStream) -> String {
    let mut head = String::new();
    let asked = write!(&*stream, "GET /api/meta HTTP/1.1\r\nHost: x\r\n\r\n")
        .and_then(|()| BufReader::new(stream).read_line(&mut head));
    if let Err(e) = asked {
        head.push_str(&e.to_string());
    }
    head
}

#[test]
fn one_address_holds_at_most_its_share_of_the_connections_and_others_are_still_served() {
    let app = Waveplot::start(&[
        "--max-connections",
        "4",
        "--max-connections-per-address",
        "2",
        "--header-timeout",
        "30s",
    ]);
    let (busy, other) = (Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3));
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| served(connect_from(busy, app.port)))
        .collect();
    assert_refused(
        connect_from(busy, app.port),
        "at most 2 at once from one address (HTTP_MAX_CONNECTIONS_PER_ADDRESS)",
    );
    let served = connect_from(other, app.port);
    let head = meta_head(&served);
    assert!(
        head.contains("200"),
        "another address is locked out: {head}"
    );
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let head = meta_head(&connect_from(busy, app.port));
        if head.contains("200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the address's slot is freed: {head}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_oversized_or_abusive_request_is_refused_with_what_is_allowed() {
    let app = Waveplot::start(&[]);
    let post = |body: String| {
        let r = client()
            .post(format!("{}/api/render", app.http))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            r.json::<Value>().unwrap()["error"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    let padding = " ".repeat(20_000);
    let (status, error) = post(format!(r#"{{"symbol":"BTC",{padding}"interval":"5m"}}"#));
    assert_eq!(status, 413, "{error}");
    assert!(error.contains("over 16384 bytes"), "{error}");
    for (body, says) in [
        (
            json!({"symbol": "BTC", "interval": "5m", "window": 1_000_001}),
            "use 16 to 1000000",
        ),
        (
            json!({"symbol": "BTC", "interval": "5m", "width": 8192}),
            "at most 17280000",
        ),
        (
            json!({"symbol": "BTC", "interval": "5m", "window": 100_000, "format": "svg"}),
            "use png",
        ),
        (
            json!({"symbol": "BTC", "interval": "5m", "end_ms": -5}),
            "after 1970",
        ),
        (
            json!({"symbol": "BTC", "interval": "5m", "levels": 21}),
            "use 1 to 20",
        ),
    ] {
        let (status, error) = post(body.to_string());
        assert_eq!(status, 400, "{body}: {error}");
        assert!(error.contains(says), "{body}: {error}");
    }
    let created: Value = client()
        .post(format!("{}/api/render", app.http))
        .json(&json!({"symbol": "BTC", "interval": "5m", "source": "sample", "plots": ["01", "1", "01", "03"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(created["plots"], json!(["01", "03"]), "repeats are dropped");
}
