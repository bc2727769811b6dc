//! Starts the whole system from the real binaries (testkit's [`Stack`]: nats-server, an
//! S3 server, prepare, six plotters and the gateway, each on free loopback ports) and
//! talks to the gateway over HTTP like a browser would.

use std::time::{Duration, Instant};

use serde_json::Value;
use waveplot_testkit::{Stack, http_client_builder};

/// Everything, with a render deadline of `deadline_s` seconds.
pub fn system(deadline_s: u64) -> Stack {
    Stack::builder()
        .render_deadline(Duration::from_secs(deadline_s))
        .start()
}

/// A blocking HTTP client with short timeouts.
pub fn client() -> reqwest::blocking::Client {
    http_client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `POST /api/render` with `body`; returns the status code and JSON.
pub fn post_render(http: &str, body: &Value) -> (u16, Value) {
    let res = client()
        .post(format!("{http}/api/render"))
        .json(body)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap())
}

/// Polls `GET /api/render/{id}` until it is no longer running, or `limit` passes.
pub fn wait_final(http: &str, id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let st: Value = client()
            .get(format!("{http}/api/render/{id}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if st["state"] != "running" {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "render {id} still running after {limit:?}: {st}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
