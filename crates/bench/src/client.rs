//! One render through the gateway's HTTP API, timed from the POST to the final status
//! (read from the Server-Sent Events stream, so no polling error is added).

use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

/// What one render took and what it reported.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Wall-clock time from sending the request to the final status, ms.
    pub total_ms: f64,
    /// The final status (`complete`, `partial` or `failed`).
    pub state: String,
    /// The final status document.
    pub status: Value,
}

/// A blocking HTTP client for the gateway.
pub fn client() -> Result<reqwest::blocking::Client> {
    waveplot_testkit::http_client_builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()
        .context("HTTP client")
}

/// Sends `body` to `POST /api/render` and follows the render to its end.
pub fn render(http: &reqwest::blocking::Client, url: &str, body: &Value) -> Result<Outcome> {
    let started = Instant::now();
    let res = http
        .post(format!("{url}/api/render"))
        .json(body)
        .send()
        .context("POST /api/render")?;
    let code = res.status();
    let created: Value = res.json().context("render answer")?;
    if !code.is_success() {
        bail!("HTTP {code}: {}", created["error"]);
    }
    let events = created["events_url"].as_str().context("events_url")?;
    let stream = http
        .get(format!("{url}{events}"))
        .send()
        .context("GET events")?;
    let mut last = Value::Null;
    for line in std::io::BufReader::new(stream).lines() {
        let line = line.context("read events")?;
        if let Some(data) = line.strip_prefix("data:") {
            last = serde_json::from_str(data.trim()).context("status event")?;
            if last["state"] != "running" {
                break;
            }
        }
    }
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let state = last["state"].as_str().unwrap_or("hung").to_owned();
    Ok(Outcome {
        total_ms,
        state,
        status: last,
    })
}
