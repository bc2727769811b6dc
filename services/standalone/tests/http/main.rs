//! The single-process `waveplot` over HTTP, as a browser or a script uses it: the page,
//! a render of the bundled sample to its charts in the data directory, and a shutdown
//! that ends within the grace period even while a client holds a connection open.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waveplot_testkit::{Service, free_port, http_client_builder};

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
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec![
            "--http-addr",
            &addr,
            "--data-dir",
            data.path().to_str().unwrap(),
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        let service = Service::start_http(env!("CARGO_BIN_EXE_waveplot"), &args, &[], port);
        Self {
            service,
            http: format!("http://{addr}"),
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
